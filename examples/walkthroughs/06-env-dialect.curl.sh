#!/usr/bin/env bash
# The ?env= dialect (seed 003): POST /api/containers/{id or name}/{start,
# stop, restart, pause, unpause}?env=1 answers {"success": true}, or
# {"error": "..."} with the seed's status codes. Environment 1 is this host;
# any other is 403. With curl.
. "$(dirname "$0")/lib.sh"
need_token

step "a container to drive"
api POST /api/v1/containers "$(jq -cn --arg init "$IDLE_INIT" '{name: "envdemo", command: ["/bin/sh", "-c", $init]}')" >/dev/null

status_of() { api GET '/api/v1/containers?limit=100' | jq -r '.data.containers[] | select(.name == "envdemo") | .status'; }
for op in pause unpause restart stop start; do
  step "$op"
  expect "$op" "$(api POST "/api/containers/envdemo/$op?env=1" | jq -c .)" '{"success":true}'
  echo "   now $(status_of)"
done

step "what it refuses"
expect "start while running" "$(code_of POST /api/containers/envdemo/start?env=1)" 409
expect "unknown environment" "$(code_of POST /api/containers/envdemo/stop?env=2)" 403
expect "unknown container" "$(code_of POST /api/containers/nosuch/stop?env=1)" 404
curl -sS -X POST "$BERTH_URL/api/containers/nosuch/stop?env=1" -H "Authorization: Bearer $BERTH_TOKEN"; echo

api DELETE /api/containers/envdemo >/dev/null

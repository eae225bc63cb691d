#!/usr/bin/env bash
# Events with a reconnect: read the event stream (SSE), go away, let things
# happen, come back with Last-Event-ID and receive exactly what was missed,
# in order, once. With curl.
. "$(dirname "$0")/lib.sh"
need_token
first=$(mktemp) second=$(mktemp)
trap 'rm -f "$first" "$second"' EXIT
# stream FILE [HEADER]: three seconds of the stream.
stream() { curl -sN --max-time 3 "$BERTH_URL/api/v1/events${3:-}" -H "Authorization: Bearer $BERTH_TOKEN" ${2:+-H "$2"} >"$1" || true; }

step "something happens"
id=$(api POST /api/v1/containers "$(jq -cn --arg init "$IDLE_INIT" '{name: "watched", command: ["/bin/sh", "-c", $init]}')" |
  jq -r .data.id)

step "a client reads the stream from the start (?since= replays from the durable event log)"
stream "$first" "" "?since=000000000000000000000000&container_id=$id"
grep '^event:' "$first"
last=$(grep '^id:' "$first" | tail -n1 | cut -d' ' -f2)
echo "   disconnected after event $last"

step "while it is away"
api POST "/api/v1/containers/$id/stop" >/dev/null
api POST "/api/v1/containers/$id/start" >/dev/null

step "it reconnects with Last-Event-ID and gets what it missed"
stream "$second" "Last-Event-ID: $last" "?container_id=$id"
cat "$second"
expect "missed events" "$(grep '^event:' "$second" | cut -d' ' -f2 | paste -sd,)" "container_stopped,container_started"
if grep -q "^id: $last\$" "$second"; then echo "FAILED: a duplicate" >&2; exit 1; fi

api DELETE "/api/v1/containers/$id?force=true" >/dev/null

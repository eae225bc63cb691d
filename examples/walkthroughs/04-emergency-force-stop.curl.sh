#!/usr/bin/env bash
# Emergency: a container that ignores SIGTERM (its init has no handler), and a
# graceful stop that would wait out a 300 s grace period. A force-stop kills
# its whole cgroup at once and cuts the waiting stop short: both calls
# answer. Then it starts again. With curl.
. "$(dirname "$0")/lib.sh"
need_token

step "a container whose init ignores SIGTERM"
id=$(api POST /api/v1/containers '{"name": "stuck", "command": ["/bin/sh", "-c", "while true; do sleep 1; done"]}' |
  jq -r .data.id)

step "someone asks for a graceful stop with a 300 s grace period"
answer=$(mktemp)
started=$(date +%s)
api POST "/api/v1/containers/$id/stop?timeout=300" >"$answer" &
graceful=$!

step "force-stop: the whole cgroup is killed at once"
sleep 1
expect "force-stop" "$(api POST "/api/v1/containers/$id/force-stop" | jq -r .data.status)" stopped
wait "$graceful"
expect "the graceful stop answered too" "$(jq -r .data.status "$answer")" stopped
rm -f "$answer"
elapsed=$(( $(date +%s) - started ))
echo "   both answered after ${elapsed} s"
test "$elapsed" -lt 120

step "recover: start it again"
expect "status" "$(api POST "/api/v1/containers/$id/start" | jq -r .data.status)" running
api GET "/api/v1/containers/$id/status-logs?sort_order=asc" |
  jq -r '.data.logs[] | "\(.from_status) -> \(.to_status)  \(.metadata | tostring)"'

api DELETE "/api/v1/containers/$id?force=true" >/dev/null

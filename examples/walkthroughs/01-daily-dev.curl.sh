#!/usr/bin/env bash
# A developer's day: create a dev container, work in it, pause it overnight
# (its processes frozen, its memory kept), resume it in the morning where it
# was, and read the day back from the status log. With curl.
. "$(dirname "$0")/lib.sh"
need_token

step "create the dev container; it starts at once (autostart)"
body=$(jq -cn --arg init "$IDLE_INIT" '{name: "dev", command: ["/bin/sh", "-c", $init],
  resources: {memory_mb: 256, cpu_millicores: 1000}}')
id=$(api POST /api/v1/containers "$body" | jq -r .data.id)
expect "status" "$(api GET "/api/v1/containers/$id" | jq -r .data.status)" running

step "work in it"
api POST "/api/v1/containers/$id/exec" '{"command": ["sh", "-c", "echo draft-1 > /notes.txt"]}' | jq -c '.data | {exit_code}'

step "evening: pause it overnight"
expect "status" "$(api POST "/api/v1/containers/$id/pause" | jq -r .data.status)" paused
expect "exec while paused" "$(code_of POST "/api/v1/containers/$id/exec" '{"command": ["true"]}')" 400

step "morning: resume; the work is where it was left"
expect "status" "$(api POST "/api/v1/containers/$id/resume" | jq -r .data.status)" running
expect "notes" "$(api POST "/api/v1/containers/$id/exec" '{"command": ["cat", "/notes.txt"]}' | jq -r .data.stdout)" draft-1

step "the day, from the status log"
api GET "/api/v1/containers/$id/status-logs?sort_order=asc" |
  jq -r '.data.logs[] | "\(.transition_time)  \(.from_status) -> \(.to_status)  (\(.metadata.operation), \(.duration_ms) ms)"'
expect "transitions" "$(api GET "/api/v1/containers/$id/status-logs?sort_order=asc" |
  jq -r '[.data.logs[].to_status] | join(",")')" "stopped,running,paused,running"

step "project done: delete it"
api DELETE "/api/v1/containers/$id?force=true" | jq -r .data.status

#!/usr/bin/env bash
# Off-hours: stop the non-critical containers by name (batch-*), keep the
# critical one running, start them again in the morning. The compatibility
# routes /api/containers/{name}/... take a name where /api/v1 takes an id. With curl.
. "$(dirname "$0")/lib.sh"
need_token

step "one critical container and two batch workers"
for name in web batch-1 batch-2; do
  api POST /api/v1/containers "$(jq -cn --arg n "$name" --arg init "$IDLE_INIT" \
    '{name: $n, command: ["/bin/sh", "-c", $init]}')" | jq -r '.data | "\(.name) \(.status)"'
done

step "evening: stop every batch-* by name"
for name in $(api GET '/api/v1/containers?status=running&limit=100' | jq -r '.data.containers[].name | select(startswith("batch-"))'); do
  api POST "/api/containers/$name/stop" | jq -c .
done
expect "still running" "$(api GET '/api/v1/containers?status=running' | jq -r '[.data.containers[].name] | join(",")')" web

step "stopping one twice is refused (409), not an error of the service"
expect "second stop" "$(code_of POST /api/containers/batch-1/stop)" 409

step "morning: start them again"
for name in batch-1 batch-2; do api POST "/api/containers/$name/start" | jq -r '"\(.name) \(.status)"'; done
expect "running" "$(api GET '/api/v1/containers?status=running' | jq -r '.data.pagination.total')" 3

for name in web batch-1 batch-2; do api DELETE "/api/containers/$name" >/dev/null; done

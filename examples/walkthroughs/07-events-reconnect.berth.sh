#!/usr/bin/env bash
# Events with a reconnect, with berth: `berth events` reconnects by itself
# with the last id it got; `--since ID` picks up after an id of our own.
. "$(dirname "$0")/lib.sh"
first=$(mktemp) second=$(mktemp)
trap 'rm -f "$first" "$second"' EXIT

step "something happens"
berth run -d watched -- sh -c "$IDLE_INIT"

step "a client reads the events from the start, then goes away"
timeout 3 berth events --since 000000000000000000000000 --container watched -o json >"$first" || true
jq -r .type "$first"
last=$(tail -n1 "$first" | jq -r .id)

step "while it is away"
berth stop watched
berth start watched

step "it comes back after the last id it saw"
timeout 3 berth events --since "$last" --container watched -o json >"$second" || true
jq -c '{id, type, status: .data.status}' "$second"
expect "missed events" "$(jq -r .type "$second" | paste -sd,)" "container_stopped,container_started"

berth rm -f watched

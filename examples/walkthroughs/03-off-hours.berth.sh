#!/usr/bin/env bash
# Off-hours: stop the non-critical containers by name (batch-*), keep the
# critical one running, start them again in the morning. With berth.
. "$(dirname "$0")/lib.sh"

step "one critical container and two batch workers"
for name in web batch-1 batch-2; do berth run -d "$name" -- sh -c "$IDLE_INIT"; done
berth ps

step "evening: stop every batch-* by name"
berth ps -o name | grep '^batch-' | xargs berth stop
expect "still running" "$(berth ps -o name)" web

step "stopping one twice is refused"
if berth stop batch-1; then exit 1; fi

step "morning: start them again"
berth start batch-1 batch-2
expect "running" "$(berth ps -q | wc -l)" 3

berth rm -f web batch-1 batch-2

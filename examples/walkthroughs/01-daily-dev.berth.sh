#!/usr/bin/env bash
# A developer's day: create a dev container, work in it, pause it overnight
# (its processes frozen, its memory kept), resume it in the morning where it
# was, and read the day back from the status log. With berth.
. "$(dirname "$0")/lib.sh"

step "create the dev container and leave it running"
berth run -d dev --memory-mb 256 --cpu-millicores 1000 -- sh -c "$IDLE_INIT"
berth ps

step "work in it"
berth exec dev -- sh -c 'echo draft-1 > /notes.txt'

step "evening: pause it overnight"
berth pause dev
expect "status" "$(berth inspect dev | jq -r .status)" paused

step "morning: resume; the work is where it was left"
berth resume dev
expect "notes" "$(berth exec dev -- cat /notes.txt)" draft-1

step "the day, from the status log"
berth containers status-logs dev --sort-order asc
expect "transitions" "$(berth containers status-logs dev --sort-order asc -o json | jq -r '[.logs[].to_status] | join(",")')" \
  "stopped,running,paused,running"

step "project done: delete it"
berth rm -f dev

#!/usr/bin/env bash
# Emergency: a container that ignores SIGTERM, a graceful stop that would
# wait 300 s, and a force-stop that ends both at once. With berth.
. "$(dirname "$0")/lib.sh"

step "a container whose init ignores SIGTERM"
berth run -d stuck -- sh -c 'while true; do sleep 1; done'

step "someone asks for a graceful stop with a 300 s grace period"
started=$(date +%s)
berth stop stuck -t 300 &
graceful=$!
sleep 1

step "force-stop: the whole cgroup is killed at once"
berth force-stop stuck
wait "$graceful"
elapsed=$(( $(date +%s) - started ))
echo "   both answered after ${elapsed} s"
test "$elapsed" -lt 120
expect "status" "$(berth inspect stuck | jq -r .status)" stopped

step "recover: start it again"
berth start stuck
berth containers status-logs stuck --sort-order asc

berth rm -f stuck

#!/usr/bin/env bash
# Recreation with berth: the record of a container is there but its runtime
# instance was removed from the host. `berth start` rebuilds it from the
# record under a new runtime id, keeping the writable layer; the status log
# says so. In two halves, like 05-recreate.curl.sh:
#   05-recreate.berth.sh before ; (remove the instance) ; 05-recreate.berth.sh after
. "$(dirname "$0")/lib.sh"

case "${1:-}" in
  before)
    step "a container that writes /mark on its first run and shows it on later ones"
    berth run -d phoenix -- sh -c 'if [ -e /mark ]; then echo found; cat /mark; else echo kept-data > /mark; echo wrote; fi; '"$IDLE_INIT"
    until_true 10 grep -q wrote <(berth logs phoenix)
    berth stop phoenix
    runtime_id=$(berth inspect phoenix | jq -r .runtime_id)
    step "now remove its runtime instance (see 05-recreate.curl.sh), then: $0 after"
    echo "   runtime id: $runtime_id"
    ;;
  after)
    before=$(berth inspect phoenix | jq -r .runtime_id)
    step "start it: the instance is rebuilt from the record"
    berth start phoenix
    test "$(berth inspect phoenix | jq -r .runtime_id)" != "$before"
    berth containers status-logs phoenix --limit 1
    berth containers status-logs phoenix --limit 1 -o json | jq -r '.logs[0].metadata.reason' | grep -q '^recreated'
    step "the writable layer came along"
    until_true 10 grep -q kept-data <(berth logs phoenix)
    berth rm -f phoenix
    ;;
  *) echo "usage: $0 before|after" >&2; exit 2 ;;
esac

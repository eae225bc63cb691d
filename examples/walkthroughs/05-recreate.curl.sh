#!/usr/bin/env bash
# Recreation: the record of a container is there but its runtime instance
# (its cgroups, its /run/berth/<runtime_id>) was removed from the host, by a
# cleanup or by hand. Starting it through the compatibility route rebuilds
# the instance from the record, under a new runtime id, and keeps its
# writable layer. With curl, in two halves:
#   05-recreate.curl.sh before    # makes "phoenix", writes /mark in it, stops it
#   (remove the instance: see the steps printed)
#   05-recreate.curl.sh after     # starts it: "container recreated and started"
. "$(dirname "$0")/lib.sh"
need_token

case "${1:-}" in
  before)
    step "a container that writes /mark on its first run and shows it on later ones"
    init='if [ -e /mark ]; then echo found; cat /mark; else echo kept-data > /mark; echo wrote; fi; '"$IDLE_INIT"
    body=$(jq -cn --arg init "$init" '{name: "phoenix", command: ["/bin/sh", "-c", $init]}')
    id=$(api POST /api/v1/containers "$body" | jq -r .data.id)
    until_true 10 grep -q wrote <(api GET "/api/v1/containers/$id/logs")
    api POST "/api/containers/phoenix/stop" | jq -c .
    runtime_id=$(api GET "/api/v1/containers/$id" | jq -r .data.runtime_id)
    step "now remove its runtime instance, as a host cleanup would:"
    echo "   systemctl stop berthd"
    echo "   for g in /sys/fs/cgroup/*/berth/$runtime_id /sys/fs/cgroup/berth/$runtime_id; do [ -d \"\$g\" ] && rmdir \"\$g\"; done"
    echo "   rm -rf /run/berth/$runtime_id"
    echo "   systemctl start berthd"
    echo "then: $0 after"
    ;;
  after)
    step "start it by name: the instance is rebuilt from the record"
    answer=$(api POST /api/containers/phoenix/start)
    echo "$answer" | jq .
    expect "message" "$(jq -r .message <<<"$answer")" "container recreated and started"
    expect "recreated" "$(jq -r .recreated <<<"$answer")" true
    expect "volume kept" "$(jq -r .volume_kept <<<"$answer")" true
    test "$(jq -r .old_id <<<"$answer")" != "$(jq -r .id <<<"$answer")"
    id=$(jq -r .db_id <<<"$answer")
    step "the writable layer came along"
    until_true 10 grep -q kept-data <(api GET "/api/v1/containers/$id/logs")
    api DELETE /api/containers/phoenix | jq -c .
    ;;
  *) echo "usage: $0 before|after" >&2; exit 2 ;;
esac

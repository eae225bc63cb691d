#!/usr/bin/env bash
# A snapshot and a restore: keep a good state of a container's writable
# layer, break it, and put the good state back. Snapshots are taken and
# restored while the container is stopped. With curl.
. "$(dirname "$0")/lib.sh"
need_token

step "a container with some state"
id=$(api POST /api/v1/containers "$(jq -cn --arg init "$IDLE_INIT" '{name: "keeper", command: ["/bin/sh", "-c", $init]}')" |
  jq -r .data.id)
run() { api POST "/api/v1/containers/$id/exec" "$(jq -cn --arg c "$1" '{command: ["sh", "-c", $c]}')" | jq -r .data.stdout; }
run 'echo good > /state'

step "stop and snapshot it"
api POST "/api/v1/containers/$id/stop" >/dev/null
sid=$(api POST "/api/v1/containers/$id/snapshots" '{"alias": "known-good"}' | jq -r .data.id)
api GET "/api/v1/containers/$id/snapshots" | jq -c '.data.snapshots[] | {id, alias, size_bytes}'

step "an upgrade goes wrong"
api POST "/api/v1/containers/$id/start" >/dev/null
run 'echo broken > /state; touch /junk'
api POST "/api/v1/containers/$id/stop" >/dev/null

step "restore the snapshot: the layer is exactly what it was"
api POST "/api/v1/containers/$id/snapshots/$sid/restore" | jq -r .data.status
api POST "/api/v1/containers/$id/start" >/dev/null
expect "/state" "$(run 'cat /state')" good
expect "/junk" "$(run 'test -e /junk && echo there || echo gone')" gone

api DELETE "/api/v1/containers/$id?force=true" >/dev/null

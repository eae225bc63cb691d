#!/usr/bin/env bash
# A snapshot and a restore with berth (snapshots by alias).
. "$(dirname "$0")/lib.sh"

step "a container with some state"
berth run -d keeper -- sh -c "$IDLE_INIT"
berth exec keeper -- sh -c 'echo good > /state'

step "stop and snapshot it"
berth stop keeper
berth snapshots create keeper known-good -q
berth snapshots keeper

step "an upgrade goes wrong"
berth start keeper
berth exec keeper -- sh -c 'echo broken > /state; touch /junk'
berth stop keeper

step "restore the snapshot: the layer is exactly what it was"
berth snapshots restore keeper known-good
berth start keeper
expect "/state" "$(berth exec keeper -- cat /state)" good
expect "/junk" "$(berth exec keeper -- sh -c 'test -e /junk && echo there || echo gone')" gone

berth rm -f keeper

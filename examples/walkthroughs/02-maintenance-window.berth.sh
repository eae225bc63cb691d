#!/usr/bin/env bash
# A maintenance window: a running service gets a new environment. env can
# only change while the container is stopped, so: stop it (with a grace
# period), change env, start it, and see the new value from inside. With berth.
. "$(dirname "$0")/lib.sh"

step "the service, printing its configuration at start"
berth run -d api -e APP_VERSION=1 -- sh -c 'echo "version=$APP_VERSION"; '"$IDLE_INIT"
until_true 10 grep -q version=1 <(berth logs api --tail 1)

step "env cannot change while it runs (berth says why, exits 1)"
if berth containers update api --env APP_VERSION=2; then exit 1; fi

step "the window opens: stop with a 30 s grace period"
berth stop api -t 30

step "change the environment (the whole env is replaced)"
berth containers update api --env APP_VERSION=2 -o yaml | grep -A1 '^env:'

step "start it again; it reads the new value"
berth start api
until_true 10 grep -q version=2 <(berth logs api --tail 1)

berth rm -f api

#!/usr/bin/env bash
# A maintenance window: a running service gets a new environment. env can
# only change while the container is stopped, so: stop it (with a grace
# period), change env, start it, and see the new value from inside. With curl.
. "$(dirname "$0")/lib.sh"
need_token

step "the service, printing its configuration at start"
init='echo "version=$APP_VERSION"; '"$IDLE_INIT"
body=$(jq -cn --arg init "$init" '{name: "api", command: ["/bin/sh", "-c", $init], env: {APP_VERSION: "1"}}')
id=$(api POST /api/v1/containers "$body" | jq -r .data.id)
logs() { api GET "/api/v1/containers/$id/logs?tail=1"; }
until_true 10 grep -q version=1 <(logs)

step "env cannot change while it runs"
expect "PATCH while running" "$(code_of PATCH "/api/v1/containers/$id" '{"env": {"APP_VERSION": "2"}}')" 400

step "the window opens: stop with a 30 s grace period"
expect "status" "$(api POST "/api/v1/containers/$id/stop?timeout=30" | jq -r .data.status)" stopped

step "change the environment (the whole env is replaced)"
api PATCH "/api/v1/containers/$id" '{"env": {"APP_VERSION": "2"}}' | jq -c '.data | {env, restarted}'

step "start it again; it reads the new value"
expect "status" "$(api POST "/api/v1/containers/$id/start" | jq -r .data.status)" running
until_true 10 grep -q version=2 <(logs)
expect "env" "$(api GET "/api/v1/containers/$id" | jq -r .data.env.APP_VERSION)" 2

api DELETE "/api/v1/containers/$id?force=true" >/dev/null

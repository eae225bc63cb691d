#!/usr/bin/env bash
# A published port: a web server in a bridge container, reached from the host
# at 127.0.0.1:$PORT (EXAMPLE_PORT, default 18080). Another container cannot
# take the same host port (409 PORT_CONFLICT). With curl.
. "$(dirname "$0")/lib.sh"
need_token
port=${EXAMPLE_PORT:-18080}

step "a web server on port 8080 inside, published on 127.0.0.1:$port"
init='mkdir -p /www; echo "hello from $(hostname)" > /www/index.html; httpd -f -p 8080 -h /www & '"$IDLE_INIT"
body=$(jq -cn --arg init "$init" --argjson port "$port" '{name: "site", command: ["/bin/sh", "-c", $init],
  network: "bridge", ports: [{container_port: 8080, host_port: $port}]}')
id=$(api POST /api/v1/containers "$body" | jq -r .data.id)
api GET "/api/v1/containers/$id" | jq -c '.data | {network, ports}'

step "from the host"
until_true 15 curl -sf "http://127.0.0.1:$port/" -o /dev/null
expect "page" "$(curl -sS "http://127.0.0.1:$port/")" "hello from site"

step "the port is the container's until it is deleted"
taken=$(jq -cn --argjson port "$port" '{name: "rival", network: "bridge", ports: [{container_port: 80, host_port: $port}]}')
expect "a second claim" "$(code_of POST /api/v1/containers "$taken")" 409

api DELETE "/api/v1/containers/$id?force=true" >/dev/null

#!/usr/bin/env bash
# A published port with berth: -p HOST_PORT:PORT (implies --network bridge).
. "$(dirname "$0")/lib.sh"
port=${EXAMPLE_PORT:-18080}

step "a web server on port 8080 inside, published on 127.0.0.1:$port"
berth run -d site -p "$port:8080" -- sh -c 'mkdir -p /www; echo "hello from $(hostname)" > /www/index.html; httpd -f -p 8080 -h /www & '"$IDLE_INIT"
berth ps -o wide

step "from the host"
until_true 15 curl -sf "http://127.0.0.1:$port/" -o /dev/null
expect "page" "$(curl -sS "http://127.0.0.1:$port/")" "hello from site"

step "the port is the container's until it is deleted"
if berth run -d rival -p "$port:80" -- true; then exit 1; fi

berth rm -f site

#!/usr/bin/env bash
# A first walk through the API against a running berthd (scripts/run.sh):
# log in as admin, create a busybox container, pause, resume, stop it, and
# read its status log. Needs curl; run as root (the admin password file is 0600).
#   BERTH_URL=http://127.0.0.1:8080 BERTH_DATA_DIR=/var/lib/berth examples/quickstart.sh
set -euo pipefail
url=${BERTH_URL:-http://127.0.0.1:8080}
data_dir=${BERTH_DATA_DIR:-/var/lib/berth}
password=$(cat "$data_dir/admin.password")

json_field() {  # json_field NAME: the first string value of NAME in stdin
  grep -o "\"$1\":\"[^\"]*\"" | head -n1 | cut -d'"' -f4
}
call() {  # call METHOD PATH [BODY]
  curl -sS -X "$1" "$url$2" -H "Authorization: Bearer ${token:-}" \
    -H 'Content-Type: application/json' ${3:+--data "$3"}
  echo
}

token=$(call POST /api/v1/auth/login "{\"username\":\"admin\",\"password\":\"$password\"}" | json_field token)
echo "logged in"

created=$(call POST /api/v1/containers \
  '{"name":"hello","command":["/bin/sh","-c","trap \"exit 0\" TERM; while true; do date; sleep 1; done"],"resources":{"memory_mb":64,"cpu_millicores":500}}')
echo "$created"
id=$(json_field id <<<"$created")

for op in pause resume stop start restart force-stop; do
  echo "== $op"
  call POST "/api/v1/containers/$id/$op"
done

echo "== status log"
call GET "/api/v1/containers/$id/status-logs?sort_order=asc&limit=20"
echo "== delete"
call DELETE "/api/v1/containers/$id"

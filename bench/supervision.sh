#!/usr/bin/env bash
# Monitor (berth-shim) memory per container, berthd RSS, and the time from a
# berthd start to /healthz with N running containers to adopt (after kill -9).
#   bench/supervision.sh [N=100]     (root; after `ninja -C build`)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100}
work=$(mktemp -d /tmp/berth-bench-sup-XXXXXX)
root="berth-bench-sup-$$"
pid=""
token=""
port=""

start_berthd() {
  ./build/cmd/berthd --listen 127.0.0.1:0 --data-dir "$work/data" --run-dir "$work/run" \
    --cgroup-root "$root" --log-level warn >"$work/out" 2>>"$work/err" &
  pid=$!
  until grep -q listening "$work/out" 2>/dev/null; do sleep 0.001; done
  port=$(grep -o '[0-9]*$' "$work/out")
}
api() {  # api METHOD PATH [BODY]
  curl -sS -X "$1" "http://127.0.0.1:$port$2" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' ${3:+--data "$3"}
}
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    for id in $(api GET "/api/v1/containers?limit=100" | grep -o '"id":"[0-9a-f]\{24\}"' | cut -d'"' -f4 | sort -u); do
      api DELETE "/api/v1/containers/$id?force=true" >/dev/null
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
  fi
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -d "$hierarchy$root" ] && find "$hierarchy$root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

start_berthd
password=$(cat "$work/data/admin.password")
token=$(api POST /api/v1/auth/login "{\"username\":\"admin\",\"password\":\"$password\"}" | grep -o '"token":"[^"]*"' | cut -d'"' -f4)
idle_rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
for i in $(seq 1 "$count"); do
  api POST /api/v1/containers "{\"name\":\"s$i\",\"command\":[\"/bin/sleep\",\"100000\"]}" >/dev/null
done
busy_rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)

shim_rss=(); shim_pss=()
for state in "$work"/run/*/shim.json; do
  shim=$(grep -o '"shim_pid":[0-9]*' "$state" | cut -d: -f2)
  shim_rss+=("$(awk '/^Rss:/ {print $2}' /proc/$shim/smaps_rollup)")
  shim_pss+=("$(awk '/^Pss:/ {print $2}' /proc/$shim/smaps_rollup)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

kill -9 "$pid"; wait "$pid" 2>/dev/null || true
: >"$work/out"
t0=$(date +%s%N)
start_berthd
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do :; done
t1=$(date +%s%N)
running=$(api GET "/api/v1/containers?limit=100&status=running" | grep -o '"total":[0-9]*' | cut -d: -f2)

echo "containers:                         $count (adopted running after kill -9: $running)"
echo "berth-shim RSS per container:       $(median "${shim_rss[@]}") KiB (median), PSS $(median "${shim_pss[@]}") KiB"
echo "berthd RSS idle / with $count:       $((idle_rss / 1024)) MiB / $((busy_rss / 1024)) MiB"
echo "berthd start to /healthz, adopting: $(( (t1 - t0) / 1000000 )) ms"

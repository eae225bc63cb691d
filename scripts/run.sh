#!/usr/bin/env bash
# Builds berth and runs the service in the foreground with the built-in
# busybox image, on 127.0.0.1:8080 (override with BERTH_LISTEN), data in
# /var/lib/berth. Extra arguments go to berthd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build berthd berth-shim berth
exec ./build/cmd/berthd --listen "${BERTH_LISTEN:-127.0.0.1:8080}" "$@"

#!/usr/bin/env bash
# Builds berth and runs every test (unit, kernel, end-to-end). Kernel and
# end-to-end tests need root; without it they are reported as skipped.
#   BERTH_SANITIZE=1 scripts/test.sh   runs the same under ASan+UBSan (build-asan/)
# Then the libFuzzer targets run for BERTH_FUZZ_SECONDS (20) each (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${BERTH_SANITIZE:-0}" = 1 ]; then
  build=build-asan
  flags+=(-DBERTH_SANITIZE=ON)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
cmake -S . -B "$build" -G Ninja "${flags[@]}" >/dev/null
ninja -C "$build"
ctest --test-dir "$build" --output-on-failure "$@"
# The request validation under libFuzzer, for a bounded time (BERTH_FUZZ_SECONDS=0 skips it).
if [ "${BERTH_FUZZ_SECONDS:-20}" != 0 ]; then
  bash scripts/fuzz.sh "${BERTH_FUZZ_SECONDS:-20}"
fi

#!/usr/bin/env bash
# The operations the ?env= dialect offers, as berth does them (through
# /api/v1; berth speaks no dialect): pause, unpause (resume), restart, stop,
# start, and the refusals. See 06-env-dialect.curl.sh for the dialect itself.
. "$(dirname "$0")/lib.sh"

step "a container to drive"
berth run -d envdemo -- sh -c "$IDLE_INIT"
for op in pause resume restart stop start; do
  step "$op"
  berth "$op" envdemo
  echo "   now $(berth inspect envdemo | jq -r .status)"
done

step "what it refuses: one line, the API's code, exit 1"
if berth start envdemo; then exit 1; fi
if berth stop nosuch; then exit 1; fi

berth rm -f envdemo

#!/usr/bin/env bash
# Validates the OpenAPI document berthd serves (`berthd --openapi`, the same
# bytes as GET /api/v1/openapi.json) with @redocly/cli (recommended rules, tests/openapi/redocly.yaml),
# installed from npm into BUILD_DIR/npm-tools on first use. Skipped (77)
# without npm. Warnings fail too: the document is ours to keep clean.
#   tests/openapi/lint.sh BUILD_DIR
set -u
build=$1
version=2.77.0
tools=$build/npm-tools
redocly=$tools/node_modules/.bin/redocly
if [ ! -x "$redocly" ] || [ "$("$redocly" --version 2>/dev/null)" != "$version" ]; then
  if ! command -v npm >/dev/null; then
    echo "npm is not installed: skipping the OpenAPI validation"
    exit 77
  fi
  mkdir -p "$tools"
  if ! npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "@redocly/cli@$version" >"$tools/install.log" 2>&1; then
    cat "$tools/install.log"
    echo "npm could not install @redocly/cli@$version"
    exit 1
  fi
fi
document=$build/openapi.json
"$build/cmd/berthd" --openapi >"$document" || { echo "berthd --openapi failed"; exit 1; }
# No telemetry, no update check: the test talks to nothing but the registry above.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
out=$("$redocly" lint --config "$(dirname "$0")/redocly.yaml" --format=stylish "$document" 2>&1)
status=$?
echo "$out"
if [ $status -ne 0 ]; then exit 1; fi
if grep -qiE '[0-9]+ warnings?' <<<"$out" && ! grep -qiE '\b0 warnings?' <<<"$out"; then
  echo "the OpenAPI document has warnings"; exit 1
fi
echo "openapi: valid"

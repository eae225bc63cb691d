# Sourced by every walkthrough here. Where berthd is: BERTH_URL (default
# http://127.0.0.1:8080). Who we are: BERTH_TOKEN; the curl walkthroughs log
# in as admin when it is unset (the password file berthd wrote; run as
# root), the berth ones use `berth login`'s config file. Needs curl and jq.
set -euo pipefail
export BERTH_URL=${BERTH_URL:-http://127.0.0.1:8080}

# The token for curl: BERTH_TOKEN, else a login as admin.
need_token() {
  if [ -z "${BERTH_TOKEN:-}" ]; then
    local password
    password=$(cat "${BERTH_DATA_DIR:-/var/lib/berth}/admin.password")
    BERTH_TOKEN=$(curl -sSf -X POST "$BERTH_URL/api/v1/auth/login" -H 'Content-Type: application/json' \
      --data "$(jq -cn --arg p "$password" '{username: "admin", password: $p}')" | jq -r .data.token)
    export BERTH_TOKEN
  fi
}

# api METHOD PATH [JSON]: the response body on stdout; fails unless 2xx.
api() {
  local out code
  out=$(curl -sS -X "$1" "$BERTH_URL$2" -H "Authorization: Bearer $BERTH_TOKEN" \
    ${3:+-H 'Content-Type: application/json' --data "$3"} -w '\n%{http_code}')
  code=${out##*$'\n'}
  printf '%s\n' "${out%$'\n'*}"
  if [[ $code != 2* ]]; then echo "$1 $2 answered $code" >&2; return 1; fi
}

# code_of METHOD PATH [JSON]: only the HTTP status (for the refusals a walkthrough shows).
code_of() {
  curl -sS -o /dev/null -w '%{http_code}' -X "$1" "$BERTH_URL$2" -H "Authorization: Bearer $BERTH_TOKEN" \
    ${3:+-H 'Content-Type: application/json' --data "$3"}
}

# expect WHAT GOT WANTED: says what held, stops the walkthrough when it does not.
expect() {
  if [ "$2" != "$3" ]; then
    echo "FAILED: $1: got '$2', wanted '$3'" >&2
    exit 1
  fi
  echo "   ok: $1 = $3"
}

# until_true SECONDS COMMAND...: retries the command every 0.2 s until it succeeds.
until_true() {
  local limit=$(( $1 * 5 )); shift
  for ((i = 0; i < limit; i++)); do
    if "$@"; then return 0; fi
    sleep 0.2
  done
  echo "FAILED: never true: $*" >&2
  exit 1
}

step() { printf '\n== %s\n' "$*"; }

# An init that exits at once on SIGTERM, so that a graceful stop is quick.
IDLE_INIT='trap "exit 0" TERM; while true; do sleep 1; done'

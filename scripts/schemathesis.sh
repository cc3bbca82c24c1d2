#!/usr/bin/env bash
# Property-based checks of the REST API against its own description (issue 12, item 6): starts
# ChatSync with its embedded defaults on a free port and a fresh data directory, signs up two
# users (the code comes from the dev outbox), then runs Schemathesis (PyPI) against the served
# /api/openapi.json with a bounded number of examples per operation. It fails when a response
# does not match the document (status, content type, body schema, headers) or is a 5xx.
#
# Usage: CHATSYNC_BIN=target/debug/chatsync scripts/schemathesis.sh [MAX_EXAMPLES]   (default 25)
# Schemathesis is installed into target/tools/schemathesis (a virtualenv) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${CHATSYNC_BIN:-target/debug/chatsync}
MAX_EXAMPLES=${1:-25}
SCHEMATHESIS_VERSION=4.32.5
VENV=target/tools/schemathesis
log() { printf 'schemathesis.sh: %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
[[ -x $BIN ]] || fail "no executable binary at $BIN (set CHATSYNC_BIN)"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

TMP=$(mktemp -d)
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
PORT=$PORT DATA_DIR=$TMP/data "$BIN" serve >"$TMP/server.log" 2>&1 &
PID=$!
for _ in $(seq 1 120); do
  curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$PID" 2>/dev/null || { cat "$TMP/server.log" >&2; fail "the server exited"; }
  sleep 0.5
done
curl -fs "$BASE/readyz" >/dev/null || fail "the server did not become ready"

# signup EMAIL NAME: registers, reads the code from the dev outbox, verifies; prints the login.
signup() {
  local email=$1 name=$2 code=""
  curl -fs -X POST "$BASE/api/auth/register" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"correct horse battery\",\"display_name\":\"$name\"}" >/dev/null \
    || fail "register $email"
  for _ in $(seq 1 40); do
    code=$(curl -fs "$BASE/api/dev/outbox?email=$email" | python3 -c 'import json,sys; m=json.load(sys.stdin)["messages"]; print(m[0]["code"] if m else "")')
    [[ -n $code ]] && break
    sleep 0.25
  done
  [[ -n $code ]] || fail "no code mailed to $email"
  curl -fs -X POST "$BASE/api/auth/verify" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"otp\":\"$code\"}" || fail "verify $email"
}
ALICE=$(signup alice@example.com Alice)
BOB=$(signup bob@example.com Bob)
TOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["access_token"])' "$ALICE")
BOB_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["user"]["id"])' "$BOB")
# Something to find: a conversation with a message in it.
CID=$(curl -fs -X POST "$BASE/api/conversations" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d "{\"kind\":\"direct\",\"user_id\":\"$BOB_ID\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -fs -X POST "$BASE/api/conversations/$CID/messages" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"client_id":"st-1","body":"hello schemathesis"}' >/dev/null \
  || fail "send a message"

# Logging out, or revoking a session (Schemathesis finds the current one through GET
# /api/sessions), would end the session every later request uses; auth_api:: covers both.
log "running schemathesis ($MAX_EXAMPLES examples per operation) against $BASE/api/openapi.json"
"$VENV/bin/schemathesis" run "$BASE/api/openapi.json" \
  --url "$BASE" \
  --header "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "$MAX_EXAMPLES" \
  --exclude-path-regex '^/api/(auth/logout|sessions/\{id\})$' \
  --seed 1 \
  --generation-deterministic \
  --request-timeout 10 \
  --no-color \
  || { tail -n 40 "$TMP/server.log" >&2; fail "responses that do not match /api/openapi.json (above)"; }
log "ok"

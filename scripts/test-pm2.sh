#!/usr/bin/env bash
# Runs deploy/pm2/ecosystem.config.js under a private PM2 (installed from npm into a temporary
# directory, PM2_HOME there too) on real PostgreSQL, Redis, RabbitMQ and an SMTP sink, then:
#   - waits for every process's /readyz;
#   - registers two users through the gateway (code read from the mail the sink received),
#     verifies them, logs them in, opens a direct conversation;
#   - runs tests/deploy/pm2_flow.mjs (two users chatting through the gateway, acks, retries with
#     the same client_id, sync after reconnects) while `pm2 reload chatsync-chat` restarts the chat
#     nodes one at a time; then checks nothing was lost or duplicated (stored, seqs, receivers).
# Needs: node/npm, python3 with aiosmtpd, psql, redis-cli, rabbitmqctl, curl, jq, and the
# services at 127.0.0.1 (PostgreSQL 5432 user postgres trust, Redis 6379, RabbitMQ 5672 guest).
# Usage: CHATSYNC_BIN=target/debug/chatsync scripts/test-pm2.sh   (the binary is not built here)
# CHAT_NODES (default 2) sets how many chat nodes run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PM2_VERSION=7.0.4
CHAT_NODES=${CHAT_NODES:-2}
BIN=${CHATSYNC_BIN:-target/debug/chatsync}
case $BIN in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
[[ -x $BIN ]] || { echo "test-pm2: no executable binary at $BIN (set CHATSYNC_BIN)" >&2; exit 1; }
[[ -d $ROOT/tests/clients/node_modules/socket.io-client ]] || { echo "test-pm2: run scripts/test-deps.sh first (tests/clients/node_modules)" >&2; exit 1; }

START=$(date +%s)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/chatsync-pm2.XXXXXX")
SUFFIX=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
DB=chatsync_pm2_$SUFFIX
VHOST=chatsync_pm2_$SUFFIX
REDIS_PREFIX="chatsync_pm2_$SUFFIX:"
export PM2_HOME=$TMP/pm2-home
PM2=$TMP/npm/node_modules/.bin/pm2
SMTP_PID=""
CLIENT_PID=""
DB_MADE=0
VHOST_MADE=0

log() { printf '[test-pm2 %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

cleanup() {
  local rc=$?
  set +e
  if [[ $rc -ne 0 && -d $PM2_HOME/logs ]]; then
    log "exit $rc; last log lines of every process:"
    for f in "$PM2_HOME"/logs/*.log; do echo "==> $f" >&2; tail -n 40 "$f" >&2; done
  fi
  [[ -n $CLIENT_PID ]] && kill "$CLIENT_PID" 2>/dev/null
  if [[ -x $PM2 ]]; then
    "$PM2" delete all >/dev/null 2>&1
    "$PM2" kill >/dev/null 2>&1
  fi
  [[ -n $SMTP_PID ]] && kill "$SMTP_PID" 2>/dev/null && wait "$SMTP_PID" 2>/dev/null
  [[ $DB_MADE == 1 ]] && psql -h 127.0.0.1 -U postgres -d postgres -qAtc "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null
  [[ $VHOST_MADE == 1 ]] && rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1
  redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "${REDIS_PREFIX}*" 2>/dev/null | xargs -r -n 200 redis-cli -h 127.0.0.1 -p 6379 del >/dev/null 2>&1
  rm -rf "$TMP"
  log "cleaned up (exit $rc, $(( $(date +%s) - START )) s)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# until_ok SECONDS WHAT COMMAND...: polls COMMAND every 0.5 s until it succeeds.
until_ok() {
  local secs=$1 what=$2; shift 2
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < end )) || fail "timed out after ${secs}s waiting for $what"
    sleep 0.5
  done
}

free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# 1. PM2, private to this run.
log "installing pm2@$PM2_VERSION into $TMP/npm"
npm install --prefix "$TMP/npm" --no-audit --no-fund --loglevel=error "pm2@$PM2_VERSION" >"$TMP/npm.log" 2>&1 \
  || { cat "$TMP/npm.log" >&2; fail "npm install pm2"; }
[[ $("$PM2" --version | tail -n 1) == "$PM2_VERSION" ]] || fail "pm2 --version is not $PM2_VERSION"

# 2. Backends: a fresh database, vhost and Redis prefix; an SMTP sink.
read -r GATEWAY_PORT USER_PORT MAIL_PORT SMTP_PORT CHAT_PORT_LIST <<<"$(free_ports $((4 + CHAT_NODES)))"
# The ecosystem numbers chat nodes from one port: find CHAT_NODES consecutive free ones.
CHAT_PORT=""
for _ in $(seq 1 50); do
  base=$(( 20000 + RANDOM % 30000 ))
  okp=1
  for i in $(seq 0 $((CHAT_NODES - 1))); do
    python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',int(sys.argv[1])))" $((base + i)) 2>/dev/null || { okp=0; break; }
  done
  if [[ $okp == 1 ]]; then CHAT_PORT=$base; break; fi
done
[[ -n $CHAT_PORT ]] || fail "no $CHAT_NODES consecutive free ports"
unset CHAT_PORT_LIST

psql -h 127.0.0.1 -U postgres -d postgres -qAtc "CREATE DATABASE \"$DB\"" >/dev/null || fail "cannot create database $DB"
DB_MADE=1
rabbitmqctl -q add_vhost "$VHOST" >/dev/null || fail "rabbitmqctl add_vhost"
VHOST_MADE=1
rabbitmqctl -q set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null || fail "rabbitmqctl set_permissions"
redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG || fail "Redis at 127.0.0.1:6379 does not answer"

MAIL_DIR=$TMP/mail
mkdir -p "$MAIL_DIR"
python3 "$ROOT/scripts/smtp_sink.py" --port "$SMTP_PORT" --dir "$MAIL_DIR" >"$TMP/smtp.log" 2>&1 &
SMTP_PID=$!
until_ok 60 "the SMTP sink" grep -q ready "$TMP/smtp.log"

# 3. The env file, in the processes' working directory as a Node-era .env would be.
RUN=$TMP/run
mkdir -p "$RUN"
JWT_SECRET=$(od -An -N48 -tx1 /dev/urandom | tr -d ' \n')
cat >"$RUN/.env" <<EOF
# written by scripts/test-pm2.sh
PORT=$GATEWAY_PORT
HOST=127.0.0.1
DATA_DIR=$RUN/data
DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DB
REDIS_URL=redis://127.0.0.1:6379
REDIS_PREFIX=$REDIS_PREFIX
RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/$VHOST
JWT_SECRET=$JWT_SECRET
SMTP_URL=smtp://127.0.0.1:$SMTP_PORT
MAIL_FROM=ChatSync test <no-reply@chatsync.test>
LOG_FORMAT=json
RUST_LOG=info
CHATSYNC__SHUTDOWN__DRAIN_SECS=3
CHATSYNC__SHUTDOWN__DEADLINE_SECS=30
EOF
log "migrating $DB"
(cd "$RUN" && "$BIN" migrate) >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; fail "chatsync migrate"; }

# 4. Start everything.
export CHATSYNC_BIN=$BIN CHATSYNC_ENV_FILE=$RUN/.env CHATSYNC_CHAT_NODES=$CHAT_NODES \
  CHATSYNC_GATEWAY_PORT=$GATEWAY_PORT CHATSYNC_USER_PORT=$USER_PORT CHATSYNC_MAIL_PORT=$MAIL_PORT \
  CHATSYNC_CHAT_PORT=$CHAT_PORT CHATSYNC_READY_WAIT_MS=${CHATSYNC_READY_WAIT_MS:-15000}
ECO=$ROOT/deploy/pm2/ecosystem.config.js
log "pm2 start (gateway :$GATEWAY_PORT, user :$USER_PORT, mail :$MAIL_PORT, chat :$CHAT_PORT..+$((CHAT_NODES - 1)))"
"$PM2" start "$ECO" >"$TMP/pm2-start.log" 2>&1 || { cat "$TMP/pm2-start.log" >&2; fail "pm2 start"; }

CHAT_PORTS=()
for i in $(seq 1 "$CHAT_NODES"); do CHAT_PORTS+=($((CHAT_PORT + i - 1))); done
ALL_PORTS=("$USER_PORT" "$MAIL_PORT" "${CHAT_PORTS[@]}" "$GATEWAY_PORT")
ready() { curl -fsS --max-time 5 "http://127.0.0.1:$1/readyz"; }
for p in "${ALL_PORTS[@]}"; do until_ok 180 "/readyz on :$p" ready "$p"; done
GW=http://127.0.0.1:$GATEWAY_PORT
# The gateway is ready with one chat node; wait until it lists every one as ready.
gateway_sees_all() {
  local body
  body=$(curl -fsS --max-time 5 "$GW/readyz") || return 1
  for p in "${CHAT_PORTS[@]}"; do
    # {"checks": {"chat node 0 (http://127.0.0.1:PORT)": "ok", ...}, "status": "ready"}
    jq -e --arg u "http://127.0.0.1:$p)" '.status == "ready" and ([.checks | to_entries[] | select((.key | endswith($u)) and .value == "ok")] | length == 1)' \
      <<<"$body" >/dev/null 2>&1 || return 1
  done
}
until_ok 60 "the gateway's /readyz to list every chat node" gateway_sees_all
log "every process is ready: $(curl -fsS "$GW/readyz")"
n_online=$("$PM2" jlist | jq '[.[] | select(.pm2_env.status == "online")] | length')
[[ $n_online == $((3 + CHAT_NODES)) ]] || fail "pm2 lists $n_online online processes, not $((3 + CHAT_NODES))"
# PM2 must wait past the shutdown deadline (30 s) before a SIGKILL.
"$PM2" jlist | jq -e 'all(.[]; .pm2_env.kill_timeout > 30000 and .pm2_env.exec_mode == "fork_mode")' >/dev/null \
  || fail "pm2 apps: kill_timeout/exec_mode are not >30 s/fork: $("$PM2" jlist | jq -c '[.[] | [.name, .pm2_env.kill_timeout, .pm2_env.exec_mode]]')"

# 5. Two users: register, code from the mail, verify, login.
api() { # api METHOD PATH JSON [TOKEN] -> body on stdout; fails on an HTTP error
  local auth=()
  [[ -n ${4:-} ]] && auth=(-H "Authorization: Bearer $4")
  curl -fsS --max-time 20 -X "$1" -H 'Content-Type: application/json' "${auth[@]}" --data "$3" "$GW$2"
}
mail_code() { # prints the 6-digit code of the newest mail to $1
  python3 - "$MAIL_DIR" "$1" <<'EOF'
import email, email.policy, os, re, sys
d, to = sys.argv[1], sys.argv[2].lower()
for name in sorted(os.listdir(d), reverse=True):
    if not name.endswith(".eml"):
        continue
    with open(os.path.join(d, name), "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    if to not in str(msg["To"]).lower():
        continue
    part = msg.get_body(preferencelist=("plain", "html"))
    m = re.search(r"\b(\d{6})\b", part.get_content() if part else "")
    if m:
        print(m.group(1)); sys.exit(0)
sys.exit(1)
EOF
}
PASSWORD='pm2-test-password-1'
declare -A TOKEN USER_ID
for who in a b; do
  addr="pm2-$who-$SUFFIX@example.com"
  api POST /api/auth/register "$(jq -nc --arg e "$addr" --arg p "$PASSWORD" --arg n "PM2 $who" '{email:$e,password:$p,display_name:$n}')" >/dev/null \
    || fail "register $addr"
  until_ok 60 "the code mailed to $addr" mail_code "$addr"
  code=$(mail_code "$addr")
  api POST /api/auth/verify "$(jq -nc --arg e "$addr" --arg o "$code" --arg p "$PASSWORD" '{email:$e,otp:$o,password:$p}')" >/dev/null \
    || fail "verify $addr"
  login=$(api POST /api/auth/login "$(jq -nc --arg e "$addr" --arg p "$PASSWORD" '{email:$e,password:$p}')") || fail "login $addr"
  TOKEN[$who]=$(jq -er .access_token <<<"$login")
  USER_ID[$who]=$(jq -er .user.id <<<"$login")
  log "user $who: $addr verified with code $code, logged in (${USER_ID[$who]})"
done
CONV=$(api POST /api/conversations "$(jq -nc --arg u "${USER_ID[b]}" '{kind:"direct",user_id:$u}')" "${TOKEN[a]}" | jq -er .id) \
  || fail "create the conversation"

# 6. Chat while the chat nodes are reloaded.
STOP_FILE=$TMP/stop
PROGRESS=$TMP/progress.json
acked_total() { jq -r '.a.acked + .b.acked' "$PROGRESS" 2>/dev/null || echo 0; }
at_least_acked() { (( $(acked_total) >= $1 )); }
GATEWAY=$GW TOKEN_A=${TOKEN[a]} TOKEN_B=${TOKEN[b]} USER_A=${USER_ID[a]} USER_B=${USER_ID[b]} CONV=$CONV \
  STOP_FILE=$STOP_FILE PROGRESS_FILE=$PROGRESS \
  node "$ROOT/tests/deploy/pm2_flow.mjs" >"$TMP/flow.out" 2>"$TMP/flow.log" &
CLIENT_PID=$!
client_alive() { kill -0 "$CLIENT_PID" 2>/dev/null; }
until_ok 120 "the first 20 acked messages" at_least_acked 20
client_alive || fail "the client stopped early: $(tail -n 20 "$TMP/flow.log")"

pids_before=$("$PM2" jlist | jq -c '[.[] | select(.pm2_env.namespace == "chatsync-chat") | .pid]')
log "acked so far: $(acked_total); pm2 reload chatsync-chat --parallel 1 (pids $pids_before)"
t0=$(date +%s)
# In the background, so that a signal to this script is handled at once, not after the reload.
"$PM2" reload chatsync-chat --parallel 1 >"$TMP/pm2-reload.log" 2>&1 &
wait $! || { cat "$TMP/pm2-reload.log" >&2; fail "pm2 reload"; }
log "pm2 reload returned after $(( $(date +%s) - t0 )) s"
pids_after=$("$PM2" jlist | jq -c '[.[] | select(.pm2_env.namespace == "chatsync-chat") | .pid]')
jq -e --argjson b "$pids_before" --argjson a "$pids_after" \
  '($a | length) == ($b | length) and ([$a[] | select(. as $p | $b | index($p))] | length) == 0 and ([$a[] | select(. == 0)] | length) == 0' \
  <<<null >/dev/null || fail "chat node pids before $pids_before, after $pids_after: not every node was restarted"
for p in "${CHAT_PORTS[@]}" "$GATEWAY_PORT"; do until_ok 120 "/readyz on :$p after the reload" ready "$p"; done
until_ok 60 "the gateway's /readyz to list every chat node after the reload" gateway_sees_all

# One at a time: the drain of a node starts only after the previous one answered /readyz again.
python3 - "$PM2_HOME/logs" "$CHAT_NODES" <<'EOF' || fail "the chat nodes were not restarted one at a time"
import glob, json, os, sys
# Each node logs its start and its shutdown; json lines with timestamps.
logs, n = sys.argv[1], int(sys.argv[2])
events = []
for i in range(1, n + 1):
    for f in glob.glob(os.path.join(logs, f"chatsync-chat-{i}-out*.log")) + glob.glob(os.path.join(logs, f"chatsync-chat-{i}-error*.log")):
        for line in open(f, errors="replace"):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            msg = json.dumps(j).lower()
            ts = j.get("timestamp") or j.get("time") or ""
            if "drain" in msg or "shutting down" in msg or "shutdown" in msg:
                events.append((ts, i, "stop"))
            elif "listening" in msg:
                events.append((ts, i, "listen"))
events.sort()
print("chat node events:", [(t[11:23], i, e) for t, i, e in events if e], file=sys.stderr)
# After the first start of each node, a stop of node j must not come while another node is
# between its stop and its next listen.
down = set()
started = set()
for ts, i, e in events:
    if e == "listen":
        down.discard(i); started.add(i)
    elif e == "stop" and i in started:
        if down - {i}:
            print(f"node {i} stopped at {ts} while {sorted(down - {i})} was down", file=sys.stderr); sys.exit(1)
        down.add(i)
# Every node drained and came back.
for i in range(1, n + 1):
    kinds = [e for _, j, e in events if j == i]
    if "stop" not in kinds or kinds[-1] != "listen" or kinds.count("listen") < 2:
        print(f"node {i} did not drain and start again: {kinds}", file=sys.stderr); sys.exit(1)
EOF
# Each stopped by itself, within kill_timeout: no SIGKILL, exit code 0.
grep -n "SIGKILL" "$PM2_HOME/pm2.log" >&2 && fail "PM2 had to SIGKILL a process"
grep -E "App \[chatsync-chat-[0-9]+:[0-9]+\] exited with code" "$PM2_HOME/pm2.log" >&2 || true
if grep -E "App \[chatsync-chat-[0-9]+:[0-9]+\] exited with code \[[1-9]" "$PM2_HOME/pm2.log" >&2; then fail "a chat node exited with an error"; fi

# Keep chatting a little after the reload, then stop and check.
target=$(( $(acked_total) + 30 ))
until_ok 120 "30 more acked messages after the reload" at_least_acked "$target"
touch "$STOP_FILE"
log "stopping the client at $(acked_total) acked messages"
end=$(( $(date +%s) + 240 ))
while client_alive; do
  (( $(date +%s) < end )) || fail "the client did not finish within 240 s"
  sleep 0.5
done
rc=0; wait "$CLIENT_PID" || rc=$?
CLIENT_PID=""
grep -E 'disconnected|connect_error|no ack|sync' "$TMP/flow.log" | tail -n 30 >&2 || true
result=$(tail -n 1 "$TMP/flow.out")
[[ -n $result ]] || { cat "$TMP/flow.log" >&2; fail "the client printed no result (exit $rc)"; }
jq . <<<"$result" >&2
jq -r '"stored \(.stored), acked \(.acked), lost \(.lost), duplicated \(.duplicated), mismatched \(.mismatched), stored unacked \(.stored_unacked); a: \(.a.acked) sent (\(.a.retries) retries, \(.a.duplicate_acks) duplicate acks, \(.a.connects) connects), got \(.a.received) of b'"'"'s (\(.a.received_live) live, \(.a.received_via_sync) by sync, missing \(.missing_at_receiver.a.missing)); b: \(.b.acked) sent (\(.b.retries) retries, \(.b.duplicate_acks) duplicate acks, \(.b.connects) connects), got \(.b.received) of a'"'"'s (\(.b.received_live) live, \(.b.received_via_sync) by sync, missing \(.missing_at_receiver.b.missing))"' <<<"$result"
[[ $rc == 0 ]] && jq -e '.ok == true and .lost == 0 and .duplicated == 0' <<<"$result" >/dev/null || fail "the chat check failed (client exit $rc)"
# The reload must really have moved the clients: each one reconnected at least once.
jq -e '.a.connects >= 2 and .b.connects >= 2' <<<"$result" >/dev/null || fail "a client never reconnected: the reload did not reach it"

# 7. Stop.
"$PM2" delete all >/dev/null 2>&1 || fail "pm2 delete all"
log "PASS in $(( $(date +%s) - START )) s"

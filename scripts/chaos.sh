#!/usr/bin/env bash
# The fault suite (issue 13, "Faults under load"). Starts its own PostgreSQL cluster (initdb and
# pg_ctl on a free port), redis-server and RabbitMQ node, an SMTP sink, and ChatSync as separate
# processes: gateway, user, mail and CHAT_NODES chat nodes (`chatsync serve --only ...`). Then
# tests/deploy/chaos_flow.mjs keeps USERS clients chatting one-to-one and in groups through the
# gateway at RATE messages/s, and registering new accounts, while this script, one fault at a
# time:
#   1. SIGKILLs chat node 1 and starts it again;
#   2. SIGTERMs each chat node in turn, starting it again before the next (a rolling restart);
#   3. restarts Redis;  4. restarts PostgreSQL;  5. restarts RabbitMQ;
#   6. stops the mail service for MAIL_DOWN seconds while registrations go on.
# At the end the client checks that every acked message is stored exactly once with gap-free
# seqs, that every member got every message exactly once (live or by `sync`), and that every
# registration's code arrived; and prints how long each fault stopped sends (p50/max over clients).
# Timings are printed, never asserted. The machine's own PostgreSQL, Redis and RabbitMQ are not
# touched. Everything it starts is stopped, and its temporary directory removed, on any exit.
#
# Usage: CHATSYNC_BIN=target/debug/chatsync scripts/chaos.sh --short   (what scripts/test.sh runs)
#        CHATSYNC_BIN=target/release/chatsync scripts/chaos.sh --full
# --short: 20 clients, 50 msgs/s, 2 chat nodes, short pauses; --full: 60 clients, 300 msgs/s,
# 3 chat nodes. CHAOS_USERS, CHAOS_RATE, CHAOS_CHAT_NODES, CHAOS_PAUSE (seconds of chat between
# faults) and CHAOS_MAIL_DOWN override either. The binary is not built here.
# Needs (scripts/test-deps.sh installs them): PostgreSQL's server binaries, redis-server,
# rabbitmq-server, node with tests/clients/node_modules, python3 with aiosmtpd, curl, jq.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-}
case $MODE in
  --short) USERS=20 RATE=50 CHAT_NODES=2 PAUSE=6 MAIL_DOWN=10 ;;
  --full) USERS=60 RATE=300 CHAT_NODES=3 PAUSE=20 MAIL_DOWN=30 ;;
  *) echo "usage: scripts/chaos.sh --short|--full" >&2; exit 2 ;;
esac
USERS=${CHAOS_USERS:-$USERS}
RATE=${CHAOS_RATE:-$RATE}
CHAT_NODES=${CHAOS_CHAT_NODES:-$CHAT_NODES}
PAUSE=${CHAOS_PAUSE:-$PAUSE}
MAIL_DOWN=${CHAOS_MAIL_DOWN:-$MAIL_DOWN}
BIN=${CHATSYNC_BIN:-target/debug/chatsync}
case $BIN in /*) ;; *) BIN="$ROOT/$BIN" ;; esac

log() { printf '[chaos %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

# Every tool, checked before anything starts: a missing one fails the run, never skips it.
[[ -x $BIN ]] || fail "no executable binary at $BIN (set CHATSYNC_BIN)"
[[ -d $ROOT/tests/clients/node_modules/socket.io-client ]] || fail "run scripts/test-deps.sh first (tests/clients/node_modules)"
PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
[[ -n $PG_BIN && -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] || fail "PostgreSQL's server binaries (initdb, pg_ctl) are not under /usr/lib/postgresql/*/bin"
RABBIT_SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
RABBITMQCTL=/usr/lib/rabbitmq/bin/rabbitmqctl
[[ -x $RABBIT_SERVER && -x $RABBITMQCTL ]] || fail "rabbitmq-server is not installed (/usr/lib/rabbitmq/bin)"
for tool in redis-server redis-cli node python3 curl jq psql; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/test-deps.sh)"
done
python3 -c 'import aiosmtpd' 2>/dev/null || fail "python3 cannot import aiosmtpd (scripts/test-deps.sh)"

START=$(date +%s)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/chatsync-chaos.XXXXXX")
# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user, who must
# be able to reach it.
chmod 755 "$TMP"
SUFFIX=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
declare -A PID=()   # service name -> pid of a ChatSync process
REDIS_PID=""
RABBIT_PID=""
SMTP_PID=""
CLIENT_PID=""
PG_STARTED=0

as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

stop_pid() { # stop_pid PID SECONDS: SIGTERM, then SIGKILL after SECONDS
  local p=$1 secs=$2 i
  kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  if [[ $rc -ne 0 ]]; then
    log "exit $rc; the last lines of every log:"
    for f in "$TMP"/logs/*.log "$TMP"/flow.log; do [[ -f $f ]] && { echo "==> $f" >&2; tail -n 12 "$f" >&2; }; done
  fi
  [[ -n $CLIENT_PID ]] && kill "$CLIENT_PID" 2>/dev/null
  for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null; done
  for name in "${!PID[@]}"; do stop_pid "${PID[$name]}" 10; done
  [[ -n $SMTP_PID ]] && stop_pid "$SMTP_PID" 5
  [[ -n $REDIS_PID ]] && stop_pid "$REDIS_PID" 5
  if [[ -n $RABBIT_PID ]]; then
    "$RABBITMQCTL" -n "$RABBIT_NODE" stop >/dev/null 2>&1
    stop_pid "$RABBIT_PID" 10
  fi
  [[ $PG_STARTED == 1 ]] && as_pg "$PG_BIN/pg_ctl" -D "$TMP/pg" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$TMP"
  log "cleaned up (exit $rc, $(($(date +%s) - START)) s)"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# until_ok SECONDS WHAT COMMAND...: polls COMMAND every 0.5 s until it succeeds.
until_ok() {
  local secs=$1 what=$2
  shift 2
  local end=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) < end)) || fail "timed out after ${secs}s waiting for $what"
    sleep 0.5
  done
}

now_ms() { date +%s%3N; }

# shellcheck disable=SC2207
PORTS=($(python3 - $((8 + CHAT_NODES)) <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
))
GATEWAY_PORT=${PORTS[0]} USER_PORT=${PORTS[1]} MAIL_PORT=${PORTS[2]} SMTP_PORT=${PORTS[3]}
PG_PORT=${PORTS[4]} REDIS_PORT=${PORTS[5]} RABBIT_PORT=${PORTS[6]} RABBIT_DIST_PORT=${PORTS[7]}
CHAT_PORTS=("${PORTS[@]:8}")
RABBIT_NODE=chatsync-chaos-$RABBIT_PORT@localhost
mkdir -p "$TMP/logs"

# ---- backends, the test's own --------------------------------------------------------------
start_pg() {
  as_pg "$PG_BIN/pg_ctl" -D "$TMP/pg" -l "$TMP/logs/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $TMP/pg -c max_connections=300" start >/dev/null \
    || fail "pg_ctl start"
  PG_STARTED=1
}
stop_pg() { as_pg "$PG_BIN/pg_ctl" -D "$TMP/pg" -m fast -w -t 60 stop >/dev/null || fail "pg_ctl stop"; }

# Redis with an append-only file, as a production Redis that keeps sessions is: a restart loses
# the connections, not the data.
start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$TMP/redis" --save "" \
    --appendonly yes --appendfsync always --logfile "$TMP/logs/redis.log" &
  REDIS_PID=$!
  until_ok 30 "redis-server on :$REDIS_PORT" redis-cli -p "$REDIS_PORT" ping
}

start_rabbit() {
  RABBITMQ_NODENAME=$RABBIT_NODE RABBITMQ_NODE_PORT=$RABBIT_PORT RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT \
    RABBITMQ_CONFIG_FILE=$TMP/rabbit/rabbitmq.conf RABBITMQ_MNESIA_BASE=$TMP/rabbit/mnesia \
    RABBITMQ_LOG_BASE=$TMP/rabbit/log RABBITMQ_ENABLED_PLUGINS_FILE=$TMP/rabbit/enabled_plugins \
    RABBITMQ_PID_FILE=$TMP/rabbit/pid \
    "$RABBIT_SERVER" >>"$TMP/logs/rabbitmq.log" 2>&1 &
  RABBIT_PID=$!
  until_ok 120 "the private RabbitMQ node" "$RABBITMQCTL" -n "$RABBIT_NODE" await_startup
}
stop_rabbit() {
  "$RABBITMQCTL" -n "$RABBIT_NODE" stop >/dev/null 2>&1 || fail "rabbitmqctl stop"
  stop_pid "$RABBIT_PID" 30
}

log "PostgreSQL (initdb, :$PG_PORT), Redis (:$REDIS_PORT), RabbitMQ (:$RABBIT_PORT), SMTP sink (:$SMTP_PORT) in $TMP"
mkdir -p "$TMP/pg" "$TMP/redis" "$TMP/rabbit" "$TMP/mail" "$TMP/data"
touch "$TMP/logs/postgres.log"
[[ $(id -u) == 0 ]] && chown postgres: "$TMP/pg" "$TMP/logs/postgres.log"
as_pg "$PG_BIN/initdb" -D "$TMP/pg" -U postgres -A trust -E UTF8 >"$TMP/logs/initdb.log" 2>&1 || { cat "$TMP/logs/initdb.log" >&2; fail "initdb"; }
start_pg
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAtc 'CREATE DATABASE chatsync' >/dev/null || fail "createdb"
start_redis
printf 'listeners.tcp.default = %s\nloopback_users = none\n' "$RABBIT_PORT" >"$TMP/rabbit/rabbitmq.conf"
echo '[].' >"$TMP/rabbit/enabled_plugins"
start_rabbit
python3 "$ROOT/scripts/smtp_sink.py" --port "$SMTP_PORT" --dir "$TMP/mail" >"$TMP/logs/smtp.log" 2>&1 &
SMTP_PID=$!
until_ok 60 "the SMTP sink" grep -q ready "$TMP/logs/smtp.log"

# ---- ChatSync --------------------------------------------------------------------------------
url() { echo "http://127.0.0.1:$1"; }
CHAT_URLS=$(for p in "${CHAT_PORTS[@]}"; do url "$p"; done | paste -sd,)
JWT_SECRET=$(od -An -N48 -tx1 /dev/urandom | tr -d ' \n')
USER_SERVICE_URL=$(url "$USER_PORT")
MAIL_SERVICE_URL=$(url "$MAIL_PORT")
export JWT_SECRET USER_SERVICE_URL MAIL_SERVICE_URL CHAT_SERVICE_URL=$CHAT_URLS
export HOST=127.0.0.1 DATA_DIR=$TMP/data \
  DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/chatsync \
  REDIS_URL=redis://127.0.0.1:$REDIS_PORT REDIS_PREFIX=chatsync: \
  RABBITMQ_URL=amqp://guest:guest@127.0.0.1:$RABBIT_PORT/%2f \
  SMTP_URL=smtp://127.0.0.1:$SMTP_PORT MAIL_FROM='ChatSync chaos <no-reply@chatsync.test>' \
  LOG_FORMAT=json RUST_LOG=info \
  CHATSYNC__SHUTDOWN__DRAIN_SECS=3 CHATSYNC__SHUTDOWN__DEADLINE_SECS=30 \
  ACCESS_TOKEN_TTL_SECS=86400 \
  CHATSYNC__AUTH__LOGIN_PER_IP__LIMIT=100000 CHATSYNC__AUTH__REGISTER_PER_IP__LIMIT=100000 \
  CHATSYNC__AUTH__VERIFY_PER_IP__LIMIT=100000
# Every client connects from 127.0.0.1: the per-address limits above are for many addresses.

# start_svc NAME ONLY PORT: one `chatsync serve --only ONLY` process, logging to logs/NAME.log.
start_svc() {
  PORT=$3 "$BIN" serve --only "$2" >>"$TMP/logs/$1.log" 2>&1 &
  PID[$1]=$!
}
ready() { curl -fsS --max-time 5 "$(url "$1")/readyz"; }
GW=$(url "$GATEWAY_PORT")
gateway_sees_all() {
  local body p
  body=$(curl -fsS --max-time 5 "$GW/readyz") || return 1
  for p in "${CHAT_PORTS[@]}"; do
    jq -e --arg u "$(url "$p"))" '.status == "ready" and ([.checks | to_entries[] | select((.key | endswith($u)) and .value == "ok")] | length == 1)' \
      <<<"$body" >/dev/null 2>&1 || return 1
  done
}
all_ready() { # every process answers /readyz, and the gateway lists every chat node as ready
  local p
  for p in "$USER_PORT" "$MAIL_PORT" "${CHAT_PORTS[@]}" "$GATEWAY_PORT"; do ready "$p" || return 1; done
  gateway_sees_all
}

log "migrating"
"$BIN" migrate >"$TMP/logs/migrate.log" 2>&1 || { cat "$TMP/logs/migrate.log" >&2; fail "chatsync migrate"; }
start_svc user user "$USER_PORT"
start_svc mail mail "$MAIL_PORT"
for i in "${!CHAT_PORTS[@]}"; do start_svc "chat-$((i + 1))" chat "${CHAT_PORTS[$i]}"; done
start_svc gateway gateway "$GATEWAY_PORT"
until_ok 180 "every process's /readyz" all_ready
log "ready: gateway :$GATEWAY_PORT, user :$USER_PORT, mail :$MAIL_PORT, chat ${CHAT_PORTS[*]}"

# ---- the clients -----------------------------------------------------------------------------
STOP_FILE=$TMP/stop READY_FILE=$TMP/clients-ready PROGRESS=$TMP/progress.json FAULTS=$TMP/faults.jsonl
: >"$FAULTS"
GATEWAY=$GW USERS=$USERS RATE=$RATE SUFFIX=$SUFFIX MAIL_DIR=$TMP/mail STOP_FILE=$STOP_FILE \
  READY_FILE=$READY_FILE PROGRESS_FILE=$PROGRESS FAULTS_FILE=$FAULTS \
  node "$ROOT/tests/deploy/chaos_flow.mjs" >"$TMP/flow.out" 2>"$TMP/flow.log" &
CLIENT_PID=$!
client_alive() { kill -0 "$CLIENT_PID" 2>/dev/null; }
acked() { jq -r .acked "$PROGRESS" 2>/dev/null || echo 0; }
client_ready() { [[ -f $READY_FILE ]] || { client_alive || fail "the client stopped during set-up"; return 1; }; }
until_ok 300 "$USERS clients to register, log in and connect" client_ready
log "$USERS clients connected; $(jq -c . "$PROGRESS")"

# chat SECONDS: lets the clients chat, failing at once if the client process died.
chat() {
  local end=$(($(date +%s) + $1))
  while (($(date +%s) < end)); do
    client_alive || fail "the client stopped: $(tail -n 5 "$TMP/flow.log")"
    sleep 1
  done
}
# progressing WHAT: waits until USERS / 2 more messages are acked (sends go on after a fault).
progressing() {
  local target=$(($(acked) + USERS / 2))
  at_least() { (($(acked) >= target)); }
  until_ok 180 "sends to go on after $1 (acked $(acked), want $target)" at_least
}
FAULT_NAME="" FAULT_START=0
fault_begin() { FAULT_NAME=$1 FAULT_START=$(now_ms); log "fault: $1 (acked so far: $(acked))"; }
# fault_end: once every process is ready again and sends go on; records the fault's window.
fault_end() {
  until_ok 180 "every process to be ready after $FAULT_NAME" all_ready
  progressing "$FAULT_NAME"
  local end
  end=$(now_ms)
  jq -nc --arg n "$FAULT_NAME" --argjson s "$FAULT_START" --argjson e "$end" '{name: $n, start_ms: $s, end_ms: $e}' >>"$FAULTS"
  log "  $FAULT_NAME: over after $(((end - FAULT_START) / 1000)) s; $(jq -c . "$PROGRESS")"
  chat "$PAUSE"
}
# restart_chat I SIGNAL: stops chat node I with SIGNAL (waits for it to exit) and starts it again.
restart_chat() {
  local name=chat-$1 p=${PID[chat-$1]}
  kill "-$2" "$p"
  local end=$(($(date +%s) + 60))
  while kill -0 "$p" 2>/dev/null; do
    (($(date +%s) < end)) || fail "$name did not exit within 60 s of SIG$2"
    sleep 0.1
  done
  local rc=0
  wait "$p" || rc=$?
  [[ $2 == KILL || $rc == 0 ]] || fail "$name exited with $rc after SIG$2"
  start_svc "$name" chat "${CHAT_PORTS[$(($1 - 1))]}"
  until_ok 120 "$name's /readyz after SIG$2" ready "${CHAT_PORTS[$(($1 - 1))]}"
}

chat "$PAUSE"
progressing "the start"

fault_begin "chat node SIGKILL"
restart_chat 1 KILL
fault_end

fault_begin "rolling restart (SIGTERM each chat node)"
for i in $(seq 1 "$CHAT_NODES"); do
  restart_chat "$i" TERM
  until_ok 60 "the gateway to see chat-$i again" gateway_sees_all
done
fault_end

fault_begin "Redis restart"
stop_pid "$REDIS_PID" 30
sleep 2
start_redis
fault_end

fault_begin "PostgreSQL restart"
stop_pg
sleep 2
start_pg
fault_end

fault_begin "RabbitMQ restart"
stop_rabbit
sleep 2
start_rabbit
fault_end

fault_begin "mail service stopped ${MAIL_DOWN} s"
stop_pid "${PID[mail]}" 40
chat "$MAIL_DOWN"
start_svc mail mail "$MAIL_PORT"
fault_end

# ---- the check -------------------------------------------------------------------------------
touch "$STOP_FILE"
log "stopping the clients at $(acked) acked messages"
end=$(($(date +%s) + 400))
while client_alive; do
  (($(date +%s) < end)) || fail "the client did not finish within 400 s"
  sleep 1
done
rc=0
wait "$CLIENT_PID" || rc=$?
CLIENT_PID=""
result=$(tail -n 1 "$TMP/flow.out")
[[ -n $result ]] || fail "the client printed no result (exit $rc)"
jq -r '
  "clients \(.clients) (\(.conversations.direct) direct conversations, \(.conversations.group) groups), \(.send_secs) s of sending at \(.rate_per_sec) msgs/s",
  "messages: acked \(.acked), stored \(.stored), lost \(.lost), duplicated \(.duplicated), mismatched \(.mismatched), stored unacked \(.stored_unacked), seq gaps \(.seq_gaps)",
  "deliveries: expected \(.deliveries_expected), received \(.received) (\(.received_live) live, \(.received_via_sync) by sync, \(.received_via_final_sync) by the final catch-up), missing \(.missing_at_receivers), twice live \(.received_twice_live), unexpected \(.received_unexpected)",
  "clients: \(.attempts) sends, \(.retries) retries, \(.duplicate_acks) duplicate acks, error acks \(.error_acks | tostring), \(.connects) connects, \(.connect_errors) connect errors, \(.syncs) syncs (\(.sync_failures) failed)",
  "registrations: \(.registrations) answered 202 (failed attempts \(.registration_failed_attempts | tostring)), codes missing \(.codes_missing), accounts verified \(.codes_verified), verify failed \(.verify_failed)",
  "faults (pause = per client, the longest time between two acks overlapping the fault; p50 / max over clients):",
  (.faults[] | "  \(.name): \(.secs) s; sends paused p50 \(.pause_p50_ms) ms, max \(.pause_max_ms) ms; \(.received_live_after) received live after it" + (if .registrations then "; \(.registrations) registrations meanwhile, code delay p50 \(.code_delay_p50_ms) ms, max \(.code_delay_max_ms) ms" else "" end)),
  (if (.failures | length) > 0 then "failures:", (.failures[] | "  " + .) else empty end)
' <<<"$result"
if [[ $rc != 0 ]] || ! jq -e '.ok == true and .lost == 0 and .duplicated == 0 and .missing_at_receivers == 0 and .codes_missing == 0' <<<"$result" >/dev/null; then
  fail "the check failed (client exit $rc)"
fi
log "PASS in $(($(date +%s) - START)) s"

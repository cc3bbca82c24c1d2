#!/usr/bin/env bash
# SPEC §7's benchmark, ChatSync side by side with a Node.js Socket.IO 4.8 server doing the same
# work (bench/peer-node), in one invocation: builds the release binaries, installs the Node
# peer (npm ci) and the plotting library (matplotlib, in a venv under bench/out/), then runs
# chatsync-bench (crates/bench) pinned to CPU 1; it starts each server in turn pinned to CPU 0
# (ChatSync with one tokio worker, Node with its one thread; for PostgreSQL targets, the
# PostgreSQL processes serving the run as well) and measures each with the same load.
#
#   bench/run.sh                          # every target: chatsync-sqlite chatsync-postgres node node-pg
#   bench/run.sh chatsync-sqlite node     # a subset (sqlite and postgres name the ChatSync ones)
#   SCENARIOS=sweep,cpu bench/run.sh      # of sockets, sweep, cpu, direct, group (default: all but direct)
#   NOTE="…" bench/run.sh                 # a note kept in the JSON and put in the plot's title
#
# Settings (environment, default): STEP_SECS (5) and WARMUP_SECS (1) per sweep step;
# SWEEP_START (1000), SWEEP_FLOOR (100: how far down a sweep whose first rate failed goes),
# SWEEP_FACTOR (1.5), SWEEP_PRECISION (0.05), SWEEP_MAX (60000) msgs/s;
# CPU_RATE (2000) msgs/s measured for CPU_SECS (10); SOCKETS (10000) idle sockets; GROUP_RATE
# (600) msgs/s to a group of 100 for DURATION (10) s; RATE (15000) for the direct scenario;
# SERVER_CPU (0) and BENCH_CPU (1).
#
# Output: bench/out/run-<UTC time>.json (every figure, every sweep point, the summary) and
# bench/out/run-<UTC time>.png (latency p50/p99 against offered rate, all targets on one
# chart); the summary table with ChatSync / Node ratios is printed at the end. A full run takes
# about 12-15 minutes plus the build (each further x1.5 step a target passes adds ~7 s). The
# machine should be otherwise idle: absolute figures move ±30 % between runs here, so compare
# only figures of one invocation (ratios, CPU per message). Method: bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=(chatsync-sqlite chatsync-postgres node node-pg)
list=$(IFS=,; echo "${TARGETS[*]}")
need_chatsync=0 need_node=0 need_pg=0
for t in "${TARGETS[@]}"; do
  case $t in
    chatsync-sqlite|sqlite) need_chatsync=1 ;;
    chatsync-postgres|chatsync-pg|postgres) need_chatsync=1 need_pg=1 ;;
    node) need_node=1 ;;
    node-pg|node-postgres) need_node=1 need_pg=1 ;;
    *) echo "unknown target $t (chatsync-sqlite, chatsync-postgres, node, node-pg)" >&2; exit 2 ;;
  esac
done
SERVER_CPU=${SERVER_CPU:-0}
BENCH_CPU=${BENCH_CPU:-1}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}

# Build and install everything before measuring anything.
packages=(-p chatsync-bench)
[[ $need_chatsync == 1 ]] && packages+=(-p chatsync-server)
cargo build --release --locked "${packages[@]}"
if [[ $need_node == 1 ]]; then
  command -v node >/dev/null || { echo "node is needed for the Node peer (Node >= 18)" >&2; exit 1; }
  major=$(node -p 'process.versions.node.split(".")[0]')
  [[ $major -ge 18 ]] || { echo "Node >= 18 is needed, found $(node --version)" >&2; exit 1; }
  (cd bench/peer-node && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
fi
if [[ $need_pg == 1 ]]; then
  psql "$PG_URL/postgres" -qAtc 'select 1' >/dev/null ||
    { echo "PostgreSQL is not reachable at $PG_URL" >&2; exit 1; }
fi
mkdir -p bench/out
venv=bench/out/.venv
if ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'matplotlib>=3.8,<4'
fi

# The build leaves a few hundred MB of dirty pages that the kernel writes back about 30 s later,
# in the middle of the first target's measurements: every durable commit's flush waits behind
# that writeback, 50-100 ms at once, which fails a sweep step (bench/RESULTS.md, tenth pass).
# Write them now.
sync

# chatsync-bench gives PostgreSQL's processes their own CPU affinity back when it ends, is
# interrupted or fails; if it is killed outright, this does it instead.
declare -A pg_affinity=()
for pid in $(pgrep -x postgres || true); do
  pg_affinity[$pid]=$(awk '/^Cpus_allowed_list:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
done
restore_pg() {
  for pid in "${!pg_affinity[@]}"; do
    [[ -n ${pg_affinity[$pid]} && $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] &&
      taskset -a -p -c "${pg_affinity[$pid]}" "$pid" >/dev/null 2>&1 || true
  done
}
trap restore_pg EXIT

load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN {exit !(l > 0.5)}'; then
  echo "warning: the machine is not idle (load average $load): its figures are only as quiet as the machine" >&2
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/out/run-$stamp.json
label="commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD 2>/dev/null || label+=" + uncommitted changes"
echo "== $list -> $out" >&2
taskset -c "$BENCH_CPU" target/release/chatsync-bench \
  --targets "$list" \
  --scenarios "${SCENARIOS:-sockets,sweep,cpu,group}" \
  --server-cpu "$SERVER_CPU" --pg "$PG_URL" \
  --step-secs "${STEP_SECS:-5}" --warmup-secs "${WARMUP_SECS:-1}" \
  --sweep-start "${SWEEP_START:-1000}" --sweep-floor "${SWEEP_FLOOR:-100}" --sweep-factor "${SWEEP_FACTOR:-1.5}" \
  --sweep-precision "${SWEEP_PRECISION:-0.05}" --sweep-max "${SWEEP_MAX:-60000}" \
  --cpu-rate "${CPU_RATE:-2000}" --cpu-secs "${CPU_SECS:-10}" \
  --sockets "${SOCKETS:-10000}" --group-rate "${GROUP_RATE:-600}" \
  --duration "${DURATION:-10}" --rate "${RATE:-15000}" \
  --label "$label" --note "${NOTE:-}" >"$out"
"$venv/bin/python" bench/plot.py "$out" >/dev/null || echo "warning: plotting $out failed" >&2
echo "== $out and ${out%.json}.png, $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s in all" >&2

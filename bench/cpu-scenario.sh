# Sourced by bench/thread-cpu.sh, bench/commit-cost.sh and bench/callgrind-threads.sh: starts
# `chatsync-bench --scenarios cpu` (CPU_RATE msgs/s, 2,000 by default, for CPU_SECS s, 14 by
# default; server on CPU 0, bench on CPU 1) against the ChatSync binary
# $1 in the background, writing its JSON to $2/run.json, and returns 3 s into the
# measurement with `bench` (the bench's pid, to `wait` for) and `pid` (the server's) set.
# The server inherits the environment (for example CHATSYNC__CHAT__COMMIT_WINDOW_US).
# CPU_TARGET picks the bench's target (chatsync-sqlite by default; chatsync-postgres uses the
# PostgreSQL server at PG_URL, postgres://postgres@127.0.0.1:5432 by default).
start_cpu_scenario() {
  local srv=$1 out=$2
  taskset -c 1 target/release/chatsync-bench --targets "${CPU_TARGET:-chatsync-sqlite}" \
    --pg "${PG_URL:-postgres://postgres@127.0.0.1:5432}" --scenarios cpu \
    --cpu-rate "${CPU_RATE:-2000}" --cpu-secs "${CPU_SECS:-14}" --server "$srv" --server-cpu 0 >"$out/run.json" 2>"$out/run.err" &
  bench=$!
  for _ in $(seq 1 1200); do grep -q 'cpu…' "$out/run.err" 2>/dev/null && break; sleep 0.5; done
  sleep 3
  pid=$(pgrep -n -x "$(basename "$srv" | cut -c1-15)")
}

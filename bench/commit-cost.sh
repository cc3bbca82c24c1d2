#!/usr/bin/env bash
# What a group commit costs (issue 10, nineteenth pass): runs `chatsync-bench --scenarios cpu`
# (2,000 msgs/s, server on CPU 0, bench on CPU 1) against one ChatSync binary with the commit
# window given in microseconds, and counts over 5 s of the measurement (10,000 messages) each
# server thread's exact CPU time (`perf stat` task-clock), context switches and the appender's
# commits (`fdatasync`s). Needs `perf`.
#
#   bench/commit-cost.sh target/release/chatsync 2000     # after cargo build --release
#   for w in 0 2000 4000 8000; do bench/commit-cost.sh target/release/chatsync $w; done
set -euo pipefail
cd "$(dirname "$0")/.."
srv=$1
window=${2:-2000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
. bench/cpu-scenario.sh
export CHATSYNC__CHAT__COMMIT_WINDOW_US=$window
start_cpu_scenario "$srv" "$out"
perf stat --per-thread -x, -e task-clock,context-switches,syscalls:sys_enter_fdatasync \
  -p "$pid" -- sleep 5 2>"$out/stat.csv"
wait "$bench"
# Per thread name: task-clock in ms over 10,000 messages is µs per message / 10.
awk -F, '$2 + 0 > 0 && $1 ~ /appender|rt-worker|checkpoi/ {
           sub(/-[0-9]+$/, "", $1); v[$1 "," $4] += $2 }
         END { for (k in v) { split(k, p, ",");
                 if (p[2] == "task-clock") printf "%s: %.1f µs/msg\n", p[1], v[k] / 10;
                 else printf "%s: %d %s in 5 s\n", p[1], v[k], p[2] } }' "$out/stat.csv" | sort
python3 -c "
import json, sys
c = json.load(open(sys.argv[1]))['targets']['chatsync-sqlite']['cpu']
print(f\"window {sys.argv[2]} µs: server {c['server_cpu_us_per_msg']} µs/msg (bench), p99 {c['p99_ms']} ms\")
" "$out/run.json" "$window"

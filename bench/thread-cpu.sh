#!/usr/bin/env bash
# Server CPU per message, per thread, at the benchmark's CPU rate (2,000 msgs/s, or CPU_RATE): runs
# `chatsync-bench --scenarios cpu` against one ChatSync binary (server on CPU 0, bench on CPU 1)
# and reads each server thread's utime+stime from /proc over 8 s of the measurement. Used for
# the paired runs of bench/RESULTS.md (issue 10, fifth pass), where the appender's own share
# moves less between runs than the whole server's.
#
#   bench/thread-cpu.sh target/release/chatsync            # after cargo build --release
set -euo pipefail
cd "$(dirname "$0")/.."
srv=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
. bench/cpu-scenario.sh
start_cpu_scenario "$srv" "$out"
# Per thread (id and name), so a thread that ends between the two readings (tokio's blocking
# pool) drops out instead of taking its ticks out of its name's sum.
snap() {
  for t in /proc/"$pid"/task/*; do
    read -r -a s < <(sed 's/.*) //' "$t/stat" 2>/dev/null) || continue
    echo "$(basename "$t"):$(tr ' ' '_' <"$t/comm") $((s[11] + s[12]))"
  done | sort
}
snap >"$out/t0"
sleep 8
snap >"$out/t1"
wait "$bench"
# Clock ticks (1/100 s) over 8 s at CPU_RATE msgs/s: µs per message = ticks * 10,000 / (8 * rate).
join "$out/t0" "$out/t1" |
  awk -v msgs=$((8 * ${CPU_RATE:-2000})) '{split($1, k, ":"); a[k[2]] += ($3 - $2) * 10000 / msgs}
       END {for (n in a) if (a[n] > 0.5) printf "%s %.1f µs/msg\n", n, a[n]}'
grep -o 'server CPU per message at the CPU rate, µs | [0-9]*' "$out/run.json" | head -1

#!/usr/bin/env bash
# What one durable commit asks of the disk: the block requests issued per `fdatasync`, by kind,
# over 3 s of the `cpu` scenario (CPU_RATE msgs/s, 2,000 by default) against one ChatSync binary
# (issue 10, twenty-seventh pass). Needs `perf` with the block and syscall tracepoints (root).
#
#   bench/block-requests.sh target/release/chatsync
#
# Prints the commits (fdatasync calls, counted system-wide like the requests, so run it on an
# otherwise quiet machine) per message and, per commit, the requests of each kind
# (perf's rwbs: WS a synchronous write, WSM a synchronous metadata write, FF a cache flush, R a
# read), and who issued them. On this machine class each commit cost three: the log's frames
# (WS), the log's inode (WSM: a new mtime, which ext4 without a journal writes even for
# fdatasync) and the flush of the virtual disk's write-back cache (FF, issued by kblockd).
set -euo pipefail
cd "$(dirname "$0")/.."
srv=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
. bench/cpu-scenario.sh
start_cpu_scenario "$srv" "$out"
perf record -q -e block:block_rq_issue -e syscalls:sys_enter_fdatasync -a -o "$out/perf.data" \
  -- sleep 3 2>/dev/null
wait "$bench"
perf script -i "$out/perf.data" 2>/dev/null | awk -v msgs=$((3 * ${CPU_RATE:-2000})) '
  /sys_enter_fdatasync/ { commits++; next }
  /block_rq_issue/ {
    for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,[0-9]+$/) { kind = $(i + 1); break }
    n[kind]++; by[kind " " $1]++
  }
  END {
    if (commits == 0) { print "no fdatasync seen"; exit 1 }
    printf "%d commits, %.3f per message\n", commits, commits / msgs
    for (k in n) printf "%-4s %.2f per commit\n", k, n[k] / commits
    for (k in by) printf "  %s: %d (%.2f per commit)\n", k, by[k], by[k] / commits
  }'

#!/usr/bin/env bash
# SPEC §7's benchmark: builds release binaries, then runs chatsync-bench (crates/bench) against
# a fresh `chatsync serve` pinned to CPU 0 (one tokio worker) with the load generator on CPU 1.
#
#   bench/run.sh                       # SQLite and PostgreSQL, every scenario
#   bench/run.sh sqlite                # one database
#   RATE=25000 bench/run.sh sqlite     # offered one-to-one rate (default 15000 msgs/s)
#   SCENARIOS=direct bench/run.sh      # sockets, direct, group (default all)
#
# Results are JSON on stdout, one object per database, and are kept in bench/out/.
# The machine should be otherwise idle: the numbers are only as quiet as the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

DBS=("${@:-sqlite postgres}")
read -r -a DBS <<<"${DBS[*]}"
RATE=${RATE:-15000}
GROUP_RATE=${GROUP_RATE:-600}
DURATION=${DURATION:-10}
SCENARIOS=${SCENARIOS:-sockets,direct,group}
SOCKETS=${SOCKETS:-10000}

cargo build --release --locked -p chatsync-server -p chatsync-bench
mkdir -p bench/out
for db in "${DBS[@]}"; do
  out="bench/out/$db-$(date -u +%Y%m%dT%H%M%SZ).json"
  echo "== $db (offered $RATE msgs/s one-to-one, $GROUP_RATE msgs/s to a group) -> $out" >&2
  taskset -c 1 target/release/chatsync-bench --db "$db" --server-cpu 0 \
    --scenarios "$SCENARIOS" --sockets "$SOCKETS" --rate "$RATE" --group-rate "$GROUP_RATE" \
    --duration "$DURATION" | tee "$out"
done

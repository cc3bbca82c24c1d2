#!/usr/bin/env bash
# Instructions per message on each server thread, counted by callgrind over 10 s of the `cpu`
# scenario at 300 msgs/s. Instrumentation is switched on only for those 10 s (after the
# scenario's set-up and warm-up), so registrations, connects and argon2 are not counted, and the
# counts do not move with the machine as CPU time does (issue 10, twenty-second pass).
#
#   bench/callgrind-threads.sh target/release/chatsync [out-dir]
#   CPU_TARGET=chatsync-postgres bench/callgrind-threads.sh target/release/chatsync [out-dir]
#
# (the second on PostgreSQL at PG_URL, postgres://postgres@127.0.0.1:5432 by default, whose own
# processes are not counted)
#
# Prints one line per busy thread (the tokio runtime thread, the SQLite appender, ...) and keeps
# the profiles in out-dir (`callgrind_annotate <file>` reads them). About 3 minutes: the server
# runs under valgrind from the start. Messages are counted by the calls to `Message::to_json` (once
# per stored message without attachments, which is every message of this scenario).
set -euo pipefail
cd "$(dirname "$0")/.."
srv=$(realpath "$1")
[[ -x $srv && -f $srv ]] || { echo "no server binary at $1 (target/release/chatsync?)" >&2; exit 2; }
out=$(realpath -m "${2:-$(mktemp -d)}")
mkdir -p "$out"
rm -f "$out"/cg.* "$out"/vgdb*
rate=300 secs=10

# The bench kills the process it started when it is done; valgrind runs in the background so
# that the server outlives it and writes its profile on SIGTERM.
cat >"$out/server.sh" <<EOF
#!/bin/sh
valgrind --vgdb-prefix=$out/vgdb --tool=callgrind --separate-threads=yes --instr-atstart=no \
  --callgrind-out-file=$out/cg.%p.out "$srv" "\$@" >"$out/valgrind.log" 2>&1 &
echo \$! >"$out/valgrind.pid"
wait
EOF
chmod +x "$out/server.sh"

. bench/cpu-scenario.sh
CPU_RATE=$rate CPU_SECS=40 start_cpu_scenario "$out/server.sh" "$out"
sleep 1
pid=$(cat "$out/valgrind.pid")
# vgdb names its pipes after the user and host of the process's environment; the bench starts
# the server with HOST=127.0.0.1 and without USER.
control() { env -u USER -u LOGNAME HOST=127.0.0.1 callgrind_control --vgdb-prefix="$out/vgdb" "$@" "$pid" >/dev/null 2>&1; }
control -i on
sleep "$secs"
control -i off
wait "$bench" || true
kill -TERM "$pid"
for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done

python3 - "$out" <<'EOF'
import glob, re, sys

def calls_to(path, pattern):
    names, target, n = {}, None, 0
    for line in open(path):
        m = re.match(r'(c?fn)=\((\d+)\)(?: (.*))?', line)
        if m:
            kind, i, name = m.groups()
            if name:
                names[i] = name
            target = names.get(i) if kind == 'cfn' else None
            continue
        m = re.match(r'calls=(\d+)', line)
        if m and target and re.search(pattern, target):
            n += int(m.group(1))
    return n

files = glob.glob(sys.argv[1] + '/cg.*.out-*')
totals = {}
for f in files:
    for line in open(f):
        if line.startswith('totals:'):
            totals[f] = int(line.split()[1])
            break
# The message's JSON is written once per message: `Message::to_json` since the twenty-third
# pass, `shared_json` in the binaries before it (where it was not inlined).
for counted in (r'chatsync_core::ports::chat::Message::to_json$',
                r'chatsync_chat::writer::shared_json$'):
    runtime = [f for f in files if calls_to(f, counted)]
    if runtime:
        break
else:
    sys.exit('no message was counted: did the scenario run?')
msgs = calls_to(runtime[0], counted)
print(f'{msgs} messages counted')
top = max(totals.values())
for f, t in sorted(totals.items(), key=lambda kv: -kv[1]):
    if t < top / 100:
        continue
    text = open(f).read()
    name = ('tokio runtime' if f in runtime else 'sqlite appender' if 'append_batch' in text
            else 'sqlite checkpointer' if 'checkpointer::' in text else 'other')
    print(f'{name:20} {t / msgs:10,.0f} instructions per message   {f}')
EOF

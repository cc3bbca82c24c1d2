#!/usr/bin/env python3
"""PostgreSQL's own CPU per message for the append statement, without the server (issue 10).

    python3 bench/pg-append-cost.py [--pg postgres://postgres@127.0.0.1:5432] [--rounds 3]

Makes a fresh database with the chat service's migrations (this checkout's
`crates/store-postgres/migrations/chat`, applied in order with psql), 100 conversations, and
runs the append statement as this checkout has it (`crates/store-postgres/src/append/`, the
plain shape), prepared once, then executed for 24,000 messages in batches of eight
(`--per-batch`) in as many conversations, with fresh ids, from one psql session with
`synchronous_commit=off` (so the disk's flushes are not counted). Prints the backend's CPU time
(utime + stime, from /proc/<pid>/stat, so PostgreSQL must run on this machine) per message for
each round. Compare two versions by running each one's own copy of this script in its checkout
(`git worktree add`), alternated; the figures move by about 10 % from round to round on these
machines.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The plain shape's parameters (crates/store-postgres/src/append/plain.sql).
TYPES = ("uuid[], bigint[], timestamptz, bigint[], uuid[], uuid[], bigint[], uuid[], text[], "
         "text[], uuid[]")
# Messages per batch by default, one per conversation (--per-batch; the bench's batches near the
# top of its PostgreSQL sweep are several times larger).
MESSAGES, CONVERSATIONS, PER_BATCH = 24000, 100, 8


def statement():
    """The plain shape's text (a bench batch has no attachments and no mentions)."""
    shapes = os.path.join(ROOT, "crates/store-postgres/src/append")
    return "".join(open(os.path.join(shapes, f)).read() for f in ("locked.sql", "plain.sql"))


def args(cs, n, ids, client_ids, bodies):
    """The plain shape's arguments for one batch: conversations `cs` (ids, in order), one
    message in each, fresh ids from `ids()`."""
    return [arr(cs, "uuid"), same("1", "bigint", n), "now()", same("0", "bigint", n),
            arr(ids(), "uuid"), arr(cs, "uuid"), same("1", "bigint", n), arr(ids(), "uuid"),
            arr(client_ids, "text"), arr(bodies, "text"), same("NULL", "uuid", n)]


def arr(xs, t):
    return "ARRAY[%s]::%s[]" % (",".join("'%s'" % x for x in xs), t)


def same(v, t, n):
    return "ARRAY[%s]::%s[]" % (",".join([v] * n), t)


def psql(url, *args, **kw):
    r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, *args],
                       capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"psql {' '.join(args)[:60]}: {r.stderr.strip()[:2000]}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--per-batch", type=int, default=PER_BATCH, choices=range(1, CONVERSATIONS))
    a = ap.parse_args()
    db = "chatsync_append_cost_" + uuid.uuid4().hex[:12]
    admin = a.pg.rstrip("/") + "/postgres"
    url = a.pg.rstrip("/") + "/" + db
    psql(admin, "-c", f"CREATE DATABASE {db}")
    try:
        mig = os.path.join(ROOT, "crates/store-postgres/migrations/chat")
        for f in sorted(os.listdir(mig)):
            psql(url, "-f", os.path.join(mig, f))
        conv = [str(uuid.UUID(int=(0x7000 << 64) | i)) for i in range(1, CONVERSATIONS + 1)]
        psql(url, "-c", "INSERT INTO conversation (conversation_id, kind, created_by, created_at,"
             " last_activity_at) SELECT unnest($$" + "{" + ",".join(conv) + "}" + "$$::uuid[]),"
             " 'direct', gen_random_uuid(), now(), now()")
        stmt = statement()
        for r in range(a.rounds):
            cost = run(url, stmt, conv, a.per_batch)
            print(f"round {r + 1}: {cost:.1f} µs of PostgreSQL CPU per message", flush=True)
    finally:
        psql(admin, "-c", f"DROP DATABASE {db}")


def run(url, stmt, conv, per_batch):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(f"PREPARE app({TYPES}) AS {stmt};\n")
        f.write("SELECT pg_backend_pid() AS pid \\gset\n\\setenv BPID :pid\n\\o /dev/null\n")
        for _ in range(MESSAGES // per_batch):
            start = random.randrange(0, CONVERSATIONS - per_batch)
            cs = sorted(conv[start:start + per_batch])
            n = len(cs)
            ids = lambda: [str(uuid.uuid4()) for _ in cs]  # noqa: E731
            bodies = [f"a message of about sixty-four bytes, as in the bench, number {k}"
                      for k in range(n)]
            f.write("EXECUTE app(%s);\n" % ", ".join(args(cs, n, ids, ids(), bodies)))
        f.write("\\o\n\\! awk '{print $14 + $15}' /proc/$BPID/stat\n")
        path = f.name
    try:
        env = dict(os.environ, PGOPTIONS="-c synchronous_commit=off")
        out = psql(url, "-f", path, env=env)
    finally:
        os.unlink(path)
    ticks = int(out.strip().splitlines()[-1])
    return ticks / os.sysconf("SC_CLK_TCK") * 1e6 / (MESSAGES // per_batch * per_batch)


if __name__ == "__main__":
    main()

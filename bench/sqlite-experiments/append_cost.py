#!/usr/bin/env python3
"""What one message costs SQLite on the append path, outside the server (issue 10).

Builds the chat schema from crates/store-sqlite/migrations/chat in a scratch database (WAL,
synchronous=OFF: no fsync, so the figures are CPU and the log's writes only), with 100 direct
conversations of two members, appends 40,000 messages to warm it up, then K batches of B
messages from random conversations, as the appender does (earlier sends, members and seq
reservation once per conversation of the batch, insert, commit), and prints the time per
message of each statement kind and the log frames per message. With `--no-reservation` the
seq comes from the message index instead of the conversation row (what no longer updating
`conversation.last_seq` and `last_activity_at` on append would save); `--page-size` builds the
database with other pages than SQLite's 4 KiB. Python's own overhead
per statement (about 1 µs) is in every figure.

    python3 bench/sqlite-experiments/append_cost.py [--batch 9] [--no-reservation] [--page-size 4096]
"""
import argparse, collections, glob, os, random, sqlite3, tempfile, time, uuid

ap = argparse.ArgumentParser()
ap.add_argument('--batch', type=int, default=9)
ap.add_argument('--batches', type=int, default=3000)
ap.add_argument('--no-reservation', action='store_true')
ap.add_argument('--page-size', type=int, default=4096)
args = ap.parse_args()
B, K = args.batch, args.batches

here = os.path.dirname(os.path.abspath(__file__))
migrations = sorted(glob.glob(os.path.join(here, '../../crates/store-sqlite/migrations/chat/*.sql')))
path = os.path.join(tempfile.mkdtemp(prefix='chatsync-append-cost-'), 'chat.db')
db = sqlite3.connect(path, isolation_level=None)
db.execute(f'PRAGMA page_size={args.page_size}')
db.execute('PRAGMA journal_mode=WAL')
db.execute('PRAGMA synchronous=OFF')
db.execute('PRAGMA wal_autocheckpoint=0')
db.execute('PRAGMA foreign_keys=ON')
for m in migrations:
    db.executescript(open(m).read())
convs = [str(uuid.uuid4()) for _ in range(100)]
users = [str(uuid.uuid4()) for _ in range(200)]
db.execute('BEGIN')
for i, c in enumerate(convs):
    db.execute("INSERT INTO conversation (conversation_id, kind, created_by, created_at, last_activity_at,"
               " direct_low, direct_high) VALUES (?, 'direct', ?, 0, 0, ?, ?)", (c, users[2 * i], users[2 * i], users[2 * i + 1]))
    for u in (users[2 * i], users[2 * i + 1]):
        db.execute("INSERT INTO member (conversation_id, user_id, role, joined_at) VALUES (?, ?, 'member', 0)", (c, u))
db.execute('COMMIT')

spent = collections.Counter()
n = 0


def run(kind, sql, params=()):
    t = time.perf_counter()
    rows = db.execute(sql, params).fetchall()
    spent[kind] += time.perf_counter() - t
    return rows


def batch():
    global n
    run('begin', 'BEGIN IMMEDIATE')
    msgs = []
    for _ in range(B):
        i = random.randrange(100)
        n += 1
        msgs.append((convs[i], users[2 * i + random.randrange(2)], 'm%d' % n))
    for _, sender, cid in msgs:
        run('earlier sends', 'SELECT * FROM message WHERE sender_id = ? AND client_id = ?', (sender, cid))
    for conv in dict.fromkeys(c for c, _, _ in msgs):
        run('members', 'SELECT user_id FROM member WHERE conversation_id = ?', (conv,))
    seqs, last = {}, {}
    for conv, _, cid in msgs:
        if args.no_reservation:
            if conv not in last:
                last[conv] = run('seq', 'SELECT COALESCE(MAX(seq), 0) FROM message WHERE conversation_id = ?', (conv,))[0][0]
            last[conv] += 1
            seqs[cid] = last[conv]
        else:
            if conv not in last:
                # One reservation per conversation and batch, as the appender makes.
                count = sum(1 for c, _, _ in msgs if c == conv)
                last[conv] = run('seq', 'UPDATE conversation SET last_seq = last_seq + ?, last_activity_at = ?'
                                        ' WHERE conversation_id = ? RETURNING last_seq', (count, n, conv))[0][0] - count
            last[conv] += 1
            seqs[cid] = last[conv]
    for conv, sender, cid in msgs:
        # A time-ordered id, as uuid v7 is.
        mid = '%016x' % (10 ** 15 + n) + str(uuid.uuid4())[16:]
        run('insert', "INSERT INTO message (message_id, conversation_id, seq, sender_id, client_id, body,"
                      " attachments, reply_to, mentions, created_at) VALUES (?, ?, ?, ?, ?, ?, '[]', NULL, '[]', ?)",
            (mid, conv, seqs[cid], sender, cid, 'x' * 64, n))
    run('commit', 'COMMIT')


def frames():
    return os.path.getsize(path + '-wal') // (args.page_size + 24)


for _ in range(40000 // B):
    batch()
db.execute('PRAGMA wal_checkpoint(TRUNCATE)')
spent.clear()
before = frames()
for _ in range(K):
    batch()
per_msg = K * B
print(f'SQLite {sqlite3.sqlite_version}, batches of {B}, seq from '
      f"{'the message index' if args.no_reservation else 'the conversation row'}")
for kind, secs in spent.most_common():
    print(f'  {kind:14} {secs / per_msg * 1e6:6.2f} µs per message')
print(f'  {"all":14} {sum(spent.values()) / per_msg * 1e6:6.2f} µs per message')
print(f'  log frames     {(frames() - before) / per_msg:6.2f} per message')
print(f'  log bytes      {(frames() - before) * (args.page_size + 24) / per_msg:8.0f} per message (pages of {args.page_size})')

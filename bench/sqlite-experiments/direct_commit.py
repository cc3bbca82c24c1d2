#!/usr/bin/env python3
"""A commit's log write as the appender makes it, against the same bytes written direct (issue 10).

The appender's commit is one `pwrite` of the log's new frames (the gather VFS) and an
`fdatasync`. On this VM's ext4 without a journal that costs two or three device requests: the
data, the file's inode block whenever the write moved its modification time (every 4 ms clock
tick, so at nearly every commit at ordinary rates), and the cache flush. Written with O_DIRECT
and RWF_DSYNC instead, from a block-aligned buffer, the kernel writes the data and the flush
(the block layer's emulated FUA), leaves the page cache out, and does not make the timestamp
durable (it needs not be). This prints each mode's CPU time per commit; run it under
`perf stat -e block:block_rq_issue,context-switches` to count the device requests.

    python3 bench/sqlite-experiments/direct_commit.py buffered|direct [--commits 500]
        [--kib 92] [--interval-ms 4] [--dir .]

Not what ChatSync does: a VFS that wrote the log so was built and measured in the server, where
it bought nothing (the checkpoints then read the log's pages from the device instead of the
page cache); see bench/RESULTS.md, eighteenth pass.
"""
import argparse, mmap, os, resource, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument('mode', choices=['buffered', 'direct'])
ap.add_argument('--commits', type=int, default=500)
ap.add_argument('--kib', type=int, default=92, help='bytes per commit, KiB (about 22 frames)')
ap.add_argument('--interval-ms', type=float, default=4.0, help='pause between commits')
ap.add_argument('--dir', default='.', help='a directory on the file system under test')
args = ap.parse_args()

size = 16 << 20
commit = args.kib * 1024
fd, path = tempfile.mkstemp(dir=args.dir, prefix='chatsync-direct-commit-')
try:
    os.write(fd, b'\0' * size)  # written, not sparse: the log's file is reused the same way
    os.fsync(fd)
    if args.mode == 'direct':
        os.close(fd)
        fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, commit)  # page-aligned, as O_DIRECT needs
    buf.write(os.urandom(commit))
    offset = 0
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    for _ in range(args.commits):
        if args.mode == 'direct':
            os.pwritev(fd, [buf], offset, os.RWF_DSYNC)
        else:
            os.pwrite(fd, buf, offset + 24)  # log frames are 4,120 bytes: not block-aligned
            os.fdatasync(fd)
        offset = (offset + commit) % (size - 2 * commit)
        time.sleep(args.interval_ms / 1000)
    after, ended = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    user = (after.ru_utime - before.ru_utime) / args.commits * 1e6
    system = (after.ru_stime - before.ru_stime) / args.commits * 1e6
    busy = (ended - started) / args.commits * 1e3 - args.interval_ms
    print(f'{args.mode}: {args.commits} commits of {args.kib} KiB: CPU {user + system:.0f} µs per '
          f'commit ({user:.0f} user + {system:.0f} system), {busy:.2f} ms per commit besides the pause')
finally:
    os.close(fd)
    os.unlink(path)

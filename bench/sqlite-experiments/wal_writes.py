#!/usr/bin/env python3
"""The cost of writing one commit's log frames as SQLite does, against one write (issue 10).

SQLite writes each page of a commit to the write-ahead log with two pwrite calls (a 24-byte
frame header, then the page). This writes FRAMES such frames into a preallocated file on the
file system of --dir that way, then as one pwrite of the same bytes, and prints the CPU time
per commit of each (no fsync in either). The difference is what a VFS that gathered a commit's
frames into one write could save.

    python3 bench/sqlite-experiments/wal_writes.py [--frames 37] [--dir /tmp]
"""
import argparse, os, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument('--frames', type=int, default=37)
ap.add_argument('--commits', type=int, default=3000)
ap.add_argument('--dir', default=tempfile.gettempdir())
args = ap.parse_args()
fd, path = tempfile.mkstemp(dir=args.dir, prefix='chatsync-wal-writes-')
size = 64 << 20
os.ftruncate(fd, size)
header, page = b'h' * 24, b'p' * 4096
offset = 0


def advance(n):
    global offset
    offset += n
    if offset + args.frames * 4120 > size:
        offset = 0


def two_per_frame():
    for _ in range(args.frames):
        os.pwrite(fd, header, offset)
        os.pwrite(fd, page, offset + 24)
        advance(4120)


def one_per_commit():
    data = (header + page) * args.frames
    os.pwrite(fd, data, offset)
    advance(len(data))


try:
    for round_ in (1, 2):
        for name, commit in (('two pwrites per frame', two_per_frame), ('one pwrite per commit', one_per_commit)):
            t = time.process_time()
            for _ in range(args.commits):
                commit()
            per = (time.process_time() - t) / args.commits * 1e6
            print(f'round {round_}: {name:22} {per:6.1f} µs of CPU per commit of {args.frames} frames')
finally:
    os.close(fd)
    os.remove(path)

#!/usr/bin/env python3
"""How long one `fdatasync` takes on this machine's disk, outside the server (issue 10).

Writes 64 KiB (about one commit's log frames at 1,000-2,000 msgs/s) and syncs it, every 2 ms,
for `--secs` seconds, to a file of its own, preallocated (`--mode prealloc`, like a log that
is overwritten) or emptied every 64 MiB so every write allocates blocks (`--mode sparse`,
like a database file that grows), and prints the latency distribution, how many syncs took
10, 20 and 50 ms or more, and when (seconds from the start) those of 20 ms or more came.
Every durable commit waits for one such sync before its messages are acknowledged, so a sync
the disk holds up holds up every message behind it.

    python3 bench/sqlite-experiments/fsync_latency.py [--dir /tmp] [--secs 60] [--mode prealloc]

Another process's writeback, for example 250 MB of dirty pages, which the kernel writes back
about 30 s after they were written, shows as a cluster of slow syncs then:

    (sleep 3; head -c 250M /dev/urandom > /tmp/dirty.bin) &
    python3 bench/sqlite-experiments/fsync_latency.py --secs 45; rm /tmp/dirty.bin
"""
import argparse, os, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument('--dir', default=tempfile.gettempdir())
ap.add_argument('--secs', type=float, default=60)
ap.add_argument('--mode', choices=['prealloc', 'sparse'], default='prealloc')
args = ap.parse_args()
fd, path = tempfile.mkstemp(dir=args.dir, prefix='chatsync-fsync-latency-')
size = 64 << 20
if args.mode == 'prealloc':
    os.pwrite(fd, b'\0' * size, 0)
    os.fsync(fd)
buf = os.urandom(65536)
took = []
slow = []
off = 0
start = time.monotonic()
end = start + args.secs
try:
    while time.monotonic() < end:
        t = time.perf_counter()
        os.pwrite(fd, buf, off)
        os.fdatasync(fd)
        took.append((time.perf_counter() - t) * 1e3)
        if took[-1] >= 20:
            slow.append(f"{time.monotonic() - start:.1f} s: {took[-1]:.0f} ms")
        off += len(buf)
        if off >= size:
            off = 0
            if args.mode == 'sparse':
                os.ftruncate(fd, 0)
        time.sleep(0.002)
finally:
    os.close(fd)
    os.unlink(path)
took.sort()
n = len(took)
at = lambda q: took[min(n - 1, int(q * n))]
over = lambda ms: sum(1 for x in took if x >= ms)
print(f"{args.mode}: {n} syncs in {args.secs:g} s; ms: p50 {at(.5):.2f}, p99 {at(.99):.2f}, "
      f"p99.9 {at(.999):.2f}, max {took[-1]:.2f}; >= 10 ms: {over(10)}, >= 20 ms: {over(20)}, "
      f">= 50 ms: {over(50)}")
if slow:
    print("20 ms or more at " + ", ".join(slow))

#!/usr/bin/env python3
"""What one `fdatasync` costs its caller in CPU on this machine, outside the server (issue 10).

Writes 90 KB (about one commit's log frames at 2,000 msgs/s) into a preallocated 24 MiB file,
600 times 3 ms apart, once without and once with an `fdatasync` after each write, and prints
the CPU time (user + system, `getrusage`) per iteration of each; the difference is the sync.
Run it with `perf record -a -e block:block_rq_issue` around it to see the block requests.

    python3 bench/sqlite-experiments/fsync_cost.py [--dir /tmp]
"""
import argparse, os, resource, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument('--dir', default=tempfile.gettempdir())
args = ap.parse_args()
fd, path = tempfile.mkstemp(dir=args.dir, prefix='chatsync-fsync-cost-')
os.pwrite(fd, b'\0' * (24 << 20), 0)
os.fsync(fd)
buf = b'x' * 90000


def run(sync, n=600):
    off = 0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(n):
        os.pwrite(fd, buf, off)
        off = (off + len(buf)) % (20 << 20)
        if sync:
            os.fdatasync(fd)
        time.sleep(0.003)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return ((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)) / n * 1e6


try:
    for _ in range(2):
        a, b = run(False), run(True)
        print(f'pwrite 90 KB: {a:.0f} µs CPU; with fdatasync: {b:.0f} µs; fdatasync ≈ {b - a:.0f} µs')
finally:
    os.close(fd)
    os.unlink(path)

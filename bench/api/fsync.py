# SPDX-License-Identifier: MIT
# Reference of bench/api: the latency of the disk's write barrier, the floor
# under a committed peer add (SQLite appends to its WAL and fdatasync()s it
# at every commit). Appends 16 KiB and fdatasync()s, in a loop, for SECONDS;
# prints "@@ name value" lines like the wrk scripts.
#   python3 fsync.py DIR SECONDS
import os
import sys
import time

d, secs = sys.argv[1], float(sys.argv[2])
path = os.path.join(d, "fsync-ref.dat")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
buf = b"\x5a" * 16384
lat = []
off = 0
end = time.monotonic() + secs
try:
    while time.monotonic() < end:
        t = time.monotonic()
        os.pwrite(fd, buf, off)
        os.fdatasync(fd)
        lat.append(time.monotonic() - t)
        # stay within 4 MiB, like a WAL that restarts after checkpoints
        off = (off + len(buf)) % (4 << 20)
finally:
    os.close(fd)
    os.unlink(path)
lat.sort()
n = len(lat)


def pct(p):
    return lat[min(n - 1, int(p / 100.0 * n))] * 1000


print("@@ requests %d" % n)
print("@@ rps %.1f" % (n / secs))
for p in (50, 90, 99):
    print("@@ p%d_ms %.3f" % (p, pct(p)))
print("@@ max_ms %.3f" % (lat[-1] * 1000))

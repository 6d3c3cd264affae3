#!/usr/bin/env bash
# A program that closes every fd it did not open (as daemons do, with
# os.closerange, which calls close_range) keeps its mappings served: the
# engine's fds survive, later misses are still read from the file, and
# writes still reach it.
. "$(dirname "$0")/lib.sh"
need_py mmap python3
setup
PROG='
import mmap, os, hashlib
fd = os.open("data.bin", os.O_RDWR | os.O_CREAT)
os.ftruncate(fd, 2 << 20)
m = mmap.mmap(fd, 2 << 20)
m[:4] = b"head"
os.closerange(3, 65536)          # close_range: fd and the engine fds too
for i in range(3, 2000):         # and one close() at a time
    try:
        os.close(i)
    except OSError:
        pass
for i in range(0, 2 << 20, 4096):
    m[i + 8:i + 16] = b"%08d" % i
m.flush()
print(hashlib.sha1(m[:]).hexdigest())
'
cd "$WORK/kern" && run_kernel "$PY" -c "$PROG" >"$WORK/kern.out"
cd "$WORK/fm" && run_fm 256K "$PY" -c "$PROG" >"$WORK/fm.out"
same_output "$WORK/kern.out" "$WORK/fm.out" "the mapping's hash"
same_output "$WORK/kern/data.bin" "$WORK/fm/data.bin" "data.bin"
expect_served 262144
expect_stat evictions -gt 0
exit 0

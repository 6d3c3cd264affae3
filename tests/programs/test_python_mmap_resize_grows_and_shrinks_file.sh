#!/usr/bin/env bash
# test_python_mmap_resize_grows_and_shrinks_file.sh - python3's mmap module:
# mm.resize() (ftruncate + mremap) grows a shared mapping of a 2 MiB file to
# 5 MiB and shrinks it to 3 MiB, under a 256K budget: the new part reads
# zeros, writes to it reach the file, and the mapping, read() and the file
# afterwards equal the kernel run's.
set -u
. "$(dirname "$0")/lib.sh"
need_py mmap python3
setup

cat >prog.py <<'EOF'
import hashlib, mmap, os, random
r = random.Random(3)
M = 1 << 20
fd = os.open("data.bin", os.O_RDWR)
mm = mmap.mmap(fd, 0)
def show(what):
    print(what, len(mm), os.fstat(fd).st_size, hashlib.sha256(mm[:]).hexdigest())
def scribble(lo, hi, count):
    for _ in range(count):
        off = r.randrange(lo, hi - 64)
        mm[off:off + 64] = bytes([r.randrange(256)]) * 64
scribble(0, 2 * M, 300)
show("before")
mm.resize(5 * M)                       # grow: ftruncate, then mremap
print("new part is zero", mm[2 * M:5 * M] == bytes(3 * M))
scribble(0, 5 * M, 600)
mm[4 * M:4 * M + 4096] = b"grown" * 819 + b"!"
show("grown")
mm.flush()
mm.resize(3 * M)                       # shrink
show("shrunk")
scribble(0, 3 * M, 300)
mm.resize(3 * M + 5000)                # grow to a size that is not page aligned
print("tail", mm[3 * M - 8:].hex()[:64], len(mm[3 * M:]))
mm[-10:] = b"0123456789"
show("final")
mm.flush()
mm.close()
h = hashlib.sha256()
os.lseek(fd, 0, 0)
while True:
    b = os.read(fd, 100000)
    if not b:
        break
    h.update(b)
print("read", os.fstat(fd).st_size, h.hexdigest())
EOF

gen_files data.bin $((2 << 20)) resize
run_both 256K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
grep -q "new part is zero True" kern.out || fail "kernel run: grown part not zero?"
same_file data.bin
expect_served 262144
expect_stat write_faults -gt 0
expect_stat pages_written -gt 0
expect_stat evictions -gt 0

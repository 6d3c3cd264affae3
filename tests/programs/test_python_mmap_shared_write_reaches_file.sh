#!/usr/bin/env bash
# test_python_mmap_shared_write_reaches_file.sh - python3's mmap module: writes
# through a shared mapping (ACCESS_WRITE) of a 4 MiB file, under a 256K
# budget, are seen through the mapping, by read() after the mapping is
# closed, and reach the file: outputs and the file equal the kernel run's.
set -u
. "$(dirname "$0")/lib.sh"
need_py mmap python3
setup

cat >prog.py <<'EOF'
import hashlib, mmap, os, random
r = random.Random(1)
fd = os.open("data.bin", os.O_RDWR)
size = os.fstat(fd).st_size
mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
for i in range(3000):                      # scattered small writes
    off = r.randrange(size - 64)
    n = r.randrange(1, 64)
    mm[off:off + n] = bytes([r.randrange(256)]) * n
    if i % 500 == 0:                       # and reads of what was written
        print("at", off, mm[off:off + n].hex())
mm[1 << 20:2 << 20] = bytes(range(256)) * 4096   # one 1 MiB stretch
print("map", hashlib.sha256(mm[:]).hexdigest())
print("tail", mm[size - 16:].hex())
mm.flush()
mm.close()
os.close(fd)
h = hashlib.sha256()
fd = os.open("data.bin", os.O_RDONLY)
while True:
    b = os.read(fd, 65536)
    if not b:
        break
    h.update(b)
print("read", h.hexdigest())
EOF

gen_files data.bin $((4 << 20)) shared
run_both 256K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
same_file data.bin
expect_served 262144
expect_stat write_faults -gt 0
expect_stat pages_written -gt 0
expect_stat evictions -gt 0

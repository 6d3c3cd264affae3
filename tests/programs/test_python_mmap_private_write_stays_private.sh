#!/usr/bin/env bash
# test_python_mmap_private_write_stays_private.sh - python3's mmap module:
# writes through a private mapping (ACCESS_COPY) of a 4 MiB file, under a
# 256K budget, are seen by that mapping only: a read-only mapping and read()
# see the file's data, and the file is unchanged, as on the kernel.
set -u
. "$(dirname "$0")/lib.sh"
need_py mmap python3
setup

cat >prog.py <<'EOF'
import hashlib, mmap, os, random
r = random.Random(2)
fd = os.open("data.bin", os.O_RDWR)
size = os.fstat(fd).st_size
cow = mmap.mmap(fd, 0, access=mmap.ACCESS_COPY)
ro = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
for i in range(2000):
    off = r.randrange(size - 64)
    n = r.randrange(1, 64)
    cow[off:off + n] = bytes([r.randrange(256)]) * n
    if i % 400 == 0:
        print("at", off, cow[off:off + n].hex(), ro[off:off + n].hex())
cow[0:1 << 20] = b"\xa5" * (1 << 20)
print("private", hashlib.sha256(cow[:]).hexdigest())
print("shared ", hashlib.sha256(ro[:]).hexdigest())
cow.flush()
h = hashlib.sha256()
for off in range(0, size, 65536):
    h.update(os.pread(fd, 65536, off))
print("pread  ", h.hexdigest())
print("private again", hashlib.sha256(cow[:]).hexdigest())
cow.close()
ro.close()
EOF

gen_files data.bin $((4 << 20)) private
cp kern/data.bin orig.bin
run_both 256K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
same_output orig.bin kern/data.bin "data.bin after the kernel run (vs its original)"
same_output orig.bin fm/data.bin "data.bin after the faultmap run (vs its original)"
expect_served 262144
expect_stat evictions -gt 0
expect_stat pages_written -eq 0

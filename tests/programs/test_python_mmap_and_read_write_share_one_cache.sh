#!/usr/bin/env bash
# test_python_mmap_and_read_write_share_one_cache.sh - python3: a program
# mixes writes through a shared mmap with os.pwrite/os.pwritev/file.write
# and reads through the mapping with os.pread/os.preadv/file.read on a 4 MiB
# file, under a 256K budget. Every write() must be seen at once by the
# mapping, and every mapping write by read(), as with the kernel's one page
# cache; outputs and the file equal the kernel run's.
set -u
. "$(dirname "$0")/lib.sh"
need_py mmap python3
setup

cat >prog.py <<'EOF'
import hashlib, mmap, os, random
r = random.Random(4)
fd = os.open("data.bin", os.O_RDWR)
f = open("data.bin", "r+b", buffering=0)   # FileIO: read()/write() of its own fd
size = os.fstat(fd).st_size
mm = mmap.mmap(fd, size)
bad = 0
trail = hashlib.sha256()
for i in range(1500):
    n = r.randrange(1, 9000)                # up to a few pages, any alignment
    off = r.randrange(size - n)
    data = bytes([r.randrange(256)]) * (n // 2) + bytes(range(256)) * ((n - n // 2) // 256 + 1)
    data = data[:n]
    op = i % 8
    if op == 0:                             # pwrite -> mapping
        os.pwrite(fd, data, off); got = mm[off:off + n]
    elif op == 1:                           # mapping -> pread
        mm[off:off + n] = data; got = os.pread(fd, n, off)
    elif op == 2:                           # write() via a file object -> mapping
        f.seek(off); f.write(data); got = mm[off:off + n]
    elif op == 3:                           # mapping -> read() via a file object
        mm[off:off + n] = data; f.seek(off); got = f.read(n)
    elif op == 4:                           # pwritev -> mapping
        h = n // 3
        os.pwritev(fd, [data[:h], data[h:]], off); got = mm[off:off + n]
    elif op == 5:                           # mapping -> preadv
        mm[off:off + n] = data
        a, b = bytearray(n // 2), bytearray(n - n // 2)
        os.preadv(fd, [a, b], off); got = bytes(a + b)
    elif op == 6:                           # writev at the file offset -> mapping
        os.lseek(fd, off, 0); os.writev(fd, [data[:7], data[7:]]); got = mm[off:off + n]
    else:                                   # mapping -> readv at the file offset
        mm[off:off + n] = data
        a = bytearray(n); os.lseek(fd, off, 0); os.readv(fd, [a]); got = bytes(a)
    if got != data:
        bad += 1
        if bad <= 5:
            print("MISMATCH op", op, "at", off, "len", n)
    trail.update(got)
    if i % 300 == 299:                      # sweep the whole file through the cache
        print("sweep", i, hashlib.sha256(mm[:]).hexdigest())
print("mismatches", bad)
print("trail", trail.hexdigest())
mm.flush()
mm.close()
h = hashlib.sha256()
for off in range(0, size, 65536):
    h.update(os.pread(fd, 65536, off))
print("file", h.hexdigest())
EOF

gen_files data.bin $((4 << 20)) unified
run_both 256K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
grep -qx "mismatches 0" kern.out || fail "kernel run has mismatches: the test is wrong"
same_file data.bin
expect_served 262144
expect_stat write_faults -gt 0
expect_stat pages_written -gt 0
expect_stat evictions -gt 0

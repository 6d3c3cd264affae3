#!/usr/bin/env bash
# test_python_file_syscalls_on_mapped_file.sh - python3: while a 4 MiB file
# is mapped shared (and cached by faultmap, budget 256K), the program
# changes it with os.truncate / os.ftruncate (shrink, regrow),
# os.posix_fallocate (extend), os.copy_file_range and os.sendfile (into and
# out of it) and shutil.copyfile: the mapping sees every change at once,
# the copies hold the mapping's latest writes, and the outputs and files
# equal the kernel run's.
set -u
. "$(dirname "$0")/lib.sh"
need_py mmap python3
setup

cat >prog.py <<'EOF'
import hashlib, mmap, os, shutil
M = 1 << 20
def h(b):
    return hashlib.sha256(b).hexdigest()[:32]
def fhash(path):
    with open(path, "rb", buffering=0) as f:
        return h(f.read())
fd = os.open("data.bin", os.O_RDWR)
mm = mmap.mmap(fd, 4 * M)
mm[0:M] = b"\x11" * M                          # dirty pages in the cache
mm[3 * M + 100:3 * M + 200] = b"\x22" * 100
print("map", h(mm[:]))
# copy_file_range out of the mapped file: must copy the mapping's writes
out = os.open("copy.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
n = os.copy_file_range(fd, out, 2 * M, 0, 0)
print("copy_file_range out", n, fhash("copy.bin"))
# sendfile out of it
out2 = os.open("sent.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
n = os.sendfile(out2, fd, 3 * M, M)
print("sendfile out", n, fhash("sent.bin"))
# copy_file_range into it: the mapping must see it
with open("src.bin", "wb") as f:
    f.write(bytes(range(256)) * 4096)
src = os.open("src.bin", os.O_RDONLY)
n = os.copy_file_range(src, fd, M, 0, 2 * M + 1000)
print("copy_file_range in", n, h(mm[2 * M:3 * M + 2000]))
# shutil.copyfile (sendfile/copy_file_range inside) of the mapped file
shutil.copyfile("data.bin", "copy2.bin")
print("copyfile", fhash("copy2.bin") == h(mm[:]))
# shrink with truncate(path), regrow with ftruncate: the cut part reads zeros
mm[M + 5000:M + 6000] = b"\x33" * 1000
os.truncate("data.bin", M + 5500)
print("after truncate", os.fstat(fd).st_size, h(mm[:M + 5500]))
os.ftruncate(fd, 4 * M)
print("regrown", h(mm[:]), mm[M + 5500:M + 6000] == bytes(500), mm[4 * M - 1])
# posix_fallocate beyond EOF, then map the new part
os.posix_fallocate(fd, 4 * M, M)
print("fallocated", os.fstat(fd).st_size)
mm.resize(5 * M)
mm[5 * M - 10:] = b"0123456789"
print("extended", h(mm[:]))
mm.flush()
mm.close()
print("file", fhash("data.bin"))
EOF

gen_files data.bin $((4 << 20)) syscalls
run_both 256K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
for f in data.bin copy.bin sent.bin copy2.bin; do
	same_file $f
done
expect_served 262144
expect_stat write_faults -gt 0
expect_stat pages_written -gt 0
expect_stat evictions -gt 0

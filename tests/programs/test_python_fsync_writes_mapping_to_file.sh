#!/usr/bin/env bash
# test_python_fsync_writes_mapping_to_file.sh - a program that writes a
# shared mapping and then calls fsync(fd) (or fdatasync, sync_file_range,
# syncfs, sync) has put the data in the file: another process reading the
# file with read(2), before any munmap, sees it, under the kernel and under
# `faultmap run` (whose dirty pages are its own until written back). The
# budget holds the whole file, so nothing is written back by eviction, and
# the reader is started before the first write, so nothing is written back
# for its start.
set -u
. "$(dirname "$0")/lib.sh"
need_py mmap python3
setup

cat >prog.py <<'EOF'
import ctypes, hashlib, mmap, os, subprocess, sys

READER = r"""
import hashlib, os, sys
for line in sys.stdin:
    fd = os.open("data.bin", os.O_RDONLY)
    data = os.pread(fd, os.fstat(fd).st_size, 0)
    os.close(fd)
    print(hashlib.sha256(data).hexdigest(), flush=True)
"""
reader = subprocess.Popen([sys.executable, "-c", READER], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
libc = ctypes.CDLL(None, use_errno=True)
libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong,
                                 ctypes.c_uint]

def checked(r):
    if r != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))

fd = os.open("data.bin", os.O_RDWR)
size = os.fstat(fd).st_size
mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
flushes = [
    ("fsync", lambda: os.fsync(fd)),
    ("fdatasync", lambda: os.fdatasync(fd)),
    ("sync_file_range", lambda: checked(libc.sync_file_range(fd, 0, 0, 2 | 4))),
    ("syncfs", lambda: checked(libc.syncfs(fd))),
    ("sync", os.sync),
]
for i, (name, flush) in enumerate(flushes):
    for off in range(0, size, 4096):        # every page, a different byte
        mm[off:off + 16] = bytes([i + 1]) * 16
    flush()
    reader.stdin.write("read\n")
    reader.stdin.flush()
    seen = reader.stdout.readline().strip()
    print(name, "file holds the mapping's data:", seen == hashlib.sha256(mm[:]).hexdigest())
reader.stdin.close()
reader.wait()
mm.close()
os.close(fd)
EOF

gen_files data.bin $((1 << 20)) fsync
run_both 16M "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
grep -q "sync file holds the mapping's data: True" kern.out || fail "the kernel run: $(cat kern.out)"
same_file data.bin
expect_served 16777216
expect_stat write_faults -gt 0
expect_stat evictions -eq 0

#!/usr/bin/env bash
# test_python_remap_file_pages_reads_file_pages.sh - python3 (ctypes):
# remap_file_pages on a shared mapping of a file (served by faultmap): page
# 0 of the mapping then shows file page 3 (the kernel's emulation: a new
# mapping of that offset in place), a write there reaches page 3 of the
# file, bad arguments get the kernel's errno, and the output and file equal
# the kernel run's. Without interception, page 0 read NUL bytes. In
# embedded mode, then in daemon mode.
set -u
. "$(dirname "$0")/lib.sh"
need_py ctypes python3
setup

cat >prog.py <<'EOF'
import ctypes, hashlib, os
libc = ctypes.CDLL(None, use_errno=True)
vp, sz, i, off = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_long
libc.mmap.restype = vp
libc.mmap.argtypes = [vp, sz, i, i, i, off]
libc.msync.argtypes = [vp, sz, i]
libc.munmap.argtypes = [vp, sz]
libc.remap_file_pages.argtypes = [vp, sz, i, sz, i]
PS = 4096
fd = os.open("data.bin", os.O_RDWR)
p = libc.mmap(None, 8 * PS, 3, 1, fd, 0)       # PROT_READ|WRITE, MAP_SHARED
def page(n):
    return hashlib.sha256(ctypes.string_at(p + n * PS, PS)).hexdigest()[:16]
def call(*a):
    r = libc.remap_file_pages(*a)
    e = ctypes.get_errno() if r else 0
    ctypes.set_errno(0)
    return r, os.strerror(e) if e else "ok"
print("remap 1->6, nothing read yet", call(p + PS, PS, 0, 6, 0))
with open("data.bin", "rb") as f:
    f.seek(6 * PS)
    print("page1 is file page 6", hashlib.sha256(f.read(PS)).hexdigest()[:16] == page(1))
print("before", [page(n) for n in range(8)])
print("remap 0->3", call(p, PS, 0, 3, 0))
print("after", [page(n) for n in range(8)])
print("page0 is file page 3", page(0) == page(3))
ctypes.memset(p + 100, 0x5a, 10)                # lands in file page 3
libc.msync(p, 8 * PS, 4)                         # MS_SYNC
with open("data.bin", "rb") as f:
    f.seek(3 * PS + 100)
    print("file page 3", f.read(10).hex())
print("prot", call(p, PS, 1, 3, 0))
print("wraps", call(p, PS, 0, (1 << 64) - 1, 0))
print("past end", call(p + 6 * PS, 4 * PS, 0, 0, 0))
print("two pages", call(p + 4 * PS, 2 * PS, 0, 0, 0), page(4), page(5))
libc.munmap(p, 8 * PS)
EOF

# run_and_check - both runs on fresh copies of the file.
run_and_check() {
	gen_file "$WORK/kern/data.bin" $((8 * 4096)) remap
	cp "$WORK/kern/data.bin" "$WORK/fm/" || fail "cp data.bin"
	cd "$WORK/kern" && run_kernel "$PY" ../prog.py >../kern.out 2>/dev/null
	cd "$WORK/fm" && run_fm 256K "$PY" ../prog.py >../fm.out 2>/dev/null
	cd "$WORK" || fail "cd $WORK"
	grep -q "page1 is file page 6 True" kern.out && grep -q "page0 is file page 3 True" kern.out || { cat kern.out; fail "the kernel run did not remap: the test is wrong"; }
	same_output kern.out fm.out "the program's output"
	same_file data.bin
	expect_served 262144
}
run_and_check
# Daemon mode: the daemon's records say what the range maps. Before, the
# kernel's own emulation filled the daemon's memfd with zero pages there.
use_daemon
run_and_check

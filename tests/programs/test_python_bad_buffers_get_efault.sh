#!/usr/bin/env bash
# test_python_bad_buffers_get_efault.sh - python3 (ctypes): read, pread,
# readv, write and pwrite on a file that is mapped (so cached by faultmap),
# with buffers the kernel refuses: NULL, PROT_NONE (anonymous, and a mapping
# of the file itself), read-only (for a read), a buffer that runs into
# unmapped memory, a buffer that runs past the EOF of a mapped file. Each
# gets the kernel run's answer (EFAULT, or the same short count), never a
# crash; the files end the same. (No buffer overlaps the range written: an
# overlapping copy is not defined, and the kernel copies it page by page.)
set -u
. "$(dirname "$0")/lib.sh"
need_py ctypes python3
setup

cat >prog.py <<'EOF'
import ctypes, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
vp, sz, i, off = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_long
libc.mmap.restype = vp
libc.mmap.argtypes = [vp, sz, i, i, i, off]
libc.munmap.argtypes = [vp, sz]
libc.mprotect.argtypes = [vp, sz, i]
for f in ("read", "write"):
    getattr(libc, f).restype = ctypes.c_ssize_t
    getattr(libc, f).argtypes = [i, vp, sz]
for f in ("pread", "pwrite"):
    getattr(libc, f).restype = ctypes.c_ssize_t
    getattr(libc, f).argtypes = [i, vp, sz, off]
class iovec(ctypes.Structure):
    _fields_ = [("base", vp), ("len", sz)]
libc.readv.restype = ctypes.c_ssize_t
libc.readv.argtypes = [i, ctypes.POINTER(iovec), i]
PS = 4096
PRIVATE, SHARED, ANON = 2, 1, 0x20
fd = os.open("data.bin", os.O_RDWR)
size = os.fstat(fd).st_size
mm = mmap.mmap(fd, size)            # the file is cached while mapped
mm[0:100] = b"\x41" * 100

def anon(prot, fill=0x5a):
    p = libc.mmap(None, 2 * PS, 3, PRIVATE | ANON, -1, 0)
    ctypes.memset(p, fill, 2 * PS)
    libc.mprotect(p, 2 * PS, prot)
    return p

def show(what, r):
    e = ctypes.get_errno() if r < 0 else 0
    print(what, r, os.strerror(e) if e else "ok", os.lseek(fd, 0, os.SEEK_CUR))
    ctypes.set_errno(0)

half = libc.mmap(None, 2 * PS, 3, PRIVATE | ANON, -1, 0)
ctypes.memset(half, 0x6b, PS)
libc.munmap(half + PS, PS)
gone = libc.mmap(None, PS, 3, PRIVATE | ANON, -1, 0)
libc.munmap(gone, PS)
none_file = libc.mmap(None, size, 0, SHARED, fd, 0)
ro_file = libc.mmap(None, size, 1, SHARED, fd, 0)
sfd = os.open("short.bin", os.O_RDWR)
past = libc.mmap(None, 3 * PS, 3, PRIVATE, sfd, 0)
bufs = [("NULL", None), ("unmapped", gone), ("PROT_NONE", anon(0)),
        ("PROT_NONE-file", none_file + 8 * PS), ("read-only", anon(1)),
        ("read-only-file", ro_file + 8 * PS), ("into-unmapped", half + PS - 100),
        ("past-EOF", past + PS)]
for name, b in bufs:
    for n in (1, PS, 2 * PS):
        os.lseek(fd, 5, os.SEEK_SET)
        show("pread %s %d" % (name, n), libc.pread(fd, b, n, 3 * PS + 7))
        show("read %s %d" % (name, n), libc.read(fd, b, n))
        v = (iovec * 2)(iovec(anon(3), 10), iovec(b, n))
        show("readv %s %d" % (name, n), libc.readv(fd, v, 2))
        show("pwrite %s %d" % (name, n), libc.pwrite(fd, b, n, 3 * PS + 11))
        show("write %s %d" % (name, n), libc.write(fd, b, n))
mm.flush()
print("map", bytes(mm[0:200]).hex()[:64], mm[:] == open("data.bin", "rb").read())
EOF

gen_file kern/data.bin $((64 << 10)) badbuf
gen_file kern/short.bin $((4096 + 100)) short
cp kern/data.bin kern/short.bin fm/
run_both 256K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
grep -q "Bad address" kern.out || fail "the kernel run gave no EFAULT: the test is wrong"
same_file data.bin
expect_served 262144

#!/usr/bin/env bash
# test_mount_rados_pool_objects_read_and_written_as_files.sh - faultmap run
# --mount DIR=rados://POOL makes DIR/NAME the object NAME of a Ceph pool
# (a single-node cluster of the test's own). An unmodified C program
# (mount_io.c) stats an object, reads it with read(), pread() and a shared
# mapping, writes it through the mapping (msync), pwrite() and write(), and
# sees a missing object as ENOENT, exactly as the kernel run on a local
# copy; the object, read back with the rados tool, then equals that copy.
# Python under --mount: a path with ".." is normalised without leaving DIR
# (DIR/../NAME is the kernel's ENOENT, DIR/sub/../NAME the object),
# O_CREAT makes an object, O_EXCL of one that exists is EEXIST, truncate()
# resizes it and O_TRUNC empties it, the mmap module maps it. Both modes, a 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd rados ceph
setup
build_c mount_io.c
start_ceph

gen_file "$WORK/orig.bin" 1048576 rados
cp orig.bin kern/obj || fail "cp"
cd "$WORK/kern" && run_kernel "$WORK/prog" obj missing >"$WORK/kern.out"
cat "$WORK/kern.out" >&2

cat >"$WORK/checks.py" <<'PY'
import mmap, os, sys
from errno_of import errno_of
mnt, orig = sys.argv[1], sys.argv[2]
want = open(orig, "rb").read()

print("sub/../obj size", os.stat(mnt + "/sub/../obj").st_size)
print("../obj", errno_of(lambda: open(mnt + "/../obj", "rb")))
print("obj/ (trailing slash)", errno_of(lambda: os.stat(mnt + "/obj/")))
with open(mnt + "/obj", "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    print("mmap module: len", len(m), "same as the local copy", m[:] == want)
    m.close()
    print("read(): same as the local copy", f.read() == want)
with open(mnt + "/new", "wb") as f:
    f.write(b"n" * 5000)
print("new: size", os.stat(mnt + "/new").st_size)
print("O_EXCL of obj", errno_of(lambda: open(mnt + "/obj", "xb")))
print("access W_OK", os.access(mnt + "/obj", os.W_OK))
print("truncate new to 2 MiB:", errno_of(lambda: os.truncate(mnt + "/new", 2 * 1048576)),
      os.stat(mnt + "/new").st_size)

def rewrite():
    with open(mnt + "/new", "wb") as f:
        f.write(b"t" * 10)

print("new rewritten (O_TRUNC):", errno_of(rewrite), os.stat(mnt + "/new").st_size)
PY
cat >"$WORK/checks.want" <<'WANT'
sub/../obj size 1048576
../obj ENOENT
obj/ (trailing slash) ENOTDIR
mmap module: len 1048576 same as the local copy True
read(): same as the local copy True
new: size 5000
O_EXCL of obj EEXIST
access W_OK True
WANT
printf 'truncate new to 2 MiB: ok 2097152\nnew rewritten (O_TRUNC): ok 10\n' >"$WORK/sizes"

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	rados -p fm put obj "$WORK/orig.bin" || fail "rados put"
	rados -p fm rm new 2>/dev/null
	RUN_OPTS=(--$mode --mount "$WORK/mnt=rados://fm")
	cd "$WORK/fm" && run_fm 256K "$WORK/prog" "$WORK/mnt/obj" "$WORK/mnt/missing" >"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "mount_io's output ($mode)"
	expect_served 262144
	rados -p fm get obj "$WORK/back.bin" || fail "rados get"
	same_output "$WORK/kern/obj" "$WORK/back.bin" "the object after the run ($mode)"

	rados -p fm put obj "$WORK/orig.bin" || fail "rados put"
	PYTHONPATH=$_LIB_DIR run_fm 256K "$PY" "$WORK/checks.py" "$WORK/mnt" "$WORK/orig.bin" >"$WORK/checks.out"
	cat "$WORK/checks.out" >&2
	cat "$WORK/checks.want" "$WORK/sizes" >"$WORK/checks.want.all"
	same_output "$WORK/checks.want.all" "$WORK/checks.out" "the Python checks ($mode)"
	size=$(rados -p fm stat new | sed -n 's/.* size \([0-9]*\).*/\1/p')
	[ "$size" = 10 ] || fail "rados stat new: size '$size', expected 10 ($mode)"
done

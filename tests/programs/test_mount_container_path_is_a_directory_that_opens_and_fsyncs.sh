#!/usr/bin/env bash
# test_mount_container_path_is_a_directory_that_opens_and_fsyncs.sh - under
# faultmap run --mount DIR=rados://POOL (a single-node Ceph cluster of the
# test's own), DIR itself, not on disk, is a directory: stat says so (two
# links), access grants, open(O_RDONLY|O_DIRECTORY) gives a directory fd
# that fsync takes (sqlite3 fsyncs the directory of its journal), and a
# file opened relative to that fd (openat) is an object of the pool.
# Opening DIR for writing is EISDIR, unlink EISDIR, rmdir and rename EBUSY,
# as the kernel answers for a directory that is a mount point (checked with
# a bind mount). A DIR that is on disk is the kernel's (its inode). A
# file:// container mount's PATH is the mounted directory itself. Both
# modes, a 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd rados ceph
setup
start_ceph

cat >"$WORK/checks.py" <<'PY'
import os, stat, sys
from errno_of import errno_of
mnt, here, real, real_ino, loc, locdir = sys.argv[1:7]
st = os.stat(mnt)
print("stat: directory", stat.S_ISDIR(st.st_mode), "links", st.st_nlink)
print("isdir", os.path.isdir(mnt), "access rwx", os.access(mnt, os.R_OK | os.W_OK | os.X_OK))
fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
print("fd: directory", stat.S_ISDIR(os.fstat(fd).st_mode))
print("fsync", errno_of(lambda: os.fsync(fd)), "fdatasync", errno_of(lambda: os.fdatasync(fd)))
obj = os.open("rel", os.O_RDWR | os.O_CREAT, 0o644, dir_fd=fd)
os.write(obj, b"made relative to DIR's fd")
os.close(obj)
print("stat rel relative to the fd: size", os.stat("rel", dir_fd=fd).st_size)
os.close(fd)
print("open for writing", errno_of(lambda: open(mnt, "w")))
print("unlink", errno_of(lambda: os.unlink(mnt)))
print("rmdir", errno_of(lambda: os.rmdir(mnt)))
print("rename", errno_of(lambda: os.rename(mnt, here + "/x")))
print("on disk: the kernel's inode", os.stat(real).st_ino == int(real_ino))
print("file:// PATH is the directory", os.stat(loc).st_ino == os.stat(locdir).st_ino)
PY
cat >"$WORK/checks.want" <<'WANT'
stat: directory True links 2
isdir True access rwx True
fd: directory True
fsync ok fdatasync ok
stat rel relative to the fd: size 25
open for writing EISDIR
unlink EISDIR
rmdir EBUSY
rename EBUSY
on disk: the kernel's inode True
file:// PATH is the directory True
WANT

mkdir "$WORK/real" "$WORK/locdir" || fail "mkdir"
for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	rados -p fm rm rel 2>/dev/null
	RUN_OPTS=(--$mode --mount "$WORK/mnt=rados://fm" --mount "$WORK/real=rados://fm"
		--mount "$WORK/loc=file://$WORK/locdir")
	cd "$WORK/fm" || fail "cd"
	PYTHONPATH=$_LIB_DIR run_fm 256K "$PY" "$WORK/checks.py" "$WORK/mnt" "$WORK/fm" \
		"$WORK/real" "$(stat -c %i "$WORK/real")" "$WORK/loc" "$WORK/locdir" >"$WORK/checks.out"
	cat "$WORK/checks.out" >&2
	same_output "$WORK/checks.want" "$WORK/checks.out" "the Python checks ($mode)"
	[ ! -e "$WORK/mnt" ] || fail "DIR was made on disk ($mode)"
	rados -p fm get rel "$WORK/rel" || fail "rados get rel ($mode)"
	printf 'made relative to DIR%ss fd' "'" >"$WORK/rel.want"
	same_output "$WORK/rel.want" "$WORK/rel" "the object made relative to DIR's fd ($mode)"
done

#!/usr/bin/env bash
# test_mount_unlink_removes_object_and_gets_kernels_errnos.sh - under
# faultmap run --mount DIR=rados://POOL (a single-node Ceph cluster of the
# test's own), Python's os.unlink (and os.remove) of DIR/NAME removes the
# object NAME from the pool (the rados tool no longer lists it), after
# which it is ENOENT to stat, open and access, and O_CREAT makes a new,
# empty one. The errnos are the kernel's: a missing object ENOENT (with a
# trailing slash too), an object with a trailing slash or rmdir'ed ENOTDIR;
# a one-object mount's PATH (rados://POOL/OBJ) EBUSY to unlink and rename,
# as a mount point (Linux: unlink and rename of a bind-mounted file are
# EBUSY, rmdir ENOTDIR); a rename within the pool's mount, or in or out of
# it, EXDEV (no atomic rename of an object). A file:// mount's files are
# unlinked and renamed by the kernel within it, EXDEV out of it; a
# one-object file:// mount's PATH is EBUSY to unlink, its file kept.
# An fd still open on the unlinked object fails its reads and writes with
# EIO (fstat: size 0, no link); what its dirty shared mapping holds is
# dropped at msync: neither is written into the new object of the same
# name, and the pool holds the new object's bytes alone. Both modes, a
# 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd rados ceph
setup
start_ceph

cat >"$WORK/checks.py" <<'PY'
import mmap, os, sys
from errno_of import errno_of
mnt, one, loc, here, lone = sys.argv[1:6]

def put(name, data):
    with open(mnt + "/" + name, "wb") as f:
        f.write(data)

put("a", b"a" * 100)
put("b", b"b" * 100)
print("unlink a", errno_of(lambda: os.unlink(mnt + "/a")))
print("stat a", errno_of(lambda: os.stat(mnt + "/a")))
print("open a", errno_of(lambda: open(mnt + "/a", "rb")))
print("access a", os.access(mnt + "/a", os.F_OK))
print("unlink a again", errno_of(lambda: os.unlink(mnt + "/a")))
print("unlink missing", errno_of(lambda: os.unlink(mnt + "/missing")))
print("unlink missing/", errno_of(lambda: os.unlink(mnt + "/missing/")))
print("unlink b/", errno_of(lambda: os.unlink(mnt + "/b/")))
print("rmdir b", errno_of(lambda: os.rmdir(mnt + "/b")))
print("rename b c", errno_of(lambda: os.rename(mnt + "/b", mnt + "/c")))
print("rename b out", errno_of(lambda: os.rename(mnt + "/b", here + "/c")))
open(here + "/l", "wb").close()
print("rename in", errno_of(lambda: os.rename(here + "/l", mnt + "/l")))
print("remove sub/../b", errno_of(lambda: os.remove(mnt + "/sub/../b")))
with open(mnt + "/a", "xb") as f:
    print("a made again: size", os.fstat(f.fileno()).st_size)
os.unlink(mnt + "/a")

print("unlink one", errno_of(lambda: os.unlink(one)))
print("rmdir one", errno_of(lambda: os.rmdir(one)))
print("rename one", errno_of(lambda: os.rename(one, here + "/x")))
print("rename onto one", errno_of(lambda: os.rename(here + "/l", one)))
print("one still there: size", os.stat(one).st_size)

open(loc + "/f", "wb").close()
print("file:// rename f g", errno_of(lambda: os.rename(loc + "/f", loc + "/g")))
print("file:// rename g out", errno_of(lambda: os.rename(loc + "/g", here + "/g")))
print("file:// unlink g", errno_of(lambda: os.unlink(loc + "/g")))
print("file:// unlink g again", errno_of(lambda: os.unlink(loc + "/g")))
print("file:// one-object unlink", errno_of(lambda: os.unlink(lone)))
print("file:// one-object size", os.stat(lone).st_size)

# An fd still open on an unlinked object, and a dirty shared mapping of
# another: their writes are dropped, never written into the new objects.
f = open(mnt + "/u", "wb", buffering=0)
f.write(b"old")
fd = os.open(mnt + "/m", os.O_RDWR | os.O_CREAT)
os.ftruncate(fd, 4096)
m = mmap.mmap(fd, 4096)
m[:5] = b"hello"
m.flush()
print("unlink u", errno_of(lambda: os.unlink(mnt + "/u")))
print("unlink m", errno_of(lambda: os.unlink(mnt + "/m")))
put("u", b"new u")
m[:5] = b"AFTER"
put("m", b"new m")
print("write to the unlinked u:", errno_of(lambda: f.write(b"dropped")))
print("read of it:", errno_of(lambda: os.pread(f.fileno(), 3, 0)))
st = os.fstat(f.fileno())
print("fstat of it: size", st.st_size, "links", st.st_nlink)
print("msync of the unlinked m:", errno_of(m.flush))
m.close()
os.close(fd)
f.close()
print("u", open(mnt + "/u", "rb").read()[:16], "m", open(mnt + "/m", "rb").read()[:16])
PY
cat >"$WORK/checks.want" <<'WANT'
unlink a ok
stat a ENOENT
open a ENOENT
access a False
unlink a again ENOENT
unlink missing ENOENT
unlink missing/ ENOENT
unlink b/ ENOTDIR
rmdir b ENOTDIR
rename b c EXDEV
rename b out EXDEV
rename in EXDEV
remove sub/../b ok
a made again: size 0
unlink one EBUSY
rmdir one ENOTDIR
rename one EBUSY
rename onto one EBUSY
one still there: size 5
file:// rename f g ok
file:// rename g out EXDEV
file:// unlink g ok
file:// unlink g again ENOENT
file:// one-object unlink EBUSY
file:// one-object size 5
unlink u ok
unlink m ok
write to the unlinked u: EIO
read of it: EIO
fstat of it: size 0 links 0
msync of the unlinked m: ok
u b'new u' m b'new m'
WANT

mkdir "$WORK/locdir" || fail "mkdir"
for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	for o in $(rados -p fm ls); do rados -p fm rm "$o"; done
	echo -n "12345" >"$WORK/one.bin"
	rados -p fm put single "$WORK/one.bin" || fail "rados put"
	RUN_OPTS=(--$mode --mount "$WORK/mnt=rados://fm" --mount "$WORK/one=rados://fm/single"
		--mount "$WORK/loc=file://$WORK/locdir" --mount "$WORK/lone=file://$WORK/one.bin")
	cd "$WORK/fm" || fail "cd"
	PYTHONPATH=$_LIB_DIR run_fm 256K "$PY" "$WORK/checks.py" "$WORK/mnt" "$WORK/one" \
		"$WORK/loc" "$WORK/fm" "$WORK/lone" >"$WORK/checks.out"
	cat "$WORK/checks.out" >&2
	same_output "$WORK/checks.want" "$WORK/checks.out" "the Python checks ($mode)"
	rados -p fm ls | sort >"$WORK/objects" || fail "rados ls"
	printf 'm\nsingle\nu\n' >"$WORK/objects.want"
	same_output "$WORK/objects.want" "$WORK/objects" "the pool's objects ($mode)"
	for o in u m; do
		rados -p fm get $o "$WORK/$o.back" || fail "rados get $o"
		printf 'new %s' $o >"$WORK/$o.want"
		same_output "$WORK/$o.want" "$WORK/$o.back" "object $o: the new object's bytes alone ($mode)"
	done
	[ -z "$(ls "$WORK/locdir")" ] || fail "file:// mount's directory not empty ($mode)"
	rm -f "$WORK/fm/l"
done

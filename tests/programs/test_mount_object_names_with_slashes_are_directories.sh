#!/usr/bin/env bash
# test_mount_object_names_with_slashes_are_directories.sh - under faultmap
# run --mount DIR=rados://POOL (a single-node Ceph cluster of the test's
# own), objects top, a/b, a/c/d and a/c/e (put with the rados tool) are
# the files of a local tree of the same names under the kernel: DIR/a and
# DIR/a/c, no objects, are directories (a prefix of names before a '/').
# The same output, line for line, of ls -R, find and find -type f, Python's
# os.walk (of the path and of an fd: fwalk), os.listdir of DIR/a and of an
# fd of it, os.stat relative to that fd, S_ISDIR of stat, lstat and
# access of DIR/a, DIR/a/c and DIR/a/ (each inode number its own),
# open(O_DIRECTORY) and opendir of them, and the kernel's errnos for
# writing or creating DIR/a (EISDIR), unlink (EISDIR) and rmdir
# (ENOTEMPTY) of it, and of DIR/a/b/ (ENOTDIR) and DIR/nothing (ENOENT).
# Then an object x beside objects x/y and x/z: DIR/x is the object (a
# file wins), listed once. Both modes.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd rados ceph
setup
start_ceph

cat >"$WORK/tree.py" <<'PY'
import os, stat, sys
from errno_of import errno_of
d = sys.argv[1]
print("os.walk", [(r, sorted(ds), sorted(fs)) for r, ds, fs in sorted(os.walk(d))])
print("os.fwalk", sorted((r, sorted(ds), sorted(fs)) for r, ds, fs, _ in os.fwalk(d)))
print("listdir a", sorted(os.listdir(d + "/a")))
print("scandir a", sorted((e.name, e.is_dir(), e.is_file()) for e in os.scandir(d + "/a")))
inos = set()
for p in ("", "/a", "/a/c", "/a/", "/a/c/"):
    st, lst = os.stat(d + p), os.lstat(d + p)
    inos.add(st.st_ino)
    print("stat", p, stat.S_ISDIR(st.st_mode), stat.S_ISDIR(lst.st_mode),
          os.access(d + p, os.R_OK | os.X_OK), os.path.isdir(d + p))
print("inode numbers", len(inos))
fd = os.open(d + "/a", os.O_RDONLY | os.O_DIRECTORY)
print("listdir fd", sorted(os.listdir(fd)))
print("stat at fd", [(n, stat.S_ISDIR(os.stat(n, dir_fd=fd).st_mode), os.stat(n, dir_fd=fd).st_size)
                     for n in ("b", "c/d")], stat.S_ISDIR(os.stat("c", dir_fd=fd).st_mode))
print("fstat is stat", os.path.samestat(os.fstat(fd), os.stat(d + "/a")))
cfd = os.open("c", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
print("listdir c at fd", sorted(os.listdir(cfd)))
print("read c/e at fd", open(os.open("e", os.O_RDONLY, dir_fd=cfd), "rb").read())
os.close(cfd)
os.close(fd)
fd = os.open(d + "/a/c", os.O_RDONLY)
print("open a/c read-only", stat.S_ISDIR(os.fstat(fd).st_mode))
os.close(fd)
print("write a", errno_of(lambda: os.open(d + "/a", os.O_WRONLY)))
print("create a", errno_of(lambda: os.open(d + "/a", os.O_WRONLY | os.O_CREAT, 0o644)))
print("unlink a", errno_of(lambda: os.unlink(d + "/a")))
print("rmdir a", errno_of(lambda: os.rmdir(d + "/a")))
print("a/b/", errno_of(lambda: os.stat(d + "/a/b/")))
print("nothing", errno_of(lambda: os.stat(d + "/nothing")))
print("opendir nothing", errno_of(lambda: os.listdir(d + "/nothing")))
print("opendir top", errno_of(lambda: os.listdir(d + "/top")))
print("read a/c/d", open(d + "/a/c/d", "rb").read())
PY
cat >"$WORK/tree.sh" <<'SH'
d=$1
echo "ls -R:"; ls -R "$d"
echo "ls -1F:"; ls -1F "$d" "$d/a" "$d/a/c"
echo "find:"; find "$d" | sort
echo "find -type f:"; find "$d" -type f | sort
echo "find -type d:"; find "$d" -type d | sort
echo "find -name:"; find "$d" -name 'e*'
echo "test -d:"; for p in "$d/a" "$d/a/c" "$d/top" "$d/a/b"; do [ -d "$p" ] && echo "$p dir"; done
echo "cat:"; cat "$d/a/b" "$d/a/c/e"; echo
PYTHONPATH=$2 /usr/bin/python3 "${0%.sh}.py" "$d"
SH

mkdir -p "$WORK/kern/d/a/c" && cd "$WORK/kern" || fail "mkdir"
printf top >d/top && printf b >d/a/b && printf dd >d/a/c/d && printf eee >d/a/c/e || fail "files"
run_kernel bash "$WORK/tree.sh" d "$_LIB_DIR" >"$WORK/kern.out"
cat "$WORK/kern.out" >&2
grep -q '^read a/c/d' "$WORK/kern.out" || fail "the kernel's run did not finish"

for mode in embedded daemon; do
	mode_pool $mode tree
	for f in top a/b a/c/d a/c/e; do
		rados -p $pool put $f "$WORK/kern/d/$f" || fail "rados put $f"
	done
	RUN_OPTS=(--$mode --mount "$WORK/fm/d=rados://$pool")
	cd "$WORK/fm" && run_fm 256K bash "$WORK/tree.sh" d "$_LIB_DIR" >"$WORK/fm.out"
	same_output "$WORK/kern.out" "$WORK/fm.out" "the tree's listings ($mode)"

	# a file wins: the object x, not the directory of x/y and x/z
	for f in x x/y x/z; do
		rados -p $pool put $f "$WORK/kern/d/top" || fail "rados put $f"
	done
	run_fm 256K sh -c 'ls -1 d; stat -c "%F %s" d/x; cat d/x/y; echo' >"$WORK/x.out"
	printf 'a\ntop\nx\nregular file 3\ntop\n' >"$WORK/x.want"
	same_output "$WORK/x.want" "$WORK/x.out" "an object beside a directory of its name ($mode)"
done
echo "ok"

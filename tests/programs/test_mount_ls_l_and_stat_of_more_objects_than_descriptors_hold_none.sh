#!/usr/bin/env bash
# test_mount_ls_l_and_stat_of_more_objects_than_descriptors_hold_none.sh -
# under faultmap run --mount DIR=rados://POOL, a process that stats (or
# opens and closes) more objects than it may have descriptors (ulimit -n
# 256) keeps none of them open: ls -ln of 300 objects (a stat, an
# lgetxattr each), Python's os.stat, os.lstat and os.access of each, then
# 300 objects made, written and closed by open() and listed again: the
# output equals the kernel's on a local directory holding the same files
# (put_many.c, made in the pool in one librados process); samefile, and
# stat and fstat of an object open, tell one inode. Both modes. Before,
# each stat kept its object open: EMFILE once the descriptors ran out
# (at the 1025th object under the default limit of 1024).
set -u
. "$(dirname "$0")/lib.sh"
need_cmd rados ceph
need_cmd cc gcc
setup
start_ceph
cc -O2 -o "$WORK/put_many" "$_LIB_DIR/put_many.c" -lrados || fail "cc put_many.c"

cat >"$WORK/many.py" <<'PY'
import os, stat, sys
d, N = sys.argv[1], int(sys.argv[2])
names = sorted(os.listdir(d))
first = os.stat(d + "/" + names[0])
print(len(names), "names")
for n in names:
    p = d + "/" + n
    st, lst = os.stat(p), os.lstat(p)
    print(n, st.st_size, stat.S_ISREG(st.st_mode), oct(st.st_mode), st.st_nlink,
          (lst.st_size, lst.st_ino) == (st.st_size, st.st_ino), os.access(p, os.R_OK | os.W_OK))
print("samefile:", os.path.samefile(d + "/" + names[0], d + "/" + names[-1]),
      os.path.samefile(d + "/" + names[0], d + "/" + names[0]))
fd = os.open(d + "/" + names[0], os.O_RDONLY)
print("fstat's inode is stat's while open:",
      os.fstat(fd).st_ino == os.stat(d + "/" + names[0]).st_ino)
os.close(fd)
for i in range(N):
    with open("%s/new%04d" % (d, i), "w") as f:
        f.write("x" * i)
print(len(os.listdir(d)), "names after", N, "made")
print("their sizes:", sum(os.stat("%s/new%04d" % (d, i)).st_size for i in range(N)))
PY
cat >"$WORK/many.sh" <<'SH'
d=$1
ulimit -n 256 || exit 1 # fewer descriptors than objects
ls -ln --time-style=+X "$d" | sed 1d
ls "$d" | wc -l
/usr/bin/python3 "${0%.sh}.py" "$d" 300
SH

mkdir -p "$WORK/kern/d"
"$WORK/put_many" "$WORK/kern/d" 300 || fail "put_many (local)"
cd "$WORK/kern" && run_kernel bash "$WORK/many.sh" d >"$WORK/kern.out"
grep -q "^600 names after 300 made" "$WORK/kern.out" || fail "the kernel's run did not finish"
grep -q "^samefile: False True" "$WORK/kern.out" || fail "the kernel's samefile is not as the test expects"

for mode in embedded daemon; do
	mode_pool $mode many
	"$WORK/put_many" rados://$pool 300 || fail "put_many (rados://$pool)"
	RUN_OPTS=(--$mode --mount "$WORK/fm/d=rados://$pool")
	cd "$WORK/fm" && run_fm 256K bash "$WORK/many.sh" d >"$WORK/fm.out"
	same_output "$WORK/kern.out" "$WORK/fm.out" "the listings and stats ($mode)"
	[ "$(rados -p $pool ls | wc -l)" = 600 ] || fail "the pool does not hold 600 objects ($mode)"
done

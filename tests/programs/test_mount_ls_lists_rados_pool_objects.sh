#!/usr/bin/env bash
# test_mount_ls_lists_rados_pool_objects.sh - under faultmap run --mount
# DIR=rados://POOL (a single-node Ceph cluster of the test's own), DIR
# lists the pool's objects as a local directory holding the same files
# lists them under the kernel: ls -1, ls -a, ls -ln (sizes, modes), a bash
# glob and stat of it, find, Python's os.listdir, os.scandir (is_file,
# stat sizes), glob and os.walk, and every dirent.h call of mount_dir.c
# (opendir, readdir, readdir_r, scandir, fdopendir of open(DIR,
# O_DIRECTORY), dirfd and fstatat, telldir/seekdir, rewinddir after an
# O_CREAT and an unlink): objects put with the rados tool and made by
# redirections under the mount, an object rm'ed under the mount gone from
# the next listing; the output equal line for line. An object whose name
# has a '/' (sub/hidden) makes DIR/sub a directory (ls -1F lists sub/, ls
# of it hidden; stat: a directory). An
# empty pool lists . and .. alone, and its DIR/.. is DIR's parent (ls -la
# stats it; DIR is not on disk); DIR on disk, with a file of its own,
# lists the pool (what open and stat of DIR/NAME are); a cluster that
# does not answer fails opendir with EIO, a pool that does not exist with
# ENOENT. Both modes.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd rados ceph
setup
start_ceph
listing_case
cat "$WORK/kern.out" >&2

# a conf whose monitor does not answer (nothing listens on port 9)
sed -e 's/^\(\s*mon[ _]host\s*=\).*/\1 127.0.0.1:9/' \
	-e '/^\[global\]/a client mount timeout = 3' "$CEPH_CONF" >"$WORK/dead.conf"
grep -q '127.0.0.1:9' "$WORK/dead.conf" || fail "no mon host in $CEPH_CONF to replace"

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	pool=ls-$mode
	ceph osd pool create $pool 8 8 >/dev/null 2>&1 || fail "ceph osd pool create $pool"
	ceph osd pool create empty-$mode 8 8 >/dev/null 2>&1 || fail "ceph osd pool create empty-$mode"
	rm -rf "$WORK/orig" && listing_files "$WORK/orig"
	for f in "$WORK"/orig/*; do
		rados -p $pool put "$(basename "$f")" "$f" || fail "rados put $(basename "$f")"
	done

	RUN_OPTS=(--$mode --mount "$WORK/fm/d=rados://$pool")
	cd "$WORK/fm" && run_fm 256K bash "$WORK/listing.sh" d "$WORK/prog" >"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "the listings ($mode)"
	rados -p $pool put "sub/hidden" "$WORK/orig/alpha" || fail "rados put sub/hidden"
	run_fm 256K sh -c 'ls -1F d | grep /; ls d/sub; stat -c %F d/sub' >"$WORK/sub.out"
	printf 'sub/\nhidden\ndirectory\n' >"$WORK/sub.want"
	same_output "$WORK/sub.want" "$WORK/sub.out" "the directory sub of sub/hidden ($mode)"
	(cd "$WORK/kern/d" && ls -1 && echo sub/hidden) | sort >"$WORK/want.objects"
	rados -p $pool ls | sort >"$WORK/objects" || fail "rados ls"
	same_output "$WORK/want.objects" "$WORK/objects" "the pool's objects after the run ($mode)"
	rados -p $pool rm "sub/hidden" || fail "rados rm sub/hidden"

	# an empty pool: . and .. alone
	RUN_OPTS=(--$mode --mount "$WORK/fm/e=rados://empty-$mode")
	run_fm 256K ls -a e >"$WORK/empty.out"
	printf '.\n..\n' >"$WORK/empty.want"
	same_output "$WORK/empty.want" "$WORK/empty.out" "ls -a of an empty pool ($mode)"
	# e/.. is e's parent, though e is not on disk (ls -la stats it)
	run_fm 256K sh -c 'ls -la e >/dev/null && stat -c "%d %i" e/.. .' >"$WORK/dotdot.out"
	[ "$(wc -l <"$WORK/dotdot.out")" = 2 ] && [ "$(sort -u "$WORK/dotdot.out" | wc -l)" = 1 ] ||
		fail "e/.. is not e's parent ($mode): $(cat "$WORK/dotdot.out")"

	# DIR on disk, with a file of its own: the pool's objects, as open
	# and stat of DIR/NAME
	mkdir -p "$WORK/fm/ondisk" && echo local >"$WORK/fm/ondisk/disk-only"
	RUN_OPTS=(--$mode --mount "$WORK/fm/ondisk=rados://$pool")
	run_fm 256K ls -1 ondisk >"$WORK/ondisk.out"
	(cd "$WORK/kern/d" && ls -1) >"$WORK/ondisk.want"
	same_output "$WORK/ondisk.want" "$WORK/ondisk.out" "ls -1 of DIR on disk ($mode)"

	# errors: no such pool, a cluster that does not answer
	RUN_OPTS=(--$mode --mount "$WORK/fm/nopool=rados://no-such-pool"
		--mount "$WORK/fm/dead=rados://$pool?conf=$WORK/dead.conf")
	PYTHONPATH=$_LIB_DIR run_fm 256K "$PY" -c '
import os
from errno_of import errno_of
print("no such pool", errno_of(lambda: os.listdir("nopool")))
print("cluster down", errno_of(lambda: os.listdir("dead")))
' >"$WORK/errors.out"
	printf 'no such pool ENOENT\ncluster down EIO\n' >"$WORK/errors.want"
	same_output "$WORK/errors.want" "$WORK/errors.out" "listing errors ($mode)"
done

#!/usr/bin/env bash
# test_mount_s3_bucket_objects_read_and_written_as_files.sh - faultmap run
# --mount DIR=s3://BUCKET makes DIR/NAME the object NAME of an S3 bucket
# (radosgw on a single-node Ceph cluster of the test's own). The C program
# mount_io.c stats an object, reads it with read(), pread() and a shared
# mapping, writes it through the mapping (msync: a whole-object PUT),
# pwrite() and write(), and sees a missing object as ENOENT, exactly as the
# kernel run on a local copy; the object, fetched with curl, then equals
# that copy; an fd of it that bash carries across an exec (`cat <&3`) reads
# it (its stand-in's name, the URL without the keys, opens it again), and
# that name holds neither key. Both modes, a 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
setup
build_c mount_io.c
start_ceph rgw

gen_file "$WORK/orig.bin" 1048576 s3
cp orig.bin kern/obj || fail "cp"
cd "$WORK/kern" && run_kernel "$WORK/prog" obj missing >"$WORK/kern.out"
cat "$WORK/kern.out" >&2
s3 PUT /fmbucket >/dev/null || fail "making the bucket"

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	s3 PUT /fmbucket/obj -T "$WORK/orig.bin" >/dev/null || fail "PUT obj"
	RUN_OPTS=(--$mode --mount "$WORK/mnt=s3://fmbucket")
	cd "$WORK/fm" && run_fm 256K "$WORK/prog" "$WORK/mnt/obj" "$WORK/mnt/missing" >"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "mount_io's output ($mode)"
	expect_served 262144
	s3 GET /fmbucket/obj -o "$WORK/back.bin" || fail "GET obj"
	same_output "$WORK/kern/obj" "$WORK/back.bin" "the object after the run ($mode)"
	cksum <"$WORK/kern/obj" >"$WORK/kern.sum"
	run_fm 256K bash -c 'exec 3<"$1"; cat <&3 | cksum' _ "$WORK/mnt/obj" >"$WORK/fm.sum"
	same_output "$WORK/kern.sum" "$WORK/fm.sum" "cat of an fd carried across an exec ($mode)"
	run_fm 256K bash -c 'exec 3<"$1"; readlink /proc/self/fd/3' _ "$WORK/mnt/obj" >"$WORK/name"
	note "the stand-in: $(cat "$WORK/name")"
	grep -q "^/memfd:faultmap-store:s3://fmbucket/obj" "$WORK/name" || fail "the stand-in's name ($mode)"
	! grep -q -e "$AWS_SECRET_ACCESS_KEY" -e "$AWS_ACCESS_KEY_ID" "$WORK/name" ||
		fail "the stand-in's name shows a key ($mode)"
done

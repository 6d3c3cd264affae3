#!/usr/bin/env bash
# scripts/ceph-dev.sh: CEPH_DEV_MAX_OBJECT_SIZE is the OSD's `osd max
# object size`: with 256 MiB, a write at 200 MiB (past Ceph's default,
# 128 MiB) is taken and one past 256 MiB is EFBIG; unset, the default
# holds (the write at 200 MiB is EFBIG). A value that is not a byte count
# is refused before anything starts. Skipped without Ceph.
set -u
. "$(dirname "$0")/lib.sh"
command -v ceph-osd >/dev/null && command -v rados >/dev/null ||
	{ echo "SKIP: Ceph is not installed (Debian packages ceph librados-dev)"; exit 77; }
SH=$ROOT/scripts/ceph-dev.sh
cleanup_cluster() { "$SH" down "$TMP/a" >/dev/null 2>&1; "$SH" down "$TMP/b" >/dev/null 2>&1; cleanup; }
trap cleanup_cluster EXIT
echo "a page" >"$TMP/in"
MiB=1048576

expect_exit 1 env CEPH_DEV_MAX_OBJECT_SIZE=256M "$SH" up "$TMP/bad"
expect_out "not a byte count"
[ ! -e "$TMP/bad" ] || fail "a refused up made its directory"

expect_exit 0 env CEPH_DEV_MGR=0 CEPH_DEV_MAX_OBJECT_SIZE=$((256 * MiB)) "$SH" up "$TMP/a"
expect_exit 0 timeout 30 rados -c "$TMP/a/ceph.conf" -p fm put o "$TMP/in" --offset $((200 * MiB))
expect_exit 0 timeout 30 rados -c "$TMP/a/ceph.conf" -p fm stat o
expect_out "size $((200 * MiB + 7))\$"
expect_exit 1 timeout 30 rados -c "$TMP/a/ceph.conf" -p fm put p "$TMP/in" --offset $((256 * MiB))
expect_out "File too large"
"$SH" down "$TMP/a"

expect_exit 0 env CEPH_DEV_MGR=0 "$SH" up "$TMP/b"
expect_exit 1 timeout 30 rados -c "$TMP/b/ceph.conf" -p fm put o "$TMP/in" --offset $((200 * MiB))
expect_out "File too large"
exit 0

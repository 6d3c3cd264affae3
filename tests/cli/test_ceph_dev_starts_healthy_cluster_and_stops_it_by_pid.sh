#!/usr/bin/env bash
# scripts/ceph-dev.sh up starts a single-node Ceph cluster (monitor,
# manager, memstore OSD) that is HEALTH_OK with its manager active and
# stores objects; it refuses a directory that is not empty; down stops
# every daemon it started, by PID. With CEPH_DEV_PARENT, the cluster stops
# and its directory goes when that process ends, even when its whole
# process group is killed. Skipped without Ceph (Debian package ceph).
set -u
. "$(dirname "$0")/lib.sh"
command -v ceph-osd >/dev/null && command -v rados >/dev/null ||
	{ echo "SKIP: Ceph is not installed (Debian packages ceph librados-dev)"; exit 77; }
SH=$ROOT/scripts/ceph-dev.sh
D=$TMP/cluster
cleanup_cluster() { "$SH" down "$D" >/dev/null 2>&1; "$SH" down "$TMP/c2" >/dev/null 2>&1; cleanup; }
trap cleanup_cluster EXIT
# alive PID - runs (a zombie that init has not reaped yet does not)
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

expect_exit 0 "$SH" up "$D"
expect_out "^CEPH_CONF=$D/ceph.conf\$"
pids=$(cat "$D"/run/*.pid | grep -v '^$' | sort -u)
[ "$(echo "$pids" | wc -l)" = 3 ] || fail "expected 3 daemons, PID files hold: $pids"
expect_exit 0 timeout 30 ceph -c "$D/ceph.conf" health
expect_out "^HEALTH_OK"
expect_exit 0 timeout 30 ceph -c "$D/ceph.conf" mgr stat
expect_out '"available": true'
echo "an object" >"$TMP/in"
expect_exit 0 timeout 30 rados -c "$D/ceph.conf" -p fm put o "$TMP/in"
expect_exit 0 timeout 30 rados -c "$D/ceph.conf" -p fm get o "$TMP/back"
cmp -s "$TMP/in" "$TMP/back" || fail "the object read back differs"
expect_exit 1 "$SH" up "$D"
expect_out "is not empty"
expect_exit 0 "$SH" down "$D"
for p in $pids; do
	! alive "$p" || fail "daemon $p still runs after down"
done

# the watcher: the cluster goes with its parent, even when the parent's
# whole process group is killed (as timeout(1) does), and so does its
# directory
setsid bash -c 'CEPH_DEV_PARENT=$$ CEPH_DEV_MGR=0 "$1" up "$2" >"$3" 2>&1; echo $? >"$3.rc"; exec sleep 600' \
	bash "$SH" "$TMP/c2" "$TMP/c2.out" &
parent=$!
PIDS+=("$parent")
for i in $(seq 1200); do # until up is done (120 s at most, not a timing check)
	[ -s "$TMP/c2.out.rc" ] && break
	sleep 0.1
done
[ "$(cat "$TMP/c2.out.rc" 2>/dev/null)" = 0 ] || { cat "$TMP/c2.out"; fail "up with CEPH_DEV_PARENT failed"; }
pids=$(cat "$TMP"/c2/run/{mon.a,osd.0}.pid)
kill -KILL -- -"$parent"
for i in $(seq 300); do # until they are gone (30 s at most, not a timing check)
	up=0
	for p in $pids; do alive "$p" && up=1; done
	[ "$up" = 0 ] && [ ! -e "$TMP/c2" ] && break
	sleep 0.1
done
[ "$up" = 0 ] || fail "the cluster outlived CEPH_DEV_PARENT"
[ ! -e "$TMP/c2" ] || fail "the cluster's directory outlived CEPH_DEV_PARENT"
exit 0

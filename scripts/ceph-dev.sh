#!/usr/bin/env bash
# ceph-dev.sh up|down|status [DIR] - a single-node Ceph cluster for tests and
# development: one monitor, one manager and one OSD with the memstore object
# store (no disk; data in RAM), replication size 1, no cephx, on 127.0.0.1.
#
# DIR (the argument, or $CEPH_DEV_DIR) is the cluster's private directory:
# its ceph.conf, the daemons' data, logs, sockets and PID files. `up` makes
# it if need be (it must be empty or absent), starts the daemons, creates
# the pool $CEPH_DEV_POOL (default "fm"), waits for HEALTH_OK at most
# $CEPH_DEV_TIMEOUT seconds (default 120), and prints CEPH_CONF=DIR/ceph.conf.
# It exits non-zero with a message, the cluster stopped, if it cannot start.
# `down` stops the daemons by their PIDs (SIGTERM, then SIGKILL) and leaves
# DIR (logs) to its owner. With $CEPH_DEV_PARENT=PID, a watcher (in a
# session of its own) stops the cluster and removes DIR when that process
# ends, however it ends (a test killed by its timeout leaves nothing).
#
# CEPH_DEV_MGR=0 starts no manager: RADOS reads and writes do not need one,
# and it takes most of the start (its Python modules); `up` then waits for
# the monitor's HEALTH_OK (it gives a new cluster's manager a grace period)
# and a write to the pool. The tests start their clusters so.
#
# The monitor proposes its changes every 50 ms, not every second (`paxos
# propose interval`): each pool made (radosgw makes six) waited for one
# before; a cluster starts in about 4 s instead of 6, radosgw in 1 s
# instead of 10.
#
# CEPH_DEV_RGW=1 also starts radosgw (S3) on 127.0.0.1 at a free port, makes
# an S3 user, and writes DIR/s3.env (mode 0600): FAULTMAP_S3_ENDPOINT,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, one per line, as
# shell assignments. radosgw talks to the cluster in crc mode (`ms mon client
# mode`, `ms client mode`), else it does not connect with auth off.
#
# Size (defaults fit the tests): CEPH_DEV_BYTES is the memstore's capacity
# (`memstore device bytes`, default 1073741824: 1 GiB of the OSD's RAM at
# most), and CEPH_DEV_MAX_OBJECT_SIZE, when set, the largest object the OSD
# takes (`osd max object size`; unset: Ceph's default, 128 MiB). Both are
# byte counts. The README's numpy demo (an object of 4 GiB less a page) ran
# with CEPH_DEV_MGR=0 CEPH_DEV_BYTES=6442450944 CEPH_DEV_MAX_OBJECT_SIZE=5368709120.
# Keep objects under 4 GiB: Ceph 16.2.15's memstore OSD takes an object of
# 2^32 bytes or more but reads nothing at or past 4 GiB (one of exactly
# 4 GiB reads as empty, through `rados get` too; BlueStore's own limit is
# 2^32-1); CEPH_DEV_MAX_OBJECT_SIZE=4294967295 makes such a write EFBIG.
# One write stays limited to
# `osd max write size` (90 MB): write a large object in pieces (`rados put`
# sends 4 MiB writes, faultmap's write-back bounded ones).
#
# Packages (Debian): ceph librados-dev, with --no-install-recommends;
# radosgw and curl for CEPH_DEV_RGW=1.
set -euo pipefail

usage() {
	echo "usage: ceph-dev.sh up|down|status [DIR]  (or CEPH_DEV_DIR=DIR)" >&2
	exit 2
}
cmd=${1:-}
dir=${2:-${CEPH_DEV_DIR:-}}
[ -n "$cmd" ] && [ -n "$dir" ] || usage
pool=${CEPH_DEV_POOL:-fm}
timeout_s=${CEPH_DEV_TIMEOUT:-120}
daemons=(mon.a mgr.x osd.0 rgw.x)
with_mgr=${CEPH_DEV_MGR:-1}
with_rgw=${CEPH_DEV_RGW:-0}
store_bytes=${CEPH_DEV_BYTES:-1073741824}
max_object=${CEPH_DEV_MAX_OBJECT_SIZE:-}

die() {
	echo "ceph-dev.sh: $*" >&2
	exit 1
}

# alive PID - the process runs (a zombie, not yet reaped by init, does not).
alive() {
	local state
	state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# stop_all - each daemon whose PID file names a live process of that daemon.
stop_all() {
	local d pidf pid pids=()
	for d in "${daemons[@]}"; do
		pidf=$dir/run/$d.pid
		[ -f "$pidf" ] || continue
		pid=$(cat "$pidf")
		# only our own daemon: its command line names this directory
		if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/ceph.conf"; then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
		rm -f "$pidf"
	done
	# memstore keeps nothing anyway: 3 s to go, then SIGKILL, and wait
	# until it is gone (its files too)
	local i
	for pid in "${pids[@]}"; do
		for i in $(seq 30); do
			alive "$pid" || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		for i in $(seq 100); do
			alive "$pid" || break
			sleep 0.1
		done
	done
	# the watcher, if any, sees its file gone and ends
	rm -f "$dir/run/watcher.pid"
}

# fail - stop what was started, show the end of the logs, exit 1.
fail() {
	echo "ceph-dev.sh: cannot start the cluster in $dir: $*" >&2
	local f
	for f in "$dir"/log/*.log; do
		[ -s "$f" ] || continue
		echo "--- last lines of $f" >&2
		tail -n 5 "$f" >&2
	done
	stop_all
	exit 1
}

# start NAME CMD... - start a daemon in the foreground mode (-f), in its own
# session, and record its PID.
start() {
	local name=$1
	shift
	setsid "$@" -c "$dir/ceph.conf" -f </dev/null >>"$dir/log/$name.out" 2>&1 &
	echo $! >"$dir/run/$name.pid"
}

ceph_() {
	timeout 30 ceph -c "$dir/ceph.conf" "$@"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 20000))
}

up() {
	for b in ceph-mon ceph-mgr ceph-osd monmaptool ceph; do
		command -v "$b" >/dev/null || die "$b not found: install the Debian packages ceph librados-dev (apt-get install --no-install-recommends ceph librados-dev)"
	done
	[[ $store_bytes =~ ^[1-9][0-9]*$ ]] || die "CEPH_DEV_BYTES=$store_bytes: not a byte count"
	[[ -z $max_object || $max_object =~ ^[1-9][0-9]*$ ]] ||
		die "CEPH_DEV_MAX_OBJECT_SIZE=$max_object: not a byte count"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ -z "$(ls -A "$dir")" ] || die "$dir is not empty (a cluster of its own, or another's?)"
	mkdir -p "$dir/run" "$dir/log" "$dir/mon/ceph-a" "$dir/mgr/ceph-x" "$dir/osd/ceph-0"
	local fsid port
	fsid=$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)
	port=$(free_port)
	rgw_port=$(free_port)
	cat >"$dir/ceph.conf" <<EOF
# written by scripts/ceph-dev.sh: a single-node test cluster
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$port
public addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
paxos propose interval = 0.05
paxos min wait = 0.01
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
mon data = $dir/mon/\$cluster-\$id
mgr data = $dir/mgr/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
keyring = $dir/keyring
[mgr]
mgr initial modules =
[osd]
osd objectstore = memstore
memstore device bytes = $store_bytes
${max_object:+osd max object size = $max_object}
osd max object name len = 256
osd max object namespace len = 64
[client.rgw.x]
ms mon client mode = crc
ms client mode = crc
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw data = $dir/rgw
EOF
	monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$port]" "$dir/monmap" >/dev/null 2>&1 ||
		fail "monmaptool failed"
	ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null 2>&1 ||
		fail "ceph-authtool failed"
	ceph-mon --mkfs -i a --monmap "$dir/monmap" -c "$dir/ceph.conf" >"$dir/log/mkfs-mon.out" 2>&1 ||
		fail "ceph-mon --mkfs failed: $(tail -n 3 "$dir/log/mkfs-mon.out")"
	if [ -n "${CEPH_DEV_PARENT:-}" ]; then
		# the watcher, in a session of its own: a signal to the parent's
		# process group (timeout(1) sends one) must not take it too
		echo pending >"$dir/run/watcher.pid"
		setsid "$0" watch "$dir" "$CEPH_DEV_PARENT" </dev/null >/dev/null 2>&1 &
	fi
	start mon.a ceph-mon -i a
	local i osd_id
	for i in $(seq "$timeout_s"); do
		ceph_ --connect-timeout 5 mon stat >/dev/null 2>&1 && break
		alive "$(cat "$dir/run/mon.a.pid")" || fail "ceph-mon exited"
		[ "$i" -lt "$timeout_s" ] || fail "the monitor did not answer in ${timeout_s}s"
		sleep 1
	done
	[ "$with_mgr" = 0 ] || start mgr.x ceph-mgr -i x
	osd_id=$(ceph_ osd create 2>/dev/null) || fail "ceph osd create failed"
	[ "$osd_id" = 0 ] || fail "unexpected OSD id $osd_id"
	ceph-osd -i 0 --mkfs -c "$dir/ceph.conf" >"$dir/log/mkfs-osd.out" 2>&1 ||
		fail "ceph-osd --mkfs failed: $(tail -n 3 "$dir/log/mkfs-osd.out")"
	start osd.0 ceph-osd -i 0
	ceph_ osd pool create "$pool" 8 8 >/dev/null 2>&1 || fail "cannot create pool $pool"
	ceph_ osd pool application enable "$pool" rados >/dev/null 2>&1 || fail "cannot enable pool $pool"
	local start_s=$SECONDS health=""
	while :; do
		for d in "${daemons[@]}"; do
			[ -f "$dir/run/$d.pid" ] || continue
			alive "$(cat "$dir/run/$d.pid")" || fail "$d exited (see $dir/log/$d.log)"
		done
		# HEALTH_OK counts once the manager is up (before, the monitor
		# gives it a grace period and says OK)
		health=$(ceph_ --connect-timeout 5 health 2>/dev/null || true)
		if [ "${health%% *}" = HEALTH_OK ] && { [ "$with_mgr" = 0 ] ||
			ceph_ --connect-timeout 5 mgr stat 2>/dev/null | grep -q '"available": true'; }; then
			break
		fi
		[ $((SECONDS - start_s)) -lt "$timeout_s" ] || fail "not HEALTH_OK after ${timeout_s}s: $health"
		sleep 1
	done
	# and the pool takes a write
	echo probe >"$dir/run/probe"
	timeout 30 rados -c "$dir/ceph.conf" -p "$pool" put ceph-dev-probe "$dir/run/probe" >/dev/null 2>&1 &&
		timeout 30 rados -c "$dir/ceph.conf" -p "$pool" rm ceph-dev-probe >/dev/null 2>&1 ||
		fail "HEALTH_OK, but pool $pool takes no write"
	rm -f "$dir/run/probe"
	[ "$with_rgw" = 0 ] || rgw_up
	echo "CEPH_CONF=$dir/ceph.conf"
}

# rgw_up - start radosgw, wait until it answers HTTP, make the S3 user and
# write its keys to DIR/s3.env (0600).
rgw_up() {
	local b
	for b in radosgw radosgw-admin curl; do
		command -v "$b" >/dev/null || fail "$b not found: install the Debian packages radosgw curl"
	done
	mkdir -p "$dir/rgw"
	start rgw.x radosgw -n client.rgw.x
	local port start_s=$SECONDS
	port=$(sed -n 's/^rgw frontends = beast endpoint=127.0.0.1:\([0-9]*\).*/\1/p' "$dir/ceph.conf")
	until curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; do
		alive "$(cat "$dir/run/rgw.x.pid")" || fail "radosgw exited (see $dir/log/rgw.x.out)"
		[ $((SECONDS - start_s)) -lt "$timeout_s" ] || fail "radosgw did not answer in ${timeout_s}s"
		sleep 0.5
	done
	local key secret
	key=FM$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	secret=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
	timeout 60 radosgw-admin -c "$dir/ceph.conf" -n client.rgw.x user create --uid=fm \
		--display-name=faultmap --access-key="$key" --secret-key="$secret" \
		>"$dir/log/rgw-user.out" 2>&1 || fail "radosgw-admin user create failed"
	(umask 077 && cat >"$dir/s3.env") <<EOF
FAULTMAP_S3_ENDPOINT=http://127.0.0.1:$port
AWS_ACCESS_KEY_ID=$key
AWS_SECRET_ACCESS_KEY=$secret
AWS_REGION=us-east-1
EOF
}

# watch DIR PID - (internal) stop the cluster of DIR and remove DIR when PID
# ends, unless `down` stopped it first (it removes run/watcher.pid).
watch() {
	local parent=$1
	[ -f "$dir/run/watcher.pid" ] || exit 0 # down came first
	echo $$ >"$dir/run/watcher.pid"
	while alive "$parent" && [ -f "$dir/run/watcher.pid" ]; do
		sleep 1
	done
	if [ -f "$dir/run/watcher.pid" ]; then
		stop_all
		rm -rf "$dir" # its owner is gone
	fi
	exit 0
}

case $cmd in
up) up ;;
watch) watch "${3:?}" ;;
down)
	[ -d "$dir" ] || exit 0
	dir=$(cd "$dir" && pwd)
	stop_all
	;;
status)
	[ -f "$dir/ceph.conf" ] || die "no cluster in $dir"
	ceph_ --connect-timeout 5 health
	;;
*) usage ;;
esac

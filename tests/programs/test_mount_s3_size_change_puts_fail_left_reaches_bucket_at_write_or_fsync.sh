#!/usr/bin/env bash
# test_mount_s3_size_change_puts_fail_left_reaches_bucket_at_write_or_fsync.sh -
# under faultmap run --mount DIR=s3://BUCKET (radosgw on a single-node
# Ceph cluster of the test's own), Python fills DIR/obj with 3 pages of
# 'a'; then, while the S3 user is suspended (every PUT refused, so no
# ftruncate reaches the bucket: the new sizes stay in the store), it
# shrinks the object to 100 bytes and grows it back to 3 pages. Once the
# user is enabled again, the bytes past 100 read zeros, as a file's, never
# the 'a's the bucket still holds; then either a write PUTs the object at
# its size, zeros and all, or fsync(2) alone does, no page being dirty
# (the store's own sync, whether or not a cache holds the object, as the
# kernel's fsync makes a file's size durable). Fetched with curl after
# the program exits, the object equals the kernel's file. Both modes, a
# 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
setup
start_ceph rgw

cat >"$WORK/shrink.py" <<'PY'
import os, sys
how, path, fifo = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"a" * 3 * 4096)
print("ready", flush=True)
open(fifo).read()  # the S3 user is suspended now (the kernel's run: nothing)
for size in (100, 3 * 4096):
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass  # the PUT refused: the size is the store's all the same
print("ready again", flush=True)
open(fifo).read()  # the user is enabled again: reads are answered
print("size", os.fstat(fd).st_size, os.pread(fd, 8, 96), os.pread(fd, 8, 5000))
if how == "write":
    os.pwrite(fd, b"z", 7)
    print("after a write", os.fstat(fd).st_size, os.pread(fd, 8, 96))
else:
    os.fsync(fd)
os.close(fd)
PY

# step CMD... - run CMD (the script), answering its two waits on the fifo:
# the first after suspending the S3 user (if $SUSPEND), the second after
# enabling it again.
step() {
	rm -f "$WORK/fifo" && mkfifo "$WORK/fifo" || fail "mkfifo"
	"$@" "$WORK/fifo" >"$WORK/step.out" &
	local pid=$! state
	for state in suspend enable; do
		local marker=ready
		[ $state = enable ] && marker="ready again"
		while ! grep -q "^$marker\$" "$WORK/step.out" 2>/dev/null; do
			kill -0 $pid 2>/dev/null || fail "the script ended early"
			sleep 0.1
		done
		if [ -n "${SUSPEND:-}" ]; then
			radosgw-admin -c "$CEPH_CONF" -n client.rgw.x user $state --uid=fm >/dev/null 2>&1 ||
				fail "radosgw-admin user $state"
		fi
		echo >"$WORK/fifo"
	done
	wait $pid || fail "the script failed"
}

s3 PUT /fmbucket >/dev/null || fail "making the bucket"
for how in write fsync; do
	rm -f "$WORK/kern/obj"
	cd "$WORK/kern" || fail "cd"
	step "$PY" "$WORK/shrink.py" $how "$WORK/kern/obj"
	mv "$WORK/step.out" "$WORK/kern.out"
	cat "$WORK/kern.out" >&2
	cat >"$WORK/zeros" <<'WANT'
size 12288 b'aaaa\x00\x00\x00\x00' b'\x00\x00\x00\x00\x00\x00\x00\x00'
WANT
	grep -qxF -f "$WORK/zeros" "$WORK/kern.out" || fail "the kernel's run does not read zeros: the test checks nothing"
	for mode in embedded daemon; do
		note "mode $mode, ending with $how"
		[ $mode = daemon ] && [ -z "${_daemon:-}" ] && use_daemon
		s3 DELETE /fmbucket/obj >/dev/null || fail "DELETE obj"
		RUN_OPTS=(--$mode --mount "$WORK/mnt=s3://fmbucket")
		cd "$WORK/fm" || fail "cd"
		SUSPEND=1 step run_fm 256K "$PY" "$WORK/shrink.py" $how "$WORK/mnt/obj"
		cat "$WORK/step.out" >&2
		same_output "$WORK/kern.out" "$WORK/step.out" "the script's output ($mode, $how)"
		s3 GET /fmbucket/obj -o "$WORK/back" || fail "GET obj ($mode, $how)"
		cmp "$WORK/kern/obj" "$WORK/back" >&2 || fail "the object is not the kernel's file ($mode, $how)"
	done
done

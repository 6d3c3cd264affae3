#!/usr/bin/env bash
# test_s3_user_steps_fails_never_hangs_when_script_ends_unanswered.sh -
# lib.sh's s3_user_steps (the S3 refusal tests' driver) answers a
# script's "ready" on the fifo; when the script ends without reading its
# answer (a faultmap run that failed, say), s3_user_steps fails within
# seconds, saying so. Before, it wrote the answer with `echo >fifo`,
# whose open waits for a reader forever: the refusal test hung until its
# 300 s timeout. No Ceph needed: radosgw-admin is a stand-in that logs.
set -u
. "$(dirname "$0")/lib.sh"
setup
. "$_LIB_DIR/s3_user_steps_case.sh"

# the script says "ready", then exits 0 without opening the fifo
user_steps_case sh -c 'echo ready'
[ "$rc" != 124 ] || fail "s3_user_steps hung on the fifo of a script that had ended"
[ "$rc" = 1 ] || fail "s3_user_steps exited $rc, not 1: $out"
grep -q 'FAIL: the script ended without reading its answer' <<<"$out" ||
	fail "s3_user_steps did not say the script ended unanswered: $out"
[ "$(cat "$WORK/admin.log")" = "user suspend --uid=fm" ] ||
	fail "the user step before the answer was not taken once: $(cat "$WORK/admin.log")"

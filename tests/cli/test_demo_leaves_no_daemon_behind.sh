#!/usr/bin/env bash
# The demo (make demo, build/scene: the quick start's first command runs
# it) keeps its 4 MiB cache to itself (embedded mode) unless FAULTMAP_MODE
# says otherwise: it starts no daemon, so it leaves none behind with its
# 4 MiB budget to serve the user's later programs. Needs userfaultfd access.
set -u
. "$(dirname "$0")/lib.sh"
private_daemon_dir
unset FAULTMAP_MODE
"$FAULTMAP_BUILD/scene" "$TMP" >"$TMP/out" 2>&1
rc=$?
grep -q 'faultmap may not use userfaultfd here' "$TMP/out" && { echo "skip: no userfaultfd access"; exit 77; }
[ "$rc" -eq 0 ] || { cat "$TMP/out"; fail "the demo exited $rc"; }
expect_out '^   read 16384 pages, all .B.: yes$'
expect_out 'budget 4096 KiB'
expect_exit 0 "$FM" doctor
expect_out '^daemon +not running'
exit 0

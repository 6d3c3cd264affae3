#!/usr/bin/env bash
# faultmap stat with no process running under faultmap says so and exits 0;
# it removes the segment of a process that is gone.
set -u
. "$(dirname "$0")/lib.sh"

mkdir "$TMP/shm"
export FAULTMAP_SHM_DIR=$TMP/shm
expect_exit 0 "$FM" stat
[ "$(cat "$TMP/out")" = "no process is running under faultmap" ] || { cat "$TMP/out"; fail "unexpected output"; }

sleep 0 & dead=$!; wait $dead
head -c 20000 /dev/zero >"$TMP/shm/faultmap.$dead"
touch "$TMP/shm/faultmap.notapid" "$TMP/shm/other"
expect_exit 0 "$FM" stat
expect_out '^no process is running under faultmap$'
[ ! -e "$TMP/shm/faultmap.$dead" ] || fail "stale segment of dead pid $dead not removed"
[ -e "$TMP/shm/other" ] || fail "removed a file that is not a segment"
exit 0

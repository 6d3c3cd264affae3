#!/usr/bin/env bash
# faultmap stat with no process running under faultmap says so and exits 0;
# it removes the segment of a process that is gone. A runtime directory
# that is not the user's own with mode 0700 is refused with a message
# naming it.
set -u
. "$(dirname "$0")/lib.sh"

mkdir -m 0700 "$TMP/rt"
export FAULTMAP_STAT_DIR=$TMP/rt
expect_exit 0 "$FM" stat
[ "$(cat "$TMP/out")" = "no process is running under faultmap" ] || { cat "$TMP/out"; fail "unexpected output"; }

sleep 0 & dead=$!; wait $dead
head -c 20000 /dev/zero >"$TMP/rt/faultmap.$dead"
touch "$TMP/rt/faultmap.notapid" "$TMP/rt/other"
expect_exit 0 "$FM" stat
expect_out '^no process is running under faultmap$'
[ ! -e "$TMP/rt/faultmap.$dead" ] || fail "stale segment of dead pid $dead not removed"
[ -e "$TMP/rt/other" ] || fail "removed a file that is not a segment"

chmod 0755 "$TMP/rt"
expect_exit 0 "$FM" stat
expect_out "^faultmap: refusing $TMP/rt: it is owned by uid $(id -u) with mode 0755, and must be a directory of uid $(id -u) with mode 0700"
ln -s "$TMP/rt" "$TMP/link"
FAULTMAP_STAT_DIR=$TMP/link expect_exit 0 "$FM" stat
expect_out "^faultmap: refusing $TMP/link: it is a symlink or not a directory"
exit 0

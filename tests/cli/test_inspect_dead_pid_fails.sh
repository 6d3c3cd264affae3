#!/usr/bin/env bash
# faultmap inspect of a pid that does not exist, or of a process not under
# faultmap, fails with a message and exit 1 (no crash, no hang).
set -u
. "$(dirname "$0")/lib.sh"

sleep 0 & dead=$!; wait $dead
expect_exit 1 timeout 10 "$FM" inspect "$dead"
expect_out "^faultmap: no process $dead\$"
expect_exit 1 timeout 10 "$FM" inspect $$
expect_out "process $$ is not running under faultmap"
expect_exit 1 timeout 10 "$FM" inspect "$dead" --svg "$TMP/x.svg"
[ ! -e "$TMP/x.svg" ] || fail "wrote an SVG for a dead pid"
exit 0

#!/usr/bin/env bash
# faultmap stat PID... shows only those processes: with two fm_mappers
# publishing, stat PID1 lists the first and not the second (text and
# JSON); a PID that is not running under faultmap is named on stderr and
# the exit status is 1, the others still shown.
set -u
. "$(dirname "$0")/lib.sh"
start_published_mapper
one=$BG_PID
mkdir "$TMP/two"
FAULTMAP_PUBLISH=1 start_bg "$TMP/two.log" "$MAPPER" "$TMP/two"
two=$BG_PID
stat_until "^$two "
expect_exit 0 "$FM" stat "$one"
expect_out "^$one +fm-mapper "
grep -Eq "^$two " "$TMP/out" && fail "stat $one also lists $two"
expect_exit 0 "$FM" stat --json "$two"
grep -q "\"pid\":$two," "$TMP/out" || fail "stat --json $two does not list it"
grep -q "\"pid\":$one," "$TMP/out" && fail "stat --json $two also lists $one"
sleep 30 & other=$!; PIDS+=($other)
expect_exit 1 "$FM" stat "$one" "$other"
expect_out "^faultmap: pid $other is not a process of yours running under faultmap"
expect_out "^$one +fm-mapper "
expect_exit 2 "$FM" stat 0
expect_exit 2 "$FM" stat 12x
touch "$TMP/stop" "$TMP/two/stop"
wait "$one" || fail "fm_mapper 1 failed"
wait "$two" || fail "fm_mapper 2 failed"
exit 0

#!/usr/bin/env bash
# faultmap stat --watch takes intervals in seconds with up to 3 decimals
# (0.1 to 86400): --watch 0.2 --json prints a frame (one JSON line) every
# 0.2 s, so more than 1 s intervals would print in 4 s (at most 5); counted
# over 4 s, never timed. Without a terminal, text frames are separated by a
# blank line, without escape sequences. Bad intervals are usage errors.
set -u
. "$(dirname "$0")/lib.sh"
start_published_mapper
pid=$BG_PID
stat_until "^$pid "
timeout 4 "$FM" stat --watch 0.2 --json >"$TMP/frames"
frames=$(grep -c '^{"faultmap_stat":1,' "$TMP/frames")
echo "$frames frames in 4 s"
[ "$frames" -ge 6 ] || fail "--watch 0.2 printed $frames frames in 4 s"
[ "$(grep -vc '^{"faultmap_stat":1,' "$TMP/frames")" -eq 0 ] || fail "a frame is not one JSON line"
timeout 2 "$FM" stat --watch 0.5 >"$TMP/out"
LC_ALL=C grep -q $'\x1b' "$TMP/out" && fail "escape sequences written to a pipe"
[ "$(grep -c '^PID ' "$TMP/out")" -ge 2 ] || { cat "$TMP/out"; fail "no second frame"; }
grep -B1 '^PID ' "$TMP/out" | grep -q '^$' || fail "frames not separated by a blank line"
for bad in 0.05 0 1.2345 abc 1e3 86401 .; do
	expect_exit 2 "$FM" stat --watch "$bad"
	expect_out "bad interval '$bad'"
done
touch "$TMP/stop"
wait "$pid" || fail "fm_mapper failed"
exit 0

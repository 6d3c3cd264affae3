#!/usr/bin/env bash
# A program on faultmap with FAULTMAP_PUBLISH=1 (fm_mapper: engine linked
# in, no interposer) shows up in faultmap stat with its file, and faultmap
# inspect draws its page index (R resident, D dirty, . not cached) and both
# vmas (shared, and private with 3 pages copied on write), in text and SVG.
# Once it exits, stat no longer lists it, and its segment and socket (in
# $XDG_RUNTIME_DIR/faultmap) are gone.
set -u
. "$(dirname "$0")/lib.sh"
build_mapper
mkdir -m 0700 "$TMP/run"
export XDG_RUNTIME_DIR=$TMP/run

FAULTMAP_PUBLISH=1 start_bg "$TMP/mapper.log" "$MAPPER" "$TMP"
pid=$BG_PID
data=$(realpath "$TMP/data.bin")
sleep 0.5
expect_exit 0 "$FM" stat
expect_out "^$pid +fm-mapper "
expect_out "^ +[0-9.]+ KiB +[0-9]+/256 +[0-9.]+% +16\.0 KiB .*  $data\$"

expect_exit 0 "$FM" inspect "$pid" --svg "$TMP/pic.svg"
expect_out "^process $pid: budget [0-9]+ pages"
expect_out "^file 0  $data\$"
expect_out 'address_space  dev [0-9]+:[0-9]+, ino [0-9]+, 1048576 bytes, 256 pages, [0-9]+ resident, 4 dirty'
expect_out '^ +0   RRRRRRRRDDDDRRRR'
expect_out '^ +192   \.{64}$'
expect_out 'i_mmap +2 vmas'
expect_out '\|=+\|  \[0x[0-9a-f]+, 0x[0-9a-f]+\) pgoff 0 -> pages 0-255, mm 0, shared rw$'
expect_out '\| +-+ +\|  \[0x[0-9a-f]+, 0x[0-9a-f]+\) pgoff 128 -> pages 128-191, mm 0, private rw, 3 pages copied on write$'
grep -q '^<svg ' "$TMP/pic.svg" && grep -q '</svg>' "$TMP/pic.svg" || fail "no SVG"
grep -q 'pgoff 128' "$TMP/pic.svg" || fail "SVG lacks the private vma"
if command -v xmllint >/dev/null; then xmllint --noout "$TMP/pic.svg" || fail "SVG is not well-formed"; fi

touch "$TMP/stop"
wait "$pid" || fail "fm_mapper failed"
[ -d "$TMP/run/faultmap" ] || fail "no runtime directory $TMP/run/faultmap"
[ ! -e "$TMP/run/faultmap/faultmap.$pid" ] || fail "segment left behind at exit"
[ ! -e "$TMP/run/faultmap/faultmap.$pid.sock" ] || fail "socket left behind at exit"
expect_exit 0 "$FM" stat
grep -Eq "^$pid " "$TMP/out" && fail "stat still lists $pid"
exit 0

#!/usr/bin/env bash
# NEEDS THE INTERPOSER. A real program (/usr/bin/python3, mmap module) under
# faultmap run shows up in faultmap stat, and faultmap inspect draws its
# mapped file: 64 pages, the pages it read resident, page 0 dirty, one
# shared vma over pages 0-63; the counts of one are singular ("1 file
# cached", "1 vma", "1 char = 1 page").
set -u
. "$(dirname "$0")/lib.sh"
require_interposer

start_bg "$TMP/py.log" "$FM" run -- "$PY" -c "$MAPPER_PY" "$TMP/data.bin" "$TMP/stop"
pid=$BG_PID
data=$(realpath "$TMP/data.bin")
sleep 0.5
expect_exit 0 "$FM" stat
expect_out "^$pid +python3 "
expect_out "^ +[0-9.]+ KiB +[1-9][0-9]*/64 +[0-9.]+% +4\\.0 KiB .*  $data\$"
expect_exit 0 "$FM" inspect "$pid"
expect_out "^file [0-9]+  $data\$"
expect_out '^process [0-9]+: budget [0-9]+ pages \([^)]*\), 1 file cached$'
expect_out '^  i_mmap +1 vma \(the reverse map\)'
expect_out '1 char = 1 page'
expect_out '^ +0   D[RD]'
expect_out 'pgoff 0 -> pages 0-63, mm 0, shared rw$'
touch "$TMP/stop"
wait "$pid" || fail "python exited $?"
exit 0

#!/usr/bin/env bash
# faultmap stat shows, under each process, one line per file it caches, in
# the columns of the second header line, one unit each: resident bytes,
# resident/total pages and percent, dirty bytes, major faults, bytes read
# and read ahead, bytes evicted, refaults, read hit ratio, path. fm_mapper
# --read read 4 pages of the 16 of read.bin with fm_pread (twice), and
# dirtied 4 pages of data.bin through its mapping.
set -u
. "$(dirname "$0")/lib.sh"
start_published_mapper --read
pid=$BG_PID
data=$(realpath "$TMP/data.bin")
rd=$(realpath "$TMP/read.bin")
stat_until " 50\.0%  $rd\$"
expect_out '^PID +COMMAND +BUDGET +RESIDENT +MEMORY +DIRTY +MAJFLT +READ +REFAULTS +READ-HIT +FAULTS/S$'
expect_out '^ +RESIDENT +PAGES +% +DIRTY +MAJFLT +READ +AHEAD +EVICTED +REFAULTS +READ-HIT  FILE$'
expect_out "^$pid +fm-mapper "
expect_out "^ +16\\.0 KiB +4/16 +25\\.0% +0 B +0 +16\\.0 KiB +0 B +0 B +0 +50\\.0%  $rd\$"
expect_out "^ +[0-9.]+ KiB +[0-9]+/256 +[0-9.]+% +16\\.0 KiB +[1-9][0-9]* +[0-9.]+ KiB +[0-9.]+ (B|KiB) +0 B +0 +-  $data\$"
touch "$TMP/stop"
wait "$pid" || fail "fm_mapper failed"
exit 0

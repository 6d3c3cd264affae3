#!/usr/bin/env bash
# faultmap run --stats prints, on stderr, a summary of the faultmap engine
# of the program at exit (fm_mapper, engine linked in): faults, pages read,
# that it read no cached file with read(); the program's stdout is untouched.
set -u
. "$(dirname "$0")/lib.sh"
build_mapper

export FAULTMAP_PRELOAD=$EMPTY_SO
"$FM" run --stats --budget 1M -- "$MAPPER" --once "$TMP" >"$TMP/stdout" 2>"$TMP/out"
rc=$?
[ "$rc" -eq 77 ] && { echo "skip: faultmap cannot start here"; exit 77; }
[ "$rc" -eq 0 ] || { cat "$TMP/stdout" "$TMP/out"; fail "run --stats exited $rc"; }
grep -q '^ready ' "$TMP/stdout" || fail "program output lost"
expect_out '^faultmap: pid [0-9]+ \(fm-mapper\), budget 1\.0 MiB$'
expect_out '^  faults: +[1-9][0-9]* major, [0-9]+ minor, 4 write$'
expect_out '^  pages: +[1-9][0-9]* read \([0-9]+ ahead\), 4 written'
expect_out '^  read\(\): +no page of a cached file read$'
expect_out '^  errors: +0 read, 0 write-back$'
ls /tmp/faultmap-stats.* 2>/dev/null | grep -q . && echo "note: stats files left in /tmp by others"
exit 0

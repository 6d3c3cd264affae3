#!/usr/bin/env bash
# faultmap trace -o FILE narrates each fault of a program on faultmap
# (fm_mapper, engine linked in): misses with the pages read and installed,
# first writes; then the exit and a summary. The program's own output stays
# on stdout; the exit status passes through.
set -u
. "$(dirname "$0")/lib.sh"
build_mapper

export FAULTMAP_PRELOAD=$EMPTY_SO
"$FM" trace -o "$TMP/trace" -- "$MAPPER" --once "$TMP" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ "$rc" -eq 77 ] && { echo "skip: faultmap cannot start here"; exit 77; }
[ "$rc" -eq 0 ] || { cat "$TMP/out" "$TMP/err" "$TMP/trace"; fail "trace exited $rc"; }
expect_out '^ready '
mv "$TMP/trace" "$TMP/out"
expect_out '^\[ *[0-9]+\.[0-9]{3} ms\] pid [0-9]+ tid [0-9]+: 0x[0-9a-f]+ -> vma \[0x[0-9a-f]+,0x[0-9a-f]+\) pgoff 0 -> page 0 -> miss -> read [0-9]+ pages from page 0 \([0-9]+ us\) -> [0-9]+ installed \([0-9]+ us\)$'
expect_out 'pgoff 128 -> page 128 -> miss'
expect_out '-> page 8 -> first write: marked dirty'
expect_out '^-- process [0-9]+: faultmap stopped'
expect_out '^faultmap trace: [0-9]+ faults served in 1 process$'
expect_out '^  pid [0-9]+: [0-9]+ faults \([1-9][0-9]* miss, [0-9]+ hit, [1-9][0-9]* write, 0 sigbus\); [1-9][0-9]* pages read'
grep -q ' ms\] pid 0 ' "$TMP/out" && fail "faults not attributed to the process"
# Without -o, the narration goes to stderr.
"$FM" trace "$MAPPER" --once "$TMP" >"$TMP/stdout" 2>"$TMP/out"
grep -q 'faultmap trace:' "$TMP/stdout" && fail "narration on stdout"
expect_out 'faultmap trace: [0-9]+ faults served'
exit 0

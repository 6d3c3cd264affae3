#!/usr/bin/env bash
# NEEDS THE INTERPOSER. faultmap trace of /usr/bin/python3 mapping a file
# narrates its misses (pages read and installed) and its first write, and
# the file's content is right.
set -u
. "$(dirname "$0")/lib.sh"
require_interposer

"$FM" trace -o "$TMP/trace" -- "$PY" -c "$MAPPER_PY" "$TMP/data.bin" >"$TMP/stdout" 2>"$TMP/err"
rc=$?
[ "$rc" -eq 0 ] || { cat "$TMP/stdout" "$TMP/err" "$TMP/trace"; fail "trace exited $rc"; }
grep -q '^ready 3840$' "$TMP/stdout" || { cat "$TMP/stdout"; fail "python did not read the file"; }
[ "$(head -c 1 "$TMP/data.bin")" = y ] || fail "the write did not reach the file"
mv "$TMP/trace" "$TMP/out"
expect_out '-> page 0 -> miss -> read [0-9]+ pages from page 0 \([0-9]+ us\) -> [0-9]+ installed'
expect_out '-> page 0 -> first write'
expect_out '^faultmap trace: [1-9][0-9]* faults served'
expect_out '[1-9][0-9]* miss'
exit 0

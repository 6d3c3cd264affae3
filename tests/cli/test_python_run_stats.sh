#!/usr/bin/env bash
# NEEDS THE INTERPOSER. faultmap run --stats of /usr/bin/python3 mapping a
# file: the program really ran on faultmap (a summary for python3 with
# major faults and pages read), with the budget asked for.
set -u
. "$(dirname "$0")/lib.sh"
require_interposer

"$FM" run --stats --budget 2M -- "$PY" -c "$MAPPER_PY" "$TMP/data.bin" >"$TMP/stdout" 2>"$TMP/out"
rc=$?
[ "$rc" -eq 0 ] || { cat "$TMP/stdout" "$TMP/out"; fail "run --stats exited $rc"; }
grep -q '^ready 3840$' "$TMP/stdout" || fail "python did not read the file"
expect_out '^faultmap: pid [0-9]+ \(python3\), budget 2\.0 MiB$'
expect_out '^  faults: +[1-9][0-9]* major'
expect_out '^  pages: +[1-9][0-9]* read \([0-9]+ ahead\), [1-9][0-9]* written'
exit 0

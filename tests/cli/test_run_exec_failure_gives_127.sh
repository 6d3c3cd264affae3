#!/usr/bin/env bash
# faultmap run (and run --stats, and trace) of a program that cannot be
# executed says why and exits 127.
set -u
. "$(dirname "$0")/lib.sh"

for mode in "run" "run --stats" "trace"; do
	expect_exit 127 "$FM" $mode -- "$TMP/no-such-program" arg
	expect_out "cannot run $TMP/no-such-program: No such file or directory"
done
touch "$TMP/not-executable"
expect_exit 127 "$FM" run "$TMP/not-executable"
expect_out 'Permission denied'
exit 0

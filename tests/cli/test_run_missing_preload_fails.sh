#!/usr/bin/env bash
# When the interposer cannot be found, run and trace say where they looked
# and exit 1 without running the program.
set -u
. "$(dirname "$0")/lib.sh"

for mode in run trace; do
	FAULTMAP_PRELOAD=$TMP/missing.so expect_exit 1 "$FM" $mode touch "$TMP/ran"
	expect_out "cannot use the interposer $TMP/missing.so"
	[ ! -e "$TMP/ran" ] || fail "$mode ran the program without its interposer"
done
exit 0

#!/usr/bin/env bash
# faultmap run execs the program in place (same pid), prepends the
# interposer to LD_PRELOAD (keeping what was there), sets FAULTMAP_PUBLISH=1
# and FAULTMAP_BUDGET, and passes the program's exit status through.
set -u
. "$(dirname "$0")/lib.sh"
build_mapper

export FAULTMAP_PRELOAD=$EMPTY_SO
LD_PRELOAD=$EMPTY_SO expect_exit 0 bash -c 'echo "pid $$"; exec "$0" run --budget 64M -- bash -c '\''echo "pid $$"; echo "LD_PRELOAD=$LD_PRELOAD"; echo "PUB=$FAULTMAP_PUBLISH BUDGET=$FAULTMAP_BUDGET"'\''' "$FM"
[ "$(grep -c '^pid ' "$TMP/out")" -eq 2 ] || fail "no pid lines"
[ "$(grep '^pid ' "$TMP/out" | sort -u | wc -l)" -eq 1 ] || { cat "$TMP/out"; fail "run did not keep the pid"; }
expect_out "^LD_PRELOAD=$EMPTY_SO:$EMPTY_SO\$"
expect_out '^PUB=1 BUDGET=64M$'
expect_exit 3 "$FM" run bash -c 'exit 3'
expect_exit 3 "$FM" run --stats bash -c 'exit 3'
expect_exit 137 "$FM" run --stats bash -c 'kill -9 $$'
exit 0

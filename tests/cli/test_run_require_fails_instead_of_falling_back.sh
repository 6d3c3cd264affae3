#!/usr/bin/env bash
# faultmap run --require does not let the kernel map the program's files when
# faultmap cannot serve them: without userfaultfd access (nobody), it exits 1
# before the program runs, saying how to get access; a program that loses
# access after the check (it drops to nobody itself) stops with exit 1 at
# its first mapping instead of running on the kernel. With access, --require
# runs the program as run does. Needs root.
set -u
. "$(dirname "$0")/lib.sh"
require_second_user
require_interposer
require_nobody_denied
shared_dir require 0777 "$FM" "$FAULTMAP_BUILD/libfaultmap-preload.so"

# Checked before the program runs: it never starts.
expect_exit 1 as_nobody env -u XDG_RUNTIME_DIR "$D/faultmap" run --require -- "$PY" -c 'print("ran")'
expect_out '^faultmap: no permission to use userfaultfd'
expect_out '^    sudo usermod -aG faultmap \$USER$'
expect_out '^faultmap: run --require: faultmap cannot serve mappings here; not running /usr/bin/python3$'
grep -q '^ran' "$TMP/out" && fail "the program ran"
# The same in a --stats run.
expect_exit 1 as_nobody env -u XDG_RUNTIME_DIR "$D/faultmap" run --require --stats -- "$PY" -c 'print("ran")'
expect_out 'not running'
grep -q '^ran' "$TMP/out" && fail "the program ran"

# Checked again in the program: root passes the first check, the program
# then runs as nobody and stops at its first file mapping.
expect_exit 1 "$FM" run --require -- setpriv --reuid=nobody --regid=nogroup --clear-groups \
	env -u XDG_RUNTIME_DIR "$PY" -c "$MAPPER_PY" "$D/data.bin"
expect_out '^faultmap: cannot serve mappings \(Operation not permitted\), and faultmap run --require was given: exiting$'
grep -q '^ready' "$TMP/out" && fail "the program went on with the kernel's mappings"
# Without --require the same program runs on the kernel.
expect_exit 0 "$FM" run -- setpriv --reuid=nobody --regid=nogroup --clear-groups \
	env -u XDG_RUNTIME_DIR "$PY" -c "$MAPPER_PY" "$D/data.bin"
expect_out '^ready '

# A bad FAULTMAP_BUDGET would stop the engine too: refused up front.
expect_exit 1 env FAULTMAP_BUDGET=lots "$FM" run --require -- "$PY" -c 'print("ran")'
expect_out 'FAULTMAP_BUDGET="lots" is not a size'
grep -q '^ran' "$TMP/out" && fail "the program ran"

# A budget the engine takes (a percentage of memory) is not refused.
expect_exit 0 env FAULTMAP_BUDGET=50% "$FM" run --require -- "$PY" -c 'print("ran")'
expect_out '^ran$'

# With access, --require changes nothing.
expect_exit 0 "$FM" run --require --stats -- "$PY" -c "$MAPPER_PY" "$D/data.bin"
expect_out '^ready 3840$'
expect_out '^  faults: +[1-9][0-9]* major'
exit 0

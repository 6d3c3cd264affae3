#!/usr/bin/env bash
# Under `faultmap run`, a signal handler may call munmap, mmap, msync,
# mprotect, madvise and mremap while the thread it interrupted is inside
# one of them, as on the kernel: tests/test_signal_handler_map_calls_do_
# not_deadlock.c built with the libc calls (FM_LIBC_CALLS), run on the
# kernel and under faultmap. A hang fails (the program's watchdog).
. "$(dirname "$0")/lib.sh"
need_cmd cc gcc
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=$ROOT/tests/test_signal_handler_map_calls_do_not_deadlock.c
setup
cc -D_GNU_SOURCE -DFM_LIBC_CALLS -std=c11 -O2 -I"$ROOT/include" -I"$ROOT/tests" "$SRC" -lpthread -o "$WORK/sigmap" ||
	fail "cannot build $SRC"
cd "$WORK/kern" && run_kernel "$WORK/sigmap" .
cd "$WORK/fm" && FAULTMAP_MODE=embedded run_fm 256K "$WORK/sigmap" .
expect_served 262144
use_daemon # each map call a request to the daemon
cd "$WORK/fm" && run_fm 256K "$WORK/sigmap" .
expect_served 262144
exit 0

#!/usr/bin/env bash
# fork() while another thread sets RLIMIT_NOFILE: under faultmap run the
# children never hang on the interposer's fd-limit lock (300 forks, each
# child setting the limit itself), and read what the kernel's children read.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
need_cmd cc gcc
setup
cc -O2 -pthread -o "$WORK/prog" "$HERE/fork_while_setrlimit.c" || fail "cc fork_while_setrlimit.c"
cd "$WORK/kern" && run_kernel "$WORK/prog" >"$WORK/kern.out"
cd "$WORK/fm" && run_fm 256K "$WORK/prog" >"$WORK/fm.out"
cat "$WORK/fm.out" >&2
same_output "$WORK/kern.out" "$WORK/fm.out" "the program's output"
expect_served 262144
exit 0

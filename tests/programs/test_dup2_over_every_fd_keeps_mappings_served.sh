#!/usr/bin/env bash
# A program that dup2()s /dev/null onto every fd number from 3 to 1024 it
# does not own (as some daemons "sanitize" their fds) keeps its mappings
# served: the engine's own fds are not replaced, pages dirtied before still
# reach the file, later misses are read from it, writes made after reach it
# too, and the program's dup2()s succeed and fail as on the kernel. Run at
# the inherited fd limit and at a soft limit of 1024 (so that the loop
# covers every number the program may use).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
setup
build_c dup2_every_fd.c
for soft in "$(ulimit -Sn)" 1024; do
	note "RLIMIT_NOFILE soft limit $soft (hard $(ulimit -Hn))"
	ulimit -Sn "$soft" || fail "ulimit -Sn $soft"
	rm -f "$WORK/kern/data.bin" "$WORK/fm/data.bin"
	run_both 256K "$WORK/prog"
	same_output "$WORK/kern/data.bin" "$WORK/fm/data.bin" "data.bin"
	expect_served 262144
	expect_stat evictions -gt 0
done
exit 0

#!/usr/bin/env bash
# A program that lowers its RLIMIT_NOFILE soft limit below 512 (where the
# engine used to put its fds) before its first mapping, then dup2()s
# /dev/null onto every fd number it does not own, keeps its mappings
# served, and sees the limit it set and the kernel's answers to its dup2()s.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
setup
build_c dup2_every_fd.c
run_both 256K "$WORK/prog" 256
same_output "$WORK/kern/data.bin" "$WORK/fm/data.bin" "data.bin"
expect_served 262144
expect_stat evictions -gt 0
exit 0

#!/usr/bin/env bash
# fork() while another thread sets RLIMIT_NOFILE: under faultmap run the
# children never hang on the interposer's fd-limit lock (300 forks, each
# child setting the limit itself), and read what the kernel's children read.
# In embedded mode, then in daemon mode.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
setup
build_c fork_while_setrlimit.c -pthread
run_both 256K "$WORK/prog"
expect_served 262144
# Daemon mode: the child connects and adopts its views at the fork, which
# takes the lock too.
use_daemon
run_both 256K "$WORK/prog"
expect_served 262144
exit 0

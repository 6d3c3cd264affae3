#!/usr/bin/env bash
# readv, writev and the preadv/pwritev families on a cached file, given an
# iovec array the kernel cannot read (NULL, address 1, a PROT_NONE page, an
# array running into one), return EFAULT under faultmap run as on the
# kernel, instead of crashing the program; a negative length gets EINVAL
# before anything moves; a good array moves the same bytes.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
setup
build_c vector_io_bad_iovec.c
run_both 256K "$WORK/prog"
same_output "$WORK/kern/data.bin" "$WORK/fm/data.bin" "data.bin"
expect_served 262144
exit 0

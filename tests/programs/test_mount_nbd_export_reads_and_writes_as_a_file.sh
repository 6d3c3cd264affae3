#!/usr/bin/env bash
# test_mount_nbd_export_reads_and_writes_as_a_file.sh - faultmap run
# --mount PATH=nbd+unix:///?socket=S makes PATH an NBD export (nbdkit
# serving a file): an unmodified C program (mount_io.c) stats it, reads it
# with read(), pread() and a shared mapping, writes it through the mapping
# (msync), pwrite() and write(), and sees a missing name as ENOENT, exactly
# as the kernel run on a local copy; the export's file then equals that
# copy. In embedded and in daemon mode, under a 256K budget (the export is
# 1 MiB).
set -u
. "$(dirname "$0")/lib.sh"
need_cmd nbdkit
setup
build_c mount_io.c

gen_file "$WORK/orig.img" 1048576 nbd
cp orig.img kern/disk.img || fail "cp"
cd "$WORK/kern" && run_kernel "$WORK/prog" disk.img missing >"$WORK/kern.out"
cat "$WORK/kern.out" >&2

for mode in embedded daemon; do
	mount_export "$WORK/orig.img" $mode
	cd "$WORK/fm" && run_fm 256K "$WORK/prog" "$WORK/mnt/disk.img" "$WORK/mnt/missing" >"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "mount_io's output ($mode)"
	expect_served 262144
	stop_nbdkit
	# nbdkit wrote what reached the export into its file: read by the kernel.
	same_output "$WORK/kern/disk.img" "$WORK/export.img" "the export after the run ($mode)"
done

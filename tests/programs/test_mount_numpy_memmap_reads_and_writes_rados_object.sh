#!/usr/bin/env bash
# test_mount_numpy_memmap_reads_and_writes_rados_object.sh - numpy.memmap
# mode "r+" of DIR/arr.bin under faultmap run --mount DIR=rados://POOL
# (a single-node Ceph cluster of the test's own) over a 4 MiB float64 array
# stored as one object, under a 512K budget: random and slice writes, reads
# of them, flush (numpy_memmap_rw.py); the printed sums equal those of the
# kernel run on a local copy, and the object read back with the rados tool
# equals that copy after the run. Both modes.
set -u
. "$(dirname "$0")/lib.sh"
need_py numpy python3-numpy
need_cmd rados ceph
setup
start_ceph

cat >gen.py <<'EOF'
import numpy as np
np.random.default_rng(7).random(1 << 19).tofile("arr.bin")
EOF
cd "$WORK" && run_kernel "$PY" gen.py
cp arr.bin kern/arr.bin || fail "cp"
cd "$WORK/kern" && run_kernel "$PY" "$_LIB_DIR/numpy_memmap_rw.py" arr.bin >"$WORK/kern.out"
cat "$WORK/kern.out" >&2

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	rados -p fm put arr.bin "$WORK/arr.bin" || fail "rados put"
	RUN_OPTS=(--$mode --mount "$WORK/mnt=rados://fm")
	cd "$WORK/fm" && run_fm 512K "$PY" "$_LIB_DIR/numpy_memmap_rw.py" "$WORK/mnt/arr.bin" >"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "the program's output ($mode)"
	expect_served 524288
	expect_stat evictions -gt 0
	rados -p fm get arr.bin "$WORK/back.bin" || fail "rados get"
	same_output "$WORK/kern/arr.bin" "$WORK/back.bin" "the object after the run ($mode)"
done

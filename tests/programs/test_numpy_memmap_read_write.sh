#!/usr/bin/env bash
# test_numpy_memmap_read_write.sh - numpy.memmap mode "r+" over a 4 MiB
# float64 array, under a 512K budget: random and slice writes, reads of
# them, flush; the printed sums and the file afterwards equal the kernel
# run's.
set -u
. "$(dirname "$0")/lib.sh"
need_py numpy python3-numpy
setup

cat >gen.py <<'EOF'
import numpy as np
np.random.default_rng(7).random(1 << 19).tofile("arr.bin")
EOF
cd "$WORK/kern" && run_kernel "$PY" ../gen.py
cp arr.bin ../fm/arr.bin
run_both 512K "$PY" "$_LIB_DIR/numpy_memmap_rw.py" arr.bin --fromfile
cd "$WORK" || fail "cd $WORK"
same_file arr.bin
expect_served 524288
expect_stat write_faults -gt 0
expect_stat pages_written -gt 0
expect_stat evictions -gt 0

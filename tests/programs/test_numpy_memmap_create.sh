#!/usr/bin/env bash
# test_numpy_memmap_create.sh - numpy.memmap mode "w+" creates a 4 MiB
# int64 array file (the file is extended, then mapped), under a 512K budget:
# filled in chunks, written at random, flushed and reopened with mode "r";
# the printed sums and the file equal the kernel run's.
set -u
. "$(dirname "$0")/lib.sh"
need_py numpy python3-numpy
setup

cat >prog.py <<'EOF'
import numpy as np
n = 1 << 19
a = np.memmap("new.bin", dtype=np.int64, mode="w+", shape=(n,))
print("zeros", int(a[::97].sum()), int(np.count_nonzero(a)))
for lo in range(0, n, 65536):
    a[lo:lo + 65536] = np.arange(lo, lo + 65536, dtype=np.int64) * 3
rng = np.random.default_rng(9)
idx = rng.integers(0, n, 8000)
a[idx] = rng.integers(-1000, 1000, 8000)
print("sum", int(a.sum()), int(a[idx].sum()))
a.flush()
del a
b = np.memmap("new.bin", dtype=np.int64, mode="r")
print("reopened", b.shape, int(b.sum()), int(b[::3].sum()))
EOF

run_both 512K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
same_file new.bin
expect_served 524288
expect_stat write_faults -gt 0
expect_stat pages_written -gt 0
expect_stat evictions -gt 0

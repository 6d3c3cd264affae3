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
cat >prog.py <<'EOF'
import numpy as np
a = np.memmap("arr.bin", dtype=np.float64, mode="r+")
rng = np.random.default_rng(8)
print("before", repr(float(a.sum())))
for step in range(8):
    idx = rng.integers(0, a.size, 2000)
    a[idx] = rng.random(2000) * step
    lo = int(rng.integers(0, a.size - 30000))
    a[lo:lo + 30000] *= 1.5
    print("step", step, repr(float(a[idx].sum())), repr(float(a[lo:lo + 30000].sum())))
a[::1000] = -1.0
a.flush()
print("after", repr(float(a.sum())), repr(float(a[::7].sum())))
del a
b = np.fromfile("arr.bin", dtype=np.float64)        # read() the file back
print("file", repr(float(b.sum())))
EOF

cd "$WORK/kern" && run_kernel "$PY" ../gen.py
cp arr.bin ../fm/arr.bin
run_both 512K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
same_file arr.bin
expect_served 524288
expect_stat write_faults -gt 0
expect_stat pages_written -gt 0
expect_stat evictions -gt 0

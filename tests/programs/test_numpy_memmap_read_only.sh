#!/usr/bin/env bash
# test_numpy_memmap_read_only.sh - numpy.memmap mode "r" over a 4 MiB
# float64 array, under a 512K budget: random, strided and whole-array reads
# give the same values as on the kernel.
set -u
. "$(dirname "$0")/lib.sh"
need_py numpy python3-numpy
setup

cat >gen.py <<'EOF'
import numpy as np
np.random.default_rng(5).random(1 << 19).tofile("arr.bin")
EOF
cat >prog.py <<'EOF'
import hashlib, numpy as np
a = np.memmap("arr.bin", dtype=np.float64, mode="r")
rng = np.random.default_rng(6)
print("shape", a.shape, "sum", repr(float(a.sum())))
idx = rng.integers(0, a.size, 20000)
print("random", repr(float(a[idx].sum())), a[idx[:5]].tolist())
print("strided", repr(float(a[::513].sum())), repr(float(a[7::4099].max())))
for lo in rng.integers(0, a.size - 10000, 50):
    print("slice", int(lo), repr(float(a[lo:lo + 10000].sum())))
print("rev", repr(float(a[::-1][:300000].sum())))
print("hash", hashlib.sha256(a.tobytes()).hexdigest())
EOF

cd "$WORK/kern" && run_kernel "$PY" ../gen.py
cp arr.bin ../fm/arr.bin
run_both 512K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
same_file arr.bin
expect_served 524288
expect_stat evictions -gt 0
expect_stat pages_written -eq 0

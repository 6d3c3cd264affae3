#!/usr/bin/env bash
# test_numpy_memmap_copy_on_write.sh - numpy.memmap mode "c" (a private
# mapping) over a 4 MiB float64 array, under a 512K budget: the writes are
# seen by that array only; a mode "r" array of the same file and the file
# itself keep the original values, as on the kernel.
set -u
. "$(dirname "$0")/lib.sh"
need_py numpy python3-numpy
setup

cat >gen.py <<'EOF'
import numpy as np
np.random.default_rng(10).random(1 << 19).tofile("arr.bin")
EOF
cat >prog.py <<'EOF'
import numpy as np
c = np.memmap("arr.bin", dtype=np.float64, mode="c")
r = np.memmap("arr.bin", dtype=np.float64, mode="r")
rng = np.random.default_rng(11)
print("before", repr(float(c.sum())), repr(float(r.sum())))
for step in range(6):
    idx = rng.integers(0, c.size, 3000)
    c[idx] = -step
    lo = int(rng.integers(0, c.size - 50000))
    c[lo:lo + 50000] += 10.0
    print("step", step, repr(float(c[idx].sum())), repr(float(r[idx].sum())))
c.flush()
print("private", repr(float(c.sum())))
print("shared", repr(float(r.sum())))
print("file", repr(float(np.fromfile("arr.bin", dtype=np.float64).sum())))
EOF

cd "$WORK/kern" && run_kernel "$PY" ../gen.py
cp arr.bin ../fm/arr.bin
cp arr.bin ../orig.bin
run_both 512K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
same_output orig.bin kern/arr.bin "arr.bin after the kernel run (vs its original)"
same_output orig.bin fm/arr.bin "arr.bin after the faultmap run (vs its original)"
expect_served 524288
expect_stat evictions -gt 0
expect_stat pages_written -eq 0

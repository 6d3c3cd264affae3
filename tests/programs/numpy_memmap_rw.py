"""numpy_memmap_rw.py PATH [--fromfile] - numpy.memmap mode "r+" of PATH, an
array of float64: random and slice writes, reads of them, a flush; the sums
printed at each step, for a test to compare a run under faultmap with the
kernel's. --fromfile: then the file read back with read() (np.fromfile)."""
import sys

import numpy as np

path = sys.argv[1]
a = np.memmap(path, dtype=np.float64, mode="r+")
rng = np.random.default_rng(8)
print("size", a.size, "before", repr(float(a.sum())))
for step in range(8):
    idx = rng.integers(0, a.size, 2000)
    a[idx] = rng.random(2000) * step
    lo = int(rng.integers(0, a.size - 30000))
    a[lo:lo + 30000] *= 1.5
    print("step", step, repr(float(a[idx].sum())), repr(float(a[lo:lo + 30000].sum())))
a[::1000] = -1.0
a.flush()
print("after", repr(float(a.sum())), repr(float(a[::7].sum())))
if "--fromfile" in sys.argv[2:]:
    del a
    b = np.fromfile(path, dtype=np.float64)
    print("file", repr(float(b.sum())))

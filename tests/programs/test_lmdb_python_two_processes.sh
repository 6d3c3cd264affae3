#!/usr/bin/env bash
# test_lmdb_python_two_processes.sh - two processes share an LMDB
# environment, as LMDB is meant to be used: python3 keeps it open and has
# read it (so its pages are cached) while separate python3 processes commit
# write transactions (pwrite to the data file, writemap=False); each new
# read transaction of the first process must see those commits, as on the
# kernel. map_size 64 MiB, about 5 MiB of data, budget 512K.
set -u
. "$(dirname "$0")/lib.sh"
need_py lmdb python3-lmdb
need_cmd mdb_dump lmdb-utils
setup
# One page cache for every process: the daemon's.
use_daemon

cat >writer.py <<'EOF'
import hashlib, lmdb, sys
step = int(sys.argv[1])
env = lmdb.open("env", map_size=64 << 20)
with env.begin(write=True) as txn:
    for i in range(step * 1000, step * 1000 + 1500):
        n = 20000 if i % 101 == 0 else 300 + i % 700
        txn.put(b"k%08d" % i, (hashlib.sha256(b"%d-%d" % (i, step)).digest() * (n // 32 + 1))[:n])
env.close()
EOF
cat >prog.py <<'EOF'
import hashlib, lmdb, subprocess, sys
env = lmdb.open("env", map_size=64 << 20)
def show(what):
    h = hashlib.sha256()
    n = 0
    with env.begin() as txn:
        for k, v in txn.cursor():
            h.update(k + v)
            n += 1
        print(what, n, h.hexdigest(), env.info()["last_txnid"])
    sys.stdout.flush()
subprocess.run([sys.executable, "../writer.py", "0"], check=True)
for step in range(1, 5):
    show("before step %d" % step)
    subprocess.run([sys.executable, "../writer.py", str(step)], check=True)
show("end")
env.close()
EOF

mkdir kern/env fm/env
cd "$WORK/kern" && run_kernel "$PY" ../prog.py >../kern.out
cd "$WORK/fm" && run_fm 512K "$PY" ../prog.py >../fm.out
cd "$WORK" || fail "cd $WORK"
same_output kern.out fm.out "what the reading process saw"
cd "$WORK/kern" && run_kernel mdb_dump env >../kern.check
cd "$WORK/fm" && run_kernel mdb_dump env >../fm.check
cd "$WORK" || fail "cd $WORK"
same_output kern.check fm.check "mdb_dump on the kernel of the environment each run wrote"
expect_served 524288
expect_stat evictions -gt 0

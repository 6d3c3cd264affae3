# lmdb_python_workload.sh - sourced by the two python3-lmdb tests, with
# WRITEMAP set to False or True:
# map_size 64 MiB, about 6 MiB of data, under a 512K budget: transactions
# of puts, updates and deletes, a read snapshot that must not change,
# cursor scans, random gets and a compacting env.copy print the same as on
# the kernel, and the environment faultmap wrote dumps the same on the
# kernel (mdb_dump).
set -u
. "$(dirname "$0")/lib.sh"
need_py lmdb python3-lmdb
need_cmd mdb_dump lmdb-utils
setup

cat >prog.py <<EOF
import hashlib, lmdb, random
env = lmdb.open("env", map_size=64 << 20, writemap=$WRITEMAP, max_dbs=2)
sub = env.open_db(b"sub")
r = random.Random(14)
def val(i, gen):
    n = 30000 if i % 97 == 0 else 100 + (i * 37) % 1200
    return (hashlib.sha256(b"%d/%d" % (i, gen)).digest() * (n // 32 + 1))[:n]
def key(i):
    return b"k%08d" % ((i * 7919) % 6000)
def scan(txn, db=None):
    h = hashlib.sha256()
    n = 0
    for k, v in txn.cursor(db=db):
        h.update(k + v)
        n += 1
    return n, h.hexdigest()
for b in range(12):
    with env.begin(write=True) as txn:
        for i in range(b * 500, (b + 1) * 500):
            txn.put(key(i), val(i, 0))
            if i % 3 == 0:
                txn.put(b"s%06d" % i, val(i, 1)[:500], db=sub)
print("stat", env.stat())
snap = env.begin()
before = scan(snap)
print("snapshot", before)
with env.begin(write=True) as txn:
    for _ in range(1500):
        i = r.randrange(6000)
        if r.random() < 0.3:
            txn.delete(key(i))
        else:
            txn.put(key(i), val(i, 2))
print("snapshot unchanged", scan(snap) == before)
snap.abort()
with env.begin() as txn:
    print("main", scan(txn))
    print("sub", scan(txn, sub))
    h = hashlib.sha256()
    for _ in range(3000):
        v = txn.get(key(r.randrange(6000)))
        h.update(b"-" if v is None else v)
    print("gets", h.hexdigest())
with env.begin(write=True) as txn:
    c = txn.cursor()
    c.set_range(b"k00002000")
    for _ in range(400):
        if not c.delete():
            break
print("stat", env.stat())
env.copy("copy", compact=True)
env.sync(True)
env.close()
env = lmdb.open("copy", map_size=64 << 20, max_dbs=2, readonly=True)
with env.begin() as txn:
    print("copy", scan(txn), scan(txn, env.open_db(b"sub", txn=txn)))
env.close()
EOF

mkdir kern/copy fm/copy
cd "$WORK/kern" && run_kernel "$PY" ../prog.py >../kern.out
cd "$WORK/fm" && run_fm 512K "$PY" ../prog.py >../fm.out
cd "$WORK" || fail "cd $WORK"
same_output kern.out fm.out "the program's output"
grep -qx "snapshot unchanged True" fm.out || fail "the read snapshot changed"
expect_served 524288
expect_stat evictions -gt 0
if [ "$WRITEMAP" = True ]; then
	expect_stat write_faults -gt 0
	expect_stat pages_written -gt 0
fi
# The environments faultmap wrote, dumped on the kernel.
for env in env copy; do
	cd "$WORK/kern" && run_kernel mdb_dump -a $env >../kern.$env.dump
	cd "$WORK/fm" && run_kernel mdb_dump -a $env >../fm.$env.dump
	cd "$WORK" || fail "cd $WORK"
	same_output kern.$env.dump fm.$env.dump "mdb_dump on the kernel of $env/ each run wrote"
done

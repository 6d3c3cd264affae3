#!/usr/bin/env bash
# test_plain_sqlite3_writes_seen_by_python_under_run.sh - writers outside
# faultmap: python3 under `faultmap run` holds a sqlite3 connection and a
# shared mmap of a plain file, while plain processes (not under faultmap:
# LD_PRELOAD removed) change them: the sqlite3 CLI inserts and updates rows,
# a plain python3 writes the file with os.pwrite and through a kernel
# mapping. After each, python's next query, os.pread or mmap.flush (the
# check points of docs/design.md, "Writers outside faultmap") shows the new
# data, through its mapping too, as on the kernel. Embedded mode, then
# daemon mode. Before, python kept the stale pages: its queries missed the
# rows the CLI inserted.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd sqlite3
need_py sqlite3 python3
setup

cat >prog.py <<'EOF'
import hashlib, mmap, os, sqlite3, subprocess, sys
plain = {k: v for k, v in os.environ.items()
         if k != "LD_PRELOAD" and not k.startswith("FAULTMAP_")}
def outside(*argv):  # a process not under faultmap
    sys.stdout.flush()
    subprocess.run(list(argv), check=True, env=plain)
def cli(sql):
    outside("sqlite3", "-batch", "db", sql)
db = sqlite3.connect("db", isolation_level=None)
db.execute("PRAGMA mmap_size=268435456")  # its pages through a mapping
db.execute("CREATE TABLE kv(k INTEGER PRIMARY KEY, n INTEGER, pad BLOB)")
db.execute("BEGIN")  # one transaction: one fsync, not 3000
db.executemany("INSERT INTO kv VALUES (?, ?, zeroblob(300))",
               ((k, k * 7 % 1000) for k in range(3000)))
db.execute("COMMIT")
def show(label):
    rows = db.execute("SELECT count(*), total(n), max(k), sum(length(pad)) FROM kv")
    print(label, rows.fetchone())
show("start")
for step in range(3):  # the CLI: plain pwrite()s of the database
    cli(f"INSERT INTO kv SELECT k + {100000 * (step + 1)}, n + {step}, zeroblob(200) "
        f"FROM kv WHERE k < 500; UPDATE kv SET n = n * 3 WHERE k % 13 = {step};")
    show(f"after plain sqlite3 step {step}")
print(db.execute("PRAGMA integrity_check").fetchall())
db.close()

# A plain file, mapped shared and read whole here, changed outside.
size = 64 * 4096
with open("raw", "wb") as f:
    f.write(bytes(i % 251 for i in range(size)))
fd = os.open("raw", os.O_RDWR)
m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
def h(what):
    print(what, hashlib.sha256(m[:]).hexdigest(),
          hashlib.sha256(os.pread(fd, size, 0)).hexdigest())
h("raw start")
outside(sys.executable, "-c", "import os; fd = os.open('raw', os.O_RDWR); "
        "os.pwrite(fd, b'P' * 10000, 5000)")
os.pread(fd, 1, 0)  # a check point
h("after plain pwrite")
outside(sys.executable, "-c", "import mmap, os; fd = os.open('raw', os.O_RDWR); "
        "k = mmap.mmap(fd, 0); k[40000:48000] = b'K' * 8000; k.flush(); k.close()")
m.flush()  # msync: a check point
h("after plain mapping")
m.close()
os.close(fd)
EOF

cd "$WORK/kern" && run_kernel "$PY" ../prog.py >../kern.out
cd "$WORK/fm" && run_fm 512K "$PY" ../prog.py >../fm.out
cd "$WORK" || fail "cd $WORK"
cat fm.out >&2
same_output kern.out fm.out "python's view of the outside writes (embedded mode)"
expect_served 524288

use_daemon
rm -rf "$WORK/fm" && mkdir "$WORK/fm" || fail "mkdir $WORK/fm"
cd "$WORK/fm" && run_fm 512K "$PY" ../prog.py >../fm-daemon.out
cd "$WORK" || fail "cd $WORK"
same_output kern.out fm-daemon.out "python's view of the outside writes (daemon mode)"

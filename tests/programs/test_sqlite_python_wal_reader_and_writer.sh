#!/usr/bin/env bash
# test_sqlite_python_wal_reader_and_writer.sh - python3's sqlite3 module,
# PRAGMA mmap_size large, journal_mode=WAL, a writer connection and a reader
# connection in one process, under a 512K budget: about 5 MiB of inserts in
# many transactions (checkpoints write the mapped database with pwrite), a
# reader snapshot that must not see later writes, point lookups, scans,
# VACUUM and integrity_check print the same as on the kernel; the database
# left behind answers the same on the kernel.
set -u
. "$(dirname "$0")/lib.sh"
need_py sqlite3 python3
setup

cat >prog.py <<'EOF'
import hashlib, random, sqlite3
def val(i):
    return hashlib.sha256(str(i).encode()).digest() * 12 + str(i).encode()
def scan(c, what):
    h = hashlib.sha256()
    for row in c.execute("SELECT k, v FROM kv ORDER BY k"):
        h.update(repr(row).encode())
    print(what, h.hexdigest())
w = sqlite3.connect("db", isolation_level=None)
w.execute("PRAGMA page_size=4096")
print(w.execute("PRAGMA mmap_size=268435456").fetchall())
print(w.execute("PRAGMA journal_mode=WAL").fetchall())
w.execute("PRAGMA wal_autocheckpoint=200")
w.execute("CREATE TABLE kv(k INTEGER PRIMARY KEY, v BLOB)")
w.execute("CREATE INDEX kv_v ON kv(substr(v, 1, 8))")
for b in range(24):
    w.execute("BEGIN")
    w.executemany("INSERT INTO kv VALUES(?, ?)", ((i, val(i)) for i in range(b * 500, (b + 1) * 500)))
    w.execute("COMMIT")
r = sqlite3.connect("db", isolation_level=None)
r.execute("PRAGMA mmap_size=268435456")
r.execute("BEGIN")
before = r.execute("SELECT count(*), sum(length(v)) FROM kv").fetchall()
print("snapshot", before)
w.execute("UPDATE kv SET v = CAST(x'75' || v AS BLOB) WHERE k % 5 = 0")
w.execute("DELETE FROM kv WHERE k % 13 = 0")
print("snapshot again", r.execute("SELECT count(*), sum(length(v)) FROM kv").fetchall() == before)
scan(r, "snapshot scan")
r.execute("COMMIT")
print("after", r.execute("SELECT count(*), sum(length(v)) FROM kv").fetchall())
rnd = random.Random(12)
h = hashlib.sha256()
for _ in range(3000):
    k = rnd.randrange(12000)
    h.update(repr(r.execute("SELECT v FROM kv WHERE k = ?", (k,)).fetchall()).encode())
print("lookups", h.hexdigest())
print(r.execute("SELECT count(*) FROM kv WHERE substr(v, 1, 8) > x'80'").fetchall())
scan(w, "writer scan")
print("checkpoint", w.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
w.execute("VACUUM")
print(w.execute("PRAGMA integrity_check").fetchall())
scan(r, "reader scan after vacuum")
r.close()
w.close()
EOF
cat >check.py <<'EOF'
import hashlib, sqlite3
c = sqlite3.connect("db")
print(c.execute("PRAGMA integrity_check").fetchall())
h = hashlib.sha256()
for row in c.execute("SELECT k, v FROM kv ORDER BY k"):
    h.update(repr(row).encode())
print(c.execute("SELECT count(*), sum(length(v)) FROM kv").fetchall(), h.hexdigest())
EOF

run_both 512K "$PY" ../prog.py
cd "$WORK" || fail "cd $WORK"
grep -qx "snapshot again True" fm.out || fail "the reader's snapshot changed"
grep -qx "\[('ok',)\]" fm.out || fail "integrity_check under faultmap failed"
expect_served 524288
expect_stat evictions -gt 0
# The database faultmap left, opened on the kernel.
cd "$WORK/kern" && run_kernel "$PY" ../check.py >../kern.check
cd "$WORK/fm" && run_kernel "$PY" ../check.py >../fm.check
cd "$WORK" || fail "cd $WORK"
same_output kern.check fm.check "the database each run left, read on the kernel"

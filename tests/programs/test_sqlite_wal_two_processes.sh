#!/usr/bin/env bash
# test_sqlite_wal_two_processes.sh - two processes share a WAL database, as
# sqlite is meant to be used: python3 holds a connection open (mmap_size
# large, the -shm wal-index mapped shared) while separate sqlite3 CLI
# processes insert, update and checkpoint; after each, the python
# connection's queries must show the other process's commits, and the
# database must pass integrity_check, as on the kernel. Budget 512K, about
# 4 MiB of data.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd sqlite3
need_py sqlite3 python3
setup
# One page cache for every process: the daemon's.
use_daemon

cat >prog.py <<'EOF'
import subprocess, sqlite3, sys
def cli(sql):
    sys.stdout.flush()
    subprocess.run(["sqlite3", "-batch", "db", sql], check=True)
c = sqlite3.connect("db", isolation_level=None)
print(c.execute("PRAGMA journal_mode=WAL").fetchall())
c.execute("PRAGMA mmap_size=268435456")
c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
c.execute("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 8000) "
          "INSERT INTO t SELECT x, printf('%.400c', char(65 + x % 26)) FROM n")
def q(what):
    print(what, c.execute("SELECT count(*), sum(id), sum(length(v)), max(v) FROM t").fetchall())
q("start")
for step in range(4):
    cli("PRAGMA mmap_size=268435456; "
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000) "
        "INSERT INTO t SELECT %d + x, printf('%%.300c', char(97 + x %% 26)) FROM n; "
        "UPDATE t SET v = 'step%d' || v WHERE id %% 17 = %d;" % (100000 * (step + 1), step, step))
    q("after cli step %d" % step)
    c.execute("UPDATE t SET v = 'py' || v WHERE id %% 19 = %d" % step)
    cli("PRAGMA mmap_size=268435456; SELECT count(*), sum(length(v)) FROM t;")
cli("PRAGMA wal_checkpoint(TRUNCATE);")
q("after checkpoint")
print(c.execute("PRAGMA integrity_check").fetchall())
c.close()
EOF

cd "$WORK/kern" && run_kernel "$PY" ../prog.py >../kern.out
cd "$WORK/fm" && run_fm 512K "$PY" ../prog.py >../fm.out
cd "$WORK" || fail "cd $WORK"
same_output kern.out fm.out "the output of both processes"
cd "$WORK/fm" && run_kernel sqlite3 -batch db 'PRAGMA integrity_check; SELECT count(*), sum(length(v)) FROM t;' >../fm.check
cd "$WORK/kern" && run_kernel sqlite3 -batch db 'PRAGMA integrity_check; SELECT count(*), sum(length(v)) FROM t;' >../kern.check
cd "$WORK" || fail "cd $WORK"
same_output kern.check fm.check "the database each run left, read on the kernel"
expect_served 524288
expect_stat evictions -gt 0

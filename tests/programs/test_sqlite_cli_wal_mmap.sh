#!/usr/bin/env bash
# test_sqlite_cli_wal_mmap.sh - the sqlite3 CLI with PRAGMA mmap_size large
# and journal_mode=WAL (the database read through mmap, written with pwrite
# by checkpoints, the -shm index mapped shared), under a 512K budget: about
# 5 MiB of inserts, index and scan queries, updates, deletes, VACUUM and
# integrity_check print the same as on the kernel, and the database it
# leaves gives the same answers when opened on the kernel.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd sqlite3
setup

cat >build.sql <<'EOF'
PRAGMA page_size=4096;
PRAGMA mmap_size=268435456;
PRAGMA journal_mode=WAL;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v TEXT);
CREATE INDEX t_k ON t(k);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 8000)
INSERT INTO t SELECT x, printf('%08x', (x * 2654435761) % 4294967296),
	printf('%.200c', char(65 + x % 26)) || hex(x * x) FROM c;
WITH RECURSIVE c(x) AS (SELECT 8001 UNION ALL SELECT x + 1 FROM c WHERE x < 16000)
INSERT INTO t SELECT x, printf('%08x', (x * 2654435761) % 4294967296),
	printf('%.200c', char(97 + x % 26)) || hex(x * x * x) FROM c;
WITH RECURSIVE c(x) AS (SELECT 16001 UNION ALL SELECT x + 1 FROM c WHERE x < 22000)
INSERT INTO t SELECT x, printf('%08x', (x * 40503) % 65536 * 65536 + x % 65536),
	printf('%.180c', char(48 + x % 10)) || hex(x) FROM c;
EOF
cat >query.sql <<'EOF'
PRAGMA mmap_size=268435456;
SELECT count(*), sum(id), sum(length(v)), min(k), max(k) FROM t;
SELECT id, k FROM t ORDER BY k LIMIT 5;
SELECT id, k, substr(v, 195) FROM t WHERE k BETWEEN '80000000' AND '80ffffff' ORDER BY k;
SELECT substr(v, 1, 1), count(*), sum(id) FROM t GROUP BY 1 ORDER BY 1;
SELECT id, length(v) FROM t WHERE v LIKE '%ABC%' ORDER BY id LIMIT 20;
SELECT count(*) FROM t WHERE k > 'c';
EOF
cat >change.sql <<'EOF'
PRAGMA mmap_size=268435456;
UPDATE t SET v = v || '-updated' WHERE id % 7 = 0;
DELETE FROM t WHERE id % 3 = 0;
INSERT INTO t SELECT id + 100000, 'z' || k, upper(v) FROM t WHERE id % 11 = 0;
PRAGMA wal_checkpoint(TRUNCATE);
VACUUM;
PRAGMA integrity_check;
PRAGMA page_count;
PRAGMA journal_mode;
EOF

workload() {
	sqlite3 -batch db <../build.sql &&
		sqlite3 -batch db <../query.sql &&
		sqlite3 -batch db <../change.sql &&
		sqlite3 -batch db <../query.sql &&
		sqlite3 -batch db 'PRAGMA integrity_check;'
}
export -f workload
cd "$WORK/kern" && run_kernel bash -c workload >../kern.out
cd "$WORK/fm" && run_fm 512K bash -c workload >../fm.out
cd "$WORK" || fail "cd $WORK"
same_output kern.out fm.out "the sqlite3 output"
[ "$(tail -n 1 fm.out)" = ok ] || fail "integrity_check under faultmap: $(tail -n 1 fm.out)"
[ "$(size_of fm/db)" -gt $((2 << 20)) ] || fail "the database is only $(size_of fm/db) bytes"
expect_served 524288
expect_stat evictions -gt 0
# The database faultmap left, opened on the kernel.
cd "$WORK/kern" && run_kernel sqlite3 -batch db <../query.sql >../kern.check
cd "$WORK/fm" && run_kernel sqlite3 -batch db <../query.sql >../fm.check
run_kernel sqlite3 -batch db 'PRAGMA integrity_check;' >../fm.integrity
cd "$WORK" || fail "cd $WORK"
same_output kern.check fm.check "queries on the kernel of the database each run left"
[ "$(cat fm.integrity)" = ok ] || fail "integrity_check on the kernel of faultmap's database: $(cat fm.integrity)"

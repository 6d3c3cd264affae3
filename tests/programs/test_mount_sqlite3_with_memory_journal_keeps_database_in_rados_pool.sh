#!/usr/bin/env bash
# test_mount_sqlite3_with_memory_journal_keeps_database_in_rados_pool.sh -
# the sqlite3 shell, unmodified, creates a database DIR/db under
# faultmap run --mount DIR=rados://POOL (a single-node Ceph cluster of the
# test's own), fills it (a table of 20000 rows, an index, an update), and a
# second run queries it: the outputs equal those of the same commands on a
# local file under the kernel, and the object, read back with the rados
# tool, dumps as the kernel's database does. PRAGMA journal_mode=MEMORY:
# no journal object at all (the default rollback journal, an object made
# and unlinked at each commit: test_mount_sqlite3_default_journal_*).
# Both modes, a 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd sqlite3
need_cmd rados ceph
setup
start_ceph

fill="PRAGMA journal_mode=MEMORY;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO t(k, v) SELECT (i * 7919) % 1000, printf('row %d %s', i, hex(i * i)) FROM n;
CREATE INDEX tk ON t(k);
UPDATE t SET v = v || ' updated' WHERE k % 3 = 0;
SELECT count(*), sum(k), max(length(v)) FROM t;"
query="PRAGMA journal_mode=MEMORY;
SELECT k, count(*), min(id), max(v) FROM t WHERE k BETWEEN 100 AND 110 GROUP BY k;
PRAGMA integrity_check;"

cd "$WORK/kern" || fail "cd"
run_kernel sqlite3 db "$fill" >"$WORK/kern.out"
run_kernel sqlite3 db "$query" >>"$WORK/kern.out"
run_kernel sqlite3 db .dump >"$WORK/kern.dump"
cat "$WORK/kern.out" >&2

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	rados -p fm rm db 2>/dev/null
	RUN_OPTS=(--$mode --mount "$WORK/mnt=rados://fm")
	cd "$WORK/fm" || fail "cd"
	run_fm 256K sqlite3 "$WORK/mnt/db" "$fill" >"$WORK/fm.out"
	run_fm 256K sqlite3 "$WORK/mnt/db" "$query" >>"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "sqlite3's output ($mode)"
	expect_served 262144
	rados -p fm get db "$WORK/back.db" || fail "rados get"
	run_kernel sqlite3 "$WORK/back.db" .dump >"$WORK/fm.dump"
	same_output "$WORK/kern.dump" "$WORK/fm.dump" "the database's dump ($mode)"
	rm -f "$WORK/back.db"
done

#!/usr/bin/env bash
# test_mount_sqlite3_default_journal_keeps_database_in_rados_pool.sh - the
# sqlite3 shell, unmodified and with SQLite's default rollback journal
# (journal_mode=DELETE: DIR/db-journal is created, written, fsynced and
# unlinked at each commit), fills a database DIR/db under faultmap run
# --mount DIR=rados://POOL (a single-node Ceph cluster of the test's own):
# 40 transactions of 500 rows, an index, an update, a delete, a rolled
# back delete of everything. Then Python's sqlite3 starts a transaction
# that spills changed pages into the database (a 5-page cache) and dies
# in it (os._exit): a hot journal is left in the pool. A second sqlite3
# process rolls it back and queries the database. Every output equals that
# of the same commands on a local file under the kernel; the pool then
# holds the database, read back with the rados tool it dumps as the
# kernel's does, and no journal object is left. Both modes, a 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd sqlite3
need_cmd rados ceph
need_py sqlite3 python3
setup
start_ceph

{
	echo "PRAGMA journal_mode;"
	echo "CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);"
	for i in $(seq 0 39); do
		echo "WITH RECURSIVE n(i) AS (SELECT $((i * 500 + 1)) UNION ALL SELECT i + 1 FROM n WHERE i < $((i * 500 + 500)))"
		echo "INSERT INTO t(k, v) SELECT (i * 7919) % 1000, printf('row %d %s', i, hex(i * i)) FROM n;"
	done
	echo "CREATE INDEX tk ON t(k);"
	echo "UPDATE t SET v = v || ' updated' WHERE k % 3 = 0;"
	echo "DELETE FROM t WHERE k % 7 = 0;"
	echo "BEGIN; DELETE FROM t; ROLLBACK;"
	echo "SELECT count(*), sum(k), max(length(v)) FROM t;"
} >"$WORK/fill.sql"
query="SELECT count(*) FROM t WHERE v LIKE 'crashed%';
SELECT k, count(*), min(id), max(v) FROM t WHERE k BETWEEN 100 AND 110 GROUP BY k;
PRAGMA integrity_check;"
cat >"$WORK/crash.py" <<'PY'
import os, sqlite3, sys
db = sys.argv[1]
c = sqlite3.connect(db, isolation_level=None)
c.execute("PRAGMA cache_size=5")
c.execute("BEGIN")
c.execute("UPDATE t SET v = 'crashed ' || v")
print("journal during the transaction:", os.path.exists(db + "-journal"))
sys.stdout.flush()
os._exit(0)  # no rollback, no unlink: a hot journal
PY

cd "$WORK/kern" || fail "cd"
run_kernel sqlite3 db <"$WORK/fill.sql" >"$WORK/kern.out"
run_kernel "$PY" "$WORK/crash.py" db >>"$WORK/kern.out"
[ -e db-journal ] || fail "the kernel run left no hot journal: the test checks nothing"
run_kernel sqlite3 db "$query" >>"$WORK/kern.out"
if [ -e db-journal ]; then fail "the kernel run kept its journal"; fi
run_kernel sqlite3 db .dump >"$WORK/kern.dump"
cat "$WORK/kern.out" >&2
grep -qx delete "$WORK/kern.out" || fail "sqlite3's default journal mode is not delete"

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	rados -p fm rm db 2>/dev/null
	rados -p fm rm db-journal 2>/dev/null
	RUN_OPTS=(--$mode --mount "$WORK/mnt=rados://fm")
	cd "$WORK/fm" || fail "cd"
	run_fm 256K sqlite3 "$WORK/mnt/db" <"$WORK/fill.sql" >"$WORK/fm.out"
	run_fm 256K "$PY" "$WORK/crash.py" "$WORK/mnt/db" >>"$WORK/fm.out"
	rados -p fm stat db-journal >&2 || fail "no hot journal in the pool after the crash ($mode)"
	run_fm 256K sqlite3 "$WORK/mnt/db" "$query" >>"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "sqlite3's output ($mode)"
	expect_served 262144 "${STATS_ALL[@]}"
	rados -p fm ls >"$WORK/objects" || fail "rados ls"
	cat "$WORK/objects" >&2
	[ "$(cat "$WORK/objects")" = db ] || fail "the pool holds $(tr '\n' ' ' <"$WORK/objects"), not the database alone ($mode)"
	rados -p fm get db "$WORK/back.db" || fail "rados get"
	run_kernel sqlite3 "$WORK/back.db" .dump >"$WORK/fm.dump"
	same_output "$WORK/kern.dump" "$WORK/fm.dump" "the database's dump ($mode)"
	rm -f "$WORK/back.db"
done

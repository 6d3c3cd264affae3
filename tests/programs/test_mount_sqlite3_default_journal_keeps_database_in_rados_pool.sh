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

sqlite_journal_case 40 500

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
	run_fm 256K sqlite3 "$WORK/mnt/db" "$SQLITE_QUERY" >>"$WORK/fm.out"
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

#!/usr/bin/env bash
# test_mount_sqlite3_default_journal_keeps_database_in_s3_bucket.sh - the
# sqlite3 shell, unmodified and with SQLite's default rollback journal
# (journal_mode=DELETE: DIR/db-journal is created, written, fsynced and
# unlinked at each commit), fills a database DIR/db under faultmap run
# --mount DIR=s3://BUCKET (radosgw on a single-node Ceph cluster of the
# test's own): the objects are created (O_CREAT: an empty PUT), grown by
# write() past their end and deleted. 12 transactions of 200 rows, an
# index, an update, a delete, a rolled back delete of everything. Then
# Python's sqlite3 starts a transaction that spills changed pages into the
# database (a 5-page cache) and dies in it (os._exit): a hot journal is
# left in the bucket. A second sqlite3 process rolls it back and queries
# the database. Every output equals that of the same commands on a local
# file under the kernel; the bucket then holds the database alone, which,
# fetched with curl, dumps as the kernel's does. Each write() is a
# whole-object PUT on S3, hence fewer rows than the RADOS test's. Both
# modes, a 256K budget.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd sqlite3
need_py sqlite3 python3
setup
start_ceph rgw

sqlite_journal_case 12 200
s3 PUT /fmbucket >/dev/null || fail "making the bucket"

keys() {
	s3 GET "/fmbucket?list-type=2" -o "$WORK/list" || fail "listing the bucket"
	grep -o '<Key>[^<]*</Key>' "$WORK/list" | sed 's/<[^>]*>//g'
}

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	s3 DELETE /fmbucket/db >/dev/null || fail "DELETE db"
	s3 DELETE /fmbucket/db-journal >/dev/null || fail "DELETE db-journal"
	RUN_OPTS=(--$mode --mount "$WORK/mnt=s3://fmbucket")
	cd "$WORK/fm" || fail "cd"
	run_fm 256K sqlite3 "$WORK/mnt/db" <"$WORK/fill.sql" >"$WORK/fm.out"
	run_fm 256K "$PY" "$WORK/crash.py" "$WORK/mnt/db" >>"$WORK/fm.out"
	keys | grep -qx db-journal || fail "no hot journal in the bucket after the crash ($mode)"
	run_fm 256K sqlite3 "$WORK/mnt/db" "$SQLITE_QUERY" >>"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "sqlite3's output ($mode)"
	expect_served 262144 "${STATS_ALL[@]}"
	keys >"$WORK/objects"
	cat "$WORK/objects" >&2
	[ "$(cat "$WORK/objects")" = db ] || fail "the bucket holds $(tr '\n' ' ' <"$WORK/objects"), not the database alone ($mode)"
	s3 GET /fmbucket/db -o "$WORK/back.db" || fail "GET db"
	run_kernel sqlite3 "$WORK/back.db" .dump >"$WORK/fm.dump"
	same_output "$WORK/kern.dump" "$WORK/fm.dump" "the database's dump ($mode)"
	rm -f "$WORK/back.db"
done

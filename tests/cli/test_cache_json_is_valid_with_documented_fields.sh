#!/usr/bin/env bash
# test_cache_json_is_valid_with_documented_fields.sh - faultmap cache
# --json prints one JSON object on one line with exactly the fields of
# docs/cli.md's cache table, of their kinds, and the values the text
# report gives: with no daemon (daemon false, nulls), after --touch, for an
# --evict of a range, and for a --lock (its waiting line on stderr).
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
private_daemon_dir
head -c 100000 /dev/urandom >"$TMP/f" # 25 pages, the last one partly
# check ACTION EXPR - $TMP/out is one line of JSON, of the schema, of that
# action, for which the Python expression EXPR (on o) is true.
check() {
	[ "$(wc -l <"$TMP/out")" -eq 1 ] || { cat "$TMP/out"; fail "not one line"; }
	PYTHONPATH=$ROOT/tests/cli "$PY" - "$ROOT/docs/cli.md" "$TMP/out" "$1" "$2" "$TMP/f" <<'PYEOF' ||
import json, sys
from json_schema import tables, check
o = json.loads(open(sys.argv[2]).read())
check(tables(sys.argv[1]), o, "cache")
assert o["faultmap_cache"] == 1 and o["action"] == sys.argv[3], o
assert o["file"] == sys.argv[5] and o["size_bytes"] == 100000, o
assert o["resident_bytes"] == 4096 * o["resident_pages"], o
assert eval(sys.argv[4]), (sys.argv[4], o)
PYEOF
	{ cat "$TMP/out"; fail "cache --json ($1) is not as documented: $2"; }
}
expect_exit 0 "$FM" cache --json "$TMP/f"
check report 'not o["daemon"] and not o["cached"] and o["pages"] == 25 and o["resident_pages"] == 0 and o["budget_pages"] is None and o["read_pages"] is None'
expect_exit 0 "$FM" daemon --budget 4M
expect_exit 0 "$FM" cache --touch --json "$TMP/f"
check touch 'o["daemon"] and o["cached"] and o["read_pages"] == 25 and o["resident_pages"] == 25 and o["evicted_pages"] is None and o["budget_pages"] == 1024 and o["lock_limit_pages"] == 768'
expect_exit 0 "$FM" cache --evict --json --offset 8K --length 8K "$TMP/f"
check evict 'o["first_page"] == 2 and o["pages"] == 2 and o["evicted_pages"] == 2 and o["resident_pages"] == 0 and o["kept_dirty_pages"] == 0 and o["kept_locked_pages"] == 0 and o["writeback_error"] is None and o["read_pages"] is None'
"$FM" cache --lock --json "$TMP/f" >"$TMP/lock.out" 2>"$TMP/lock.err" &
pid=$!
PIDS+=("$pid")
wait_locked "$TMP/lock.err" "$pid"
cp "$TMP/lock.out" "$TMP/out"
check lock 'o["read_pages"] == 2 and o["locked_pages"] == 25 and o["locked_total_pages"] == 25'
kill -TERM "$pid"
wait "$pid" || fail "cache --lock ended by SIGTERM exited $?"
daemon_stop_clean
exit 0

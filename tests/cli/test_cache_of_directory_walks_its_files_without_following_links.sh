#!/usr/bin/env bash
# test_cache_of_directory_walks_its_files_without_following_links.sh -
# faultmap cache DIR acts, as vmtouch does, on every regular file under DIR,
# recursively, and prints the totals: 3 files (one empty) of 27 pages in 2
# directories. Symbolic links in the tree are not followed, neither to a
# directory or file outside it nor back up the tree (a loop), and a FIFO is
# skipped: 4 skipped, and the file outside is never cached. A link to a
# directory named on the command line is followed. With no daemon the report
# says so (exit 0); --touch reads all 27 pages, --evict drops them, --lock
# locks every file until SIGTERM; several PATHs are one total; --json is one
# object of docs/cli.md's cache_tree table, with each file's cache object;
# a missing PATH is named and exits 1 after the others are done.
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
private_daemon_dir
D=$TMP/tree
mkdir -p "$D/sub" "$TMP/outside" || fail mkdir
head -c 100000 /dev/urandom >"$D/f1"      # 25 pages
head -c 8192 /dev/urandom >"$D/sub/f2"    # 2 pages
: >"$D/empty"
head -c 40960 /dev/urandom >"$TMP/outside/o"  # 10 pages, out of the tree
ln -s "$TMP/outside" "$D/sub/linkdir"
ln -s "$TMP/outside/o" "$D/linkfile"
ln -s .. "$D/sub/up"
mkfifo "$D/fifo"
ln -s "$D" "$TMP/treelink"

# totals FILES DIRS SKIPPED RESIDENT/PAGES - the text report's totals.
totals() {
	expect_out "^ +Files: $1( |$)"
	expect_out "^ +Directories: $2\$"
	expect_out "^ +Skipped: $3 "
	expect_out "^ Resident Pages: $4 "
}
expect_exit 0 "$FM" cache "$D"
totals 3 2 4 0/27
expect_out '^ +Cached: no \(no faultmap daemon runs\)$'

expect_exit 0 "$FM" daemon --budget 4M
expect_exit 0 "$FM" cache --touch "$D"
totals '3 \(2 cached by the daemon\)' 2 4 27/27
expect_out '^ +Read: 27 pages \(108\.0 KiB\)$'
expect_exit 0 "$FM" cache "$TMP/outside/o"
expect_out '^ +Cached: no \(the daemon does not cache this file\)$'
expect_exit 0 "$FM" cache "$D/sub/f2"
expect_out '^ Resident Pages: 2/2 '
expect_exit 0 "$FM" cache "$TMP/treelink"
totals 3 2 4 27/27

expect_exit 0 "$FM" cache --json "$D"
[ "$(wc -l <"$TMP/out")" -eq 1 ] || { cat "$TMP/out"; fail "cache --json DIR is not one line"; }
PYTHONPATH=$ROOT/tests/cli "$PY" - "$ROOT/docs/cli.md" "$TMP/out" "$D" <<'PYEOF' || { cat "$TMP/out"; fail "cache --json DIR is not as documented"; }
import json, sys
from json_schema import tables, check
t = tables(sys.argv[1])
o = json.loads(open(sys.argv[2]).read())
d = sys.argv[3]
check(t, o, "cache_tree")
for e in o["entries"]:
    check(t, e, "cache")
assert o["paths"] == [d] and o["action"] == "report" and o["daemon"], o
assert sorted(e["file"] for e in o["entries"]) == [d + "/empty", d + "/f1", d + "/sub/f2"], o
assert (o["files"], o["cached_files"], o["directories"], o["skipped"], o["errors"]) == (3, 2, 2, 4, 0), o
assert o["pages"] == 27 and o["resident_pages"] == 27 and o["resident_bytes"] == 27 * 4096, o
assert o["size_bytes"] == 108192 and o["budget_pages"] == 1024 and o["read_pages"] is None, o
assert sum(e["resident_pages"] for e in o["entries"]) == o["resident_pages"], o
PYEOF

"$FM" cache --lock "$D" >"$TMP/lock.out" 2>&1 &
pid=$!
PIDS+=("$pid")
wait_locked "$TMP/lock.out" "$pid"
grep -Eq '^ +Locked: 27 pages ' "$TMP/lock.out" || { cat "$TMP/lock.out"; fail "cache --lock DIR did not lock 27 pages"; }
expect_exit 0 "$FM" cache "$D/f1"
expect_out '^ +Locked: 25 pages '
expect_exit 0 "$FM" cache "$D/sub/f2"
expect_out '^ +Locked: 2 pages '
kill -TERM "$pid"
wait "$pid" || fail "cache --lock DIR ended by SIGTERM exited $?"
expect_exit 0 "$FM" cache "$D"
expect_out '^ +Locked: 0 pages '

expect_exit 0 "$FM" cache --evict "$D"
totals 3 2 4 0/27
expect_out '^ +Evicted: 27 pages '
expect_exit 0 "$FM" cache --touch "$D/sub" "$TMP/outside/o"
expect_out "^ +Path: $D/sub\$"
totals 2 1 2 12/12
expect_exit 1 "$FM" cache --touch "$D/none" "$D/sub"
expect_out "faultmap cache: $D/none: No such file or directory"
expect_out '^ +Errors: 1 '
totals 1 1 2 2/2
daemon_stop_clean
exit 0

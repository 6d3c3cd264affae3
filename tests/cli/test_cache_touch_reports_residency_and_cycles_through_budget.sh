#!/usr/bin/env bash
# test_cache_touch_reports_residency_and_cycles_through_budget.sh - faultmap
# cache: with no daemon running, the report and --evict say so, cache
# nothing and start none (exit 0); --touch starts the daemon and reads the
# file in (256/256 pages resident), and the pages stay cached after the
# command; a range (--offset/--length, rounded out to pages) reports only
# its pages; --evict of a range drops exactly its pages; --touch of a file
# bigger than the budget (2 MiB: 512 pages) cycles through it and leaves
# at most the budget resident; a device or a missing file is an error
# (exit 1; a directory is walked: test_cache_of_directory_walks_its_files_
# without_following_links.sh); two actions are a usage error (exit 2).
. "$(dirname "$0")/lib.sh"
private_daemon_dir
head -c 1048576 /dev/urandom >"$TMP/f"
head -c 4194304 /dev/urandom >"$TMP/big"

expect_exit 0 "$FM" cache "$TMP/f"
expect_out '^ +Cached: no \(no faultmap daemon runs\)$'
expect_out '^ Resident Pages: 0/256  0 B/1\.0 MiB  0%$'
expect_exit 0 "$FM" cache --evict "$TMP/f"
expect_out 'no faultmap daemon runs'
expect_exit 0 "$FM" doctor
expect_out '^daemon +not running'

expect_exit 0 "$FM" daemon --budget 2M
expect_exit 0 "$FM" cache "$TMP/f"
expect_out '^ +Cached: no \(the daemon does not cache this file\)$'
expect_exit 0 "$FM" cache --touch "$TMP/f"
expect_out '^ +Cached: yes$'
expect_out '^ Resident Pages: 256/256  1\.0 MiB/1\.0 MiB  100%$'
expect_out '^ +Read: 256 pages \(1\.0 MiB\)$'
expect_exit 0 "$FM" cache "$TMP/f"
expect_out '^ Resident Pages: 256/256 '
expect_exit 0 "$FM" cache --offset 5000 --length 4096 "$TMP/f"
expect_out '^ +Range: pages 1-2 \(2 pages\)$'
expect_out '^ Resident Pages: 2/2 '
expect_exit 0 "$FM" cache --evict --offset 64K --length 128K "$TMP/f"
expect_out '^ +Evicted: 32 pages \(128\.0 KiB\)$'
expect_out '^ Resident Pages: 0/32 '
expect_exit 0 "$FM" cache "$TMP/f"
expect_out '^ Resident Pages: 224/256 '

expect_exit 0 "$FM" cache --touch "$TMP/big"
expect_out '^ +Read: 1024 pages '
r=$(sed -nE 's/^ Resident Pages: ([0-9]+)\/1024 .*/\1/p' "$TMP/out")
[ -n "$r" ] && [ "$r" -gt 0 ] && [ "$r" -le 512 ] || { cat "$TMP/out"; fail "resident after touching 4 MiB with a 2 MiB budget: '$r'"; }
expect_exit 0 "$FM" cache "$TMP/f"
r=$(sed -nE 's/^ Resident Pages: ([0-9]+)\/256 .*/\1/p' "$TMP/out")
[ -n "$r" ] && [ "$r" -lt 224 ] || { cat "$TMP/out"; fail "the scan of big evicted nothing of f: '$r'"; }

expect_exit 1 "$FM" cache /dev/null
expect_out 'not a regular file'
expect_exit 1 "$FM" cache "$TMP/none"
expect_out 'No such file'
expect_exit 2 "$FM" cache --touch --evict "$TMP/f"
expect_exit 2 "$FM" cache --length 0 "$TMP/f"
expect_exit 2 "$FM" cache
daemon_stop_clean
exit 0

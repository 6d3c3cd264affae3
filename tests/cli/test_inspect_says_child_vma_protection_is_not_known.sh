#!/usr/bin/env bash
# The engine reads the protection of its vmas from its own /proc/self/maps,
# so it does not know a forked child's: faultmap inspect says so in words
# ("protection not known: a forked child's vma", where it printed a bare
# "?"), in the text and in the SVG, and --json gives null. fm_mapper --fork
# keeps a child (mm 1) with both mappings. Skips without fork events.
set -u
. "$(dirname "$0")/lib.sh"
# Embedded mode's limit: in daemon mode the child is a client of its own,
# whose protection the daemon reads (test_stat_rows_of_daemon_clients_...).
export FAULTMAP_MODE=embedded
start_published_mapper --fork
pid=$BG_PID
expect_exit 0 "$FM" inspect "$pid" --svg "$TMP/pic.svg"
grep -q ', mm 1, ' "$TMP/out" || { echo "skip: no forked child's vma (no fork events here)"; exit 77; }
expect_out "mm 1, private \\(protection not known: a forked child's vma\\)"
expect_out "mm 1, shared \\(protection not known: a forked child's vma\\)"
expect_out "mm 0, shared rw\$"
grep -q ' ?' "$TMP/out" && { cat "$TMP/out"; fail "inspect still prints a bare ?"; }
grep -q "mm 1, shared (protection not known: a forked child's vma)" "$TMP/pic.svg" || fail "the SVG does not say it"
expect_exit 0 "$FM" inspect "$pid" --json
grep -q '"mm":1,[^}]*"prot":null' "$TMP/out" || { cat "$TMP/out"; fail "--json does not give null"; }
touch "$TMP/stop"
wait "$pid" || fail "fm_mapper failed"
exit 0

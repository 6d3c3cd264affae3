#!/usr/bin/env bash
# A setuid-root program linked with libfaultmap, started by an unprivileged
# user with FAULTMAP_STATS_FILE, FAULTMAP_TRACE_FD and FAULTMAP_PUBLISH set,
# ignores them (secure_getenv): it creates no stats file as root, writes
# nothing to the fd, and says on stderr that it ignored them. The same
# binary without the setuid bit honours them (so the check can fail).
# Needs root (to make the binary setuid and to become nobody).
set -u
. "$(dirname "$0")/lib.sh"
setuid_dir

setuid_run_as_nobody() {
	as_nobody env FAULTMAP_PUBLISH=1 FAULTMAP_STATS_FILE="$D/stats" FAULTMAP_TRACE_FD=3 \
		"$D/fm-mapper" --once "$D" 3>"$D/trace" >"$TMP/out" 2>&1
}

# Control: not setuid, run as root with the variables: they are honoured.
chmod 0755 "$D/fm-mapper"
env FAULTMAP_PUBLISH=1 FAULTMAP_STATS_FILE="$D/stats" FAULTMAP_TRACE_FD=3 \
	"$D/fm-mapper" --once "$D" 3>"$D/trace" >"$TMP/out" 2>&1
rc=$?
[ "$rc" -eq 77 ] && { echo "skip: faultmap cannot start here"; exit 77; }
[ "$rc" -eq 0 ] || { cat "$TMP/out"; fail "fm_mapper exited $rc"; }
grep -q '^stats pid=' "$D/stats" || fail "control: no stats line written"
grep -q '^fault ' "$D/trace" || fail "control: no trace written"
rm -f "$D/stats" "$D/trace" "$D/data.bin"

# setuid root, started by nobody: the variables are ignored.
chmod 4755 "$D/fm-mapper"
setuid_run_as_nobody
rc=$?
[ "$rc" -eq 0 ] || { cat "$TMP/out"; fail "setuid fm_mapper exited $rc"; }
grep -q '^ready ' "$TMP/out" || { cat "$TMP/out"; fail "setuid fm_mapper did not map"; }
[ ! -e "$D/stats" ] || fail "a setuid program created FAULTMAP_STATS_FILE as $(stat -c %U "$D/stats")"
[ ! -s "$D/trace" ] || fail "a setuid program wrote to FAULTMAP_TRACE_FD"
expect_out '^faultmap: FAULTMAP_STATS_FILE ignored: setuid or setgid program$'
expect_out '^faultmap: FAULTMAP_TRACE_FD ignored: setuid or setgid program$'
expect_out '^faultmap: FAULTMAP_PUBLISH ignored: setuid or setgid program$'
exit 0

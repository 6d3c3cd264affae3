#!/usr/bin/env bash
# faultmap doctor --json prints one JSON object (python3 -m json.tool parses
# it) with exactly the fields of docs/cli.md's doctor table, of their kinds;
# its "report" is the text report line for line, can_serve agrees with the
# exit status (the same as without --json), and the kernel is uname -r's.
# As root with a second user who may not use userfaultfd, that user's
# report says can_serve false and why.
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
"$FM" doctor >"$TMP/text" 2>/dev/null
rc=$?
"$FM" doctor --json >"$TMP/out" 2>/dev/null
[ $? -eq "$rc" ] || fail "doctor --json exits otherwise than doctor ($rc)"
"$PY" -m json.tool "$TMP/out" >/dev/null || { cat "$TMP/out"; fail "doctor --json is not JSON"; }
[ "$(wc -l <"$TMP/out")" -eq 1 ] || fail "doctor --json is not one line"
check() { # check FILE-JSON FILE-TEXT EXIT-STATUS
	PYTHONPATH=$ROOT/tests/cli "$PY" - "$ROOT/docs/cli.md" "$@" "$(uname -r)" <<'PYEOF' || { cat "$1"; fail "doctor --json does not match docs/cli.md or the text"; }
import json, sys
from json_schema import tables, check
o = json.load(open(sys.argv[2]))
check(tables(sys.argv[1]), o, "doctor")
text = open(sys.argv[3]).read().split("\n")[:-1]
assert o["report"] == text, (o["report"], text)
assert o["can_serve"] == (sys.argv[4] == "0"), o["can_serve"]
assert o["kernel"] == sys.argv[5], o["kernel"]
assert o["faultmap_doctor"] == 1 and o["ram_bytes"] > 0 and o["default_budget_bytes"] > 0
assert o["userfaultfd_ok"] == (o["userfaultfd_error"] is None)
PYEOF
}
check "$TMP/out" "$TMP/text" "$rc"
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
	[ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" = 0 ] &&
	! as_nobody test -r /dev/userfaultfd 2>/dev/null && nobody_reaches_build; then
	as_nobody env -u XDG_RUNTIME_DIR "$FM" doctor >"$TMP/text" 2>/dev/null
	as_nobody env -u XDG_RUNTIME_DIR "$FM" doctor --json >"$TMP/out" 2>/dev/null
	[ $? -eq 1 ] || fail "nobody's doctor --json does not exit 1"
	check "$TMP/out" "$TMP/text" 1
	grep -q '"userfaultfd_error":"Operation not permitted"' "$TMP/out" || fail "no userfaultfd_error for nobody"
fi
exit 0

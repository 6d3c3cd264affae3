#!/usr/bin/env bash
# The segment's layout is versioned (the last byte of its magic): faultmap
# stat does not read a segment of another version as its own; it names the
# process and the version on stderr and goes on. Here a copy of a real
# segment, for another live process of this user, says version 3.
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
start_published_mapper
pid=$BG_PID
stat_until "^$pid "
sleep 30 & other=$!; PIDS+=($other)
dir=$TMP/run/faultmap
"$PY" - "$dir/faultmap.$pid" "$dir/faultmap.$other" "$other" <<'PYEOF' || fail "cannot plant"
import os, struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
assert b[0:8] == b"FFMPPUB2"
b[7:8] = b"3"
b[16:20] = struct.pack("<i", int(sys.argv[3]))
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, bytes(b))
PYEOF
"$FM" stat >"$TMP/out" 2>"$TMP/err" || fail "stat failed"
grep -q "^faultmap: pid $other publishes its counters in layout version 3; this faultmap reads version 2" "$TMP/err" ||
	{ cat "$TMP/err"; fail "stat does not name the other version"; }
expect_out "^$pid +fm-mapper "
grep -Eq "^$other " "$TMP/out" && fail "stat read a segment of another version"
touch "$TMP/stop"
wait "$pid" || fail "fm_mapper failed"
exit 0

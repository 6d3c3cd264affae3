#!/usr/bin/env bash
# faultmap stat reads a segment only if the process it names wrote it:
# planted copies of a real segment (renamed "PLANTED") are not shown when
#  - the process named is another user's (the segment is in root's
#    directory),
#  - the file is owned by another user than the process,
#  - the pid inside is not the one in the name,
#  - it is in /dev/shm, where any user can create files.
# The real segment is shown. Needs root (to act as a second user).
set -u
. "$(dirname "$0")/lib.sh"
require_second_user
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
build_mapper
mkdir -m 0700 "$TMP/run"
export XDG_RUNTIME_DIR=$TMP/run
dir=$TMP/run/faultmap
FAULTMAP_PUBLISH=1 start_bg "$TMP/mapper.log" "$MAPPER" "$TMP"
pid=$BG_PID
sleep 0.5
[ -f "$dir/faultmap.$pid" ] || fail "no segment $dir/faultmap.$pid"

sleep 30 & root1=$!; PIDS+=($root1)
sleep 30 & root2=$!; PIDS+=($root2)
# (not the as_nobody function: $! must be the process of nobody itself)
setpriv --reuid=nobody --regid=nogroup --clear-groups sleep 30 & other=$!; PIDS+=($other)
sleep 0.2

# plant SRC DEST PID - a copy of the real segment with PID inside and the
# program name PLANTED.
plant() {
	"$PY" - "$1" "$2" "$3" <<'PYEOF'
import struct, sys
src, dest, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = bytearray(open(src, "rb").read())
b[16:20] = struct.pack("<i", pid)        # pid
b[32:64] = b"PLANTED".ljust(32, b"\0")  # comm
open(dest, "wb").write(b)
PYEOF
}
plant "$dir/faultmap.$pid" "$dir/faultmap.$other" "$other"
plant "$dir/faultmap.$pid" "$dir/faultmap.$root1" "$root1"
chown nobody "$dir/faultmap.$root1"
plant "$dir/faultmap.$pid" "$dir/faultmap.$root2" "$((root2 + 1))"
plant "$dir/faultmap.$pid" "/dev/shm/faultmap.$root2" "$root2"
trap 'cleanup; rm -f "/dev/shm/faultmap.$root2"' EXIT

expect_exit 0 "$FM" stat
expect_out "^$pid +fm-mapper "
grep -q PLANTED "$TMP/out" && { cat "$TMP/out"; fail "stat showed a planted segment"; }
exit 0

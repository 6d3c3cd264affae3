#!/usr/bin/env bash
# The inspect socket of a process answers only its own user and root
# (SO_PEERCRED): a client of another uid that reaches the socket (here the
# directory's and the socket's modes are opened up by hand, to get past the
# first wall) gets "error permission denied" and none of the process's
# data, while root's client gets the dump. faultmap inspect run by another
# user refuses up front, and faultmap stat run by another user does not
# list the process. Needs root (to act as nobody).
set -u
. "$(dirname "$0")/lib.sh"
require_second_user
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
build_mapper

shared_dir peer 0700
export XDG_RUNTIME_DIR=$D
FAULTMAP_PUBLISH=1 start_bg "$TMP/mapper.log" "$MAPPER" "$TMP"
pid=$BG_PID
sock=$D/faultmap/faultmap.$pid.sock
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "no socket $sock"

ASK='
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b"inspect\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode(errors="replace"))
'

# Root: answered.
expect_exit 0 "$PY" -c "$ASK" "$sock"
expect_out '^faultmap-inspect 1$'

# Another uid past the file permissions: refused by the peer check.
chmod 0711 "$D" "$D/faultmap"
chmod 0666 "$sock"
expect_exit 0 as_nobody "$PY" -c "$ASK" "$sock"
expect_out '^error permission denied$'
grep -q 'faultmap-inspect\|data.bin\|^vma ' "$TMP/out" && { cat "$TMP/out"; fail "another user got the dump"; }

# The CLI as another user: refused before asking; stat does not list it.
expect_exit 1 as_nobody env -u XDG_RUNTIME_DIR "$FM" inspect "$pid"
expect_out "^faultmap: process $pid belongs to uid 0: only that user or root can inspect it$"
expect_exit 0 as_nobody env -u XDG_RUNTIME_DIR "$FM" stat
grep -Eq "^$pid " "$TMP/out" && { cat "$TMP/out"; fail "nobody's stat lists root's process"; }
exit 0

#!/usr/bin/env bash
# faultmap inspect PID talks only to PID itself: a socket at PID's name
# that another process listens on (here a fake server that answers a
# made-up dump) is refused (SO_PEERCRED), and nothing it says is printed.
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || { echo "skip: no $PY"; exit 77; }
mkdir -m 0700 "$TMP/run" "$TMP/run/faultmap"
export XDG_RUNTIME_DIR=$TMP/run
sleep 30 & target=$!; PIDS+=($target)
FAKE='
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.recv(64)
    c.sendall(b"faultmap-inspect 1\npid %d\nbudget_pages 1\nfile 0 dev=0:0 ino=1 size=4096 pages=1 resident=1 dirty=0 path=/FAKE\npages 0 R1\nend\n" % int(sys.argv[2]))
    c.close()
'
start_bg "$TMP/fake.log" "$PY" -c "$FAKE" "$TMP/run/faultmap/faultmap.$target.sock" "$target"
expect_exit 1 timeout 20 "$FM" inspect "$target"
expect_out "faultmap: $TMP/run/faultmap/faultmap.$target.sock is not served by process $target"
grep -q FAKE "$TMP/out" && { cat "$TMP/out"; fail "printed the fake answer"; }
exit 0

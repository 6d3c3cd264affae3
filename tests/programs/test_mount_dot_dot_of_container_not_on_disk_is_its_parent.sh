#!/usr/bin/env bash
# test_mount_dot_dot_of_container_not_on_disk_is_its_parent.sh - under
# faultmap run --mount DIR=file:///STORE (a container) with DIR not on
# disk, DIR/.. is DIR's parent, as under a real mount: `ls -la DIR`
# (which stats DIR/..) lists . and .. and the files and succeeds, where
# the kernel, walking DIR/.., found no DIR (ENOENT); stat, open, opendir
# and an fopen of DIR/../NAME and DIR/x/../../NAME reach the file beside
# DIR, and DIR/../DIR/.. is DIR's parent again. A path that stays in DIR
# (DIR/x/../name) is still the store's. Both modes. (The RADOS listing
# test checks DIR/.. of a pool mount.)
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || skip "$PY not installed (apt-get install python3)"
setup

mkdir -p "$WORK/store" || fail "mkdir"
echo "in the store" >"$WORK/store/name"
echo "beside the mount" >"$WORK/fm/beside"

cat >"$WORK/checks.py" <<'PY'
import os, sys
from errno_of import errno_of
mnt = sys.argv[1]  # relative to the current directory, which holds "beside"
here = os.stat(".")
for p in ("..", "../", "../.", "x/../..", "../" + mnt + "/.."):
    st = os.stat(mnt + "/" + p)
    print(p, "is the parent:", (st.st_dev, st.st_ino) == (here.st_dev, here.st_ino))
print("beside:", open(mnt + "/../beside").read().strip())
print("x/../../beside:", open(mnt + "/x/../../beside").read().strip())
print("x/../name:", open(mnt + "/x/../name").read().strip())
print("listdir ..:", "beside" in os.listdir(mnt + "/.."))
print("../missing", errno_of(lambda: os.stat(mnt + "/../missing")))
print("../beside/", errno_of(lambda: os.stat(mnt + "/../beside/")))
PY
cat >"$WORK/checks.want" <<'WANT'
.. is the parent: True
../ is the parent: True
../. is the parent: True
x/../.. is the parent: True
../d/.. is the parent: True
beside: beside the mount
x/../../beside: beside the mount
x/../name: in the store
listdir ..: True
../missing ENOENT
../beside/ ENOTDIR
WANT

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	[ ! -e "$WORK/fm/d" ] || fail "d is on disk"
	RUN_OPTS=(--$mode --mount "$WORK/fm/d=file://$WORK/store")
	cd "$WORK/fm" && PYTHONPATH=$_LIB_DIR run_fm 64K "$PY" "$WORK/checks.py" d >"$WORK/checks.out"
	cat "$WORK/checks.out" >&2
	same_output "$WORK/checks.want" "$WORK/checks.out" "the checks ($mode)"
	run_fm 64K ls -la d >"$WORK/ls.out"
	cat "$WORK/ls.out" >&2
	awk '{print $NF}' "$WORK/ls.out" | tail -n +2 >"$WORK/ls.names"
	printf '.\n..\nname\n' >"$WORK/ls.want"
	same_output "$WORK/ls.want" "$WORK/ls.names" "ls -la d ($mode)"
done

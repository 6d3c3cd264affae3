#!/usr/bin/env bash
# test_mount_dot_dot_never_leaves_the_mounted_directory.sh - under
# faultmap run --mount DIR=file:///STORE/inner, DIR/NAME is STORE/inner/NAME
# (read and mapped through faultmap), and a path with ".." is normalised
# before it is mapped: DIR/../secret and DIR/a/../../secret are not
# STORE/secret (which exists) but the kernel's paths beside DIR, which do
# not exist (ENOENT), while DIR/a/../name is DIR/name. A missing name is
# ENOENT; one with a trailing slash is ENOTDIR. Both modes.
set -u
. "$(dirname "$0")/lib.sh"
[ -x "$PY" ] || skip "$PY not installed (apt-get install python3)"
setup

mkdir -p "$WORK/store/inner" || fail "mkdir"
gen_file "$WORK/store/inner/name" 300000 inner
echo "not to be reached through the mount" >"$WORK/store/secret"

cat >"$WORK/checks.py" <<'PY'
import mmap, os, sys
from errno_of import errno_of
mnt, real = sys.argv[1], sys.argv[2]
want = open(real, "rb").read()

for p in ("../secret", "a/../../secret", "./../secret", "missing", "name/"):
    print(p, errno_of(lambda: open(mnt + "/" + p, "rb")))
print("stat ../secret", errno_of(lambda: os.stat(mnt + "/../secret")))
with open(mnt + "/a/../name", "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    print("a/../name mapped: same as the file", m[:] == want)
    m.close()
PY
cat >"$WORK/checks.want" <<'WANT'
../secret ENOENT
a/../../secret ENOENT
./../secret ENOENT
missing ENOENT
name/ ENOTDIR
stat ../secret ENOENT
a/../name mapped: same as the file True
WANT

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	RUN_OPTS=(--$mode --mount "$WORK/mnt=file://$WORK/store/inner")
	cd "$WORK/fm" && PYTHONPATH=$_LIB_DIR run_fm 64K "$PY" "$WORK/checks.py" "$WORK/mnt" "$WORK/store/inner/name" >"$WORK/checks.out"
	cat "$WORK/checks.out" >&2
	same_output "$WORK/checks.want" "$WORK/checks.out" "the checks ($mode)"
	expect_served 65536
done

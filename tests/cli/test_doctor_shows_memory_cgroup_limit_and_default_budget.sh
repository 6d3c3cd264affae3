#!/usr/bin/env bash
# faultmap doctor in a memory cgroup limited to 256 MiB names the limit and
# the cgroup, and gives the default budget the engine would take there:
# 128.0 MiB, half of the limit (not of RAM). With FAULTMAP_BUDGET=1G it
# says that such a budget does not fit with faultmap's own memory. Needs
# root and a memory controller (cgroup v2 at /sys/fs/cgroup, or v1's memory
# hierarchy); the cgroup is made at the hierarchy's top and removed.
set -u
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root to make a memory cgroup"; exit 77; }
if grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
	CG=/sys/fs/cgroup/faultmap-doctor-test.$$ LIMIT_FILE=memory.max
elif [ -d /sys/fs/cgroup/memory ] && [ -w /sys/fs/cgroup/memory ]; then
	CG=/sys/fs/cgroup/memory/faultmap-doctor-test.$$ LIMIT_FILE=memory.limit_in_bytes
else
	echo "skip: no memory cgroup controller to use"; exit 77
fi
mkdir "$CG" || { echo "skip: cannot make $CG"; exit 77; }
trap 'cleanup; rmdir "$CG" 2>/dev/null' EXIT
echo $((256 << 20)) >"$CG/$LIMIT_FILE" || fail "cannot limit $CG"
in_cgroup() { sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG" "$@"; }

expect_exit 0 in_cgroup env -u FAULTMAP_BUDGET "$FM" doctor
expect_out "^memory +RAM [0-9.]+ [KMGT]iB; memory cgroup limit 256\.0 MiB \(.*faultmap-doctor-test\.$$\)$"
expect_out '^budget +default 128\.0 MiB: half of the cgroup.s limit$'
expect_exit 0 in_cgroup env FAULTMAP_BUDGET=1G "$FM" doctor
expect_out '^ +FAULTMAP_BUDGET=1G: 1\.0 GiB, DOES NOT FIT with faultmap.s own memory'
exit 0

#!/usr/bin/env bash
# faultmap doctor, where faultmap can serve mappings (root), says so and
# exits 0, one line per thing faultmap depends on, each with this machine's
# value: the kernel release, userfaultfd access, the features faultmap
# needs and fork events (root holds CAP_SYS_PTRACE), io_uring, the shmem
# THP settings (as sysfs has them), the memory and the default budget, the
# runtime directory, and whether the
# daemon runs, naming daemon mode the default (and FAULTMAP_MODE=embedded
# the other): both when it runs and when it does not. Needs root.
set -u
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (faultmap doctor as another user: test_doctor_without_permission_names_the_fix)"; exit 77; }
expect_exit 0 env -u XDG_RUNTIME_DIR "$FM" doctor
expect_out "^faultmap doctor: faultmap [0-9]+\.[0-9]+"
expect_out "^user +uid 0, gid 0 \(root\)$"
expect_out "^kernel +$(uname -r | sed 's/[.+]/\\&/g'): ok \(6\.1 or later\)$"
expect_out '^userfaultfd +ok: this user may use it$'
expect_out "^  sysctl +vm\.unprivileged_userfaultfd = $(cat /proc/sys/vm/unprivileged_userfaultfd)"
expect_out '^  features +shmem missing yes, shmem write-protect yes, thread id yes$'
expect_out '^  fork events +yes: forked children are served by faultmap$'
expect_out '^io_uring +(ok|unavailable)'
thp=/sys/kernel/mm/transparent_hugepage/shmem_enabled
if [ -r "$thp" ]; then
	expect_out "^shmem THP +shmem_enabled $(sed 's/.*\[\(.*\)\].*/\1/' "$thp")"
	for f in /sys/kernel/mm/transparent_hugepage/hugepages-*kB/shmem_enabled; do
		[ -r "$f" ] || continue
		v=$(sed 's/.*\[\(.*\)\].*/\1/' "$f")
		size=${f#*hugepages-}; size=${size%%/*}
		[ "$v" = never ] || expect_out "^shmem THP .*, $size $v(,|$)"
	done
fi
expect_out '^memory +RAM [0-9.]+ [KMGT]iB; '
expect_out '^budget +default [0-9.]+ [KMGT]iB: half of '
expect_out '^runtime dir +/run/faultmap: ok \(yours, mode 0700\)$'
expect_out '^daemon +(not running|running, pid [0-9]+)'
expect_out '^=> faultmap can serve mappings for this user\.$'
mode='\(daemon mode, the default; FAULTMAP_MODE=embedded: a cache of (its|their) own\)$'
private_daemon_dir
expect_exit 0 "$FM" doctor
expect_out "^daemon +not running: your first program under faultmap starts it $mode"
expect_exit 0 "$FM" daemon
expect_exit 0 "$FM" doctor
expect_out "^daemon +running, pid [0-9]+ \(.*\): your programs share its cache $mode"
expect_exit 0 "$FM" daemon --stop
[ "$(wc -l <"$TMP/out")" -le 24 ] || { cat "$TMP/out"; fail "more than one screen"; }
expect_exit 2 "$FM" doctor --bogus
exit 0

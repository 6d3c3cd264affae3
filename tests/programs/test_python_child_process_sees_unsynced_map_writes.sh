#!/usr/bin/env bash
# test_python_child_process_sees_unsynced_map_writes.sh - python3 writes a
# 4 MiB file through a shared mapping (budget 256K) and, without flush or
# close, runs other programs on it: a subprocess (fork + exec of
# sha256sum, which read()s the file) and os.execv of a shell that runs
# sha256sum. On Linux both see the mapping's writes (one page cache); the
# outputs must equal the kernel run's. In embedded mode, then in daemon mode.
set -u
. "$(dirname "$0")/lib.sh"
need_py mmap python3
need_cmd sha256sum coreutils
setup

cat >prog.py <<'EOF'
import mmap, os, subprocess, sys
M = 1 << 20
fd = os.open("data.bin", os.O_RDWR)
mm = mmap.mmap(fd, 4 * M)
for i in range(0, 4 * M, 8192):                 # every other page, dirty
    mm[i:i + 16] = b"written-by-map-%d" % (i % 10)
mm[2 * M:3 * M] = b"\x5a" * M
sys.stdout.flush()
subprocess.run(["sha256sum", "data.bin"], check=True)
mm[M:M + 4] = b"more"
sys.stdout.flush()
os.execv("/bin/sh", ["sh", "-c", "sha256sum data.bin; echo done"])
EOF

# run_and_check - both runs on fresh copies of the file; the same outputs.
run_and_check() {
	gen_files data.bin $((4 << 20)) child
	cd "$WORK/kern" && run_kernel "$PY" ../prog.py >../kern.out
	cd "$WORK/fm" && run_fm 256K "$PY" ../prog.py >../fm.out
	cd "$WORK" || fail "cd $WORK"
	same_output kern.out fm.out "the checksums the child processes printed"
	same_file data.bin
	expect_served 262144
}

run_and_check
expect_stat write_faults -gt 0
expect_stat evictions -gt 0

# Daemon mode: the dirty pages are the daemon's, and outlive the image;
# exec (and the vfork child's exec) writes them to the file first.
use_daemon
run_and_check

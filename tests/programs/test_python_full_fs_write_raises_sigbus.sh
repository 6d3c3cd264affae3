#!/usr/bin/env bash
# test_python_full_fs_write_raises_sigbus.sh - python3's mmap module fills a
# sparse 4 MiB file on a full file system (a 1 MiB tmpfs) through a shared
# mapping, msyncing each page as it goes. The kernel kills it with SIGBUS at
# the first page the file system has no room for (its page_mkwrite reserves
# the blocks); under `faultmap run` it must die the same way at the same
# page, and the file must hold exactly what the kernel run's holds, never
# exit 0 with the data lost. Needs root to mount the tmpfs.
set -u
. "$(dirname "$0")/lib.sh"
need_py mmap python3
setup
[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"

mounted=()
unmount_all() {
	local rc=$?
	local m
	for m in "${mounted[@]}"; do
		umount -l "$m" 2>/dev/null
	done
	(exit $rc)
	_finish
}
trap unmount_all EXIT

cat >prog.py <<'EOF'
import mmap, os, sys
fd = os.open("fs/data.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
size = 4 << 20
os.ftruncate(fd, size)                      # sparse: no blocks yet
mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
import ctypes
addr = ctypes.addressof(ctypes.c_char.from_buffer(mm))
for line in open("/proc/self/maps"):         # who maps it: the file, or faultmap
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    if lo <= addr < hi:
        print("mapped from:", line.split()[5] if len(line.split()) > 5 else "?", file=sys.stderr)
for page in range(size // 4096):
    print("writing page", page, flush=True)
    mm[page * 4096:(page + 1) * 4096] = bytes([page % 251 + 1]) * 4096
    mm.flush(page * 4096, 4096)
print("all written: the file system was not full")
EOF

for run in kern fm; do
	mkdir -p "$WORK/$run/fs"
	mount -t tmpfs -o size=1m faultmap-test "$WORK/$run/fs" ||
		skip "cannot mount a tmpfs here"
	mounted+=("$WORK/$run/fs")
done
cd "$WORK/kern" && env -u LD_PRELOAD "$PY" ../prog.py >../kern.out 2>../kern.err
kern_rc=$?
cd "$WORK/fm" && "$FM" run --budget 64M -- "$PY" ../prog.py >../fm.out 2>../fm.err
fm_rc=$?
cd "$WORK" || fail "cd $WORK"
# A process killed by a signal writes no stats line: /proc/self/maps says
# who served the mapping.
grep -q "^mapped from: /memfd:faultmap" fm.err || fail "faultmap did not serve the mapping: $(cat fm.err)"
note "kernel: exit $kern_rc, $(tail -n 1 kern.out); faultmap: exit $fm_rc, $(tail -n 1 fm.out)"
[ "$kern_rc" = $((128 + 7)) ] || fail "the kernel run did not die of SIGBUS (exit $kern_rc)"
[ "$fm_rc" = "$kern_rc" ] || { cat fm.err >&2; fail "faultmap run: exit $fm_rc, the kernel's $kern_rc"; }
same_output kern.out fm.out "the program's output (the page that raised SIGBUS)"
same_output kern/fs/data.bin fm/fs/data.bin "data.bin after the run"

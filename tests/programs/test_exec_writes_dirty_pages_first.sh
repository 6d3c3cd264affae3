#!/usr/bin/env bash
# A program that writes through a shared mapping and then execs (no msync,
# no munmap) loses nothing: the interposer writes every dirty page to the
# file before the exec, and the new program (served too, as it inherits
# LD_PRELOAD) reads the data back through a mapping of its own.
. "$(dirname "$0")/lib.sh"
need_py mmap python3
setup
WRITER='
import mmap, os, sys
fd = os.open("data.bin", os.O_RDWR | os.O_CREAT)
os.ftruncate(fd, 1 << 20)
m = mmap.mmap(fd, 1 << 20)
for i in range(0, 1 << 20, 4096):
    m[i:i + 8] = b"page%04d" % (i // 4096)
os.execv(sys.executable, [sys.executable, "-c", sys.argv[1]])
'
READER='
import mmap, os, hashlib
fd = os.open("data.bin", os.O_RDONLY)
m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
print(m[4096 * 200:4096 * 200 + 8], hashlib.sha1(m[:]).hexdigest())
'
cd "$WORK/kern" && run_kernel "$PY" -c "$WRITER" "$READER" >"$WORK/kern.out"
cd "$WORK/fm" && run_fm 256K "$PY" -c "$WRITER" "$READER" >"$WORK/fm.out"
same_output "$WORK/kern.out" "$WORK/fm.out" "what the exec'd program read"
same_output "$WORK/kern/data.bin" "$WORK/fm/data.bin" "data.bin"
grep -q "b'page0200'" "$WORK/fm.out" || fail "the exec'd program did not see the writes"
# Two processes images wrote a stats line: the writer (before exec) and the
# reader; the writer's pages reached the file before the exec.
[ "$(grep -c '^stats ' "$STATS")" -ge 2 ] || fail "expected a stats line from both images"
expect_stat pages_written -ge 256
exit 0

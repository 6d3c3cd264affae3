#!/usr/bin/env bash
# test_mount_stdio_fopen_fdopen_and_std_streams_use_object.sh - stdio on
# an object under faultmap run --mount reads and writes the object, not the
# empty local stand-in (glibc's FILE calls the kernel itself: the
# interposer's fopen, fdopen and standard streams are fopencookie FILEs of
# the mount layer's calls):
#  - a C program (mount_stdio.c): fopen "r" (fstat of fileno, fgets, fseek,
#    fread, ftell), "r+" (fprintf, fflush, read back), fdopen, fopen64, a
#    missing name;
#  - unmodified programs: sha256sum and sort (fopen), cksum of its standard
#    input redirected from the object, printf (stdio) to a standard output
#    that is the object;
# each compared line for line with the kernel on a local copy, and the NBD
# export's file (nbdkit's file plugin) with that copy after; and freopen of
# the object fails with EOPNOTSUPP (its FILE cannot become one of the
# object), never reading the stand-in. In embedded and in daemon mode,
# under a 256K budget (the export is 1 MiB).
set -u
. "$(dirname "$0")/lib.sh"
need_cmd nbdkit
setup
build_c mount_stdio.c

# 1 MiB of text lines of varying length.
"$PY" - "$WORK/orig.txt" <<'PYEOF' || fail "text file"
import hashlib, sys
out, n, i = [], 0, 0
while n < 1048576:
    line = hashlib.sha256(str(i).encode()).hexdigest()[: 5 + i % 60] + "\n"
    out.append(line); n += len(line); i += 1
open(sys.argv[1], "w").write("".join(out)[:1048576])
PYEOF

cat >"$WORK/shell.sh" <<'SHEOF'
obj=$1
sha256sum "$obj" | cut -c1-64
sort "$obj" | cksum
cksum <"$obj"
/usr/bin/printf 'the standard output of printf' 1<>"$obj"
head -c 100 "$obj"; echo
SHEOF

cp "$WORK/orig.txt" "$WORK/kern/disk.img" || fail "cp"
cd "$WORK/kern" && {
	run_kernel "$WORK/prog" disk.img missing
	run_kernel bash "$WORK/shell.sh" disk.img
} >"$WORK/kern.out"
cat "$WORK/kern.out" >&2

for mode in embedded daemon; do
	mount_export "$WORK/orig.txt" $mode
	cd "$WORK/fm" && {
		run_fm 256K "$WORK/prog" "$WORK/mnt/disk.img" "$WORK/mnt/missing"
		stats=$STATS
		run_fm 256K bash "$WORK/shell.sh" "$WORK/mnt/disk.img"
	} >"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "the output ($mode)"
	expect_served 262144 "$stats" "$STATS"
	run_fm 256K "$WORK/prog" freopen "$WORK/mnt/disk.img" >"$WORK/freopen.out"
	[ "$(cat "$WORK/freopen.out")" = "freopen: Operation not supported" ] ||
		fail "freopen of the object ($mode): $(cat "$WORK/freopen.out")"
	stop_nbdkit
	same_output "$WORK/kern/disk.img" "$WORK/export.img" "the export after the runs ($mode)"
done

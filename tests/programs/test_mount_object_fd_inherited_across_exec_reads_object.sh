#!/usr/bin/env bash
# test_mount_object_fd_inherited_across_exec_reads_object.sh - an fd of an
# object under faultmap run --mount, carried across an exec, reads and
# writes the object (its stand-in's name gives the new image the store to
# open again), never the empty local stand-in:
#  - bash: `cat <OBJ`, `exec 3<OBJ` then `head -c` and `cat` reading fd 3
#    in turn (one shared position), `exec 4<>OBJ` then dd writing through
#    fd 4, and the object read again;
#  - a C program (mount_fd_across_exec.c) that opens the object and forks
#    a child that execs, and execs again, using the inherited fd: fstat,
#    read at the shared position, pread, SEEK_END, pwrite, shared mappings
#    read and written (msync).
# Each compared line for line with the kernel on a local copy, and the NBD
# export's file (nbdkit's file plugin) with that copy after. An inherited
# fd whose store cannot be opened again fails with EIO (cat: "Input/output
# error"), never reads the empty stand-in: a URL too long for the
# stand-in's name (an export name of 240 bytes), and the server stopped. In
# embedded and in daemon mode, under a 256K budget (the export is 1 MiB).
set -u
. "$(dirname "$0")/lib.sh"
need_cmd nbdkit
setup
build_c mount_fd_across_exec.c

gen_file "$WORK/orig.img" 1048576 inherit

# shell OBJ - what bash and the programs it execs read through inherited
# fds of OBJ, and a write through one.
cat >"$WORK/shell.sh" <<'EOF'
obj=$1
cat <"$obj" | cksum
exec 3<"$obj"
head -c 10000 <&3 | cksum
cat <&3 | cksum
exec 3<&-
exec 4<>"$obj"
printf 'written through fd 4 by dd' | dd of=/dev/stdout bs=1 seek=5000 conv=notrunc status=none >&4
exec 4>&-
cat <"$obj" | cksum
EOF

# gone OBJ PID ERR - bash opens OBJ as fd 3, PID (the server) is stopped, then
# cat reads fd 3 (its stderr in ERR).
cat >"$WORK/gone.sh" <<'EOF'
exec 3<"$1"
kill -KILL "$2"
# (the server is the test's child: gone when only a zombie is left)
while [ -e /proc/$2 ] && ! grep -q ') Z ' /proc/$2/stat 2>/dev/null; do sleep 0.05; done
if cat <&3 >/dev/null 2>"$3"; then echo "cat read the stand-in"; else echo "cat failed"; fi
EOF

cp "$WORK/orig.img" "$WORK/kern/disk.img" || fail "cp"
cd "$WORK/kern" && {
	run_kernel bash "$WORK/shell.sh" disk.img
	run_kernel "$WORK/prog" disk.img
} >"$WORK/kern.out"
cat "$WORK/kern.out" >&2

for mode in embedded daemon; do
	mount_export "$WORK/orig.img" $mode
	cd "$WORK/fm" && {
		run_fm 256K bash "$WORK/shell.sh" "$WORK/mnt/disk.img"
		stats=$STATS
		run_fm 256K "$WORK/prog" "$WORK/mnt/disk.img"
	} >"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "the output ($mode)"
	expect_served 262144 "$stats" "$STATS"
	long=$(printf 'x%.0s' $(seq 240))
	RUN_OPTS+=(--mount "$WORK/mnt/long.img=nbd+unix:///$long?socket=$WORK/nbd.sock")
	cd "$WORK" && run_fm 256K bash -c 'if cat <"$1" >/dev/null 2>"$2"; then echo read; else echo failed; fi' \
		_ "$WORK/mnt/long.img" "$WORK/long.err" >"$WORK/long.out"
	[ "$(cat "$WORK/long.out")" = failed ] && grep -q "Input/output error" "$WORK/long.err" ||
		fail "an object with a URL too long for its stand-in's name ($mode): $(cat "$WORK/long.out" "$WORK/long.err")"
	run_fm 256K bash "$WORK/gone.sh" "$WORK/mnt/disk.img" "$NBDKIT_PID" "$WORK/gone.err" >"$WORK/gone.out"
	[ "$(cat "$WORK/gone.out")" = "cat failed" ] || fail "with the server gone ($mode): $(cat "$WORK/gone.out")"
	grep -q "Input/output error" "$WORK/gone.err" ||
		fail "with the server gone ($mode), cat said: $(cat "$WORK/gone.err")"
	stop_nbdkit
	same_output "$WORK/kern/disk.img" "$WORK/export.img" "the export after the runs ($mode)"
done

#!/usr/bin/env bash
# test_mount_shell_builtins_redirected_to_rados_objects_write_them.sh -
# under faultmap run --mount DIR=rados://POOL, bash's builtins (echo,
# printf: glibc's stdout and stderr FILEs, whose writes are glibc's own
# system calls) redirected to objects write the objects: >, >>, a group
# { ...; } >, a loop's redirection, 2>, exec 3>DIR/x with >&3, exec
# >DIR/log for the rest of the script (an external program writing there
# too), the standard output put back after it; and builtins reading
# objects (read, mapfile, while read, a here-string) read them. Python
# (os.dup2 of an object onto fd 1): print, and the C library's printf
# (ctypes) through stdout, with bytes still buffered in stdout when fd 1
# changes going where the kernel sends them (to the fd 1 of the flush);
# subprocess's child (its dup2s, in a vfork child sharing the parent's
# memory) writes the object, and the parent's stdout stays its own; C's
# dprintf (ctypes) to an object's fd writes it.
# The oracle is the same scripts run by the kernel in a local directory:
# the output, and every object read back with the rados tool, equal the
# kernel's files; the pool holds exactly those names. Both modes.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd rados ceph
setup
start_ceph

cat >"$WORK/builtins.sh" <<'SH'
d=$1
echo hello >"$d/obj"
printf '%s\n' a b >>"$d/obj"
printf 'no newline' >"$d/nonl"
exec 3>"$d/three"
echo to three >&3
printf 'x%sx\n' 1 2 >&3
exec 3>&-
{ echo a; echo b; printf '%d\n' 42; } >"$d/group"
for i in 1 2 3; do echo "line $i"; done >"$d/loop"
echo 'to stderr' 2>"$d/err" >&2
echo 'appended to stderr' 2>>"$d/err" 1>&2
read -r l <"$d/obj"
echo "read: $l"
read -r a b <<<"here string"
echo "here-string: $a|$b"
mapfile -t arr <"$d/loop"
echo "mapfile: ${#arr[@]} ${arr[*]}"
while read -r x; do echo "while: $x"; done <"$d/obj"
while IFS= read -r x; do echo "copied $x"; done <"$d/obj" >"$d/copy"
{ read -r first; read -r second; } <"$d/loop"
echo "two reads: $first / $second"
echo "external cat:"
cat "$d/obj" "$d/nonl" "$d/three" "$d/group" "$d/loop" "$d/err" "$d/copy"
exec 4>&1 >"$d/log"
echo logged one
printf '%s\n' 'logged two'
/usr/bin/printf 'external into the log\n'
echo logged three
exec >&4 4>&-
echo back on the standard output
cat "$d/log"
SH

cat >"$WORK/dup2.py" <<'PY'
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None)
d = sys.argv[1]
stdout = ctypes.c_void_p.in_dll(libc, "stdout")
stdout_buf = ctypes.create_string_buffer(8192)  # fully buffered (_IOFBF)
libc.setvbuf(stdout, stdout_buf, 0, 8192)
sys.stdout.flush()
libc.printf(b"C: pending in stdout before fd 1 is the object\n")
saved = os.dup(1)
fd = os.open(d + "/py", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.dup2(fd, 1)
os.close(fd)
print("print through os.dup2", flush=True)
libc.printf(b"C: printf %d into the object\n", 7)
libc.fflush(None)
libc.printf(b"C: pending in stdout when fd 1 is put back\n")
os.dup2(saved, 1)
os.close(saved)
libc.fflush(None)
print("python: back")
with open(d + "/child", "w") as f:  # dup2 in a vfork child: not the parent's stdout
    subprocess.run(["/usr/bin/printf", "from a child\\n"], stdout=f, check=True)
libc.printf(b"C: after the child, on the standard output\n")
libc.fflush(None)
fd = os.open(d + "/dp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
print("dprintf:", libc.dprintf(fd, b"dprintf %d %s\n", 5, b"five"),
      libc.dprintf(fd, b"%s\n", b"x" * 10000))
os.close(fd)
fd = os.open(d + "/py", os.O_RDONLY)
os.dup2(fd, 0)
os.close(fd)
buf, n = ctypes.c_char_p(), ctypes.c_size_t(0)
stdin = ctypes.c_void_p.in_dll(libc, "stdin")
while libc.getline(ctypes.byref(buf), ctypes.byref(n), stdin) > 0:
    print("C getline from the object:", buf.value.decode().rstrip())
PY

listing() { # the names and bytes of the objects of a run
	local name
	for name in obj nonl three group loop err copy log py child dp; do
		echo "== $name"
		cat "$1/$name"
		echo
	done
}

mkdir -p "$WORK/kern/d"
cd "$WORK/kern" && {
	run_kernel bash "$WORK/builtins.sh" d
	run_kernel "$PY" "$WORK/dup2.py" d
} >"$WORK/kern.out"
cat "$WORK/kern.out" >&2
grep -q "^C getline from the object: print through os.dup2" "$WORK/kern.out" ||
	fail "the kernel's run did not finish"
(cd "$WORK/kern/d" && ls -1) >"$WORK/want.names"

for mode in embedded daemon; do
	mode_pool $mode redir
	RUN_OPTS=(--$mode --mount "$WORK/fm/d=rados://$pool")
	# A subshell: a run that fails (run_fm's fail exits) has its output
	# and its message shown below, not lost in the files.
	cd "$WORK/fm" && (
		run_fm 256K bash "$WORK/builtins.sh" d
		run_fm 256K "$PY" "$WORK/dup2.py" d
	) >"$WORK/fm.out" 2>"$WORK/fm.err"
	rc=$?
	cat "$WORK/fm.out" "$WORK/fm.err" >&2
	[ $rc -eq 0 ] || fail "a run under faultmap failed ($mode): its output and stderr above"
	same_output "$WORK/kern.out" "$WORK/fm.out" "the output ($mode)"
	[ ! -s "$WORK/fm.err" ] || fail "the runs wrote to stderr ($mode)"
	rados -p $pool ls | sort >"$WORK/names" || fail "rados ls"
	same_output "$WORK/want.names" "$WORK/names" "the pool's objects ($mode)"
	rm -rf "$WORK/got" && mkdir "$WORK/got"
	while read -r name; do
		rados -p $pool get "$name" "$WORK/got/$name" || fail "rados get $name"
	done <"$WORK/names"
	listing "$WORK/kern/d" >"$WORK/want.bytes"
	listing "$WORK/got" >"$WORK/got.bytes"
	same_output "$WORK/want.bytes" "$WORK/got.bytes" "the objects' bytes ($mode)"
done

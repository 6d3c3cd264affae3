#!/usr/bin/env bash
# NEEDS THE INTERPOSER. make install DESTDIR=... PREFIX=/usr installs the
# library (static, shared with its soname links), the header, a pkg-config
# file that says prefix=/usr, the CLI and its interposer, the man pages
# under share/man, where man finds them, and the udev rule of contrib/ under
# lib/udev/rules.d, where udev finds it (UDEVRULESDIR= leaves it out), and
# the daemon's systemd user unit, which runs the installed faultmap, under
# lib/systemd/user (SYSTEMDUSERUNITDIR= leaves it out). A program built
# with pkg-config alone against that tree runs on the installed library;
# the installed faultmap run preloads the installed interposer and serves
# python3's mappings. make uninstall removes all of it.
# Without DESTDIR, make install makes the dynamic linker find the library
# or says how: as root, it runs ldconfig when LIBDIR is in ld.so.conf (as
# /usr/local/lib is on Debian); where the loader still would not find it
# (a PREFIX of one's own) it names LD_LIBRARY_PATH and -Wl,-rpath, and a
# program built with pkg-config runs with either (without, it does not
# start). With DESTDIR (a staging tree) it does neither.
set -u
. "$(dirname "$0")/lib.sh"
require_interposer
command -v pkg-config >/dev/null || { echo "skip: no pkg-config"; exit 77; }
# Every program here runs in a runtime directory of the test's own: a
# daemon the installed library starts is the test's, stopped at exit.
private_daemon_dir

# A copy of the build tree (times kept, so nothing is built again but what
# holds PREFIX): make install must not change the tree the suite uses.
mkdir "$TMP/build" || fail "mkdir"
for f in obj pic preload libfaultmap.a libfaultmap.so libfaultmap.so.* \
	libfaultmap-preload.so faultmap faultmap.pc scene git-rev; do
	[ -e "$FAULTMAP_BUILD/$f" ] && cp -a "$FAULTMAP_BUILD/$f" "$TMP/build/"
done
# An ldconfig that logs its calls; for -v -N (the directories of
# ld.so.conf) it names $TMP/prefix/lib when $TMP/configured exists.
cat >"$TMP/ldconfig" <<EOF
#!/bin/sh
echo "ldconfig \$*" >>"$TMP/ldconfig.log"
[ "\$*" = "-v -N" ] && [ -e "$TMP/configured" ] && echo "$TMP/prefix/lib: (from test)"
exit 0
EOF
chmod +x "$TMP/ldconfig"
DEST=$TMP/dest
make -s -C "$ROOT" BUILD="$TMP/build" DESTDIR="$DEST" PREFIX=/usr LDCONFIG="$TMP/ldconfig" install \
	>"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "make install failed"; }
[ ! -e "$TMP/ldconfig.log" ] || fail "make install DESTDIR=... called ldconfig: $(cat "$TMP/ldconfig.log")"
! grep -q 'dynamic linker' "$TMP/out" || { cat "$TMP/out"; fail "make install DESTDIR=... spoke of the dynamic linker"; }
for f in bin/faultmap lib/libfaultmap.a lib/libfaultmap.so.0 lib/libfaultmap.so \
	include/faultmap.h lib/pkgconfig/faultmap.pc lib/faultmap/libfaultmap-preload.so \
	share/man/man1/faultmap.1 share/man/man1/faultmap-run.1 share/man/man7/faultmap.7 \
	share/man/man3/fm_mmap.3 share/man/man3/fm_munmap.3 \
	lib/udev/rules.d/60-faultmap-userfaultfd.rules lib/systemd/user/faultmap.service; do
	[ -e "$DEST/usr/$f" ] || fail "make install did not install usr/$f"
done
[ "$(readlink "$DEST/usr/lib/libfaultmap.so")" = libfaultmap.so.0 ] || fail "libfaultmap.so is not a link to the soname"
grep -qx 'prefix=/usr' "$DEST/usr/lib/pkgconfig/faultmap.pc" || fail "faultmap.pc does not say prefix=/usr"
cmp -s "$ROOT/contrib/60-faultmap-userfaultfd.rules" "$DEST/usr/lib/udev/rules.d/60-faultmap-userfaultfd.rules" ||
	fail "the installed udev rule is not contrib's"
[ "$(stat -c %a "$DEST/usr/lib/udev/rules.d/60-faultmap-userfaultfd.rules")" = 644 ] || fail "the udev rule is not mode 0644"
# The systemd user unit runs the installed faultmap.
grep -qx 'ExecStart=/usr/bin/faultmap daemon --foreground' "$DEST/usr/lib/systemd/user/faultmap.service" ||
	fail "the systemd unit does not start /usr/bin/faultmap: $(grep ^Exec "$DEST/usr/lib/systemd/user/faultmap.service")"
grep -qx 'ExecStop=/usr/bin/faultmap daemon --stop' "$DEST/usr/lib/systemd/user/faultmap.service" ||
	fail "the systemd unit does not stop with /usr/bin/faultmap"
make -s -C "$ROOT" BUILD="$TMP/build" DESTDIR="$TMP/dest2" PREFIX=/usr UDEVRULESDIR= SYSTEMDUSERUNITDIR= install \
	>"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "make install UDEVRULESDIR= SYSTEMDUSERUNITDIR= failed"; }
[ -z "$(find "$TMP/dest2" -name '*.rules')" ] || fail "UDEVRULESDIR= still installed the udev rule"
[ -z "$(find "$TMP/dest2" -name '*.service')" ] || fail "SYSTEMDUSERUNITDIR= still installed the systemd unit"
# Every page of man/ is installed, a link as a copy of the page it names.
for page in "$ROOT"/man/man[0-9]/*.[0-9]; do
	sec=$(basename "$(dirname "$page")")
	cmp -s "$page" "$DEST/usr/share/man/$sec/$(basename "$page")" ||
		fail "make install did not install $sec/$(basename "$page") as it is in man/"
done
if command -v man >/dev/null; then
	LC_ALL=C.UTF-8 MANWIDTH=80 man -M "$DEST/usr/share/man" 3 fm_munmap >"$TMP/out" 2>&1 ||
		{ cat "$TMP/out"; fail "man -M \$MANDIR 3 fm_munmap failed"; }
	expect_out '^ +fm_mmap, fm_munmap - map or unmap a file'
fi

# A program built with pkg-config only, run on the installed library.
export PKG_CONFIG_LIBDIR=$DEST/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$DEST
# shellcheck disable=SC2046
cc -D_GNU_SOURCE -std=c11 $(pkg-config --cflags faultmap) "$ROOT/tests/cli/fm_mapper.c" \
	$(pkg-config --libs faultmap) -o "$TMP/mapper" >"$TMP/out" 2>&1 ||
	{ cat "$TMP/out"; fail "cannot build with pkg-config --cflags --libs faultmap"; }
LD_LIBRARY_PATH=$DEST/usr/lib ldd "$TMP/mapper" | grep -q "libfaultmap\.so\.0 => $DEST/usr/lib/libfaultmap\.so\.0" ||
	fail "the program does not load the installed libfaultmap.so.0"
LD_LIBRARY_PATH=$DEST/usr/lib "$TMP/mapper" --once "$TMP" >"$TMP/out" 2>&1
rc=$?
[ "$rc" -eq 77 ] && { tail -n 1 "$TMP/out"; exit 77; }
[ "$rc" -eq 0 ] || { cat "$TMP/out"; fail "the program built with pkg-config exited $rc"; }
expect_out '^ready '

# The README walk-through's first program, examples/hello.c, built the same
# way (strict C11), runs in both modes; in daemon mode it starts the
# installed daemon (the CLI, by its link in PRELOADDIR), which the installed
# faultmap daemon --stop stops.
unset FAULTMAP_DAEMON FAULTMAP_MODE
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -pedantic $(pkg-config --cflags faultmap) "$ROOT/examples/hello.c" \
	$(pkg-config --libs faultmap) -o "$TMP/hello" >"$TMP/out" 2>&1 ||
	{ cat "$TMP/out"; fail "cannot build examples/hello.c with pkg-config"; }
for mode in embedded daemon; do
	FAULTMAP_MODE=$mode LD_LIBRARY_PATH=$DEST/usr/lib expect_exit 0 "$TMP/hello" "$TMP/hello-$mode.dat"
	expect_out "^$TMP/hello-$mode\\.dat\\[42\\] = 'x'; major faults: [0-9]+, pages read: [0-9]+, pages written: [1-9]"
	[ "$(od -An -c -j42 -N1 "$TMP/hello-$mode.dat" | tr -d ' ')" = x ] || fail "hello ($mode) did not write the file"
done
expect_exit 0 "$DEST/usr/bin/faultmap" doctor
dpid=$(sed -n 's/^daemon  *running, pid \([0-9]*\) .*/\1/p' "$TMP/out")
[ -n "$dpid" ] || { cat "$TMP/out"; fail "no daemon runs after hello in daemon mode"; }
[ "$(tr '\0' ' ' </proc/"$dpid"/cmdline)" = "$DEST/usr/lib/faultmap/faultmap daemon --background --if-not-running " ] ||
	fail "the daemon is not the installed one: $(tr '\0' ' ' </proc/"$dpid"/cmdline)"
expect_exit 0 "$DEST/usr/bin/faultmap" daemon --stop
for _ in $(seq 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$dpid" 2>/dev/null || fail "faultmap daemon --stop left the daemon running"

# The installed faultmap run finds the installed interposer by itself.
unset FAULTMAP_PRELOAD
expect_exit 0 "$DEST/usr/bin/faultmap" run -- /usr/bin/env
expect_out "^LD_PRELOAD=$DEST/usr/bin/\.\./lib/faultmap/libfaultmap-preload\.so$"
"$DEST/usr/bin/faultmap" run --stats --budget 2M -- "$PY" -c "$MAPPER_PY" "$TMP/data.bin" \
	>"$TMP/stdout" 2>"$TMP/out"
rc=$?
[ "$rc" -eq 0 ] || { cat "$TMP/stdout" "$TMP/out"; fail "the installed faultmap run exited $rc"; }
grep -q '^ready 3840$' "$TMP/stdout" || fail "python did not read the file"
expect_out '^  faults: +[1-9][0-9]* major'

make -s -C "$ROOT" BUILD="$TMP/build" DESTDIR="$DEST" PREFIX=/usr uninstall >"$TMP/out" 2>&1 ||
	{ cat "$TMP/out"; fail "make uninstall failed"; }
left=$(find "$DEST" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"

# No DESTDIR, a PREFIX the dynamic linker does not search: make install says
# what to do, and each way it names runs a program built with pkg-config.
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
P=$TMP/prefix
make -s -C "$ROOT" BUILD="$TMP/build" PREFIX="$P" LDCONFIG="$TMP/ldconfig" install >"$TMP/out" 2>&1 ||
	{ cat "$TMP/out"; fail "make install PREFIX=$P failed"; }
expect_out "^ +LD_LIBRARY_PATH=$P/lib\$"
expect_out "^ +-Wl,-rpath,$P/lib\$"
! grep -qx 'ldconfig ' "$TMP/ldconfig.log" || fail "ldconfig ran for a LIBDIR that is not in ld.so.conf"
export PKG_CONFIG_PATH=$P/lib/pkgconfig
# shellcheck disable=SC2046
cc -D_GNU_SOURCE -std=c11 $(pkg-config --cflags faultmap) "$ROOT/tests/cli/fm_mapper.c" \
	$(pkg-config --libs faultmap) -o "$TMP/mapper2" || fail "cannot build against PREFIX=$P"
env -u LD_LIBRARY_PATH "$TMP/mapper2" --once "$TMP" >"$TMP/out" 2>&1 &&
	fail "a program linked with -lfaultmap found the library without the hint (is $P/lib in ld.so.conf?)"
expect_out 'libfaultmap\.so\.0: cannot open shared object file'
LD_LIBRARY_PATH=$P/lib expect_exit 0 "$TMP/mapper2" --once "$TMP"
expect_out '^ready '
# shellcheck disable=SC2046
cc -D_GNU_SOURCE -std=c11 $(pkg-config --cflags faultmap) "$ROOT/tests/cli/fm_mapper.c" \
	$(pkg-config --libs faultmap) -Wl,-rpath,"$P/lib" -o "$TMP/mapper3" || fail "cannot build with -Wl,-rpath"
env -u LD_LIBRARY_PATH "$TMP/mapper3" --once "$TMP" >"$TMP/out" 2>&1 ||
	{ cat "$TMP/out"; fail "the program linked with -Wl,-rpath,$P/lib did not run"; }
expect_out '^ready '
# Where LIBDIR is in ld.so.conf, root's make install rebuilds the cache.
touch "$TMP/configured"
: >"$TMP/ldconfig.log"
make -s -C "$ROOT" BUILD="$TMP/build" PREFIX="$P" LDCONFIG="$TMP/ldconfig" install >"$TMP/out" 2>&1 ||
	{ cat "$TMP/out"; fail "make install PREFIX=$P failed"; }
if [ "$(id -u)" = 0 ]; then
	grep -qx 'ldconfig ' "$TMP/ldconfig.log" ||
		fail "root's make install did not run ldconfig for a LIBDIR in ld.so.conf: $(cat "$TMP/ldconfig.log")"
else
	! grep -qx 'ldconfig ' "$TMP/ldconfig.log" || fail "make install ran ldconfig without being root"
fi
make -s -C "$ROOT" BUILD="$TMP/build" PREFIX="$P" uninstall >"$TMP/out" 2>&1 ||
	{ cat "$TMP/out"; fail "make uninstall PREFIX=$P failed"; }
left=$(find "$P" ! -type d)
[ -z "$left" ] || fail "make uninstall PREFIX=$P left: $left"
exit 0

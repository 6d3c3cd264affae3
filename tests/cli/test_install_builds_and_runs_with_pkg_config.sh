#!/usr/bin/env bash
# NEEDS THE INTERPOSER. make install DESTDIR=... PREFIX=/usr installs the
# library (static, shared with its soname links), the header, a pkg-config
# file that says prefix=/usr, the CLI and its interposer, the man pages
# under share/man, where man finds them, and the udev rule of contrib/ under
# lib/udev/rules.d, where udev finds it (UDEVRULESDIR= leaves it out). A program built
# with pkg-config alone against that tree runs on the installed library;
# the installed faultmap run preloads the installed interposer and serves
# python3's mappings. make uninstall removes all of it.
set -u
. "$(dirname "$0")/lib.sh"
require_interposer
command -v pkg-config >/dev/null || { echo "skip: no pkg-config"; exit 77; }

# A copy of the build tree (times kept, so nothing is built again but what
# holds PREFIX): make install must not change the tree the suite uses.
mkdir "$TMP/build" || fail "mkdir"
for f in obj pic preload libfaultmap.a libfaultmap.so libfaultmap.so.* \
	libfaultmap-preload.so faultmap faultmap.pc scene git-rev; do
	[ -e "$FAULTMAP_BUILD/$f" ] && cp -a "$FAULTMAP_BUILD/$f" "$TMP/build/"
done
DEST=$TMP/dest
make -s -C "$ROOT" BUILD="$TMP/build" DESTDIR="$DEST" PREFIX=/usr install >"$TMP/out" 2>&1 ||
	{ cat "$TMP/out"; fail "make install failed"; }
for f in bin/faultmap lib/libfaultmap.a lib/libfaultmap.so.0 lib/libfaultmap.so \
	include/faultmap.h lib/pkgconfig/faultmap.pc lib/faultmap/libfaultmap-preload.so \
	share/man/man1/faultmap.1 share/man/man1/faultmap-run.1 share/man/man7/faultmap.7 \
	share/man/man3/fm_mmap.3 share/man/man3/fm_munmap.3 \
	lib/udev/rules.d/60-faultmap-userfaultfd.rules; do
	[ -e "$DEST/usr/$f" ] || fail "make install did not install usr/$f"
done
[ "$(readlink "$DEST/usr/lib/libfaultmap.so")" = libfaultmap.so.0 ] || fail "libfaultmap.so is not a link to the soname"
grep -qx 'prefix=/usr' "$DEST/usr/lib/pkgconfig/faultmap.pc" || fail "faultmap.pc does not say prefix=/usr"
cmp -s "$ROOT/contrib/60-faultmap-userfaultfd.rules" "$DEST/usr/lib/udev/rules.d/60-faultmap-userfaultfd.rules" ||
	fail "the installed udev rule is not contrib's"
[ "$(stat -c %a "$DEST/usr/lib/udev/rules.d/60-faultmap-userfaultfd.rules")" = 644 ] || fail "the udev rule is not mode 0644"
make -s -C "$ROOT" BUILD="$TMP/build" DESTDIR="$TMP/dest2" PREFIX=/usr UDEVRULESDIR= install >"$TMP/out" 2>&1 ||
	{ cat "$TMP/out"; fail "make install UDEVRULESDIR= failed"; }
[ -z "$(find "$TMP/dest2" -name '*.rules')" ] || fail "UDEVRULESDIR= still installed the udev rule"
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
exit 0

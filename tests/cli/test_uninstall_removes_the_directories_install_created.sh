#!/usr/bin/env bash
# test_uninstall_removes_the_directories_install_created.sh - make
# uninstall removes, besides every file make install put there, the
# directories make install created, if they are empty: a PREFIX that did not
# exist is gone again, and so is a DESTDIR. A directory that was there
# before the install stays (even empty), and so does one that install
# created but that holds a file of someone else's by then; that file stays.
set -u
. "$(dirname "$0")/lib.sh"
command -v realpath >/dev/null || { echo "skip: no realpath"; exit 77; }
# A copy of the build tree (times kept), as the install test makes: make
# install must not change the tree the suite uses.
mkdir "$TMP/build" || fail "mkdir"
for f in obj pic preload libfaultmap.a libfaultmap.so libfaultmap.so.* \
	libfaultmap-preload.so faultmap faultmap.pc scene git-rev; do
	[ -e "$FAULTMAP_BUILD/$f" ] && cp -a "$FAULTMAP_BUILD/$f" "$TMP/build/"
done
printf '#!/bin/sh\nexit 0\n' >"$TMP/ldconfig" && chmod +x "$TMP/ldconfig"
mk() { make -s -C "$ROOT" BUILD="$TMP/build" LDCONFIG="$TMP/ldconfig" "$@" >"$TMP/out" 2>&1 ||
	{ cat "$TMP/out"; fail "make $* failed"; }; }

# A DESTDIR that does not exist: after uninstall, nothing of it is left.
mk DESTDIR="$TMP/dest" PREFIX=/usr install
[ -e "$TMP/dest/usr/bin/faultmap" ] || fail "make install did not install usr/bin/faultmap"
mk DESTDIR="$TMP/dest" PREFIX=/usr uninstall
[ ! -e "$TMP/dest" ] || fail "make uninstall left: $(find "$TMP/dest")"

# A PREFIX with a lib/ (empty) and a share/man/man1/ holding a page of
# another program before the install.
P=$TMP/prefix
mkdir -p "$P/lib" "$P/share/man/man1" || fail mkdir
echo other >"$P/share/man/man1/other.1"
mk PREFIX="$P" install
[ -e "$P/lib/faultmap/libfaultmap-preload.so" ] && [ -e "$P/share/man/man3/fm_mmap.3" ] ||
	fail "make install PREFIX=$P did not install"
mkdir "$P/include/other" || fail mkdir # made by someone else, in a directory install created
mk PREFIX="$P" uninstall
left=$(cd "$P" && find . | sort | tr '\n' ' ')
[ "$left" = ". ./include ./include/other ./lib ./share ./share/man ./share/man/man1 ./share/man/man1/other.1 " ] ||
	fail "make uninstall PREFIX=$P left: $left"
# Once include/other is gone, a second uninstall removes include too.
rmdir "$P/include/other"
mk PREFIX="$P" uninstall
[ ! -e "$P/include" ] || fail "a second make uninstall left include/"
exit 0

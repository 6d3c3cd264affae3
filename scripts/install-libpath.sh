#!/usr/bin/env bash
# Run by `make install` without DESTDIR, after the library is in LIBDIR:
# make the dynamic linker find it there, or say how to.
#   scripts/install-libpath.sh LIBDIR SONAME PROBE
# PROBE is a program linked with -lfaultmap and no rpath: the loader's own
# answer (ldd) to "which libfaultmap.so.N would a program get?".
# LDCONFIG (default ldconfig) is the ldconfig to call.
#
# As root, when LIBDIR is one of the directories the linker's cache is built
# from (/etc/ld.so.conf: /usr/local/lib on Debian), the cache is rebuilt, as
# a package's postinst does; until then a program would not start
# ("libfaultmap.so.0: cannot open shared object file"). Where the loader
# still finds no libfaultmap.so.N in LIBDIR (a PREFIX of your own, or not
# root), it prints what to do. Nothing here fails the install.
set -u
libdir=$1 soname=$2 probe=$3
ldconfig=${LDCONFIG:-ldconfig}

if [ "$(id -u)" = 0 ] &&
	$ldconfig -v -N 2>/dev/null | awk -F: -v d="$libdir" '$1 == d { f = 1 } END { exit !f }'; then
	echo "$ldconfig"
	$ldconfig || echo "faultmap: $ldconfig failed: programs may not find $libdir/$soname" >&2
fi

found=$(env -u LD_LIBRARY_PATH ldd "$probe" 2>/dev/null | awk -v so="$soname" '$1 == so { print $3 }')
[ -n "$found" ] && [ "$(realpath -e -- "$found" 2>/dev/null)" = "$(realpath -e -- "$libdir/$soname")" ] &&
	exit 0
if [ -e "$found" ]; then
	echo "faultmap: a program linked with -lfaultmap would load $found,"
	echo "  not the $libdir/$soname just installed. Either run such programs with"
else
	echo "faultmap: the dynamic linker does not look in $libdir, so a program"
	echo "  linked with -lfaultmap would not start (\"$soname: cannot open shared"
	echo "  object file\"). Either run such programs with"
fi
cat <<EOF
      LD_LIBRARY_PATH=$libdir
  or link them with
      -Wl,-rpath,$libdir
  or, as root, add $libdir to /etc/ld.so.conf.d/ and run ldconfig.
  (faultmap run needs none of this: it finds its interposer by itself.)
EOF
exit 0

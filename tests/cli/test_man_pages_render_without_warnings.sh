#!/usr/bin/env bash
# Every man page in man/ renders without a warning from groff (-ww: all
# warnings) and from man --warnings, and carries the version of
# include/faultmap.h in its title line.
set -u
. "$(dirname "$0")/lib.sh"
command -v groff >/dev/null || { echo "skip: no groff (scripts/install-deps.sh installs groff-base)"; exit 77; }
major=$(sed -n 's/^#define FAULTMAP_VERSION_MAJOR //p' "$ROOT/include/faultmap.h")
minor=$(sed -n 's/^#define FAULTMAP_VERSION_MINOR //p' "$ROOT/include/faultmap.h")
n=0
for page in "$ROOT"/man/man[0-9]/*.[0-9]; do
	n=$((n + 1))
	LC_ALL=C.UTF-8 groff -man -Tutf8 -ww "$page" >/dev/null 2>"$TMP/warn" || fail "groff failed on $page"
	[ -s "$TMP/warn" ] && { cat "$TMP/warn"; fail "groff warns about $page"; }
	if command -v man >/dev/null; then
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" >"$TMP/text" 2>"$TMP/warn" || fail "man failed on $page"
		[ -s "$TMP/warn" ] && { cat "$TMP/warn"; fail "man warns about $page"; }
		grep -q '^NAME' "$TMP/text" || fail "$page has no NAME section"
	fi
	head -n 5 "$page" | grep -q "^\.TH .* \"faultmap $major\.$minor\" \"faultmap Manual\"$" ||
		fail "$page: its .TH line does not say \"faultmap $major.$minor\""
done
[ "$n" -gt 0 ] || fail "no man pages in $ROOT/man"
exit 0

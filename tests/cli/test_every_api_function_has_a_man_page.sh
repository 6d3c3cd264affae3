#!/usr/bin/env bash
# Every function include/faultmap.h declares (FM_API) has its man page,
# man/man3/<function>.3, which names it in its NAME line and declares it in
# its SYNOPSIS, with the header's prototype.
set -u
. "$(dirname "$0")/lib.sh"
H=$ROOT/include/faultmap.h
# One prototype per line, whitespace squeezed, from FM_API to ';'.
grep -v '^#' "$H" | tr '\n' ' ' | grep -o 'FM_API [^;]*;' | sed 's/^FM_API //; s/  */ /g' >"$TMP/protos"
[ -s "$TMP/protos" ] || fail "no FM_API declaration found in $H"
n=0
while read -r proto; do
	fn=$(printf '%s\n' "$proto" | sed 's/(.*//; s/.*[ *]//')
	n=$((n + 1))
	page=$ROOT/man/man3/$fn.3
	[ -e "$page" ] || fail "$fn has no man page (man/man3/$fn.3)"
	# The NAME line lists it; the SYNOPSIS declares it (roff quoting and
	# font changes removed) as the header does.
	sed -n '/^\.SH NAME/,/^\.SH/p' "$page" | grep -Eq "(^|[ ,])$fn([ ,]|$)" ||
		fail "man/man3/$fn.3 does not name $fn in its NAME section"
	sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$page" | grep -v '^\.\(nf\|fi\|PP\|B #include\)' |
		sed 's/^\.BI\? //; s/\\-/-/g' | tr -d '"' | tr '\n' ' ' | sed 's|/\*[^/]*\*/||g; s/  */ /g; s/ ,/,/g; s/( /(/g; s/ )/)/g; s/\* /*/g' >"$TMP/synopsis"
	want=$(printf '%s\n' "$proto" | sed 's/ ,/,/g; s/( /(/g; s/ )/)/g')
	grep -qF -- "$want" "$TMP/synopsis" || { cat "$TMP/synopsis"; echo; fail "man/man3/$fn.3 does not declare: $want"; }
done <"$TMP/protos"
[ "$n" -ge 20 ] || fail "only $n functions found in $H"
exit 0

#!/usr/bin/env bash
# Every errno that include/faultmap.h names in the comment above a function
# (EINVAL, EPERM, ...) is listed in the ERRORS or RETURN VALUE section of
# that function's man page, man/man3/<function>.3: the two say the same.
set -u
. "$(dirname "$0")/lib.sh"
H=$ROOT/include/faultmap.h
# "function errno" pairs: the errnos of the last comment before each
# FM_API declaration (a comment serves every declaration after it).
awk '
	/\/\*/ { incomment = 1; text = "" ; }
	incomment { text = text " " $0 }
	/\*\// { incomment = 0; errs = ""; t = text
		while (match(t, /(^|[^A-Z_])E[A-Z][A-Z0-9]+([^A-Z0-9_]|$)/)) {
			e = substr(t, RSTART, RLENGTH); t = substr(t, RSTART + RLENGTH - 1)
			gsub(/[^A-Z0-9]/, "", e)
			if (e != "EOF") errs = errs " " e
		}
	}
	/^FM_API/ { fn = $0; sub(/\(.*/, "", fn); sub(/.*[ *]/, "", fn)
		n = split(errs, a, " "); for (i = 1; i <= n; i++) print fn, a[i] }
' "$H" | sort -u >"$TMP/pairs"
[ "$(wc -l <"$TMP/pairs")" -ge 20 ] || { cat "$TMP/pairs"; fail "too few errnos found in $H"; }
while read -r fn err; do
	page=$ROOT/man/man3/$fn.3
	[ -e "$page" ] || fail "$fn has no man page"
	sed -n '/^\.SH \(ERRORS\|RETURN VALUE\)/,/^\.SH \(NOTES\|EXAMPLES\|SEE ALSO\)/p' "$page" |
		grep -Eq "(^|[^A-Z])$err([^A-Z]|$)" ||
		fail "man/man3/$fn.3 does not list $err, which faultmap.h gives for $fn"
done <"$TMP/pairs"
exit 0

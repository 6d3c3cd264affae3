#!/usr/bin/env bash
# Each command's man page, man/man1/faultmap-COMMAND.1, has the command's
# synopsis and explains every option that "faultmap COMMAND --help" lists;
# faultmap.1 has every command's synopsis.
set -u
. "$(dirname "$0")/lib.sh"
# The text of a page as man would print it, without roff (no hyphen tricks).
plain() { LC_ALL=C groff -man -Tascii -rLL=250n -P-cbou "$1" 2>/dev/null | sed 's/  */ /g'; }
command -v groff >/dev/null || { echo "skip: no groff (scripts/install-deps.sh installs groff-base)"; exit 77; }
for c in run stat inspect trace doctor daemon cache; do
	page=$ROOT/man/man1/faultmap-$c.1
	[ -e "$page" ] || fail "no man page for faultmap $c"
	plain "$page" >"$TMP/page"
	plain "$ROOT/man/man1/faultmap.1" >"$TMP/top"
	expect_exit 0 "$FM" $c --help
	syn=$(sed -n 's/^usage: //p' "$TMP/out")
	[ -n "$syn" ] || { cat "$TMP/out"; fail "faultmap $c --help prints no 'usage:' line"; }
	grep -qF -- "$syn" "$TMP/page" || fail "faultmap-$c.1 lacks the synopsis: $syn"
	grep -qF -- "$syn" "$TMP/top" || fail "faultmap.1 lacks the synopsis: $syn"
	for o in $(sed -n 's/^  \(-[-a-zA-Z]*\).*/\1/p' "$TMP/out"); do
		sed -n '/^OPTIONS/,/^[A-Z]/p' "$TMP/page" | grep -Eq -- "^ +$o( |,|$)" ||
			fail "faultmap-$c.1 does not explain $o under OPTIONS"
	done
done
exit 0

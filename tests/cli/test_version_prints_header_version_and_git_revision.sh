#!/usr/bin/env bash
# faultmap --version (and -V) prints "faultmap MAJOR.MINOR", the version of
# include/faultmap.h, and, for a build from a git tree, "(git REV)" with the
# revision the tree was at when it was built.
set -u
. "$(dirname "$0")/lib.sh"
major=$(sed -n 's/^#define FAULTMAP_VERSION_MAJOR //p' "$ROOT/include/faultmap.h")
minor=$(sed -n 's/^#define FAULTMAP_VERSION_MINOR //p' "$ROOT/include/faultmap.h")
for opt in --version -V; do
	expect_exit 0 "$FM" $opt
	expect_out "^faultmap $major\.$minor( \(git [0-9a-zA-Z._-]+\))?$"
done
[ "$(wc -l <"$TMP/out")" -eq 1 ] || { cat "$TMP/out"; fail "--version printed more than one line"; }
# The revision, when the build directory recorded one, is the one built in.
rev=$(cat "$FAULTMAP_BUILD/git-rev" 2>/dev/null)
if [ -n "$rev" ]; then
	expect_out "^faultmap $major\.$minor \(git $rev\)$"
	if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$ROOT" cat-file -e "${rev%-dirty}^{commit}" 2>/dev/null ||
			fail "the built-in revision $rev is not a commit of this repository"
	fi
fi
expect_exit 2 "$FM" --version extra
exit 0

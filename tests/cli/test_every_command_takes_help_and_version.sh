#!/usr/bin/env bash
# test_every_command_takes_help_and_version.sh - every command takes
# --help (-h) and --version (-V) among its options: "faultmap COMMAND
# --version" prints exactly what "faultmap --version" prints and exits 0, as
# "faultmap COMMAND --help" prints that command's synopsis and options;
# after run's or trace's PROGRAM, --version is the program's.
set -u
. "$(dirname "$0")/lib.sh"
expect_exit 0 "$FM" --version
cp "$TMP/out" "$TMP/version"
grep -Eq '^faultmap [0-9]+\.[0-9]+' "$TMP/version" || { cat "$TMP/version"; fail "faultmap --version"; }
for c in run stat inspect trace doctor daemon cache; do
	for opt in --version -V; do
		expect_exit 0 "$FM" "$c" "$opt"
		cmp -s "$TMP/out" "$TMP/version" || { cat "$TMP/out"; fail "faultmap $c $opt is not faultmap --version"; }
	done
	for opt in --help -h; do
		expect_exit 0 "$FM" "$c" "$opt"
		expect_out "^usage: faultmap $c "
		[ "$(wc -l <"$TMP/out")" -gt 2 ] || { cat "$TMP/out"; fail "faultmap $c $opt prints only a usage line"; }
	done
done
printf '#!/bin/sh\necho "program got $*"\n' >"$TMP/prog" && chmod +x "$TMP/prog"
expect_exit 0 "$FM" run --embedded -- "$TMP/prog" --version
expect_out '^program got --version$'
expect_exit 0 "$FM" run --embedded "$TMP/prog" --version
expect_out '^program got --version$'
exit 0

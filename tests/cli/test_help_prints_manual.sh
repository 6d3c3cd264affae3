#!/usr/bin/env bash
# faultmap --help and faultmap help print the manual on stdout and exit 0;
# "help COMMAND" and "COMMAND --help" print that command's synopsis.
set -u
. "$(dirname "$0")/lib.sh"

for args in "--help" "help" "-h"; do
	expect_exit 0 "$FM" $args
	for c in run stat inspect trace; do expect_out "faultmap $c "; done
	expect_out '^SYNOPSIS'
	expect_out 'EXIT STATUS'
done
for c in run stat inspect trace; do
	expect_exit 0 "$FM" help $c
	expect_out "^usage: faultmap $c"
	expect_exit 0 "$FM" $c --help
	expect_out "^usage: faultmap $c"
done
exit 0

#!/usr/bin/env bash
# faultmap --help and faultmap help print the whole manual on stdout and exit
# 0: every command with each of its options. "help COMMAND" and
# "COMMAND --help" print that command's synopsis and every option it
# accepts, each explained.
set -u
. "$(dirname "$0")/lib.sh"

declare -A options=([run]="--budget --stats --require --" [stat]="--watch" [inspect]="--svg"
	[trace]="--budget -o --" [doctor]="" [daemon]="--budget --foreground --if-not-running --stop"
	[cache]="--offset --length --json --touch --evict --lock")
for args in "--help" "help" "-h"; do
	expect_exit 0 "$FM" $args
	for c in run stat inspect trace doctor daemon cache; do expect_out "faultmap $c( |$)"; done
	expect_out '^SYNOPSIS'
	expect_out '^COMMANDS'
	expect_out '^ENVIRONMENT'
	expect_out 'EXIT STATUS'
	expect_out 'faultmap --version'
	for c in "${!options[@]}"; do
		for o in ${options[$c]}; do expect_out "^ +$o( |$)"; done
	done
done
for c in run stat inspect trace doctor daemon cache; do
	for how in "help $c" "$c --help" "$c -h"; do
		# shellcheck disable=SC2086
		expect_exit 0 "$FM" $how
		expect_out "^usage: faultmap $c"
		for o in ${options[$c]}; do expect_out "^  $o( [A-Z]+| \[[A-Z]+\])? +[a-z]"; done
	done
done
exit 0

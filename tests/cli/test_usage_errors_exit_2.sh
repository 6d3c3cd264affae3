#!/usr/bin/env bash
# Bad arguments, for every subcommand, print the usage and exit 2.
set -u
. "$(dirname "$0")/lib.sh"

check() { expect_exit 2 "$FM" "$@"; expect_out '^usage:'; expect_out '^faultmap: '; }
check
check bogus
check run
check run --bogus ls
check run --budget
check run --budget 12Q true
check run --budget 1K true
check run --stats --
check stat --bogus
check stat extra
check stat --watch 0
check stat --watch 1x
check inspect
check inspect abc
check inspect 0
check inspect 1 2
check inspect 1 --svg
check inspect --bogus 1
check trace
check trace --budget nope -- true
check trace -o
check trace -x true
check help nosuchcommand
expect_exit 2 "$FM" run --budget 12Q true
expect_out 'bad size .12Q.'
expect_out 'usage: faultmap run'
for bad in 0% 101% 50%% 5.% 1.2345%; do
	expect_exit 2 "$FM" run --budget "$bad" true
	expect_out "bad size .$bad."
done
exit 0

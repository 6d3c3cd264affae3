#!/usr/bin/env bash
# File names are printed escaped: a program maps a file whose directory name
# holds an escape sequence, a bell and a backslash; faultmap stat and
# faultmap inspect show them as \x1b, \x07 and \\, and write no control
# byte to the terminal.
set -u
. "$(dirname "$0")/lib.sh"
build_mapper
mkdir -m 0700 "$TMP/run"
export XDG_RUNTIME_DIR=$TMP/run
evil="$TMP/a"$'\e'"[2J"$'\a'"b\\c"
mkdir "$evil"
FAULTMAP_PUBLISH=1 start_bg "$TMP/mapper.log" "$MAPPER" "$evil"
pid=$BG_PID
sleep 0.5

no_control_bytes() {
	# Any byte below 0x20 but newline, or DEL, is a failure.
	if LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$TMP/out"; then
		cat -v "$TMP/out"; fail "$1 wrote control bytes"
	fi
}
expect_exit 0 "$FM" stat
no_control_bytes stat
expect_out '/a\\x1b\[2J\\x07b\\\\c/data\.bin$'

expect_exit 0 "$FM" inspect "$pid" --svg "$TMP/pic.svg"
no_control_bytes inspect
expect_out '^file 0  .*/a\\x1b\[2J\\x07b\\\\c/data\.bin$'
if command -v xmllint >/dev/null; then xmllint --noout "$TMP/pic.svg" || fail "SVG is not well-formed"; fi
exit 0

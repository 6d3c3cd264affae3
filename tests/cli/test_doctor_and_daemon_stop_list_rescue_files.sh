#!/usr/bin/env bash
# test_doctor_and_daemon_stop_list_rescue_files.sh - rescue files (dirty
# pages a daemon could not write back, src/daemon/rescue.c) are named by
# faultmap doctor and by faultmap daemon --stop; a daemon that starts with
# one that is not well formed keeps it and says why in its log. With none,
# doctor says none.
. "$(dirname "$0")/lib.sh"
export XDG_RUNTIME_DIR=$TMP/runtime
mkdir -m 700 "$XDG_RUNTIME_DIR" "$XDG_RUNTIME_DIR/faultmap"
D=$XDG_RUNTIME_DIR/faultmap
expect_exit 0 "$FM" doctor
expect_out '^rescue files +none'
printf 'not a rescue file' >"$D/rescue-1-2-3"
chmod 600 "$D/rescue-1-2-3"
expect_exit 0 "$FM" doctor
expect_out '^rescue files +1 in .*faultmap: dirty pages a daemon could not write back'
expect_out '^  rescue-1-2-3: not a well-formed rescue file'
expect_exit 0 "$FM" daemon
expect_exit 0 "$FM" daemon --stop
expect_out '1 rescue files in .* hold dirty pages that could not be written back'
expect_out '^  rescue-1-2-3: not a well-formed rescue file'
[ -e "$D/rescue-1-2-3" ] || fail "the daemon removed a rescue file it could not read"
grep -q 'rescue-1-2-3 cannot be read (it is not a well-formed rescue file): kept' "$D/daemon.log" ||
	fail "the daemon's log does not say why it kept the rescue file: $(cat "$D/daemon.log")"
exit 0

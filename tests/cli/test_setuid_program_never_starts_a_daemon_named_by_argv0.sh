#!/usr/bin/env bash
# A setuid-root program linked with libfaultmap starts its daemon (daemon
# mode is the default, and a setuid program ignores FAULTMAP_MODE) from
# beside its real executable (/proc/self/exe), never from beside its
# argv[0], which whoever starts it chooses: started by nobody with argv[0]
# in nobody's own directory, next to a "faultmap" of nobody's, it does not
# run that one (as root), and still maps through the real daemon.
# Needs root (to make the binary setuid and to become nobody).
set -u
. "$(dirname "$0")/lib.sh"
setuid_dir
chmod 4755 "$D/fm-mapper" || fail "chmod 4755"

# nobody's directory, with a "faultmap" that leaves a mark if it is run.
E=$(mktemp -d /tmp/faultmap-argv0.XXXXXX) || fail "mktemp -d"
trap 'touch "$D/stop"; cleanup; stop_shared_daemons; rm -rf "$D" "$E"' EXIT
printf '#!/bin/sh\nid > %s/ran\n' "$E" >"$E/faultmap"
chmod 0755 "$E/faultmap" && chown -R nobody:nogroup "$E" || fail "chown $E"

as_nobody bash -c 'exec -a "$1/fm-mapper" "$2/fm-mapper" --once "$2"' _ "$E" "$D" >"$TMP/out" 2>&1
rc=$?
[ ! -e "$E/ran" ] || fail "a setuid program ran $E/faultmap, named by its argv[0], as: $(cat "$E/ran")"
[ "$rc" -eq 77 ] && { cat "$TMP/out"; echo "skip: faultmap cannot start here"; exit 77; }
[ "$rc" -eq 0 ] || { cat "$TMP/out"; fail "setuid fm_mapper exited $rc"; }
expect_out '^ready '
exit 0

#!/usr/bin/env bash
# A program linked with the build tree's shared library
# (-L build -lfaultmap -Wl,-rpath,build) starts and runs: build/ has the
# soname link libfaultmap.so.0 that the program loads.
set -u
. "$(dirname "$0")/lib.sh"

[ -L "$FAULTMAP_BUILD/libfaultmap.so.0" ] || fail "no soname link $FAULTMAP_BUILD/libfaultmap.so.0"
# shellcheck disable=SC2086
${FM_CLI_CC:-cc} ${FM_CLI_CFLAGS:-} -D_GNU_SOURCE -std=c11 -I"$ROOT/include" \
	"$ROOT/tests/cli/fm_mapper.c" -L"$FAULTMAP_BUILD" -lfaultmap -luring -lpthread \
	-Wl,-rpath,"$FAULTMAP_BUILD" -o "$TMP/mapper" || fail "cannot link with -lfaultmap"
readelf -d "$TMP/mapper" | grep -q 'NEEDED.*\[libfaultmap\.so\.0\]' ||
	fail "the program does not need libfaultmap.so.0"
"$TMP/mapper" --once "$TMP" >"$TMP/out" 2>&1
rc=$?
[ "$rc" -eq 77 ] && { tail -n 1 "$TMP/out"; exit 77; }
[ "$rc" -eq 0 ] || { cat "$TMP/out"; fail "the program exited $rc"; }
expect_out '^ready '
exit 0

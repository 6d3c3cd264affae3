#!/usr/bin/env bash
# Another user cannot stop root's programs from publishing by creating
# root's directory in /dev/shm first: root's runtime directory is under
# /run (/run/user/0/faultmap or /run/faultmap), where only root creates.
# In a private mount namespace with its own /dev/shm, nobody creates
# /dev/shm/faultmap-0 (mode 0777); a program of root still publishes, and
# faultmap stat shows it. Needs root.
set -u
. "$(dirname "$0")/lib.sh"
require_second_user
command -v unshare >/dev/null || { echo "skip: no unshare"; exit 77; }
build_mapper
cat >"$TMP/inside.sh" <<'INSIDE'
set -u
mount -t tmpfs -o mode=1777 tmpfs /dev/shm || exit 77
setpriv --reuid=nobody --regid=nogroup --clear-groups mkdir -m 0777 /dev/shm/faultmap-0 || exit 1
FAULTMAP_PUBLISH=1 "$MAPPER" "$TMP" >"$TMP/mapper.log" 2>&1 &
for _ in $(seq 200); do grep -q '^ready' "$TMP/mapper.log" && break; sleep 0.05; done
sleep 0.5
"$FM" stat
echo "mapper $!"
touch "$TMP/stop"
wait
ls -A /dev/shm/faultmap-0
INSIDE
expect_exit 0 env -u XDG_RUNTIME_DIR MAPPER="$MAPPER" TMP="$TMP" FM="$FM" unshare -m bash "$TMP/inside.sh"
pid=$(sed -n 's/^mapper //p' "$TMP/out")
[ -n "$pid" ] || { cat "$TMP/out"; fail "no mapper pid"; }
grep -q 'ready' "$TMP/mapper.log" || { cat "$TMP/mapper.log"; fail "the mapper did not run"; }
grep -q 'cannot publish\|refusing' "$TMP/mapper.log" && { cat "$TMP/mapper.log"; fail "root's program did not publish"; }
expect_out "^$pid +fm-mapper "
exit 0

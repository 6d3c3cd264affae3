#!/usr/bin/env bash
# root's faultmap stat and faultmap inspect find a process of another user
# (nobody, a member of a group that may open /dev/userfaultfd) in that
# user's runtime directory, found from the process's uid and checked the
# same way. Needs root.
set -u
. "$(dirname "$0")/lib.sh"
require_second_user
build_mapper
shared_dir other 0777 "$MAPPER"
group_node "$D"

FAULTMAP_PUBLISH=1 start_bg "$TMP/mapper.log" as_member env -u XDG_RUNTIME_DIR "$D/fm-mapper" "$D"
pid=$(pgrep -u nobody -f "^$D/fm-mapper") || fail "no fm-mapper of nobody"
sleep 0.5
expect_exit 0 "$FM" stat
expect_out "^$pid +fm-mapper "
expect_exit 0 timeout 20 "$FM" inspect "$pid"
expect_out "^process $pid: budget [0-9]+ pages"
expect_out 'i_mmap +2 vmas'
exit 0

#!/usr/bin/env bash
# Without permission to use userfaultfd (nobody, vm.unprivileged_userfaultfd
# =0, /dev/userfaultfd closed to it), faultmap run still runs the program
# on the kernel, and says once how to get access (the faultmap group and
# the udev rule in contrib/); the demo (build/scene) stops with the same
# advice and a line of its own. Then the advice itself is followed inside
# a private mount namespace: a /dev/userfaultfd node of group G, mode 0660,
# bound over the real one, gives a member of G (and not nobody alone) a
# working faultmap. Needs root.
set -u
. "$(dirname "$0")/lib.sh"
require_second_user
require_interposer
build_mapper
require_nobody_denied
shared_dir perm 0777 "$MAPPER"

advice="^    sudo cp contrib/60-faultmap-userfaultfd\.rules /etc/udev/rules\.d/ +# from faultmap's sources$"
mkdir -m 0755 "$TMP/norules" || fail "mkdir"  # no udev rule installed (rules_ns)

# faultmap run: the program runs, on the kernel, with the advice once.
expect_exit 0 rules_ns "$TMP/norules" env -u XDG_RUNTIME_DIR "$FM" run -- "$PY" -c "$MAPPER_PY" "$D/data.bin"
expect_out '^ready '
expect_out '^faultmap: no permission to use userfaultfd: /dev/userfaultfd is owned by uid 0, gid 0, mode 0600'
expect_out '^    sudo groupadd --system faultmap$'
expect_out '^    sudo usermod -aG faultmap \$USER$'
expect_out "$advice"
expect_out '^faultmap: cannot serve mappings \(Operation not permitted\); the kernel maps files instead$'
[ "$(grep -c 'no permission to use userfaultfd' "$TMP/out")" -eq 1 ] || { cat "$TMP/out"; fail "advice not given exactly once"; }

# The demo.
expect_exit 1 rules_ns "$TMP/norules" "$FAULTMAP_BUILD/scene" "$D"
expect_out "$advice"
expect_out '^scene: faultmap may not use userfaultfd here'

# The advice, followed: a group with a 0660 node gives access.
group_node "$D"
expect_exit 0 as_member "$D/fm-mapper" --once "$D"
expect_out '^ready '
expect_exit 77 in_group_ns setpriv --reuid=nobody --regid=nogroup --clear-groups "$D/fm-mapper" --once "$D"
expect_out 'no permission to use userfaultfd'
exit 0

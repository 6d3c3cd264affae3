#!/usr/bin/env bash
# faultmap doctor without userfaultfd access (nobody) exits 1, says
# userfaultfd is not permitted, shows /dev/userfaultfd's owner and mode and
# that the user is not in its group, and ends with the fix (the faultmap
# group and the udev rule: copied from faultmap's sources, or, where make
# install put it where udev reads it, named as installed and not copied).
# Then, as a member of a group given the device
# (a private mount namespace, as the README's setup makes it), it exits 0
# and says that fork events are not available (they need CAP_SYS_PTRACE).
# Needs root.
set -u
. "$(dirname "$0")/lib.sh"
require_second_user
require_nobody_denied
shared_dir doctor 0755 "$FM"

mkdir -m 0755 "$TMP/norules" "$TMP/rules" || fail "mkdir"
cp "$ROOT/contrib/60-faultmap-userfaultfd.rules" "$TMP/rules/" || fail "cp rule"
expect_exit 1 rules_ns "$TMP/norules" env -u XDG_RUNTIME_DIR "$D/faultmap" doctor
expect_out '^user +uid 65534, gid 65534$'
expect_out '^userfaultfd +NOT PERMITTED: faultmap cannot serve mappings \(faultmap run falls back to the kernel\)$'
mode=$(stat -c %a /dev/userfaultfd)
expect_out "^  device +/dev/userfaultfd: uid $(stat -c %u /dev/userfaultfd), group [^ ]+ \($(stat -c %g /dev/userfaultfd)\), mode 0*$mode; you are not in that group$"
expect_out '^daemon +(not running|running, pid [0-9]+)'
expect_out '^=> faultmap cannot serve mappings for this user\. How to get access:$'
expect_out '^    sudo groupadd --system faultmap$'
expect_out "^    sudo cp contrib/60-faultmap-userfaultfd\\.rules /etc/udev/rules\\.d/ +# from faultmap's sources$"
grep -q '^  features' "$TMP/out" && fail "features reported without access"
grep -q 'rule is installed' "$TMP/out" && fail "a rule named installed where there is none"
# The rule installed: not copied again.
expect_exit 1 rules_ns "$TMP/rules" env -u XDG_RUNTIME_DIR "$D/faultmap" doctor
expect_out '^To give access to the group faultmap, and add yourself to it \(the udev rule is installed: /[^ ]*/udev/rules\.d/60-faultmap-userfaultfd\.rules\):$'
expect_out '^    sudo groupadd --system faultmap$'
expect_out '^    sudo udevadm control --reload$'
grep -q 'sudo cp' "$TMP/out" && { cat "$TMP/out"; fail "the installed rule is to be copied again"; }

# A member of the device's group: served, without fork events.
group_node "$D"
expect_exit 0 as_member env -u XDG_RUNTIME_DIR "$D/faultmap" doctor
expect_out '^userfaultfd +ok: this user may use it$'
expect_out "^  device +/dev/userfaultfd: uid 0, group [^ ]+ \($UFFD_GID\), mode 0660; you are in that group$"
expect_out '^  fork events +no \(needs CAP_SYS_PTRACE, e\.g\. root\)'
expect_out '^=> faultmap can serve mappings for this user\.$'
exit 0

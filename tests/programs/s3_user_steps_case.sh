# s3_user_steps_case.sh - sourced by the tests of lib.sh's s3_user_steps
# (after lib.sh and setup): user_steps_case CMD... runs s3_user_steps CMD
# (SUSPEND set, $STEPS the default) in a shell of its own under a 30 s
# timeout, radosgw-admin a stand-in that logs its arguments but -c and
# -n to $WORK/admin.log; its exit status in $rc (124: it hung), its
# output in $out.
mkdir -p "$WORK/bin" || fail "mkdir"
cat >"$WORK/bin/radosgw-admin" <<'SH'
#!/bin/sh
shift 4  # -c CONF -n NAME
echo "$*" >>"$WORK/admin.log"
SH
chmod +x "$WORK/bin/radosgw-admin" || fail "chmod"
: >"$WORK/admin.log"

user_steps_case() {
	out=$(PATH=$WORK/bin:$PATH WORK=$WORK CEPH_CONF=/nonexistent SUSPEND=1 \
		timeout -k 5 30 bash -c '. "$1" && WORK=$2 && shift 2 && s3_user_steps "$@"' \
		user_steps "$_LIB_DIR/lib.sh" "$WORK" "$@" 2>&1)
	rc=$?
}

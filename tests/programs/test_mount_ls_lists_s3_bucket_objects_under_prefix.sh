#!/usr/bin/env bash
# test_mount_ls_lists_s3_bucket_objects_under_prefix.sh - under faultmap
# run --mount DIR=s3://BUCKET/pre/ (radosgw on a single-node Ceph cluster
# of the test's own), DIR lists the keys under pre/, the prefix taken off,
# as a local directory holding the same files lists them under the
# kernel: the workload of test_mount_ls_lists_rados_pool_objects (ls, a
# bash glob, find, Python, every dirent.h call of mount_dir.c; objects
# PUT with curl and made under the mount, one rm'ed and gone from the next
# listing), names with XML's special characters (& < > ' as entities in
# ListObjectsV2's reply), the output equal line for line. A key deeper
# than the prefix (pre/sub/hidden) makes DIR/sub a directory (a
# CommonPrefix: ls -1F lists sub/, ls of it hidden; stat: a directory);
# keys outside the prefix are not listed; a mount of the whole bucket
# lists its top-level keys and directories (many/, pre/);
# 1005 keys (ListObjectsV2 pages of 1000: a continuation token) list
# whole; an empty prefix lists . and .. alone; a bucket that does not
# exist is ENOENT, a wrong secret key EACCES (403). Both modes.
set -u
. "$(dirname "$0")/lib.sh"
setup
start_ceph rgw
listing_case
cat "$WORK/kern.out" >&2

# put KEY FILE - PUT FILE as the object KEY of the bucket
put() {
	s3 PUT "/fmls/$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")" \
		-T "$2" >/dev/null || fail "PUT $1"
}

s3 PUT /fmls >/dev/null || fail "making the bucket"
echo -n x >"$WORK/x"
# 1005 keys under many/, PUT by one curl
for i in $(seq -w 1 1005); do
	printf 'url = "%s/fmls/many/k%s"\nupload-file = "%s"\noutput = "/dev/null"\n' \
		"$FAULTMAP_S3_ENDPOINT" "$i" "$WORK/x"
	echo "k$i" >>"$WORK/many.want"
done >"$WORK/many.curl"
curl -sS --fail --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
	--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	-H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -K "$WORK/many.curl" || fail "PUT of many/"
put other "$WORK/x"
put prelude "$WORK/x"
printf 'many\nother\npre\nprelude\n' >"$WORK/top.want"

for mode in embedded daemon; do
	note "mode $mode"
	[ $mode = daemon ] && use_daemon
	rm -rf "$WORK/orig" && listing_files "$WORK/orig"
	for f in "$WORK"/orig/*; do
		put "pre/$(basename "$f")" "$f"
	done

	RUN_OPTS=(--$mode --mount "$WORK/fm/d=s3://fmls/pre/")
	cd "$WORK/fm" && run_fm 256K bash "$WORK/listing.sh" d "$WORK/prog" >"$WORK/fm.out"
	cat "$WORK/fm.out" >&2
	same_output "$WORK/kern.out" "$WORK/fm.out" "the listings ($mode)"
	put pre/sub/hidden "$WORK/x"
	run_fm 256K sh -c 'ls -1F d | grep /; ls d/sub; stat -c %F d/sub' >"$WORK/sub.out"
	printf 'sub/\nhidden\ndirectory\n' >"$WORK/sub.want"
	same_output "$WORK/sub.want" "$WORK/sub.out" "the directory sub of pre/sub/hidden ($mode)"
	(cd "$WORK/kern/d" && ls -1 | sed 's|^|pre/|' && echo pre/sub/hidden) | sort >"$WORK/want.keys"
	s3 GET "/fmls?list-type=2&prefix=pre%2F" -o "$WORK/keys.xml" || fail "listing pre/"
	"$PY" -c '
import re, sys, html
print("\n".join(sorted(html.unescape(k) for k in re.findall("<Key>(.*?)</Key>", open(sys.argv[1]).read()))))
' "$WORK/keys.xml" >"$WORK/keys"
	same_output "$WORK/want.keys" "$WORK/keys" "the bucket's keys under pre/ after the run ($mode)"
	s3 DELETE /fmls/pre/sub/hidden >/dev/null || fail "DELETE pre/sub/hidden"

	# the whole bucket: its top-level keys; 1005 keys; an empty prefix
	RUN_OPTS=(--$mode --mount "$WORK/fm/all=s3://fmls" --mount "$WORK/fm/many=s3://fmls/many/"
		--mount "$WORK/fm/e=s3://fmls/empty/")
	run_fm 256K ls -1 all >"$WORK/top.out"
	same_output "$WORK/top.want" "$WORK/top.out" "ls -1 of the whole bucket ($mode)"
	run_fm 256K ls -1 many >"$WORK/many.out"
	same_output "$WORK/many.want" "$WORK/many.out" "ls -1 of 1005 keys ($mode)"
	run_fm 256K ls -a e >"$WORK/empty.out"
	printf '.\n..\n' >"$WORK/empty.want"
	same_output "$WORK/empty.want" "$WORK/empty.out" "ls -a of an empty prefix ($mode)"

	# errors: no such bucket, a wrong secret key
	RUN_OPTS=(--$mode --mount "$WORK/fm/nobucket=s3://no-such-bucket")
	PYTHONPATH=$_LIB_DIR run_fm 256K "$PY" -c '
import os
from errno_of import errno_of
print("no such bucket", errno_of(lambda: os.listdir("nobucket")))
' >"$WORK/errors.out"
	RUN_OPTS=(--$mode --mount "$WORK/fm/d=s3://fmls/pre/")
	AWS_SECRET_ACCESS_KEY=wrong PYTHONPATH=$_LIB_DIR run_fm 256K "$PY" -c '
import os
from errno_of import errno_of
print("wrong secret", errno_of(lambda: os.listdir("d")))
' >>"$WORK/errors.out"
	printf 'no such bucket ENOENT\nwrong secret EACCES\n' >"$WORK/errors.want"
	same_output "$WORK/errors.want" "$WORK/errors.out" "listing errors ($mode)"
done

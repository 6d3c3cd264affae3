#!/usr/bin/env bash
# test_git_log_patch_small_pack_windows.sh - `git log -p` in a repository of
# 300 generated commits packed by `git gc`, with 16K pack windows and a 64K
# pack limit (git maps and unmaps small windows of the pack, and of its
# index and commit-graph, over and over), under a 256K budget: the output
# equals the kernel run's.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd git
setup
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

cat >gen.py <<'EOF'
import random, sys
r = random.Random(16)
out = sys.stdout.buffer
files = {"src/f%d.txt" % i: ["%08x %s" % (r.getrandbits(32), "%064x" % r.getrandbits(256))
                             for _ in range(400)] for i in range(8)}
def emit(path):
    data = ("\n".join(files[path]) + "\n").encode()
    out.write(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
for c in range(300):
    msg = ("commit %d: change things\n\nbody line for %d\n" % (c, c)).encode()
    out.write(b"commit refs/heads/main\n")
    out.write(b"author A U Thor <author@example.com> %d +0000\n" % (1700000000 + c * 60))
    out.write(b"committer C O Mitter <committer@example.com> %d +0000\n" % (1700000000 + c * 60))
    out.write(b"data %d\n%s\n" % (len(msg), msg))
    if c == 0:
        for p in sorted(files):
            emit(p)
        continue
    for p in r.sample(sorted(files), 2):
        lines = files[p]
        for _ in range(r.randrange(5, 40)):
            i = r.randrange(len(lines))
            what = r.random()
            if what < 0.4:
                lines[i] = "%08x %s" % (r.getrandbits(32), "%064x" % r.getrandbits(256))
            elif what < 0.8:
                lines.insert(i, "%08x %s" % (r.getrandbits(32), "%064x" % r.getrandbits(256)))
            elif len(lines) > 50:
                del lines[i]
        emit(p)
    if c % 50 == 25:
        p = "docs/n%d.txt" % c
        files[p] = ["%064x" % r.getrandbits(256) for _ in range(200)]
        emit(p)
EOF

git init -q -b main repo || fail "git init"
"$PY" gen.py | git -C repo fast-import --quiet || fail "git fast-import"
git -C repo gc --quiet || fail "git gc"
git -C repo reset -q --hard || fail "git reset"
ls repo/.git/objects/pack/*.pack >/dev/null 2>&1 || fail "git gc left no pack"
pack=$(cat repo/.git/objects/pack/*.pack | wc -c)
[ "$pack" -gt $((1 << 20)) ] || fail "the pack is only $pack bytes"
cp -a repo kern/ && cp -a repo fm/

cat >workload.sh <<'EOF'
set -e
cd repo
git --no-pager -c core.packedGitWindowSize=16k -c core.packedGitLimit=64k log -p
git --no-pager -c core.packedGitWindowSize=16k -c core.packedGitLimit=64k log --stat --format=%H%n%s -- src/f3.txt docs
EOF
cd "$WORK/kern" && run_kernel bash ../workload.sh >../kern.out
cd "$WORK/fm" && run_fm 256K bash ../workload.sh >../fm.out
cd "$WORK" || fail "cd $WORK"
same_output kern.out fm.out "git's output"
[ "$(grep -cE '^commit [0-9a-f]{40}$' kern.out)" = 300 ] || fail "git log did not show 300 commits: the test is wrong"
expect_served 262144
expect_stat evictions -gt 0
# Both git processes read the pack through faultmap.
expect_stat pages_read -gt $((pack / 4096))

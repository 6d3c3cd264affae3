#!/usr/bin/env bash
# test_lmdb_utils_load_dump_stat.sh - lmdb-utils: mdb_load builds an
# environment (mapsize 64 MiB, about 6 MiB of data with overflow values, a
# main and a named database; LMDB reads its data file through a shared
# read-only mapping and writes it with pwrite) and mdb_stat / mdb_dump read
# it back, under a 512K budget: every output equals the kernel run's, and
# the environment faultmap wrote dumps the same on the kernel.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd mdb_load lmdb-utils
need_cmd mdb_dump lmdb-utils
need_cmd mdb_stat lmdb-utils
setup

cat >gen.py <<'EOF'
import hashlib, sys
def dump(path, seed, count):
    with open(path, "w") as f:
        f.write("VERSION=3\nformat=bytevalue\ntype=btree\nmapsize=67108864\n"
                "maxreaders=126\nHEADER=END\n")
        for i in range(count):
            key = b"key-%s-%08d" % (seed.encode(), (i * 7919) % count)
            n = 20000 + i if i % 50 == 0 else 200 + (i * 31) % 900
            unit = hashlib.sha256(key).digest()
            val = (unit * (n // 32 + 1))[:n]
            f.write(" %s\n %s\n" % (key.hex(), val.hex()))
        f.write("DATA=END\n")
dump("main.dump", "m", 7000)
dump("sub.dump", "s", 2000)
EOF
cat >workload.sh <<'EOF'
set -e
mdb_load -f ../main.dump env
mdb_load -s sub -f ../sub.dump env
mdb_stat -a env
mdb_stat -e env | grep -v 'Map address'
mdb_stat -ff env
mdb_dump -a env
mdb_dump -p -s sub env | md5sum
EOF

"$PY" gen.py || fail "gen.py"
mkdir kern/env fm/env
cd "$WORK/kern" && run_kernel bash ../workload.sh >../kern.out
cd "$WORK/fm" && run_fm 512K bash ../workload.sh >../fm.out
cd "$WORK" || fail "cd $WORK"
same_output kern.out fm.out "the lmdb-utils output"
[ "$(size_of fm/env/data.mdb)" -gt $((4 << 20)) ] || fail "data.mdb is only $(size_of fm/env/data.mdb) bytes"
expect_served 524288
expect_stat evictions -gt 0
# The environment faultmap wrote, dumped on the kernel.
cd "$WORK/kern" && run_kernel mdb_dump -a env >../kern.check
cd "$WORK/fm" && run_kernel mdb_dump -a env >../fm.check
cd "$WORK" || fail "cd $WORK"
same_output kern.check fm.check "mdb_dump on the kernel of the environment each run wrote"

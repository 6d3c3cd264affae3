#!/usr/bin/env bash
# test_ripgrep_mmap_search.sh - `rg --mmap` (ripgrep searching files through
# memory maps, several threads) over a directory of text files of 2 MiB
# each, under a 256K budget: literal, regex, case-insensitive, count and
# only-matching searches print the same lines (sorted) as on the kernel.
set -u
. "$(dirname "$0")/lib.sh"
need_cmd rg ripgrep
setup

cat >gen.py <<'EOF'
import os, random
r = random.Random(15)
words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]
os.makedirs("data/sub", exist_ok=True)
for f in range(5):
    path = "data/%sfile%d.txt" % ("sub/" if f % 2 else "", f)
    with open(path, "w") as out:
        size = 0
        n = 0
        while size < (2 << 20) + f * 12345:
            line = "%07d %s" % (n, " ".join(r.choice(words) for _ in range(r.randrange(3, 14))))
            if r.random() < 0.01:
                line += " needle%dhay%d" % (r.randrange(1000), f)
            if r.random() < 0.002:
                line += " MixedCase Zebra"
            out.write(line + "\n")
            size += len(line) + 1
            n += 1
with open("data/small.txt", "w") as out:
    out.write("needle1hay9 in a small file\nzebra\n")
EOF
cat >workload.sh <<'EOF'
set -e
rg --mmap -n 'needle' data | sort
rg --mmap -n 'needle(\d+)hay[13]' data | sort
rg --mmap -n -i 'mixedcase zebra' data | sort
rg --mmap -c 'oscar papa' data | sort
rg --mmap -o -N 'needle[0-9]*7hay' data | sort
EOF

"$PY" gen.py || fail "gen.py"
cp -r data kern/ && cp -r data fm/
cd "$WORK/kern" && run_kernel bash ../workload.sh >../kern.out
cd "$WORK/fm" && run_fm 256K bash ../workload.sh >../fm.out
cd "$WORK" || fail "cd $WORK"
same_output kern.out fm.out "rg's output"
[ "$(grep -c needle kern.out)" -gt 500 ] || fail "the search found too little: the test is wrong"
expect_served 262144
expect_stat evictions -gt 0
# rg ran 5 times, each reading all 10 MiB: most of it through faultmap.
expect_stat pages_read -gt $((5 * 2048))

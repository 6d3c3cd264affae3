import hashlib, mmap, os, sqlite3, subprocess, sys
plain = {k: v for k, v in os.environ.items()
         if k != "LD_PRELOAD" and not k.startswith("FAULTMAP_")}
def outside(*argv):  # a process not under faultmap
    sys.stdout.flush()
    subprocess.run(list(argv), check=True, env=plain)
def cli(sql):
    outside("sqlite3", "-batch", "db", sql)
db = sqlite3.connect("db", isolation_level=None)
db.execute("PRAGMA mmap_size=268435456")  # its pages through a mapping
db.execute("CREATE TABLE kv(k INTEGER PRIMARY KEY, n INTEGER, pad BLOB)")
db.executemany("INSERT INTO kv VALUES (?, ?, zeroblob(300))",
               ((k, k * 7 % 1000) for k in range(3000)))
def show(label):
    rows = db.execute("SELECT count(*), total(n), max(k), sum(length(pad)) FROM kv")
    print(label, rows.fetchone())
show("start")
for step in range(3):  # the CLI: plain pwrite()s of the database
    cli(f"INSERT INTO kv SELECT k + {100000 * (step + 1)}, n + {step}, zeroblob(200) "
        f"FROM kv WHERE k < 500; UPDATE kv SET n = n * 3 WHERE k % 13 = {step};")
    show(f"after plain sqlite3 step {step}")
print(db.execute("PRAGMA integrity_check").fetchall())
db.close()

# A plain file, mapped shared and read whole here, changed outside.
size = 64 * 4096
with open("raw", "wb") as f:
    f.write(bytes(i % 251 for i in range(size)))
fd = os.open("raw", os.O_RDWR)
m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
def h(what):
    print(what, hashlib.sha256(m[:]).hexdigest(),
          hashlib.sha256(os.pread(fd, size, 0)).hexdigest())
h("raw start")
outside(sys.executable, "-c", "import os; fd = os.open('raw', os.O_RDWR); "
        "os.pwrite(fd, b'P' * 10000, 5000)")
os.pread(fd, 1, 0)  # a check point
h("after plain pwrite")
outside(sys.executable, "-c", "import mmap, os; fd = os.open('raw', os.O_RDWR); "
        "k = mmap.mmap(fd, 0); k[40000:48000] = b'K' * 8000; k.flush(); k.close()")
m.flush()  # msync: a check point
h("after plain mapping")
m.close()
os.close(fd)

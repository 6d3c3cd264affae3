/*
 * A torture test in the style of tdbtorture (issue 10): NPROC separately
 * exec'd processes share a hash table in one file, each mapping it
 * MAP_SHARED through faultmap in daemon mode, with a lock file (fcntl
 * record lock) serializing the updates. Each does random stores (insert
 * or update), deletes and fetches, and logs every operation with what it
 * saw, numbered by the table's own operation counter (taken under the
 * lock). At times a process unmaps and maps the table again, msyncs it,
 * or reads a record with fm_pread instead of through its mapping. The
 * daemon's budget is 16 pages, a tenth of the table, so pages are evicted
 * and written back all the time.
 *
 * At the end the parent replays the logs in counter order on a model: each
 * operation must have seen exactly what the model holds then (a process
 * that missed another's write sees a stale record, or the counter repeats),
 * every record must be whole (its bytes derive from its key and version),
 * and the file, once the daemon has written back and stopped, read with
 * plain pread, must hold the model's table.
 *
 * FM_TORTURE_OPS (per process) and FM_TORTURE_SEED change the size and
 * the seed.
 */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPROC 4
#define NSLOTS 4096
#define NKEYS 1536
#define DATA 112
#define TABLE_BYTES (PS + NSLOTS * sizeof(struct rec))

enum { EMPTY = 0, USED = 1, GONE = 2 };
enum { STORE = 1, DELETE, FETCH, STATS };

struct rec {
	uint32_t state, key;
	uint64_t version;
	unsigned char data[DATA];
};

struct header {
	uint64_t magic;
	uint64_t counter; /* operations done, under the lock */
};

/* One operation as its process saw it. */
struct entry {
	uint64_t seq;	  /* the counter's value it took */
	uint32_t op, key;
	uint32_t found;	  /* the key was in the table */
	uint32_t pad;
	uint64_t seen;	  /* its version then */
	uint64_t version; /* STORE: the new version */
};

#define MAGIC 0x74646274726d7031ull

static void fill_data(unsigned char *d, uint32_t key, uint64_t version)
{
	uint64_t s = key * 0x9E3779B97F4A7C15ull ^ version;
	for (int i = 0; i < DATA; i++)
		d[i] = (unsigned char)rnd(&s);
}

static void check_rec(const struct rec *r)
{
	unsigned char want[DATA];
	fill_data(want, r->key, r->version);
	if (memcmp(want, r->data, DATA)) {
		fprintf(stderr, "record of key %u version %llu is torn or stale\n", r->key,
			(unsigned long long)r->version);
		exit(1);
	}
}

static void lock(int fd, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	while (fcntl(fd, F_SETLKW, &fl) < 0)
		CHECK(errno == EINTR);
}

static unsigned char *map_table(int fd)
{
	unsigned char *t = fm_mmap(NULL, TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(t != MAP_FAILED);
	return t;
}

/* find - the slot of key (*found set), or where to insert it. */
static struct rec *find(struct rec *slots, uint32_t key, bool *found)
{
	struct rec *free_slot = NULL;
	uint32_t h = (key * 2654435761u) % NSLOTS;
	for (uint32_t i = 0; i < NSLOTS; i++) {
		struct rec *r = &slots[(h + i) % NSLOTS];
		if (r->state == USED && r->key == key) {
			*found = true;
			return r;
		}
		if (r->state != USED && !free_slot)
			free_slot = r;
		if (r->state == EMPTY)
			break;
	}
	*found = false;
	CHECK(free_slot);
	return free_slot;
}

static int worker(const char *table_path, const char *lock_path, const char *log_path,
		  uint64_t seed, int ops)
{
	int fd = open(table_path, O_RDWR);
	int lfd = open(lock_path, O_RDWR);
	int log = open(log_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0 && lfd >= 0 && log >= 0);
	unsigned char *t = map_table(fd);
	uint64_t s = seed;
	for (int i = 0; i < ops; i++) {
		struct entry e = {.key = rnd(&s) % NKEYS};
		unsigned r = rnd(&s) % 100;
		e.op = r < 45 ? STORE : r < 65 ? DELETE : FETCH;
		lock(lfd, F_WRLCK);
		struct header *h = (struct header *)t;
		struct rec *slots = (struct rec *)(t + PS);
		CHECK(h->magic == MAGIC);
		e.seq = ++h->counter;
		bool found;
		struct rec *rec = find(slots, e.key, &found);
		e.found = found;
		if (found) {
			if (rnd(&s) % 4 == 0) { /* through the daemon's read() */
				struct rec copy;
				off_t at = (off_t)((unsigned char *)rec - t);
				CHECK(fm_pread(fd, &copy, sizeof(copy), at) == (ssize_t)sizeof(copy));
				CHECK(copy.state == USED && copy.key == e.key);
				check_rec(&copy);
				CHECK(copy.version == rec->version);
			}
			check_rec(rec);
			e.seen = rec->version;
		}
		if (e.op == STORE) {
			e.version = e.seq;
			struct rec n = {.state = USED, .key = e.key, .version = e.version};
			fill_data(n.data, n.key, n.version);
			memcpy(rec->data, n.data, DATA); /* the body first, as tdb */
			rec->key = n.key;
			rec->version = n.version;
			rec->state = USED;
		} else if (e.op == DELETE && found) {
			rec->state = GONE;
		}
		if (rnd(&s) % 64 == 0)
			CHECK(fm_msync(t, TABLE_BYTES, rnd(&s) % 2 ? MS_SYNC : MS_ASYNC) == 0);
		lock(lfd, F_UNLCK);
		CHECK(write(log, &e, sizeof(e)) == (ssize_t)sizeof(e));
		if (rnd(&s) % 200 == 0) { /* map it again: faults anew */
			CHECK(fm_munmap(t, TABLE_BYTES) == 0);
			t = map_table(fd);
		}
	}
	struct fm_stats st;
	CHECK(fm_stats(&st) == 0);
	struct entry e = {.op = STATS, .seen = st.evictions, .version = st.pages_written};
	CHECK(write(log, &e, sizeof(e)) == (ssize_t)sizeof(e));
	close(log);
	/* Leaves by _exit half the time, its mapping still there. */
	if (seed % 2)
		_exit(0);
	CHECK(fm_munmap(t, TABLE_BYTES) == 0);
	return 0;
}

static int by_seq(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int main(int argc, char **argv)
{
	if (argc == 7 && !strcmp(argv[1], "worker"))
		return worker(argv[2], argv[3], argv[4], strtoull(argv[5], NULL, 0), atoi(argv[6]));
	const char *env;
	int ops = (env = getenv("FM_TORTURE_OPS")) ? atoi(env) : 2000;
	uint64_t seed = (env = getenv("FM_TORTURE_SEED")) ? strtoull(env, NULL, 0) : 77;
	daemon_private();
	CHECK(setenv("FAULTMAP_BUDGET", "64k", 1) == 0); /* for the daemon started on demand */
	/* The table: a header page, then empty slots. */
	char table[64], lockf[64], logs[NPROC][80];
	int fd = make_file(table, TABLE_BYTES, 1, O_RDWR);
	unsigned char *init = calloc(1, TABLE_BYTES);
	CHECK(init);
	((struct header *)init)->magic = MAGIC;
	CHECK(pwrite(fd, init, TABLE_BYTES, 0) == (ssize_t)TABLE_BYTES);
	close(fd);
	close(make_file(lockf, 1, 2, O_RDWR));
	pid_t pids[NPROC];
	for (int i = 0; i < NPROC; i++) {
		snprintf(logs[i], sizeof(logs[i]), "%s.log%d", table, i);
		pids[i] = exec_self(argv[0], "worker %s %s %s %llu %d", table, lockf, logs[i],
				    (unsigned long long)(seed * 31 + (uint64_t)i), ops);
	}
	for (int i = 0; i < NPROC; i++) {
		int status;
		CHECK(waitpid(pids[i], &status, 0) == pids[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "worker %d ended with status %#x\n", i, status);
			if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
				return 77;
			return 1;
		}
	}
	/* The logs, in the order the lock gave. */
	size_t n = 0, cap = (size_t)NPROC * (size_t)ops + NPROC;
	struct entry *all = calloc(cap, sizeof(*all));
	CHECK(all);
	uint64_t evictions = 0, written = 0;
	for (int i = 0; i < NPROC; i++) {
		size_t size;
		struct entry *e = (struct entry *)slurp(logs[i], &size);
		CHECK_EQ(size, (size_t)(ops + 1) * sizeof(struct entry));
		for (size_t j = 0; j < size / sizeof(*e); j++) {
			if (e[j].op == STATS) {
				/* the daemon's counts: the last to ask saw most */
				evictions = e[j].seen > evictions ? e[j].seen : evictions;
				written = e[j].version > written ? e[j].version : written;
				continue;
			}
			all[n++] = e[j];
		}
		free(e);
		unlink(logs[i]);
	}
	qsort(all, n, sizeof(*all), by_seq);
	uint64_t *model = calloc(NKEYS, sizeof(*model)); /* version, 0: absent */
	CHECK(model);
	for (size_t j = 0; j < n; j++) {
		const struct entry *e = &all[j];
		if (e->seq != j + 1) {
			fprintf(stderr, "operation %zu took counter %llu: a process missed "
					"another's increment\n", j + 1, (unsigned long long)e->seq);
			return 1;
		}
		bool present = model[e->key] != 0;
		if (e->found != present || (present && e->seen != model[e->key])) {
			fprintf(stderr, "operation %llu (%u on key %u) saw %s version %llu; "
					"the table held %s version %llu\n",
				(unsigned long long)e->seq, e->op, e->key, e->found ? "" : "no",
				(unsigned long long)e->seen, present ? "" : "no",
				(unsigned long long)model[e->key]);
			return 1;
		}
		if (e->op == STORE)
			model[e->key] = e->version;
		else if (e->op == DELETE)
			model[e->key] = 0;
	}
	/* The file, once the daemon has written every page and stopped. */
	CHECK_EQ(daemon_stop(), 0);
	size_t size;
	unsigned char *file = slurp(table, &size);
	CHECK_EQ(size, TABLE_BYTES);
	const struct header *h = (const struct header *)file;
	CHECK(h->magic == MAGIC);
	CHECK_EQ(h->counter, n);
	const struct rec *slots = (const struct rec *)(file + PS);
	size_t live = 0;
	for (size_t i = 0; i < NSLOTS; i++) {
		if (slots[i].state != USED)
			continue;
		check_rec(&slots[i]);
		CHECK(slots[i].key < NKEYS);
		CHECK_EQ(slots[i].version, model[slots[i].key]);
		live++;
	}
	size_t want = 0;
	for (size_t k = 0; k < NKEYS; k++)
		want += model[k] != 0;
	CHECK_EQ(live, want);
	printf("%d processes x %d operations on a %zu-page table in a 16-page cache: %zu "
	       "operations replayed, %zu records at the end, %llu evictions, %llu pages written\n",
	       NPROC, ops, TABLE_BYTES / PS, n, live, (unsigned long long)evictions,
	       (unsigned long long)written);
	CHECK(evictions > 0);
	free(file);
	free(model);
	free(all);
	free(init);
	unlink(table);
	unlink(lockf);
	return 0;
}

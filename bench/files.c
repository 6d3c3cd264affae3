/*
 * files.c - fm-bench's test files: the pattern they hold, a fast fill, the
 * expected sums, dropping caches, and the check of workload 5's writes.
 *
 * Page p of every test file holds page_tag(p) in its first 8 bytes and, in
 * the rest, bytes of a fixed 1 MiB random buffer (the page at offset
 * p % 256 of it). A reader checks each page it touches by its tag, and a
 * scan by the sum of all the file's 64-bit words.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BASE_PAGES (MIB / PG)

static unsigned char base[MIB] __attribute__((aligned(4096)));
static uint64_t base_page_sum[BASE_PAGES]; /* words 1..511 of each page */

uint64_t xrand(uint64_t *s)
{
	/* xorshift64*: fast, and every contender replays the same stream */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

void pattern_init(void)
{
	uint64_t s = 0x666d2d62656e6368ULL;
	uint64_t *w = (uint64_t *)base;
	for (size_t i = 0; i < MIB / 8; i++)
		w[i] = xrand(&s);
	for (size_t p = 0; p < BASE_PAGES; p++) {
		uint64_t sum = 0;
		for (size_t i = 1; i < PG / 8; i++)
			sum += w[p * (PG / 8) + i];
		base_page_sum[p] = sum;
	}
}

uint64_t page_tag(uint64_t page)
{
	return (page + 1) * 0x9E3779B97F4A7C15ULL ^ 0x7461677461677461ULL;
}

void fill_page(unsigned char *dst, uint64_t page)
{
	memcpy(dst, base + (page % BASE_PAGES) * PG, PG);
	uint64_t tag = page_tag(page);
	memcpy(dst, &tag, 8);
}

/* slot_of - the byte offset in page where workload 5 writes (not the tag). */
unsigned slot_of(uint64_t page)
{
	return 8 + 8 * (unsigned)(page_tag(page) % 511);
}

uint64_t write_value(uint64_t nonce, uint64_t op)
{
	return (nonce << 40) | ((op + 1) & ((1ULL << 40) - 1));
}

uint64_t page_words_sum(const unsigned char *page)
{
	const uint64_t *w = (const uint64_t *)(const void *)page;
	uint64_t s = 0;
	for (size_t i = 0; i < PG / 8; i++)
		s += w[i];
	return s;
}

/* page_sum - the sum of the 64-bit words of page p of a test file. */
uint64_t page_sum(uint64_t page)
{
	return page_tag(page) + base_page_sum[page % BASE_PAGES];
}

/* file_sum - the sum of all 64-bit words of a test file of bytes bytes. */
uint64_t file_sum(uint64_t bytes)
{
	uint64_t s = 0;
	for (uint64_t p = 0; p < bytes / PG; p++)
		s += page_sum(p);
	return s;
}

/* create_file - write a test file of bytes bytes (a multiple of 1 MiB) at
 * path, 1 MiB per write. Return: 0 or -errno. */
int create_file(const char *path, uint64_t bytes, bool sync_it)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	unsigned char *buf = aligned_alloc(4096, MIB);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	memcpy(buf, base, MIB);
	int err = 0;
	for (uint64_t off = 0; off < bytes && !err; off += MIB) {
		for (uint64_t i = 0; i < BASE_PAGES; i++) {
			uint64_t tag = page_tag(off / PG + i);
			memcpy(buf + i * PG, &tag, 8);
		}
		size_t done = 0;
		while (done < MIB) {
			ssize_t n = pwrite(fd, buf + done, MIB - done, (off_t)(off + done));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				err = n < 0 ? -errno : -EIO;
				break;
			}
			done += (size_t)n;
		}
	}
	if (!err && sync_it && fsync(fd) < 0)
		err = -errno;
	free(buf);
	if (close(fd) < 0 && !err)
		err = -errno;
	return err;
}

/*
 * drop_caches - make the next read of path come from the disk: sync, then
 * "3" into /proc/sys/vm/drop_caches; when that is not permitted, fsync and
 * POSIX_FADV_DONTNEED on the file. *how says which was done.
 * Return: 0, or -errno when neither worked.
 */
int drop_caches(const char *path, char *how, size_t how_size)
{
	sync();
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = write(fd, "3\n", 2);
		close(fd);
		if (n == 2) {
			snprintf(how, how_size, "drop_caches");
			return 0;
		}
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	snprintf(how, how_size, "fadvise(DONTNEED); drop_caches not permitted");
	return -err;
}

/*
 * verify_writes - check workload 5's file: the pages written by the first
 * ops operations of the stream seeded with seed hold, at their slot, the
 * value of the last write there (with this run's nonce), and every other
 * byte of the file is the pattern. Read with pread after the writer exited.
 * The written slots are then restored to the pattern, for the next run.
 * Return: the number of bad pages (0 when all is well); msg describes the
 * first one.
 */
uint64_t verify_writes(const char *path, uint64_t bytes, uint64_t seed, uint64_t nonce,
		       uint64_t ops, char *msg, size_t msg_size)
{
	uint64_t pages = bytes / PG, bad = 0;
	uint64_t *last = calloc(pages, sizeof(*last)); /* op + 1, or 0 */
	unsigned char *buf = aligned_alloc(4096, MIB), *want = aligned_alloc(4096, PG);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	msg[0] = 0;
	if (!last || !buf || !want || fd < 0) {
		snprintf(msg, msg_size, "cannot check %s: %s", path, strerror(errno));
		bad = 1;
		goto out;
	}
	uint64_t s = seed;
	for (uint64_t i = 0; i < ops; i++)
		last[xrand(&s) % pages] = i + 1;
	for (uint64_t off = 0; off < bytes; off += MIB) {
		size_t len = bytes - off < MIB ? (size_t)(bytes - off) : MIB;
		if (pread(fd, buf, len, (off_t)off) != (ssize_t)len) {
			snprintf(msg, msg_size, "short read of %s at %llu", path,
				 (unsigned long long)off);
			bad++;
			break;
		}
		for (size_t i = 0; i < len / PG; i++) {
			uint64_t p = off / PG + i;
			fill_page(want, p);
			if (last[p]) {
				/* put the pattern back for the next run */
				if (pwrite(fd, want + slot_of(p), 8, (off_t)(p * PG + slot_of(p))) != 8)
					bad++;
				uint64_t v = write_value(nonce, last[p] - 1);
				memcpy(want + slot_of(p), &v, 8);
			}
			if (memcmp(buf + i * PG, want, PG) == 0)
				continue;
			if (!bad) {
				uint64_t got, exp;
				memcpy(&got, buf + i * PG + slot_of(p), 8);
				memcpy(&exp, want + slot_of(p), 8);
				snprintf(msg, msg_size,
					 "page %llu (%s) differs: slot holds %#llx, expected %#llx",
					 (unsigned long long)p, last[p] ? "written" : "never written",
					 (unsigned long long)got, (unsigned long long)exp);
			}
			bad++;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	free(last);
	free(buf);
	free(want);
	return bad;
}

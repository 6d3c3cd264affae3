/*
 * Daemon mode: dirty pages of an NBD export that no process maps any more,
 * because their write-back at the last unmap failed (nbdkit's error
 * filter: every write EIO), are not lost when the daemon is killed
 * (SIGKILL): the daemon copied them to a store rescue file in its runtime
 * directory (the URL, the size, the pages), and once the export takes
 * writes again, the next daemon writes them to it at its start (the store
 * opened with the embedded code, written, flushed) and removes the rescue
 * file. A daemon that starts while the export still fails keeps it, and
 * says so; so is a truncated store rescue file kept, and said. The rescue
 * file's name holds no part of the URL. Before, only files had rescue
 * files, and the pages died with the daemon: the export kept its old
 * bytes.
 */
#include "helpers.h"
#include "nbdkit.h"
#include "store_tests.h"
#include "daemon/rescue.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 40
#define SIZE (NPAGES * PS - 1024) /* the last page: part of one */

static struct nbdkit k;

/* the client: writes through a shared mapping, then the export refuses
 * them at the last unmap, and at the close */
static void client(void *arg)
{
	const unsigned char *want = arg;
	require_engine();
	struct fm_store *s = nbdkit_open_store(&k, O_RDWR);
	unsigned char *p = fm_mmap_store(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s, 0);
	CHECK(p != MAP_FAILED);
	for (int i = 0; i < NPAGES; i += 3) {
		size_t n = (size_t)i == NPAGES - 1 ? SIZE - (size_t)i * PS : PS;
		memcpy(p + (size_t)i * PS, want + (size_t)i * PS, n);
	}
	nbdkit_trigger(k.werr, 1);
	CHECK(fm_munmap(p, SIZE) == 0); /* its write-back fails: kept */
	CHECK(fm_store_close(s) == 0);	/* written again, fails again */
	exit(0);
}

int main(void)
{
	daemon_private(); /* this process never maps: its child does */
	nbdkit_start(&k, SIZE, 71);
	unsigned char *old = malloc(NPAGES * PS), *want = malloc(NPAGES * PS);
	CHECK(old && want);
	fill_pattern(old, SIZE, 71);
	memcpy(want, old, SIZE);
	for (int i = 0; i < NPAGES; i += 3) /* a pattern of their own */
		fill_pattern(want + (size_t)i * PS, PS, 7000 + (uint32_t)i);

	char name[256];
	store_rescue_of_client(client, want, name, sizeof(name));
	CHECK(!strstr(name, "nbd") && !strstr(name, "sock") && !strchr(name, '%'));
	check_file_is(k.disk, old, SIZE); /* the pages never reached it */

	/* Listed as the file rescues are, by the store's name. */
	char dir[128], *text = NULL;
	size_t len = 0;
	snprintf(dir, sizeof(dir), "%s/faultmap", getenv("XDG_RUNTIME_DIR"));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	FILE *list = open_memstream(&text, &len);
	CHECK(list);
	CHECK_EQ(rescue_list(dfd, list), 1);
	fclose(list);
	char line[512];
	snprintf(line, sizeof(line), "  %s: %d pages of %s\n", name, (NPAGES + 2) / 3, k.url);
	if (strcmp(text, line))
		fprintf(stderr, "listed: %swanted: %s", text, line);
	CHECK(!strcmp(text, line));
	free(text);
	close(dfd);

	/* A daemon that cannot write them either keeps the rescue file. A
	 * truncated copy of it is kept too, and said. */
	char path[512], bad[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(bad, sizeof(bad), "%s/rescue-store-truncated", dir);
	copy_file(path, bad, 1);
	require_engine_in_child();
	CHECK(daemon_log_says("could not be written back: Input/output error: kept"));
	CHECK(daemon_log_says("rescue-store-truncated cannot be read (it is not a well-formed rescue "
		       "file): kept"));
	CHECK_EQ(rescue_files(RESCUE_PREFIX, "rescue-store-truncated", name, sizeof(name)), 1);
	CHECK(daemon_stop() == 0);
	check_file_is(k.disk, old, SIZE);

	nbdkit_trigger(k.werr, 0);
	require_engine_in_child(); /* a new daemon: it writes them back first */
	check_file_is(k.disk, want, SIZE);
	CHECK_EQ(rescue_files(RESCUE_PREFIX, "rescue-store-truncated", name, sizeof(name)), 0);
	CHECK(daemon_log_says("were written from the rescue file"));
	unlink(bad);
	nbdkit_stop(&k);
	free(old);
	free(want);
	return 0;
}

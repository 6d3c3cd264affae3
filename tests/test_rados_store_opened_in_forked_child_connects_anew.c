/*
 * A forked child that opens a RADOS store of the cluster its parent is
 * connected to connects anew: the parent's connection (shared by its
 * stores of one conf, rados.c) has none of its librados threads in the
 * child, where a store on it would wait forever (without the check, the
 * child hung in fm_store_open). The child's store sizes and reads its
 * object; the parent's store still reads after the child is gone.
 * Embedded mode: the connections are this process's (in daemon mode the
 * daemon opens every store). Not under TSan (no threads in a forked
 * child of a threaded process there).
 */
#include "ceph.h"
#include "helpers.h"

#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	fm_set_mode(FM_MODE_EMBEDDED);
	require_threads_after_fork(); /* librados's, in the child */
	static struct ceph c;
	ceph_start(&c);
	require_engine();
	ceph_put(&c, "a", "parent", 6);
	ceph_put(&c, "b", "child!!", 7);
	char url[256];
	ceph_url(&c, "a", url, sizeof(url));
	struct fm_store *a = fm_store_open(url, O_RDONLY);
	CHECK(a);
	ceph_url(&c, "b", url, sizeof(url));
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct fm_store *b = fm_store_open(url, O_RDONLY);
		_exit(b && fm_store_size(b) == 7 ? 0 : 1);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char buf[8] = {0};
	CHECK_EQ(fm_store_pread(a, buf, sizeof(buf), 0), 6);
	CHECK(memcmp(buf, "parent", 6) == 0);
	CHECK(fm_store_close(a) == 0);
	ceph_stop(&c);
	return 0;
}

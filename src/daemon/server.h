/*
 * server.h - the faultmap daemon's entry point (src/daemon/server.c), for
 * `faultmap daemon` (programs/daemon.c).
 */
#ifndef FAULTMAP_DAEMON_SERVER_H
#define FAULTMAP_DAEMON_SERVER_H

#include <stdbool.h>
#include <stddef.h>

/* Seconds a file's pages stay cached after its last unmap, unless
 * FAULTMAP_LINGER says otherwise (docs/design.md, "Lingering files"). */
#define FMD_LINGER_DEFAULT 300

struct fmd_opts {
	size_t budget;		/* bytes, or 0: FAULTMAP_BUDGET or the default */
	int ready_fd;		/* written "1" and closed once listening, or -1 */
	bool quiet_if_running;	/* another daemon runs: exit 0, silently */
};

/* fmd_main - run the daemon until FMD_STOP, SIGTERM, SIGINT or SIGHUP;
 * then write every dirty page back. Return: the exit status. */
int fmd_main(const struct fmd_opts *o);

/* fmd_socket_path - the daemon's socket for this user (in the runtime
 * directory, made if missing). Return: 0 or -errno. */
int fmd_socket_path(char *path, size_t size);

#endif /* FAULTMAP_DAEMON_SERVER_H */

/*
 * mount_prog.h - what the test programs of the mounts (mount_io.c,
 * mount_stdio.c) share: a hash of the bytes they read, and how they stop.
 */
#ifndef MOUNT_PROG_H
#define MOUNT_PROG_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fnv - FNV-1a of p[0..n), from h (FNV0 to start). */
static inline uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

#define FNV0 0xcbf29ce484222325ULL

/* die - say what failed (errno) on stdout, where the comparison sees it. */
static inline void die(const char *what)
{
	printf("FAILED %s: %s\n", what, strerror(errno));
	exit(1);
}

#endif /* MOUNT_PROG_H */

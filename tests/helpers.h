/* helpers.h - shared by faultmap's tests: one behaviour per test program,
 * exit 0 = pass, 77 = skip, anything else = fail. */
#ifndef FM_TEST_HELPERS_H
#define FM_TEST_HELPERS_H

#include "faultmap.h"

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PS 4096UL

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			exit(1);                                               \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                          \
	do {                                                                    \
		long long a_ = (long long)(a), b_ = (long long)(b);             \
		if (a_ != b_) {                                                 \
			fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", \
				__FILE__, __LINE__, #a, a_, #b, b_);            \
			exit(1);                                                \
		}                                                               \
	} while (0)

#if defined(__SANITIZE_THREAD__)
#define FM_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FM_UNDER_TSAN 1
#endif
#endif

/* Skip (exit 77) when faultmap cannot start here (no userfaultfd). */
void require_engine(void);
/* Skip (exit 77) where a test cannot catch the SIGBUS faultmap's fault
 * thread sends: under TSan, which delivers a signal sent by another thread
 * only when the target reaches one of its interceptors, and a thread stuck
 * re-faulting on one load never does. */
void require_sigbus_delivery(void);
/* A new file of size bytes filled from seed; its path goes into path[64]. */
int make_file(char *path, size_t size, uint32_t seed, int flags);
/* Fill buf with the pattern make_file uses. */
void fill_pattern(void *buf, size_t size, uint32_t seed);
/* Read the whole file at path into a malloc'd buffer; *size set. */
unsigned char *slurp(const char *path, size_t *size);
/* Fail unless the file at path holds exactly want[0..size) (names the
 * first byte that differs). */
void check_file_is(const char *path, const unsigned char *want, size_t size);
/* Page-cache bytes this process holds in faultmap's memfds, measured from
 * /proc/self/fd, outside the engine. */
uint64_t memfd_bytes(void);
uint32_t rnd(uint64_t *state);
/* Whether the file of fd is in memory (tmpfs, ramfs): faultmap reads such
 * files with pread, never on the fault thread's io_uring. */
bool file_in_memory(int fd);
/* Mount a tmpfs with options (e.g. "size=1m") on a new directory, whose
 * path goes into dir[64]; it is unmounted at exit. Skips (exit 77, with a
 * message) where it cannot be mounted (not root). */
void mount_tmpfs(char *dir, const char *options);
/* Run fn(arg) in a child; return its wait status. */
int in_child(void (*fn)(void *), void *arg);

#endif

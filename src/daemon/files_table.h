/*
 * files_table.h - which files the daemon caches, for its clients to see
 * without asking (src/daemon/files_table.c).
 *
 * A read() or write() of a file the daemon caches must go through the
 * daemon, or it would miss (or stale) what other processes' mappings hold;
 * one of any other file must not pay a round trip. The daemon keeps, in a
 * file of its runtime directory (FMD_TABLE_NAME, 0600), a counting table:
 * slot 0 counts the files cached; slot 1 + hash(dev, ino) % (SLOTS - 1)
 * counts the files cached with that hash. A client maps it read-only: a
 * zero slot means "not cached" for sure; a non-zero one means "ask".
 */
#ifndef FAULTMAP_FILES_TABLE_H
#define FAULTMAP_FILES_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define FMD_TABLE_NAME "daemon.files"
#define FMD_TABLE_SLOTS 16384u

/* The daemon's side: create the table (in the runtime directory dfd,
 * replacing a stale one), and count a file in or out. */
int files_table_create(int dfd);
void files_table_remove(int dfd);
void files_table_count(dev_t dev, ino_t ino, int delta);

/* The client's side: whether the daemon may cache the file of fd (true
 * when in doubt: then ask it). */
bool files_table_may_cache(int fd);
/* files_table_refresh - look for the daemon's table now (a client that has
 * just connected: its table exists, and the last look may have been before
 * the daemon started). */
void files_table_refresh(void);

#endif /* FAULTMAP_FILES_TABLE_H */

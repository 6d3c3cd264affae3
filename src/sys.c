/*
 * sys.c - the system calls faultmap's I/O goes through.
 *
 * Every read of a file, write of a page and flush passes through the fm_sys
 * table, so a test can replace an entry and make the Nth call fail with the
 * errno it chooses (SQLite's os_unix.c does the same). Production code never
 * changes the table.
 */
#include "internal.h"

#include <unistd.h>

struct fm_sys fm_sys = {
	.pread = pread,
	.pwrite = pwrite,
	.fdatasync = fdatasync,
};

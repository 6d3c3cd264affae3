/*
 * errseq.h - how every opener of a file hears of each write-back error
 * once, as with the kernel's lib/errseq.c.
 *
 * A struct errseq holds the last error, its number and whether anyone was
 * told. A file's is its address_space's (as->wb_err, set by write-back:
 * writeback.c); a store's cache leaves it in its struct fm_store while no
 * cache holds the store (as_free, as_create). Each opener (a vma for
 * msync, an open file description for fsync: filemap.c) holds the number
 * of the last error it was told of, sampled when it opened.
 *
 * Context: the caller serialises (engine.lock).
 */
#ifndef FAULTMAP_ERRSEQ_H
#define FAULTMAP_ERRSEQ_H

#include <stdbool.h>
#include <stdint.h>

struct errseq {
	int err;      /* the last write-back error, */
	uint32_t seq; /* ... its number (0: none yet), */
	bool seen;    /* ... and whether it was reported */
};

/* errseq_set - a write-back failed with err. A new number only if the
 * last error was seen: an error nobody heard of yet is just replaced. */
static inline void errseq_set(struct errseq *e, int err)
{
	if (!e->seq || e->seen) {
		e->seq++;
		e->seen = false;
	}
	e->err = err;
}

/* errseq_sample - what a new opener starts from: every error it is to
 * hear of comes after. An error nobody heard of yet is for it too. */
static inline uint32_t errseq_sample(const struct errseq *e)
{
	return e->seen || !e->seq ? e->seq : e->seq - 1;
}

/* errseq_check_and_advance - the error an opener that last heard of
 * *since is to hear of now (0: none); it is told, and so is e. */
static inline int errseq_check_and_advance(struct errseq *e, uint32_t *since)
{
	if (*since == e->seq)
		return 0;
	*since = e->seq;
	e->seen = true;
	return e->err;
}

#endif /* FAULTMAP_ERRSEQ_H */

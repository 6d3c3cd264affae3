/*
 * page.c - page frames: the descriptors of cached pages (the kernel's
 * struct page and mem_map), and the LRU lists reclaim chooses from.
 *
 * Frames are numbered; the table grows on demand up to the budget, so its
 * memory follows the peak cache size (32 bytes per 4 KiB page). Free frames
 * form a list through their next field. All functions run under engine.lock.
 */
#include "internal.h"

#include <stdlib.h>

struct fm_frame *frame_get(uint32_t nr)
{
	return &engine.frames[nr];
}

/* frame_alloc - a free frame, or FM_NIL when all budget_pages are in use. */
uint32_t frame_alloc(void)
{
	uint32_t nr;
	if (engine.free_head != FM_NIL) {
		nr = engine.free_head;
		engine.free_head = engine.frames[nr].next;
		engine.nr_free--;
	} else {
		if (engine.nr_frames >= engine.budget_pages)
			return FM_NIL;
		if (engine.nr_frames == engine.frames_cap) {
			uint32_t cap = engine.frames_cap ? engine.frames_cap * 2 : 1024;
			if (cap > engine.budget_pages)
				cap = (uint32_t)engine.budget_pages;
			struct fm_frame *f = fm_realloc(engine.frames, cap * sizeof(*f));
			if (!f)
				return FM_NIL;
			engine.frames = f;
			engine.frames_cap = cap;
		}
		nr = engine.nr_frames++;
	}
	engine.frames[nr] = (struct fm_frame){.prev = FM_NIL, .next = FM_NIL};
	return nr;
}

void frame_free(uint32_t nr)
{
	struct fm_frame *f = &engine.frames[nr];
	f->mapping = NULL;
	f->lru = LRU_NONE;
	f->flags = 0;
	f->next = engine.free_head;
	engine.free_head = nr;
	engine.nr_free++;
}

/* lru_add - append frame nr to the tail (most recent end) of list. */
void lru_add(uint32_t nr, enum fm_lru list)
{
	struct fm_lru_list *l = &engine.lru[list];
	struct fm_frame *f = &engine.frames[nr];
	f->lru = (uint8_t)list;
	f->next = FM_NIL;
	f->prev = l->tail;
	if (l->tail != FM_NIL)
		engine.frames[l->tail].next = nr;
	else
		l->head = nr;
	l->tail = nr;
	l->count++;
}

void lru_del(uint32_t nr)
{
	struct fm_frame *f = &engine.frames[nr];
	struct fm_lru_list *l = &engine.lru[f->lru];
	if (f->prev != FM_NIL)
		engine.frames[f->prev].next = f->next;
	else
		l->head = f->next;
	if (f->next != FM_NIL)
		engine.frames[f->next].prev = f->prev;
	else
		l->tail = f->prev;
	l->count--;
	f->prev = f->next = FM_NIL;
	f->lru = LRU_NONE;
}

void frame_table_destroy(void)
{
	fm_free(engine.frames);
	engine.frames = NULL;
	engine.nr_frames = engine.frames_cap = engine.nr_free = 0;
	engine.free_head = FM_NIL;
	for (int i = 0; i < LRU_COUNT; i++)
		engine.lru[i] = (struct fm_lru_list){FM_NIL, FM_NIL, 0};
}

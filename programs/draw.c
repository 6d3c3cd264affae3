/*
 * draw.c - faultmap inspect's text drawing of a process's page cache, as
 * the seed draws it: per file, the address_space, its page index as a map
 * of cells (one page per cell, or a group of pages when the file is large),
 * and the reverse map: each vma of i_mmap as a bar under the page index
 * showing which part of the file it maps. Also the cell computations that
 * svg.c shares.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ROW_CELLS 64 /* cells per line */
#define MAP_ROWS 16  /* lines of the page index, at most */

/* ins_scale - see cli.h. */
uint64_t ins_scale(uint64_t pages, uint64_t cells)
{
	uint64_t s = (pages + cells - 1) / cells;
	return s ? s : 1;
}

/* ins_ncells - see cli.h. */
size_t ins_ncells(uint64_t pages, uint64_t scale)
{
	return (size_t)((pages + scale - 1) / scale);
}

/* ins_vma_pages - see cli.h. */
void ins_vma_pages(const struct ins_vma *v, uint64_t *first, uint64_t *last)
{
	*first = v->pgoff;
	*last = v->pgoff + (v->end - v->start + 4095) / 4096 - 1;
}

struct cell {
	uint64_t cached;
	bool dirty, locked;
};

/* add_run - account the pages [pos, end) in state s to the cells. */
static void add_run(struct cell *c, size_t ncells, uint64_t scale, uint64_t pos,
		    uint64_t end, char s)
{
	if (s == '.')
		return;
	for (size_t i = (size_t)(pos / scale); i < ncells && i * scale < end; i++) {
		uint64_t lo = i * scale > pos ? i * scale : pos;
		uint64_t hi = (i + 1) * scale < end ? (i + 1) * scale : end;
		c[i].cached += hi - lo;
		c[i].dirty |= s == 'D';
		c[i].locked |= s == 'L';
	}
}

/* ins_cells - see cli.h. */
int ins_cells(const struct ins_file *f, uint64_t scale, char *out, size_t ncells)
{
	struct cell *c = calloc(ncells ? ncells : 1, sizeof(*c));
	if (!c)
		return -1;
	uint64_t pos = 0;
	for (size_t r = 0; r < f->nr_runs && pos < f->pages; r++) {
		uint64_t end =
		    f->runs[r].count > f->pages - pos ? f->pages : pos + f->runs[r].count;
		add_run(c, ncells, scale, pos, end, f->runs[r].state);
		pos = end;
	}
	for (size_t i = 0; i < ncells; i++) {
		uint64_t size = (i + 1) * scale < f->pages ? scale : f->pages - i * scale;
		out[i] = c[i].locked	       ? 'L'
			 : c[i].dirty	       ? 'D'
			 : c[i].cached >= size ? 'R'
			 : c[i].cached	       ? 'r'
					       : '.';
	}
	free(c);
	return 0;
}

/* legend - what one cell means at scale. */
static void legend(uint64_t scale)
{
	if (scale == 1)
		printf(
		    "1 char = 1 page: . not cached, R resident, D dirty, L being read\n");
	else
		printf("1 char = %" PRIu64
		       " pages: . none cached, r some resident, R all "
		       "resident, D some dirty, L some being read\n",
		       scale);
}

/* draw_pages - the page index, ROW_CELLS cells a line. */
static void draw_pages(const struct ins_file *f)
{
	uint64_t scale = ins_scale(f->pages, ROW_CELLS * MAP_ROWS);
	size_t n = ins_ncells(f->pages, scale);
	char cells[ROW_CELLS * MAP_ROWS];
	printf("  page_tree      ");
	legend(scale);
	if (ins_cells(f, scale, cells, n)) {
		printf("                 (out of memory)\n");
		return;
	}
	for (size_t i = 0; i < n; i += ROW_CELLS)
		printf("  %12" PRIu64 "   %.*s\n", (uint64_t)i * scale,
		       (int)(n - i < ROW_CELLS ? n - i : ROW_CELLS), cells + i);
}

/* ins_prot_text - see cli.h. The engine reads the protection from its own
 * /proc/self/maps: a forked child's is not known to it. */
const char *ins_prot_text(const struct ins_vma *v)
{
	if (v->prot[0] != '?')
		return v->prot;
	return v->pid ? "(protection not known: the process is gone)"
		      : "(protection not known: a forked child's vma)";
}

/* ins_mm_text - see cli.h. */
const char *ins_mm_text(const struct ins_vma *v, char *buf, size_t size)
{
	if (v->pid > 0)
		snprintf(buf, size, "mm %u (pid %d)", v->mm, v->pid);
	else
		snprintf(buf, size, "mm %u", v->mm);
	return buf;
}

/* vma_bar - the cells of the file that v maps, as '=' (shared) or '-'
 * (private), into bar[0..n). */
static void vma_bar(const struct ins_vma *v, uint64_t scale, char *bar, size_t n)
{
	uint64_t first, last;
	ins_vma_pages(v, &first, &last);
	for (size_t i = 0; i < n; i++) {
		bool in = i * scale <= last && (i + 1) * scale > first;
		bar[i] = in ? (v->shared ? '=' : '-') : ' ';
	}
}

/* draw_vma - one vma of the reverse map. */
static void draw_vma(size_t nr, const struct ins_vma *v, uint64_t scale, size_t n)
{
	char bar[ROW_CELLS + 1], cow[64] = "";
	uint64_t first, last;
	vma_bar(v, scale, bar, n);
	ins_vma_pages(v, &first, &last);
	if (v->cow >= 0)
		snprintf(cow, sizeof(cow), ", %ld page%s copied on write", v->cow,
			 v->cow == 1 ? "" : "s");
	const char *prot = ins_prot_text(v);
	char mm[48];
	printf("  %12s%-3zu|%.*s|  [0x%" PRIx64 ", 0x%" PRIx64 ") pgoff %" PRIu64
	       " -> pages %" PRIu64 "-%" PRIu64 ", %s, %s %s%s\n",
	       "vma ", nr, (int)n, bar, v->start, v->end, v->pgoff, first, last,
	       ins_mm_text(v, mm, sizeof(mm)), v->shared ? "shared" : "private", prot, cow);
}

/* draw_rmap - the reverse map: the page index in one line, and under it
 * one bar per vma at the same scale. */
static void draw_rmap(const struct ins_file *f)
{
	uint64_t scale = ins_scale(f->pages, ROW_CELLS);
	size_t n = ins_ncells(f->pages, scale);
	char cells[ROW_CELLS + 1];
	printf("  i_mmap         %zu vma%s (the reverse map); = shared, - private; ",
	       f->nr_vmas, f->nr_vmas == 1 ? "" : "s");
	legend(scale);
	if (!f->nr_vmas || ins_cells(f, scale, cells, n))
		return;
	printf("  %15s|%.*s|  page 0-%" PRIu64 "\n", "", (int)n, cells, f->pages - 1);
	for (size_t i = 0; i < f->nr_vmas; i++)
		draw_vma(i, &f->vmas[i], scale, n);
}

/* draw_file - one address_space. */
static void draw_file(size_t nr, const struct ins_file *f)
{
	printf("\nfile %zu  %s\n", nr, f->path);
	printf("  address_space  dev %s, ino %" PRIu64 ", %" PRIu64 " bytes, %" PRIu64
	       " pages, %" PRIu64 " resident, %" PRIu64 " dirty\n",
	       f->dev, f->ino, f->size, f->pages, f->resident, f->dirty);
	if (!f->pages) {
		printf("  page_tree      (empty file)\n");
		return;
	}
	draw_pages(f);
	draw_rmap(f);
}

/* draw_text - see cli.h. */
void draw_text(const struct inspect *ins)
{
	char b[32];
	printf("process %d: budget %" PRIu64 " pages (%s), %zu file%s cached\n", ins->pid,
	       ins->budget_pages, fmt_bytes(b, sizeof(b), ins->budget_pages * 4096),
	       ins->nr_files, ins->nr_files == 1 ? "" : "s");
	for (size_t i = 0; i < ins->nr_files; i++)
		draw_file(i, &ins->files[i]);
}

/*
 * svg.c - faultmap inspect --svg: the same picture as draw.c, as SVG. Each
 * file is a box holding its address_space line and its page index as
 * coloured cells (grey not cached, green resident, light green partly,
 * orange dirty, blue being read); below it, each vma of i_mmap is a box
 * with a bar that stands for the whole file, the part the vma maps filled
 * in (lined up with the cells when they fit one row). Nothing is drawn
 * over the cells. A legend at the top names the colours; the budget is in
 * bytes.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define COLS 64 /* cells per row */
#define ROWS 8	/* rows of cells, at most */
#define CELL 12 /* cell side, px */
#define LEFT 20 /* left margin */
#define WIDTH (LEFT * 2 + COLS * CELL)
#define VMA_H 44 /* height of a vma box and its gap */
#define TOP 64	 /* where the first file starts, under the legend */
#define SHARED_FILL "#d1c4e9"
#define SHARED_MAP "#5e35b1"
#define PRIVATE_FILL "#f8bbd0"
#define PRIVATE_MAP "#d81b60"

/* color - the fill of a cell state. */
static const char *color(char s)
{
	switch (s) {
	case 'R':
		return "#4caf50";
	case 'r':
		return "#a5d6a7";
	case 'D':
		return "#ff9800";
	case 'L':
		return "#42a5f5";
	default:
		return "#eeeeee";
	}
}

/* xml_text - s with &, <, > and quotes escaped, to f. */
static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

/* grid_rows - rows of cells of file f at scale. */
static int grid_rows(const struct ins_file *f, uint64_t scale)
{
	return (int)((ins_ncells(f->pages, scale) + COLS - 1) / COLS);
}

/* file_height - the height of file f's drawing. */
static int file_height(const struct ins_file *f)
{
	int rows = grid_rows(f, ins_scale(f->pages, COLS * ROWS));
	return 44 + rows * CELL + 34 + (int)f->nr_vmas * VMA_H + 16;
}

/* cell_x, cell_y - where cell i is drawn, from the file's top y. */
static int cell_x(size_t i) { return LEFT + (int)(i % COLS) * CELL; }
static int cell_y(int top, size_t i) { return top + 44 + (int)(i / COLS) * CELL; }

/* draw_cells - the page index of f. */
static void draw_cells(FILE *out, const struct ins_file *f, int top, uint64_t scale)
{
	size_t n = ins_ncells(f->pages, scale);
	char cells[COLS * ROWS];
	if (ins_cells(f, scale, cells, n))
		return;
	for (size_t i = 0; i < n; i++)
		fprintf(
		    out,
		    "<rect x='%d' y='%d' width='%d' height='%d' fill='%s' stroke='#fff'>"
		    "<title>pages %" PRIu64 "-%" PRIu64 ": %c</title></rect>\n",
		    cell_x(i), cell_y(top, i), CELL, CELL, color(cells[i]),
		    (uint64_t)i * scale, ((uint64_t)i + 1) * scale - 1, cells[i]);
}

/* draw_vma - vma v as a box at y: its description, and a bar standing for
 * the file's cells (ncells of scale pages) with the part v maps filled. */
static void draw_vma(FILE *out, const struct ins_vma *v, int y, uint64_t scale,
		     size_t ncells)
{
	uint64_t first, last;
	ins_vma_pages(v, &first, &last);
	uint64_t span = (uint64_t)ncells * scale; /* pages the cells stand for */
	int width = (int)(ncells < COLS ? ncells : COLS) * CELL;
	if (!span)
		span = 1;
	uint64_t a = first, b = last; /* the bar: within the cells */
	if (b >= span)
		b = span - 1;
	if (a > b)
		a = b;
	int x0 = LEFT + (int)(a * (uint64_t)width / span);
	int x1 = LEFT + (int)((b + 1) * (uint64_t)width / span);
	if (x1 <= x0)
		x1 = x0 + 1;
	fprintf(out,
		"<rect x='%d' y='%d' width='%d' height='%d' fill='%s' stroke='#555'/>\n",
		LEFT - 6, y, WIDTH - 2 * LEFT + 12, VMA_H - 6,
		v->shared ? SHARED_FILL : PRIVATE_FILL);
	char mm[48];
	fprintf(out,
		"<text x='%d' y='%d' font-size='11'>vma [0x%" PRIx64 ", 0x%" PRIx64
		") pgoff %" PRIu64 " -&gt; pages %" PRIu64 "-%" PRIu64 ", %s, %s %s",
		LEFT, y + 14, v->start, v->end, v->pgoff, first, last,
		ins_mm_text(v, mm, sizeof(mm)), v->shared ? "shared" : "private",
		ins_prot_text(v));
	if (v->cow >= 0)
		fprintf(out, ", %ld copied on write", v->cow);
	fputs("</text>\n", out);
	fprintf(out,
		"<rect x='%d' y='%d' width='%d' height='10' fill='white' stroke='#999'/>\n"
		"<rect x='%d' y='%d' width='%d' height='10' fill='%s'>"
		"<title>pages %" PRIu64 "-%" PRIu64 "</title></rect>\n",
		LEFT, y + 22, width, x0, y + 22, x1 - x0, v->shared ? SHARED_MAP : PRIVATE_MAP,
		first, last);
}

/* draw_file - file f with its top at y. */
static void draw_file(FILE *out, const struct ins_file *f, int y)
{
	uint64_t scale = ins_scale(f->pages, COLS * ROWS);
	size_t n = ins_ncells(f->pages, scale);
	int rows = grid_rows(f, scale);
	fprintf(
	    out,
	    "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#333'/>\n",
	    LEFT - 6, y, WIDTH - 2 * LEFT + 12, 44 + rows * CELL + 6);
	fprintf(out, "<text x='%d' y='%d' font-size='13' font-weight='bold'>", LEFT,
		y + 18);
	xml_text(out, f->path);
	fprintf(out,
		"</text>\n<text x='%d' y='%d' font-size='11'>address_space: %" PRIu64
		" bytes, %" PRIu64 " page%s, %" PRIu64 " resident, %" PRIu64
		" dirty; 1 cell = %" PRIu64 " page%s</text>\n",
		LEFT, y + 34, f->size, f->pages, f->pages == 1 ? "" : "s", f->resident,
		f->dirty, scale, scale == 1 ? "" : "s");
	draw_cells(out, f, y, scale);
	int ty = y + 44 + rows * CELL + 24;
	fprintf(out,
		"<text x='%d' y='%d' font-size='11'>i_mmap: %zu vma%s (the reverse map); "
		"each bar is the whole file, filled where the vma maps it</text>\n",
		LEFT, ty, f->nr_vmas, f->nr_vmas == 1 ? "" : "s");
	int vy = ty + 10;
	for (size_t i = 0; i < f->nr_vmas; i++, vy += VMA_H)
		draw_vma(out, &f->vmas[i], vy, scale, n);
}

/* draw_legend - what each colour means, at y. */
static void draw_legend(FILE *out, int y)
{
	static const struct {
		const char *fill, *what;
	} keys[] = {
	    {NULL, "not cached"},      {NULL, "resident"},	 {NULL, "partly resident"},
	    {NULL, "dirty"},	       {NULL, "being read"},	 {SHARED_MAP, "shared vma"},
	    {PRIVATE_MAP, "private vma"},
	};
	static const char states[] = ".RrDL";
	int x = LEFT;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *fill = keys[i].fill ? keys[i].fill : color(states[i]);
		fprintf(out,
			"<rect x='%d' y='%d' width='%d' height='%d' fill='%s' stroke='#999'/>"
			"<text x='%d' y='%d' font-size='11'>%s</text>\n",
			x, y, CELL, CELL, fill, x + CELL + 4, y + CELL - 2, keys[i].what);
		x += CELL + 4 + 7 * (int)strlen(keys[i].what) + 14;
	}
}

/* write_svg - see cli.h. */
int write_svg(const struct inspect *ins, const char *path)
{
	FILE *out = fopen(path, "w");
	if (!out) {
		fprintf(stderr, "faultmap: %s: %s\n", path, strerror(errno));
		return -1;
	}
	int height = TOP;
	for (size_t i = 0; i < ins->nr_files; i++)
		height += file_height(&ins->files[i]);
	char budget[32];
	fprintf(out,
		"<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
		"font-family='monospace'>\n<rect width='100%%' height='100%%' "
		"fill='white'/>\n"
		"<text x='%d' y='24' font-size='14'>process %d: budget %" PRIu64
		" bytes (%s, %" PRIu64 " pages), %zu file%s</text>\n",
		WIDTH, height, LEFT, ins->pid, ins->budget_pages * 4096,
		fmt_bytes(budget, sizeof(budget), ins->budget_pages * 4096),
		ins->budget_pages, ins->nr_files, ins->nr_files == 1 ? "" : "s");
	draw_legend(out, 36);
	int y = TOP;
	for (size_t i = 0; i < ins->nr_files; i++) {
		draw_file(out, &ins->files[i], y);
		y += file_height(&ins->files[i]);
	}
	fputs("</svg>\n", out);
	if (fclose(out)) {
		fprintf(stderr, "faultmap: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

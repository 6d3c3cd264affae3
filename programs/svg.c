/*
 * svg.c - faultmap inspect --svg: the same picture as draw.c, as SVG. Each
 * file is a box holding its address_space line and its page index as
 * coloured cells (grey not cached, green resident, light green partly,
 * orange dirty, blue being read); below it, each vma of i_mmap is a box
 * linked by a band to the range of cells it maps.
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
#define VMA_H 34 /* height of a vma box and its gap */

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

/* file_height - the height of file f's drawing. */
static int file_height(const struct ins_file *f)
{
	size_t n = ins_ncells(f->pages, ins_scale(f->pages, COLS * ROWS));
	int rows = (int)((n + COLS - 1) / COLS);
	return 50 + rows * CELL + 20 + (int)f->nr_vmas * VMA_H + 20;
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

/* draw_vma - vma v as a box at y, with a band to the cells it maps. */
static void draw_vma(FILE *out, const struct ins_vma *v, int top, int y, uint64_t scale,
		     size_t ncells)
{
	uint64_t first, last;
	ins_vma_pages(v, &first, &last);
	size_t a = (size_t)(first / scale), b = (size_t)(last / scale);
	if (b >= ncells)
		b = ncells ? ncells - 1 : 0;
	const char *fill = v->shared ? "#bbdefb" : "#f8bbd0";
	fprintf(out,
		"<polygon points='%d,%d %d,%d %d,%d %d,%d' fill='%s' opacity='0.45'/>\n",
		cell_x(a), cell_y(top, a) + CELL, cell_x(b) + CELL, cell_y(top, b) + CELL,
		WIDTH - LEFT, y, LEFT, y, fill);
	fprintf(out,
		"<rect x='%d' y='%d' width='%d' height='%d' fill='%s' stroke='#555'/>\n",
		LEFT, y, WIDTH - 2 * LEFT, VMA_H - 10, fill);
	fprintf(out,
		"<text x='%d' y='%d' font-size='11'>vma [0x%" PRIx64 ", 0x%" PRIx64
		") pgoff %" PRIu64 " -&gt; pages %" PRIu64 "-%" PRIu64 ", mm %u, %s %s",
		LEFT + 6, y + 16, v->start, v->end, v->pgoff, first, last, v->mm,
		v->shared ? "shared" : "private", v->prot);
	if (v->cow >= 0)
		fprintf(out, ", %ld copied on write", v->cow);
	fputs("</text>\n", out);
}

/* draw_file - file f with its top at y. */
static void draw_file(FILE *out, const struct ins_file *f, int y)
{
	uint64_t scale = ins_scale(f->pages, COLS * ROWS);
	size_t n = ins_ncells(f->pages, scale);
	int rows = (int)((n + COLS - 1) / COLS);
	fprintf(
	    out,
	    "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#333'/>\n",
	    LEFT - 6, y, WIDTH - 2 * LEFT + 12, 50 + rows * CELL - 2);
	fprintf(out, "<text x='%d' y='%d' font-size='13' font-weight='bold'>", LEFT,
		y + 18);
	xml_text(out, f->path);
	fprintf(out,
		"</text>\n<text x='%d' y='%d' font-size='11'>address_space: %" PRIu64
		" bytes, %" PRIu64 " pages, %" PRIu64 " resident, %" PRIu64
		" dirty; 1 cell = %" PRIu64 " page%s</text>\n",
		LEFT, y + 34, f->size, f->pages, f->resident, f->dirty, scale,
		scale == 1 ? "" : "s");
	draw_cells(out, f, y, scale);
	int vy = y + 50 + rows * CELL + 20;
	for (size_t i = 0; i < f->nr_vmas; i++, vy += VMA_H)
		draw_vma(out, &f->vmas[i], y, vy, scale, n);
}

/* write_svg - see cli.h. */
int write_svg(const struct inspect *ins, const char *path)
{
	FILE *out = fopen(path, "w");
	if (!out) {
		fprintf(stderr, "faultmap: %s: %s\n", path, strerror(errno));
		return -1;
	}
	int height = 40;
	for (size_t i = 0; i < ins->nr_files; i++)
		height += file_height(&ins->files[i]);
	fprintf(out,
		"<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
		"font-family='monospace'>\n<rect width='100%%' height='100%%' "
		"fill='white'/>\n"
		"<text x='%d' y='24' font-size='14'>process %d: budget %" PRIu64
		" pages, %zu files</text>\n",
		WIDTH, height, LEFT, ins->pid, ins->budget_pages, ins->nr_files);
	int y = 40;
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

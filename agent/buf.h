/* SPDX-License-Identifier: Apache-2.0 */
/* Capped output buffers, JSON string literals and aligned text tables:
 * what every view of the agent is rendered into.
 */
#ifndef AOAI_BUF_H
#define AOAI_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer with a hard cap: a write past <cap> is refused
 * and sets <overflow>, so a caller checks once after a whole rendering.
 */
struct buf {
	char *p;       /* data, NUL-terminated when len < size; owned */
	size_t len;    /* bytes used */
	size_t size;   /* bytes allocated */
	size_t cap;    /* never grows past this */
	bool overflow; /* a write was refused */
};

/* Empty buffer that may grow up to <cap> bytes (nothing allocated yet). */
void buf_init(struct buf *b, size_t cap);

/* Appends <n> bytes. Returns 0, or -1 (over the cap or out of memory: the
 * buffer is unchanged and <overflow> set).
 */
int buf_add(struct buf *b, const void *data, size_t n);

/* Appends formatted text, all or nothing. Returns 0 or -1 as above. */
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends <s> as a JSON string literal, quotes included. */
int buf_json_str(struct buf *b, const char *s);

/* Drops the first <n> bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* Truncates to <len> bytes (len <= b->len) and clears <overflow>. */
void buf_truncate(struct buf *b, size_t len);

/* Frees the memory; the buffer is empty and usable again. */
void buf_free(struct buf *b);

#define BUF_TABLE_COLS 16

/* Cells of a table for people, widths measured as they come. */
struct buf_table {
	uint32_t ncols;		      /* cells per row */
	uint32_t ncells;	      /* cells added */
	size_t width[BUF_TABLE_COLS]; /* widest cell per column */
	struct buf cells;	      /* NUL-terminated cells, row-major */
};

/* Empty table of <ncols> (at most BUF_TABLE_COLS) columns whose cells may
 * take up to <cap> bytes.
 */
void buf_table_init(struct buf_table *t, uint32_t ncols, size_t cap);

/* Adds the next cell, left to right then down. */
void buf_table_cell(struct buf_table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints the table into <out>, each line after <indent>, two spaces
 * between columns, the last column unpadded, and frees the table. A table
 * that overflowed sets <out>'s overflow.
 */
void buf_table_print(struct buf_table *t, struct buf *out, const char *indent);

#endif /* AOAI_BUF_H */

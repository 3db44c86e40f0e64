/* SPDX-License-Identifier: Apache-2.0 */
/* Capped buffers and text tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void buf_init(struct buf *b, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->cap = cap;
}

/* Makes room for <n> more bytes plus a NUL. Returns 0 or -1. */
static int buf_room(struct buf *b, size_t n)
{
	size_t want, size;
	char *p;

	if (n > b->cap || b->len > b->cap - n) {
		b->overflow = true;
		return -1;
	}
	want = b->len + n + 1;
	if (want <= b->size)
		return 0;
	size = b->size ? b->size : 256;
	while (size < want)
		size *= 2;
	if (size > b->cap + 1)
		size = b->cap + 1;
	p = realloc(b->p, size);
	if (!p) {
		b->overflow = true;
		return -1;
	}
	b->p = p;
	b->size = size;
	return 0;
}

int buf_add(struct buf *b, const void *data, size_t n)
{
	if (buf_room(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0 || buf_room(b, (size_t)n) < 0) {
		b->overflow = true;
		return -1;
	}
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

int buf_json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char esc[6] = {'\\', 'u', '0', '0', 0, 0};
	const unsigned char *u = (const unsigned char *)s;
	size_t start = 0, i;
	int r = buf_add(b, "\"", 1);

	for (i = 0; u[i]; i++) {
		if (u[i] >= 0x20 && u[i] != '"' && u[i] != '\\' && u[i] < 0x7f)
			continue;
		r |= buf_add(b, s + start, i - start);
		if (u[i] == '"' || u[i] == '\\') {
			char two[2] = {'\\', (char)u[i]};

			r |= buf_add(b, two, 2);
		} else if (u[i] >= 0x80) {
			/* names and reasons are ASCII; never emit bad UTF-8 */
			r |= buf_add(b, "?", 1);
		} else {
			esc[4] = hex[u[i] >> 4];
			esc[5] = hex[u[i] & 15];
			r |= buf_add(b, esc, sizeof(esc));
		}
		start = i + 1;
	}
	r |= buf_add(b, s + start, i - start);
	r |= buf_add(b, "\"", 1);
	return r ? -1 : 0;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->p, b->p + n, b->len - n);
		b->len -= n;
	}
	if (b->p)
		b->p[b->len] = '\0';
}

void buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->p[len] = '\0';
	}
	b->overflow = false;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->size = 0;
	b->overflow = false;
}

void buf_table_init(struct buf_table *t, uint32_t ncols, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	buf_init(&t->cells, cap);
}

void buf_table_cell(struct buf_table *t, const char *fmt, ...)
{
	size_t before = t->cells.len;
	uint32_t col = t->ncells % t->ncols;
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(&t->cells, fmt, ap) == 0 &&
	    buf_add(&t->cells, "", 1) == 0) {
		if (t->cells.len - before - 1 > t->width[col])
			t->width[col] = t->cells.len - before - 1;
	}
	va_end(ap);
	t->ncells++;
}

void buf_table_print(struct buf_table *t, struct buf *out, const char *indent)
{
	const char *p = t->cells.p, *end = p + t->cells.len;
	uint32_t i = 0, col;
	size_t n;

	if (t->cells.overflow)
		out->overflow = true;
	while (p && p < end) {
		col = i % t->ncols;
		n = strlen(p);
		if (col == 0)
			buf_printf(out, "%s", indent);
		if (col + 1 == t->ncols || i + 1 == t->ncells)
			buf_printf(out, "%s\n", p);
		else
			buf_printf(out, "%-*s  ", (int)t->width[col], p);
		p += n + 1;
		i++;
	}
	buf_free(&t->cells);
}

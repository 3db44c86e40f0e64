/* SPDX-License-Identifier: Apache-2.0 */
/* Views rendered from one table model (view-t.h): aligned text, JSON and
 * Prometheus. Not on the request path: a view allocates its rows.
 */
#ifndef AOAI_VIEW_H
#define AOAI_VIEW_H

#include <stdint.h>

#include "buf.h"
#include "view-t.h"

/* Cell initialisers by type, for column tables written as X-macros:
 * VIEW_VAL_U64(expr) is the cell of a VIEW_U64 column.
 */
#define VIEW_VAL_STR(x)	 ((union view_val){.s = (x)})
#define VIEW_VAL_U64(x)	 ((union view_val){.u = (uint64_t)(x)})
#define VIEW_VAL_I64(x)	 ((union view_val){.i = (int64_t)(x)})
#define VIEW_VAL_INT(x)	 ((union view_val){.i = (int64_t)(x)})
#define VIEW_VAL_BOOL(x) ((union view_val){.b = (x)})
#define VIEW_VAL_ENUM(x) ((union view_val){.e = (uint32_t)(x)})

/* Makes room for <n> rows of view <v>, zeroed. Returns 0, or -1 out of
 * memory (<r> is then empty and view_rows_free() is still safe).
 */
int view_rows_init(struct view_rows *r, const struct view *v, uint32_t n);

/* The cells of row <i>, v->ncols of them. */
static inline union view_val *view_row(struct view_rows *r, uint32_t i)
{
	return r->cells + (uint64_t)i * r->v->ncols;
}

void view_rows_free(struct view_rows *r);

/* The columns with a heading, as a table: a heading line, one line per
 * row, two spaces between columns, each line after <indent>. <cap> bounds
 * the table's cells.
 */
void view_text(const struct view_rows *r, struct buf *out, const char *indent,
	       size_t cap);

/* The members of row <i>'s JSON object, without its braces, so that the
 * caller may add its own (a nested list).
 */
void view_json_fields(const struct view_rows *r, uint32_t i, struct buf *out);

/* Rows <from> .. <from + n - 1> of <r> as rows of their own (not owned:
 * never freed).
 */
static inline struct view_rows view_rows_slice(const struct view_rows *r,
					       uint32_t from, uint32_t n)
{
	struct view_rows s = {r->v, n, r->cells + (uint64_t)from * r->v->ncols};

	return s;
}

/* One row as a JSON object: the columns with a key, those of a group in
 * one nested object placed where the group's first column stands.
 */
void view_json_row(const struct view_rows *r, uint32_t i, struct buf *out);

/* The rows as a JSON array of objects. */
void view_json(const struct view_rows *r, struct buf *out);

/* The Prometheus families of the view (text format 0.0.4) of type
 * <ptype> ("gauge", "counter"; NULL: all): each family once, in column
 * order, its HELP and TYPE, then for each row the samples of every column
 * of that family, named <prefix><family>.
 */
void view_prom(const struct view_rows *r, struct buf *out, const char *prefix,
	       const char *ptype);

/* HELP and TYPE of one family: <prefix><name>. */
void view_prom_family(struct buf *o, const char *prefix, const char *name,
		      const char *type, const char *help);

/* One sample <prefix><name>{k1="v1",k2="v2"} <value>: label values
 * escaped; <k1> and <k2> may be NULL.
 */
void view_prom_sample(struct buf *o, const char *prefix, const char *name,
		      const char *k1, const char *v1, const char *k2,
		      const char *v2, const char *value);

#endif /* AOAI_VIEW_H */

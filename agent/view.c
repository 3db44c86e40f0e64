/* SPDX-License-Identifier: Apache-2.0 */
/* One table model, three outputs: aligned text, JSON, Prometheus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

int view_rows_init(struct view_rows *r, const struct view *v, uint32_t n)
{
	r->v = v;
	r->n = 0;
	r->cells = calloc(n && v->ncols ? (size_t)n * v->ncols : 1,
			  sizeof(*r->cells));
	if (!r->cells)
		return -1;
	r->n = n;
	return 0;
}

void view_rows_free(struct view_rows *r)
{
	free(r->cells);
	r->cells = NULL;
	r->n = 0;
}

static const union view_val *view_cell(const struct view_rows *r, uint32_t i,
				       uint32_t c)
{
	return r->cells + (uint64_t)i * r->v->ncols + c;
}

static const char *view_enum_name(const struct view_col *col, uint32_t e)
{
	return e < col->n_names ? col->names[e] : "?";
}

/* The text of one cell into <buf>. */
static const char *view_text_cell(const struct view_col *col,
				  const union view_val *x, char *buf,
				  size_t size)
{
	switch (col->type) {
	case VIEW_STR:
		return x->s && x->s[0] ? x->s : "-";
	case VIEW_U64:
		snprintf(buf, size, "%llu", (unsigned long long)x->u);
		return buf;
	case VIEW_I64:
		if (x->i < 0)
			return "-";
		/* fall through */
	case VIEW_INT:
		snprintf(buf, size, "%lld", (long long)x->i);
		return buf;
	case VIEW_BOOL:
		return x->b ? "yes" : "no";
	case VIEW_ENUM:
		return view_enum_name(col, x->e);
	}
	return "?";
}

/* The fixed layout: each column in its width, one space between, the
 * last one unpadded.
 */
static void view_text_fixed(const struct view_rows *r, struct buf *out,
			    const char *indent)
{
	const struct view *v = r->v;
	uint32_t c, i, last = 0;
	char buf[32];
	int64_t row;

	for (c = 0; c < v->ncols; c++)
		if (v->cols[c].head)
			last = c;
	for (row = -1; row < (int64_t)r->n; row++) {
		buf_printf(out, "%s", indent);
		for (c = 0; c < v->ncols; c++) {
			const struct view_col *col = &v->cols[c];
			const char *s;

			if (!col->head)
				continue;
			i = (uint32_t)row;
			s = row < 0 ? col->head
				    : view_text_cell(col, view_cell(r, i, c),
						     buf, sizeof(buf));
			if (c == last)
				buf_printf(out, "%s\n", s);
			else
				buf_printf(out, "%*s ", col->width, s);
		}
	}
}

void view_text(const struct view_rows *r, struct buf *out, const char *indent,
	       size_t cap)
{
	const struct view *v = r->v;
	struct buf_table t;
	uint32_t c, i, n = 0;
	char buf[32];

	if (v->fixed) {
		view_text_fixed(r, out, indent);
		return;
	}
	for (c = 0; c < v->ncols; c++)
		n += v->cols[c].head != NULL;
	buf_table_init(&t, n, cap);
	for (c = 0; c < v->ncols; c++)
		if (v->cols[c].head)
			buf_table_cell(&t, "%s", v->cols[c].head);
	for (i = 0; i < r->n; i++)
		for (c = 0; c < v->ncols; c++)
			if (v->cols[c].head)
				buf_table_cell(
					&t, "%s",
					view_text_cell(&v->cols[c],
						       view_cell(r, i, c), buf,
						       sizeof(buf)));
	buf_table_print(&t, out, indent);
}

/* One JSON value of column <col>. */
static void view_json_val(const struct view_col *col, const union view_val *x,
			  struct buf *out)
{
	switch (col->type) {
	case VIEW_STR:
		if (x->s)
			buf_json_str(out, x->s);
		else
			buf_add(out, "null", 4);
		break;
	case VIEW_U64:
		buf_printf(out, "%llu", (unsigned long long)x->u);
		break;
	case VIEW_I64:
		if (x->i < 0) {
			buf_add(out, "null", 4);
			break;
		}
		/* fall through */
	case VIEW_INT:
		buf_printf(out, "%lld", (long long)x->i);
		break;
	case VIEW_BOOL:
		buf_printf(out, "%s", x->b ? "true" : "false");
		break;
	case VIEW_ENUM:
		buf_json_str(out, view_enum_name(col, x->e));
		break;
	}
}

/* A cell JSON writes as null: a VIEW_STR without text, an unknown
 * VIEW_I64. A group whose first cell is null is null itself.
 */
static bool view_is_null(const struct view_col *col, const union view_val *x)
{
	return (col->type == VIEW_STR && !x->s) ||
	       (col->type == VIEW_I64 && x->i < 0);
}

static bool view_same_group(const struct view_col *a, const struct view_col *b)
{
	return a->group && b->group && strcmp(a->group, b->group) == 0;
}

/* True when an earlier column of <c>'s group has a key: the group was
 * written there.
 */
static bool view_group_written(const struct view *v, uint32_t c)
{
	uint32_t k;

	for (k = 0; k < c; k++)
		if (v->cols[k].key && view_same_group(&v->cols[k], &v->cols[c]))
			return true;
	return false;
}

void view_json_fields(const struct view_rows *r, uint32_t i, struct buf *out)
{
	const struct view *v = r->v;
	bool first = true, inner;
	uint32_t c, k;

	for (c = 0; c < v->ncols; c++) {
		const struct view_col *col = &v->cols[c];

		if (!col->key || (col->group && view_group_written(v, c)))
			continue;
		if (!first)
			buf_add(out, ",", 1);
		first = false;
		if (!col->group) {
			buf_printf(out, "\"%s\":", col->key);
			view_json_val(col, view_cell(r, i, c), out);
			continue;
		}
		if (view_is_null(col, view_cell(r, i, c))) {
			buf_printf(out, "\"%s\":null", col->group);
			continue;
		}
		buf_printf(out, "\"%s\":{", col->group);
		inner = true;
		for (k = c; k < v->ncols; k++) {
			if (!v->cols[k].key ||
			    !view_same_group(&v->cols[k], col))
				continue;
			buf_printf(out, "%s\"%s\":", inner ? "" : ",",
				   v->cols[k].key);
			view_json_val(&v->cols[k], view_cell(r, i, k), out);
			inner = false;
		}
		buf_add(out, "}", 1);
	}
}

void view_json_row(const struct view_rows *r, uint32_t i, struct buf *out)
{
	buf_add(out, "{", 1);
	view_json_fields(r, i, out);
	buf_add(out, "}", 1);
}

void view_json(const struct view_rows *r, struct buf *out)
{
	uint32_t i;

	buf_add(out, "[", 1);
	for (i = 0; i < r->n; i++) {
		if (i)
			buf_add(out, ",", 1);
		view_json_row(r, i, out);
	}
	buf_add(out, "]", 1);
}

void view_prom_family(struct buf *o, const char *prefix, const char *name,
		      const char *type, const char *help)
{
	const char *p;

	buf_printf(o, "# HELP %s%s ", prefix, name);
	/* text format: backslash and newline are escaped in HELP */
	for (p = help; *p; p++) {
		if (*p == '\\')
			buf_add(o, "\\\\", 2);
		else if (*p == '\n')
			buf_add(o, "\\n", 2);
		else
			buf_add(o, p, 1);
	}
	buf_printf(o, "\n# TYPE %s%s %s\n", prefix, name, type);
}

/* A label value, escaped (backslash, double quote, newline). */
static void view_prom_label(struct buf *o, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			buf_printf(o, "\\%c", *v);
		else if (*v == '\n')
			buf_add(o, "\\n", 2);
		else
			buf_add(o, v, 1);
	}
}

/* One sample with <n> labels <k>[i]="<v>[i]". */
static void view_prom_sample_n(struct buf *o, const char *prefix,
			       const char *name, const char *const *k,
			       const char *const *v, int n, const char *value)
{
	int i;

	buf_printf(o, "%s%s", prefix, name);
	for (i = 0; i < n; i++) {
		buf_printf(o, "%c%s=\"", i ? ',' : '{', k[i]);
		view_prom_label(o, v[i]);
		buf_add(o, "\"", 1);
	}
	buf_printf(o, "%s %s\n", n ? "}" : "", value);
}

void view_prom_sample(struct buf *o, const char *prefix, const char *name,
		      const char *k1, const char *v1, const char *k2,
		      const char *v2, const char *value)
{
	const char *k[2] = {k1, k2}, *v[2] = {v1, v2};

	view_prom_sample_n(o, prefix, name, k, v, !k1 ? 0 : !k2 ? 1 : 2, value);
}

/* The value of a number as Prometheus writes it in base units; false when
 * the cell has no sample (an unknown figure, a string).
 */
static bool view_prom_num(const struct view_col *col, const union view_val *x,
			  char *buf, size_t size)
{
	uint64_t u;

	switch (col->type) {
	case VIEW_U64:
		u = x->u;
		break;
	case VIEW_I64:
		if (x->i < 0)
			return false;
		u = (uint64_t)x->i;
		break;
	case VIEW_BOOL:
		u = x->b;
		break;
	case VIEW_INT:
		snprintf(buf, size, "%lld", (long long)x->i);
		return true;
	default:
		return false;
	}
	if (col->unit == VIEW_UNIT_MILLI)
		snprintf(buf, size, "%llu.%03llu",
			 (unsigned long long)(u / 1000),
			 (unsigned long long)(u % 1000));
	else
		snprintf(buf, size, "%llu", (unsigned long long)u);
	return true;
}

/* The samples of family <fam> for row <i>: every column of that family. */
static void view_prom_row(const struct view_rows *r, uint32_t i,
			  const char *fam, const char *prefix, struct buf *out)
{
	const struct view *v = r->v;
	const char *k[3], *lv[3];
	char val[48];
	uint32_t c, e;
	int n = 0;

	if (v->pre_label) {
		k[n] = v->pre_label;
		lv[n++] = view_cell(r, i, v->pre_col)->s;
	}
	k[n] = v->row_label;
	lv[n++] = view_cell(r, i, 0)->s;
	for (c = 0; c < v->ncols; c++) {
		const struct view_col *col = &v->cols[c];
		const union view_val *x = view_cell(r, i, c);

		if (!col->prom || strcmp(col->prom, fam) != 0)
			continue;
		if (col->type == VIEW_ENUM) {
			k[n] = col->label;
			for (e = 0; e < col->n_names; e++) {
				lv[n] = col->names[e];
				view_prom_sample_n(out, prefix, fam, k, lv,
						   n + 1,
						   x->e == e ? "1" : "0");
			}
			continue;
		}
		if (!view_prom_num(col, x, val, sizeof(val)))
			continue;
		k[n] = col->plabel;
		lv[n] = col->pvalue;
		view_prom_sample_n(out, prefix, fam, k, lv,
				   col->plabel ? n + 1 : n, val);
	}
}

void view_prom(const struct view_rows *r, struct buf *out, const char *prefix,
	       const char *ptype)
{
	const struct view *v = r->v;
	uint32_t c, k, i;

	for (c = 0; c < v->ncols; c++) {
		const struct view_col *col = &v->cols[c];

		if (!col->prom || (ptype && strcmp(col->ptype, ptype) != 0))
			continue;
		for (k = 0; k < c; k++)
			if (v->cols[k].prom &&
			    strcmp(v->cols[k].prom, col->prom) == 0)
				break;
		if (k < c)
			continue; /* the family was written */
		view_prom_family(out, prefix, col->prom, col->ptype, col->help);
		for (i = 0; i < r->n; i++)
			view_prom_row(r, i, col->prom, prefix, out);
	}
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Types of a view: a table of rows under named, typed columns, filled by
 * the module that owns the data and rendered by view.c as an aligned text
 * table, JSON and Prometheus families from the same rows (Redis's INFO
 * sections, HAProxy's stats fields: one description, several outputs).
 */
#ifndef AOAI_VIEW_T_H
#define AOAI_VIEW_T_H

#include <stdbool.h>
#include <stdint.h>

/* What a cell holds, and so how each output writes it. */
enum view_type {
	VIEW_STR,  /* text ("-" when empty); JSON string, null when NULL; no
		    * Prometheus sample */
	VIEW_U64,  /* a count */
	VIEW_I64,  /* a figure where < 0 means "not known": JSON null, text
		    * "-", no Prometheus sample */
	VIEW_INT,  /* a signed figure, written as it is */
	VIEW_BOOL, /* JSON true/false, text yes/no, Prometheus 0/1 */
	VIEW_ENUM, /* an index into the column's names: text and JSON write
		    * the name, Prometheus one sample per name, 1 for this one */
};

/* How Prometheus scales a number: base units (seconds, ratios). */
enum view_unit {
	VIEW_UNIT_ONE,	 /* as is */
	VIEW_UNIT_MILLI, /* thousandths (ms, per mille): written / 1000 */
};

/* One column. Each output shows the columns that name themselves for it,
 * in table order.
 */
struct view_col {
	const char *key;     /* JSON key; NULL: not in JSON */
	const char *group;   /* JSON: inside this object ("counters"), null when
			    * its first cell is null; NULL: top level */
	const char *head;    /* text table heading; NULL: not in the table */
	const char *prom;    /* Prometheus family, without prefix; NULL: none.
			    * Columns naming the same family share it */
	const char *plabel;  /* a further label of the sample ("class"),
			     * when columns share a family, and ... */
	const char *pvalue;  /* ... its value for this column ("2xx") */
	const char *ptype;   /* "gauge" or "counter" */
	const char *help;    /* the family's HELP */
	enum view_type type; /* of the cell */
	enum view_unit unit; /* Prometheus scale */
	const char *const *names; /* VIEW_ENUM: the names, and ... */
	uint32_t n_names;	  /* ... how many */
	const char *label; /* VIEW_ENUM: the label that carries the name in
			    * Prometheus ("state") */
	int width;	   /* fixed text layout: printf's field width (-20:
			    * left, 8: right) */
};

/* A view: its columns. Column 0 names the row: the text's first column,
 * JSON's first key, the label <row_label> of every Prometheus sample.
 */
struct view {
	const struct view_col *cols;
	uint32_t ncols;
	const char *row_label; /* Prometheus label of column 0: "backend" */
	const char *pre_label; /* a label before it ("pool"), or NULL ... */
	uint32_t pre_col;      /* ... from this VIEW_STR column */
	bool fixed;	       /* text: the columns' widths, one space between,
				* rather than widths measured on the rows */
};

/* One cell's value, as its column's type says. */
union view_val {
	const char *s; /* VIEW_STR: lives until the view is rendered */
	uint64_t u;    /* VIEW_U64 */
	int64_t i;     /* VIEW_I64, VIEW_INT */
	bool b;	       /* VIEW_BOOL */
	uint32_t e;    /* VIEW_ENUM */
};

/* Rows of a view being filled, then rendered: <n> rows of v->ncols
 * cells each, row-major. Owns <cells>.
 */
struct view_rows {
	const struct view *v;
	uint32_t n;
	union view_val *cells;
};

#endif /* AOAI_VIEW_T_H */

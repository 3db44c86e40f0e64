/* SPDX-License-Identifier: Apache-2.0 */
/* Generic YAML layer of the configuration: nodes with file:line:col,
 * collected errors, a mapping parser with required/unknown/duplicate keys.
 */
#ifndef AOAI_YCONF_H
#define AOAI_YCONF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#define YCONF_DEPTH_MAX	 32  /* nested collections accepted */
#define YCONF_ERRORS_MAX 100 /* errors kept and reported */
#define YCONF_SHOW_MAX	 48  /* bytes of a value quoted in messages */
#define YCONF_MSG_MAX	 512 /* one formatted error */

/* Receives each error, formatted "FILE:LINE:COL: message" (no newline). */
typedef void (*yconf_error_fn)(void *arg, const char *msg);

/* Where a node starts in the file, 1-based (libyaml marks are 0-based). */
struct yconf_mark {
	uint32_t line;
	uint32_t col;
};

/* One error waiting to be reported, kept to sort them by position. */
struct yconf_msg {
	uint32_t line; /* 1-based */
	uint32_t col;  /* 1-based */
	uint32_t seq;  /* order of discovery, to keep the sort stable */
	char *text;    /* owned, "FILE:LINE:COL: message" */
};

/* One document being read: its text, its nodes, the errors found so far. */
struct yconf {
	const char *name;    /* file name used in messages */
	const char *buf;     /* the YAML text */
	size_t len;	     /* its length */
	yaml_document_t doc; /* loaded document, nodes carry their marks */
	bool loaded;	     /* doc holds a document to delete */
	unsigned n_errors;   /* all errors, including those not kept */
	unsigned n_msgs;     /* kept in msgs[] */
	struct yconf_msg msgs[YCONF_ERRORS_MAX];
};

/* A key a mapping may hold; yconf_map() fills key and val. */
struct yconf_key {
	const char *name; /* key as written in the file */
	bool required;	  /* missing is an error */
	yaml_node_t *key; /* the key node, NULL when absent */
	yaml_node_t *val; /* its value node, NULL when absent */
};

/* Starts reading <len> bytes at <buf> (borrowed until yconf_unload())
 * named <name> in messages.
 */
void yconf_init(struct yconf *y, const char *name, const char *buf, size_t len);

/* Checks the event stream first (syntax errors, aliases: no expansion
 * bombs, nesting deeper than YCONF_DEPTH_MAX, a second document), then
 * loads the document. Returns 0 with *<root> the root node (NULL for an
 * empty stream), or -1 with the errors recorded.
 */
int yconf_load(struct yconf *y, yaml_node_t **root);

/* Frees the loaded document (its nodes are gone afterwards). */
void yconf_unload(struct yconf *y);

/* Sorts the recorded errors by position (stable), passes them to <err>
 * (may be NULL) and frees them; says so when some were dropped.
 */
void yconf_report(struct yconf *y, yconf_error_fn err, void *arg);

/* Records one error at 1-based <line>/<col>. Only the first
 * YCONF_ERRORS_MAX are kept; all are counted (y->n_errors).
 */
void yconf_verr(struct yconf *y, uint32_t line, uint32_t col, const char *fmt,
		va_list ap) __attribute__((format(printf, 4, 0)));
void yconf_err_at(struct yconf *y, struct yconf_mark m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records an error at the start of node <n>. */
void yconf_err(struct yconf *y, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Same as yconf_err(), with ", got 'VALUE'" appended. */
void yconf_bad(struct yconf *y, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Passes one error that has no document behind it ("NAME:1:1: ...") to
 * <err> directly.
 */
void yconf_err_file(const char *name, yconf_error_fn err, void *arg,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* 1-based position of a 0-based libyaml mark, saturated. */
struct yconf_mark yconf_mark_of(yaml_mark_t mark);

/* Writes scalar <n> into <out> (<size> >= 16) for a message: printable
 * ASCII is kept, anything else becomes \xNN, a long value is cut with
 * "...". Returns <out>.
 */
const char *yconf_show(const yaml_node_t *n, char *out, size_t size);

/* Node <id> of the document, or NULL. */
yaml_node_t *yconf_node(struct yconf *y, int id);

/* True when <n> is a YAML null: an empty plain scalar, ~ or null. */
bool yconf_is_null(const yaml_node_t *n);

/* Matches the keys of mapping <node> against <keys>, filling their key and
 * val; unknown, duplicate and missing required keys are reported. A null
 * counts as an empty mapping. Returns 0, or -1 (reported) when <node> is
 * not a mapping.
 */
int yconf_map(struct yconf *y, yaml_node_t *node, const char *what,
	      struct yconf_key *keys, size_t n_keys);

/* The entry of <keys> (<n> of them) named <name>, which must be there: the
 * caller's own table of keys.
 */
struct yconf_key *yconf_key_get(struct yconf_key *keys, size_t n,
				const char *name);

/* Sets *<items> to the items of list <node> and returns their count, or -1
 * (reported) when <node> is not a list. A null counts as an empty list.
 */
int yconf_seq(struct yconf *y, yaml_node_t *node, const char *what,
	      yaml_node_item_t **items);

/* Reads the non-empty list <node> named <what> (its items are <one>s) and
 * allocates zeroed room for min(count, <max>) elements of <size> in *<out>
 * (owned by the caller). Returns the item count, which the caller walks
 * and cuts at <max> with its own error, or -1 after reporting why (not a
 * list, empty, out of memory).
 */
int yconf_seq_alloc(struct yconf *y, yaml_node_t *node, const char *what,
		    const char *one, int max, size_t size,
		    yaml_node_item_t **items, void **out);

/* Returns the NUL-terminated value of scalar <n>, or NULL (reported) when
 * <n> is not a scalar or holds a NUL byte.
 */
const char *yconf_scalar(struct yconf *y, const yaml_node_t *n,
			 const char *what);

#endif /* AOAI_YCONF_H */

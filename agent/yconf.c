/* SPDX-License-Identifier: Apache-2.0 */
/* Generic YAML layer of the configuration: libyaml documents whose nodes
 * keep their file:line:col, every error collected and reported sorted, and
 * a mapping parser with required, unknown and duplicate keys. It knows
 * nothing of the product's schema (cfg.c).
 */
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "yconf.h"

/* Records one error at 1-based <line>/<col>. Only the first YCONF_ERRORS_MAX
 * are kept; all are counted.
 */
void yconf_verr(struct yconf *y, uint32_t line, uint32_t col, const char *fmt,
		va_list ap)
{
	char msg[YCONF_MSG_MAX], text[YCONF_MSG_MAX + 256];
	struct yconf_msg *m;

	y->n_errors++;
	if (y->n_msgs >= YCONF_ERRORS_MAX)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(text, sizeof(text), "%s:%" PRIu32 ":%" PRIu32 ": %s", y->name,
		 line, col, msg);
	m = &y->msgs[y->n_msgs];
	m->text = strdup(text);
	if (!m->text)
		return;
	m->line = line;
	m->col = col;
	m->seq = y->n_msgs++;
}

/* 1-based position of a 0-based libyaml mark, saturated. */
struct yconf_mark yconf_mark_of(yaml_mark_t mark)
{
	struct yconf_mark m;

	m.line = mark.line >= UINT32_MAX ? UINT32_MAX : (uint32_t)mark.line + 1;
	m.col = mark.column >= UINT32_MAX ? UINT32_MAX
					  : (uint32_t)mark.column + 1;
	return m;
}

/* Records an error at 1-based position <m>. */
void yconf_err_at(struct yconf *y, struct yconf_mark m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yconf_verr(y, m.line, m.col, fmt, ap);
	va_end(ap);
}

/* Records an error at the start of node <n>. */
void yconf_err(struct yconf *y, const yaml_node_t *n, const char *fmt, ...)
{
	struct yconf_mark m = yconf_mark_of(n->start_mark);
	va_list ap;

	va_start(ap, fmt);
	yconf_verr(y, m.line, m.col, fmt, ap);
	va_end(ap);
}

/* Writes scalar <n> into <out> (<size> >= 16) for a message: printable
 * ASCII is kept, anything else becomes \xNN, a long value is cut with "...".
 */
const char *yconf_show(const yaml_node_t *n, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s;
	size_t i, o = 0, len;

	if (n->type != YAML_SCALAR_NODE) {
		snprintf(out, size, "%s",
			 n->type == YAML_MAPPING_NODE ? "{...}" : "[...]");
		return out;
	}
	s = n->data.scalar.value;
	len = n->data.scalar.length;
	for (i = 0; i < len && o + 8 < size; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' &&
		    s[i] != '\\') {
			out[o++] = (char)s[i];
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[s[i] >> 4];
			out[o++] = hex[s[i] & 15];
		}
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* Records an error at node <n> and appends ", got 'VALUE'". */
void yconf_bad(struct yconf *y, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[YCONF_MSG_MAX], v[YCONF_SHOW_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	yconf_err(y, n, "%s, got '%s'", msg, yconf_show(n, v, sizeof(v)));
}

/* Passes one error that has no document behind it to <err>. */
void yconf_err_file(const char *name, yconf_error_fn err, void *arg,
		    const char *fmt, ...)
{
	char msg[YCONF_MSG_MAX], text[YCONF_MSG_MAX + 256];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(text, sizeof(text), "%s:1:1: %s", name, msg);
	err(arg, text);
}

/* Sorts the kept errors by position (stable), passes them to <err> and
 * frees them; says so when some were dropped.
 */
void yconf_report(struct yconf *y, yconf_error_fn err, void *arg)
{
	struct yconf_msg tmp;
	unsigned i, j;

	for (i = 1; i < y->n_msgs; i++) {
		tmp = y->msgs[i];
		for (j = i; j > 0; j--) {
			const struct yconf_msg *p = &y->msgs[j - 1];

			if (p->line < tmp.line ||
			    (p->line == tmp.line && p->col <= tmp.col))
				break;
			y->msgs[j] = y->msgs[j - 1];
		}
		y->msgs[j] = tmp;
	}
	for (i = 0; i < y->n_msgs; i++) {
		if (err)
			err(arg, y->msgs[i].text);
		free(y->msgs[i].text);
		y->msgs[i].text = NULL;
	}
	if (y->n_errors > y->n_msgs)
		yconf_err_file(y->name, err, arg,
			       "too many errors (%u), only the first %u shown",
			       y->n_errors, y->n_msgs);
	y->n_msgs = 0;
}

/* Reports the error libyaml left in <parser> at the best position known. */
static void yconf_yaml_error(struct yconf *y, const yaml_parser_t *parser)
{
	const char *problem = parser->problem ? parser->problem : "error";
	struct yconf_mark m = {1, 1};
	size_t i;

	switch (parser->error) {
	case YAML_MEMORY_ERROR:
		yconf_err_at(y, m, "out of memory");
		return;
	case YAML_READER_ERROR:
		/* the reader gives a byte offset, not a mark */
		for (i = 0; i < parser->problem_offset && i < y->len; i++) {
			if (y->buf[i] == '\n') {
				m.line++;
				m.col = 1;
			} else if (((unsigned char)y->buf[i] & 0xc0) != 0x80) {
				m.col++;
			}
		}
		yconf_err_at(y, m, "invalid input: %s", problem);
		return;
	default:
		break;
	}
	m = yconf_mark_of(parser->problem_mark);
	if (parser->context)
		yconf_err_at(y, m, "syntax error: %s (%s at %zu:%zu)", problem,
			     parser->context, parser->context_mark.line + 1,
			     parser->context_mark.column + 1);
	else
		yconf_err_at(y, m, "syntax error: %s", problem);
}

/* Node <id> of the document, or NULL. */
yaml_node_t *yconf_node(struct yconf *y, int id)
{
	return yaml_document_get_node(&y->doc, id);
}

/* True when <n> is a YAML null: an empty plain scalar, ~ or null. */
bool yconf_is_null(const yaml_node_t *n)
{
	const char *v;
	size_t len;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	len = n->data.scalar.length;
	return len == 0 || (len == 1 && v[0] == '~') ||
	       (len == 4 &&
		(memcmp(v, "null", 4) == 0 || memcmp(v, "Null", 4) == 0 ||
		 memcmp(v, "NULL", 4) == 0));
}

/* Reports unknown key <k> of mapping <what>, listing the valid ones. */
static void yconf_unknown_key(struct yconf *y, const yaml_node_t *k,
			      const char *what, const struct yconf_key *keys,
			      size_t n_keys)
{
	char list[YCONF_MSG_MAX / 2], v[YCONF_SHOW_MAX];
	size_t i, o = 0;
	int r;

	list[0] = '\0';
	for (i = 0; i < n_keys; i++) {
		r = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
			     keys[i].name);
		if (r < 0 || (size_t)r >= sizeof(list) - o)
			break;
		o += (size_t)r;
	}
	yconf_err(y, k, "%s: unknown key '%s' (valid: %s)", what,
		  yconf_show(k, v, sizeof(v)), list);
}

/* Matches the keys of mapping <node> against <keys>, filling their key and
 * val; unknown, duplicate and missing required keys are reported. A null
 * counts as an empty mapping. Returns 0, or -1 (reported) when <node> is not
 * a mapping.
 */
int yconf_map(struct yconf *y, yaml_node_t *node, const char *what,
	      struct yconf_key *keys, size_t n_keys)
{
	yaml_node_pair_t *p;
	yaml_node_t *k, *v;
	struct yconf_mark first;
	size_t i;

	for (i = 0; i < n_keys; i++) {
		keys[i].key = NULL;
		keys[i].val = NULL;
	}
	if (yconf_is_null(node))
		goto missing;
	if (node->type != YAML_MAPPING_NODE) {
		yconf_err(y, node, "%s: expected a mapping", what);
		return -1;
	}
	for (p = node->data.mapping.pairs.start;
	     p < node->data.mapping.pairs.top; p++) {
		k = yconf_node(y, p->key);
		v = yconf_node(y, p->value);
		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			yconf_err(y, k, "%s: expected a scalar key", what);
			continue;
		}
		for (i = 0; i < n_keys; i++)
			if (strlen(keys[i].name) == k->data.scalar.length &&
			    memcmp(keys[i].name, k->data.scalar.value,
				   k->data.scalar.length) == 0)
				break;
		if (i == n_keys) {
			yconf_unknown_key(y, k, what, keys, n_keys);
		} else if (keys[i].key) {
			first = yconf_mark_of(keys[i].key->start_mark);
			yconf_err(y, k,
				  "%s: duplicate key '%s' (first at %" PRIu32
				  ":%" PRIu32 ")",
				  what, keys[i].name, first.line, first.col);
		} else {
			keys[i].key = k;
			keys[i].val = v;
		}
	}
missing:
	for (i = 0; i < n_keys; i++)
		if (keys[i].required && !keys[i].key)
			yconf_err(y, node, "%s: missing required key '%s'",
				  what, keys[i].name);
	return 0;
}

struct yconf_key *yconf_key_get(struct yconf_key *keys, size_t n,
				const char *name)
{
	size_t i;

	for (i = 0; i + 1 < n; i++)
		if (strcmp(keys[i].name, name) == 0)
			break;
	assert(strcmp(keys[i].name, name) == 0);
	return &keys[i];
}

/* Sets *<items> to the items of list <node> and returns their count, or -1
 * (reported) when <node> is not a list. A null counts as an empty list.
 */
int yconf_seq(struct yconf *y, yaml_node_t *node, const char *what,
	      yaml_node_item_t **items)
{
	*items = NULL;
	if (yconf_is_null(node))
		return 0;
	if (node->type != YAML_SEQUENCE_NODE) {
		yconf_err(y, node, "%s: expected a list", what);
		return -1;
	}
	*items = node->data.sequence.items.start;
	return (int)(node->data.sequence.items.top -
		     node->data.sequence.items.start);
}

/* Reads the non-empty list <node> named <what> (its items are <one>s) and
 * allocates zeroed room for min(count, <max>) elements of <size> in *<out>
 * (owned by the caller's cfg). Returns the item count, which the caller
 * walks and cuts at <max> with its own error, or -1 after reporting why
 * (not a list, empty, out of memory).
 */
int yconf_seq_alloc(struct yconf *y, yaml_node_t *node, const char *what,
		    const char *one, int max, size_t size,
		    yaml_node_item_t **items, void **out)
{
	int count = yconf_seq(y, node, what, items);

	if (count < 0)
		return -1;
	if (count == 0) {
		yconf_err(y, node, "%s: at least one %s is required", what,
			  one);
		return -1;
	}
	*out = calloc(count < max ? (size_t)count : (size_t)max, size);
	if (!*out) {
		yconf_err(y, node, "out of memory");
		return -1;
	}
	return count;
}

/* Returns the NUL-terminated value of scalar <n>, or NULL (reported) when
 * <n> is not a scalar or holds a NUL byte.
 */
const char *yconf_scalar(struct yconf *y, const yaml_node_t *n,
			 const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		yconf_err(y, n, "%s: expected a scalar", what);
		return NULL;
	}
	if (memchr(n->data.scalar.value, 0, n->data.scalar.length)) {
		yconf_err(y, n, "%s: NUL byte in value", what);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* First pass over the event stream, before anything is built: reports
 * syntax errors, aliases (no expansion bombs), nesting deeper than
 * YCONF_DEPTH_MAX and a second document. Returns 0 when the document may be
 * loaded.
 */
static int yconf_scan(struct yconf *y)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	unsigned depth = 0, docs = 0, before = y->n_errors;
	bool done = false;

	if (!yaml_parser_initialize(&parser)) {
		yconf_err_at(y, (struct yconf_mark){1, 1}, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)y->buf,
				     y->len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			yconf_yaml_error(y, &parser);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				yconf_err_at(y, yconf_mark_of(ev.start_mark),
					     "multiple documents are not "
					     "supported");
				done = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			yconf_err_at(y, yconf_mark_of(ev.start_mark),
				     "aliases are not supported");
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > YCONF_DEPTH_MAX) {
				yconf_err_at(y, yconf_mark_of(ev.start_mark),
					     "nesting too deep, at most %d "
					     "levels",
					     YCONF_DEPTH_MAX);
				done = true;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return y->n_errors == before ? 0 : -1;
}

void yconf_init(struct yconf *y, const char *name, const char *buf, size_t len)
{
	memset(y, 0, sizeof(*y));
	y->name = name;
	y->buf = buf ? buf : "";
	y->len = buf ? len : 0;
}

int yconf_load(struct yconf *y, yaml_node_t **root)
{
	yaml_parser_t parser;
	int rc = -1;

	*root = NULL;
	if (yconf_scan(y) < 0)
		return -1;
	if (!yaml_parser_initialize(&parser)) {
		yconf_err_at(y, (struct yconf_mark){1, 1}, "out of memory");
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)y->buf,
				     y->len);
	/* on failure libyaml has already freed the document */
	if (!yaml_parser_load(&parser, &y->doc)) {
		yconf_yaml_error(y, &parser);
		goto delete_parser;
	}
	y->loaded = true;
	*root = yaml_document_get_root_node(&y->doc);
	rc = 0;
delete_parser:
	yaml_parser_delete(&parser);
	return rc;
}

void yconf_unload(struct yconf *y)
{
	if (y->loaded)
		yaml_document_delete(&y->doc);
	y->loaded = false;
}

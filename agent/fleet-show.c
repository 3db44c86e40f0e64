/* SPDX-License-Identifier: Apache-2.0 */
/* "show fleet": the fleet link, this node's keys and the other nodes'
 * deadlines, as text and JSON (view.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "fleet.h"
#include "view.h"

/* Seconds from <now_s> to the epoch second <v>, 0 when passed. */
static long long fleet_left(uint32_t v, uint64_t now_s)
{
	return v > now_s ? (long long)(v - now_s) : 0;
}

/* "show fleet" in views (view.h): the link as one row (JSON only), this
 * node's keys (JSON "own"), and the key table: this node's deadlines then
 * every key of another node as text, the latter as JSON "others".
 */
static const struct view_col fleet_link_cols[] = {
	{.type = VIEW_BOOL, .key = "enabled"},
	{.type = VIEW_STR, .key = "table"},
	{.type = VIEW_STR, .key = "node"},
	{.type = VIEW_BOOL, .key = "up"},
	{.type = VIEW_BOOL, .key = "resp_missing"},
	{.type = VIEW_U64, .key = "nodes"},
#define X(name, help) {.type = VIEW_U64, .key = #name},
	FLEET_COUNTERS(X)
#undef X
		{.type = VIEW_STR, .key = "last_error"},
};
static const struct view fleet_link_view = {
	fleet_link_cols, sizeof(fleet_link_cols) / sizeof(fleet_link_cols[0]),
	"table"};

static const struct view_col fleet_own_cols[] = {
	{.type = VIEW_STR, .key = "backend"},
	{.type = VIEW_U64, .key = "deadline"},
	{.type = VIEW_INT, .key = "left_s"},
	{.type = VIEW_U64, .key = "in_table"},
	{.type = VIEW_U64, .key = "reset"},
};
static const struct view fleet_own_view = {
	fleet_own_cols, sizeof(fleet_own_cols) / sizeof(fleet_own_cols[0]),
	"backend"};

/* LEFT is text ("12s"): the unit sits beside the figure. */
static const struct view_col fleet_key_cols[] = {
	{.type = VIEW_STR, .key = "backend", .head = "BACKEND", .width = -20},
	{.type = VIEW_STR, .key = "node", .head = "NODE", .width = -20},
	{.type = VIEW_STR, .key = "kind", .head = "KIND", .width = -8},
	{.type = VIEW_U64, .key = "value", .head = "VALUE", .width = 12},
	{.type = VIEW_INT, .key = "left_s"},
	{.type = VIEW_STR, .head = "LEFT", .width = 6},
	{.type = VIEW_BOOL, .key = "void"},
	{.type = VIEW_STR, .head = "NOTE"},
};
static const struct view fleet_key_view = {
	fleet_key_cols, sizeof(fleet_key_cols) / sizeof(fleet_key_cols[0]),
	"backend", .fixed = true};

/* Room for the LEFT text of one key row. */
struct fleet_left_txt {
	char s[24];
};

/* Fills key row <i> of <r>: <node>'s key of backend <name>, <left> seconds
 * away, its LEFT text in <txt>.
 */
static void fleet_key_row(struct view_rows *r, uint32_t i, const char *name,
			  const char *node, bool reset, uint32_t val,
			  long long left, bool void_, const char *note,
			  struct fleet_left_txt *txt)
{
	union view_val *c = view_row(r, i);

	snprintf(txt->s, sizeof(txt->s), "%llds", left);
	c[0] = VIEW_VAL_STR(name);
	c[1] = VIEW_VAL_STR(node);
	c[2] = VIEW_VAL_STR(reset ? "reset" : "deadline");
	c[3] = VIEW_VAL_U64(val);
	c[4] = VIEW_VAL_INT(left);
	c[5] = VIEW_VAL_STR(txt->s);
	c[6] = VIEW_VAL_BOOL(void_);
	c[7] = VIEW_VAL_STR(note);
}

/* Fills the link's one row, this node's keys in <own> (every backend) and
 * the key table in <keys>: the first *<n_mine> rows this node's
 * deadlines, then the other nodes' keys.
 */
static void fleet_rows(const struct fleet *f, uint64_t now_s,
		       struct view_rows *link, struct view_rows *own,
		       struct view_rows *keys, struct fleet_left_txt *txt,
		       uint32_t *n_mine)
{
	union view_val *c = view_row(link, 0);
	uint32_t i, k = 0;
	bool v;

	*c++ = VIEW_VAL_BOOL(true);
	*c++ = VIEW_VAL_STR(f->cfg.table);
	*c++ = VIEW_VAL_STR(f->cfg.node);
	*c++ = VIEW_VAL_BOOL(f->st.up);
	*c++ = VIEW_VAL_BOOL(f->st.resp_missing);
	*c++ = VIEW_VAL_U64(f->st.nodes);
#define X(name, help) *c++ = VIEW_VAL_U64(f->st.c.name);
	FLEET_COUNTERS(X)
#undef X
	*c = VIEW_VAL_STR(f->st.last_error);
	for (i = 0; i < f->n_bk; i++) {
		c = view_row(own, i);
		c[0] = VIEW_VAL_STR(f->bk[i].name);
		c[1] = VIEW_VAL_U64(f->bk[i].want);
		c[2] = VIEW_VAL_INT(fleet_left(f->bk[i].want, now_s));
		c[3] = VIEW_VAL_U64(f->bk[i].table);
		c[4] = VIEW_VAL_U64(f->bk[i].reset_seen);
		if (f->bk[i].want) {
			fleet_key_row(keys, k, f->bk[i].name, f->cfg.node,
				      false, f->bk[i].want,
				      fleet_left(f->bk[i].want, now_s), false,
				      f->bk[i].table == f->bk[i].want
					      ? "(this node)"
					      : "(this node, not in table)",
				      &txt[k]);
			k++;
		}
	}
	*n_mine = k;
	for (i = 0; i < f->n_ents; i++) {
		const struct fleet_ent *e = &f->ents[i];

		v = !e->reset && !fleet_valid(f, e);
		fleet_key_row(keys, k, f->bk[e->b].name, e->node, e->reset,
			      e->val, e->reset ? 0 : fleet_left(e->val, now_s),
			      v, v ? "void (reset)" : "-", &txt[k]);
		k++;
	}
	keys->n = k;
}

/* The text of "show fleet": the link in a line, its last error, the key
 * table <keys>.
 */
static void fleet_show_text(const struct fleet *f, const struct view_rows *keys,
			    struct buf *o)
{
	buf_printf(o,
		   "fleet: %s (table %s, node %s), %u other node%s, read "
		   "every %ums, cap %ums\n",
		   f->st.up ? "up" : "down", f->cfg.table, f->cfg.node,
		   f->st.nodes, f->st.nodes == 1 ? "" : "s",
		   f->cfg.poll_interval_ms, f->cfg.max_wait_ms);
	buf_printf(o,
		   "own deadlines: %s (response path: %llu written, %llu "
		   "missed)\n",
		   f->st.resp_missing ? "written over the runtime API at once "
					"(HAProxy did not write them)"
				      : "written by HAProxy with the response",
		   (unsigned long long)f->st.c.resp_writes,
		   (unsigned long long)f->st.c.resp_missed);
	if (f->st.last_error[0])
		buf_printf(o, "last error: %s\n", f->st.last_error);
	view_text(keys, o, "", 0);
}

int fleet_show(const struct fleet *f, struct buf *o, bool json)
{
	struct view_rows link = {0}, own = {0}, keys = {0}, others;
	struct fleet_left_txt *txt = NULL;
	uint32_t n_mine = 0;
	int rc = -1;

	if (!f) {
		buf_printf(o, json ? "{\"enabled\":false}\n"
				   : "fleet: off (no fleet: block in the "
				     "configuration)\n");
		return o->overflow ? -1 : 0;
	}
	if (view_rows_init(&link, &fleet_link_view, 1) < 0 ||
	    view_rows_init(&own, &fleet_own_view, f->n_bk) < 0 ||
	    view_rows_init(&keys, &fleet_key_view, f->n_bk + f->n_ents) < 0 ||
	    !(txt = calloc((size_t)f->n_bk + f->n_ents + 1, sizeof(*txt)))) {
		buf_printf(o, "out of memory\n");
		goto free_rows;
	}
	fleet_rows(f, clock_wall_ms() / 1000, &link, &own, &keys, txt, &n_mine);
	if (json) {
		others = view_rows_slice(&keys, n_mine, keys.n - n_mine);
		buf_add(o, "{", 1);
		view_json_fields(&link, 0, o);
		buf_add(o, ",\"own\":", 7);
		view_json(&own, o);
		buf_add(o, ",\"others\":", 10);
		view_json(&others, o);
		buf_add(o, "}\n", 2);
	} else {
		fleet_show_text(f, &keys, o);
	}
	rc = o->overflow ? -1 : 0;
free_rows:
	free(txt);
	view_rows_free(&keys);
	view_rows_free(&own);
	view_rows_free(&link);
	return rc;
}

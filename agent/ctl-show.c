/* SPDX-License-Identifier: Apache-2.0 */
/* Control socket views: show info, backends, pools, config, metrics and
 * haproxy, each in text for people and in JSON.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "clock.h"
#include "ctl-req.h"
#include "ctl-show.h"
#include "fleet.h"
#include "hapi.h"
#include "metrics.h"
#include "route.h"
#include "sock.h"
#include "spop.h"
#include "stats.h"
#include "text.h"
#include "view-route.h"
#include "view.h"

/* "show info": flat key/value pairs, the same keys in text and JSON. */
struct ctl_kv {
	struct ctl_req *r;
	struct buf_table t;
	bool first;
};

static void ctl_kv_u64(struct ctl_kv *kv, const char *key, uint64_t v)
{
	if (kv->r->json) {
		buf_printf(kv->r->out, "%s\"%s\":%llu", kv->first ? "" : ",",
			   key, (unsigned long long)v);
	} else {
		buf_table_cell(&kv->t, "%s:", key);
		buf_table_cell(&kv->t, "%llu", (unsigned long long)v);
	}
	kv->first = false;
}

static void ctl_kv_str(struct ctl_kv *kv, const char *key, const char *v)
{
	if (kv->r->json) {
		buf_printf(kv->r->out, "%s\"%s\":", kv->first ? "" : ",", key);
		buf_json_str(kv->r->out, v);
	} else {
		buf_table_cell(&kv->t, "%s:", key);
		buf_table_cell(&kv->t, "%s", v);
	}
	kv->first = false;
}

static void ctl_kv_counter(void *arg, const char *name, const char *help,
			   uint64_t value)
{
	char key[80];

	(void)help;
	snprintf(key, sizeof(key), "route_%s", name);
	ctl_kv_u64(arg, key, value);
}

static void ctl_kv_stat(void *arg, const char *name, const char *help,
			uint64_t value)
{
	(void)help;
	ctl_kv_u64(arg, name, value);
}

/* AGENT-DISCONNECT frames sent: their total, then in JSON one key per
 * status (a stable format), in text the non-zero statuses on the same
 * line, since fifteen lines of zeros bury the rest of "show info".
 */
static void ctl_kv_disconnects(struct ctl_kv *kv, const uint64_t *out)
{
	char key[40], line[400];
	uint64_t total = 0;
	bool first = true;
	size_t n = 0;
	uint32_t i;

	for (i = 0; i <= SPOP_ERR_RES + 1; i++)
		total += out[i];
	if (kv->r->json) {
		ctl_kv_u64(kv, "disconnect_out", total);
		for (i = 0; i <= SPOP_ERR_RES + 1; i++) {
			if (i <= SPOP_ERR_RES)
				snprintf(key, sizeof(key), "disconnect_out_%u",
					 i);
			else
				snprintf(key, sizeof(key),
					 "disconnect_out_other");
			ctl_kv_u64(kv, key, out[i]);
		}
		return;
	}
	n = (size_t)snprintf(line, sizeof(line), "%llu",
			     (unsigned long long)total);
	for (i = 0; i <= SPOP_ERR_RES + 1 && n < sizeof(line); i++) {
		if (!out[i])
			continue;
		if (i <= SPOP_ERR_RES)
			snprintf(key, sizeof(key), "%u", i);
		else
			snprintf(key, sizeof(key), "other");
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s: %llu",
				      first ? " (" : ", ", key,
				      (unsigned long long)out[i]);
		first = false;
	}
	if (total && n < sizeof(line) - 1)
		snprintf(line + n, sizeof(line) - n, ")");
	ctl_kv_str(kv, "disconnect_out", line);
}

int ctl_show_info(struct ctl_req *r)
{
	struct core *a = r->a;
	struct ctl_kv kv = {.r = r, .first = true};
	struct hapi_status hs;
	char buf[64];

	buf_table_init(&kv.t, 2, CTL_OUT_MAX);
	if (r->json)
		buf_add(r->out, "{", 1);
	ctl_kv_str(&kv, "version", AOAI_VERSION);
	ctl_kv_u64(&kv, "pid", (uint64_t)getpid());
	ctl_kv_str(&kv, "started", text_fmt_time(buf, sizeof(buf), a->started));
	ctl_kv_u64(&kv, "uptime_s",
		   clock_now.wall_s > a->started
			   ? (uint64_t)(clock_now.wall_s - a->started)
			   : 0);
	ctl_kv_str(&kv, "config_file", a->cfg_path ? a->cfg_path : "");
	ctl_kv_str(&kv, "config_loaded",
		   text_fmt_time(buf, sizeof(buf), a->cfg_loaded));
	ctl_kv_u64(&kv, "backends", route_backend_count(a->route));
	ctl_kv_u64(&kv, "pools", route_pool_count(a->route));
	ctl_kv_u64(&kv, "connections", a->conns.n);
	ctl_kv_u64(&kv, "control_clients", a->ctl_st.clients);
	ctl_kv_str(&kv, "stopping", a->stopping ? "yes" : "no");
	if (hapi_status(a->hapi, &hs))
		ctl_kv_str(&kv, "haproxy_link", hs.up ? "up" : "down");
	else
		ctl_kv_str(&kv, "haproxy_link", "off");
	stats_counters_each(a, ctl_kv_stat, &kv);
	ctl_kv_disconnects(&kv, a->conns.cnt.disconnect_out);
	route_engine_counters_each(route_engine_counters(a->route),
				   ctl_kv_counter, &kv);
	ctl_kv_u64(&kv, "decide_samples", a->spoa.decide_hist.count);
	ctl_kv_u64(&kv, "decide_avg_ns",
		   a->spoa.decide_hist.count ? a->spoa.decide_hist.sum_ns /
						       a->spoa.decide_hist.count
					     : 0);
	if (r->json) {
		buf_add(r->out, "}\n", 2);
		buf_free(&kv.t.cells);
	} else {
		buf_table_print(&kv.t, r->out, "");
	}
	return 0;
}

int ctl_show_backends(struct ctl_req *r)
{
	struct view_backends vb;
	int only = -1;

	if (r->argc == 1 && (only = ctl_backend_arg(r, 0)) < 0)
		return -1;
	if (view_backends_fill(&vb, r->a->route, r->a->auth, clock_now.ms,
			       only) < 0) {
		ctl_err(r, "out of memory");
		return -1;
	}
	if (r->json) {
		buf_add(r->out, "{\"backends\":", 12);
		view_json(&vb.rows, r->out);
		buf_add(r->out, "}\n", 2);
	} else {
		view_text(&vb.rows, r->out, "", CTL_OUT_MAX);
		if (vb.any_runtime)
			buf_printf(r->out, "* set at run time: kept across "
					   "reloads until \"reset backend "
					   "NAME\"\n");
	}
	view_backends_free(&vb);
	return 0;
}

int ctl_show_pools(struct ctl_req *r)
{
	struct view_pools vp;
	struct view_rows m;
	const char *name;
	uint32_t p;
	int only = -1;

	if (r->argc == 1) {
		name = r->argv[0];
		only = route_pool_index(r->a->route, name, strlen(name));
		if (only < 0) {
			ctl_err(r, "no pool '%.64s'", name);
			return -1;
		}
	}
	if (view_pools_fill(&vp, r->a->route, clock_now.ms, only) < 0) {
		ctl_err(r, "out of memory");
		return -1;
	}
	if (r->json)
		buf_add(r->out, "{\"pools\":[", 10);
	for (p = 0; p < vp.pools.n; p++) {
		const struct route_pool_info *pi = &vp.pi[p];

		m = view_rows_slice(&vp.members, vp.first[p],
				    vp.first[p + 1] - vp.first[p]);
		if (r->json) {
			buf_add(r->out, p ? ",{" : "{", p ? 2 : 1);
			view_json_fields(&vp.pools, p, r->out);
			buf_add(r->out, ",\"members\":", 11);
			view_json(&m, r->out);
			buf_add(r->out, "}", 1);
			continue;
		}
		buf_printf(r->out,
			   "pool %s: %u members, group in use %u (best %u)\n",
			   pi->name, pi->n_members, pi->cur_priority,
			   pi->best_priority);
		buf_add(r->out, "  decisions:", 12);
#define X(name, help)                                                          \
	buf_printf(r->out, " %s %llu", #name,                                  \
		   (unsigned long long)pi->counters.name);
		ROUTE_POOL_COUNTERS(X)
#undef X
		buf_add(r->out, "\n", 1);
		view_text(&m, r->out, "  ", CTL_OUT_MAX);
	}
	if (r->json)
		buf_add(r->out, "]}\n", 3);
	else if (vp.any_runtime)
		buf_printf(r->out, "* set at run time: kept across "
				   "reloads until \"reset backend NAME\"\n");
	view_pools_free(&vp);
	return 0;
}

/* "show config": cfg_schema_walk() rendered as block YAML or as JSON. */
struct ctl_cfg_out {
	struct buf *o;
	bool json;
	bool dash;	/* YAML: the next key opens a list item */
	bool no_pct;	/* YAML: this failure block's percentage is 0 */
	bool comma[16]; /* JSON: per depth, an element was written */
	unsigned depth; /* JSON: nesting below the root object */
};

/* Scalars written as strings: everything but numbers, durations,
 * booleans and the two level words.
 */
static bool ctl_cfg_quoted(enum cfg_type t)
{
	return t != CFG_T_U32 && t != CFG_T_U64 && t != CFG_T_DURATION &&
	       t != CFG_T_BOOL && t != CFG_T_LOG_LEVEL && t != CFG_T_LEVEL;
}

/* Calls <fn> for each item of a status list "408, 500-599". */
static void ctl_cfg_status_items(struct ctl_cfg_out *x, const char *v)
{
	const char *q;
	bool first = true;

	buf_add(x->o, "[", 1);
	for (; *v; v = *q ? q + 2 : q, first = false) {
		q = strstr(v, ", ");
		if (!q)
			q = v + strlen(v);
		if (!first)
			buf_add(x->o, ", ", x->json ? 1 : 2);
		/* JSON: a code is a number, a range a string */
		if (x->json && !memchr(v, '-', (size_t)(q - v)))
			buf_add(x->o, v, (size_t)(q - v));
		else
			buf_printf(x->o, "\"%.*s\"", (int)(q - v), v);
	}
	buf_add(x->o, "]", 1);
}

static void ctl_cfg_yaml(void *arg, const struct cfg_walk_item *it)
{
	struct ctl_cfg_out *x = arg;
	unsigned indent = 2 * it->depth;

	if (it->event == CFG_WALK_MAP_END || it->event == CFG_WALK_SEQ_END)
		return;
	if (it->event == CFG_WALK_MAP_BEGIN && !it->key) {
		x->dash = true; /* its first key goes on the "- " line */
		return;
	}
	/* the file refuses minimum_requests without a percentage, so the
	 * default one is left out where the percentage is off
	 */
	if (it->event == CFG_WALK_VALUE && it->key &&
	    strcmp(it->key, "percentage") == 0)
		x->no_pct = strcmp(it->value, "0") == 0;
	if (it->event == CFG_WALK_VALUE && it->key && it->is_default &&
	    x->no_pct && strcmp(it->key, "minimum_requests") == 0)
		return;
	if (x->dash || !it->key) {
		buf_printf(x->o, "%*s- ", (int)(indent - 2), "");
		x->dash = false;
	} else {
		buf_printf(x->o, "%*s", (int)indent, "");
	}
	if (it->key)
		buf_printf(x->o, "%s:", it->key);
	if (it->event != CFG_WALK_VALUE) {
		buf_add(x->o, "\n", 1);
		return;
	}
	buf_add(x->o, " ", it->key ? 1 : 0);
	if (it->type == CFG_T_STATUS)
		ctl_cfg_status_items(x, it->value);
	else if (ctl_cfg_quoted(it->type))
		buf_json_str(x->o, it->value);
	else
		buf_printf(x->o, "%s", it->value);
	buf_add(x->o, "\n", 1);
}

static void ctl_cfg_json(void *arg, const struct cfg_walk_item *it)
{
	struct ctl_cfg_out *x = arg;
	uint64_t ms;

	if (it->event == CFG_WALK_MAP_END || it->event == CFG_WALK_SEQ_END) {
		x->depth--;
		buf_add(x->o, it->event == CFG_WALK_MAP_END ? "}" : "]", 1);
		return;
	}
	if (x->comma[x->depth])
		buf_add(x->o, ",", 1);
	x->comma[x->depth] = true;
	if (it->key && it->type == CFG_T_DURATION)
		buf_printf(x->o, "\"%s_ms\":", it->key);
	else if (it->key)
		buf_printf(x->o, "\"%s\":", it->key);
	if (it->event == CFG_WALK_MAP_BEGIN ||
	    it->event == CFG_WALK_SEQ_BEGIN) {
		buf_add(x->o, it->event == CFG_WALK_MAP_BEGIN ? "{" : "[", 1);
		if (x->depth + 1 < sizeof(x->comma) / sizeof(x->comma[0]))
			x->depth++;
		x->comma[x->depth] = false;
		return;
	}
	if (it->type == CFG_T_STATUS)
		ctl_cfg_status_items(x, it->value);
	else if (it->type == CFG_T_DURATION &&
		 text_parse_durationz(it->value, 0, UINT64_MAX, &ms) == 0)
		buf_printf(x->o, "%llu", (unsigned long long)ms);
	else if (ctl_cfg_quoted(it->type) || it->type == CFG_T_LOG_LEVEL ||
		 it->type == CFG_T_LEVEL)
		buf_json_str(x->o, it->value);
	else
		buf_printf(x->o, "%s", it->value);
}

/* The configuration in force, defaults expanded: a YAML document the
 * agent itself accepts (aoai-spoa -c -f on it says "configuration OK"),
 * or JSON with durations as integer "_ms" keys.
 */
int ctl_show_config(struct ctl_req *r)
{
	const struct cfg *cfg = r->a->cfg;
	struct ctl_cfg_out x = {.o = r->out, .json = r->json};
	char when[32];

	if (!r->json) {
		buf_printf(r->out,
			   "# running configuration from %s, loaded %s; "
			   "defaults expanded,\n# run-time changes not "
			   "included (show backends, show pools)\n",
			   cfg->file ? cfg->file : "?",
			   text_fmt_time(when, sizeof(when), r->a->cfg_loaded));
		cfg_schema_walk(cfg, ctl_cfg_yaml, &x);
		return 0;
	}
	buf_add(r->out, "{\"file\":", 8);
	buf_json_str(r->out, cfg->file ? cfg->file : "");
	buf_printf(r->out, ",\"loaded\":%lld", (long long)r->a->cfg_loaded);
	x.comma[0] = true;
	cfg_schema_walk(cfg, ctl_cfg_json, &x);
	/* documented keys, present when not configured */
	if (!cfg->n_control)
		buf_add(r->out, ",\"control\":[]", 13);
	if (!cfg->has_metrics)
		buf_add(r->out, ",\"metrics\":null", 15);
	if (!cfg->haproxy.enabled)
		buf_add(r->out, ",\"haproxy\":null", 15);
	buf_add(r->out, "}\n", 2);
	return 0;
}

int ctl_show_metrics(struct ctl_req *r)
{
	metrics_render(r->a, r->out);
	return 0;
}

int ctl_show_haproxy(struct ctl_req *r)
{
	hapi_show(r->a->hapi, r->out, r->json);
	return 0;
}

int ctl_show_fleet(struct ctl_req *r)
{
	fleet_show(r->a->fleet, r->out, r->json);
	return 0;
}

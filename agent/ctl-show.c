/* SPDX-License-Identifier: Apache-2.0 */
/* Control socket views: show info, backends, pools, config, metrics and
 * haproxy, each in text for people and in JSON.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authset.h"
#include "cfg.h"
#include "clock.h"
#include "cred.h"
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
	struct agent *a = r->a;
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

/* Which backends have a weight set at run time in some pool. */
static bool *ctl_weight_overrides(struct agent *a)
{
	uint32_t nb = route_backend_count(a->route), np, p, i;
	struct route_pool_info pi;
	struct route_member_info mi;
	bool *o = calloc(nb ? nb : 1, sizeof(*o));

	if (!o)
		return NULL;
	np = route_pool_count(a->route);
	for (p = 0; p < np; p++) {
		if (route_pool_info(a->route, (int)p, &pi) < 0)
			continue;
		for (i = 0; i < pi.n_members; i++)
			if (route_member_info(a->route, (int)p, i, clock_now.ms,
					      &mi) == 0 &&
			    mi.weight_overridden && mi.backend >= 0 &&
			    (uint32_t)mi.backend < nb)
				o[mi.backend] = true;
	}
	return o;
}

/* Share of its configured weight a backend gets now, per mille: 0 while
 * it cannot take ordinary traffic, its headroom factor otherwise.
 */
static uint32_t ctl_weight_permille(const struct route_backend_info *bi)
{
	if (bi->disabled || bi->down || bi->no_auth ||
	    bi->state != ROUTE_ST_CLOSED)
		return 0;
	return bi->headroom_permille;
}

/* The credential of a keyless backend: kind, token state, expiry, last
 * error; never the token.
 */
static void ctl_backend_auth_json(struct ctl_req *r,
				  const struct route_backend_info *bi)
{
	const struct cred *c =
		r->a->auth ? authset_find(r->a->auth, bi->name) : NULL;
	struct buf *o = r->out;

	buf_printf(o, ",\"auth_unavailable\":%s",
		   bi->no_auth ? "true" : "false");
	if (!c) {
		buf_add(o, ",\"auth\":null", 12);
		return;
	}
	buf_printf(o,
		   ",\"auth\":{\"kind\":\"%s\",\"token\":\"%s\","
		   "\"expires_in_s\":%lld,\"refreshes\":%llu,\"failures\":%u,"
		   "\"last_error\":",
		   cred_kind_name(c->conf.kind),
		   cred_usable(c) ? "valid"
		   : c->expired	  ? "expired"
				  : "pending",
		   (long long)cred_seconds_left(c),
		   (unsigned long long)c->refreshes, c->failures);
	buf_json_str(o, c->last_error);
	buf_add(o, "}", 1);
}

/* The REASON cell of a backend unavailable for want of a token. */
static void ctl_backend_auth_reason(const struct agent *a, const char *name,
				    char *buf, size_t size)
{
	const struct cred *c = a->auth ? authset_find(a->auth, name) : NULL;

	snprintf(buf, size, "auth: %s",
		 c && c->last_error[0] ? c->last_error : "no token yet");
}

/* The AUTH cell: "-" for a keyed backend, else kind,token,expiry. */
static void ctl_backend_auth_cell(const struct agent *a, const char *name,
				  char *buf, size_t size)
{
	const struct cred *c = a->auth ? authset_find(a->auth, name) : NULL;

	if (!c)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%s,%s,%llds", cred_kind_name(c->conf.kind),
			 cred_usable(c) ? "valid"
			 : c->expired	? "expired"
					: "pending",
			 (long long)cred_seconds_left(c));
}

static void ctl_backend_json(struct ctl_req *r,
			     const struct route_backend_info *bi, bool weights,
			     uint64_t now_ms)
{
	static const char *const names[] = {
#define X(name, help) #name,
		ROUTE_BACKEND_COUNTERS(X)
#undef X
	};
	const uint64_t vals[] = {
#define X(name, help) bi->counters.name,
		ROUTE_BACKEND_COUNTERS(X)
#undef X
	};
	struct buf *o = r->out;
	uint64_t left = bi->until_ms > now_ms ? bi->until_ms - now_ms : 0;
	size_t k;

	buf_add(o, "{\"name\":", 8);
	buf_json_str(o, bi->name);
	buf_printf(o, ",\"state\":\"%s\",\"disabled\":%s,\"down\":%s",
		   route_state_str(bi->state), bi->disabled ? "true" : "false",
		   bi->down ? "true" : "false");
	buf_printf(o,
		   ",\"runtime\":{\"disabled\":%s,\"trip\":%s,"
		   "\"weight\":%s}",
		   bi->disabled ? "true" : "false",
		   bi->operator_trip ? "true" : "false",
		   weights ? "true" : "false");
	buf_add(o, ",\"reason\":", 10);
	buf_json_str(o, bi->why);
	buf_printf(o,
		   ",\"remaining_ms\":%llu,\"trip_duration_ms\":%u,"
		   "\"consecutive_trips\":%u,\"probes_inflight\":%u,"
		   "\"probe_limit\":%u,\"window_faults\":%u,"
		   "\"window_calls\":%u,\"consecutive_faults\":%u",
		   (unsigned long long)left, bi->trip_duration_ms,
		   bi->consecutive_trips, bi->probes_inflight, bi->probe_limit,
		   bi->window_faults, bi->window_calls, bi->consecutive_faults);
	if (bi->remaining_requests >= 0)
		buf_printf(o, ",\"remaining_requests\":%lld",
			   (long long)bi->remaining_requests);
	else
		buf_add(o, ",\"remaining_requests\":null", 26);
	if (bi->remaining_tokens >= 0)
		buf_printf(o, ",\"remaining_tokens\":%lld",
			   (long long)bi->remaining_tokens);
	else
		buf_add(o, ",\"remaining_tokens\":null", 24);
	if (bi->remaining_requests_age_ms >= 0)
		buf_printf(o, ",\"remaining_requests_age_ms\":%lld",
			   (long long)bi->remaining_requests_age_ms);
	else
		buf_add(o, ",\"remaining_requests_age_ms\":null", 33);
	if (bi->remaining_tokens_age_ms >= 0)
		buf_printf(o, ",\"remaining_tokens_age_ms\":%lld",
			   (long long)bi->remaining_tokens_age_ms);
	else
		buf_add(o, ",\"remaining_tokens_age_ms\":null", 31);
	buf_printf(o, ",\"headroom_permille\":%u,\"weight_permille\":%u",
		   bi->headroom_permille, ctl_weight_permille(bi));
	ctl_backend_auth_json(r, bi);
	buf_add(o, ",\"counters\":{", 13);
	for (k = 0; k < sizeof(vals) / sizeof(vals[0]); k++)
		buf_printf(o, "%s\"%s\":%llu", k ? "," : "", names[k],
			   (unsigned long long)vals[k]);
	buf_add(o, "}}", 2);
}

int ctl_show_backends(struct ctl_req *r)
{
	struct agent *a = r->a;
	uint32_t n = route_backend_count(a->route), i;
	struct route_backend_info bi;
	struct buf_table t;
	bool *weights, any_runtime = false, first = true;
	int only = -1;
	char left[32], flags[56], head[48], auth[64], why[HTTP_ERR_MAX + 8];

	if (r->argc == 1 && (only = ctl_backend_arg(r, 0)) < 0)
		return -1;
	weights = ctl_weight_overrides(a);
	if (!weights) {
		ctl_err(r, "out of memory");
		return -1;
	}
	if (r->json) {
		buf_add(r->out, "{\"backends\":[", 13);
	} else {
		buf_table_init(&t, 15, CTL_OUT_MAX);
		buf_table_cell(&t, "BACKEND");
		buf_table_cell(&t, "STATE");
		buf_table_cell(&t, "UNTIL");
		buf_table_cell(&t, "FLAGS");
		buf_table_cell(&t, "WEIGHT");
		buf_table_cell(&t, "HEADROOM");
		buf_table_cell(&t, "DECISIONS");
		buf_table_cell(&t, "2XX");
		buf_table_cell(&t, "4XX");
		buf_table_cell(&t, "429");
		buf_table_cell(&t, "5XX");
		buf_table_cell(&t, "FAULTS");
		buf_table_cell(&t, "TRIPS");
		buf_table_cell(&t, "AUTH");
		buf_table_cell(&t, "REASON");
	}
	for (i = 0; i < n; i++) {
		if (only >= 0 && (int)i != only)
			continue;
		if (route_backend_info(a->route, (int)i, clock_now.ms, &bi) < 0)
			continue;
		if (r->json) {
			if (!first)
				buf_add(r->out, ",", 1);
			ctl_backend_json(r, &bi, weights[i], clock_now.ms);
			first = false;
			continue;
		}
		flags[0] = '\0';
		snprintf(flags, sizeof(flags), "%s%s%s%s%s",
			 bi.disabled ? ",disabled*" : "",
			 bi.operator_trip ? ",trip*" : "",
			 weights[i] ? ",weight*" : "", bi.down ? ",down" : "",
			 bi.no_auth ? ",auth" : "");
		if (bi.disabled || bi.operator_trip || weights[i])
			any_runtime = true;
		if (bi.state == ROUTE_ST_OPEN || bi.state == ROUTE_ST_COOLING)
			text_fmt_left(left, sizeof(left),
				      bi.until_ms > clock_now.ms
					      ? bi.until_ms - clock_now.ms
					      : 0);
		else if (bi.state == ROUTE_ST_HALF_OPEN)
			snprintf(left, sizeof(left), "probes %u/%u",
				 bi.probes_inflight, bi.probe_limit);
		else
			snprintf(left, sizeof(left), "-");
		if (bi.remaining_requests >= 0 || bi.remaining_tokens >= 0)
			snprintf(head, sizeof(head), "%u%% req=%lld tok=%lld",
				 bi.headroom_permille / 10,
				 (long long)bi.remaining_requests,
				 (long long)bi.remaining_tokens);
		else
			snprintf(head, sizeof(head), "%u%%",
				 bi.headroom_permille / 10);
		buf_table_cell(&t, "%s", bi.name);
		buf_table_cell(&t, "%s", route_state_str(bi.state));
		buf_table_cell(&t, "%s", left);
		buf_table_cell(&t, "%s", flags[0] ? flags + 1 : "-");
		buf_table_cell(&t, "%u%%", ctl_weight_permille(&bi) / 10);
		buf_table_cell(&t, "%s", head);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.decisions);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.results_2xx);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.results_4xx);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.throttles);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.results_5xx);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.faults);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.trips);
		ctl_backend_auth_cell(a, bi.name, auth, sizeof(auth));
		buf_table_cell(&t, "%s", auth);
		if (bi.no_auth)
			ctl_backend_auth_reason(a, bi.name, why, sizeof(why));
		buf_table_cell(&t, "%s",
			       bi.no_auth  ? why
			       : bi.why[0] ? bi.why
					   : "-");
	}
	free(weights);
	if (r->json) {
		buf_add(r->out, "]}\n", 3);
		return 0;
	}
	buf_table_print(&t, r->out, "");
	if (any_runtime)
		buf_printf(r->out, "* set at run time: kept across "
				   "reloads until \"reset backend NAME\"\n");
	return 0;
}

int ctl_show_pools(struct ctl_req *r)
{
	struct agent *a = r->a;
	uint32_t np = route_pool_count(a->route), p, i;
	struct route_pool_info pi;
	struct route_member_info mi;
	struct route_backend_info bi;
	struct buf_table t;
	bool first = true, any_runtime = false;
	const char *name;
	uint32_t eff;
	int only = -1;

	if (r->argc == 1) {
		name = r->argv[0];
		only = route_pool_index(a->route, name, strlen(name));
		if (only < 0) {
			ctl_err(r, "no pool '%.64s'", name);
			return -1;
		}
	}
	if (r->json)
		buf_add(r->out, "{\"pools\":[", 10);
	for (p = 0; p < np; p++) {
		if ((only >= 0 && (int)p != only) ||
		    route_pool_info(a->route, (int)p, &pi) < 0)
			continue;
		if (r->json) {
			buf_printf(r->out, "%s{\"name\":", first ? "" : ",");
			buf_json_str(r->out, pi.name);
			buf_printf(r->out,
				   ",\"best_priority\":%u,"
				   "\"current_priority\":%u,\"counters\":{",
				   pi.best_priority, pi.cur_priority);
#define X(name, help)                                                          \
	buf_printf(r->out, "%s\"%s\":%llu",                                    \
		   strcmp(#name, "weighted") == 0 ? "" : ",", #name,           \
		   (unsigned long long)pi.counters.name);
			ROUTE_POOL_COUNTERS(X)
#undef X
			buf_add(r->out, "},\"members\":[", 13);
		} else {
			buf_printf(r->out,
				   "pool %s: %u members, group in use %u "
				   "(best %u)\n",
				   pi.name, pi.n_members, pi.cur_priority,
				   pi.best_priority);
			buf_add(r->out, "  decisions:", 12);
#define X(name, help)                                                          \
	buf_printf(r->out, " %s %llu", #name,                                  \
		   (unsigned long long)pi.counters.name);
			ROUTE_POOL_COUNTERS(X)
#undef X
			buf_add(r->out, "\n", 1);
			buf_table_init(&t, 7, CTL_OUT_MAX);
			buf_table_cell(&t, "BACKEND");
			buf_table_cell(&t, "PRIORITY");
			buf_table_cell(&t, "WEIGHT");
			buf_table_cell(&t, "CONFIGURED");
			buf_table_cell(&t, "EFFECTIVE");
			buf_table_cell(&t, "STATE");
			buf_table_cell(&t, "AVAILABLE");
		}
		first = false;
		for (i = 0; i < pi.n_members; i++) {
			if (route_member_info(a->route, (int)p, i, clock_now.ms,
					      &mi) < 0 ||
			    route_backend_info(a->route, mi.backend,
					       clock_now.ms, &bi) < 0)
				continue;
			if (r->json) {
				buf_printf(r->out,
					   "%s{\"backend\":", i ? "," : "");
				buf_json_str(r->out, bi.name);
				buf_printf(
					r->out,
					",\"priority\":%u,\"weight\":%u,"
					"\"cfg_weight\":%u,"
					"\"runtime_weight\":%s,"
					"\"effective_weight_milli\":%u,"
					"\"state\":\"%s\",\"available\":%s}",
					mi.priority, mi.weight, mi.cfg_weight,
					mi.weight_overridden ? "true" : "false",
					mi.available ? mi.effective_milli : 0,
					route_state_str(bi.state),
					mi.available ? "true" : "false");
				continue;
			}
			any_runtime |= mi.weight_overridden;
			buf_table_cell(&t, "%s", bi.name);
			buf_table_cell(&t, "%u", mi.priority);
			buf_table_cell(&t, "%u%s", mi.weight,
				       mi.weight_overridden ? "*" : "");
			buf_table_cell(&t, "%u", mi.cfg_weight);
			eff = mi.available ? mi.effective_milli : 0;
			buf_table_cell(&t, "%u.%03u", eff / 1000, eff % 1000);
			buf_table_cell(&t, "%s%s%s", route_state_str(bi.state),
				       bi.disabled ? ",disabled*" : "",
				       bi.down ? ",down" : "");
			buf_table_cell(&t, "%s", mi.available ? "yes" : "no");
		}
		if (r->json)
			buf_add(r->out, "]}", 2);
		else
			buf_table_print(&t, r->out, "  ");
	}
	if (r->json) {
		buf_add(r->out, "]}\n", 3);
		return 0;
	}
	if (any_runtime)
		buf_printf(r->out, "* set at run time: kept across "
				   "reloads until \"reset backend NAME\"\n");
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

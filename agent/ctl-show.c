/* Control socket views: show info, backends, pools, config, metrics and
 * haproxy, each in text for people and in JSON.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ctl-req.h"
#include "ctl-show.h"
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

int ctl_show_info(struct ctl_req *r)
{
	struct agent *a = r->a;
	struct ctl_kv kv = {.r = r, .first = true};
	struct hapi_status hs;
	char buf[64], key[40];
	uint32_t i;

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
	for (i = 0; i <= SPOP_ERR_RES + 1; i++) {
		if (i <= SPOP_ERR_RES)
			snprintf(key, sizeof(key), "disconnect_out_%u", i);
		else
			snprintf(key, sizeof(key), "disconnect_out_other");
		ctl_kv_u64(&kv, key, a->conns.cnt.disconnect_out[i]);
	}
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

static bool ctl_operator_trip(const struct route_backend_info *bi)
{
	return bi->state == ROUTE_ST_OPEN &&
	       strncmp(bi->why, "operator trip", 13) == 0;
}

/* Share of its configured weight a backend gets now, per mille: 0 while
 * it cannot take ordinary traffic, its headroom factor otherwise.
 */
static uint32_t ctl_weight_permille(const struct route_backend_info *bi)
{
	if (bi->disabled || bi->down || bi->state != ROUTE_ST_CLOSED)
		return 0;
	return bi->headroom_permille;
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
		   ctl_operator_trip(bi) ? "true" : "false",
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
	buf_printf(o, ",\"headroom_permille\":%u,\"weight_permille\":%u",
		   bi->headroom_permille, ctl_weight_permille(bi));
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
	char left[32], flags[48], head[48];

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
		buf_table_init(&t, 13, CTL_OUT_MAX);
		buf_table_cell(&t, "BACKEND");
		buf_table_cell(&t, "STATE");
		buf_table_cell(&t, "UNTIL");
		buf_table_cell(&t, "FLAGS");
		buf_table_cell(&t, "WEIGHT");
		buf_table_cell(&t, "HEADROOM");
		buf_table_cell(&t, "DECISIONS");
		buf_table_cell(&t, "2XX");
		buf_table_cell(&t, "429");
		buf_table_cell(&t, "5XX");
		buf_table_cell(&t, "FAULTS");
		buf_table_cell(&t, "TRIPS");
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
		snprintf(flags, sizeof(flags), "%s%s%s%s",
			 bi.disabled ? ",disabled*" : "",
			 ctl_operator_trip(&bi) ? ",trip*" : "",
			 weights[i] ? ",weight*" : "", bi.down ? ",down" : "");
		if (bi.disabled || ctl_operator_trip(&bi) || weights[i])
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
			       (unsigned long long)bi.counters.throttles);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.results_5xx);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.faults);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.trips);
		buf_table_cell(&t, "%s", bi.why[0] ? bi.why : "-");
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

/* "[429, 500-599]" of a status set, ranges compressed; JSON uses strings
 * for ranges too ("500-599"), as the configuration file does.
 */
static void ctl_status_set(struct buf *o, const struct cfg_status_set *s)
{
	int code = CFG_STATUS_MIN, end;
	bool first = true;

	buf_add(o, "[", 1);
	while (code <= CFG_STATUS_MAX) {
		if (!cfg_status_has(s, code)) {
			code++;
			continue;
		}
		for (end = code;
		     end + 1 <= CFG_STATUS_MAX && cfg_status_has(s, end + 1);
		     end++)
			;
		if (end == code)
			buf_printf(o, "%s%d", first ? "" : ", ", code);
		else
			buf_printf(o, "%s\"%d-%d\"", first ? "" : ", ", code,
				   end);
		first = false;
		code = end + 1;
	}
	buf_add(o, "]", 1);
}

static void ctl_config_sock_yaml(struct buf *o, const struct cfg_listener *l,
				 bool control)
{
	char addr[CFG_PATH_MAX + 40];

	sock_addr_str(l, addr, sizeof(addr));
	buf_printf(o, "  - {address: \"%s\"", addr);
	if (l->kind == CFG_ADDR_UNIX)
		buf_printf(o, ", mode: \"%04o\"", l->mode);
	if (control)
		buf_printf(o, ", level: %s", ctl_level_str(l->level));
	buf_add(o, "}\n", 2);
}

static void ctl_config_sock_json(struct buf *o, const struct cfg_listener *l,
				 bool control)
{
	char addr[CFG_PATH_MAX + 40];

	sock_addr_str(l, addr, sizeof(addr));
	buf_add(o, "{\"address\":", 11);
	buf_json_str(o, addr);
	if (l->kind == CFG_ADDR_UNIX)
		buf_printf(o, ",\"mode\":\"%04o\"", l->mode);
	if (control)
		buf_printf(o, ",\"level\":\"%s\"", ctl_level_str(l->level));
	buf_add(o, "}", 1);
}

/* The configuration in force, defaults expanded, as a YAML document the
 * agent itself accepts (aoai-spoa -c -f on it says "configuration OK").
 */
static void ctl_config_yaml(struct agent *a, struct buf *o)
{
	const struct cfg *cfg = a->cfg;
	const struct cfg_agent *ag = &cfg->agent;
	char d1[24], d2[24], d3[24], when[32];
	uint32_t i, j;

	buf_printf(o,
		   "# running configuration from %s, loaded %s; "
		   "defaults expanded,\n# run-time changes not included "
		   "(show backends, show pools)\n",
		   cfg->file ? cfg->file : "?",
		   text_fmt_time(when, sizeof(when), a->cfg_loaded));
	buf_printf(o,
		   "agent:\n  max_connections: %u\n  max_frame_size: %u\n"
		   "  max_inflight: %u\n  hello_timeout: %s\n"
		   "  idle_timeout: %s\n",
		   ag->max_connections, ag->max_frame_size, ag->max_inflight,
		   text_fmt_duration(d1, sizeof(d1), ag->hello_timeout_ms),
		   text_fmt_duration(d2, sizeof(d2), ag->idle_timeout_ms));
	buf_printf(o, "  shutdown_timeout: %s\n  log_level: %s\n",
		   text_fmt_duration(d1, sizeof(d1), ag->shutdown_timeout_ms),
		   log_level_name(ag->log_level));
	buf_add(o, "listen:\n", 8);
	for (i = 0; i < cfg->n_listen; i++)
		ctl_config_sock_yaml(o, &cfg->listen[i], false);
	if (cfg->n_control) {
		buf_add(o, "control:\n", 9);
		for (i = 0; i < cfg->n_control; i++)
			ctl_config_sock_yaml(o, &cfg->control[i], true);
	}
	if (cfg->has_metrics)
		buf_printf(o, "metrics: \"%s\"\n",
			   sock_addr_str(&cfg->metrics, when, sizeof(when)));
	if (cfg->haproxy.enabled) {
		char addr[CFG_PATH_MAX + 40];

		buf_printf(
			o,
			"haproxy:\n  stats_socket: \"%s\"\n  backend: \"%s\"\n"
			"  poll_interval: %s\n  mirror: %s\n",
			sock_addr_str(&cfg->haproxy.stats_socket, addr,
				      sizeof(addr)),
			cfg->haproxy.backend,
			text_fmt_duration(d1, sizeof(d1),
					  cfg->haproxy.poll_interval_ms),
			cfg->haproxy.mirror ? "true" : "false");
	}
	buf_add(o, "backends:\n", 10);
	for (i = 0; i < cfg->n_backends; i++) {
		const struct cfg_backend *b = &cfg->backends[i];
		const struct cfg_breaker *k = &b->breaker;
		const struct cfg_headroom *h = &b->headroom;

		buf_printf(o,
			   "  - name: \"%s\"\n    circuit_breaker:\n"
			   "      failure:\n        count: %u\n"
			   "        interval: %s\n        status_codes: ",
			   b->name, k->failure_count,
			   text_fmt_duration(d1, sizeof(d1),
					     k->failure_interval_ms));
		ctl_status_set(o, &k->failure_status);
		buf_add(o, "\n", 1);
		if (k->failure_percentage)
			buf_printf(o,
				   "        percentage: %u\n"
				   "        minimum_requests: %u\n",
				   k->failure_percentage, k->minimum_requests);
		buf_printf(
			o,
			"        consecutive: %u\n"
			"        slow_call: %s\n"
			"      trip_duration: %s\n"
			"      max_trip_duration: %s\n",
			k->consecutive_failures,
			text_fmt_duration(d1, sizeof(d1), k->slow_call_ms),
			text_fmt_duration(d2, sizeof(d2), k->trip_duration_ms),
			text_fmt_duration(d3, sizeof(d3),
					  k->max_trip_duration_ms));
		buf_printf(o,
			   "      accept_retry_after: %s\n"
			   "      max_retry_after: %s\n"
			   "      throttle_status_codes: ",
			   k->accept_retry_after ? "true" : "false",
			   text_fmt_duration(d1, sizeof(d1),
					     k->max_retry_after_ms));
		ctl_status_set(o, &k->throttle_status);
		buf_printf(
			o,
			"\n      probe_requests: %u\n"
			"      probe_timeout: %s\n",
			k->probe_requests,
			text_fmt_duration(d1, sizeof(d1), k->probe_timeout_ms));
		buf_printf(o,
			   "    headroom:\n"
			   "      min_remaining_requests: %llu\n"
			   "      min_remaining_tokens: %llu\n"
			   "      min_weight_percent: %u\n"
			   "      max_age: %s\n",
			   (unsigned long long)h->min_remaining_requests,
			   (unsigned long long)h->min_remaining_tokens,
			   h->min_weight_percent,
			   text_fmt_duration(d1, sizeof(d1), h->max_age_ms));
	}
	buf_add(o, "pools:\n", 7);
	for (i = 0; i < cfg->n_pools; i++) {
		const struct cfg_pool *p = &cfg->pools[i];

		buf_printf(o, "  - name: \"%s\"\n    members:\n", p->name);
		for (j = 0; j < p->n_members; j++) {
			const struct cfg_member *m = &p->members[j];

			buf_printf(o,
				   "      - {backend: \"%s\", priority: %u, "
				   "weight: %u}\n",
				   m->backend < cfg->n_backends
					   ? cfg->backends[m->backend].name
					   : "?",
				   m->priority, m->weight);
		}
	}
}

/* The same in JSON: durations as integer milliseconds ("..._ms"). */
static void ctl_config_json(struct agent *a, struct buf *o)
{
	const struct cfg *cfg = a->cfg;
	const struct cfg_agent *ag = &cfg->agent;
	uint32_t i, j;

	buf_add(o, "{\"file\":", 8);
	buf_json_str(o, cfg->file ? cfg->file : "");
	buf_printf(o,
		   ",\"loaded\":%lld,\"agent\":{\"max_connections\":%u,"
		   "\"max_frame_size\":%u,\"max_inflight\":%u,"
		   "\"hello_timeout_ms\":%u,\"idle_timeout_ms\":%u,"
		   "\"shutdown_timeout_ms\":%u,\"log_level\":\"%s\"}",
		   (long long)a->cfg_loaded, ag->max_connections,
		   ag->max_frame_size, ag->max_inflight, ag->hello_timeout_ms,
		   ag->idle_timeout_ms, ag->shutdown_timeout_ms,
		   log_level_name(ag->log_level));
	buf_add(o, ",\"listen\":[", 11);
	for (i = 0; i < cfg->n_listen; i++) {
		if (i)
			buf_add(o, ",", 1);
		ctl_config_sock_json(o, &cfg->listen[i], false);
	}
	buf_add(o, "],\"control\":[", 13);
	for (i = 0; i < cfg->n_control; i++) {
		if (i)
			buf_add(o, ",", 1);
		ctl_config_sock_json(o, &cfg->control[i], true);
	}
	buf_add(o, "],\"metrics\":", 12);
	if (cfg->has_metrics)
		ctl_config_sock_json(o, &cfg->metrics, false);
	else
		buf_add(o, "null", 4);
	buf_add(o, ",\"haproxy\":", 11);
	if (cfg->haproxy.enabled) {
		char addr[CFG_PATH_MAX + 40];

		buf_add(o, "{\"stats_socket\":", 16);
		buf_json_str(o, sock_addr_str(&cfg->haproxy.stats_socket, addr,
					      sizeof(addr)));
		buf_add(o, ",\"backend\":", 11);
		buf_json_str(o, cfg->haproxy.backend);
		buf_printf(o, ",\"poll_interval_ms\":%u,\"mirror\":%s}",
			   cfg->haproxy.poll_interval_ms,
			   cfg->haproxy.mirror ? "true" : "false");
	} else {
		buf_add(o, "null", 4);
	}
	buf_add(o, ",\"backends\":[", 13);
	for (i = 0; i < cfg->n_backends; i++) {
		const struct cfg_backend *b = &cfg->backends[i];
		const struct cfg_breaker *k = &b->breaker;
		const struct cfg_headroom *h = &b->headroom;

		buf_printf(o, "%s{\"name\":", i ? "," : "");
		buf_json_str(o, b->name);
		buf_printf(o,
			   ",\"circuit_breaker\":{\"failure\":{"
			   "\"count\":%u,\"interval_ms\":%u,"
			   "\"status_codes\":",
			   k->failure_count, k->failure_interval_ms);
		ctl_status_set(o, &k->failure_status);
		buf_printf(o,
			   ",\"percentage\":%u,\"minimum_requests\":%u,"
			   "\"consecutive\":%u,\"slow_call_ms\":%u},"
			   "\"trip_duration_ms\":%u,"
			   "\"max_trip_duration_ms\":%u,"
			   "\"accept_retry_after\":%s,"
			   "\"max_retry_after_ms\":%u,"
			   "\"throttle_status_codes\":",
			   k->failure_percentage, k->minimum_requests,
			   k->consecutive_failures, k->slow_call_ms,
			   k->trip_duration_ms, k->max_trip_duration_ms,
			   k->accept_retry_after ? "true" : "false",
			   k->max_retry_after_ms);
		ctl_status_set(o, &k->throttle_status);
		buf_printf(o,
			   ",\"probe_requests\":%u,\"probe_timeout_ms\":%u}"
			   ",\"headroom\":{\"min_remaining_requests\":%llu,"
			   "\"min_remaining_tokens\":%llu,"
			   "\"min_weight_percent\":%u,\"max_age_ms\":%u}}",
			   k->probe_requests, k->probe_timeout_ms,
			   (unsigned long long)h->min_remaining_requests,
			   (unsigned long long)h->min_remaining_tokens,
			   h->min_weight_percent, h->max_age_ms);
	}
	buf_add(o, "],\"pools\":[", 11);
	for (i = 0; i < cfg->n_pools; i++) {
		const struct cfg_pool *p = &cfg->pools[i];

		buf_printf(o, "%s{\"name\":", i ? "," : "");
		buf_json_str(o, p->name);
		buf_add(o, ",\"members\":[", 12);
		for (j = 0; j < p->n_members; j++) {
			const struct cfg_member *m = &p->members[j];

			buf_printf(o, "%s{\"backend\":", j ? "," : "");
			buf_json_str(o, m->backend < cfg->n_backends
						? cfg->backends[m->backend].name
						: "?");
			buf_printf(o, ",\"priority\":%u,\"weight\":%u}",
				   m->priority, m->weight);
		}
		buf_add(o, "]}", 2);
	}
	buf_add(o, "]}\n", 3);
}

int ctl_show_config(struct ctl_req *r)
{
	if (r->json)
		ctl_config_json(r->a, r->out);
	else
		ctl_config_yaml(r->a, r->out);
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

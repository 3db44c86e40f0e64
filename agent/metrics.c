/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition (format 0.0.4). */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-t.h"
#include "authset.h"
#include "clock.h"
#include "fleet.h"
#include "hapi.h"
#include "metrics.h"
#include "route.h"
#include "spop.h"
#include "stats.h"

#define M_PREFIX "aoai_spoa_"

/* HELP and TYPE of one family; <name> without the prefix. */
static void m_family(struct buf *o, const char *name, const char *type,
		     const char *help)
{
	const char *p;

	buf_printf(o, "# HELP " M_PREFIX "%s ", name);
	/* text format: backslash and newline are escaped in HELP */
	for (p = help; *p; p++) {
		if (*p == '\\')
			buf_add(o, "\\\\", 2);
		else if (*p == '\n')
			buf_add(o, "\\n", 2);
		else
			buf_add(o, p, 1);
	}
	buf_printf(o, "\n# TYPE " M_PREFIX "%s %s\n", name, type);
}

/* A label value, escaped (backslash, double quote, newline). */
static void m_label(struct buf *o, const char *v)
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

/* One sample: name{k1="v1",k2="v2"} value. <k2> may be NULL, and <k1>. */
static void m_sample(struct buf *o, const char *name, const char *k1,
		     const char *v1, const char *k2, const char *v2,
		     const char *value)
{
	buf_printf(o, M_PREFIX "%s", name);
	if (k1) {
		buf_printf(o, "{%s=\"", k1);
		m_label(o, v1);
		if (k2) {
			buf_printf(o, "\",%s=\"", k2);
			m_label(o, v2);
		}
		buf_add(o, "\"}", 2);
	}
	buf_printf(o, " %s\n", value);
}

static const char *m_u64(char *buf, size_t size, uint64_t v)
{
	snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

/* <v> thousandths as a decimal: 1500 -> "1.5". */
static const char *m_milli(char *buf, size_t size, uint64_t v)
{
	snprintf(buf, size, "%llu.%03llu", (unsigned long long)(v / 1000),
		 (unsigned long long)(v % 1000));
	return buf;
}

/* Nanoseconds as seconds, exact: 500 -> "0.000000500". */
static const char *m_ns(char *buf, size_t size, uint64_t ns)
{
	snprintf(buf, size, "%llu.%09llu",
		 (unsigned long long)(ns / 1000000000u),
		 (unsigned long long)(ns % 1000000000u));
	return buf;
}

/* One unlabelled family with one sample. */
static void m_single(struct buf *o, const char *name, const char *type,
		     const char *help, uint64_t v)
{
	char n[24];

	m_family(o, name, type, help);
	m_sample(o, name, NULL, NULL, NULL, NULL, m_u64(n, sizeof(n), v));
}

/* The latency histogram: cumulative buckets, le in seconds. */
static void m_histogram(struct buf *o, const struct spoa_hist *h)
{
	static const uint64_t bounds[] = SPOA_HIST_BOUNDS_NS;
	char le[40], n[24], name[64];
	uint64_t cum = 0;
	int i;

	m_family(o, "decision_duration_seconds", "histogram",
		 "time route_decide() took, sampled: one aoai-route in "
		 "16 is timed");
	snprintf(name, sizeof(name), "decision_duration_seconds_bucket");
	for (i = 0; i < SPOA_HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		if (bounds[i] == UINT64_MAX)
			snprintf(le, sizeof(le), "+Inf");
		else
			m_ns(le, sizeof(le), bounds[i]);
		m_sample(o, name, "le", le, NULL, NULL,
			 m_u64(n, sizeof(n), cum));
	}
	if (bounds[SPOA_HIST_BUCKETS - 1] != UINT64_MAX)
		m_sample(o, name, "le", "+Inf", NULL, NULL,
			 m_u64(n, sizeof(n), h->count));
	m_sample(o, "decision_duration_seconds_sum", NULL, NULL, NULL, NULL,
		 m_ns(le, sizeof(le), h->sum_ns));
	m_sample(o, "decision_duration_seconds_count", NULL, NULL, NULL, NULL,
		 m_u64(n, sizeof(n), h->count));
}

/* Backend counters, from the engine's declaration; results by status
 * class form one family, the others one family each.
 */
struct m_counter {
	const char *name;
	const char *help;
	size_t off;
};

static const struct m_counter m_backend_counters[] = {
#define X(name, help)                                                          \
	{#name, help, offsetof(struct route_backend_counters, name)},
	ROUTE_BACKEND_COUNTERS(X)
#undef X
};

static const struct {
	const char *counter;
	const char *class;
} m_result_classes[] = {
	{"results_2xx", "2xx"}, {"results_3xx", "3xx"},
	{"results_4xx", "4xx"}, {"throttles", "throttle"},
	{"results_5xx", "5xx"}, {"results_none", "none"},
};

#define M_NCLASSES (sizeof(m_result_classes) / sizeof(m_result_classes[0]))

static const char *m_result_class(const char *counter)
{
	size_t i;

	for (i = 0; i < M_NCLASSES; i++)
		if (strcmp(counter, m_result_classes[i].counter) == 0)
			return m_result_classes[i].class;
	return NULL;
}

static uint64_t m_counter_at(const struct route_backend_counters *c, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)c + off, sizeof(v));
	return v;
}

/* Family <name>, one histogram per backend of the route_latency at
 * offset <off> in struct route_backend_info: cumulative buckets, le in
 * seconds.
 */
static void m_latency(struct buf *o, const struct route_backend_info *bi,
		      uint32_t n, const char *name, const char *help,
		      size_t off)
{
	static const uint64_t bounds[] = ROUTE_LAT_BOUNDS_MS;
	char le[40], v[40], b[96], c[96], sum[96];
	uint32_t i;
	uint64_t cum;
	int k;

	snprintf(b, sizeof(b), "%s_bucket", name);
	snprintf(c, sizeof(c), "%s_count", name);
	snprintf(sum, sizeof(sum), "%s_sum", name);
	m_family(o, name, "histogram", help);
	for (i = 0; i < n; i++) {
		const struct route_latency *l =
			(const void *)((const char *)&bi[i] + off);

		cum = 0;
		for (k = 0; k < ROUTE_LAT_BUCKETS; k++) {
			cum += l->bucket[k];
			if (bounds[k] == UINT64_MAX)
				snprintf(le, sizeof(le), "+Inf");
			else
				m_milli(le, sizeof(le), bounds[k]);
			m_sample(o, b, "backend", bi[i].name, "le", le,
				 m_u64(v, sizeof(v), cum));
		}
		m_sample(o, sum, "backend", bi[i].name, NULL, NULL,
			 m_milli(v, sizeof(v), l->sum_ms));
		m_sample(o, c, "backend", bi[i].name, NULL, NULL,
			 m_u64(v, sizeof(v), l->count));
	}
}

static const char *const m_states[] = {"closed", "open", "cooling",
				       "half-open"};

static void m_backends(struct agent *a, struct buf *o)
{
	uint32_t n = route_backend_count(a->route), i;
	struct route_backend_info *bi;
	char v[40], name[96];
	size_t k, s;

	bi = calloc(n ? n : 1, sizeof(*bi));
	if (!bi) {
		o->overflow = true;
		return;
	}
	for (i = 0; i < n; i++)
		route_backend_info(a->route, (int)i, clock_now.ms, &bi[i]);

	m_family(o, "backend_state", "gauge",
		 "breaker state of the backend: 1 for the state it is in");
	for (i = 0; i < n; i++)
		for (s = 0; s < 4; s++)
			m_sample(o, "backend_state", "backend", bi[i].name,
				 "state", m_states[s],
				 (size_t)bi[i].state == s ? "1" : "0");
	m_family(o, "backend_disabled", "gauge",
		 "1 when an operator disabled the backend (drain)");
	for (i = 0; i < n; i++)
		m_sample(o, "backend_disabled", "backend", bi[i].name, NULL,
			 NULL, bi[i].disabled ? "1" : "0");
	m_family(o, "backend_down", "gauge",
		 "1 when HAProxy reports the server DOWN or in MAINT");
	for (i = 0; i < n; i++)
		m_sample(o, "backend_down", "backend", bi[i].name, NULL, NULL,
			 bi[i].down ? "1" : "0");
	m_family(o, "backend_auth_unavailable", "gauge",
		 "1 when a keyless backend has no access token HAProxy holds");
	for (i = 0; i < n; i++)
		m_sample(o, "backend_auth_unavailable", "backend", bi[i].name,
			 NULL, NULL, bi[i].no_auth ? "1" : "0");
	m_family(o, "backend_cooldown_remaining_seconds", "gauge",
		 "time until an open or cooling backend turns half-open");
	for (i = 0; i < n; i++) {
		uint64_t left = 0;

		if ((bi[i].state == ROUTE_ST_OPEN ||
		     bi[i].state == ROUTE_ST_COOLING) &&
		    bi[i].until_ms > clock_now.ms)
			left = bi[i].until_ms - clock_now.ms;
		m_sample(o, "backend_cooldown_remaining_seconds", "backend",
			 bi[i].name, NULL, NULL, m_milli(v, sizeof(v), left));
	}
	m_family(o, "backend_weight_ratio", "gauge",
		 "share of its configured weights the backend gets now: 0 "
		 "unless closed, enabled and up; else the headroom factor");
	for (i = 0; i < n; i++) {
		uint32_t w = bi[i].disabled || bi[i].down || bi[i].no_auth ||
					     bi[i].state != ROUTE_ST_CLOSED
				     ? 0
				     : bi[i].headroom_permille;

		m_sample(o, "backend_weight_ratio", "backend", bi[i].name, NULL,
			 NULL, m_milli(v, sizeof(v), w));
	}
	m_family(o, "backend_headroom_ratio", "gauge",
		 "weight factor from x-ratelimit-remaining-* (1 = full)");
	for (i = 0; i < n; i++)
		m_sample(o, "backend_headroom_ratio", "backend", bi[i].name,
			 NULL, NULL,
			 m_milli(v, sizeof(v), bi[i].headroom_permille));
	m_family(o, "backend_remaining_requests", "gauge",
		 "last x-ratelimit-remaining-requests seen");
	for (i = 0; i < n; i++)
		if (bi[i].remaining_requests >= 0)
			m_sample(o, "backend_remaining_requests", "backend",
				 bi[i].name, NULL, NULL,
				 m_u64(v, sizeof(v),
				       (uint64_t)bi[i].remaining_requests));
	m_family(o, "backend_remaining_tokens", "gauge",
		 "last x-ratelimit-remaining-tokens seen");
	for (i = 0; i < n; i++)
		if (bi[i].remaining_tokens >= 0)
			m_sample(o, "backend_remaining_tokens", "backend",
				 bi[i].name, NULL, NULL,
				 m_u64(v, sizeof(v),
				       (uint64_t)bi[i].remaining_tokens));

	m_family(o, "backend_remaining_requests_age_seconds", "gauge",
		 "time since x-ratelimit-remaining-requests was last seen");
	for (i = 0; i < n; i++)
		if (bi[i].remaining_requests_age_ms >= 0)
			m_sample(o, "backend_remaining_requests_age_seconds",
				 "backend", bi[i].name, NULL, NULL,
				 m_milli(v, sizeof(v),
					 (uint64_t)bi[i]
						 .remaining_requests_age_ms));
	m_family(o, "backend_remaining_tokens_age_seconds", "gauge",
		 "time since x-ratelimit-remaining-tokens was last seen");
	for (i = 0; i < n; i++)
		if (bi[i].remaining_tokens_age_ms >= 0)
			m_sample(o, "backend_remaining_tokens_age_seconds",
				 "backend", bi[i].name, NULL, NULL,
				 m_milli(v, sizeof(v),
					 (uint64_t)bi[i]
						 .remaining_tokens_age_ms));
	m_latency(o, bi, n, "backend_response_time_seconds",
		  "attempts' time to the response headers (time to first "
		  "token of a stream), from aoai-result duration_ms",
		  offsetof(struct route_backend_info, latency));
	m_latency(o, bi, n, "backend_decision_to_result_seconds",
		  "time from the agent's decision to each attempt's result, "
		  "from aoai-result since_decision_ms: HAProxy's queue, the "
		  "hops, the time to the response headers; a retried "
		  "attempt counts from the request's one decision, the "
		  "attempts before it included",
		  offsetof(struct route_backend_info, decision_latency));

	m_family(o, "backend_results_total", "counter",
		 "results learned from aoai-result, by status class "
		 "(throttle: a throttle status such as 429; none: no "
		 "response)");
	for (i = 0; i < n; i++)
		for (k = 0; k < sizeof(m_backend_counters) /
					sizeof(m_backend_counters[0]);
		     k++) {
			const char *cls =
				m_result_class(m_backend_counters[k].name);

			if (cls)
				m_sample(
					o, "backend_results_total", "backend",
					bi[i].name, "class", cls,
					m_u64(v, sizeof(v),
					      m_counter_at(&bi[i].counters,
							   m_backend_counters[k]
								   .off)));
		}
	for (k = 0;
	     k < sizeof(m_backend_counters) / sizeof(m_backend_counters[0]);
	     k++) {
		const struct m_counter *mc = &m_backend_counters[k];

		if (m_result_class(mc->name))
			continue;
		snprintf(name, sizeof(name), "backend_%s_total", mc->name);
		m_family(o, name, "counter", mc->help);
		for (i = 0; i < n; i++)
			m_sample(o, name, "backend", bi[i].name, NULL, NULL,
				 m_u64(v, sizeof(v),
				       m_counter_at(&bi[i].counters, mc->off)));
	}
	free(bi);
}

static const struct m_counter m_pool_counters[] = {
#define X(name, help) {#name, help, offsetof(struct route_pool_counters, name)},
	ROUTE_POOL_COUNTERS(X)
#undef X
};

/* Which member figure a pool family shows. */
enum m_member_field { M_WEIGHT, M_EFFECTIVE, M_AVAILABLE };

static void m_members(struct agent *a, struct buf *o, enum m_member_field f)
{
	uint32_t np = route_pool_count(a->route), p, i;
	struct route_pool_info pi;
	struct route_member_info mi;
	const char *name = f == M_WEIGHT      ? "pool_member_weight"
			   : f == M_EFFECTIVE ? "pool_member_effective_weight"
					      : "pool_member_available";
	char v[40];

	m_family(o, name, "gauge",
		 f == M_WEIGHT ? "weight in force (configured, or set at run "
				 "time)"
		 : f == M_EFFECTIVE
			 ? "weight used now: weight x headroom, 0 when the "
			   "backend cannot take traffic"
			 : "1 when a decision would consider the member now");
	for (p = 0; p < np; p++) {
		if (route_pool_info(a->route, (int)p, &pi) < 0)
			continue;
		for (i = 0; i < pi.n_members; i++) {
			if (route_member_info(a->route, (int)p, i, clock_now.ms,
					      &mi) < 0)
				continue;
			if (f == M_WEIGHT)
				m_u64(v, sizeof(v), mi.weight);
			else if (f == M_EFFECTIVE)
				m_milli(v, sizeof(v),
					mi.available ? mi.effective_milli : 0);
			else
				snprintf(v, sizeof(v), "%d", mi.available);
			m_sample(o, name, "pool", pi.name, "backend",
				 route_backend_name(a->route, mi.backend), v);
		}
	}
}

static void m_pools(struct agent *a, struct buf *o)
{
	uint32_t np = route_pool_count(a->route), p;
	struct route_pool_info pi;
	char v[24];
	size_t k;

	m_family(o, "pool_decisions_total", "counter",
		 "route decisions of the pool, by reason (exhausted: no "
		 "member available, answered 429)");
	for (p = 0; p < np; p++) {
		if (route_pool_info(a->route, (int)p, &pi) < 0)
			continue;
		for (k = 0;
		     k < sizeof(m_pool_counters) / sizeof(m_pool_counters[0]);
		     k++) {
			uint64_t n;

			memcpy(&n,
			       (const char *)&pi.counters +
				       m_pool_counters[k].off,
			       sizeof(n));
			m_sample(o, "pool_decisions_total", "pool", pi.name,
				 "reason", m_pool_counters[k].name,
				 m_u64(v, sizeof(v), n));
		}
	}
	m_family(o, "pool_priority_group", "gauge",
		 "priority group of the last decision (0: none or "
		 "exhausted)");
	for (p = 0; p < np; p++)
		if (route_pool_info(a->route, (int)p, &pi) == 0)
			m_sample(o, "pool_priority_group", "pool", pi.name,
				 NULL, NULL,
				 m_u64(v, sizeof(v), pi.cur_priority));
	m_members(a, o, M_WEIGHT);
	m_members(a, o, M_EFFECTIVE);
	m_members(a, o, M_AVAILABLE);
}

static void m_route_counter(void *arg, const char *name, const char *help,
			    uint64_t value)
{
	char fam[96];

	snprintf(fam, sizeof(fam), "route_%s_total", name);
	m_single(arg, fam, "counter", help, value);
}

static void m_stat(void *arg, const char *name, const char *help,
		   uint64_t value)
{
	char fam[96];

	snprintf(fam, sizeof(fam), "%s_total", name);
	m_single(arg, fam, "counter", help, value);
}

static void m_fleet_counter(void *arg, const char *name, const char *help,
			    uint64_t value)
{
	char fam[96];

	snprintf(fam, sizeof(fam), "fleet_%s_total", name);
	m_single(arg, fam, "counter", help, value);
}

/* The fleet link, when configured. */
static void m_fleet(struct agent *a, struct buf *o)
{
	struct fleet_status fs;

	if (!fleet_status(a->fleet, &fs))
		return;
	m_single(o, "fleet_up", "gauge",
		 "1 when the last read of the peers table succeeded", fs.up);
	m_single(o, "fleet_nodes", "gauge",
		 "other nodes with keys in the peers table", fs.nodes);
	fleet_counters_each(&fs.c, m_fleet_counter, o);
}

/* authset_metrics()'s sink: the metrics buffer. */
static void m_auth_out(void *arg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void m_auth_out(void *arg, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_add(arg, line,
			(size_t)n < sizeof(line) ? (size_t)n
						 : sizeof(line) - 1);
}

int metrics_render(struct agent *a, struct buf *o)
{
	const struct ctl_counters *cc = &a->ctl_st.cnt;
	struct hapi_status hs;
	char v[40], code[16];
	uint32_t i;

	clock_update();
	m_family(o, "build_info", "gauge", "version of the running agent");
	m_sample(o, "build_info", "version", AOAI_VERSION, NULL, NULL, "1");
	m_single(o, "start_time_seconds", "gauge",
		 "start time, seconds since the Unix epoch",
		 (uint64_t)a->started);
	m_single(o, "config_load_time_seconds", "gauge",
		 "time of the last successful configuration load",
		 (uint64_t)a->cfg_loaded);
	m_single(o, "connections", "gauge", "SPOP connections open",
		 a->conns.n);
	stats_counters_each(a, m_stat, o);
	m_family(o, "disconnects_sent_total", "counter",
		 "AGENT-DISCONNECT frames sent, by SPOP status code "
		 "(0 is a normal close; others are protocol errors)");
	for (i = 0; i <= SPOP_ERR_RES + 1; i++) {
		if (i <= SPOP_ERR_RES)
			snprintf(code, sizeof(code), "%u", i);
		else
			snprintf(code, sizeof(code), "other");
		m_sample(o, "disconnects_sent_total", "status", code, "reason",
			 i <= SPOP_ERR_RES ? spop_status_str(i) : "other",
			 m_u64(v, sizeof(v), a->conns.cnt.disconnect_out[i]));
	}
	m_histogram(o, &a->spoa.decide_hist);
	route_engine_counters_each(route_engine_counters(a->route),
				   m_route_counter, o);
	m_single(o, "control_clients", "gauge",
		 "control and metrics clients connected", a->ctl_st.clients);
	if (cc) {
#define X(name, help)                                                          \
	m_single(o, "control_" #name "_total", "counter", help, cc->name);
		CTL_COUNTERS(X)
#undef X
	}
	if (hapi_status(a->hapi, &hs)) {
		m_single(o, "haproxy_up", "gauge",
			 "1 when the last poll of HAProxy's stats socket "
			 "succeeded",
			 hs.up);
		m_single(o, "haproxy_polls_total", "counter",
			 "polls of HAProxy's stats socket completed", hs.polls);
		m_single(o, "haproxy_poll_errors_total", "counter",
			 "polls of HAProxy's stats socket that failed",
			 hs.poll_errors);
		m_single(o, "haproxy_set_server_total", "counter",
			 "set server commands HAProxy accepted (mirror)",
			 hs.sets);
		m_single(o, "haproxy_set_server_errors_total", "counter",
			 "set server commands that failed (mirror)",
			 hs.set_errors);
		m_single(o, "haproxy_faults_total", "counter",
			 "connection and response errors HAProxy counted, fed "
			 "to the breakers",
			 hs.faults);
		m_single(o, "haproxy_set_map_total", "counter",
			 "set map lines (access tokens) HAProxy took", hs.maps);
		m_single(o, "haproxy_set_map_errors_total", "counter",
			 "set map lines (access tokens) that failed",
			 hs.map_errors);
	}
	m_fleet(a, o);
	if (a->auth)
		authset_metrics(a->auth, M_PREFIX, m_auth_out, o);
	m_backends(a, o);
	m_pools(a, o);
	return o->overflow ? -1 : 0;
}

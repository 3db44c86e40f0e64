/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition (format 0.0.4). */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authset.h"
#include "clock.h"
#include "core-t.h"
#include "fleet.h"
#include "hapi.h"
#include "metrics.h"
#include "route.h"
#include "spop.h"
#include "stats.h"
#include "view-route.h"
#include "view.h"

#define M_PREFIX "aoai_spoa_"

/* HELP and TYPE of one family; <name> without the prefix. */
static void m_family(struct buf *o, const char *name, const char *type,
		     const char *help)
{
	view_prom_family(o, M_PREFIX, name, type, help);
}

/* One sample: name{k1="v1",k2="v2"} value. <k2> may be NULL, and <k1>. */
static void m_sample(struct buf *o, const char *name, const char *k1,
		     const char *v1, const char *k2, const char *v2,
		     const char *value)
{
	view_prom_sample(o, M_PREFIX, name, k1, v1, k2, v2, value);
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

/* Family <name>, one histogram per backend of the route_latency at
 * offset <off> in struct route_backend_info: cumulative buckets, le in
 * seconds.
 */
static void m_latency(struct buf *o, const struct view_backend_row *bi,
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
			(const void *)((const char *)&bi[i].bi + off);

		cum = 0;
		for (k = 0; k < ROUTE_LAT_BUCKETS; k++) {
			cum += l->bucket[k];
			if (bounds[k] == UINT64_MAX)
				snprintf(le, sizeof(le), "+Inf");
			else
				m_milli(le, sizeof(le), bounds[k]);
			m_sample(o, b, "backend", bi[i].bi.name, "le", le,
				 m_u64(v, sizeof(v), cum));
		}
		m_sample(o, sum, "backend", bi[i].bi.name, NULL, NULL,
			 m_milli(v, sizeof(v), l->sum_ms));
		m_sample(o, c, "backend", bi[i].bi.name, NULL, NULL,
			 m_u64(v, sizeof(v), l->count));
	}
}

/* The backends view's families (view-route.c declares them): gauges,
 * the response time histograms, counters.
 */
static void m_backends(struct core *a, struct buf *o)
{
	struct view_backends vb;

	if (view_backends_fill(&vb, a->route, a->auth, clock_now.ms, -1) < 0) {
		o->overflow = true;
		return;
	}
	view_prom(&vb.rows, o, M_PREFIX, "gauge");
	m_latency(o, vb.r, vb.rows.n, "backend_response_time_seconds",
		  "attempts' time to the response headers (time to first "
		  "token of a stream), from aoai-result duration_ms",
		  offsetof(struct route_backend_info, latency));
	m_latency(o, vb.r, vb.rows.n, "backend_decision_to_result_seconds",
		  "time from the agent's decision to each attempt's result, "
		  "from aoai-result since_decision_ms: HAProxy's queue, the "
		  "hops, the time to the response headers; a retried "
		  "attempt counts from the request's one decision, the "
		  "attempts before it included",
		  offsetof(struct route_backend_info, decision_latency));
	view_prom(&vb.rows, o, M_PREFIX, "counter");
	view_backends_free(&vb);
}

/* The pools view's families: decisions, priority group, then the
 * members' weights and availability.
 */
static void m_pools(struct core *a, struct buf *o)
{
	struct view_pools vp;

	if (view_pools_fill(&vp, a->route, clock_now.ms, -1) < 0) {
		o->overflow = true;
		return;
	}
	view_prom(&vp.pools, o, M_PREFIX, "counter");
	view_prom(&vp.pools, o, M_PREFIX, "gauge");
	view_prom(&vp.members, o, M_PREFIX, NULL);
	view_pools_free(&vp);
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
static void m_fleet(struct core *a, struct buf *o)
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

int metrics_render(struct core *a, struct buf *o)
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

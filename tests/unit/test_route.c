/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the routing engine (agent/route-*.c): fake clock, no sleeps. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "tap.h"
#include "tcfg.h"

static struct route_engine *engine(const struct tcfg *t, uint64_t now)
{
	struct route_engine *e = route_new(42);

	if (!e || route_apply(e, &t->cfg, now) < 0)
		abort();
	return e;
}

static struct route_decision decide(struct route_engine *e, const char *pool,
				    const char *key, uint64_t now)
{
	struct route_decision d;

	route_decide(e, pool, strlen(pool), key, key ? strlen(key) : 0, now,
		     &d);
	return d;
}

static const char *name_of(const struct route_decision *d)
{
	return d->name ? d->name : "-";
}

static void learn_full(struct route_engine *e, const char *backend, int status,
		       int64_t retry_ms, int64_t rr, int64_t rt, int64_t dur,
		       uint64_t now)
{
	struct route_result r = {
		.backend = backend,
		.backend_len = strlen(backend),
		.status = status,
		.retry_after_ms = retry_ms,
		.remaining_requests = rr,
		.remaining_tokens = rt,
		.duration_ms = dur,
	};

	route_learn(e, &r, now);
}

static void learn(struct route_engine *e, const char *backend, int status,
		  int64_t retry_ms, uint64_t now)
{
	learn_full(e, backend, status, retry_ms, -1, -1, -1, now);
}

static struct route_backend_info binfo(struct route_engine *e, const char *name,
				       uint64_t now)
{
	struct route_backend_info bi;

	memset(&bi, 0, sizeof(bi));
	if (route_backend_info(e, route_backend_index(e, name, strlen(name)),
			       now, &bi) < 0)
		abort();
	return bi;
}

static int bidx(struct route_engine *e, const char *name)
{
	return route_backend_index(e, name, strlen(name));
}

static int pidx(struct route_engine *e, const char *name)
{
	return route_pool_index(e, name, strlen(name));
}

/* Records hook calls. */
struct hook_log {
	int n;
	int backend[64];
	enum route_state from[64], to[64];
	char why[64][ROUTE_WHY_MAX];
};

static void hook_record(void *arg, int backend, enum route_state from,
			enum route_state to, const char *why)
{
	struct hook_log *l = arg;

	if (l->n < 64) {
		l->backend[l->n] = backend;
		l->from[l->n] = from;
		l->to[l->n] = to;
		snprintf(l->why[l->n], ROUTE_WHY_MAX, "%s", why);
	}
	l->n++;
}

/* ---------------------------------------------------------------- */

static void test_weights_exact(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int c = add_backend(t, "c"), z = add_backend(t, "z");
	int p = add_pool(t, "p"), q = add_pool(t, "q");
	struct route_engine *e;
	struct route_decision d;
	char seq[400];
	int i, j, bad = 0, cnt[3] = {0}, zero = 0, reason_bad = 0;

	add_member(t, p, a, 1, 3);
	add_member(t, p, b, 1, 1);
	add_member(t, p, z, 1, 0);
	add_member(t, q, a, 1, 5);
	add_member(t, q, b, 1, 3);
	add_member(t, q, c, 1, 2);
	e = engine(t, 0);
	for (i = 0; i < 400; i++) {
		d = decide(e, "p", NULL, 0);
		seq[i] = d.name ? d.name[0] : '-';
		zero += seq[i] == 'z';
		reason_bad += d.reason != ROUTE_WEIGHTED;
	}
	for (i = 0; i + 4 <= 400; i++) {
		int na = 0;

		for (j = i; j < i + 4; j++)
			na += seq[j] == 'a';
		bad += na != 3;
	}
	tap_is_int(bad, 0, "3:1: every window of 4 picks has 3 a and 1 b");
	tap_is_int(zero, 0, "weight 0 (drained) is never chosen");
	tap_is_int(reason_bad, 0, "reason weighted in the best group");
	bad = 0;
	for (i = 0; i < 1000; i++) {
		d = decide(e, "q", NULL, 0);
		cnt[d.name[0] - 'a']++;
		if (i % 10 == 9) {
			bad += cnt[0] != 5 || cnt[1] != 3 || cnt[2] != 2;
			memset(cnt, 0, sizeof(cnt));
		}
	}
	tap_is_int(bad, 0, "5:3:2: every run of 10 picks is exact");
	route_free(e);
	free(t);
}

static void test_priority_spillover(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int c = add_backend(t, "c");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_decision d;
	struct route_pool_info pi;
	int i, bad = 0;

	add_member(t, p, c, 3, 1);
	add_member(t, p, b, 2, 1);
	add_member(t, p, a, 1, 1);
	t->backends[a].breaker.trip_duration_ms = 1000;
	t->backends[a].breaker.max_trip_duration_ms = 1000;
	e = engine(t, 0);
	d = decide(e, "p", NULL, 0);
	tap_ok(!strcmp(name_of(&d), "a") && d.reason == ROUTE_WEIGHTED,
	       "priority 1 first (got %s)", name_of(&d));
	route_trip(e, bidx(e, "a"), 1000, 0);
	for (i = 0; i < 10; i++) {
		d = decide(e, "p", NULL, 10);
		bad += strcmp(name_of(&d), "b") || d.reason != ROUTE_SPILLOVER;
	}
	tap_is_int(bad, 0, "a open: spillover to priority 2");
	route_pool_info(e, pidx(e, "p"), &pi);
	tap_is_int(pi.cur_priority, 2, "pool current priority group is 2");
	tap_is_int(pi.best_priority, 1, "pool best priority is 1");
	route_trip(e, bidx(e, "b"), 5000, 20);
	d = decide(e, "p", NULL, 30);
	tap_ok(!strcmp(name_of(&d), "c") && d.reason == ROUTE_SPILLOVER,
	       "a and b open: spillover to priority 3 (got %s)", name_of(&d));
	d = decide(e, "p", NULL, 1000);
	tap_ok(!strcmp(name_of(&d), "a") && d.reason == ROUTE_PROBE,
	       "a half-open: the next request probes it (got %s %s)",
	       name_of(&d), route_reason_str(d.reason));
	d = decide(e, "p", NULL, 1001);
	tap_ok(!strcmp(name_of(&d), "c") && d.reason == ROUTE_SPILLOVER,
	       "probe slot taken: spillover again (got %s)", name_of(&d));
	learn(e, "a", 200, -1, 1500);
	bad = 0;
	for (i = 0; i < 10; i++) {
		d = decide(e, "p", NULL, 1500);
		bad += strcmp(name_of(&d), "a") || d.reason != ROUTE_WEIGHTED;
	}
	tap_is_int(bad, 0, "a closed: traffic returns to priority 1");
	route_pool_info(e, pidx(e, "p"), &pi);
	tap_is_int(pi.cur_priority, 1, "pool current priority group is 1");
	tap_is_int((long long)pi.counters.spillover, 12, "spillover count");
	tap_is_int((long long)pi.counters.probe, 1, "probe count");
	route_free(e);
	free(t);
}

static void test_throttle(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;
	struct route_decision d;
	uint64_t now = 1000000, j, jmin = UINT64_MAX, jmax = 0;
	int i, bad = 0;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 1, 1);
	e = engine(t, now);

	learn(e, "a", 429, 5000, now);
	bi = binfo(e, "a", now);
	tap_ok(bi.state == ROUTE_ST_COOLING, "429: cooling (%s)",
	       route_state_str(bi.state));
	tap_ok(bi.until_ms >= now + 5000 && bi.until_ms <= now + 5500,
	       "429 retry-after 5000ms: until now+5000..5500 (+%" PRIu64 ")",
	       bi.until_ms - now);
	tap_ok(!strncmp(bi.why, "429 retry-after 5000ms", 22), "why: %s",
	       bi.why);
	tap_is_int((long long)bi.counters.faults, 0, "a throttle is no fault");
	tap_is_int((long long)bi.counters.throttles, 1, "throttle counted");
	tap_is_int(bi.window_calls, 0, "a throttle is not in the window");
	for (i = 0; i < 20; i++) {
		d = decide(e, "p", NULL, bi.until_ms - 1);
		bad += strcmp(name_of(&d), "b") != 0;
	}
	tap_is_int(bad, 0, "cooling backend avoided until the deadline");
	d = decide(e, "p", NULL, bi.until_ms);
	tap_ok(!strcmp(name_of(&d), "a") && d.reason == ROUTE_PROBE,
	       "at the deadline: probe (got %s)", name_of(&d));
	learn(e, "a", 200, -1, bi.until_ms + 10);
	tap_ok(binfo(e, "a", bi.until_ms + 10).state == ROUTE_ST_CLOSED,
	       "probe success closes");

	route_reset(e, bidx(e, "a"), now);
	learn(e, "a", 429, -1, now);
	bi = binfo(e, "a", now);
	tap_ok(bi.until_ms >= now + 30000 && bi.until_ms <= now + 31000,
	       "429 without wait: trip_duration (+%" PRIu64 ")",
	       bi.until_ms - now);

	route_reset(e, bidx(e, "a"), now);
	learn(e, "a", 429, 1000000000000LL, now);
	bi = binfo(e, "a", now);
	tap_ok(bi.until_ms >= now + 60000 && bi.until_ms <= now + 61000,
	       "429 huge wait: capped at max_retry_after (+%" PRIu64 ")",
	       bi.until_ms - now);
	tap_ok(strstr(bi.why, "capped 60000ms") != NULL, "why: %s", bi.why);
	route_reset(e, bidx(e, "a"), now);
	learn(e, "a", 429, 0, now);
	bi = binfo(e, "a", now);
	tap_ok(bi.state == ROUTE_ST_HALF_OPEN,
	       "429 retry-after 0: half-open at once (%s)",
	       route_state_str(bi.state));
	route_free(e);

	t->backends[a].breaker.accept_retry_after = false;
	e = engine(t, now);
	learn(e, "a", 429, 5000, now);
	bi = binfo(e, "a", now);
	tap_ok(bi.until_ms >= now + 30000 && bi.until_ms <= now + 31000,
	       "accept_retry_after false: trip_duration (+%" PRIu64 ")",
	       bi.until_ms - now);
	tap_ok(strstr(bi.why, "retry-after ignored") != NULL, "why: %s",
	       bi.why);
	route_free(e);

	t->backends[a].breaker.accept_retry_after = true;
	e = engine(t, now);
	bad = 0;
	for (i = 0; i < 300; i++) {
		uint64_t wait = (uint64_t)(i % 3 == 0 ? 500 : 20000);

		route_reset(e, bidx(e, "a"), now);
		learn(e, "a", 429, (int64_t)wait, now);
		bi = binfo(e, "a", now);
		j = bi.until_ms - now - wait;
		if (j > (wait / 10 < 1000 ? wait / 10 : 1000))
			bad++;
		if (wait == 20000) {
			jmin = j < jmin ? j : jmin;
			jmax = j > jmax ? j : jmax;
		}
	}
	tap_is_int(bad, 0, "jitter within 0..min(10%, 1s)");
	tap_ok(jmax - jmin > 500, "jitter spreads (%" PRIu64 "..%" PRIu64 ")",
	       jmin, jmax);
	route_free(e);
	free(t);
}

static void test_window(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;

	add_member(t, p, a, 1, 1);
	t->backends[a].breaker.failure_count = 2;
	t->backends[a].breaker.failure_interval_ms = 10000;
	e = engine(t, 0);
	learn(e, "a", 500, -1, 0);
	learn(e, "a", 500, -1, 10000);
	bi = binfo(e, "a", 10000);
	tap_ok(bi.state == ROUTE_ST_CLOSED,
	       "faults at 0 and 10000 (interval 10s): window expired, closed");
	tap_is_int(bi.window_faults, 1, "window holds one fault");
	learn(e, "a", 503, -1, 19999);
	bi = binfo(e, "a", 19999);
	tap_ok(bi.state == ROUTE_ST_OPEN,
	       "faults at 10000 and 19999: 2 in 10s trips (%s)",
	       route_state_str(bi.state));
	tap_ok(!strncmp(bi.why, "2 faults in 10s", 15), "why: %s", bi.why);
	tap_is_int((long long)(bi.until_ms - 19999), 30000,
		   "open for trip_duration exactly");
	tap_is_int((long long)bi.counters.trips, 1, "one trip");
	route_free(e);

	/* successes in between do not reset the count */
	e = engine(t, 0);
	learn(e, "a", 500, -1, 100);
	learn(e, "a", 200, -1, 200);
	learn(e, "a", 200, -1, 300);
	learn(e, "a", 502, -1, 400);
	tap_ok(binfo(e, "a", 400).state == ROUTE_ST_OPEN,
	       "count ignores successes in between");
	route_free(e);
	free(t);
}

static void test_percentage(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;
	uint64_t now = 50000;
	int i;

	add_member(t, p, a, 1, 1);
	t->backends[a].breaker.failure_count = 0;
	t->backends[a].breaker.failure_percentage = 50;
	t->backends[a].breaker.minimum_requests = 10;
	e = engine(t, now);
	for (i = 0; i < 4; i++) {
		learn(e, "a", 500, -1, now);
		learn(e, "a", 200, -1, now);
	}
	learn(e, "a", 500, -1, now);
	bi = binfo(e, "a", now);
	tap_ok(bi.state == ROUTE_ST_CLOSED,
	       "5 of 9 faults: below minimum_requests, closed");
	learn(e, "a", 200, -1, now);
	tap_ok(binfo(e, "a", now).state == ROUTE_ST_CLOSED,
	       "a success never trips");
	learn(e, "a", 200, -1, now);
	learn(e, "a", 200, -1, now);
	learn(e, "a", 500, -1, now);
	bi = binfo(e, "a", now);
	tap_ok(bi.state == ROUTE_ST_CLOSED, "6 of 13 (46%%): closed (%u/%u)",
	       bi.window_faults, bi.window_calls);
	learn(e, "a", 500, -1, now);
	bi = binfo(e, "a", now);
	tap_ok(bi.state == ROUTE_ST_OPEN, "7 of 14 (50%%): open");
	tap_ok(strstr(bi.why, "50% faults (7 of 14)") != NULL, "why: %s",
	       bi.why);
	route_free(e);
	free(t);
}

static void test_consecutive_and_slow(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 1, 1);
	t->backends[a].breaker.failure_count = 0;
	t->backends[a].breaker.consecutive_failures = 3;
	t->backends[b].breaker.failure_count = 1;
	t->backends[b].breaker.slow_call_ms = 2000;
	e = engine(t, 0);
	learn(e, "a", 500, -1, 1);
	learn(e, "a", 500, -1, 2);
	learn(e, "a", 404, -1, 3);
	learn(e, "a", 500, -1, 4);
	learn(e, "a", 0, -1, 5);
	tap_ok(binfo(e, "a", 5).state == ROUTE_ST_CLOSED,
	       "F F ok F F: a success breaks the streak");
	learn(e, "a", 429, 0, 6);
	learn(e, "a", 200, -1, 7);
	learn(e, "a", 500, -1, 8);
	learn(e, "a", 500, -1, 9);
	learn(e, "a", 408, -1, 10);
	bi = binfo(e, "a", 10);
	tap_ok(bi.state == ROUTE_ST_OPEN, "3 consecutive faults trip (%s)",
	       route_state_str(bi.state));
	tap_ok(!strncmp(bi.why, "3 consecutive faults", 20), "why: %s", bi.why);

	learn_full(e, "b", 200, -1, -1, -1, 2000, 20);
	tap_ok(binfo(e, "b", 20).state == ROUTE_ST_CLOSED,
	       "duration == slow_call: not slow");
	learn_full(e, "b", 200, -1, -1, -1, 2001, 21);
	bi = binfo(e, "b", 21);
	tap_ok(bi.state == ROUTE_ST_OPEN, "duration > slow_call: a fault");
	tap_is_int((long long)bi.counters.slow_calls, 1, "slow call counted");
	tap_is_int((long long)bi.counters.results_2xx, 2, "still a 2xx");
	route_free(e);
	free(t);
}

static void test_half_open(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;
	struct route_decision d;
	uint64_t now = 0;
	uint64_t want[] = {1000, 2000, 4000, 5000, 5000};
	int i;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 1, 1);
	t->backends[a].breaker.failure_count = 1;
	t->backends[a].breaker.trip_duration_ms = 1000;
	t->backends[a].breaker.max_trip_duration_ms = 5000;
	t->backends[a].breaker.probe_requests = 2;
	t->backends[a].breaker.probe_timeout_ms = 3000;
	e = engine(t, 0);
	learn(e, "a", 500, -1, now);
	for (i = 0; i < 5; i++) {
		bi = binfo(e, "a", now);
		tap_is_int((long long)(bi.until_ms - now), (long long)want[i],
			   "trip duration doubles up to the cap");
		now = bi.until_ms;
		d = decide(e, "p", NULL, now);
		tap_ok(d.reason == ROUTE_PROBE && !strcmp(name_of(&d), "a"),
		       "after the trip: probe to a");
		learn(e, "a", 503, -1, now + 1);
		now++;
	}
	bi = binfo(e, "a", now);
	tap_ok(!strncmp(bi.why, "probe failed: status 503", 24), "why: %s",
	       bi.why);
	now = bi.until_ms;
	d = decide(e, "p", NULL, now);
	tap_ok(d.reason == ROUTE_PROBE, "probe 1");
	d = decide(e, "p", NULL, now);
	tap_ok(d.reason == ROUTE_PROBE && !strcmp(name_of(&d), "a"),
	       "probe 2 (probe_requests 2)");
	for (i = 0; i < 5; i++) {
		d = decide(e, "p", NULL, now);
		if (!tap_ok(d.reason == ROUTE_WEIGHTED &&
				    !strcmp(name_of(&d), "b"),
			    "probe limit reached: b weighted"))
			break;
	}
	tap_is_int(binfo(e, "a", now).probes_inflight, 2, "2 probes in flight");
	learn(e, "a", 401, -1, now + 5);
	bi = binfo(e, "a", now + 5);
	tap_ok(bi.state == ROUTE_ST_HALF_OPEN && bi.probes_inflight == 1,
	       "a 401 probe result frees its slot but does not close");
	learn(e, "a", 404, -1, now + 10);
	bi = binfo(e, "a", now + 10);
	tap_ok(bi.state == ROUTE_ST_HALF_OPEN && bi.probes_inflight == 0,
	       "a 404 neither: 4xx says nothing of the backend");
	learn(e, "a", 200, -1, now + 10);
	bi = binfo(e, "a", now + 10);
	tap_ok(bi.state == ROUTE_ST_CLOSED, "a 200 probe result closes");
	tap_is_int((long long)bi.counters.recoveries, 1, "one recovery");
	tap_is_int(bi.trip_duration_ms, 1000, "trip growth reset on close");
	now += 10;
	learn(e, "a", 500, -1, now);
	bi = binfo(e, "a", now);
	tap_is_int((long long)(bi.until_ms - now), 1000,
		   "after a close the next trip is trip_duration again");

	/* probe timeout */
	now = bi.until_ms;
	d = decide(e, "p", NULL, now);
	d = decide(e, "p", NULL, now);
	tap_ok(d.reason == ROUTE_PROBE, "two probes sent");
	d = decide(e, "p", NULL, now + 2999);
	tap_ok(!strcmp(name_of(&d), "b"), "probes unanswered: b");
	d = decide(e, "p", NULL, now + 3000);
	tap_ok(d.reason == ROUTE_PROBE && !strcmp(name_of(&d), "a"),
	       "after probe_timeout the slot is released: probe again");
	bi = binfo(e, "a", now + 3000);
	tap_is_int((long long)bi.counters.probe_timeouts, 2,
		   "probe timeouts counted");
	tap_is_int(bi.probes_inflight, 1, "one probe in flight");
	route_free(e);
	free(t);
}

static void test_shared_backends(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int c = add_backend(t, "c");
	int chat = add_pool(t, "chat"), emb = add_pool(t, "embed");
	struct route_engine *e;
	struct route_decision d;
	int i, bad = 0, na = 0;

	add_member(t, chat, a, 1, 1);
	add_member(t, chat, b, 1, 1);
	add_member(t, emb, a, 1, 1);
	add_member(t, emb, c, 1, 1);
	e = engine(t, 0);
	for (i = 0; i < 20; i++) {
		d = decide(e, "chat", NULL, 100);
		if (!strcmp(name_of(&d), "a"))
			learn(e, "a", 500, -1, 100);
	}
	tap_ok(binfo(e, "a", 100).state == ROUTE_ST_OPEN,
	       "a tripped by chat's traffic");
	for (i = 0; i < 20; i++) {
		d = decide(e, "embed", NULL, 200);
		bad += strcmp(name_of(&d), "c") != 0;
		d = decide(e, "chat", NULL, 200);
		na += strcmp(name_of(&d), "b") != 0;
	}
	tap_is_int(bad, 0, "embed avoids a (shared circuit)");
	tap_is_int(na, 0, "chat avoids a");
	route_free(e);
	free(t);
}

#define N_KEYS 10000

static void test_affinity(void)
{
	struct tcfg *t = tcfg_new();
	int p = add_pool(t, "p"), q = add_pool(t, "q");
	struct route_engine *e;
	struct route_decision d;
	static int home[N_KEYS];
	char key[32];
	int i, cnt[5] = {0}, moved = 0, wrong = 0, notaff = 0, back = 0;
	int na = 0, fb = 0, fb_bad = 0;
	const char *names[5] = {"b0", "b1", "b2", "b3", "b4"};

	for (i = 0; i < 5; i++) {
		add_backend(t, names[i]);
		add_member(t, p, i, 1, 1);
	}
	add_member(t, q, 0, 1, 3);
	add_member(t, q, 1, 1, 1);
	e = engine(t, 0);
	for (i = 0; i < N_KEYS; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		d = decide(e, "p", key, 0);
		home[i] = d.backend;
		cnt[d.backend]++;
		notaff += d.reason != ROUTE_AFFINITY;
	}
	tap_is_int(notaff, 0, "every keyed decision is affinity");
	for (i = 0; i < 5; i++)
		tap_ok(cnt[i] > 1700 && cnt[i] < 2300,
		       "5 equal backends: %s has %d of 10000 keys", names[i],
		       cnt[i]);
	for (i = 0; i < N_KEYS; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		d = decide(e, "p", key, 1);
		wrong += d.backend != home[i];
	}
	tap_is_int(wrong, 0, "same key, same backend");

	route_set_disabled(e, 2, true);
	wrong = 0;
	notaff = 0;
	for (i = 0; i < N_KEYS; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		d = decide(e, "p", key, 2);
		notaff += d.reason != ROUTE_AFFINITY;
		if (d.backend != home[i]) {
			moved++;
			wrong += home[i] != 2;
		}
		wrong += d.backend == 2;
	}
	tap_ok(moved >= 1500 && moved <= 2500,
	       "disable 1 of 5: %d%% of keys move", moved / 100);
	tap_is_int(wrong, 0, "only keys of the disabled backend move");
	tap_is_int(notaff, 0, "moved keys still go by affinity");
	route_set_disabled(e, 2, false);
	for (i = 0; i < N_KEYS; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		d = decide(e, "p", key, 3);
		back += d.backend == home[i];
	}
	tap_is_int(back, N_KEYS, "re-enabled: every key returns");

	/* home open: fall back to round-robin, other keys stay */
	route_trip(e, 3, 60000, 4);
	wrong = 0;
	for (i = 0; i < N_KEYS; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		d = decide(e, "p", key, 5);
		if (home[i] == 3) {
			fb++;
			fb_bad += d.reason != ROUTE_WEIGHTED || d.backend == 3;
		} else {
			wrong += d.backend != home[i] ||
				 d.reason != ROUTE_AFFINITY;
		}
	}
	tap_ok(fb > 0 && fb_bad == 0,
	       "home open: %d keys fall back to weighted", fb);
	tap_is_int(wrong, 0, "keys of available backends do not move");

	for (i = 0; i < N_KEYS; i++) {
		unsigned char bin[4] = {(unsigned char)i,
					(unsigned char)(i >> 8), 0, 0xff};

		route_decide(e, "q", 1, bin, sizeof(bin), 6, &d);
		na += d.backend == 0;
	}
	tap_ok(na > 7200 && na < 7800,
	       "3:1 weighted affinity (binary keys): %d.%d%% to the 3",
	       na / 100, na % 100);
	route_free(e);
	free(t);
}

/* ---------------------------------------------------------------- */
/* affinity: the mapping is pinned, and the cache never changes it   */

#define G_MEMBERS 64

/* A pool "g" of <n> members g0..g<n-1>, weights all 1 or 3, 1, 2... */
struct gcfg {
	struct cfg cfg;
	struct cfg_backend backends[G_MEMBERS];
	struct cfg_pool pool;
	struct cfg_member members[G_MEMBERS];
};

static struct gcfg *gcfg_new(uint32_t n, bool equal)
{
	struct gcfg *g = calloc(1, sizeof(*g));
	uint32_t i;

	if (!g)
		abort();
	g->cfg.backends = g->backends;
	g->cfg.pools = &g->pool;
	g->cfg.n_backends = n;
	g->cfg.n_pools = 1;
	snprintf(g->pool.name, sizeof(g->pool.name), "g");
	g->pool.members = g->members;
	g->pool.n_members = n;
	for (i = 0; i < n; i++) {
		snprintf(g->backends[i].name, sizeof(g->backends[i].name),
			 "g%u", i);
		breaker_defaults(&g->backends[i]);
		g->members[i].backend = i;
		g->members[i].priority = 1;
		g->members[i].weight = equal ? 1 : (uint32_t[]){3, 1, 2}[i % 3];
	}
	return g;
}

/* FNV-1a over the backend chosen for 20000 text keys and binary keys of
 * every length 1..40: a fingerprint of the key -> backend mapping.
 */
static uint32_t affinity_fingerprint(struct route_engine *e)
{
	struct route_decision d;
	unsigned char bin[40];
	uint32_t h = 2166136261u;
	char key[32];
	int i, len;

	for (i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "key-%d", i);
		d = decide(e, "g", key, 0);
		h = (h ^ (uint32_t)(d.backend + 1)) * 16777619u;
	}
	for (i = 0; i < (int)sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 37 + 11);
	for (len = 1; len <= (int)sizeof(bin); len++) {
		route_decide(e, "g", 1, bin, (size_t)len, 0, &d);
		h = (h ^ (uint32_t)(d.backend + 1)) * 16777619u;
	}
	return h;
}

static void test_affinity_pinned(void)
{
	static const struct {
		uint32_t n;
		bool equal;
		uint32_t want;
	} cases[] = {
		/* computed by the engine before the affinity cache */
		{2, true, 0x9c87bc10u},	 {2, false, 0x059730a5u},
		{8, true, 0x277b535du},	 {8, false, 0xfd7827aau},
		{64, true, 0x5fa31c6du}, {64, false, 0x4a925297u},
	};
	size_t c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct gcfg *g = gcfg_new(cases[c].n, cases[c].equal);
		struct route_engine *e = route_new(42);
		uint32_t got, again, off;

		if (!e || route_apply(e, &g->cfg, 0) < 0)
			abort();
		got = affinity_fingerprint(e);
		again = affinity_fingerprint(e);
		route_set_affinity_cache(e, false);
		off = affinity_fingerprint(e);
		tap_ok(got == cases[c].want && again == got && off == got,
		       "affinity mapping unchanged: %u members, %s weights "
		       "(0x%08x; cache warm 0x%08x, off 0x%08x)",
		       cases[c].n, cases[c].equal ? "equal" : "3-1-2", got,
		       again, off);
		route_free(e);
		free(g);
	}
}

static void test_headroom(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_decision d;
	struct route_member_info mi;
	int i, na = 0;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 1, 1);
	t->backends[a].headroom.min_remaining_requests = 1000;
	t->backends[a].headroom.min_remaining_tokens = 100000;
	t->backends[a].headroom.min_weight_percent = 10;
	t->backends[a].headroom.max_age_ms = 5000;
	e = engine(t, 0);
	for (i = 0; i < 100; i++) {
		d = decide(e, "p", NULL, 0);
		na += d.backend == a;
	}
	tap_is_int(na, 50, "headers above thresholds: 1:1");
	na = 0;
	learn_full(e, "a", 200, -1, 250, 1000000, -1, 0);
	route_member_info(e, pidx(e, "p"), 0, 0, &mi);
	tap_is_int(mi.effective_milli, 250, "rr 250 of 1000: weight x 0.25");
	tap_is_int(binfo(e, "a", 0).headroom_permille, 250,
		   "headroom 250 per mille");
	for (i = 0; i < 1000; i++) {
		d = decide(e, "p", NULL, 10);
		na += d.backend == a;
	}
	tap_ok(na >= 195 && na <= 205, "a gets 1/5 of the picks (%d)", na);
	learn_full(e, "a", 200, -1, 2000, 50000, -1, 20);
	route_member_info(e, pidx(e, "p"), 0, 20, &mi);
	tap_is_int(mi.effective_milli, 500,
		   "rt 50000 of 100000 now the lower: weight x 0.5");
	learn_full(e, "a", 200, -1, 0, 0, -1, 30);
	route_member_info(e, pidx(e, "p"), 0, 30, &mi);
	tap_is_int(mi.effective_milli, 100, "floor at min_weight_percent");
	na = 0;
	for (i = 0; i < 1100; i++) {
		d = decide(e, "p", NULL, 40);
		na += d.backend == a;
	}
	tap_ok(na >= 95 && na <= 105, "a gets 1/11 of the picks (%d)", na);
	route_member_info(e, pidx(e, "p"), 0, 5030, &mi);
	tap_is_int(mi.effective_milli, 100, "at max_age still used");
	route_member_info(e, pidx(e, "p"), 0, 5031, &mi);
	tap_is_int(mi.effective_milli, 1000, "older than max_age: ignored");
	na = 0;
	for (i = 0; i < 1000; i++) {
		d = decide(e, "p", NULL, 6000);
		na += d.backend == a;
	}
	tap_ok(na >= 495 && na <= 505, "stale headers: 1:1 again (%d)", na);

	/* a 429 says "remaining 0" about the window its cooldown waits out:
	 * after the cooldown the weight must not stay at the floor
	 */
	learn_full(e, "a", 200, -1, 5000, 500000, -1, 6900);
	learn_full(e, "a", 429, 100, 0, 0, -1, 7000);
	tap_is_int(binfo(e, "a", 7000).remaining_requests, 5000,
		   "a throttle's remaining headers are not learned");
	d = decide(e, "p", NULL, 7200);
	learn_full(e, "a", 200, -1, -1, -1, -1, 7201);
	route_member_info(e, pidx(e, "p"), 0, 7300, &mi);
	tap_is_int(mi.effective_milli, 1000,
		   "after a 429's cooldown: full weight again");
	route_free(e);
	free(t);
}

static void test_exhausted(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	add_pool(t, "empty");
	struct route_engine *e;
	struct route_decision d;
	struct route_pool_info pi;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 2, 1);
	e = engine(t, 0);
	route_trip(e, bidx(e, "a"), 1001, 0);
	route_trip(e, bidx(e, "b"), 5000, 0);
	d = decide(e, "p", NULL, 0);
	tap_ok(d.reason == ROUTE_EXHAUSTED && d.backend == -1 && !d.name,
	       "all open: exhausted, no backend");
	tap_is_int(d.retry_after_s, 2, "1001 ms -> retry_after 2 s");
	d = decide(e, "p", NULL, 1);
	tap_is_int(d.retry_after_s, 1, "1000 ms -> 1 s");
	d = decide(e, "p", NULL, 1000);
	tap_is_int(d.retry_after_s, 1, "1 ms -> 1 s (at least 1)");
	d = decide(e, "p", NULL, 1001);
	tap_ok(d.reason == ROUTE_PROBE, "at the deadline a probe goes");
	d = decide(e, "p", NULL, 1002);
	tap_ok(d.reason == ROUTE_EXHAUSTED && d.retry_after_s == 4,
	       "probe in flight: earliest is b at 5000 -> 4 s (got %u)",
	       d.retry_after_s);
	route_set_disabled(e, bidx(e, "b"), true);
	d = decide(e, "p", NULL, 1002);
	tap_ok(d.reason == ROUTE_EXHAUSTED && d.retry_after_s == 10,
	       "a's probe released at 1001+10000 -> 10 s (got %u)",
	       d.retry_after_s);
	route_set_disabled(e, bidx(e, "a"), true);
	d = decide(e, "p", NULL, 1002);
	tap_ok(d.reason == ROUTE_EXHAUSTED && d.retry_after_s == 1,
	       "all disabled: retry_after 1");
	d = decide(e, "empty", NULL, 1002);
	tap_ok(d.reason == ROUTE_EXHAUSTED && d.retry_after_s == 1,
	       "empty pool: exhausted, retry_after 1");
	route_pool_info(e, pidx(e, "p"), &pi);
	tap_is_int((long long)pi.counters.exhausted, 6, "exhausted counted");
	tap_is_int(pi.cur_priority, 0, "no current group when exhausted");
	route_free(e);
	free(t);
}

static void test_unknown(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_decision d;
	const struct route_engine_counters *c;

	add_member(t, p, a, 1, 1);
	e = engine(t, 0);
	d = decide(e, "nope", NULL, 0);
	tap_ok(d.reason == ROUTE_UNKNOWN_POOL && d.backend == -1 && !d.name,
	       "unknown pool");
	tap_ok(!strcmp(route_reason_str(d.reason), "unknown-pool"),
	       "reason string unknown-pool");
	route_decide(e, "p", 0, NULL, 0, 0, &d);
	tap_ok(d.reason == ROUTE_UNKNOWN_POOL, "empty pool name: unknown");
	route_decide(e, "pp", 1, NULL, 0, 0, &d);
	tap_ok(d.reason == ROUTE_WEIGHTED, "pool name is length-delimited");
	learn(e, "zz", 500, -1, 0);
	learn(e, "a", 700, -1, 0);
	learn(e, "a", -3, -1, 0);
	c = route_engine_counters(e);
	tap_is_int((long long)c->unknown_pool, 2, "unknown-pool counted");
	tap_is_int((long long)c->unknown_backend, 1, "unknown backend counted");
	tap_is_int((long long)c->invalid_status, 2, "invalid status counted");
	tap_ok(binfo(e, "a", 0).counters.faults == 0,
	       "invalid results are ignored");
	route_free(e);
	free(t);
}

static void test_status_classes(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;
	static const int st[] = {400, 401, 403, 404, 409, 413,
				 422, 499, 301, 304, 200, 201};
	size_t i;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 1, 1);
	t->backends[a].breaker.failure_count = 1;
	t->backends[b].breaker.failure_count = 1;
	e = engine(t, 0);
	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		learn(e, "a", st[i], -1, 0);
	bi = binfo(e, "a", 0);
	tap_ok(bi.state == ROUTE_ST_CLOSED, "4xx, 3xx, 2xx never trip");
	tap_is_int((long long)bi.counters.results_4xx, 8, "4xx counted");
	tap_is_int((long long)bi.counters.results_3xx, 2, "3xx counted");
	tap_is_int((long long)bi.counters.faults, 0, "no faults");
	learn(e, "a", 0, -1, 1);
	bi = binfo(e, "a", 1);
	tap_ok(bi.state == ROUTE_ST_OPEN, "status 0 (no response) is a fault");
	tap_is_int((long long)bi.counters.results_none, 1, "none counted");
	tap_ok(!strncmp(bi.why, "1 fault in 10s", 14), "why: %s", bi.why);
	learn(e, "b", 408, -1, 1);
	tap_ok(binfo(e, "b", 1).state == ROUTE_ST_OPEN, "408 is a fault");
	route_free(e);

	/* APIM parity: 429 configured as a fault, Retry-After as trip time */
	memset(&t->backends[a].breaker.throttle_status, 0,
	       sizeof(t->backends[a].breaker.throttle_status));
	cfg_status_add(&t->backends[a].breaker.failure_status, 429);
	t->backends[a].breaker.failure_count = 2;
	e = engine(t, 0);
	learn(e, "a", 429, 7000, 0);
	tap_ok(binfo(e, "a", 0).state == ROUTE_ST_CLOSED,
	       "429 as a fault: one is not enough (count 2)");
	learn(e, "a", 429, 7000, 5);
	bi = binfo(e, "a", 5);
	tap_ok(bi.state == ROUTE_ST_OPEN && bi.until_ms == 7005,
	       "second 429 trips for its Retry-After (acceptRetryAfter)");
	route_free(e);
	free(t);
}

/* Attempts' durations land in the bucket whose bound is the first at or
 * above them; results without a duration or a response are not timed; the
 * histogram follows the backend across a reload and clears with counters.
 */
static void test_latency(void)
{
	static const uint64_t bounds[] = ROUTE_LAT_BOUNDS_MS;
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;
	uint64_t total = 0;
	int k;

	add_member(t, p, a, 1, 1);
	e = engine(t, 0);
	learn_full(e, "a", 200, -1, -1, -1, 0, 1);	/* first bucket */
	learn_full(e, "a", 200, -1, -1, -1, 50, 1);	/* on a bound */
	learn_full(e, "a", 200, -1, -1, -1, 51, 1);	/* just above */
	learn_full(e, "a", 429, -1, -1, -1, 1200, 1);	/* a throttle too */
	learn_full(e, "a", 503, -1, -1, -1, 999999, 1); /* +Inf */
	learn_full(e, "a", 200, -1, -1, -1, -1, 1);	/* no duration */
	learn_full(e, "a", 0, -1, -1, -1, 30, 1);	/* no response */
	bi = binfo(e, "a", 1);
	tap_is_int((long long)bi.latency.count, 5, "five attempts timed");
	tap_is_int((long long)bi.latency.sum_ms, 0 + 50 + 51 + 1200 + 999999,
		   "sum of their durations");
	tap_is_int((long long)bi.latency.bucket[0], 1, "0 ms: le 10ms");
	tap_is_int((long long)bi.latency.bucket[2], 1, "50 ms: le 50ms");
	tap_is_int((long long)bi.latency.bucket[3], 1, "51 ms: le 100ms");
	for (k = 0; bounds[k] < 1200; k++)
		;
	tap_ok(bi.latency.bucket[k] == 1, "1200 ms: le %llu ms",
	       (unsigned long long)bounds[k]);
	tap_is_int((long long)bi.latency.bucket[ROUTE_LAT_BUCKETS - 1], 1,
		   "999999 ms: +Inf");
	for (k = 0; k < ROUTE_LAT_BUCKETS; k++)
		total += bi.latency.bucket[k];
	tap_is_int((long long)total, 5, "buckets add up to the count");
	tap_is_int(route_apply(e, &t->cfg, 2), 0, "reload");
	tap_is_int((long long)binfo(e, "a", 2).latency.count, 5,
		   "histogram kept across a reload");
	route_clear_counters(e);
	bi = binfo(e, "a", 2);
	tap_ok(bi.latency.count == 0 && bi.latency.sum_ms == 0 &&
		       bi.latency.bucket[0] == 0,
	       "clear counters empties the histogram");
	route_free(e);
	free(t);
}

static void learn_since(struct route_engine *e, const char *backend, int status,
			int64_t dur, int64_t since, uint64_t now)
{
	struct route_result r = {
		.backend = backend,
		.backend_len = strlen(backend),
		.status = status,
		.retry_after_ms = -1,
		.remaining_requests = -1,
		.remaining_tokens = -1,
		.duration_ms = dur,
		.since_decision_ms = since,
	};

	route_learn(e, &r, now);
}

/* Decision-to-result times go to their own histogram, on the same buckets
 * as the attempts' durations and independent of them; a result without a
 * response is not timed; it follows the backend across a reload and
 * clears with the counters.
 */
static void test_decision_latency(void)
{
	static const uint64_t bounds[] = ROUTE_LAT_BOUNDS_MS;
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;
	int k;

	add_member(t, p, a, 1, 1);
	e = engine(t, 0);
	learn_since(e, "a", 429, 30, 35, 1);	/* a throttled attempt */
	learn_since(e, "a", 200, 400, 460, 1);	/* its retry: both timed */
	learn_since(e, "a", 200, 20, -1, 1);	/* no stamp */
	learn_since(e, "a", 200, -1, 70, 1);	/* no duration, a stamp */
	learn_since(e, "a", 0, -1, 80, 1);	/* no response */
	learn_since(e, "a", 200, 1, 999999, 1); /* +Inf */
	bi = binfo(e, "a", 1);
	tap_is_int((long long)bi.decision_latency.count, 4,
		   "four results timed from the decision");
	tap_is_int((long long)bi.decision_latency.sum_ms,
		   35 + 460 + 70 + 999999, "sum of those times");
	tap_is_int((long long)bi.latency.count, 4,
		   "the duration histogram counts its own four");
	for (k = 0; bounds[k] < 35; k++)
		;
	tap_ok(bi.decision_latency.bucket[k] == 1, "35 ms: le %llu ms",
	       (unsigned long long)bounds[k]);
	tap_is_int((long long)bi.decision_latency.bucket[ROUTE_LAT_BUCKETS - 1],
		   1, "999999 ms: +Inf");
	tap_is_int(route_apply(e, &t->cfg, 2), 0, "reload");
	tap_is_int((long long)binfo(e, "a", 2).decision_latency.count, 4,
		   "decision histogram kept across a reload");
	route_clear_counters(e);
	bi = binfo(e, "a", 2);
	tap_ok(bi.decision_latency.count == 0 &&
		       bi.decision_latency.sum_ms == 0 &&
		       bi.decision_latency.bucket[ROUTE_LAT_BUCKETS - 1] == 0,
	       "clear counters empties it");
	route_free(e);
	free(t);
}

static void test_reload(void)
{
	struct tcfg *t1 = tcfg_new(), *t2 = tcfg_new();
	int p1, p2;
	struct route_engine *e;
	struct route_backend_info bi;
	struct route_member_info mi;
	struct route_decision d;
	uint64_t until;
	uint32_t i;
	int bad = 0;

	add_backend(t1, "a");
	add_backend(t1, "b");
	add_backend(t1, "c");
	p1 = add_pool(t1, "p");
	add_member(t1, p1, 0, 1, 1);
	add_member(t1, p1, 1, 1, 1);
	add_member(t1, p1, 2, 1, 1);
	add_pool(t1, "gone");

	add_backend(t2, "d");
	add_backend(t2, "b");
	add_backend(t2, "a");
	p2 = add_pool(t2, "p");
	add_member(t2, p2, 2, 1, 1);
	add_member(t2, p2, 1, 1, 1);
	add_member(t2, p2, 0, 1, 1);

	e = engine(t1, 0);
	decide(e, "p", NULL, 0);
	route_trip(e, bidx(e, "a"), 20000, 100);
	until = binfo(e, "a", 100).until_ms;
	route_set_weight(e, pidx(e, "p"), bidx(e, "b"), 5);
	route_set_disabled(e, bidx(e, "b"), true);
	route_set_down(e, bidx(e, "c"), true);
	learn(e, "b", 503, -1, 150);
	tap_is_int(route_apply(e, &t2->cfg, 200), 0, "apply new config");
	tap_ok(bidx(e, "a") == 2 && bidx(e, "d") == 0 && bidx(e, "c") == -1,
	       "indexes follow the new config, c dropped");
	tap_ok(pidx(e, "gone") == -1 && pidx(e, "p") == 0, "pools replaced");
	bi = binfo(e, "a", 200);
	tap_ok(bi.state == ROUTE_ST_OPEN && bi.until_ms == until,
	       "open circuit stays open with the same deadline");
	tap_ok(!strncmp(bi.why, "operator trip", 13), "why kept: %s", bi.why);
	bi = binfo(e, "b", 200);
	tap_ok(bi.disabled, "disabled flag kept");
	tap_is_int((long long)bi.counters.results_5xx, 1, "counters kept");
	tap_is_int(bi.window_faults, 1, "fault window kept");
	bi = binfo(e, "d", 200);
	tap_ok(bi.state == ROUTE_ST_CLOSED && !bi.disabled && !bi.down &&
		       bi.counters.decisions == 0,
	       "new backend starts closed");
	for (i = 0; i < 3; i++) {
		route_member_info(e, pidx(e, "p"), i, 200, &mi);
		if (mi.backend == bidx(e, "b"))
			tap_ok(mi.weight == 5 && mi.weight_overridden &&
				       mi.cfg_weight == 1,
			       "weight override kept by name");
		else
			bad += mi.weight_overridden;
	}
	tap_is_int(bad, 0, "no other override");
	d = decide(e, "p", NULL, 200);
	tap_ok(!strcmp(name_of(&d), "d"), "only d is available (got %s)",
	       name_of(&d));
	route_free(e);
	free(t1);
	free(t2);
}

static void test_overrides(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_decision d;
	struct route_member_info mi;
	struct route_backend_info bi;
	int i, na = 0, nb = 0, bad = 0;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 1, 1);
	e = engine(t, 0);
	tap_is_int(route_set_weight(e, p, b, 3), 0, "set weight b=3");
	tap_is_int(route_set_weight(e, p, b, CFG_WEIGHT_MAX + 1), -1,
		   "weight above max refused");
	tap_is_int(route_set_weight(e, 7, b, 1), -1, "bad pool refused");
	for (i = 0; i < 400; i++) {
		d = decide(e, "p", NULL, 0);
		na += d.backend == a;
		nb += d.backend == b;
	}
	tap_ok(na == 100 && nb == 300, "1:3 after override (%d:%d)", na, nb);
	route_member_info(e, p, 1, 0, &mi);
	tap_ok(mi.weight_overridden && mi.weight == 3 && mi.cfg_weight == 1,
	       "override visible");
	route_set_weight(e, p, a, 0);
	for (i = 0; i < 50; i++)
		bad += decide(e, "p", NULL, 0).backend == a;
	tap_is_int(bad, 0, "weight 0 override drains");
	route_reset(e, a, 0);
	route_reset(e, b, 0);
	route_member_info(e, p, 1, 0, &mi);
	tap_ok(!mi.weight_overridden && mi.weight == 1, "reset clears");
	route_set_disabled(e, a, true);
	bad = 0;
	for (i = 0; i < 50; i++)
		bad += decide(e, "p", NULL, 0).backend == a;
	tap_is_int(bad, 0, "disabled backend never chosen");
	route_reset(e, a, 0);
	tap_ok(!binfo(e, "a", 0).disabled, "reset re-enables");
	route_trip(e, a, 60000, 0);
	bi = binfo(e, "a", 10);
	tap_ok(bi.state == ROUTE_ST_OPEN && bi.until_ms == 60000,
	       "operator trip for a duration");
	route_reset(e, a, 10);
	bi = binfo(e, "a", 10);
	tap_ok(bi.state == ROUTE_ST_CLOSED && bi.until_ms == 0 &&
		       !strcmp(bi.why, "operator reset"),
	       "reset closes the circuit");
	learn(e, "a", 429, 30000, 20);
	route_reset(e, a, 30);
	tap_ok(binfo(e, "a", 30).state == ROUTE_ST_CLOSED,
	       "reset clears a cooldown");
	tap_is_int(route_trip(e, 99, 1, 0), -1, "bad backend refused");
	route_free(e);
	free(t);
}

static void test_external(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;
	int i, bad = 0, na = 0;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 1, 1);
	t->backends[a].breaker.failure_count = 2;
	e = engine(t, 0);
	route_set_down(e, a, true);
	for (i = 0; i < 20; i++)
		bad += decide(e, "p", NULL, 0).backend == a;
	tap_is_int(bad, 0, "down backend never chosen");
	route_reset(e, a, 0);
	tap_ok(binfo(e, "a", 0).down, "reset leaves the down flag");
	route_set_down(e, a, false);
	for (i = 0; i < 20; i++)
		na += decide(e, "p", NULL, 0).backend == a;
	tap_is_int(na, 10, "up again: chosen");
	route_fault(e, a, 10);
	tap_ok(binfo(e, "a", 10).state == ROUTE_ST_CLOSED, "one fault");
	route_fault(e, a, 20);
	bi = binfo(e, "a", 20);
	tap_ok(bi.state == ROUTE_ST_OPEN, "two external faults trip");
	tap_is_int((long long)bi.counters.external_faults, 2,
		   "external faults counted");
	tap_is_int(route_fault(e, -1, 0), -1, "bad index refused");
	route_free(e);
	free(t);
}

/* A keyless backend without a token (route_set_auth) is never chosen, is
 * shown as such, keeps its flag across a reset, and the pool is exhausted
 * when no member has one.
 */
static void test_auth(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	struct route_engine *e;
	int i, bad = 0, na = 0;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 2, 1);
	e = engine(t, 0);
	tap_is_int(route_set_auth(e, a, false), 0, "auth: a loses its token");
	tap_ok(binfo(e, "a", 0).no_auth && !binfo(e, "a", 0).down,
	       "auth: shown as no_auth, not down");
	for (i = 0; i < 20; i++)
		bad += decide(e, "p", NULL, 0).backend == a;
	tap_is_int(bad, 0, "auth: a backend without a token never chosen");
	route_reset(e, a, 0);
	tap_ok(binfo(e, "a", 0).no_auth, "auth: reset leaves the flag");
	route_set_auth(e, b, false);
	tap_is_int(decide(e, "p", NULL, 0).reason, ROUTE_EXHAUSTED,
		   "auth: no member with a token: exhausted");
	route_set_auth(e, a, true);
	route_set_auth(e, b, true);
	for (i = 0; i < 20; i++)
		na += decide(e, "p", NULL, 0).backend == a;
	tap_is_int(na, 20, "auth: a token again: chosen (first priority)");
	tap_is_int(route_set_auth(e, 7, true), -1, "auth: bad index refused");
	route_free(e);
	free(t);
}

/* Who tripped: the operator_trip flag and the cause, not the reason text. */
static void test_cause(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 1, 1);
	t->backends[a].breaker.failure_count = 1;
	t->backends[a].breaker.trip_duration_ms = 1000;
	e = engine(t, 0);
	bi = binfo(e, "a", 0);
	tap_ok(!bi.operator_trip && bi.cause == ROUTE_BY_BREAKER,
	       "closed at start: no operator trip");
	route_trip(e, a, 5000, 0);
	bi = binfo(e, "a", 0);
	tap_ok(bi.state == ROUTE_ST_OPEN && bi.operator_trip &&
		       bi.cause == ROUTE_BY_OPERATOR,
	       "route_trip: an operator trip");
	tap_ok(strncmp(bi.why, "operator trip", 13) == 0,
	       "the reason text is kept (%s)", bi.why);
	learn(e, "a", 429, 9000, 10);
	bi = binfo(e, "a", 10);
	tap_ok(bi.operator_trip && bi.until_ms > 5000,
	       "a throttle extending it keeps the cause");
	bi = binfo(e, "a", 20000);
	tap_ok(bi.state == ROUTE_ST_HALF_OPEN && !bi.operator_trip &&
		       bi.cause == ROUTE_BY_BREAKER,
	       "half-open when it ends: the breaker's");
	learn(e, "a", 200, -1, 20000);
	learn(e, "a", 500, -1, 20001);
	bi = binfo(e, "a", 20001);
	tap_ok(bi.state == ROUTE_ST_OPEN && !bi.operator_trip &&
		       bi.cause == ROUTE_BY_BREAKER,
	       "a fault trip is not an operator trip");
	route_reset(e, a, 20002);
	bi = binfo(e, "a", 20002);
	tap_ok(bi.state == ROUTE_ST_CLOSED && !bi.operator_trip &&
		       bi.cause == ROUTE_BY_OPERATOR,
	       "route_reset: closed by the operator, no trip");
	route_free(e);
	free(t);
}

static void test_hook_and_tick(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a"), b = add_backend(t, "b");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct hook_log log;
	uint64_t next;

	add_member(t, p, a, 1, 1);
	add_member(t, p, b, 1, 1);
	t->backends[a].breaker.failure_count = 1;
	t->backends[a].breaker.trip_duration_ms = 1000;
	memset(&log, 0, sizeof(log));
	e = engine(t, 0);
	route_set_hook(e, hook_record, &log);
	learn(e, "a", 500, -1, 0);
	learn(e, "a", 500, -1, 1); /* straggler while open: no transition */
	tap_is_int(log.n, 1, "trip: one hook call");
	tap_ok(log.backend[0] == a && log.from[0] == ROUTE_ST_CLOSED &&
		       log.to[0] == ROUTE_ST_OPEN,
	       "closed -> open");
	tap_ok(!strcmp(log.why[0], "1 fault in 10s, open 1s"), "why: %s",
	       log.why[0]);
	next = route_tick(e, 500);
	tap_is_int((long long)next, 1000, "tick: next deadline");
	tap_is_int(log.n, 1, "tick before the deadline: no call");
	next = route_tick(e, 1000);
	tap_is_int(log.n, 2, "tick at the deadline: one call");
	tap_ok(log.from[1] == ROUTE_ST_OPEN && log.to[1] == ROUTE_ST_HALF_OPEN,
	       "open -> half-open (%s)", log.why[1]);
	tap_ok(next == UINT64_MAX, "half-open, no probe: no deadline");
	decide(e, "p", NULL, 1000);
	tap_is_int((long long)route_tick(e, 1000), 11000,
		   "probe in flight: its timeout");
	decide(e, "p", NULL, 1000);
	tap_is_int(log.n, 2, "decisions: no call");
	learn(e, "a", 200, -1, 1100);
	tap_is_int(log.n, 3, "probe success: one call");
	tap_ok(log.from[2] == ROUTE_ST_HALF_OPEN &&
		       log.to[2] == ROUTE_ST_CLOSED,
	       "half-open -> closed (%s)", log.why[2]);
	learn(e, "a", 429, 1000, 1200);
	learn(e, "a", 429, 5000, 1300);
	learn(e, "a", 429, 10, 1400);
	tap_is_int(log.n, 4, "cooldown, then extended: one call");
	tap_ok(log.to[3] == ROUTE_ST_COOLING, "closed -> cooling");
	tap_ok(binfo(e, "a", 1400).until_ms >= 6300,
	       "a longer wait extends the cooldown");
	route_reset(e, a, 1500);
	tap_is_int(log.n, 5, "reset: one call");
	route_reset(e, a, 1500);
	tap_is_int(log.n, 5, "reset of a closed backend: none");
	route_free(e);
	free(t);
}

/* Counts and checks the names of a dump. */
struct dump {
	int n;
	int found;
	uint64_t value;
};

static void dump_one(void *arg, const char *name, const char *help,
		     uint64_t value)
{
	struct dump *d = arg;

	d->n++;
	if (!strcmp(name, "decisions") && help && *help) {
		d->found++;
		d->value = value;
	}
}

static void test_counters(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_backend_info bi;
	struct route_pool_info pi;
	struct dump d;

	add_member(t, p, a, 1, 1);
	e = engine(t, 0);
	decide(e, "p", NULL, 0);
	decide(e, "p", NULL, 0);
	bi = binfo(e, "a", 0);
	memset(&d, 0, sizeof(d));
	route_backend_counters_each(&bi.counters, dump_one, &d);
	tap_is_int(d.n, (int)(sizeof(bi.counters) / sizeof(uint64_t)),
		   "backend dump covers every counter");
	tap_ok(d.found == 1 && d.value == 2, "backend decisions = 2");
	memset(&d, 0, sizeof(d));
	route_pool_info(e, p, &pi);
	route_pool_counters_each(&pi.counters, dump_one, &d);
	tap_is_int(d.n, 5, "pool dump: 5 reasons");
	memset(&d, 0, sizeof(d));
	route_engine_counters_each(route_engine_counters(e), dump_one, &d);
	tap_ok(d.found == 1 && d.value == 2, "engine decisions = 2");
	route_clear_counters(e);
	tap_is_int((long long)binfo(e, "a", 0).counters.decisions, 0,
		   "clear zeroes counters");
	tap_ok(!strcmp(route_state_str(ROUTE_ST_HALF_OPEN), "half-open") &&
		       !strcmp(route_reason_str(ROUTE_SPILLOVER), "spillover"),
	       "state and reason strings");
	route_free(e);
	free(t);
}

/* ---------------------------------------------------------------- */
/* randomized: invariants after every step                          */

#ifndef TEST_ROUTE_SEED
#define TEST_ROUTE_SEED 0x1234567 /* -DTEST_ROUTE_SEED=N to explore */
#endif
static uint64_t rnd_state = TEST_ROUTE_SEED;

static uint64_t rnd(void)
{
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rndn(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

#define R_BACKENDS 8
#define R_POOLS	   4

/* Shadow of the hook calls, to check the hook sees every change. */
static enum route_state shadow[R_BACKENDS];
static int shadow_bad;

static void hook_shadow(void *arg, int b, enum route_state from,
			enum route_state to, const char *why)
{
	(void)arg;
	if (b < 0 || b >= R_BACKENDS || shadow[b] != from || from == to ||
	    !why || !*why)
		shadow_bad++;
	else
		shadow[b] = to;
}

static void random_cfg(struct tcfg *t)
{
	char name[16];
	int b, p, i, n;

	for (b = 0; b < R_BACKENDS; b++) {
		struct cfg_breaker *c;

		snprintf(name, sizeof(name), "r%d", b);
		add_backend(t, name);
		c = &t->backends[b].breaker;
		c->failure_count = rndn(4);
		c->failure_interval_ms = 1000 + rndn(9000);
		c->failure_percentage = rndn(3) ? 0 : 30 + rndn(60);
		c->minimum_requests = rndn(10);
		c->consecutive_failures = rndn(2) ? 0 : 1 + rndn(4);
		c->slow_call_ms = rndn(2) ? 0 : 1000 + rndn(5000);
		c->trip_duration_ms = 100 + rndn(5000);
		c->max_trip_duration_ms = c->trip_duration_ms * (1 + rndn(4));
		c->accept_retry_after = rndn(2);
		c->max_retry_after_ms = 2000 + rndn(20000);
		c->probe_requests = 1 + rndn(3);
		c->probe_timeout_ms = 500 + rndn(3000);
	}
	for (p = 0; p < R_POOLS; p++) {
		bool used[R_BACKENDS] = {false};

		snprintf(name, sizeof(name), "pool%d", p);
		add_pool(t, name);
		n = 2 + (int)rndn(5);
		for (i = 0; i < n; i++) {
			b = (int)rndn(R_BACKENDS);
			if (used[b])
				continue;
			used[b] = true;
			add_member(t, p, b, 1 + rndn(3), rndn(6));
		}
	}
}

/* Stable period: no time, no results. When the used group has only closed
 * available members, 3 x sum(weights) picks give exactly 3 x weight each.
 */
static int stable_check(struct route_engine *e, int p, uint64_t now)
{
	struct route_member_info mi[T_MEMBERS];
	struct route_backend_info bi;
	struct route_pool_info pi;
	struct route_decision d;
	uint32_t i, n, prio = UINT32_MAX, sum = 0;
	int got[R_BACKENDS] = {0};
	char pname[16];

	route_pool_info(e, p, &pi);
	n = pi.n_members;
	for (i = 0; i < n; i++) {
		route_member_info(e, p, i, now, &mi[i]);
		if (mi[i].available && mi[i].priority < prio)
			prio = mi[i].priority;
	}
	if (prio == UINT32_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if (!mi[i].available || mi[i].priority != prio)
			continue;
		route_backend_info(e, mi[i].backend, now, &bi);
		if (bi.state != ROUTE_ST_CLOSED)
			return -1;
		sum += mi[i].weight;
	}
	snprintf(pname, sizeof(pname), "pool%d", p);
	for (i = 0; i < 3 * sum; i++) {
		d = decide(e, pname, NULL, now);
		if (d.backend < 0)
			return 1;
		got[d.backend]++;
	}
	for (i = 0; i < n; i++) {
		if (!mi[i].available || mi[i].priority != prio)
			continue;
		if (got[mi[i].backend] != 3 * (int)mi[i].weight)
			return 1;
		got[mi[i].backend] = 0;
	}
	for (i = 0; i < R_BACKENDS; i++)
		if (got[i])
			return 1;
	return 0;
}

static void test_random(void)
{
	static const int statuses[] = {200, 200, 200, 200, 200, 200, 200,
				       200, 201, 204, 404, 400, 429, 429,
				       500, 502, 503, 0,   408, 301};
	struct tcfg *t = tcfg_new();
	struct route_engine *e;
	struct route_decision d;
	struct route_member_info mi[T_MEMBERS];
	struct route_backend_info bi[R_BACKENDS];
	struct route_pool_info pi;
	uint64_t now = 1000;
	int inflight[256], n_inflight = 0;
	int step, i, p, viol = 0, member_viol = 0, exhausted_viol = 0;
	int group_viol = 0, probe_viol = 0, stable_runs = 0, stable_bad = 0;
	int state_viol = 0, decisions = 0, n_exhausted = 0, n_probes = 0;
	char pname[16], key[16];

	random_cfg(t);
	e = engine(t, now);
	route_set_hook(e, hook_shadow, NULL);
	for (step = 0; step < 40000; step++) {
		uint32_t r = rndn(100);

		if (r < 25) {
			now += rndn(8) == 0 ? rndn(20000) : rndn(300);
		} else if (r < 70) {
			uint32_t n, best = UINT32_MAX;
			bool any = false, member = false;

			p = (int)rndn(R_POOLS);
			route_pool_info(e, p, &pi);
			n = pi.n_members;
			for (i = 0; i < R_BACKENDS; i++)
				route_backend_info(e, i, now, &bi[i]);
			for (i = 0; i < (int)n; i++) {
				route_member_info(e, p, (uint32_t)i, now,
						  &mi[i]);
				if (mi[i].available) {
					any = true;
					if (mi[i].priority < best)
						best = mi[i].priority;
				}
			}
			snprintf(pname, sizeof(pname), "pool%d", p);
			snprintf(key, sizeof(key), "k%u", rndn(50));
			d = decide(e, pname, rndn(3) ? NULL : key, now);
			decisions++;
			if (d.backend < 0) {
				n_exhausted++;
				exhausted_viol += any ||
						  d.reason != ROUTE_EXHAUSTED ||
						  d.retry_after_s < 1;
				continue;
			}
			for (i = 0; i < (int)n; i++) {
				if (mi[i].backend != d.backend)
					continue;
				member = true;
				viol += !mi[i].available || !mi[i].weight;
				group_viol += mi[i].priority != best;
			}
			member_viol += !member;
			viol += bi[d.backend].disabled || bi[d.backend].down;
			viol += bi[d.backend].state == ROUTE_ST_OPEN ||
				bi[d.backend].state == ROUTE_ST_COOLING;
			if (bi[d.backend].state == ROUTE_ST_HALF_OPEN)
				viol += bi[d.backend].probes_inflight >=
					bi[d.backend].probe_limit;
			probe_viol +=
				(d.reason == ROUTE_PROBE) !=
				(bi[d.backend].state == ROUTE_ST_HALF_OPEN);
			n_probes += d.reason == ROUTE_PROBE;
			if (n_inflight < 256)
				inflight[n_inflight++] = d.backend;
		} else if (r < 92) {
			int b, st = statuses[rndn(20)];
			int64_t ra = -1;
			char bn[16];

			if (n_inflight && rndn(10)) {
				i = (int)rndn((uint32_t)n_inflight);
				b = inflight[i];
				inflight[i] = inflight[--n_inflight];
			} else {
				b = (int)rndn(R_BACKENDS);
			}
			if (rndn(2))
				ra = rndn(10) ? rndn(10000)
					      : (int64_t)rndn(1u << 31) * 1000;
			snprintf(bn, sizeof(bn), "r%d", b);
			learn_full(e, bn, st, ra, -1, -1,
				   rndn(4) ? (int64_t)rndn(3000) : -1, now);
		} else {
			int b = (int)rndn(R_BACKENDS);

			switch (rndn(9)) {
			case 0:
				route_set_disabled(e, b, rndn(3) == 0);
				break;
			case 1:
				route_set_down(e, b, rndn(3) == 0);
				break;
			case 2:
				route_set_weight(e, (int)rndn(R_POOLS), b,
						 rndn(5));
				break;
			case 3:
				route_trip(e, b, rndn(5000), now);
				break;
			case 4:
				route_reset(e, b, now);
				break;
			case 5:
				route_fault(e, b, now);
				break;
			case 6:
				route_tick(e, now);
				break;
			case 7:
				n_inflight = 0; /* results lost */
				break;
			default:
				i = stable_check(e, (int)rndn(R_POOLS), now);
				stable_runs += i >= 0;
				stable_bad += i > 0;
				break;
			}
		}
		for (i = 0; i < R_BACKENDS; i++) {
			route_backend_info(e, i, now, &bi[i]);
			state_viol += bi[i].state != shadow[i];
		}
	}
	tap_is_int(viol, 0, "random: never an unavailable backend");
	tap_is_int(member_viol, 0, "random: never a backend outside the pool");
	tap_is_int(group_viol, 0, "random: always the best available group");
	tap_is_int(exhausted_viol, 0,
		   "random: exhausted only when every member is unavailable");
	tap_is_int(probe_viol, 0, "random: probe iff half-open");
	tap_is_int(state_viol + shadow_bad, 0,
		   "random: the hook saw every state change");
	tap_ok(stable_runs > 50 && stable_bad == 0,
	       "random: exact proportions over %d stable periods (%d bad)",
	       stable_runs, stable_bad);
	tap_ok(decisions > 10000 && n_exhausted > 0 && n_probes > 0,
	       "random: %d decisions, %d exhausted, %d probes", decisions,
	       n_exhausted, n_probes);
	route_free(e);
	free(t);
}

/* ---------------------------------------------------------------- */
/* affinity cache: the same answers as without it                   */

/* <dst> = <src>, with the pointers of the copy pointing into <dst>. */
static void tcfg_copy(struct tcfg *dst, const struct tcfg *src)
{
	uint32_t p;

	memcpy(dst, src, sizeof(*dst));
	dst->cfg.backends = dst->backends;
	dst->cfg.pools = dst->pools;
	for (p = 0; p < T_POOLS; p++)
		dst->pools[p].members = dst->members[p];
}

/* One random change of the members of <t> for a reload: a weight, a
 * priority, a member removed or added.
 */
static void tcfg_mutate(struct tcfg *t)
{
	struct cfg_pool *cp = &t->pools[rndn(t->cfg.n_pools)];
	uint32_t i, b;

	switch (rndn(4)) {
	case 0:
		if (cp->n_members)
			cp->members[rndn(cp->n_members)].weight = rndn(6);
		break;
	case 1:
		if (cp->n_members)
			cp->members[rndn(cp->n_members)].priority = 1 + rndn(3);
		break;
	case 2:
		if (cp->n_members > 1) {
			i = rndn(cp->n_members);
			cp->members[i] = cp->members[--cp->n_members];
		}
		break;
	default:
		b = rndn(t->cfg.n_backends);
		for (i = 0; i < cp->n_members; i++)
			if (cp->members[i].backend == b)
				break;
		if (i == cp->n_members && cp->n_members < T_MEMBERS) {
			cp->members[i].backend = b;
			cp->members[i].priority = 1 + rndn(3);
			cp->members[i].weight = 1 + rndn(5);
			cp->n_members++;
		}
		break;
	}
}

/* Two engines fed the same random steps, one with the affinity cache and
 * one without; every decision must be the same (backend, reason,
 * retry_after), across trips, cooldowns, recoveries, probes, drains,
 * weight overrides and reloads. Mostly 60 hot keys (cache hits), some of
 * 3,000 (more than a cache holds: evictions).
 */
static void test_affinity_cache_same(void)
{
	static const int statuses[] = {200, 200, 200, 200, 200, 429,
				       500, 503, 0,   404, 200, 200};
	struct tcfg *t[2] = {tcfg_new(), tcfg_new()};
	struct route_engine *e[2];
	struct route_decision d[2];
	uint64_t now = 1000;
	int cur = 0, step, k, diff = 0, keyed = 0, reloads = 0, aff = 0;
	int fallback = 0;
	char pname[16], key[24], bn[16];

	random_cfg(t[0]);
	for (k = 0; k < 2; k++) {
		e[k] = route_new(7);
		if (!e[k] || route_apply(e[k], &t[0]->cfg, now) < 0)
			abort();
	}
	route_set_affinity_cache(e[1], false);
	for (step = 0; step < 60000; step++) {
		uint32_t r = rndn(1000), b = rndn(R_BACKENDS);
		uint32_t p = rndn(R_POOLS), w = rndn(5), ms = rndn(5000);
		int st = statuses[rndn(12)];
		int64_t ra = rndn(2) ? (int64_t)rndn(20000) : -1;

		if (r < 600) {
			bool with_key = rndn(8) != 0;

			snprintf(pname, sizeof(pname), "pool%u", p);
			snprintf(key, sizeof(key), "session-%u",
				 rndn(rndn(4) ? 60 : 3000));
			for (k = 0; k < 2; k++)
				d[k] = decide(e[k], pname,
					      with_key ? key : NULL, now);
			diff += d[0].backend != d[1].backend ||
				d[0].reason != d[1].reason ||
				d[0].retry_after_s != d[1].retry_after_s;
			keyed += with_key;
			aff += d[0].reason == ROUTE_AFFINITY;
			fallback += with_key && d[0].backend >= 0 &&
				    d[0].reason != ROUTE_AFFINITY;
		} else if (r < 750) {
			now += rndn(10) == 0 ? rndn(20000) : rndn(200);
		} else if (r < 900) {
			snprintf(bn, sizeof(bn), "r%u", b);
			for (k = 0; k < 2; k++)
				learn(e[k], bn, st, ra, now);
		} else if (r < 995) {
			uint32_t op = rndn(6);

			for (k = 0; k < 2; k++) {
				switch (op) {
				case 0:
					route_trip(e[k], (int)b, ms, now);
					break;
				case 1:
					route_reset(e[k], (int)b, now);
					break;
				case 2:
					route_set_disabled(e[k], (int)b,
							   w == 0);
					break;
				case 3:
					route_set_down(e[k], (int)b, w == 0);
					break;
				case 4:
					route_set_weight(e[k], (int)p, (int)b,
							 w);
					break;
				default:
					route_tick(e[k], now);
					break;
				}
			}
		} else {
			tcfg_copy(t[!cur], t[cur]);
			tcfg_mutate(t[!cur]);
			for (k = 0; k < 2; k++)
				if (route_apply(e[k], &t[!cur]->cfg, now) < 0)
					abort();
			cur = !cur;
			reloads++;
		}
	}
	tap_is_int(diff, 0,
		   "affinity cache: every decision the same as "
		   "without the cache");
	tap_ok(keyed > 30000 && aff > 10000 && fallback > 1000 && reloads > 10,
	       "affinity cache: %d keyed decisions, %d by affinity, %d fell "
	       "back, %d reloads",
	       keyed, aff, fallback, reloads);
	for (k = 0; k < 2; k++)
		route_free(e[k]);
	free(t[0]);
	free(t[1]);
}

/* Fills the cache with 100 keys of an 8-member pool, then makes each
 * backend unavailable in each way in turn while its keys' winners stay
 * cached: no decision may name it, the other keys stay at home by
 * affinity, and once it is back its keys return.
 */
static void test_affinity_cache_unavailable(void)
{
	enum { WAYS = 6, KEYS = 100 };
	static const char *const way_name[WAYS] = {
		"tripped",  "cooling", "half-open, probe in flight",
		"disabled", "down",    "weight 0"};
	struct tcfg *t = tcfg_new();
	int p = add_pool(t, "p"), home[KEYS], i, b, way;
	struct route_engine *e;
	struct route_decision d;
	uint64_t now = 1000;
	char key[24], name[16];

	for (b = 0; b < 8; b++) {
		snprintf(name, sizeof(name), "u%d", b);
		add_member(t, p, add_backend(t, name), 1, 1 + (uint32_t)b % 3);
	}
	e = engine(t, now);
	for (i = 0; i < KEYS; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		home[i] = decide(e, "p", key, now).backend;
	}
	for (way = 0; way < WAYS; way++) {
		int bad = 0, moved = 0, back = 0, mine = 0;

		for (b = 0; b < 8; b++) {
			snprintf(name, sizeof(name), "u%d", b);
			now += 1000;
			switch (way) {
			case 0:
				route_trip(e, b, 60000, now);
				break;
			case 1:
				learn(e, name, 429, 60000, now);
				break;
			case 2:
				route_trip(e, b, 10, now);
				now += 20;
				d = decide(e, "p", NULL, now);
				bad += d.reason != ROUTE_PROBE ||
				       d.backend != b;
				break;
			case 3:
				route_set_disabled(e, b, true);
				break;
			case 4:
				route_set_down(e, b, true);
				break;
			default:
				route_set_weight(e, p, b, 0);
				break;
			}
			for (i = 0; i < KEYS; i++) {
				snprintf(key, sizeof(key), "user-%d", i);
				d = decide(e, "p", key, now);
				bad += d.backend == b || d.backend < 0;
				if (home[i] == b)
					mine++;
				else
					moved += d.backend != home[i] ||
						 d.reason != ROUTE_AFFINITY;
			}
			route_reset(e, b, now);
			route_set_down(e, b, false);
			for (i = 0; i < KEYS; i++) {
				snprintf(key, sizeof(key), "user-%d", i);
				d = decide(e, "p", key, now);
				back += d.backend != home[i] ||
					d.reason != ROUTE_AFFINITY;
			}
		}
		tap_ok(bad == 0 && mine > 0,
		       "affinity cache, %s: never the unavailable backend "
		       "(%d bad, %d keys displaced)",
		       way_name[way], bad, mine);
		tap_is_int(moved, 0, "affinity cache, other keys stay home");
		tap_is_int(back, 0, "affinity cache, keys return home");
	}
	route_free(e);
	free(t);
}

static void test_apply_errors(void)
{
	struct tcfg *t = tcfg_new();
	int a = add_backend(t, "a");
	int p = add_pool(t, "p");
	struct route_engine *e;
	struct route_decision d;

	add_member(t, p, a, 1, 1);
	e = engine(t, 0);
	t->members[p][0].backend = 5;
	tap_is_int(route_apply(e, &t->cfg, 0), -1,
		   "member index out of range refused");
	t->members[p][0].backend = 0;
	d = decide(e, "p", NULL, 0);
	tap_ok(!strcmp(name_of(&d), "a"), "previous config still in force");
	route_free(e);
	e = route_new(1);
	d = decide(e, "p", NULL, 0);
	tap_ok(d.reason == ROUTE_UNKNOWN_POOL, "no config: every pool unknown");
	route_free(e);
	route_free(NULL);
	free(t);
}

int main(void)
{
	test_weights_exact();
	test_priority_spillover();
	test_throttle();
	test_window();
	test_percentage();
	test_consecutive_and_slow();
	test_half_open();
	test_shared_backends();
	test_affinity();
	test_affinity_pinned();
	test_headroom();
	test_exhausted();
	test_unknown();
	test_status_classes();
	test_latency();
	test_decision_latency();
	test_reload();
	test_overrides();
	test_external();
	test_cause();
	test_auth();
	test_hook_and_tick();
	test_counters();
	test_random();
	test_affinity_cache_same();
	test_affinity_cache_unavailable();
	test_apply_errors();
	return tap_done();
}

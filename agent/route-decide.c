/* SPDX-License-Identifier: Apache-2.0 */
/* The routing engine's decisions (API in route.h, shared internals in
 * route-priv.h): pools, priority groups, weights, affinity; the results
 * fed to the breakers (breaker.c). Configuration is route-apply.c,
 * overrides, inspection and snapshots route-admin.c.
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "route-priv.h"
#include "route.h"

/* ---------------------------------------------------------------- */
/* hashing                                                           */

/* Murmur3's 64-bit finalizer. */
static inline uint64_t route_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Little-endian loads, so every architecture hashes a key the same way. */
static inline uint64_t route_read64(const unsigned char *s)
{
	uint64_t w;

	memcpy(&w, s, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

static inline uint64_t route_read32(const unsigned char *s)
{
	uint32_t w;

	memcpy(&w, s, sizeof(w));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap32(w);
#endif
	return w;
}

/* Fast non-cryptographic 64-bit hash of <len> bytes at <p>: 8-byte blocks
 * through Murmur3's finalizer, a 1..8-byte tail read as wyhash does.
 */
static uint64_t route_hash(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = seed ^ ((uint64_t)len * ROUTE_GOLDEN), w;

	for (; len > 8; s += 8, len -= 8)
		h = route_mix(h ^ route_read64(s)) * ROUTE_GOLDEN;
	if (len >= 4)
		w = route_read32(s) << 32 | route_read32(s + len - 4);
	else if (len)
		w = (uint64_t)s[0] << 16 | (uint64_t)s[len >> 1] << 8 |
		    s[len - 1];
	else
		w = 0;
	return route_mix(h ^ w);
}

/* ---------------------------------------------------------------- */
/* name tables                                                       */

/* Returns the index of <name> of <len> bytes, or -1. O(1) expected. */
static int route_table_find(const struct route_table *t, const char *name,
			    size_t len)
{
	uint32_t i;

	if (!t->slot || len == 0 || len >= CFG_NAME_MAX)
		return -1;
	i = (uint32_t)route_hash(name, len, ROUTE_SEED_NAME) & t->mask;
	for (; t->slot[i].name; i = (i + 1) & t->mask)
		if (t->slot[i].len == len &&
		    memcmp(t->slot[i].name, name, len) == 0)
			return (int)t->slot[i].idx;
	return -1;
}

/* ---------------------------------------------------------------- */
/* counters (generated from the X-macro lists in route-t.h)          */

#define ROUTE_COUNTER_ZERO(name, help) c->name = 0;
#define ROUTE_COUNTER_DUMP(name, help) fn(arg, #name, help, c->name);

static void route_backend_counters_clear(struct route_backend_counters *c)
{
	ROUTE_BACKEND_COUNTERS(ROUTE_COUNTER_ZERO)
}

static void route_pool_counters_clear(struct route_pool_counters *c)
{
	ROUTE_POOL_COUNTERS(ROUTE_COUNTER_ZERO)
}

static void route_engine_counters_clear(struct route_engine_counters *c)
{
	ROUTE_ENGINE_COUNTERS(ROUTE_COUNTER_ZERO)
}

void route_backend_counters_each(const struct route_backend_counters *c,
				 route_counter_fn fn, void *arg)
{
	ROUTE_BACKEND_COUNTERS(ROUTE_COUNTER_DUMP)
}

void route_pool_counters_each(const struct route_pool_counters *c,
			      route_counter_fn fn, void *arg)
{
	ROUTE_POOL_COUNTERS(ROUTE_COUNTER_DUMP)
}

void route_engine_counters_each(const struct route_engine_counters *c,
				route_counter_fn fn, void *arg)
{
	ROUTE_ENGINE_COUNTERS(ROUTE_COUNTER_DUMP)
}

void route_clear_counters(struct route_engine *e)
{
	uint32_t i;

	route_engine_counters_clear(&e->c);
	for (i = 0; i < e->n_pools; i++)
		route_pool_counters_clear(&e->pools[i].c);
	for (i = 0; i < e->n_backends; i++) {
		route_backend_counters_clear(&e->backends[i].c);
		memset(&e->backends[i].lat, 0, sizeof(e->backends[i].lat));
		memset(&e->backends[i].dlat, 0, sizeof(e->backends[i].dlat));
		memset(&e->backends[i].br.c, 0, sizeof(e->backends[i].br.c));
	}
}

/* ---------------------------------------------------------------- */
/* strings                                                           */

const char *route_reason_str(enum route_reason r)
{
	switch (r) {
	case ROUTE_WEIGHTED:
		return "weighted";
	case ROUTE_SPILLOVER:
		return "spillover";
	case ROUTE_AFFINITY:
		return "affinity";
	case ROUTE_PROBE:
		return "probe";
	case ROUTE_EXHAUSTED:
		return "exhausted";
	case ROUTE_UNKNOWN_POOL:
		return "unknown-pool";
	}
	return "?";
}

const char *route_state_str(enum route_state s)
{
	return breaker_state_str((enum breaker_state)s);
}

/* ---------------------------------------------------------------- */
/* the breakers: each input's event turned into caches and the hook  */

/* Accounts for breaker event <ev> of backend <b>: plans and snapshots go
 * stale, and a real state change is reported to the hook (which runs
 * inside the engine call that caused it).
 */
void route_breaker_done(struct route_engine *e, uint32_t b,
			const struct breaker_event *ev)
{
	const struct breaker *br = &e->backends[b].br;

	if (ev->changes & BREAKER_CH_PLAN)
		e->epoch++;
	if (ev->changes & BREAKER_CH_SAVED)
		e->saved_gen++;
	if (ev->moved && ev->from != br->state && e->hook)
		e->hook(e->hook_arg, (int)b, (enum route_state)ev->from,
			(enum route_state)br->state, br->why);
}

void route_advance_slow(struct route_engine *e, uint32_t b, uint64_t now_ms)
{
	struct breaker_event ev = {0};

	breaker_advance_slow(&e->backends[b].br, now_ms, &ev);
	route_breaker_done(e, b, &ev);
}

/* ---------------------------------------------------------------- */
/* decisions                                                         */

/* Headroom factor of one value: v / min in per mille when v is known,
 * below <min>, and not older than max_age (0: never stale); else 1000.
 * Lowers *until to when a limiting value goes stale.
 */
static uint32_t route_headroom_one(int64_t v, uint64_t at, uint64_t min,
				   uint32_t max_age, uint64_t now_ms,
				   uint64_t *until)
{
	if (!min || v < 0 || (uint64_t)v >= min ||
	    (max_age && now_ms - at > max_age))
		return ROUTE_HEADROOM_SCALE;
	if (max_age && until)
		*until = route_min64(*until, route_after(at, max_age + 1ULL));
	return (uint32_t)((double)v * ROUTE_HEADROOM_SCALE / (double)min);
}

/* Headroom factor of backend <bk> in per mille (1..1000):
 * min(rr / min_rr, rt / min_rt), floored at min_weight_percent (and 1).
 * 1000 when off (both thresholds 0). <until> as route_headroom_one().
 */
static uint32_t route_headroom(const struct route_backend *bk, uint64_t now_ms,
			       uint64_t *until)
{
	const struct cfg_headroom *h = &bk->cfg->headroom;
	uint32_t f, g, floor;

	if (!h->min_remaining_requests && !h->min_remaining_tokens)
		return ROUTE_HEADROOM_SCALE;
	f = route_headroom_one(bk->rem_req, bk->rem_req_at,
			       h->min_remaining_requests, h->max_age_ms, now_ms,
			       until);
	g = route_headroom_one(bk->rem_tok, bk->rem_tok_at,
			       h->min_remaining_tokens, h->max_age_ms, now_ms,
			       until);
	if (g < f)
		f = g;
	floor = h->min_weight_percent * (ROUTE_HEADROOM_SCALE / 100);
	if (floor < 1)
		floor = 1;
	if (floor > ROUTE_HEADROOM_SCALE)
		floor = ROUTE_HEADROOM_SCALE;
	return f < floor ? floor : f;
}

static uint32_t route_gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Restarts the round-robin over the plan's candidates: current weights to
 * zero, and a fresh recording of the period when it can be replayed (every
 * headroom factor 1000 and sum(weights) / gcd <= ROUTE_SCHED_MAX).
 */
static void route_rr_restart(struct route_pool *rp, bool full)
{
	uint64_t sum = 0;
	uint32_t i, g = 0;

	for (i = 0; i < rp->n_cand; i++) {
		rp->cand[i].cur = 0;
		g = route_gcd(rp->m[rp->cand[i].k].weight, g);
	}
	for (i = 0; full && i < rp->n_cand; i++)
		sum += rp->m[rp->cand[i].k].weight / g;
	rp->sched_len = full && sum <= ROUTE_SCHED_MAX ? (uint32_t)sum : 0;
	rp->sched_rec = 0;
	rp->sched_pos = 0;
}

/* Moves the affinity cache of <rp> to a new generation when the plan's
 * rendezvous set (members and weights in force, in order) is not the one
 * the cache was filled for. The winner of a key depends on nothing else
 * (backend values follow the applied cfg, which brings a fresh cache), so
 * cached winners survive every plan rebuild that keeps the set: probes,
 * headroom, states inside the group in use. Run at the first keyed
 * decision after a rebuild. O(members of the set).
 */
static void route_aff_sync(struct route_pool *rp)
{
	uint32_t i;
	bool same = rp->n_hrw == rp->n_aff_set;

	for (i = 0; same && i < rp->n_hrw; i++)
		same = rp->aff_set[i] ==
		       ((uint64_t)rp->hrw[i].k << 32 | rp->hrw[i].w);
	rp->aff_stale = false;
	if (same)
		return;
	for (i = 0; i < rp->n_hrw; i++)
		rp->aff_set[i] = (uint64_t)rp->hrw[i].k << 32 | rp->hrw[i].w;
	rp->n_aff_set = rp->n_hrw;
	/* generation 0 marks empty slots: on wrap, empty them all */
	if (++rp->aff_gen == 0) {
		if (rp->aff)
			memset(rp->aff, 0,
			       ((size_t)rp->aff_mask + 1) * sizeof(*rp->aff));
		rp->aff_gen = 1;
	}
}

/* Builds the decision plan of <rp> at <now_ms>: the lowest priority group
 * with an available member, its probe candidate (first half-open member
 * with a free slot), its closed members with weight x headroom, its
 * rendezvous set (weight > 0, not disabled), and the earliest time at which
 * time alone could change any of this. Valid until e->epoch moves (any
 * state, flag, weight, probe or headroom change) or that time. O(members).
 */
static void route_plan(struct route_engine *e, struct route_pool *rp,
		       uint64_t now_ms)
{
	uint64_t until = UINT64_MAX, sig = 0;
	uint32_t i, k, hi, w0;
	bool full = true;

	rp->plan_probe = ROUTE_NONE;
	rp->plan_prio = 0;
	rp->n_cand = 0;
	rp->n_hrw = 0;
	for (i = 0; i < rp->n; i = hi) {
		hi = rp->m[i].group_end;
		rp->n_cand = 0;
		rp->n_hrw = 0;
		rp->hrw_equal = true;
		w0 = 0;
		sig = ((uint64_t)i + 1) * ROUTE_GOLDEN;
		for (k = i; k < hi; k++) {
			const struct route_member *m = &rp->m[k];
			struct route_backend *bk = &e->backends[m->backend];
			struct route_hrw *h;
			struct route_cand *c;
			uint32_t f;

			if (!m->weight || bk->disabled)
				continue;
			h = &rp->hrw[rp->n_hrw++];
			h->hrw = bk->hrw;
			h->w = m->weight;
			h->k = k;
			h->cand = ROUTE_NONE;
			if (w0 && m->weight != w0)
				rp->hrw_equal = false;
			w0 = m->weight;
			if (bk->down || bk->no_auth)
				continue;
			route_advance(e, m->backend, now_ms);
			switch (bk->br.state) {
			case BREAKER_ST_CLOSED:
				f = route_headroom(bk, now_ms, &until);
				full = full && f == ROUTE_HEADROOM_SCALE;
				h->cand = rp->n_cand;
				c = &rp->cand[rp->n_cand++];
				c->k = k;
				c->ew = (int64_t)m->weight * f;
				sig = (sig ^ ((uint64_t)k << 32 | m->weight)) *
				      ROUTE_GOLDEN;
				break;
			case BREAKER_ST_HALF_OPEN:
				if (breaker_can_probe(&bk->br)) {
					if (rp->plan_probe == ROUTE_NONE)
						rp->plan_probe = k;
				} else {
					until = route_min64(
						until, breaker_probe_deadline(
							       &bk->br));
				}
				break;
			default:
				until = route_min64(until, bk->br.until_ms);
				break;
			}
		}
		if (rp->plan_probe != ROUTE_NONE || rp->n_cand) {
			rp->plan_prio = rp->m[i].priority;
			break;
		}
	}
	/* A new set of members or weights restarts the round-robin, so that
	 * every run of sum(weights) picks is exact from then on. Headroom
	 * changes alone do not (restarting on each would favour the
	 * heaviest member), except switching between full and scaled.
	 */
	sig ^= full;
	if (rp->n_cand && sig != rp->rr_sig) {
		rp->rr_sig = sig;
		route_rr_restart(rp, full);
	}
	/* the affinity cache checks the set at its next use */
	rp->aff_stale = true;
	rp->plan_until = until;
	rp->plan_epoch = e->epoch;
}

/* Smooth weighted round-robin (nginx) over the plan's candidates: each
 * gains its effective weight, the largest (first on ties) is chosen and
 * loses the total. From a restart the picks repeat with period
 * sum(weights), each member exactly weight times per period; a replayable
 * period is recorded once, then replayed in O(1). Returns a candidate.
 */
static uint32_t route_rr(struct route_pool *rp)
{
	uint32_t i, best = 0;
	int64_t total = 0;

	if (rp->sched_len && rp->sched_rec == rp->sched_len) {
		best = rp->sched[rp->sched_pos];
		if (++rp->sched_pos == rp->sched_len)
			rp->sched_pos = 0;
		return best;
	}
	for (i = 0; i < rp->n_cand; i++) {
		struct route_cand *c = &rp->cand[i];

		c->cur += c->ew;
		total += c->ew;
		if (c->cur > rp->cand[best].cur)
			best = i;
	}
	rp->cand[best].cur -= total;
	if (rp->sched_len)
		rp->sched[rp->sched_rec++] = (uint8_t)best;
	return best;
}

/* Weighted rendezvous hashing over the plan's rendezvous set: the winner
 * maximises w / -ln(u), u = mix(key_hash ^ backend_hrw) mapped into (0, 1).
 * With equal weights that is the largest mix, so no logarithm is computed.
 * Returns an index into rp->hrw (the set is never empty here).
 */
static uint32_t route_affinity(const struct route_pool *rp, uint64_t kh)
{
	uint32_t i, best = 0;
	uint64_t top = 0, h;
	double best_s = -1.0, s, u;

	if (rp->hrw_equal) {
		for (i = 0; i < rp->n_hrw; i++) {
			h = route_mix(kh ^ rp->hrw[i].hrw);
			if (h > top || i == 0) {
				top = h;
				best = i;
			}
		}
		return best;
	}
	for (i = 0; i < rp->n_hrw; i++) {
		h = route_mix(kh ^ rp->hrw[i].hrw);
		u = ((double)(h >> 11) + 0.5) * 0x1p-53;
		/* -ln(u) >= 1 - u: skip the logarithm when even the upper
		 * bound w / (1 - u) cannot win (the result is unchanged)
		 */
		if ((double)rp->hrw[i].w <= best_s * (1.0 - u))
			continue;
		s = (double)rp->hrw[i].w / -log(u);
		if (s > best_s) {
			best_s = s;
			best = i;
		}
	}
	return best;
}

/* The rendezvous winner of key hash <kh> in the plan's set, an index into
 * rp->hrw: from the pool's affinity cache when it holds <kh> for the
 * current set, else route_affinity(), whose answer is then cached. The
 * cache is 2-way set associative (two slots per set, the most recently
 * used first), so two hot keys sharing a set do not evict each other.
 * Same answer as route_affinity() either way; O(1) on a hit.
 */
static inline uint32_t route_affinity_cached(const struct route_engine *e,
					     struct route_pool *rp, uint64_t kh)
{
	struct route_aff_slot *set = NULL, tmp;
	uint32_t i;

	if (rp->n_hrw == 1)
		return 0;
	if (rp->aff && !e->aff_off) {
		if (rp->aff_stale)
			route_aff_sync(rp);
		set = &rp->aff[(kh << 1) & rp->aff_mask];
		if (set[0].kh == kh && set[0].gen == rp->aff_gen)
			return set[0].i;
		if (set[1].kh == kh && set[1].gen == rp->aff_gen) {
			tmp = set[1];
			set[1] = set[0];
			set[0] = tmp;
			return tmp.i;
		}
	}
	i = route_affinity(rp, kh);
	if (set) {
		set[1] = set[0];
		set[0].kh = kh;
		set[0].gen = rp->aff_gen;
		set[0].i = i;
	}
	return i;
}

/* Fills <out> for member <k> of <rp> and counts the decision. */
static void route_pick(struct route_engine *e, struct route_pool *rp,
		       uint32_t k, enum route_reason reason, uint64_t now_ms,
		       struct route_decision *out)
{
	const struct route_member *m = &rp->m[k];
	struct route_backend *bk = &e->backends[m->backend];

	bk->c.decisions++;
	switch (reason) {
	case ROUTE_PROBE: {
		struct breaker_event ev = {0};

		breaker_probe_sent(&bk->br, now_ms, &ev);
		route_breaker_done(e, m->backend, &ev);
		bk->c.probes++;
		rp->c.probe++;
		break;
	}
	case ROUTE_AFFINITY:
		rp->c.affinity++;
		break;
	case ROUTE_SPILLOVER:
		rp->c.spillover++;
		break;
	default:
		rp->c.weighted++;
		break;
	}
	rp->cur_priority = m->priority;
	out->reason = reason;
	out->backend = (int)m->backend;
	out->name = bk->cfg->name;
	out->name_len = bk->name_len;
}

void route_decide(struct route_engine *e, const char *pool, size_t pool_len,
		  const void *key, size_t key_len, uint64_t now_ms,
		  struct route_decision *out)
{
	struct route_pool *rp;
	uint64_t ms;
	uint32_t i;
	int p;

	out->reason = ROUTE_EXHAUSTED;
	out->backend = -1;
	out->name = NULL;
	out->name_len = 0;
	out->retry_after_s = 0;
	e->c.decisions++;
	p = route_table_find(&e->pool_tab, pool, pool_len);
	if (p < 0) {
		e->c.unknown_pool++;
		out->reason = ROUTE_UNKNOWN_POOL;
		return;
	}
	rp = &e->pools[p];
	if (rp->plan_epoch != e->epoch || now_ms >= rp->plan_until)
		route_plan(e, rp, now_ms);
	if (rp->plan_probe != ROUTE_NONE) {
		route_pick(e, rp, rp->plan_probe, ROUTE_PROBE, now_ms, out);
		return;
	}
	if (rp->n_cand) {
		if (key_len) {
			i = route_affinity_cached(
				e, rp,
				route_hash(key, key_len, ROUTE_SEED_KEY));
			if (rp->hrw[i].cand != ROUTE_NONE) {
				route_pick(e, rp, rp->hrw[i].k, ROUTE_AFFINITY,
					   now_ms, out);
				return;
			}
		}
		i = rp->cand[route_rr(rp)].k;
		route_pick(e, rp, i,
			   rp->plan_prio == rp->best_priority ? ROUTE_WEIGHTED
							      : ROUTE_SPILLOVER,
			   now_ms, out);
		return;
	}
	rp->c.exhausted++;
	rp->cur_priority = 0;
	/* whole seconds, rounded up, at least 1; 1 when nothing will expire
	 * by itself (every member drained, disabled or down)
	 */
	ms = rp->plan_until == UINT64_MAX || rp->plan_until <= now_ms
		     ? 1
		     : rp->plan_until - now_ms;
	ms = (ms + 999) / 1000;
	out->retry_after_s = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* ---------------------------------------------------------------- */
/* learning                                                          */

static void route_count_status(struct route_backend *bk, int status,
			       bool throttle)
{
	if (status == 0)
		bk->c.results_none++;
	else if (throttle)
		bk->c.throttles++;
	else if (status >= 200 && status < 300)
		bk->c.results_2xx++;
	else if (status >= 300 && status < 400)
		bk->c.results_3xx++;
	else if (status >= 400 && status < 500)
		bk->c.results_4xx++;
	else if (status >= 500)
		bk->c.results_5xx++;
}

/* Records the remaining requests and tokens of result <r> (not of a
 * throttle: its "remaining: 0" describes the window its cooldown already
 * waits out; kept, it would hold the weight down after the cooldown ends).
 */
static void route_learn_headroom(struct route_engine *e,
				 struct route_backend *bk,
				 const struct route_result *r, bool throttle,
				 uint64_t now_ms)
{
	uint32_t hr = route_headroom(bk, now_ms, NULL);

	if (r->remaining_requests >= 0 && !throttle) {
		bk->rem_req = r->remaining_requests;
		bk->rem_req_at = now_ms;
	}
	if (r->remaining_tokens >= 0 && !throttle) {
		bk->rem_tok = r->remaining_tokens;
		bk->rem_tok_at = now_ms;
	}
	/* plans cache weight x headroom: a new factor invalidates them (a
	 * refreshed value moves its staleness later, and plans are rebuilt
	 * at the earlier time anyway)
	 */
	if (route_headroom(bk, now_ms, NULL) != hr)
		e->epoch++;
}

/* Adds <ms> to histogram <h>; a negative <ms> (unknown) is not counted. */
static void route_latency_add(struct route_latency *h, int64_t ms)
{
	static const uint64_t bounds[] = ROUTE_LAT_BOUNDS_MS;
	int i;

	if (ms < 0)
		return;
	for (i = 0; (uint64_t)ms > bounds[i]; i++)
		;
	h->bucket[i]++;
	h->count++;
	h->sum_ms += (uint64_t)ms;
}

/* Adds the durations of result <r> that it has to the latency histograms
 * of <bk>. A status-0 result has no response, so no duration.
 */
static void route_learn_latency(struct route_backend *bk,
				const struct route_result *r)
{
	if (r->status == 0)
		return;
	route_latency_add(&bk->lat, r->duration_ms);
	route_latency_add(&bk->dlat, r->since_decision_ms);
}

/* Feeds result <r> to backend <b>'s breaker as a throttle, a fault (no
 * response, a failure status, a slow call) or a success.
 */
static void route_learn_breaker(struct route_engine *e, uint32_t b,
				const struct route_result *r, bool throttle,
				uint64_t now_ms)
{
	struct route_backend *bk = &e->backends[b];
	const struct cfg_breaker *c = &bk->cfg->breaker;
	struct breaker_event ev = {0};
	char desc[32];
	bool slow;

	/* results carry no probe id: any result in half-open answers the
	 * oldest probe
	 */
	if (bk->br.state == BREAKER_ST_HALF_OPEN)
		breaker_probe_answered(&bk->br, &ev);
	if (throttle) {
		breaker_on_throttle(&bk->br, r->status, r->retry_after_ms,
				    now_ms, &e->rng, &ev);
		route_breaker_done(e, b, &ev);
		return;
	}
	slow = c->slow_call_ms && r->duration_ms > (int64_t)c->slow_call_ms;
	if (slow)
		bk->c.slow_calls++;
	desc[0] = '\0';
	if (r->status == 0)
		snprintf(desc, sizeof(desc), "no response");
	else if (cfg_status_has(&c->failure_status, r->status))
		snprintf(desc, sizeof(desc), "status %d", r->status);
	else if (slow)
		snprintf(desc, sizeof(desc), "slow %lldms",
			 (long long)r->duration_ms);
	if (desc[0])
		breaker_on_fault(&bk->br, now_ms, r->retry_after_ms, desc, &ev);
	else
		breaker_on_success(&bk->br, r->status, now_ms, &ev);
	route_breaker_done(e, b, &ev);
}

int route_learn(struct route_engine *e, const struct route_result *r,
		uint64_t now_ms)
{
	struct route_backend *bk;
	bool throttle;
	int b;

	e->c.results++;
	b = route_table_find(&e->backend_tab, r->backend, r->backend_len);
	if (b < 0) {
		e->c.unknown_backend++;
		return -1;
	}
	if (r->status != 0 &&
	    (r->status < CFG_STATUS_MIN || r->status > CFG_STATUS_MAX)) {
		e->c.invalid_status++;
		return -1;
	}
	bk = &e->backends[b];
	route_advance(e, (uint32_t)b, now_ms);
	throttle = cfg_status_has(&bk->cfg->breaker.throttle_status, r->status);
	route_learn_headroom(e, bk, r, throttle, now_ms);
	route_count_status(bk, r->status, throttle);
	route_learn_latency(bk, r);
	route_learn_breaker(e, (uint32_t)b, r, throttle, now_ms);
	return b;
}

uint64_t route_tick(struct route_engine *e, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;
	uint32_t b;

	for (b = 0; b < e->n_backends; b++) {
		struct route_backend *bk = &e->backends[b];

		route_advance(e, b, now_ms);
		next = route_min64(next, breaker_deadline(&bk->br));
	}
	return next;
}

/* ---------------------------------------------------------------- */
/* lookups                                                           */

int route_backend_index(const struct route_engine *e, const char *name,
			size_t len)
{
	return route_table_find(&e->backend_tab, name, len);
}

int route_pool_index(const struct route_engine *e, const char *name, size_t len)
{
	return route_table_find(&e->pool_tab, name, len);
}

uint32_t route_backend_count(const struct route_engine *e)
{
	return e->n_backends;
}

uint32_t route_pool_count(const struct route_engine *e)
{
	return e->n_pools;
}

const char *route_backend_name(const struct route_engine *e, int b)
{
	return route_backend_ok(e, b) ? e->backends[b].cfg->name : NULL;
}

/* ---------------------------------------------------------------- */
/* for the engine's other files (route-priv.h)                       */

uint64_t route_name_hash(const char *name, size_t len, uint64_t seed)
{
	return route_hash(name, len, seed);
}

int route_table_lookup(const struct route_table *t, const char *name,
		       size_t len)
{
	return route_table_find(t, name, len);
}

uint32_t route_headroom_now(const struct route_backend *bk, uint64_t now_ms)
{
	return route_headroom(bk, now_ms, NULL);
}

/* Routing engine: pools, priority groups, weights, affinity, breakers. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

/* Fixed hash seeds: every agent node must map a key to the same backend, so
 * these never come from the PRNG.
 */
#define ROUTE_SEED_KEY	0x6a09e667f3bcc908ULL /* affinity key hash */
#define ROUTE_SEED_HRW	0xbb67ae8584caa73bULL /* per-backend HRW value */
#define ROUTE_SEED_NAME 0x3c6ef372fe94f82bULL /* name lookup tables */
#define ROUTE_GOLDEN	0x9e3779b97f4a7c15ULL
#define ROUTE_NONE	UINT32_MAX
#define ROUTE_SCHED_MAX 1024 /* longest recorded round-robin period */

/* One bucket of a backend's sliding fault window. */
struct route_bucket {
	uint64_t epoch;	 /* now_ms / width when the bucket was last reset */
	uint32_t faults; /* faults in the bucket */
	uint32_t calls;	 /* faults + successes (throttles are neither) */
};

/* Run-time state of one backend; follows the backend's name on reload. */
struct route_backend {
	/* hot: read for each member when a plan is built */
	enum route_state state;
	bool disabled;		       /* operator drain */
	bool down;		       /* HAProxy DOWN/MAINT */
	uint32_t n_probes;	       /* half-open: probes in flight */
	uint64_t until_ms;	       /* open/cooling: when half-open begins */
	const struct cfg_backend *cfg; /* in the applied cfg */
	int64_t rem_req;	       /* last remaining requests, -1 none */
	int64_t rem_tok;	       /* last remaining tokens, -1 none */
	uint64_t rem_req_at;	       /* when rem_req was learned */
	uint64_t rem_tok_at;	       /* when rem_tok was learned */
	/* cold */
	size_t name_len;     /* strlen(cfg->name) */
	uint64_t hrw;	     /* rendezvous value derived from the name */
	uint32_t probe_head; /* ring index of the oldest probe */
	uint64_t probe_at[ROUTE_PROBES_MAX]; /* probe send times, a ring */
	uint32_t consecutive_trips;  /* fault trips since the last close */
	uint32_t consecutive_faults; /* faults since the last success */
	uint32_t window_width; /* ms per bucket the window was filled at */
	struct route_bucket window[ROUTE_WINDOW_BUCKETS];
	char why[ROUTE_WHY_MAX]; /* last transition reason */
	struct route_backend_counters c;
};

/* One member of a pool, in priority order. */
struct route_member {
	uint32_t backend;    /* engine backend index */
	uint32_t priority;   /* group: lower is used first */
	uint32_t group_end;  /* index past the last member of this group */
	uint32_t cfg_weight; /* as configured */
	uint32_t weight;     /* in force: cfg_weight or the override */
	bool overridden;     /* weight set by route_set_weight() */
};

/* A closed, available member of the plan's group: the round-robin set. */
struct route_cand {
	int64_t ew;  /* effective weight: weight x headroom (per mille) */
	int64_t cur; /* smooth weighted round-robin current weight */
	uint32_t k;  /* member index */
};

/* A member of the plan's group taking part in rendezvous hashing. */
struct route_hrw {
	uint64_t hrw;  /* the backend's rendezvous value */
	uint32_t w;    /* weight in force */
	uint32_t k;    /* member index */
	uint32_t cand; /* index in the round-robin set, ROUTE_NONE if out */
};

/* Run-time state of one pool; counters and overrides follow its name. */
struct route_pool {
	const struct cfg_pool *cfg;
	size_t name_len;
	uint32_t n;		/* members */
	struct route_member *m; /* slice of route_engine.members */
	uint32_t best_priority; /* lowest configured priority */
	uint32_t cur_priority;	/* group of the last decision, 0 none */
	/* decision plan (route_plan()), reused while valid */
	uint64_t plan_epoch; /* e->epoch when built, 0 never */
	/* first time at which time alone may change the plan; when
	 * exhausted, the earliest time a member may be available */
	uint64_t plan_until;
	uint32_t plan_probe; /* member to probe, ROUTE_NONE */
	uint32_t plan_prio;  /* priority of the group, 0 exhausted */
	uint32_t n_cand;
	struct route_cand *cand; /* n slots */
	uint32_t n_hrw;
	struct route_hrw *hrw; /* n slots */
	bool hrw_equal;	       /* every rendezvous weight is the same */
	uint64_t rr_sig;       /* set and weights cand[].cur belong to */
	uint32_t sched_len;    /* replayable period, 0 none */
	uint32_t sched_rec;    /* picks recorded of that period */
	uint32_t sched_pos;    /* replay position */
	uint8_t *sched;	       /* ROUTE_SCHED_MAX candidate indexes */
	struct route_pool_counters c;
};

/* Open-addressing name table (linear probing), built on apply. */
struct route_slot {
	const char *name; /* NULL: empty */
	uint32_t len;
	uint32_t idx;
};

struct route_table {
	uint32_t mask;
	struct route_slot *slot;
};

/* The engine: arrays built by route_apply(), the PRNG, the hook. */
struct route_engine {
	const struct cfg *cfg; /* in force, NULL before the first */
	uint32_t n_backends;
	uint32_t n_pools;
	struct route_backend *backends;
	struct route_pool *pools;
	struct route_member *members; /* every pool's members */
	struct route_cand *cands;     /* every pool's plan slots */
	struct route_hrw *hrws;
	uint8_t *scheds; /* ROUTE_SCHED_MAX per pool */
	uint64_t epoch;	 /* moves on anything a plan depends on */
	struct route_table backend_tab;
	struct route_table pool_tab;
	uint64_t rng; /* splitmix64 state: jitter only */
	route_hook_fn hook;
	void *hook_arg;
	struct route_engine_counters c;
};

/* ---------------------------------------------------------------- */
/* hashing, PRNG, small helpers                                      */

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

/* splitmix64: the engine's only randomness, seeded by route_new(). */
static uint64_t route_rand(struct route_engine *e)
{
	uint64_t z = (e->rng += ROUTE_GOLDEN);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t route_min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* now + d, saturated. */
static inline uint64_t route_after(uint64_t now, uint64_t d)
{
	return now > UINT64_MAX - d ? UINT64_MAX : now + d;
}

/* Writes a duration as "10s" when whole seconds, else "1500ms". */
static void route_fmt_ms(char *buf, size_t size, uint64_t ms)
{
	if (ms >= 1000 && ms % 1000 == 0)
		snprintf(buf, size, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, size, "%llums", (unsigned long long)ms);
}

/* ---------------------------------------------------------------- */
/* name tables                                                       */

/* Allocates a table for <n> names. Returns 0 or -1. */
static int route_table_init(struct route_table *t, uint32_t n)
{
	uint32_t size = 2;

	while (size < 2 * (uint64_t)n)
		size *= 2;
	t->slot = calloc(size, sizeof(*t->slot));
	if (!t->slot)
		return -1;
	t->mask = size - 1;
	return 0;
}

/* Adds <name> as <idx>; a duplicate keeps the first. */
static void route_table_add(struct route_table *t, const char *name, size_t len,
			    uint32_t idx)
{
	uint32_t i = (uint32_t)route_hash(name, len, ROUTE_SEED_NAME) & t->mask;

	for (; t->slot[i].name; i = (i + 1) & t->mask)
		if (t->slot[i].len == len &&
		    memcmp(t->slot[i].name, name, len) == 0)
			return;
	t->slot[i].name = name;
	t->slot[i].len = (uint32_t)len;
	t->slot[i].idx = idx;
}

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
	for (i = 0; i < e->n_backends; i++)
		route_backend_counters_clear(&e->backends[i].c);
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
	switch (s) {
	case ROUTE_ST_CLOSED:
		return "closed";
	case ROUTE_ST_OPEN:
		return "open";
	case ROUTE_ST_COOLING:
		return "cooling";
	case ROUTE_ST_HALF_OPEN:
		return "half-open";
	}
	return "?";
}

/* ---------------------------------------------------------------- */
/* breaker: the state machine and its inputs                        */

/* Probes allowed in flight while half-open: cfg clamped to 1..MAX. */
static inline uint32_t route_probe_limit(const struct route_backend *bk)
{
	uint32_t n = bk->cfg->breaker.probe_requests;

	if (n < 1)
		return 1;
	return n > ROUTE_PROBES_MAX ? ROUTE_PROBES_MAX : n;
}

static inline uint64_t route_probe_timeout(const struct route_backend *bk)
{
	uint32_t t = bk->cfg->breaker.probe_timeout_ms;

	return t ? t : ROUTE_PROBE_TIMEOUT_DEF;
}

/* When the oldest probe in flight is released (UINT64_MAX: none). */
static inline uint64_t route_probe_deadline(const struct route_backend *bk)
{
	if (!bk->n_probes)
		return UINT64_MAX;
	return route_after(bk->probe_at[bk->probe_head],
			   route_probe_timeout(bk));
}

static void route_probe_push(struct route_engine *e, struct route_backend *bk,
			     uint64_t now_ms)
{
	if (bk->n_probes >= ROUTE_PROBES_MAX)
		return;
	e->epoch++;
	bk->probe_at[(bk->probe_head + bk->n_probes) % ROUTE_PROBES_MAX] =
		now_ms;
	bk->n_probes++;
}

static void route_probe_pop(struct route_engine *e, struct route_backend *bk)
{
	if (!bk->n_probes)
		return;
	e->epoch++;
	bk->probe_head = (bk->probe_head + 1) % ROUTE_PROBES_MAX;
	bk->n_probes--;
}

static void route_window_clear(struct route_backend *bk)
{
	memset(bk->window, 0, sizeof(bk->window));
}

/* Width of one window bucket: failure_interval / ROUTE_WINDOW_BUCKETS. */
static inline uint32_t route_window_width(const struct route_backend *bk)
{
	uint32_t w =
		bk->cfg->breaker.failure_interval_ms / ROUTE_WINDOW_BUCKETS;

	return w ? w : 1;
}

/* Records one call (a fault or a success) at <now_ms>. */
static void route_window_add(struct route_backend *bk, uint64_t now_ms,
			     bool fault)
{
	uint32_t width = route_window_width(bk);
	uint64_t epoch = now_ms / width;
	struct route_bucket *b = &bk->window[epoch % ROUTE_WINDOW_BUCKETS];

	if (bk->window_width != width) {
		route_window_clear(bk);
		bk->window_width = width;
	}
	if (b->epoch != epoch) {
		b->epoch = epoch;
		b->faults = 0;
		b->calls = 0;
	}
	b->calls++;
	if (fault)
		b->faults++;
}

/* Sums the buckets of the last ROUTE_WINDOW_BUCKETS widths: a call at t is
 * counted while floor(now/w) - floor(t/w) < ROUTE_WINDOW_BUCKETS.
 */
static void route_window_sum(const struct route_backend *bk, uint64_t now_ms,
			     uint32_t *faults, uint32_t *calls)
{
	uint64_t epoch = now_ms / route_window_width(bk);
	uint32_t i;

	*faults = 0;
	*calls = 0;
	if (bk->window_width != route_window_width(bk))
		return;
	for (i = 0; i < ROUTE_WINDOW_BUCKETS; i++) {
		const struct route_bucket *b = &bk->window[i];

		if (b->epoch <= epoch &&
		    epoch - b->epoch < ROUTE_WINDOW_BUCKETS) {
			*faults += b->faults;
			*calls += b->calls;
		}
	}
}

/* Legal breaker transitions, one bit per destination state. A state may
 * be re-entered (a new deadline); the hook only sees real changes.
 */
static bool route_transition_ok(enum route_state from, enum route_state to)
{
	static const unsigned legal[] = {
		[ROUTE_ST_CLOSED] = 1u << ROUTE_ST_CLOSED |
				    1u << ROUTE_ST_OPEN |
				    1u << ROUTE_ST_COOLING,
		[ROUTE_ST_OPEN] = 1u << ROUTE_ST_OPEN |
				  1u << ROUTE_ST_HALF_OPEN |
				  1u << ROUTE_ST_CLOSED,
		[ROUTE_ST_COOLING] =
			1u << ROUTE_ST_COOLING | 1u << ROUTE_ST_OPEN |
			1u << ROUTE_ST_HALF_OPEN | 1u << ROUTE_ST_CLOSED,
		[ROUTE_ST_HALF_OPEN] =
			1u << ROUTE_ST_CLOSED | 1u << ROUTE_ST_OPEN |
			1u << ROUTE_ST_COOLING | 1u << ROUTE_ST_HALF_OPEN,
	};

	return (unsigned)from < sizeof(legal) / sizeof(legal[0]) &&
	       (legal[from] >> to & 1u);
}

/* The breaker's one transition function: moves backend <b> to <to> with
 * deadline <until_ms> (open/cooling only) and reason <why>, clears what the
 * new state must start without, and reports a change to the hook.
 */
static void route_set_state(struct route_engine *e, uint32_t b,
			    enum route_state to, uint64_t until_ms,
			    const char *why)
{
	struct route_backend *bk = &e->backends[b];
	enum route_state from = bk->state;

	assert(route_transition_ok(from, to));
	e->epoch++;
	bk->state = to;
	bk->until_ms =
		to == ROUTE_ST_OPEN || to == ROUTE_ST_COOLING ? until_ms : 0;
	/* probes of a previous half-open period no longer hold a slot */
	bk->n_probes = 0;
	bk->probe_head = 0;
	if (to == ROUTE_ST_OPEN || to == ROUTE_ST_CLOSED) {
		route_window_clear(bk);
		bk->consecutive_faults = 0;
	}
	snprintf(bk->why, sizeof(bk->why), "%s", why);
	if (from != to && e->hook)
		e->hook(e->hook_arg, (int)b, from, to, bk->why);
}

/* Releases the probes of backend <b> older than probe_timeout. */
static void route_probe_expire(struct route_engine *e, struct route_backend *bk,
			       uint64_t now_ms)
{
	while (bk->n_probes && route_probe_deadline(bk) <= now_ms) {
		route_probe_pop(e, bk);
		bk->c.probe_timeouts++;
	}
}

/* Applies passed deadlines of backend <b>: open/cooling end -> half-open,
 * probe timeouts. Cheap when closed.
 */
static void route_advance_slow(struct route_engine *e, uint32_t b,
			       uint64_t now_ms)
{
	struct route_backend *bk = &e->backends[b];

	if ((bk->state == ROUTE_ST_OPEN || bk->state == ROUTE_ST_COOLING) &&
	    now_ms >= bk->until_ms)
		route_set_state(e, b, ROUTE_ST_HALF_OPEN, 0,
				bk->state == ROUTE_ST_OPEN ? "trip over"
							   : "cooldown over");
	if (bk->state == ROUTE_ST_HALF_OPEN)
		route_probe_expire(e, bk, now_ms);
}

static inline void route_advance(struct route_engine *e, uint32_t b,
				 uint64_t now_ms)
{
	if (e->backends[b].state != ROUTE_ST_CLOSED)
		route_advance_slow(e, b, now_ms);
}

/* Duration of the next fault trip: trip_duration doubled per consecutive
 * trip, capped at max(max_trip_duration, trip_duration) and the ceiling.
 */
static uint64_t route_trip_ms(const struct route_backend *bk)
{
	const struct cfg_breaker *c = &bk->cfg->breaker;
	uint64_t d = c->trip_duration_ms, max = c->max_trip_duration_ms;
	uint32_t n;

	if (max < d)
		max = d;
	for (n = bk->consecutive_trips; n && d < max; n--)
		d *= 2;
	return route_min64(route_min64(d, max), ROUTE_WAIT_CEIL_MS);
}

/* A server-requested wait capped at max_retry_after (0: no cap but the
 * ceiling). Sets *capped.
 */
static uint64_t route_cap_wait(const struct cfg_breaker *c, int64_t wait,
			       bool *capped)
{
	uint64_t cap = c->max_retry_after_ms ? c->max_retry_after_ms
					     : ROUTE_WAIT_CEIL_MS;

	cap = route_min64(cap, ROUTE_WAIT_CEIL_MS);
	*capped = (uint64_t)wait > cap;
	return *capped ? cap : (uint64_t)wait;
}

/* Opens the circuit of backend <b> after a fault. The duration is the
 * server's capped wait when accept_retry_after and <retry_after_ms> >= 0
 * (APIM's acceptRetryAfter), else route_trip_ms(). <why> is the cause.
 */
static void route_trip_fault(struct route_engine *e, uint32_t b,
			     uint64_t now_ms, int64_t retry_after_ms,
			     const char *why)
{
	struct route_backend *bk = &e->backends[b];
	const struct cfg_breaker *c = &bk->cfg->breaker;
	char text[ROUTE_WHY_MAX], d[24];
	uint64_t dur;
	bool capped;

	if (c->accept_retry_after && retry_after_ms >= 0)
		dur = route_cap_wait(c, retry_after_ms, &capped);
	else
		dur = route_trip_ms(bk);
	route_fmt_ms(d, sizeof(d), dur);
	snprintf(text, sizeof(text), "%s, open %s", why, d);
	if (bk->consecutive_trips < UINT32_MAX)
		bk->consecutive_trips++;
	bk->c.trips++;
	route_set_state(e, b, ROUTE_ST_OPEN, route_after(now_ms, dur), text);
}

/* A throttle (status in throttle_status): cools the backend down for the
 * server's wait (or trip_duration), capped, plus jitter in
 * [0, min(wait / 10, 1000)] ms. A longer wait extends a running cooldown
 * or trip; a throttle is never a fault.
 */
static void route_on_throttle(struct route_engine *e, uint32_t b,
			      const struct route_result *r, uint64_t now_ms)
{
	struct route_backend *bk = &e->backends[b];
	const struct cfg_breaker *c = &bk->cfg->breaker;
	uint64_t wait, jmax, until;
	char why[ROUTE_WHY_MAX];
	bool capped = false;

	if (c->accept_retry_after && r->retry_after_ms >= 0) {
		wait = route_cap_wait(c, r->retry_after_ms, &capped);
		if (capped)
			snprintf(why, sizeof(why),
				 "%d retry-after %lldms capped %llums",
				 r->status, (long long)r->retry_after_ms,
				 (unsigned long long)wait);
		else
			snprintf(why, sizeof(why), "%d retry-after %llums",
				 r->status, (unsigned long long)wait);
	} else {
		wait = route_min64(c->trip_duration_ms, ROUTE_WAIT_CEIL_MS);
		snprintf(why, sizeof(why), "%d %s, %llums", r->status,
			 c->accept_retry_after ? "no retry-after"
					       : "retry-after ignored",
			 (unsigned long long)wait);
	}
	jmax = route_min64(wait / 10, 1000);
	until = route_after(now_ms,
			    wait + (jmax ? route_rand(e) % (jmax + 1) : 0));
	switch (bk->state) {
	case ROUTE_ST_CLOSED:
	case ROUTE_ST_HALF_OPEN:
		bk->c.cooldowns++;
		route_set_state(e, b, ROUTE_ST_COOLING, until, why);
		break;
	case ROUTE_ST_COOLING:
		if (until > bk->until_ms)
			route_set_state(e, b, ROUTE_ST_COOLING, until, why);
		break;
	case ROUTE_ST_OPEN:
		if (until > bk->until_ms) {
			bk->until_ms = until;
			e->epoch++;
		}
		break;
	}
}

/* A fault (status 0, failure status, slow call, external event) described
 * by <desc>. Closed: window and streak, trip on any configured condition
 * (count, percentage, consecutive). Half-open: re-open, longer. Open or
 * cooling: a straggler, ignored.
 */
static void route_on_fault(struct route_engine *e, uint32_t b, uint64_t now_ms,
			   int64_t retry_after_ms, const char *desc)
{
	struct route_backend *bk = &e->backends[b];
	const struct cfg_breaker *c = &bk->cfg->breaker;
	char why[ROUTE_WHY_MAX], iv[24];
	uint32_t faults, calls;

	bk->c.faults++;
	if (bk->state == ROUTE_ST_HALF_OPEN) {
		snprintf(why, sizeof(why), "probe failed: %s", desc);
		route_trip_fault(e, b, now_ms, retry_after_ms, why);
		return;
	}
	if (bk->state != ROUTE_ST_CLOSED)
		return;
	route_window_add(bk, now_ms, true);
	if (bk->consecutive_faults < UINT32_MAX)
		bk->consecutive_faults++;
	route_window_sum(bk, now_ms, &faults, &calls);
	route_fmt_ms(iv, sizeof(iv), c->failure_interval_ms);
	if (c->failure_count && faults >= c->failure_count) {
		snprintf(why, sizeof(why), "%u fault%s in %s", faults,
			 faults == 1 ? "" : "s", iv);
	} else if (c->failure_percentage &&
		   calls >= (c->minimum_requests ? c->minimum_requests : 1) &&
		   (uint64_t)faults * 100 >=
			   (uint64_t)c->failure_percentage * calls) {
		snprintf(why, sizeof(why), "%u%% faults (%u of %u) in %s",
			 (unsigned)((uint64_t)faults * 100 / calls), faults,
			 calls, iv);
	} else if (c->consecutive_failures &&
		   bk->consecutive_faults >= c->consecutive_failures) {
		snprintf(why, sizeof(why), "%u consecutive faults",
			 bk->consecutive_faults);
	} else {
		return;
	}
	route_trip_fault(e, b, now_ms, retry_after_ms, why);
}

/* A success (the backend answered, including 4xx not listed). Half-open:
 * closes the circuit and resets the trip growth.
 */
static void route_on_success(struct route_engine *e, uint32_t b, int status,
			     uint64_t now_ms)
{
	struct route_backend *bk = &e->backends[b];
	char why[ROUTE_WHY_MAX];

	if (bk->state == ROUTE_ST_HALF_OPEN) {
		snprintf(why, sizeof(why), "probe succeeded: %d", status);
		bk->consecutive_trips = 0;
		bk->c.recoveries++;
		route_set_state(e, b, ROUTE_ST_CLOSED, 0, why);
		return;
	}
	if (bk->state != ROUTE_ST_CLOSED)
		return;
	route_window_add(bk, now_ms, false);
	bk->consecutive_faults = 0;
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

/* Member is administratively eligible: weight > 0, not disabled, not down. */
static inline bool route_eligible(const struct route_member *m,
				  const struct route_backend *bk)
{
	return m->weight && !bk->disabled && !bk->down;
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
			if (bk->down)
				continue;
			route_advance(e, m->backend, now_ms);
			switch (bk->state) {
			case ROUTE_ST_CLOSED:
				f = route_headroom(bk, now_ms, &until);
				full = full && f == ROUTE_HEADROOM_SCALE;
				h->cand = rp->n_cand;
				c = &rp->cand[rp->n_cand++];
				c->k = k;
				c->ew = (int64_t)m->weight * f;
				sig = (sig ^ ((uint64_t)k << 32 | m->weight)) *
				      ROUTE_GOLDEN;
				break;
			case ROUTE_ST_HALF_OPEN:
				if (bk->n_probes < route_probe_limit(bk)) {
					if (rp->plan_probe == ROUTE_NONE)
						rp->plan_probe = k;
				} else {
					until = route_min64(
						until,
						route_probe_deadline(bk));
				}
				break;
			default:
				until = route_min64(until, bk->until_ms);
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

/* Fills <out> for member <k> of <rp> and counts the decision. */
static void route_pick(struct route_engine *e, struct route_pool *rp,
		       uint32_t k, enum route_reason reason, uint64_t now_ms,
		       struct route_decision *out)
{
	const struct route_member *m = &rp->m[k];
	struct route_backend *bk = &e->backends[m->backend];

	bk->c.decisions++;
	switch (reason) {
	case ROUTE_PROBE:
		route_probe_push(e, bk, now_ms);
		bk->c.probes++;
		rp->c.probe++;
		break;
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
			i = route_affinity(
				rp, route_hash(key, key_len, ROUTE_SEED_KEY));
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

void route_learn(struct route_engine *e, const struct route_result *r,
		 uint64_t now_ms)
{
	const struct cfg_breaker *c;
	struct route_backend *bk;
	char desc[32];
	bool throttle, slow;
	uint32_t hr;
	int b;

	e->c.results++;
	b = route_table_find(&e->backend_tab, r->backend, r->backend_len);
	if (b < 0) {
		e->c.unknown_backend++;
		return;
	}
	if (r->status != 0 &&
	    (r->status < CFG_STATUS_MIN || r->status > CFG_STATUS_MAX)) {
		e->c.invalid_status++;
		return;
	}
	bk = &e->backends[b];
	c = &bk->cfg->breaker;
	route_advance(e, (uint32_t)b, now_ms);
	throttle = cfg_status_has(&c->throttle_status, r->status);
	hr = route_headroom(bk, now_ms, NULL);
	/* a throttle's "remaining: 0" describes the window its cooldown
	 * already waits out; kept, it would hold the weight down after the
	 * cooldown ends
	 */
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
	route_count_status(bk, r->status, throttle);
	/* results carry no probe id: any result in half-open answers the
	 * oldest probe
	 */
	if (bk->state == ROUTE_ST_HALF_OPEN)
		route_probe_pop(e, bk);
	if (throttle) {
		route_on_throttle(e, (uint32_t)b, r, now_ms);
		return;
	}
	slow = c->slow_call_ms && r->duration_ms > (int64_t)c->slow_call_ms;
	if (slow)
		bk->c.slow_calls++;
	if (r->status == 0)
		snprintf(desc, sizeof(desc), "no response");
	else if (cfg_status_has(&c->failure_status, r->status))
		snprintf(desc, sizeof(desc), "status %d", r->status);
	else if (slow)
		snprintf(desc, sizeof(desc), "slow %lldms",
			 (long long)r->duration_ms);
	else {
		route_on_success(e, (uint32_t)b, r->status, now_ms);
		return;
	}
	route_on_fault(e, (uint32_t)b, now_ms, r->retry_after_ms, desc);
}

uint64_t route_tick(struct route_engine *e, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;
	uint32_t b;

	for (b = 0; b < e->n_backends; b++) {
		struct route_backend *bk = &e->backends[b];

		route_advance(e, b, now_ms);
		if (bk->state == ROUTE_ST_OPEN || bk->state == ROUTE_ST_COOLING)
			next = route_min64(next, bk->until_ms);
		else if (bk->state == ROUTE_ST_HALF_OPEN)
			next = route_min64(next, route_probe_deadline(bk));
	}
	return next;
}

/* ---------------------------------------------------------------- */
/* configuration                                                     */

struct route_engine *route_new(uint64_t seed)
{
	struct route_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->rng = seed;
	return e;
}

/* Everything route_apply() allocates, swapped in at once. */
struct route_arrays {
	struct route_backend *backends;
	struct route_pool *pools;
	struct route_member *members;
	struct route_cand *cands;
	struct route_hrw *hrws;
	uint8_t *scheds;
	struct route_table backend_tab;
	struct route_table pool_tab;
};

static void route_release(struct route_arrays *a)
{
	free(a->backends);
	free(a->pools);
	free(a->members);
	free(a->cands);
	free(a->hrws);
	free(a->scheds);
	free(a->backend_tab.slot);
	free(a->pool_tab.slot);
}

/* The arrays in force in <e>. */
static struct route_arrays route_arrays_of(const struct route_engine *e)
{
	struct route_arrays a = {
		.backends = e->backends,
		.pools = e->pools,
		.members = e->members,
		.cands = e->cands,
		.hrws = e->hrws,
		.scheds = e->scheds,
		.backend_tab = e->backend_tab,
		.pool_tab = e->pool_tab,
	};

	return a;
}

void route_free(struct route_engine *e)
{
	struct route_arrays a;

	if (!e)
		return;
	a = route_arrays_of(e);
	route_release(&a);
	free(e);
}

void route_set_hook(struct route_engine *e, route_hook_fn fn, void *arg)
{
	e->hook = fn;
	e->hook_arg = arg;
}

/* Checks what route_apply() relies on: member counts and indexes. */
static bool route_cfg_ok(const struct cfg *cfg, uint64_t *n_members)
{
	uint32_t p, i;

	*n_members = 0;
	if (cfg->n_backends && !cfg->backends)
		return false;
	if (cfg->n_pools && !cfg->pools)
		return false;
	for (p = 0; p < cfg->n_pools; p++) {
		const struct cfg_pool *cp = &cfg->pools[p];

		if (cp->n_members > CFG_MEMBERS_MAX ||
		    (cp->n_members && !cp->members))
			return false;
		for (i = 0; i < cp->n_members; i++)
			if (cp->members[i].backend >= cfg->n_backends)
				return false;
		*n_members += cp->n_members;
	}
	return true;
}

/* Fills pool <rp> from <cp>: members stably sorted by priority, groups. */
static void route_pool_build(struct route_pool *rp, const struct cfg_pool *cp,
			     struct route_member *m)
{
	uint32_t i, j, end;

	rp->cfg = cp;
	rp->name_len = strnlen(cp->name, CFG_NAME_MAX - 1);
	rp->n = cp->n_members;
	rp->m = m;
	for (i = 0; i < rp->n; i++) {
		struct route_member tmp = {
			.backend = cp->members[i].backend,
			.priority = cp->members[i].priority,
			.cfg_weight = cp->members[i].weight,
			.weight = cp->members[i].weight,
		};

		/* insertion sort: stable, n <= CFG_MEMBERS_MAX, apply only */
		for (j = i; j > 0 && m[j - 1].priority > tmp.priority; j--)
			m[j] = m[j - 1];
		m[j] = tmp;
	}
	for (i = 0; i < rp->n; i = end) {
		for (end = i; end < rp->n && m[end].priority == m[i].priority;
		     end++)
			;
		for (j = i; j < end; j++)
			m[j].group_end = end;
	}
	rp->best_priority = rp->n ? m[0].priority : 0;
}

/* Carries the state of old backend <o> into new backend <n>. */
static void route_backend_carry(struct route_backend *n,
				const struct route_backend *o)
{
	const struct cfg_backend *cfg = n->cfg;
	size_t name_len = n->name_len;
	uint64_t hrw = n->hrw;

	*n = *o;
	n->cfg = cfg;
	n->name_len = name_len;
	n->hrw = hrw;
	if (n->window_width != route_window_width(n))
		route_window_clear(n);
}

/* Carries counters and weight overrides of old pool <op> into <rp>. */
static void route_pool_carry(struct route_engine *e, struct route_pool *rp,
			     const struct route_pool *op,
			     const struct route_table *bt)
{
	uint32_t i, j;
	int nb;

	rp->c = op->c;
	for (i = 0; i < op->n; i++) {
		const struct route_member *om = &op->m[i];
		const char *name;

		if (!om->overridden)
			continue;
		name = e->cfg->backends[om->backend].name;
		nb = route_table_find(bt, name,
				      e->backends[om->backend].name_len);
		for (j = 0; nb >= 0 && j < rp->n; j++) {
			if (rp->m[j].backend == (uint32_t)nb) {
				rp->m[j].weight = om->weight;
				rp->m[j].overridden = true;
			}
		}
	}
}

int route_apply(struct route_engine *e, const struct cfg *cfg, uint64_t now_ms)
{
	struct route_arrays a = {0}, old;
	struct route_backend *backends;
	struct route_table *bt = &a.backend_tab, *pt = &a.pool_tab;
	uint64_t n_members, off = 0;
	size_t nb, np, nm;
	uint32_t i;
	int o;

	(void)now_ms;
	if (!route_cfg_ok(cfg, &n_members))
		return -1;
	nb = cfg->n_backends ? cfg->n_backends : 1;
	np = cfg->n_pools ? cfg->n_pools : 1;
	nm = n_members ? n_members : 1;
	a.backends = backends = calloc(nb, sizeof(*a.backends));
	a.pools = calloc(np, sizeof(*a.pools));
	a.members = calloc(nm, sizeof(*a.members));
	a.cands = calloc(nm, sizeof(*a.cands));
	a.hrws = calloc(nm, sizeof(*a.hrws));
	a.scheds = calloc(np, ROUTE_SCHED_MAX);
	if (!a.backends || !a.pools || !a.members || !a.cands || !a.hrws ||
	    !a.scheds || route_table_init(bt, cfg->n_backends) < 0 ||
	    route_table_init(pt, cfg->n_pools) < 0)
		goto fail_alloc;
	for (i = 0; i < cfg->n_backends; i++) {
		struct route_backend *bk = &backends[i];

		bk->cfg = &cfg->backends[i];
		bk->name_len = strnlen(bk->cfg->name, CFG_NAME_MAX - 1);
		bk->hrw =
			route_hash(bk->cfg->name, bk->name_len, ROUTE_SEED_HRW);
		route_table_add(bt, bk->cfg->name, bk->name_len, i);
		o = route_table_find(&e->backend_tab, bk->cfg->name,
				     bk->name_len);
		if (o >= 0) {
			route_backend_carry(bk, &e->backends[o]);
			continue;
		}
		bk->state = ROUTE_ST_CLOSED;
		bk->rem_req = -1;
		bk->rem_tok = -1;
		bk->window_width = route_window_width(bk);
	}
	for (i = 0; i < cfg->n_pools; i++) {
		struct route_pool *rp = &a.pools[i];

		route_pool_build(rp, &cfg->pools[i], a.members + off);
		rp->cand = a.cands + off;
		rp->hrw = a.hrws + off;
		rp->sched = a.scheds + (size_t)i * ROUTE_SCHED_MAX;
		off += rp->n;
		route_table_add(pt, rp->cfg->name, rp->name_len, i);
		o = route_table_find(&e->pool_tab, rp->cfg->name, rp->name_len);
		if (o >= 0)
			route_pool_carry(e, rp, &e->pools[o], bt);
	}

	old = route_arrays_of(e);
	route_release(&old);
	e->cfg = cfg;
	e->backends = a.backends;
	e->pools = a.pools;
	e->members = a.members;
	e->cands = a.cands;
	e->hrws = a.hrws;
	e->scheds = a.scheds;
	e->backend_tab = a.backend_tab;
	e->pool_tab = a.pool_tab;
	e->n_backends = cfg->n_backends;
	e->n_pools = cfg->n_pools;
	e->epoch++;
	e->c.reloads++;
	return 0;

fail_alloc:
	route_release(&a);
	return -1;
}

/* ---------------------------------------------------------------- */
/* lookups, overrides, external signals                             */

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

static inline bool route_backend_ok(const struct route_engine *e, int b)
{
	return b >= 0 && (uint32_t)b < e->n_backends;
}

static inline bool route_pool_ok(const struct route_engine *e, int p)
{
	return p >= 0 && (uint32_t)p < e->n_pools;
}

const char *route_backend_name(const struct route_engine *e, int b)
{
	return route_backend_ok(e, b) ? e->backends[b].cfg->name : NULL;
}

int route_set_weight(struct route_engine *e, int p, int b, uint32_t weight)
{
	struct route_pool *rp;
	uint32_t i;
	int found = -1;

	if (!route_pool_ok(e, p) || !route_backend_ok(e, b) ||
	    weight > CFG_WEIGHT_MAX)
		return -1;
	rp = &e->pools[p];
	for (i = 0; i < rp->n; i++) {
		if (rp->m[i].backend == (uint32_t)b) {
			rp->m[i].weight = weight;
			rp->m[i].overridden = true;
			found = 0;
			e->epoch++;
		}
	}
	return found;
}

int route_set_disabled(struct route_engine *e, int b, bool disabled)
{
	if (!route_backend_ok(e, b))
		return -1;
	e->backends[b].disabled = disabled;
	e->epoch++;
	return 0;
}

int route_set_down(struct route_engine *e, int b, bool down)
{
	if (!route_backend_ok(e, b))
		return -1;
	e->backends[b].down = down;
	e->epoch++;
	return 0;
}

int route_trip(struct route_engine *e, int b, uint32_t duration_ms,
	       uint64_t now_ms)
{
	char why[ROUTE_WHY_MAX], d[24];
	uint64_t dur;

	if (!route_backend_ok(e, b))
		return -1;
	dur = route_min64(duration_ms, ROUTE_WAIT_CEIL_MS);
	route_fmt_ms(d, sizeof(d), dur);
	snprintf(why, sizeof(why), "operator trip %s", d);
	route_set_state(e, (uint32_t)b, ROUTE_ST_OPEN, route_after(now_ms, dur),
			why);
	return 0;
}

int route_reset(struct route_engine *e, int b, uint64_t now_ms)
{
	struct route_backend *bk;
	uint32_t p, i;

	(void)now_ms;
	if (!route_backend_ok(e, b))
		return -1;
	bk = &e->backends[b];
	bk->consecutive_trips = 0;
	bk->disabled = false;
	route_set_state(e, (uint32_t)b, ROUTE_ST_CLOSED, 0, "operator reset");
	for (p = 0; p < e->n_pools; p++) {
		struct route_pool *rp = &e->pools[p];

		for (i = 0; i < rp->n; i++) {
			if (rp->m[i].backend != (uint32_t)b)
				continue;
			rp->m[i].weight = rp->m[i].cfg_weight;
			rp->m[i].overridden = false;
		}
	}
	e->epoch++;
	return 0;
}

int route_fault(struct route_engine *e, int b, uint64_t now_ms)
{
	if (!route_backend_ok(e, b))
		return -1;
	route_advance(e, (uint32_t)b, now_ms);
	e->backends[b].c.external_faults++;
	if (e->backends[b].state == ROUTE_ST_HALF_OPEN)
		route_probe_pop(e, &e->backends[b]);
	route_on_fault(e, (uint32_t)b, now_ms, -1, "connection error");
	return 0;
}

/* ---------------------------------------------------------------- */
/* inspection                                                        */

int route_backend_info(struct route_engine *e, int b, uint64_t now_ms,
		       struct route_backend_info *out)
{
	struct route_backend *bk;

	if (!route_backend_ok(e, b))
		return -1;
	route_advance(e, (uint32_t)b, now_ms);
	bk = &e->backends[b];
	memset(out, 0, sizeof(*out));
	out->name = bk->cfg->name;
	out->state = bk->state;
	out->disabled = bk->disabled;
	out->down = bk->down;
	out->why = bk->why;
	out->until_ms = bk->until_ms;
	out->trip_duration_ms = (uint32_t)route_trip_ms(bk);
	out->consecutive_trips = bk->consecutive_trips;
	out->probes_inflight = bk->n_probes;
	out->probe_limit = route_probe_limit(bk);
	route_window_sum(bk, now_ms, &out->window_faults, &out->window_calls);
	out->consecutive_faults = bk->consecutive_faults;
	out->remaining_requests = bk->rem_req;
	out->remaining_tokens = bk->rem_tok;
	out->remaining_requests_age_ms =
		bk->rem_req >= 0 ? (int64_t)(now_ms - bk->rem_req_at) : -1;
	out->remaining_tokens_age_ms =
		bk->rem_tok >= 0 ? (int64_t)(now_ms - bk->rem_tok_at) : -1;
	out->headroom_permille = route_headroom(bk, now_ms, NULL);
	out->counters = bk->c;
	return 0;
}

int route_pool_info(const struct route_engine *e, int p,
		    struct route_pool_info *out)
{
	const struct route_pool *rp;

	if (!route_pool_ok(e, p))
		return -1;
	rp = &e->pools[p];
	memset(out, 0, sizeof(*out));
	out->name = rp->cfg->name;
	out->n_members = rp->n;
	out->best_priority = rp->best_priority;
	out->cur_priority = rp->cur_priority;
	out->counters = rp->c;
	return 0;
}

int route_member_info(struct route_engine *e, int p, uint32_t i,
		      uint64_t now_ms, struct route_member_info *out)
{
	const struct route_member *m;
	const struct route_backend *bk;

	if (!route_pool_ok(e, p) || i >= e->pools[p].n)
		return -1;
	m = &e->pools[p].m[i];
	route_advance(e, m->backend, now_ms);
	bk = &e->backends[m->backend];
	memset(out, 0, sizeof(*out));
	out->backend = (int)m->backend;
	out->priority = m->priority;
	out->cfg_weight = m->cfg_weight;
	out->weight = m->weight;
	out->weight_overridden = m->overridden;
	if (route_eligible(m, bk))
		out->effective_milli =
			m->weight * route_headroom(bk, now_ms, NULL);
	out->available = route_eligible(m, bk) &&
			 (bk->state == ROUTE_ST_CLOSED ||
			  (bk->state == ROUTE_ST_HALF_OPEN &&
			   bk->n_probes < route_probe_limit(bk)));
	return 0;
}

const struct route_engine_counters *route_engine_counters(
	const struct route_engine *e)
{
	return &e->c;
}

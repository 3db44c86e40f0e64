/* Routing engine: pools, priority groups, weights, affinity, breakers. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
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
/* affinity cache slots per pool: ROUTE_AFF_PER_MEMBER per member, rounded
 * up to a power of two, within [ROUTE_AFF_MIN, ROUTE_AFF_MAX]
 */
#define ROUTE_AFF_PER_MEMBER 32
#define ROUTE_AFF_MIN	     256
#define ROUTE_AFF_MAX	     1024

/* Run-time state of one backend; follows the backend's name on reload. */
struct route_backend {
	/* hot: read for each member when a plan is built */
	struct breaker br;	       /* embedded: its hot fields first */
	bool disabled;		       /* operator drain */
	bool down;		       /* HAProxy DOWN/MAINT */
	const struct cfg_backend *cfg; /* in the applied cfg */
	int64_t rem_req;	       /* last remaining requests, -1 none */
	int64_t rem_tok;	       /* last remaining tokens, -1 none */
	uint64_t rem_req_at;	       /* when rem_req was learned */
	uint64_t rem_tok_at;	       /* when rem_tok was learned */
	/* cold */
	size_t name_len; /* strlen(cfg->name) */
	uint64_t hrw;	 /* rendezvous value derived from the name */
	struct route_backend_counters c; /* the breaker's are in br.c */
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

/* One slot of a pool's affinity cache: a key hash and the rendezvous
 * winner it had in the affinity set of generation <gen>.
 */
struct route_aff_slot {
	uint64_t kh;  /* the key's full 64-bit hash */
	uint32_t gen; /* route_pool.aff_gen when filled; 0: empty */
	uint32_t i;   /* the winner: an index into route_pool.hrw */
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
	/* affinity cache: valid while the rendezvous set (members and
	 * weights, in order) stays the one of generation aff_gen */
	uint32_t aff_gen;	    /* generation of aff_set, never 0 */
	bool aff_stale;		    /* plan rebuilt since aff_set was checked */
	uint32_t n_aff_set;	    /* entries in aff_set */
	uint64_t *aff_set;	    /* n slots: member << 32 | weight */
	uint32_t aff_mask;	    /* slots - 1; 0 when no cache */
	struct route_aff_slot *aff; /* aff_mask + 1 slots, NULL: none */
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
	uint8_t *scheds;		  /* ROUTE_SCHED_MAX per pool */
	uint64_t *aff_sets;		  /* every pool's aff_set */
	struct route_aff_slot *aff_slots; /* every pool's affinity cache */
	bool aff_off;			  /* route_set_affinity_cache(false) */
	uint64_t epoch;	    /* moves on anything a plan depends on */
	uint64_t saved_gen; /* moves on anything a snapshot keeps */
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

static inline uint64_t route_min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* now + d, saturated. */
static inline uint64_t route_after(uint64_t now, uint64_t d)
{
	return now > UINT64_MAX - d ? UINT64_MAX : now + d;
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
	for (i = 0; i < e->n_backends; i++) {
		route_backend_counters_clear(&e->backends[i].c);
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
static void route_breaker_done(struct route_engine *e, uint32_t b,
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

static void route_advance_slow(struct route_engine *e, uint32_t b,
			       uint64_t now_ms)
{
	struct breaker_event ev = {0};

	breaker_advance_slow(&e->backends[b].br, now_ms, &ev);
	route_breaker_done(e, b, &ev);
}

/* Applies passed deadlines of backend <b>. Cheap when closed. */
static inline void route_advance(struct route_engine *e, uint32_t b,
				 uint64_t now_ms)
{
	if (e->backends[b].br.state != BREAKER_ST_CLOSED)
		route_advance_slow(e, b, now_ms);
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
			if (bk->down)
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

void route_learn(struct route_engine *e, const struct route_result *r,
		 uint64_t now_ms)
{
	struct breaker_event ev = {0};
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
	if (bk->br.state == BREAKER_ST_HALF_OPEN)
		breaker_probe_answered(&bk->br, &ev);
	if (throttle) {
		breaker_on_throttle(&bk->br, r->status, r->retry_after_ms,
				    now_ms, &e->rng, &ev);
		route_breaker_done(e, (uint32_t)b, &ev);
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
		breaker_on_success(&bk->br, r->status, now_ms, &ev);
		route_breaker_done(e, (uint32_t)b, &ev);
		return;
	}
	breaker_on_fault(&bk->br, now_ms, r->retry_after_ms, desc, &ev);
	route_breaker_done(e, (uint32_t)b, &ev);
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
	uint64_t *aff_sets;
	struct route_aff_slot *aff_slots;
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
	free(a->aff_sets);
	free(a->aff_slots);
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
		.aff_sets = e->aff_sets,
		.aff_slots = e->aff_slots,
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

void route_set_affinity_cache(struct route_engine *e, bool enabled)
{
	e->aff_off = !enabled;
}

/* Affinity cache slots of a pool of <n> members: none below 2 members
 * (the only member always wins), else ROUTE_AFF_PER_MEMBER per member,
 * rounded up to a power of two, within [ROUTE_AFF_MIN, ROUTE_AFF_MAX].
 */
static uint32_t route_aff_slots(uint32_t n)
{
	uint32_t size = ROUTE_AFF_MIN;

	if (n < 2)
		return 0;
	while (size < ROUTE_AFF_MAX &&
	       size < (uint64_t)n * ROUTE_AFF_PER_MEMBER)
		size *= 2;
	return size;
}

/* Checks what route_apply() relies on: member counts and indexes. Sets
 * *n_members and *n_aff (affinity cache slots of every pool).
 */
static bool route_cfg_ok(const struct cfg *cfg, uint64_t *n_members,
			 uint64_t *n_aff)
{
	uint32_t p, i;

	*n_members = 0;
	*n_aff = 0;
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
		*n_aff += route_aff_slots(cp->n_members);
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
	breaker_bind(&n->br, &cfg->breaker);
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
	uint64_t n_members, n_aff, off = 0, aff_off = 0;
	size_t nb, np, nm;
	uint32_t i, n;
	int o;

	(void)now_ms;
	if (!route_cfg_ok(cfg, &n_members, &n_aff))
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
	a.aff_sets = calloc(nm, sizeof(*a.aff_sets));
	a.aff_slots = calloc(n_aff ? n_aff : 1, sizeof(*a.aff_slots));
	if (!a.backends || !a.pools || !a.members || !a.cands || !a.hrws ||
	    !a.scheds || !a.aff_sets || !a.aff_slots ||
	    route_table_init(bt, cfg->n_backends) < 0 ||
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
		breaker_init(&bk->br, &bk->cfg->breaker);
		bk->rem_req = -1;
		bk->rem_tok = -1;
	}
	for (i = 0; i < cfg->n_pools; i++) {
		struct route_pool *rp = &a.pools[i];

		route_pool_build(rp, &cfg->pools[i], a.members + off);
		rp->cand = a.cands + off;
		rp->hrw = a.hrws + off;
		rp->sched = a.scheds + (size_t)i * ROUTE_SCHED_MAX;
		rp->aff_set = a.aff_sets + off;
		rp->aff_gen = 1;
		n = route_aff_slots(rp->n);
		if (n) {
			rp->aff = a.aff_slots + aff_off;
			rp->aff_mask = n - 1;
			aff_off += n;
		}
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
	e->aff_sets = a.aff_sets;
	e->aff_slots = a.aff_slots;
	e->backend_tab = a.backend_tab;
	e->pool_tab = a.pool_tab;
	e->n_backends = cfg->n_backends;
	e->n_pools = cfg->n_pools;
	e->epoch++;
	e->saved_gen++;
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
			e->saved_gen++;
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
	e->saved_gen++;
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
	struct breaker_event ev = {0};

	if (!route_backend_ok(e, b))
		return -1;
	breaker_trip(&e->backends[b].br, duration_ms, now_ms, &ev);
	route_breaker_done(e, (uint32_t)b, &ev);
	return 0;
}

int route_reset(struct route_engine *e, int b, uint64_t now_ms)
{
	struct breaker_event ev = {0};
	uint32_t p, i;

	(void)now_ms;
	if (!route_backend_ok(e, b))
		return -1;
	e->backends[b].disabled = false;
	breaker_reset(&e->backends[b].br, &ev);
	route_breaker_done(e, (uint32_t)b, &ev);
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
	e->saved_gen++;
	return 0;
}

int route_fault(struct route_engine *e, int b, uint64_t now_ms)
{
	struct breaker_event ev = {0};
	struct breaker *br;

	if (!route_backend_ok(e, b))
		return -1;
	route_advance(e, (uint32_t)b, now_ms);
	br = &e->backends[b].br;
	e->backends[b].c.external_faults++;
	if (br->state == BREAKER_ST_HALF_OPEN)
		breaker_probe_answered(br, &ev);
	breaker_on_fault(br, now_ms, -1, "connection error", &ev);
	route_breaker_done(e, (uint32_t)b, &ev);
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
	out->state = (enum route_state)bk->br.state;
	out->cause = (enum route_cause)bk->br.cause;
	out->operator_trip = bk->br.state == BREAKER_ST_OPEN &&
			     bk->br.cause == BREAKER_BY_OPERATOR;
	out->disabled = bk->disabled;
	out->down = bk->down;
	out->why = bk->br.why;
	out->until_ms = bk->br.until_ms;
	out->trip_duration_ms = (uint32_t)breaker_trip_ms(&bk->br);
	out->consecutive_trips = bk->br.consecutive_trips;
	out->probes_inflight = bk->br.n_probes;
	out->probe_limit = breaker_probe_limit(&bk->br);
	breaker_window_sum(&bk->br, now_ms, &out->window_faults,
			   &out->window_calls);
	out->consecutive_faults = bk->br.consecutive_faults;
	out->remaining_requests = bk->rem_req;
	out->remaining_tokens = bk->rem_tok;
	out->remaining_requests_age_ms =
		bk->rem_req >= 0 ? (int64_t)(now_ms - bk->rem_req_at) : -1;
	out->remaining_tokens_age_ms =
		bk->rem_tok >= 0 ? (int64_t)(now_ms - bk->rem_tok_at) : -1;
	out->headroom_permille = route_headroom(bk, now_ms, NULL);
	out->counters = bk->c;
	out->counters.probe_timeouts = bk->br.c.probe_timeouts;
	out->counters.faults = bk->br.c.faults;
	out->counters.trips = bk->br.c.trips;
	out->counters.cooldowns = bk->br.c.cooldowns;
	out->counters.recoveries = bk->br.c.recoveries;
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
	out->available =
		route_eligible(m, bk) && (bk->br.state == BREAKER_ST_CLOSED ||
					  breaker_can_probe(&bk->br));
	return 0;
}

const struct route_engine_counters *route_engine_counters(
	const struct route_engine *e)
{
	return &e->c;
}

/* ---------------------------------------------------------------- */
/* snapshots                                                         */

void route_snapshot_backends(struct route_engine *e, uint64_t now_ms,
			     uint64_t now_wall_ms, route_saved_fn fn, void *arg)
{
	struct route_saved s;
	uint32_t b;

	for (b = 0; b < e->n_backends; b++) {
		const struct route_backend *bk = &e->backends[b];
		const struct breaker *br = &bk->br;

		route_advance(e, b, now_ms);
		memset(&s, 0, sizeof(s));
		s.state = (enum route_state)br->state;
		s.cause = (enum route_cause)br->cause;
		s.disabled = bk->disabled;
		/* after route_advance() an open or cooling deadline is ahead */
		if (br->state == BREAKER_ST_OPEN ||
		    br->state == BREAKER_ST_COOLING)
			s.until_wall_ms = route_after(
				now_wall_ms, br->until_ms > now_ms
						     ? br->until_ms - now_ms
						     : 0);
		s.consecutive_trips = br->consecutive_trips;
		s.trip_duration_ms = (uint32_t)breaker_trip_ms(br);
		memcpy(s.why, br->why, sizeof(s.why));
		s.why[sizeof(s.why) - 1] = '\0';
		fn(arg, bk->cfg->name, bk->name_len, &s);
	}
}

void route_snapshot_weights(const struct route_engine *e,
			    route_saved_weight_fn fn, void *arg)
{
	struct route_saved_weight w;
	uint32_t p, i;

	for (p = 0; p < e->n_pools; p++) {
		const struct route_pool *rp = &e->pools[p];

		for (i = 0; i < rp->n; i++) {
			const struct route_backend *bk =
				&e->backends[rp->m[i].backend];

			if (!rp->m[i].overridden)
				continue;
			w.pool = rp->cfg->name;
			w.pool_len = rp->name_len;
			w.backend = bk->cfg->name;
			w.backend_len = bk->name_len;
			w.weight = rp->m[i].weight;
			fn(arg, &w);
		}
	}
}

int route_restore_backend(struct route_engine *e, const char *name, size_t len,
			  const struct route_saved *s, uint64_t now_ms,
			  uint64_t now_wall_ms)
{
	struct breaker_event ev = {0};
	struct route_backend *bk;
	enum breaker_state to = (enum breaker_state)s->state;
	enum breaker_cause cause = (enum breaker_cause)s->cause;
	uint64_t until = 0;
	char why[ROUTE_WHY_MAX];
	int b;

	b = route_table_find(&e->backend_tab, name, len);
	if (b < 0 || (unsigned)s->state > ROUTE_ST_HALF_OPEN ||
	    (unsigned)s->cause > ROUTE_BY_OPERATOR)
		return -1;
	bk = &e->backends[b];
	if (bk->br.state != BREAKER_ST_CLOSED)
		return -1;
	/* why is a fixed array that may come from a file: bound it */
	snprintf(why, sizeof(why), "%.*s", (int)strnlen(s->why, sizeof(why)),
		 s->why);
	if (to == BREAKER_ST_OPEN || to == BREAKER_ST_COOLING) {
		if (s->until_wall_ms > now_wall_ms) {
			until = route_after(
				now_ms,
				route_min64(s->until_wall_ms - now_wall_ms,
					    ROUTE_WAIT_CEIL_MS));
		} else {
			snprintf(why, sizeof(why), "%s",
				 to == BREAKER_ST_OPEN ? "trip over"
						       : "cooldown over");
			to = BREAKER_ST_HALF_OPEN;
			cause = BREAKER_BY_BREAKER;
		}
	}
	bk->disabled = s->disabled;
	breaker_restore(&bk->br, to, until,
			(uint32_t)route_min64(s->consecutive_trips,
					      ROUTE_TRIPS_RESTORE_MAX),
			why, cause, &ev);
	route_breaker_done(e, (uint32_t)b, &ev);
	return 0;
}

uint64_t route_saved_gen(const struct route_engine *e)
{
	return e->saved_gen;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Routing engine internals shared by its files: route-decide.c (decisions,
 * learning), route-apply.c (configuration and reload carry-over),
 * route-admin.c (overrides, inspection, snapshots). Nothing outside the
 * engine includes this.
 */
#ifndef AOAI_ROUTE_PRIV_H
#define AOAI_ROUTE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker-t.h"
#include "cfg-t.h"
#include "route-t.h"

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
	bool no_auth;		       /* keyless, and no token HAProxy has */
	const struct cfg_backend *cfg; /* in the applied cfg */
	int64_t rem_req;	       /* last remaining requests, -1 none */
	int64_t rem_tok;	       /* last remaining tokens, -1 none */
	uint64_t rem_req_at;	       /* when rem_req was learned */
	uint64_t rem_tok_at;	       /* when rem_tok was learned */
	/* cold */
	size_t name_len; /* strlen(cfg->name) */
	uint64_t hrw;	 /* rendezvous value derived from the name */
	struct route_backend_counters c; /* the breaker's are in br.c */
	struct route_latency lat;	 /* attempts' time to headers */
	struct route_latency dlat;	 /* decision to each result */
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

static inline uint64_t route_min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* now + d, saturated. */
static inline uint64_t route_after(uint64_t now, uint64_t d)
{
	return now > UINT64_MAX - d ? UINT64_MAX : now + d;
}

/* Member is administratively eligible: weight > 0, not disabled, not down. */
static inline bool route_eligible(const struct route_member *m,
				  const struct route_backend *bk)
{
	return m->weight && !bk->disabled && !bk->down;
}

static inline bool route_backend_ok(const struct route_engine *e, int b)
{
	return b >= 0 && (uint32_t)b < e->n_backends;
}

static inline bool route_pool_ok(const struct route_engine *e, int p)
{
	return p >= 0 && (uint32_t)p < e->n_pools;
}

/* Accounts for breaker event <ev> of backend <b>: plans and snapshots go
 * stale, and a real state change is reported to the hook (which runs
 * inside the engine call that caused it).
 */
void route_breaker_done(struct route_engine *e, uint32_t b,
			const struct breaker_event *ev);

/* route_advance() when the backend is not closed. */
void route_advance_slow(struct route_engine *e, uint32_t b, uint64_t now_ms);

/* Applies passed deadlines of backend <b>. Cheap when closed. */
static inline void route_advance(struct route_engine *e, uint32_t b,
				 uint64_t now_ms)
{
	if (e->backends[b].br.state != BREAKER_ST_CLOSED)
		route_advance_slow(e, b, now_ms);
}

/* The engine's 64-bit hash of <len> bytes at <name> with <seed>. */
uint64_t route_name_hash(const char *name, size_t len, uint64_t seed);

/* Index of <name> of <len> bytes in table <t>, or -1. O(1) expected. */
int route_table_lookup(const struct route_table *t, const char *name,
		       size_t len);

/* Headroom factor of <bk> now, in per mille (1..1000). */
uint32_t route_headroom_now(const struct route_backend *bk, uint64_t now_ms);

#endif /* AOAI_ROUTE_PRIV_H */

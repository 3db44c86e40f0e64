/* SPDX-License-Identifier: Apache-2.0 */
/* Routing engine: configuration, and the carry-over of run-time state
 * across a reload (route_apply()).
 */
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "route-priv.h"
#include "route.h"

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
	uint32_t i =
		(uint32_t)route_name_hash(name, len, ROUTE_SEED_NAME) & t->mask;

	for (; t->slot[i].name; i = (i + 1) & t->mask)
		if (t->slot[i].len == len &&
		    memcmp(t->slot[i].name, name, len) == 0)
			return;
	t->slot[i].name = name;
	t->slot[i].len = (uint32_t)len;
	t->slot[i].idx = idx;
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
		nb = route_table_lookup(bt, name,
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
		bk->hrw = route_name_hash(bk->cfg->name, bk->name_len,
					  ROUTE_SEED_HRW);
		route_table_add(bt, bk->cfg->name, bk->name_len, i);
		o = route_table_lookup(&e->backend_tab, bk->cfg->name,
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
		o = route_table_lookup(&e->pool_tab, rp->cfg->name,
				       rp->name_len);
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

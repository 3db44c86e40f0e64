/* SPDX-License-Identifier: Apache-2.0 */
/* A routing configuration built by hand for the unit tests, without
 * cfg.c: fixed arrays, names, the tests' breaker defaults.
 */
#ifndef AOAI_TCFG_H
#define AOAI_TCFG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg-t.h"

#define T_BACKENDS 16
#define T_POOLS	   8
#define T_MEMBERS  16

struct tcfg {
	struct cfg cfg;
	struct cfg_backend backends[T_BACKENDS];
	struct cfg_pool pools[T_POOLS];
	struct cfg_member members[T_POOLS][T_MEMBERS];
};

/* Breaker defaults of the tests, close to the product's defaults. */
static inline void breaker_defaults(struct cfg_backend *b)
{
	int s;

	memset(&b->breaker, 0, sizeof(b->breaker));
	memset(&b->headroom, 0, sizeof(b->headroom));
	b->breaker.failure_count = 5;
	b->breaker.failure_interval_ms = 10000;
	for (s = 500; s <= 599; s++)
		cfg_status_add(&b->breaker.failure_status, s);
	cfg_status_add(&b->breaker.failure_status, 408);
	b->breaker.trip_duration_ms = 30000;
	b->breaker.max_trip_duration_ms = 30000;
	b->breaker.accept_retry_after = true;
	b->breaker.max_retry_after_ms = 60000;
	cfg_status_add(&b->breaker.throttle_status, 429);
	b->breaker.probe_requests = 1;
	b->breaker.probe_timeout_ms = 10000;
	b->headroom.min_weight_percent = 10;
	b->headroom.max_age_ms = 5000;
}

/* A new, empty configuration; the caller frees it with free(). */
static inline struct tcfg *tcfg_new(void)
{
	struct tcfg *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	t->cfg.backends = t->backends;
	t->cfg.pools = t->pools;
	return t;
}

/* Adds backend <name> with the tests' defaults; returns its index. */
static inline int add_backend(struct tcfg *t, const char *name)
{
	struct cfg_backend *b = &t->backends[t->cfg.n_backends];

	snprintf(b->name, sizeof(b->name), "%s", name);
	breaker_defaults(b);
	return (int)t->cfg.n_backends++;
}

static inline int add_pool(struct tcfg *t, const char *name)
{
	uint32_t p = t->cfg.n_pools++;

	snprintf(t->pools[p].name, sizeof(t->pools[p].name), "%s", name);
	t->pools[p].members = t->members[p];
	return (int)p;
}

static inline void add_member(struct tcfg *t, int p, int b, uint32_t prio,
			      uint32_t weight)
{
	struct cfg_pool *cp = &t->pools[p];
	struct cfg_member *m = &cp->members[cp->n_members++];

	m->backend = (uint32_t)b;
	m->priority = prio;
	m->weight = weight;
}

#endif /* AOAI_TCFG_H */

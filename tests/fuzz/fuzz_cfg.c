/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: cfg_parse() on any bytes must not crash or leak; what
 * it accepts walks well (cfg_schema_walk()).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every message must be "fuzz:LINE:COL: message". */
static void fuzz_cfg_error(void *arg, const char *msg)
{
	unsigned *n = arg;

	if (strncmp(msg, "fuzz:", 5) != 0 || msg[5] < '1' || msg[5] > '9')
		abort();
	(*n)++;
}

/* The invariants a caller relies on in an accepted configuration. */
static void fuzz_cfg_check(const struct cfg *cfg)
{
	const struct cfg_pool *p;
	uint32_t i, j, weight;

	if (cfg->n_listen < 1 || cfg->n_listen > CFG_LISTEN_MAX ||
	    cfg->n_control > CFG_CONTROL_MAX || cfg->n_backends < 1 ||
	    cfg->n_backends > CFG_BACKENDS_MAX || cfg->n_pools < 1 ||
	    cfg->n_pools > CFG_POOLS_MAX)
		abort();
	for (i = 0; i < cfg->n_backends; i++)
		if (cfg->backends[i].name[0] == '\0' ||
		    cfg->backends[i].breaker.max_trip_duration_ms <
			    cfg->backends[i].breaker.trip_duration_ms)
			abort();
	for (i = 0; i < cfg->n_pools; i++) {
		p = &cfg->pools[i];
		if (p->n_members < 1 || p->n_members > CFG_MEMBERS_MAX)
			abort();
		weight = 0;
		for (j = 0; j < p->n_members; j++) {
			if (p->members[j].backend >= cfg->n_backends ||
			    p->members[j].weight > CFG_WEIGHT_MAX)
				abort();
			if (j &&
			    p->members[j].priority < p->members[j - 1].priority)
				abort();
			weight += p->members[j].weight;
		}
		if (weight == 0)
			abort();
	}
}

/* State of one cfg_schema_walk() check. */
struct fuzz_walk {
	unsigned depth; /* open mappings and lists */
	unsigned values;
};

/* The walk of an accepted configuration is well nested, and every value
 * has text and a schema entry.
 */
static void fuzz_walk_one(void *arg, const struct cfg_walk_item *it)
{
	struct fuzz_walk *w = arg;

	switch (it->event) {
	case CFG_WALK_MAP_BEGIN:
	case CFG_WALK_SEQ_BEGIN:
		if (it->depth != w->depth)
			abort();
		w->depth++;
		break;
	case CFG_WALK_MAP_END:
	case CFG_WALK_SEQ_END:
		if (w->depth == 0 || it->depth != w->depth - 1)
			abort();
		w->depth--;
		break;
	case CFG_WALK_VALUE:
		if (!it->value || !it->field || !it->path[0] ||
		    it->depth != w->depth)
			abort();
		w->values++;
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_walk w = {0};
	unsigned n_errors = 0;
	struct cfg *cfg;

	cfg = cfg_parse("fuzz", (const char *)data, size, fuzz_cfg_error,
			&n_errors);
	/* a configuration, or at least one error: never both, never none */
	if ((cfg != NULL) == (n_errors != 0))
		abort();
	if (cfg) {
		fuzz_cfg_check(cfg);
		cfg_schema_walk(cfg, fuzz_walk_one, &w);
		if (w.depth != 0 || w.values == 0)
			abort();
	}
	cfg_free(cfg);
	return 0;
}

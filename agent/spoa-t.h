/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's messages: counters and state of the aoai-route and
 * aoai-result handlers.
 */
#ifndef AOAI_SPOA_T_H
#define AOAI_SPOA_T_H

#include <stdint.h>

#include "log.h"

/* X(field, metric help text) */
#define SPOA_COUNTERS(X)                                                       \
	X(msg_route, "aoai-route messages")                                    \
	X(msg_result, "aoai-result messages")                                  \
	X(msg_unknown, "unknown messages acknowledged and ignored")            \
	X(bad_value, "argument values ignored as garbage")

struct spoa_counters {
#define X(name, help) uint64_t name;
	SPOA_COUNTERS(X)
#undef X
};

/* Decision latency, sampled: one aoai-route in SPOA_HIST_SAMPLE is timed
 * (two vDSO clock reads), so the hot path pays for it rarely.
 */
#define SPOA_HIST_SAMPLE  16
#define SPOA_HIST_BUCKETS 11
/* Upper bounds of the buckets in nanoseconds; the last one is +Inf. */
#define SPOA_HIST_BOUNDS_NS                                                    \
	{                                                                      \
		500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 500000,    \
			1000000, UINT64_MAX                                    \
	}

struct spoa_hist {
	uint64_t bucket[SPOA_HIST_BUCKETS]; /* not cumulative */
	uint64_t count;			    /* samples */
	uint64_t sum_ns;		    /* sum of the samples */
};

struct route_engine;
struct fleet;

/* What the message handlers need and own. */
struct spoa {
	struct route_engine *route; /* decides and learns; not owned */
	struct fleet *const *fleet; /* the fleet link, NULL or not; not owned */
	struct spoa_counters cnt;   /* owned */
	struct spoa_hist decide_hist; /* aoai-route decision latency */
	struct log_rl rl_pool;	      /* unknown pools */
	struct log_rl rl_value;	      /* garbage argument values */
};

#endif /* AOAI_SPOA_T_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Routing engine types: decisions, results, breaker states, counters. */
#ifndef AOAI_ROUTE_T_H
#define AOAI_ROUTE_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "breaker-t.h"

/* The breaker's limits, under the engine's names. */
#define ROUTE_WHY_MAX		BREAKER_WHY_MAX
#define ROUTE_WINDOW_BUCKETS	BREAKER_WINDOW_BUCKETS
#define ROUTE_PROBES_MAX	BREAKER_PROBES_MAX
#define ROUTE_WAIT_CEIL_MS	BREAKER_WAIT_CEIL_MS
#define ROUTE_PROBE_TIMEOUT_DEF BREAKER_PROBE_TIMEOUT_DEF
#define ROUTE_HEADROOM_SCALE	1000u /* headroom factor unit: per mille */
#define ROUTE_TRIPS_RESTORE_MAX 32u   /* trip growth a snapshot may restore */

/* Why a request goes where it goes ("reason" variable of the ACK). */
enum route_reason {
	ROUTE_WEIGHTED,	    /* round-robin in the pool's best priority group */
	ROUTE_SPILLOVER,    /* round-robin in a lower priority group */
	ROUTE_AFFINITY,	    /* the key's rendezvous-hash backend */
	ROUTE_PROBE,	    /* a half-open backend's trial request */
	ROUTE_EXHAUSTED,    /* no member available: answer 429 */
	ROUTE_UNKNOWN_POOL, /* no pool by that name */
};

/* Breaker state of a backend (enum breaker_state, the same values).
 * disabled/down are flags beside it.
 */
enum route_state {
	ROUTE_ST_CLOSED = BREAKER_ST_CLOSED, /* takes traffic */
	ROUTE_ST_OPEN = BREAKER_ST_OPEN, /* tripped by faults or an operator */
	ROUTE_ST_COOLING = BREAKER_ST_COOLING,	   /* throttled (429): waits */
	ROUTE_ST_HALF_OPEN = BREAKER_ST_HALF_OPEN, /* probes in flight */
};

/* Who set a backend's breaker state (enum breaker_cause, the same
 * values). An open state with ROUTE_BY_OPERATOR is an operator trip.
 */
enum route_cause {
	ROUTE_BY_BREAKER = BREAKER_BY_BREAKER,	 /* faults, throttles, time */
	ROUTE_BY_OPERATOR = BREAKER_BY_OPERATOR, /* control socket */
	ROUTE_BY_FLEET = BREAKER_BY_FLEET,	 /* another node, shared */
};

/* What route_decide() answers. */
struct route_decision {
	enum route_reason reason;
	int backend;		/* engine backend index, -1 when none */
	const char *name;	/* backend name (NUL-terminated), NULL if none;
				* valid until the next route_apply() */
	size_t name_len;	/* strlen(name), 0 when none */
	uint32_t retry_after_s; /* ROUTE_EXHAUSTED: whole seconds, >= 1 */
};

/* What route_learn() is told about one response. */
struct route_result {
	const char *backend; /* server name that served (not NUL-ended) */
	size_t backend_len;
	int status;		    /* HTTP status; 0 = no response */
	int64_t retry_after_ms;	    /* server's wait, parsed; -1 none */
	int64_t remaining_requests; /* x-ratelimit-remaining-requests; -1 */
	int64_t remaining_tokens;   /* x-ratelimit-remaining-tokens; -1 */
	int64_t duration_ms;	    /* response time; -1 unknown */
	int64_t since_decision_ms;  /* decision to this result; -1 unknown */
};

/* Called on every breaker state change of backend <backend> (index), with
 * the reason text (also kept as the backend's "why"). It runs inside the
 * engine call that caused the change and must not call back into the
 * engine, except route_backend_name() and the *_str() helpers.
 */
typedef void (*route_hook_fn)(void *arg, int backend, enum route_state from,
			      enum route_state to, const char *why);

/* Receives one counter of a dump: name, help text, value. */
typedef void (*route_counter_fn)(void *arg, const char *name, const char *help,
				 uint64_t value);

/* Counters, each declared once here: X(name, help). The structs, the clear
 * and the dump functions are all generated from these lists.
 */
#define ROUTE_BACKEND_COUNTERS(X)                                              \
	X(decisions, "requests routed to the backend")                         \
	X(probes, "half-open trial requests sent")                             \
	X(probe_timeouts, "probes released with no result")                    \
	X(results_2xx, "results with a 2xx status")                            \
	X(results_3xx, "results with a 3xx status")                            \
	X(results_4xx, "results with a 4xx status other than throttles")       \
	X(throttles, "results with a throttle status (429)")                   \
	X(results_5xx, "results with a 5xx status")                            \
	X(results_none, "results without a response (status 0)")               \
	X(faults, "results and events counted as faults")                      \
	X(slow_calls, "results slower than slow_call")                         \
	X(external_faults, "faults reported from outside (HAProxy stats)")     \
	X(trips, "circuit openings by the fault breaker")                      \
	X(cooldowns, "cooldowns started by throttles")                         \
	X(fleet_cooldowns, "cooldowns started or extended by the fleet")       \
	X(recoveries, "circuits closed by a successful probe")

#define ROUTE_POOL_COUNTERS(X)                                                 \
	X(weighted, "decisions by round-robin in the best group")              \
	X(spillover, "decisions by round-robin in a lower group")              \
	X(affinity, "decisions by session affinity")                           \
	X(probe, "decisions sending a probe")                                  \
	X(exhausted, "decisions with no member available")

#define ROUTE_ENGINE_COUNTERS(X)                                               \
	X(decisions, "route requests")                                         \
	X(results, "results learned")                                          \
	X(unknown_pool, "route requests naming an unknown pool")               \
	X(unknown_backend, "results naming an unknown backend")                \
	X(invalid_status, "results with a status outside 0 and 100..599")      \
	X(reloads, "configurations applied")

#define ROUTE_COUNTER_FIELD(name, help) uint64_t name;

struct route_backend_counters {
	ROUTE_BACKEND_COUNTERS(ROUTE_COUNTER_FIELD)
};

struct route_pool_counters {
	ROUTE_POOL_COUNTERS(ROUTE_COUNTER_FIELD)
};

struct route_engine_counters {
	ROUTE_ENGINE_COUNTERS(ROUTE_COUNTER_FIELD)
};

/* A latency histogram of a backend's attempts, as aoai-result reports
 * them: the time to the response headers (duration_ms, for a streamed
 * completion the time to the first token), or the time from the agent's
 * decision to the result (since_decision_ms). One set of buckets for
 * both, in milliseconds, the last one +Inf; per backend, so cardinality
 * follows the configuration.
 */
#define ROUTE_LAT_BUCKETS 14
#define ROUTE_LAT_BOUNDS_MS                                                    \
	{                                                                      \
		10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,     \
			60000, 120000, UINT64_MAX                              \
	}

struct route_latency {
	uint64_t bucket[ROUTE_LAT_BUCKETS]; /* not cumulative */
	uint64_t count;			    /* attempts timed */
	uint64_t sum_ms;		    /* sum of their durations */
};

/* A backend as seen by "show backends" and metrics (a copy). */
struct route_backend_info {
	const char *name; /* valid until the next route_apply() */
	enum route_state state;
	enum route_cause cause;	    /* who set <state> */
	bool operator_trip;	    /* open by route_trip(): state OPEN and
				     * cause ROUTE_BY_OPERATOR */
	bool disabled;		    /* operator: no new decisions */
	bool down;		    /* HAProxy says DOWN or MAINT */
	bool no_auth;		    /* keyless without a token: "auth" */
	const char *why;	    /* last transition reason, "" if none */
	uint64_t until_ms;	    /* open/cooling: end; 0 otherwise */
	uint32_t trip_duration_ms;  /* the next fault trip would last this */
	uint32_t consecutive_trips; /* trips since the last close */
	uint32_t probes_inflight;   /* half-open: probes awaiting a result */
	uint32_t probe_limit;	    /* half-open: probes allowed in flight */
	uint32_t window_faults;	    /* faults in the sliding window */
	uint32_t window_calls;	    /* faults + successes in the window */
	uint32_t consecutive_faults;
	int64_t remaining_requests;	   /* last value, -1 never seen */
	int64_t remaining_tokens;	   /* last value, -1 never seen */
	int64_t remaining_requests_age_ms; /* -1 never seen */
	int64_t remaining_tokens_age_ms;   /* -1 never seen */
	uint32_t headroom_permille;	   /* weight factor now, 1..1000 */
	struct route_backend_counters counters;
	struct route_latency latency;	       /* attempts' time to headers */
	struct route_latency decision_latency; /* decision to each result */
};

/* A pool as seen by "show pools" (a copy). */
struct route_pool_info {
	const char *name; /* valid until the next route_apply() */
	uint32_t n_members;
	uint32_t best_priority; /* lowest configured priority; 0 if empty */
	uint32_t cur_priority;	/* group of the last decision; 0 if none or
				 * exhausted */
	struct route_pool_counters counters;
};

/* One member of a pool (a copy). */
struct route_member_info {
	int backend; /* engine backend index */
	uint32_t priority;
	uint32_t cfg_weight;	  /* as configured */
	uint32_t weight;	  /* in force: override or configured */
	bool weight_overridden;	  /* set by route_set_weight() */
	uint32_t effective_milli; /* weight x headroom, in thousandths of a
				    * weight unit (3000 = 3); 0 when drained,
				    * disabled or down */
	bool available;		  /* would be considered for a decision now */
};

/* What a state snapshot keeps of one backend (route_snapshot_backends(),
 * route_restore_backend()): its breaker state and what makes it grow,
 * and the operator's drain. Deadlines are on the wall clock, since the
 * monotonic clock starts again with the process. Counters, fault windows,
 * probes in flight and headroom values are not kept.
 */
struct route_saved {
	enum route_state state;
	enum route_cause cause;	    /* who set <state> */
	bool disabled;		    /* operator drain */
	uint64_t until_wall_ms;	    /* open/cooling: deadline, ms since the
				     * Unix epoch; 0 otherwise */
	uint32_t consecutive_trips; /* fault trips since the last close */
	uint32_t trip_duration_ms;  /* the next fault trip would last this;
				     * for reading only: a restore derives it
				     * from consecutive_trips and the cfg */
	char why[ROUTE_WHY_MAX];    /* last transition reason */
};

/* One runtime weight override (route_set_weight()), by names. */
struct route_saved_weight {
	const char *pool; /* NUL-terminated, valid until route_apply() */
	size_t pool_len;
	const char *backend; /* NUL-terminated, valid until route_apply() */
	size_t backend_len;
	uint32_t weight; /* in force */
};

/* Receives one backend of a snapshot: its name and saved state. */
typedef void (*route_saved_fn)(void *arg, const char *name, size_t len,
			       const struct route_saved *s);

/* Receives one weight override of a snapshot. */
typedef void (*route_saved_weight_fn)(void *arg,
				      const struct route_saved_weight *w);

#endif /* AOAI_ROUTE_T_H */

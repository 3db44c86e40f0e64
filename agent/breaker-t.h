/* SPDX-License-Identifier: Apache-2.0 */
/* Circuit breaker types: states, causes, the per-backend breaker. */
#ifndef AOAI_BREAKER_T_H
#define AOAI_BREAKER_T_H

#include <stdbool.h>
#include <stdint.h>

#include "cfg-t.h"

#define BREAKER_WHY_MAX		  64 /* last transition reason, with the NUL */
#define BREAKER_WINDOW_BUCKETS	  10 /* fault window: buckets of interval/10 */
#define BREAKER_PROBES_MAX	  16 /* cap on cfg probe_requests */
#define BREAKER_WAIT_CEIL_MS	  86400000u /* no cooldown or trip is longer */
#define BREAKER_PROBE_TIMEOUT_DEF 30000u    /* probe_timeout_ms 0 means this */

/* State of a breaker (the engine shows them as enum route_state). */
enum breaker_state {
	BREAKER_ST_CLOSED,    /* takes traffic */
	BREAKER_ST_OPEN,      /* tripped by faults or by an operator, until */
	BREAKER_ST_COOLING,   /* throttled (429): waits what the server said */
	BREAKER_ST_HALF_OPEN, /* after open/cooling: probes in flight */
};

/* Who set the current state: the breaker itself, or an operator
 * (breaker_trip(), breaker_reset()). A running open or cooling period
 * extended by a later throttle keeps its cause.
 */
enum breaker_cause {
	BREAKER_BY_BREAKER,  /* faults, throttles, deadlines, probes, start */
	BREAKER_BY_OPERATOR, /* the control socket: trip or reset */
	BREAKER_BY_FLEET,    /* another node's throttle, through the fleet */
};

/* What a breaker input changed, for the owner's caches and hook. */
#define BREAKER_CH_PLAN	 0x1u /* state, deadline or probes: plans go stale */
#define BREAKER_CH_SAVED 0x2u /* what a state snapshot keeps */

/* Filled by every breaker input: what changed, and the transition made
 * (an input makes at most one).
 */
struct breaker_event {
	unsigned changes;	 /* BREAKER_CH_* bits */
	bool moved;		 /* the state was set (perhaps re-entered) */
	enum breaker_state from; /* the state before, when moved */
};

/* Counters the breaker keeps (the engine shows them among its backend
 * counters).
 */
struct breaker_counters {
	uint64_t probe_timeouts; /* probes released with no result */
	uint64_t faults;	 /* results and events counted as faults */
	uint64_t trips;		 /* circuit openings by the fault breaker */
	uint64_t cooldowns;	 /* cooldowns started by throttles */
	uint64_t recoveries;	 /* circuits closed by a successful probe */
};

/* One bucket of the sliding fault window. */
struct breaker_bucket {
	uint64_t epoch;	 /* now_ms / width when the bucket was last reset */
	uint32_t faults; /* faults in the bucket */
	uint32_t calls;	 /* faults + successes (throttles are neither) */
};

/* One backend's breaker, embedded in the engine's backend. Hot fields
 * (read for each member when a plan is built) first.
 */
struct breaker {
	enum breaker_state state;
	uint32_t n_probes;	       /* half-open: probes in flight */
	uint64_t until_ms;	       /* open/cooling: half-open begins */
	const struct cfg_breaker *cfg; /* the backend's, in the applied cfg */
	enum breaker_cause cause;      /* who set the state */
	uint32_t probe_head;	       /* ring index of the oldest probe */
	uint64_t probe_at[BREAKER_PROBES_MAX]; /* probe send times, a ring */
	uint32_t consecutive_trips;  /* fault trips since the last close */
	uint32_t consecutive_faults; /* faults since the last success */
	uint32_t window_width; /* ms per bucket the window was filled at */
	struct breaker_bucket window[BREAKER_WINDOW_BUCKETS];
	char why[BREAKER_WHY_MAX]; /* last transition reason */
	struct breaker_counters c;
};

#endif /* AOAI_BREAKER_T_H */

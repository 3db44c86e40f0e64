/* SPDX-License-Identifier: Apache-2.0 */
/* Circuit breaker of one backend: fault window, trips, cooldowns, probes. */
#ifndef AOAI_BREAKER_H
#define AOAI_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

#include "breaker-t.h"

/* The breaker is pure: no I/O, no allocation, no clock (<now_ms> is the
 * owner's monotonic millisecond clock) and no randomness of its own (the
 * jitter PRNG state is the owner's). Every input fills a struct
 * breaker_event the owner turns into cache invalidation and a hook call.
 * docs/routing.md §6 and §7 describe the semantics.
 */

/* Starts <br> closed, with no history, bound to <cfg>. */
void breaker_init(struct breaker *br, const struct cfg_breaker *cfg);

/* Binds <br> (carried over a reload) to <cfg>; a fault window filled at
 * another bucket width is emptied.
 */
void breaker_bind(struct breaker *br, const struct cfg_breaker *cfg);

/* Probes allowed in flight while half-open: probe_requests clamped to
 * 1..BREAKER_PROBES_MAX.
 */
static inline uint32_t breaker_probe_limit(const struct breaker *br)
{
	uint32_t n = br->cfg->probe_requests;

	if (n < 1)
		return 1;
	return n > BREAKER_PROBES_MAX ? BREAKER_PROBES_MAX : n;
}

/* Half-open with a free probe slot. */
static inline bool breaker_can_probe(const struct breaker *br)
{
	return br->state == BREAKER_ST_HALF_OPEN &&
	       br->n_probes < breaker_probe_limit(br);
}

/* When the oldest probe in flight is released (UINT64_MAX: none). */
uint64_t breaker_probe_deadline(const struct breaker *br);

/* The next time at which time alone moves <br> (an open/cooling deadline
 * or a probe timeout), UINT64_MAX when none.
 */
uint64_t breaker_deadline(const struct breaker *br);

/* Records a probe sent at <now_ms> (ignored when every ring slot is
 * taken).
 */
void breaker_probe_sent(struct breaker *br, uint64_t now_ms,
			struct breaker_event *ev);

/* Frees the oldest probe's slot: results carry no probe id, so any result
 * or external fault in half-open answers the oldest probe.
 */
void breaker_probe_answered(struct breaker *br, struct breaker_event *ev);

void breaker_advance_slow(struct breaker *br, uint64_t now_ms,
			  struct breaker_event *ev);

/* Applies passed deadlines: open/cooling end -> half-open, probe
 * timeouts. Cheap when closed.
 */
static inline void breaker_advance(struct breaker *br, uint64_t now_ms,
				   struct breaker_event *ev)
{
	if (br->state != BREAKER_ST_CLOSED)
		breaker_advance_slow(br, now_ms, ev);
}

/* Duration of the next fault trip: trip_duration doubled per consecutive
 * trip, capped at max(max_trip_duration, trip_duration) and the ceiling.
 */
uint64_t breaker_trip_ms(const struct breaker *br);

/* Faults and calls (faults + successes) in the sliding window at <now_ms>. */
void breaker_window_sum(const struct breaker *br, uint64_t now_ms,
			uint32_t *faults, uint32_t *calls);

/* A throttle of HTTP <status>: cooling for the server's wait
 * <retry_after_ms> (-1 none) or trip_duration, capped, plus jitter drawn
 * from the splitmix64 state *<rng>. A longer wait extends a running
 * cooldown or trip; a throttle is never a fault.
 */
void breaker_on_throttle(struct breaker *br, int status, int64_t retry_after_ms,
			 uint64_t now_ms, uint64_t *rng,
			 struct breaker_event *ev);

/* A fault described by <desc> ("status 503", "no response"). Closed:
 * window and streak, trip on any configured condition. Half-open: re-open,
 * longer. Open or cooling: a straggler, counted only.
 */
void breaker_on_fault(struct breaker *br, uint64_t now_ms,
		      int64_t retry_after_ms, const char *desc,
		      struct breaker_event *ev);

/* A success of HTTP <status>. Half-open: a 2xx or 3xx closes the circuit
 * and resets the trip growth, a 4xx changes nothing. Closed: recorded in
 * the window.
 */
void breaker_on_success(struct breaker *br, int status, uint64_t now_ms,
			struct breaker_event *ev);

/* The fleet's deadline <until_ms> for this backend (another node was
 * throttled): closed or half-open -> cooling until then; a running
 * cooldown or trip ending earlier is extended. Never shortens. why <why>,
 * cause BREAKER_BY_FLEET (kept by an extended open circuit). Returns true
 * when the deadline moved.
 */
bool breaker_on_fleet(struct breaker *br, uint64_t until_ms, uint64_t now_ms,
		      const char *why, struct breaker_event *ev);

/* The fleet was reset: a cooldown (local or the fleet's) ends, closed. An
 * open circuit (faults, operator) is left. Returns true when it closed.
 */
bool breaker_fleet_clear(struct breaker *br, struct breaker_event *ev);

/* An operator's trip: open for <duration_ms> (capped at the ceiling),
 * without growing the trip duration. why "operator trip 60s".
 */
void breaker_trip(struct breaker *br, uint32_t duration_ms, uint64_t now_ms,
		  struct breaker_event *ev);

/* An operator's reset: closed, window, probes and trip growth cleared. */
void breaker_reset(struct breaker *br, struct breaker_event *ev);

/* Restores a saved state onto a closed <br>: state <to> with deadline
 * <until_ms> (open/cooling), trip growth, reason and cause.
 */
void breaker_restore(struct breaker *br, enum breaker_state to,
		     uint64_t until_ms, uint32_t consecutive_trips,
		     const char *why, enum breaker_cause cause,
		     struct breaker_event *ev);

/* "closed", "open", "cooling", "half-open"; "?" for anything else. */
const char *breaker_state_str(enum breaker_state s);

#endif /* AOAI_BREAKER_H */

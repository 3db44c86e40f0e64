/* SPDX-License-Identifier: Apache-2.0 */
/* Circuit breaker of one backend: fault window, trips, cooldowns, probes. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "breaker.h"

static inline uint64_t breaker_min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* now + d, saturated. */
static inline uint64_t breaker_after(uint64_t now, uint64_t d)
{
	return now > UINT64_MAX - d ? UINT64_MAX : now + d;
}

/* Writes a duration as "10s" when whole seconds, else "1500ms": the form
 * the reasons have always used (text_fmt_duration() would say "1m").
 */
static void breaker_fmt_ms(char *buf, size_t size, uint64_t ms)
{
	if (ms >= 1000 && ms % 1000 == 0)
		snprintf(buf, size, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, size, "%llums", (unsigned long long)ms);
}

/* splitmix64 over the owner's state: the jitter's only randomness. */
static uint64_t breaker_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

const char *breaker_state_str(enum breaker_state s)
{
	switch (s) {
	case BREAKER_ST_CLOSED:
		return "closed";
	case BREAKER_ST_OPEN:
		return "open";
	case BREAKER_ST_COOLING:
		return "cooling";
	case BREAKER_ST_HALF_OPEN:
		return "half-open";
	}
	return "?";
}

/* ---------------------------------------------------------------- */
/* fault window                                                      */

static void breaker_window_clear(struct breaker *br)
{
	memset(br->window, 0, sizeof(br->window));
}

/* Width of one window bucket: failure_interval / BREAKER_WINDOW_BUCKETS. */
static inline uint32_t breaker_window_width(const struct breaker *br)
{
	uint32_t w = br->cfg->failure_interval_ms / BREAKER_WINDOW_BUCKETS;

	return w ? w : 1;
}

/* Records one call (a fault or a success) at <now_ms>. */
static void breaker_window_add(struct breaker *br, uint64_t now_ms, bool fault)
{
	uint32_t width = breaker_window_width(br);
	uint64_t epoch = now_ms / width;
	struct breaker_bucket *b = &br->window[epoch % BREAKER_WINDOW_BUCKETS];

	if (br->window_width != width) {
		breaker_window_clear(br);
		br->window_width = width;
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

/* Sums the buckets of the last BREAKER_WINDOW_BUCKETS widths: a call at t
 * is counted while floor(now/w) - floor(t/w) < BREAKER_WINDOW_BUCKETS.
 */
void breaker_window_sum(const struct breaker *br, uint64_t now_ms,
			uint32_t *faults, uint32_t *calls)
{
	uint64_t epoch = now_ms / breaker_window_width(br);
	uint32_t i;

	*faults = 0;
	*calls = 0;
	if (br->window_width != breaker_window_width(br))
		return;
	for (i = 0; i < BREAKER_WINDOW_BUCKETS; i++) {
		const struct breaker_bucket *b = &br->window[i];

		if (b->epoch <= epoch &&
		    epoch - b->epoch < BREAKER_WINDOW_BUCKETS) {
			*faults += b->faults;
			*calls += b->calls;
		}
	}
}

/* ---------------------------------------------------------------- */
/* setup                                                             */

void breaker_init(struct breaker *br, const struct cfg_breaker *cfg)
{
	memset(br, 0, sizeof(*br));
	br->state = BREAKER_ST_CLOSED;
	br->cause = BREAKER_BY_BREAKER;
	br->cfg = cfg;
	br->window_width = breaker_window_width(br);
}

void breaker_bind(struct breaker *br, const struct cfg_breaker *cfg)
{
	br->cfg = cfg;
	if (br->window_width != breaker_window_width(br))
		breaker_window_clear(br);
}

/* ---------------------------------------------------------------- */
/* the state machine                                                 */

/* Legal transitions, one bit per destination state. A state may be
 * re-entered (a new deadline); the hook only sees real changes. Closed ->
 * half-open happens only in breaker_restore() (a snapshot taken while
 * half-open, or whose deadline passed while the agent was down).
 */
static bool breaker_transition_ok(enum breaker_state from,
				  enum breaker_state to)
{
	static const unsigned legal[] = {
		[BREAKER_ST_CLOSED] =
			1u << BREAKER_ST_CLOSED | 1u << BREAKER_ST_OPEN |
			1u << BREAKER_ST_COOLING | 1u << BREAKER_ST_HALF_OPEN,
		[BREAKER_ST_OPEN] = 1u << BREAKER_ST_OPEN |
				    1u << BREAKER_ST_HALF_OPEN |
				    1u << BREAKER_ST_CLOSED,
		[BREAKER_ST_COOLING] =
			1u << BREAKER_ST_COOLING | 1u << BREAKER_ST_OPEN |
			1u << BREAKER_ST_HALF_OPEN | 1u << BREAKER_ST_CLOSED,
		[BREAKER_ST_HALF_OPEN] =
			1u << BREAKER_ST_CLOSED | 1u << BREAKER_ST_OPEN |
			1u << BREAKER_ST_COOLING | 1u << BREAKER_ST_HALF_OPEN,
	};

	return (unsigned)from < sizeof(legal) / sizeof(legal[0]) &&
	       (legal[from] >> to & 1u);
}

/* The breaker's one transition function: moves <br> to <to> with deadline
 * <until_ms> (open/cooling only), reason <why> and <cause>, clears what
 * the new state must start without, and records the move in <ev>.
 */
static void breaker_set_state(struct breaker *br, enum breaker_state to,
			      uint64_t until_ms, const char *why,
			      enum breaker_cause cause,
			      struct breaker_event *ev)
{
	assert(breaker_transition_ok(br->state, to));
	assert(!ev->moved);
	ev->moved = true;
	ev->from = br->state;
	ev->changes |= BREAKER_CH_PLAN | BREAKER_CH_SAVED;
	br->state = to;
	br->cause = cause;
	br->until_ms = to == BREAKER_ST_OPEN || to == BREAKER_ST_COOLING
			       ? until_ms
			       : 0;
	/* probes of a previous half-open period no longer hold a slot */
	br->n_probes = 0;
	br->probe_head = 0;
	if (to == BREAKER_ST_OPEN || to == BREAKER_ST_CLOSED) {
		breaker_window_clear(br);
		br->consecutive_faults = 0;
	}
	snprintf(br->why, sizeof(br->why), "%s", why);
}

/* ---------------------------------------------------------------- */
/* probes and deadlines                                              */

static inline uint64_t breaker_probe_timeout(const struct breaker *br)
{
	uint32_t t = br->cfg->probe_timeout_ms;

	return t ? t : BREAKER_PROBE_TIMEOUT_DEF;
}

uint64_t breaker_probe_deadline(const struct breaker *br)
{
	if (!br->n_probes)
		return UINT64_MAX;
	return breaker_after(br->probe_at[br->probe_head],
			     breaker_probe_timeout(br));
}

uint64_t breaker_deadline(const struct breaker *br)
{
	if (br->state == BREAKER_ST_OPEN || br->state == BREAKER_ST_COOLING)
		return br->until_ms;
	if (br->state == BREAKER_ST_HALF_OPEN)
		return breaker_probe_deadline(br);
	return UINT64_MAX;
}

void breaker_probe_sent(struct breaker *br, uint64_t now_ms,
			struct breaker_event *ev)
{
	if (br->n_probes >= BREAKER_PROBES_MAX)
		return;
	ev->changes |= BREAKER_CH_PLAN;
	br->probe_at[(br->probe_head + br->n_probes) % BREAKER_PROBES_MAX] =
		now_ms;
	br->n_probes++;
}

void breaker_probe_answered(struct breaker *br, struct breaker_event *ev)
{
	if (!br->n_probes)
		return;
	ev->changes |= BREAKER_CH_PLAN;
	br->probe_head = (br->probe_head + 1) % BREAKER_PROBES_MAX;
	br->n_probes--;
}

void breaker_advance_slow(struct breaker *br, uint64_t now_ms,
			  struct breaker_event *ev)
{
	if ((br->state == BREAKER_ST_OPEN || br->state == BREAKER_ST_COOLING) &&
	    now_ms >= br->until_ms)
		breaker_set_state(br, BREAKER_ST_HALF_OPEN, 0,
				  br->state == BREAKER_ST_OPEN
					  ? "trip over"
					  : "cooldown over",
				  BREAKER_BY_BREAKER, ev);
	if (br->state != BREAKER_ST_HALF_OPEN)
		return;
	while (br->n_probes && breaker_probe_deadline(br) <= now_ms) {
		breaker_probe_answered(br, ev);
		br->c.probe_timeouts++;
	}
}

/* ---------------------------------------------------------------- */
/* inputs                                                            */

uint64_t breaker_trip_ms(const struct breaker *br)
{
	const struct cfg_breaker *c = br->cfg;
	uint64_t d = c->trip_duration_ms, max = c->max_trip_duration_ms;
	uint32_t n;

	if (max < d)
		max = d;
	for (n = br->consecutive_trips; n && d < max; n--)
		d *= 2;
	return breaker_min64(breaker_min64(d, max), BREAKER_WAIT_CEIL_MS);
}

/* A server-requested wait capped at max_retry_after (0: no cap but the
 * ceiling). Sets *capped.
 */
static uint64_t breaker_cap_wait(const struct cfg_breaker *c, int64_t wait,
				 bool *capped)
{
	uint64_t cap = c->max_retry_after_ms ? c->max_retry_after_ms
					     : BREAKER_WAIT_CEIL_MS;

	cap = breaker_min64(cap, BREAKER_WAIT_CEIL_MS);
	*capped = (uint64_t)wait > cap;
	return *capped ? cap : (uint64_t)wait;
}

/* Opens the circuit after a fault. The duration is the server's capped
 * wait when accept_retry_after and <retry_after_ms> >= 0 (APIM's
 * acceptRetryAfter), else breaker_trip_ms(). <why> is the cause.
 */
static void breaker_trip_fault(struct breaker *br, uint64_t now_ms,
			       int64_t retry_after_ms, const char *why,
			       struct breaker_event *ev)
{
	const struct cfg_breaker *c = br->cfg;
	char text[BREAKER_WHY_MAX], d[24];
	uint64_t dur;
	bool capped;

	if (c->accept_retry_after && retry_after_ms >= 0)
		dur = breaker_cap_wait(c, retry_after_ms, &capped);
	else
		dur = breaker_trip_ms(br);
	breaker_fmt_ms(d, sizeof(d), dur);
	snprintf(text, sizeof(text), "%s, open %s", why, d);
	if (br->consecutive_trips < UINT32_MAX)
		br->consecutive_trips++;
	br->c.trips++;
	breaker_set_state(br, BREAKER_ST_OPEN, breaker_after(now_ms, dur), text,
			  BREAKER_BY_BREAKER, ev);
}

void breaker_on_throttle(struct breaker *br, int status, int64_t retry_after_ms,
			 uint64_t now_ms, uint64_t *rng,
			 struct breaker_event *ev)
{
	const struct cfg_breaker *c = br->cfg;
	uint64_t wait, jmax, until;
	char why[BREAKER_WHY_MAX];
	bool capped = false;

	if (c->accept_retry_after && retry_after_ms >= 0) {
		wait = breaker_cap_wait(c, retry_after_ms, &capped);
		if (capped)
			snprintf(why, sizeof(why),
				 "%d retry-after %lldms capped %llums", status,
				 (long long)retry_after_ms,
				 (unsigned long long)wait);
		else
			snprintf(why, sizeof(why), "%d retry-after %llums",
				 status, (unsigned long long)wait);
	} else {
		wait = breaker_min64(c->trip_duration_ms, BREAKER_WAIT_CEIL_MS);
		snprintf(why, sizeof(why), "%d %s, %llums", status,
			 c->accept_retry_after ? "no retry-after"
					       : "retry-after ignored",
			 (unsigned long long)wait);
	}
	/* jitter in [0, min(wait / 10, 1000)] ms spreads the agents' and
	 * the clients' returns
	 */
	jmax = breaker_min64(wait / 10, 1000);
	until = breaker_after(
		now_ms, wait + (jmax ? breaker_rand(rng) % (jmax + 1) : 0));
	switch (br->state) {
	case BREAKER_ST_CLOSED:
	case BREAKER_ST_HALF_OPEN:
		br->c.cooldowns++;
		breaker_set_state(br, BREAKER_ST_COOLING, until, why,
				  BREAKER_BY_BREAKER, ev);
		break;
	case BREAKER_ST_COOLING:
		if (until > br->until_ms)
			breaker_set_state(br, BREAKER_ST_COOLING, until, why,
					  BREAKER_BY_BREAKER, ev);
		break;
	case BREAKER_ST_OPEN:
		if (until > br->until_ms) {
			br->until_ms = until;
			ev->changes |= BREAKER_CH_PLAN | BREAKER_CH_SAVED;
		}
		break;
	}
}

void breaker_on_fault(struct breaker *br, uint64_t now_ms,
		      int64_t retry_after_ms, const char *desc,
		      struct breaker_event *ev)
{
	const struct cfg_breaker *c = br->cfg;
	char why[BREAKER_WHY_MAX], iv[24];
	uint32_t faults, calls;

	br->c.faults++;
	if (br->state == BREAKER_ST_HALF_OPEN) {
		snprintf(why, sizeof(why), "probe failed: %s", desc);
		breaker_trip_fault(br, now_ms, retry_after_ms, why, ev);
		return;
	}
	if (br->state != BREAKER_ST_CLOSED)
		return;
	breaker_window_add(br, now_ms, true);
	if (br->consecutive_faults < UINT32_MAX)
		br->consecutive_faults++;
	breaker_window_sum(br, now_ms, &faults, &calls);
	breaker_fmt_ms(iv, sizeof(iv), c->failure_interval_ms);
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
		   br->consecutive_faults >= c->consecutive_failures) {
		snprintf(why, sizeof(why), "%u consecutive faults",
			 br->consecutive_faults);
	} else {
		return;
	}
	breaker_trip_fault(br, now_ms, retry_after_ms, why, ev);
}

void breaker_on_success(struct breaker *br, int status, uint64_t now_ms,
			struct breaker_event *ev)
{
	char why[BREAKER_WHY_MAX];

	if (br->state == BREAKER_ST_HALF_OPEN) {
		/* a 4xx is the client's (e.g. an unauthenticated caller's
		 * 401): it says nothing of the backend's health, so it only
		 * frees the probe slot (done by the caller) and the circuit
		 * waits for a 2xx/3xx
		 */
		if (status >= 400 && status < 500)
			return;
		snprintf(why, sizeof(why), "probe succeeded: %d", status);
		br->consecutive_trips = 0;
		br->c.recoveries++;
		breaker_set_state(br, BREAKER_ST_CLOSED, 0, why,
				  BREAKER_BY_BREAKER, ev);
		return;
	}
	if (br->state != BREAKER_ST_CLOSED)
		return;
	breaker_window_add(br, now_ms, false);
	br->consecutive_faults = 0;
}

bool breaker_on_fleet(struct breaker *br, uint64_t until_ms, uint64_t now_ms,
		      const char *why, struct breaker_event *ev)
{
	if (until_ms <= now_ms)
		return false;
	switch (br->state) {
	case BREAKER_ST_CLOSED:
	case BREAKER_ST_HALF_OPEN:
		break;
	case BREAKER_ST_COOLING:
		if (until_ms <= br->until_ms)
			return false;
		break;
	case BREAKER_ST_OPEN:
		if (until_ms <= br->until_ms)
			return false;
		br->until_ms = until_ms;
		ev->changes |= BREAKER_CH_PLAN | BREAKER_CH_SAVED;
		return true;
	}
	breaker_set_state(br, BREAKER_ST_COOLING, until_ms, why,
			  BREAKER_BY_FLEET, ev);
	return true;
}

bool breaker_fleet_clear(struct breaker *br, struct breaker_event *ev)
{
	if (br->state != BREAKER_ST_COOLING)
		return false;
	breaker_set_state(br, BREAKER_ST_CLOSED, 0, "fleet reset",
			  BREAKER_BY_FLEET, ev);
	return true;
}

void breaker_trip(struct breaker *br, uint32_t duration_ms, uint64_t now_ms,
		  struct breaker_event *ev)
{
	char why[BREAKER_WHY_MAX], d[24];
	uint64_t dur = breaker_min64(duration_ms, BREAKER_WAIT_CEIL_MS);

	breaker_fmt_ms(d, sizeof(d), dur);
	snprintf(why, sizeof(why), "operator trip %s", d);
	breaker_set_state(br, BREAKER_ST_OPEN, breaker_after(now_ms, dur), why,
			  BREAKER_BY_OPERATOR, ev);
}

void breaker_reset(struct breaker *br, struct breaker_event *ev)
{
	br->consecutive_trips = 0;
	breaker_set_state(br, BREAKER_ST_CLOSED, 0, "operator reset",
			  BREAKER_BY_OPERATOR, ev);
}

void breaker_restore(struct breaker *br, enum breaker_state to,
		     uint64_t until_ms, uint32_t consecutive_trips,
		     const char *why, enum breaker_cause cause,
		     struct breaker_event *ev)
{
	br->consecutive_trips = consecutive_trips;
	ev->changes |= BREAKER_CH_PLAN | BREAKER_CH_SAVED;
	breaker_set_state(br, to, until_ms, why, cause, ev);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the circuit breaker alone (agent/breaker.c): transitions,
 * what each input reports, probes, the window, trip growth, causes. The
 * engine's view of the same (hook, plans, pools) is test_route.c's.
 */
#include <stdint.h>
#include <string.h>

#include "breaker.h"
#include "tap.h"

static struct cfg_breaker base_cfg(void)
{
	struct cfg_breaker c;

	memset(&c, 0, sizeof(c));
	c.failure_count = 3;
	c.failure_interval_ms = 10000;
	c.trip_duration_ms = 1000;
	c.max_trip_duration_ms = 4000;
	c.accept_retry_after = true;
	c.max_retry_after_ms = 60000;
	c.probe_requests = 2;
	c.probe_timeout_ms = 5000;
	return c;
}

static void test_trip_and_recover(void)
{
	struct cfg_breaker c = base_cfg();
	struct breaker br;
	struct breaker_event ev;

	breaker_init(&br, &c);
	tap_ok(br.state == BREAKER_ST_CLOSED && br.cause == BREAKER_BY_BREAKER,
	       "starts closed");
	memset(&ev, 0, sizeof(ev));
	breaker_on_fault(&br, 0, -1, "status 500", &ev);
	breaker_on_fault(&br, 1, -1, "status 500", &ev);
	tap_ok(!ev.moved && !(ev.changes & BREAKER_CH_PLAN) &&
		       br.state == BREAKER_ST_CLOSED,
	       "two faults of three: closed, nothing for the plans");
	memset(&ev, 0, sizeof(ev));
	breaker_on_fault(&br, 2, -1, "status 500", &ev);
	tap_ok(ev.moved && ev.from == BREAKER_ST_CLOSED &&
		       br.state == BREAKER_ST_OPEN && br.until_ms == 1002 &&
		       (ev.changes & BREAKER_CH_PLAN) &&
		       (ev.changes & BREAKER_CH_SAVED),
	       "the third trips for trip_duration, reported as a move");
	tap_ok(!strcmp(br.why, "3 faults in 10s, open 1s"), "why: %s", br.why);
	tap_is_int((long long)br.c.trips, 1, "trips counted");
	tap_is_int((long long)breaker_deadline(&br), 1002,
		   "the deadline is the trip's end");

	memset(&ev, 0, sizeof(ev));
	breaker_advance(&br, 1001, &ev);
	tap_ok(!ev.moved && br.state == BREAKER_ST_OPEN, "still open before");
	breaker_advance(&br, 1002, &ev);
	tap_ok(ev.moved && br.state == BREAKER_ST_HALF_OPEN &&
		       !strcmp(br.why, "trip over"),
	       "half-open at the deadline");

	memset(&ev, 0, sizeof(ev));
	tap_ok(breaker_can_probe(&br), "a free probe slot");
	breaker_probe_sent(&br, 1100, &ev);
	breaker_probe_sent(&br, 1200, &ev);
	tap_ok(!breaker_can_probe(&br) && (ev.changes & BREAKER_CH_PLAN) &&
		       !ev.moved,
	       "probe_requests 2: both slots taken");
	tap_is_int((long long)breaker_probe_deadline(&br), 6100,
		   "the oldest probe is released after probe_timeout");
	memset(&ev, 0, sizeof(ev));
	breaker_advance(&br, 6100, &ev);
	tap_ok(breaker_can_probe(&br) && br.n_probes == 1 &&
		       br.c.probe_timeouts == 1,
	       "a timed-out probe frees its slot");

	memset(&ev, 0, sizeof(ev));
	breaker_probe_answered(&br, &ev);
	breaker_on_fault(&br, 6200, -1, "status 503", &ev);
	tap_ok(ev.moved && br.state == BREAKER_ST_OPEN &&
		       br.until_ms == 6200 + 2000,
	       "a failed probe re-opens, twice as long");
	tap_ok(!strcmp(br.why, "probe failed: status 503, open 2s"), "why: %s",
	       br.why);
	tap_is_int((long long)breaker_trip_ms(&br), 4000,
		   "the next trip would double again");

	memset(&ev, 0, sizeof(ev));
	breaker_advance(&br, 8200, &ev);
	memset(&ev, 0, sizeof(ev));
	breaker_on_success(&br, 404, 8300, &ev);
	tap_ok(!ev.moved && br.state == BREAKER_ST_HALF_OPEN,
	       "a 4xx answer to a probe closes nothing");
	breaker_on_success(&br, 200, 8400, &ev);
	tap_ok(ev.moved && br.state == BREAKER_ST_CLOSED &&
		       br.consecutive_trips == 0 && br.c.recoveries == 1,
	       "a 2xx closes, resets the growth, counts a recovery");
}

static void test_throttle(void)
{
	struct cfg_breaker c = base_cfg();
	struct breaker br;
	struct breaker_event ev;
	uint64_t rng = 7, until;
	int i, out = 0;

	for (i = 0; i < 200; i++) {
		breaker_init(&br, &c);
		memset(&ev, 0, sizeof(ev));
		breaker_on_throttle(&br, 429, 20000, 0, &rng, &ev);
		if (br.state != BREAKER_ST_COOLING || br.until_ms < 20000 ||
		    br.until_ms > 21000)
			out++;
	}
	tap_is_int(out, 0, "cooling for the server's wait plus 0..1s jitter");
	tap_is_int((long long)br.c.cooldowns, 1, "a cooldown counted");
	until = br.until_ms;
	memset(&ev, 0, sizeof(ev));
	breaker_on_throttle(&br, 429, 1000, 10, &rng, &ev);
	tap_ok(br.until_ms == until && !ev.changes,
	       "a shorter wait does not shorten it");
	breaker_on_throttle(&br, 429, 90000000, 10, &rng, &ev);
	tap_ok(br.until_ms >= 10 + 60000 && br.until_ms <= 10 + 61000 &&
		       strstr(br.why, "capped"),
	       "a longer one extends it, capped at max_retry_after (%s)",
	       br.why);
	memset(&ev, 0, sizeof(ev));
	breaker_on_fault(&br, 20, -1, "status 500", &ev);
	tap_ok(!ev.moved && br.c.faults == 1 && br.state == BREAKER_ST_COOLING,
	       "a straggler fault while cooling is counted only");
}

static void test_operator(void)
{
	struct cfg_breaker c = base_cfg();
	struct breaker br;
	struct breaker_event ev;
	uint64_t rng = 1;

	breaker_init(&br, &c);
	memset(&ev, 0, sizeof(ev));
	breaker_trip(&br, 60000, 100, &ev);
	tap_ok(ev.moved && br.state == BREAKER_ST_OPEN &&
		       br.cause == BREAKER_BY_OPERATOR &&
		       br.until_ms == 60100 && br.consecutive_trips == 0,
	       "an operator trip: open, by the operator, no growth");
	tap_ok(!strcmp(br.why, "operator trip 60s"), "why: %s", br.why);
	memset(&ev, 0, sizeof(ev));
	breaker_on_throttle(&br, 429, 120000, 200, &rng, &ev);
	tap_ok(!ev.moved && br.cause == BREAKER_BY_OPERATOR &&
		       br.until_ms > 60100,
	       "a throttle extends it and keeps the cause");
	memset(&ev, 0, sizeof(ev));
	breaker_reset(&br, &ev);
	tap_ok(ev.moved && br.state == BREAKER_ST_CLOSED &&
		       br.cause == BREAKER_BY_OPERATOR,
	       "reset: closed by the operator");
	memset(&ev, 0, sizeof(ev));
	breaker_trip(&br, UINT32_MAX, 0, &ev);
	tap_is_int((long long)br.until_ms, BREAKER_WAIT_CEIL_MS,
		   "an operator trip is capped at the ceiling");
	memset(&ev, 0, sizeof(ev));
	breaker_reset(&br, &ev);
	memset(&ev, 0, sizeof(ev));
	breaker_restore(&br, BREAKER_ST_OPEN, 5000, 2, "operator trip 5s",
			BREAKER_BY_OPERATOR, &ev);
	tap_ok(ev.moved && br.state == BREAKER_ST_OPEN &&
		       br.cause == BREAKER_BY_OPERATOR &&
		       br.consecutive_trips == 2 &&
		       breaker_trip_ms(&br) == 4000,
	       "restore: state, cause and trip growth");
}

static void test_window_and_bind(void)
{
	struct cfg_breaker c = base_cfg(), c2;
	struct breaker br;
	struct breaker_event ev;
	uint32_t faults, calls;

	c.failure_count = 0;
	c.failure_percentage = 50;
	c.minimum_requests = 4;
	breaker_init(&br, &c);
	memset(&ev, 0, sizeof(ev));
	breaker_on_success(&br, 200, 0, &ev);
	breaker_on_success(&br, 200, 1000, &ev);
	breaker_on_fault(&br, 2000, -1, "status 500", &ev);
	breaker_window_sum(&br, 2000, &faults, &calls);
	tap_ok(faults == 1 && calls == 3 && !ev.moved,
	       "1 fault of 3: below minimum_requests");
	breaker_on_fault(&br, 3000, -1, "status 500", &ev);
	tap_ok(ev.moved && br.state == BREAKER_ST_OPEN &&
		       !strncmp(br.why, "50% faults (2 of 4) in 10s", 26),
	       "2 of 4: the percentage trips (%s)", br.why);
	breaker_window_sum(&br, 3000, &faults, &calls);
	tap_ok(faults == 0 && calls == 0, "opening empties the window");

	breaker_init(&br, &c);
	breaker_on_fault(&br, 0, -1, "status 500", &ev);
	breaker_window_sum(&br, 9999, &faults, &calls);
	tap_ok(faults == 1, "a fault stays in the window for interval");
	breaker_window_sum(&br, 10000, &faults, &calls);
	tap_ok(faults == 0, "and leaves it after");
	breaker_on_fault(&br, 10000, -1, "status 500", &ev);
	c2 = c;
	c2.failure_interval_ms = 20000;
	breaker_bind(&br, &c2);
	breaker_window_sum(&br, 10000, &faults, &calls);
	tap_ok(br.cfg == &c2 && faults == 0,
	       "bound to an interval of another width: window emptied");
	tap_ok(!strcmp(breaker_state_str(BREAKER_ST_HALF_OPEN), "half-open") &&
		       !strcmp(breaker_state_str((enum breaker_state)9), "?"),
	       "state names");
}

int main(void)
{
	test_trip_and_recover();
	test_throttle();
	test_operator();
	test_window_and_bind();
	return tap_done();
}

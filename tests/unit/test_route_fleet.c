/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the engine's fleet input (route_fleet(),
 * route_fleet_clear()): another node's deadline extends, never shortens;
 * a fleet reset ends cooldowns only. Fake clock, no sleeps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "tap.h"
#include "tcfg.h"

static struct route_engine *engine(struct tcfg *t, uint64_t now)
{
	struct route_engine *e = route_new(7);
	int p;

	add_backend(t, "eastus");
	add_backend(t, "swedencentral");
	p = add_pool(t, "chat");
	add_member(t, p, 0, 1, 1);
	add_member(t, p, 1, 1, 1);
	if (!e || route_apply(e, &t->cfg, now) < 0)
		abort();
	return e;
}

static struct route_backend_info info(struct route_engine *e, int b,
				      uint64_t now)
{
	struct route_backend_info bi;

	if (route_backend_info(e, b, now, &bi) < 0)
		abort();
	return bi;
}

static const char *decide(struct route_engine *e, uint64_t now)
{
	struct route_decision d;

	route_decide(e, "chat", 4, NULL, 0, now, &d);
	return d.name ? d.name : "-";
}

static void learn_429(struct route_engine *e, int64_t ra_ms, uint64_t now)
{
	struct route_result r = {
		.backend = "eastus",
		.backend_len = 6,
		.status = 429,
		.retry_after_ms = ra_ms,
		.remaining_requests = -1,
		.remaining_tokens = -1,
		.duration_ms = -1,
	};

	route_learn(e, &r, now);
}

static void test_fleet_cools(void)
{
	struct tcfg *t = tcfg_new();
	struct route_engine *e = engine(t, 1000);
	struct route_backend_info bi;
	int i, east = 0;

	tap_is_int(route_fleet(e, 0, 21000, "fleet: throttled at node1", 1000),
		   1, "closed backend: the fleet's deadline starts a cooldown");
	bi = info(e, 0, 1000);
	tap_ok(bi.state == ROUTE_ST_COOLING && bi.cause == ROUTE_BY_FLEET &&
		       bi.until_ms == 21000 &&
		       !strcmp(bi.why, "fleet: throttled at node1"),
	       "cooling until the fleet's deadline, cause fleet, its reason");
	tap_is_int((long long)bi.counters.fleet_cooldowns, 1,
		   "fleet_cooldowns counted");
	tap_is_int((long long)bi.counters.cooldowns, 0,
		   "not counted as a local throttle cooldown");
	for (i = 0; i < 20; i++)
		east += !strcmp(decide(e, 2000), "eastus");
	tap_is_int(east, 0, "no decision for a backend the fleet cools");
	tap_is_int(route_fleet(e, 0, 15000, "fleet: earlier", 2000), 0,
		   "an earlier fleet deadline changes nothing");
	tap_is_int((long long)info(e, 0, 2000).until_ms, 21000,
		   "the fleet never shortens");
	tap_is_int(route_fleet(e, 0, 25000, "fleet: later", 2000), 1,
		   "a later fleet deadline extends");
	tap_is_int((long long)info(e, 0, 2000).until_ms, 25000, "extended");
	tap_is_int(route_fleet(e, 0, 500, "fleet: past", 2000), 0,
		   "a deadline already passed changes nothing");
	bi = info(e, 0, 25000);
	tap_ok(bi.state == ROUTE_ST_HALF_OPEN,
	       "half-open when the fleet's deadline passes");
	route_free(e);
	free(t);
}

static void test_local_wins(void)
{
	struct tcfg *t = tcfg_new();
	struct route_engine *e = engine(t, 1000);
	struct route_backend_info bi;

	learn_429(e, 30000, 1000);
	bi = info(e, 0, 1000);
	tap_ok(bi.state == ROUTE_ST_COOLING && bi.cause == ROUTE_BY_BREAKER,
	       "a local 429: cooling, cause breaker");
	tap_is_int(route_fleet(e, 0, 11000, "fleet: shorter", 1000), 0,
		   "a shorter fleet deadline leaves the local cooldown");
	bi = info(e, 0, 1000);
	tap_ok(bi.cause == ROUTE_BY_BREAKER && bi.until_ms >= 31000,
	       "local knowledge wins when later");
	tap_is_int(route_fleet(e, 0, 90000, "fleet: longer", 1000), 1,
		   "a longer fleet deadline extends the local cooldown");
	bi = info(e, 0, 1000);
	tap_ok(bi.cause == ROUTE_BY_FLEET && bi.until_ms == 90000,
	       "extended: cause fleet");
	route_free(e);
	free(t);
}

static void test_open_and_clear(void)
{
	struct tcfg *t = tcfg_new();
	struct route_engine *e = engine(t, 1000);
	struct route_backend_info bi;

	route_trip(e, 0, 10000, 1000);
	tap_is_int(route_fleet(e, 0, 40000, "fleet: x", 1000), 1,
		   "an open circuit ending earlier is extended");
	bi = info(e, 0, 1000);
	tap_ok(bi.state == ROUTE_ST_OPEN && bi.until_ms == 40000,
	       "still open, until the fleet's deadline");
	tap_is_int(route_fleet_clear(e, 0, 1000), 0,
		   "a fleet reset leaves an open circuit");
	tap_ok(info(e, 0, 1000).state == ROUTE_ST_OPEN, "still open");
	tap_is_int(route_fleet(e, 1, 50000, "fleet: y", 1000), 1,
		   "swedencentral cools by the fleet");
	tap_is_int(route_fleet_clear(e, 1, 1000), 1,
		   "a fleet reset ends the cooldown");
	bi = info(e, 1, 1000);
	tap_ok(bi.state == ROUTE_ST_CLOSED && !strcmp(bi.why, "fleet reset"),
	       "closed, reason fleet reset");
	tap_is_int(route_fleet_clear(e, 1, 1000), 0,
		   "nothing to clear: nothing happens");
	tap_is_int(route_fleet(e, 9, 50000, "fleet: z", 1000), -1,
		   "unknown backend index: -1");
	route_free(e);
	free(t);
}

int main(void)
{
	test_fleet_cools();
	test_local_wins();
	test_open_and_clear();
	return tap_done();
}

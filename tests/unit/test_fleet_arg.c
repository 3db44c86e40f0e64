/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet's read path on aoai-route (agent/fleet.c fleet_arg(), through
 * agent/spoa.c): another node's deadline passed as an argument cools the
 * backend at once; own keys, unchanged values, unknown backends, values
 * past max_wait and deadlines voided by a reset are handled as a read of
 * the table would. The event loop never runs: no connection is made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "clock.h"
#include "fleet.h"
#include "route.h"
#include "spoa.h"
#include "spop.h"
#include "tap.h"

static const char yaml[] = "listen: [tcp://127.0.0.1:12345]\n"
			   "haproxy:\n"
			   "  stats_socket: unix:///nonexistent/haproxy.sock\n"
			   "  backend: aoai\n"
			   "fleet:\n"
			   "  table: aoai-fleet\n"
			   "  node: node1\n"
			   "  max_wait: 60s\n"
			   "backends:\n"
			   "  - name: eastus\n"
			   "  - name: westus\n"
			   "pools:\n"
			   "  - name: chat\n"
			   "    members:\n"
			   "      - {backend: eastus, priority: 1}\n"
			   "      - {backend: westus, priority: 2}\n";

static struct spoa sp;
static struct fleet *fl;
static char msg[1024], ack[512];
static char *mp, *ap;

static void cfg_err(void *arg, const char *m)
{
	(void)arg;
	printf("# config: %s\n", m);
}

/* One aoai-route with pool chat and the fleet argument <name> = <v>
 * (NULL-typed when <v> is negative); returns spoa_notify()'s result.
 */
static int route_with(const char *name, long long v)
{
	struct spop_data pool = {.type = SPOP_DATA_STR};
	struct spop_data d = {.type = SPOP_DATA_INT64, .u.sint = v};

	if (v < 0)
		d.type = SPOP_DATA_NULL;
	mp = msg;
	ap = ack;
	pool.u.str.ptr = "chat";
	pool.u.str.len = 4;
	if (spop_encode_bytes(&mp, msg + sizeof(msg), "aoai-route", 10) < 0)
		abort();
	*mp++ = 2;
	if (spop_encode_kv(&mp, msg + sizeof(msg), "pool", &pool) < 0 ||
	    spop_encode_kv(&mp, msg + sizeof(msg), name, &d) < 0)
		abort();
	clock_update();
	return spoa_notify(&sp, msg, (size_t)(mp - msg), &ap,
			   ack + sizeof(ack));
}

static struct route_backend_info info(int b)
{
	struct route_backend_info bi;

	memset(&bi, 0, sizeof(bi));
	route_backend_info(sp.route, b, clock_now.ms, &bi);
	return bi;
}

static uint64_t counter_fast(void)
{
	struct fleet_status st;

	fleet_status(fl, &st);
	return st.c.fast;
}

static uint64_t counter_dropped(void)
{
	struct fleet_status st;

	fleet_status(fl, &st);
	return st.c.dropped;
}

/* True when the ACK names <backend> as the decision. */
static bool decided(const char *backend)
{
	return memmem(ack, (size_t)(ap - ack), backend, strlen(backend)) !=
	       NULL;
}

int main(void)
{
	struct cfg *cfg =
		cfg_parse("t.yaml", yaml, sizeof(yaml) - 1, cfg_err, NULL);
	struct route_backend_info bi;
	long long now = (long long)time(NULL);
	uint64_t fast, dropped;

	clock_update();
	sp.route = route_new(1);
	if (!cfg || !sp.route || route_apply(sp.route, cfg, clock_now.ms) < 0)
		return 1;
	if (fleet_start(&fl, EV_DEFAULT, sp.route, cfg) < 0 || !fl)
		return 1;
	sp.fleet = &fl;

	tap_is_int(route_with("fleet.eastus@node2", 0), 0,
		   "no deadline in the table: the ACK is written");
	tap_ok(decided("eastus"), "eastus decided while nobody throttles");
	tap_is_int((long long)counter_fast(), 0, "nothing applied");

	route_with("fleet.eastus@node2", now + 20);
	bi = info(0);
	tap_ok(bi.state == ROUTE_ST_COOLING, "node2's deadline cools eastus");
	tap_ok(strstr(bi.why, "fleet: throttled at node2") != NULL,
	       "the reason names the fleet and the node");
	tap_ok(bi.until_ms > clock_now.ms + 18000 &&
		       bi.until_ms <= clock_now.ms + 21000,
	       "until node2's deadline");
	tap_ok(decided("westus") && !decided("eastus"),
	       "the same request is already decided elsewhere");
	tap_is_int((long long)counter_fast(), 1, "counted in fleet_fast");

	fast = counter_fast();
	route_with("fleet.eastus@node2", now + 20);
	tap_is_int((long long)(counter_fast() - fast), 0,
		   "an unchanged value is not applied again");

	route_with("fleet.westus@node1", now + 20);
	tap_ok(info(1).state != ROUTE_ST_COOLING,
	       "this node's own key is never applied");
	route_with("fleet.westus@node3", -1);
	tap_ok(info(1).state != ROUTE_ST_COOLING,
	       "no value (no entry in the table): nothing");

	dropped = counter_dropped();
	route_with("fleet.nosuch@node2", now + 20);
	route_with("fleet.garbage", now + 20);
	tap_is_int((long long)(counter_dropped() - dropped), 2,
		   "an unknown backend and a key without node are dropped");

	route_with("fleet.westus@node3", now + 3600);
	bi = info(1);
	tap_ok(bi.state == ROUTE_ST_COOLING &&
		       bi.until_ms <= clock_now.ms + 60000 + 1000,
	       "an hour-ahead deadline is cut at max_wait (60 s)");
	tap_ok(strstr(bi.why, "capped") != NULL, "and says so");

	/* an operator reset here: node2's old deadline is void until node2
	 * acknowledges the reset in the table
	 */
	route_reset(sp.route, 0, clock_now.ms);
	fleet_reset(fl, 0);
	fast = counter_fast();
	route_with("fleet.eastus@node2", now + 20);
	tap_ok(info(0).state != ROUTE_ST_COOLING && counter_fast() == fast,
	       "after a reset, a deadline its writer has not acknowledged "
	       "is void");

	fleet_stop(&fl);
	route_free(sp.route);
	cfg_free(cfg);
	return tap_done();
}

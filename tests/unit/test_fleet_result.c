/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet's write path on aoai-result (agent/fleet.c fleet_result(),
 * through agent/spoa.c): a result that starts or extends this node's own
 * cooldown answers with txn.aoai.fleet_key / fleet_until, for HAProxy to
 * write to the peers table with the response; any other result answers
 * without them. The event loop never runs: no connection is made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
			   "backends:\n"
			   "  - name: eastus\n"
			   "  - name: westus\n"
			   "pools:\n"
			   "  - name: chat\n"
			   "    members:\n"
			   "      - {backend: eastus, priority: 1}\n"
			   "      - {backend: westus, priority: 2}\n";

static struct spoa sp;
static char msg[1024], ack[512];
static char *ap;

static void cfg_err(void *arg, const char *m)
{
	(void)arg;
	printf("# config: %s\n", m);
}

/* One aoai-result of <backend> with <status> and Retry-After <ra> s (none
 * when 0); returns spoa_notify()'s result, the ACK in ack..ap.
 */
static int result(const char *backend, int status, int ra)
{
	struct spop_data be = {.type = SPOP_DATA_STR};
	struct spop_data st = {.type = SPOP_DATA_INT32, .u.sint = status};
	struct spop_data r = {.type = SPOP_DATA_INT32, .u.sint = ra};
	char *mp = msg;

	ap = ack;
	be.u.str.ptr = backend;
	be.u.str.len = strlen(backend);
	if (spop_encode_bytes(&mp, msg + sizeof(msg), "aoai-result", 11) < 0)
		abort();
	*mp++ = ra ? 3 : 2;
	if (spop_encode_kv(&mp, msg + sizeof(msg), "backend", &be) < 0 ||
	    spop_encode_kv(&mp, msg + sizeof(msg), "status", &st) < 0 ||
	    (ra &&
	     spop_encode_kv(&mp, msg + sizeof(msg), "retry_after", &r) < 0))
		abort();
	clock_update();
	return spoa_notify(&sp, msg, (size_t)(mp - msg), &ap,
			   ack + sizeof(ack));
}

static bool in_ack(const char *s)
{
	return memmem(ack, (size_t)(ap - ack), s, strlen(s)) != NULL;
}

/* The ACK names this node's key of <backend> and a deadline. */
static bool names(const char *key)
{
	return in_ack(SPOA_VAR_FLEET_KEY) && in_ack(SPOA_VAR_FLEET_UNTIL) &&
	       in_ack(key);
}

int main(void)
{
	struct cfg *cfg =
		cfg_parse("t.yaml", yaml, sizeof(yaml) - 1, cfg_err, NULL);
	struct fleet *fl = NULL;
	const char *key;
	uint32_t until;
	size_t len;

	clock_update();
	sp.route = route_new(1);
	if (!cfg || !sp.route || route_apply(sp.route, cfg, clock_now.ms) < 0)
		return 1;

	tap_is_int(result("eastus", 429, 20), 0, "no fleet: a 429 is learned");
	tap_ok(!in_ack(SPOA_VAR_FLEET_KEY), "no fleet: no fleet variable");
	route_reset(sp.route, 0, clock_now.ms);

	if (fleet_start(&fl, EV_DEFAULT, sp.route, cfg) < 0 || !fl)
		return 1;
	sp.fleet = &fl;

	result("eastus", 200, 0);
	tap_ok(!in_ack(SPOA_VAR_FLEET_KEY), "a 200: no fleet variable");

	tap_is_int(result("eastus", 429, 20), 0, "a 429 with Retry-After 20");
	tap_ok(names("eastus@node1"),
	       "it starts a cooldown: the ACK names eastus@node1 and a "
	       "deadline");

	result("eastus", 429, 5);
	tap_ok(!in_ack(SPOA_VAR_FLEET_KEY),
	       "a 429 that ends sooner does not move the deadline: nothing");
	result("eastus", 200, 0);
	tap_ok(!in_ack(SPOA_VAR_FLEET_KEY), "nor does a late 200");

	result("westus", 429, 30);
	tap_ok(names("westus@node1") && !in_ack("eastus@node1"),
	       "another backend's 429 names its own key");

	tap_ok(!fleet_result(fl, 0, &key, &len, &until),
	       "asked again without a new result: nothing new");

	/* an operator reset withdraws the deadline: the next 429 hands a
	 * new one over even if it ends sooner than the old one
	 */
	route_reset(sp.route, 0, clock_now.ms);
	fleet_reset(fl, 0);
	result("eastus", 429, 5);
	tap_ok(names("eastus@node1"), "after a reset, a new 429 names the key "
				      "again");

	tap_ok(!fleet_result(fl, 99, &key, &len, &until) &&
		       !fleet_result(NULL, 0, &key, &len, &until),
	       "out of range and NULL: nothing");

	fleet_stop(&fl);
	route_free(sp.route);
	cfg_free(cfg);
	return tap_done();
}

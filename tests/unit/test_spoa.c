/* SPDX-License-Identifier: Apache-2.0 */
/* The message handlers (agent/spoa.c) on hand-built NOTIFY payloads:
 * counters, garbage values counted once, the ACK's actions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "clock.h"
#include "route.h"
#include "spoa.h"
#include "spop.h"
#include "tap.h"

static const char yaml[] = "listen: [tcp://127.0.0.1:12345]\n"
			   "backends:\n"
			   "  - name: eastus\n"
			   "pools:\n"
			   "  - name: chat\n"
			   "    members:\n"
			   "      - backend: eastus\n";

static struct spoa sp;
static char msg[512], ack[512];
static char *mp, *ap;

static void cfg_err(void *arg, const char *m)
{
	(void)arg;
	printf("# config: %s\n", m);
}

static void msg_begin(const char *name, int nargs)
{
	if (spop_encode_bytes(&mp, msg + sizeof(msg), name, strlen(name)) < 0)
		abort();
	*mp++ = (char)nargs;
}

static void arg_str(const char *name, const char *v)
{
	struct spop_data d = {.type = SPOP_DATA_STR};

	d.u.str.ptr = v;
	d.u.str.len = strlen(v);
	if (spop_encode_kv(&mp, msg + sizeof(msg), name, &d) < 0)
		abort();
}

static void arg_int(const char *name, int64_t v)
{
	struct spop_data d = {.type = SPOP_DATA_INT64, .u.sint = v};

	if (spop_encode_kv(&mp, msg + sizeof(msg), name, &d) < 0)
		abort();
}

/* Starts a new payload; counters start from zero. */
static void fresh(void)
{
	mp = msg;
	ap = ack;
	spoa_reset_counters(&sp);
}

/* Hands the payload to spoa_notify(); returns its result. */
static int notify(void)
{
	return spoa_notify(&sp, msg, (size_t)(mp - msg), &ap,
			   ack + sizeof(ack));
}

static uint64_t results_learned(void)
{
	return route_engine_counters(sp.route)->results;
}

int main(void)
{
	struct cfg *cfg =
		cfg_parse("t.yaml", yaml, sizeof(yaml) - 1, cfg_err, NULL);
	uint64_t learned;

	clock_now.ms = 1000000;
	clock_now.wall_s = 1700000000;
	sp.route = route_new(1);
	if (!cfg || !sp.route || route_apply(sp.route, cfg, clock_now.ms) < 0)
		return 1;

	/* the bug fixed on main: a garbage status was counted twice */
	fresh();
	learned = results_learned();
	msg_begin("aoai-result", 2);
	arg_str("backend", "eastus");
	arg_str("status", "abc");
	tap_is_int(notify(), 0, "garbage status: the ACK is written");
	tap_is_int((long long)sp.cnt.bad_value, 1,
		   "garbage status: counted once in bad_value");
	tap_is_int((long long)sp.cnt.msg_result, 1, "one aoai-result");
	tap_is_int((long long)(results_learned() - learned), 0,
		   "garbage status: nothing learned");
	tap_ok(ap > ack, "an ACK with nothing to set still carries an action");

	fresh();
	msg_begin("aoai-result", 2);
	arg_str("backend", "eastus");
	arg_int("status", 1234);
	notify();
	tap_is_int((long long)sp.cnt.bad_value, 1,
		   "impossible status 1234: counted once");

	fresh();
	msg_begin("aoai-result", 2);
	arg_str("backend", "eastus");
	arg_int("status", -5);
	notify();
	tap_is_int((long long)sp.cnt.bad_value, 1,
		   "negative status: counted once");

	fresh();
	learned = results_learned();
	msg_begin("aoai-result", 3);
	arg_str("backend", "eastus");
	arg_str("status", "429");
	arg_str("retry_after", "soon");
	notify();
	tap_is_int((long long)sp.cnt.bad_value, 1,
		   "garbage Retry-After: counted once");
	tap_is_int((long long)(results_learned() - learned), 1,
		   "the status as a string is learned");

	fresh();
	msg_begin("aoai-result", 4);
	arg_str("backend", "eastus");
	arg_int("status", 200);
	arg_str("remaining_requests", "12x");
	arg_str("remaining_tokens", "");
	notify();
	tap_is_int((long long)sp.cnt.bad_value, 1,
		   "garbage remaining_requests counted, an empty one not");

	fresh();
	msg_begin("aoai-route", 1);
	arg_str("pool", "chat");
	msg_begin("aoai-other", 0);
	tap_is_int(notify(), 0, "route and an unknown message");
	tap_ok(sp.cnt.msg_route == 1 && sp.cnt.msg_unknown == 1 &&
		       sp.cnt.bad_value == 0,
	       "route and unknown counted, nothing garbage");
	tap_ok(ap - ack > 20, "the ACK carries the decision");

	fresh();
	memcpy(msg,
	       "\x0a"
	       "aoai-ro",
	       8);
	mp = msg + 8;
	tap_is_int(notify(), -1, "a truncated message is an error");

	fresh();
	msg_begin("aoai-route", 1);
	arg_str("pool", "chat");
	tap_is_int(spoa_notify(&sp, msg, (size_t)(mp - msg), &ap, ack + 8), -2,
		   "actions that do not fit: -2, told apart from malformed");

	route_free(sp.route);
	cfg_free(cfg);
	return tap_done();
}

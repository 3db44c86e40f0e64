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

/* What HAProxy sends for a variable that is not set. */
static void arg_null(const char *name)
{
	struct spop_data d = {.type = SPOP_DATA_NULL};

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

/* eastus's decision-to-result histogram. */
static struct route_latency dlat(void)
{
	struct route_backend_info bi;

	if (route_backend_info(sp.route, 0, clock_now.ms, &bi) < 0)
		abort();
	return bi.decision_latency;
}

/* One aoai-result from eastus, status 200, since_decision_ms set by
 * <arg> (which adds one argument). Returns how many observations the
 * decision-to-result histogram gained; bad_value is in sp.cnt.
 */
static long long since_decision(void (*arg)(void))
{
	uint64_t before = dlat().count;

	fresh();
	msg_begin("aoai-result", 3);
	arg_str("backend", "eastus");
	arg_int("status", 200);
	arg();
	if (notify() != 0 || results_learned() == 0)
		abort();
	return (long long)(dlat().count - before);
}

static void sd_int(void)
{
	arg_int("since_decision_ms", 1234);
}

static void sd_str(void)
{
	arg_str("since_decision_ms", "40");
}

static void sd_zero(void)
{
	arg_int("since_decision_ms", 0);
}

static void sd_null(void)
{
	arg_null("since_decision_ms");
}

static void sd_empty(void)
{
	arg_str("since_decision_ms", "");
}

static void sd_negative(void)
{
	arg_int("since_decision_ms", -3);
}

static void sd_negative_str(void)
{
	arg_str("since_decision_ms", "-3");
}

static void sd_garbage(void)
{
	arg_str("since_decision_ms", "12ms");
}

static void sd_epoch(void)
{
	/* date(0,ms) minus a zero stamp */
	arg_int("since_decision_ms", 1764806400000);
}

static void sd_bool(void)
{
	struct spop_data d = {.type = SPOP_DATA_BOOL, .u.b = true};

	if (spop_encode_kv(&mp, msg + sizeof(msg), "since_decision_ms", &d) < 0)
		abort();
}

static void sd_other(void)
{
	arg_int("duration_ms", 5);
}

/* since_decision_ms: integers and decimal strings feed the histogram;
 * absent, NULL (HAProxy's unset variable) and empty values are not
 * measured and not garbage; negative, non-numeric and impossibly large
 * values are counted once in bad_value and not measured; the result
 * itself is learned in every case.
 */
static void test_since_decision(void)
{
	static const struct {
		void (*arg)(void);
		long long timed, bad;
		const char *what;
	} cases[] = {
		{sd_int, 1, 0, "integer 1234"},
		{sd_str, 1, 0, "decimal string \"40\""},
		{sd_zero, 1, 0, "0: the same millisecond"},
		{sd_other, 0, 0, "absent"},
		{sd_null, 0, 0, "NULL (variable not set)"},
		{sd_empty, 0, 0, "empty string"},
		{sd_negative, 0, 1, "negative integer"},
		{sd_negative_str, 0, 1, "negative string"},
		{sd_garbage, 0, 1, "garbage \"12ms\""},
		{sd_epoch, 0, 1, "a whole epoch in ms"},
		{sd_bool, 0, 1, "a boolean"},
	};
	struct route_latency h;
	size_t i;

	route_clear_counters(sp.route);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t learned = results_learned();
		long long timed = since_decision(cases[i].arg);

		tap_ok(timed == cases[i].timed &&
			       (long long)sp.cnt.bad_value == cases[i].bad &&
			       results_learned() == learned + 1,
		       "since_decision_ms %s: timed %lld (want %lld), "
		       "bad_value %llu (want %lld), result learned",
		       cases[i].what, timed, cases[i].timed,
		       (unsigned long long)sp.cnt.bad_value, cases[i].bad);
	}
	h = dlat();
	tap_is_int((long long)h.count, 3, "three decision-to-result times");
	tap_is_int((long long)h.sum_ms, 1234 + 40 + 0, "their sum in ms");
	tap_ok(h.bucket[0] == 1 && h.bucket[ROUTE_LAT_BUCKETS - 1] == 0,
	       "0 ms in the first bucket, nothing in +Inf");
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

	test_since_decision();

	route_free(sp.route);
	cfg_free(cfg);
	return tap_done();
}

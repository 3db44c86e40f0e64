/* SPDX-License-Identifier: Apache-2.0 */
/* aoai-route -> decision -> set-var actions; aoai-result -> learning.
 *
 * This is the per-request hot path: it reads arguments in place from the
 * frame, asks the routing engine, and encodes actions straight into the
 * connection's output buffer. No allocation, no system call.
 */
#include <string.h>
#include <time.h>

#include "clock.h"
#include "fleet.h"
#include "hdr.h"
#include "log.h"
#include "route.h"
#include "spoa.h"
#include "spop.h"
#include "text.h"

#define MSG_ROUTE  "aoai-route"
#define MSG_RESULT "aoai-result"

/* HAProxy 3.1 stalls on an ACK without action (docs/design.md); an unknown
 * variable is silently ignored (SPOE.txt §3.4), so unsetting this one is
 * an action with no effect.
 */
#define SPOA_VAR_NOOP "noop"

/* No attempt lives a day (HAProxy's timeouts end it within minutes): a
 * larger since_decision_ms is a stamp that was not a time, e.g. a zero
 * read from a garbled header, which would make the difference the epoch.
 */
#define SPOA_SINCE_DECISION_MAX_MS (24 * 3600 * 1000)

/* Inline so that strlen() of the literal names folds to a constant. */
static inline int set_var_str(char **p, char *end, const char *name,
			      const char *v, size_t len)
{
	return spop_encode_set_var_str(p, end, SPOP_SCOPE_TXN, name,
				       strlen(name), v, len);
}

static int set_var_int(char **p, char *end, const char *name, int64_t v)
{
	struct spop_data d = {.type = SPOP_DATA_INT64, .u.sint = v};

	return spop_encode_set_var(p, end, SPOP_SCOPE_TXN, name, strlen(name),
				   &d);
}

/* Reads a numeric argument: any integer type, or a decimal string (HAProxy
 * sends header values as strings). Returns 1 with <out>, 0 when absent
 * (NULL), -1 when garbage (counted, never fatal).
 */
static int arg_uint(struct spoa *sp, const struct spop_kv *kv, uint64_t *out)
{
	switch (kv->val.type) {
	case SPOP_DATA_NULL:
		return 0;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		if (kv->val.u.sint < 0)
			break;
		*out = (uint64_t)kv->val.u.sint;
		return 1;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		*out = kv->val.u.uint;
		return 1;
	case SPOP_DATA_STR:
	case SPOP_DATA_BIN:
		if (kv->val.u.str.len == 0)
			return 0;
		if (hdr_parse_uint(kv->val.u.str.ptr, kv->val.u.str.len, out) ==
		    0)
			return 1;
		break;
	default:
		break;
	}
	sp->cnt.bad_value++;
	return -1;
}

/* Same for Retry-After: delta-seconds or an HTTP-date, as milliseconds. */
static int arg_retry_after(struct spoa *sp, const struct spop_kv *kv,
			   bool in_ms, uint64_t *ms)
{
	const char *s;
	size_t len;
	int r;

	if (kv->val.type != SPOP_DATA_STR && kv->val.type != SPOP_DATA_BIN) {
		r = arg_uint(sp, kv, ms);
		if (r == 1 && !in_ms)
			*ms = *ms > UINT64_MAX / 1000 ? UINT64_MAX : *ms * 1000;
		return r;
	}
	s = kv->val.u.str.ptr;
	len = kv->val.u.str.len;
	if (len == 0)
		return 0;
	if (in_ms)
		r = hdr_parse_retry_after_ms(s, len, ms);
	else
		r = hdr_parse_retry_after(s, len, clock_now.wall_s, ms);
	if (r == 0)
		return 1;
	sp->cnt.bad_value++;
	return -1;
}

/* A "fleet.<backend>@<node>" argument: the table value HAProxy read for
 * it (an integer; none when HAProxy had no entry) to the fleet link.
 */
static void spoa_fleet_arg(struct spoa *sp, const struct spop_kv *kv)
{
	const size_t pl = sizeof(FLEET_ARG_PREFIX) - 1;
	uint64_t v = 0;

	if (!sp->fleet || !*sp->fleet)
		return;
	switch (kv->val.type) {
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		v = kv->val.u.sint > 0 ? (uint64_t)kv->val.u.sint : 0;
		break;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		v = kv->val.u.uint;
		break;
	default:
		break;
	}
	fleet_arg(*sp->fleet, kv->name + pl, kv->name_len - pl, v);
}

/* route_decide(), timed into the latency histogram. */
static void spoa_decide_timed(struct spoa *sp, const char *pool,
			      size_t pool_len, const char *key, size_t key_len,
			      struct route_decision *d)
{
	static const uint64_t bounds[] = SPOA_HIST_BOUNDS_NS;
	struct spoa_hist *h = &sp->decide_hist;
	struct timespec t0, t1;
	uint64_t ns;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	route_decide(sp->route, pool, pool_len, key, key_len, clock_now.ms, d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u +
	     (uint64_t)t1.tv_nsec - (uint64_t)t0.tv_nsec;
	for (i = 0; ns > bounds[i]; i++)
		;
	h->bucket[i]++;
	h->count++;
	h->sum_ns += ns;
}

static int spoa_route(struct spoa *sp, struct spop_msg_iter *it, char **p,
		      char *end)
{
	const char *pool = "", *key = NULL;
	size_t pool_len = 0, key_len = 0;
	struct route_decision d;
	const char *reason;
	struct spop_kv kv;
	int r;

	sp->cnt.msg_route++;
	while ((r = spop_arg_next(it, &kv)) == 1) {
		bool text = kv.val.type == SPOP_DATA_STR ||
			    kv.val.type == SPOP_DATA_BIN;

		if (spop_name_eq(kv.name, kv.name_len, "pool") && text) {
			pool = kv.val.u.str.ptr;
			pool_len = kv.val.u.str.len;
		} else if (spop_name_eq(kv.name, kv.name_len, "key") && text) {
			key = kv.val.u.str.ptr;
			key_len = kv.val.u.str.len;
		} else if (kv.name_len > sizeof(FLEET_ARG_PREFIX) - 1 &&
			   memcmp(kv.name, FLEET_ARG_PREFIX,
				  sizeof(FLEET_ARG_PREFIX) - 1) == 0) {
			spoa_fleet_arg(sp, &kv);
		}
		/* unknown arguments are ignored (docs/design.md) */
	}
	if (r < 0)
		return -1;
	if (sp->cnt.msg_route % SPOA_HIST_SAMPLE == 0)
		spoa_decide_timed(sp, pool, pool_len, key, key_len, &d);
	else
		route_decide(sp->route, pool, pool_len, key, key_len,
			     clock_now.ms, &d);
	if (d.reason == ROUTE_UNKNOWN_POOL) {
		char name[CFG_NAME_MAX];

		log_rl(&sp->rl_pool, clock_now.ms, LOG_WARNING,
		       "aoai-route: unknown pool \"%s\"",
		       text_printable(name, sizeof(name), pool, pool_len));
	}
	if (d.backend >= 0 &&
	    set_var_str(p, end, SPOA_VAR_BACKEND, d.name, d.name_len) < 0)
		return -2;
	reason = route_reason_str(d.reason);
	if (set_var_str(p, end, SPOA_VAR_REASON, reason, strlen(reason)) < 0)
		return -2;
	if (d.reason == ROUTE_EXHAUSTED &&
	    set_var_int(p, end, SPOA_VAR_RETRY_AFTER, d.retry_after_s) < 0)
		return -2;
	return 0;
}

/* A deadline of this node that the result started or extended goes back
 * in the ACK, for HAProxy to write to the fleet's table with the
 * response (fleet_result()). Returns 0, or -2 when it does not fit.
 */
static int spoa_fleet_result(struct spoa *sp, int b, char **p, char *end)
{
	const char *key;
	uint32_t until;
	size_t len;

	if (!sp->fleet || !fleet_result(*sp->fleet, b, &key, &len, &until))
		return 0;
	if (set_var_str(p, end, SPOA_VAR_FLEET_KEY, key, len) < 0 ||
	    set_var_int(p, end, SPOA_VAR_FLEET_UNTIL, until) < 0)
		return -2;
	return 0;
}

static int spoa_result(struct spoa *sp, struct spop_msg_iter *it, char **p,
		       char *end)
{
	struct route_result res = {
		.retry_after_ms = -1,
		.remaining_requests = -1,
		.remaining_tokens = -1,
		.duration_ms = -1,
		.since_decision_ms = -1,
	};
	uint64_t ra_s = 0, ra_ms = 0, v;
	bool has_ra_s = false, has_ra_ms = false, has_status = false;
	struct spop_kv kv;
	int r;

	sp->cnt.msg_result++;
	while ((r = spop_arg_next(it, &kv)) == 1) {
		const char *n = kv.name;
		size_t l = kv.name_len;

		if (spop_name_eq(n, l, "backend")) {
			if (kv.val.type == SPOP_DATA_STR) {
				res.backend = kv.val.u.str.ptr;
				res.backend_len = kv.val.u.str.len;
			}
		} else if (spop_name_eq(n, l, "status")) {
			/* arg_uint() already counted a value it could not
			 * parse; only a parsed but impossible status is left
			 */
			if (arg_uint(sp, &kv, &v) != 1)
				continue;
			if (v <= 999) {
				res.status = (int)v;
				has_status = true;
			} else {
				sp->cnt.bad_value++;
			}
		} else if (spop_name_eq(n, l, "retry_after")) {
			has_ra_s = arg_retry_after(sp, &kv, false, &ra_s) == 1;
		} else if (spop_name_eq(n, l, "retry_after_ms")) {
			has_ra_ms = arg_retry_after(sp, &kv, true, &ra_ms) == 1;
		} else if (spop_name_eq(n, l, "remaining_requests")) {
			if (arg_uint(sp, &kv, &v) == 1)
				res.remaining_requests =
					v > INT64_MAX ? INT64_MAX : (int64_t)v;
		} else if (spop_name_eq(n, l, "remaining_tokens")) {
			if (arg_uint(sp, &kv, &v) == 1)
				res.remaining_tokens =
					v > INT64_MAX ? INT64_MAX : (int64_t)v;
		} else if (spop_name_eq(n, l, "duration_ms")) {
			if (arg_uint(sp, &kv, &v) == 1)
				res.duration_ms =
					v > INT64_MAX ? INT64_MAX : (int64_t)v;
		} else if (spop_name_eq(n, l, "since_decision_ms")) {
			if (arg_uint(sp, &kv, &v) != 1)
				continue;
			if (v <= SPOA_SINCE_DECISION_MAX_MS)
				res.since_decision_ms = (int64_t)v;
			else
				sp->cnt.bad_value++;
		}
	}
	if (r < 0)
		return -1;
	/* milliseconds are more precise than Retry-After's seconds */
	if (has_ra_ms)
		res.retry_after_ms =
			ra_ms > INT64_MAX ? INT64_MAX : (int64_t)ra_ms;
	else if (has_ra_s)
		res.retry_after_ms =
			ra_s > INT64_MAX ? INT64_MAX : (int64_t)ra_s;
	/* no server served it (HAProxy answered itself), or a status we
	 * cannot read: that is not "no response", so nothing is learned
	 */
	if (!res.backend || !res.backend_len || !has_status)
		return 0;
	return spoa_fleet_result(sp, route_learn(sp->route, &res, clock_now.ms),
				 p, end);
}

int spoa_notify(struct spoa *sp, const char *payload, size_t len, char **p,
		char *end)
{
	struct spop_msg_iter it;
	struct spop_msg m;
	char *start = *p;
	int r;

	spop_msg_iter_init(&it, payload, len);
	while ((r = spop_msg_next(&it, &m)) == 1) {
		if (spop_name_eq(m.name, m.name_len, MSG_ROUTE))
			r = spoa_route(sp, &it, p, end);
		else if (spop_name_eq(m.name, m.name_len, MSG_RESULT))
			r = spoa_result(sp, &it, p, end);
		else
			sp->cnt.msg_unknown++;
		if (r < 0)
			return r;
	}
	if (r < 0)
		return -1;
	if (*p == start &&
	    spop_encode_unset_var(p, end, SPOP_SCOPE_TXN, SPOA_VAR_NOOP,
				  sizeof(SPOA_VAR_NOOP) - 1) < 0)
		return -2;
	return 0;
}

void spoa_reset_counters(struct spoa *s)
{
	memset(&s->cnt, 0, sizeof(s->cnt));
	memset(&s->decide_hist, 0, sizeof(s->decide_hist));
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Routing engine: run-time overrides and external signals, inspection,
 * and the state snapshots' export and restore.
 */
#include <stdio.h>
#include <string.h>

#include "breaker.h"
#include "route-priv.h"
#include "route.h"

/* ---------------------------------------------------------------- */
/* overrides and external signals                                    */

int route_set_weight(struct route_engine *e, int p, int b, uint32_t weight)
{
	struct route_pool *rp;
	uint32_t i;
	int found = -1;

	if (!route_pool_ok(e, p) || !route_backend_ok(e, b) ||
	    weight > CFG_WEIGHT_MAX)
		return -1;
	rp = &e->pools[p];
	for (i = 0; i < rp->n; i++) {
		if (rp->m[i].backend == (uint32_t)b) {
			rp->m[i].weight = weight;
			rp->m[i].overridden = true;
			found = 0;
			e->epoch++;
			e->saved_gen++;
		}
	}
	return found;
}

int route_set_disabled(struct route_engine *e, int b, bool disabled)
{
	if (!route_backend_ok(e, b))
		return -1;
	e->backends[b].disabled = disabled;
	e->epoch++;
	e->saved_gen++;
	return 0;
}

int route_set_down(struct route_engine *e, int b, bool down)
{
	if (!route_backend_ok(e, b))
		return -1;
	e->backends[b].down = down;
	e->epoch++;
	return 0;
}

int route_set_auth(struct route_engine *e, int b, bool usable)
{
	if (!route_backend_ok(e, b))
		return -1;
	e->backends[b].no_auth = !usable;
	e->epoch++;
	return 0;
}

int route_trip(struct route_engine *e, int b, uint32_t duration_ms,
	       uint64_t now_ms)
{
	struct breaker_event ev = {0};

	if (!route_backend_ok(e, b))
		return -1;
	breaker_trip(&e->backends[b].br, duration_ms, now_ms, &ev);
	route_breaker_done(e, (uint32_t)b, &ev);
	return 0;
}

int route_reset(struct route_engine *e, int b, uint64_t now_ms)
{
	struct breaker_event ev = {0};
	uint32_t p, i;

	(void)now_ms;
	if (!route_backend_ok(e, b))
		return -1;
	e->backends[b].disabled = false;
	breaker_reset(&e->backends[b].br, &ev);
	route_breaker_done(e, (uint32_t)b, &ev);
	for (p = 0; p < e->n_pools; p++) {
		struct route_pool *rp = &e->pools[p];

		for (i = 0; i < rp->n; i++) {
			if (rp->m[i].backend != (uint32_t)b)
				continue;
			rp->m[i].weight = rp->m[i].cfg_weight;
			rp->m[i].overridden = false;
		}
	}
	e->epoch++;
	e->saved_gen++;
	return 0;
}

int route_fleet(struct route_engine *e, int b, uint64_t until_ms,
		const char *why, uint64_t now_ms)
{
	struct breaker_event ev = {0};

	if (!route_backend_ok(e, b))
		return -1;
	route_advance(e, (uint32_t)b, now_ms);
	until_ms =
		route_min64(until_ms, route_after(now_ms, ROUTE_WAIT_CEIL_MS));
	if (!breaker_on_fleet(&e->backends[b].br, until_ms, now_ms, why, &ev))
		return 0;
	e->backends[b].c.fleet_cooldowns++;
	route_breaker_done(e, (uint32_t)b, &ev);
	return 1;
}

int route_fleet_clear(struct route_engine *e, int b, uint64_t now_ms)
{
	struct breaker_event ev = {0};
	bool closed;

	if (!route_backend_ok(e, b))
		return -1;
	route_advance(e, (uint32_t)b, now_ms);
	closed = breaker_fleet_clear(&e->backends[b].br, &ev);
	route_breaker_done(e, (uint32_t)b, &ev);
	return closed ? 1 : 0;
}

uint64_t route_own_cooldown(const struct route_engine *e, int b,
			    uint64_t now_ms)
{
	const struct breaker *br;

	if (!route_backend_ok(e, b))
		return 0;
	br = &e->backends[b].br;
	if (br->state != BREAKER_ST_COOLING ||
	    br->cause != BREAKER_BY_BREAKER || br->until_ms <= now_ms)
		return 0;
	return br->until_ms;
}

int route_fault(struct route_engine *e, int b, uint64_t now_ms)
{
	struct breaker_event ev = {0};
	struct breaker *br;

	if (!route_backend_ok(e, b))
		return -1;
	route_advance(e, (uint32_t)b, now_ms);
	br = &e->backends[b].br;
	e->backends[b].c.external_faults++;
	if (br->state == BREAKER_ST_HALF_OPEN)
		breaker_probe_answered(br, &ev);
	breaker_on_fault(br, now_ms, -1, "connection error", &ev);
	route_breaker_done(e, (uint32_t)b, &ev);
	return 0;
}

/* ---------------------------------------------------------------- */
/* inspection                                                        */

int route_backend_info(struct route_engine *e, int b, uint64_t now_ms,
		       struct route_backend_info *out)
{
	struct route_backend *bk;

	if (!route_backend_ok(e, b))
		return -1;
	route_advance(e, (uint32_t)b, now_ms);
	bk = &e->backends[b];
	memset(out, 0, sizeof(*out));
	out->name = bk->cfg->name;
	out->state = (enum route_state)bk->br.state;
	out->cause = (enum route_cause)bk->br.cause;
	out->operator_trip = bk->br.state == BREAKER_ST_OPEN &&
			     bk->br.cause == BREAKER_BY_OPERATOR;
	out->disabled = bk->disabled;
	out->down = bk->down;
	out->no_auth = bk->no_auth;
	out->why = bk->br.why;
	out->until_ms = bk->br.until_ms;
	out->trip_duration_ms = (uint32_t)breaker_trip_ms(&bk->br);
	out->consecutive_trips = bk->br.consecutive_trips;
	out->probes_inflight = bk->br.n_probes;
	out->probe_limit = breaker_probe_limit(&bk->br);
	breaker_window_sum(&bk->br, now_ms, &out->window_faults,
			   &out->window_calls);
	out->consecutive_faults = bk->br.consecutive_faults;
	out->remaining_requests = bk->rem_req;
	out->remaining_tokens = bk->rem_tok;
	out->remaining_requests_age_ms =
		bk->rem_req >= 0 ? (int64_t)(now_ms - bk->rem_req_at) : -1;
	out->remaining_tokens_age_ms =
		bk->rem_tok >= 0 ? (int64_t)(now_ms - bk->rem_tok_at) : -1;
	out->headroom_permille = route_headroom_now(bk, now_ms);
	out->counters = bk->c;
	out->counters.probe_timeouts = bk->br.c.probe_timeouts;
	out->counters.faults = bk->br.c.faults;
	out->counters.trips = bk->br.c.trips;
	out->counters.cooldowns = bk->br.c.cooldowns;
	out->counters.recoveries = bk->br.c.recoveries;
	out->latency = bk->lat;
	out->decision_latency = bk->dlat;
	return 0;
}

int route_pool_info(const struct route_engine *e, int p,
		    struct route_pool_info *out)
{
	const struct route_pool *rp;

	if (!route_pool_ok(e, p))
		return -1;
	rp = &e->pools[p];
	memset(out, 0, sizeof(*out));
	out->name = rp->cfg->name;
	out->n_members = rp->n;
	out->best_priority = rp->best_priority;
	out->cur_priority = rp->cur_priority;
	out->counters = rp->c;
	return 0;
}

int route_member_info(struct route_engine *e, int p, uint32_t i,
		      uint64_t now_ms, struct route_member_info *out)
{
	const struct route_member *m;
	const struct route_backend *bk;

	if (!route_pool_ok(e, p) || i >= e->pools[p].n)
		return -1;
	m = &e->pools[p].m[i];
	route_advance(e, m->backend, now_ms);
	bk = &e->backends[m->backend];
	memset(out, 0, sizeof(*out));
	out->backend = (int)m->backend;
	out->priority = m->priority;
	out->cfg_weight = m->cfg_weight;
	out->weight = m->weight;
	out->weight_overridden = m->overridden;
	if (route_eligible(m, bk))
		out->effective_milli =
			m->weight * route_headroom_now(bk, now_ms);
	out->available =
		route_eligible(m, bk) && (bk->br.state == BREAKER_ST_CLOSED ||
					  breaker_can_probe(&bk->br));
	return 0;
}

const struct route_engine_counters *route_engine_counters(
	const struct route_engine *e)
{
	return &e->c;
}

/* ---------------------------------------------------------------- */
/* snapshots                                                         */

void route_snapshot_backends(struct route_engine *e, uint64_t now_ms,
			     uint64_t now_wall_ms, route_saved_fn fn, void *arg)
{
	struct route_saved s;
	uint32_t b;

	for (b = 0; b < e->n_backends; b++) {
		const struct route_backend *bk = &e->backends[b];
		const struct breaker *br = &bk->br;

		route_advance(e, b, now_ms);
		memset(&s, 0, sizeof(s));
		s.state = (enum route_state)br->state;
		s.cause = (enum route_cause)br->cause;
		s.disabled = bk->disabled;
		/* after route_advance() an open or cooling deadline is ahead */
		if (br->state == BREAKER_ST_OPEN ||
		    br->state == BREAKER_ST_COOLING)
			s.until_wall_ms = route_after(
				now_wall_ms, br->until_ms > now_ms
						     ? br->until_ms - now_ms
						     : 0);
		s.consecutive_trips = br->consecutive_trips;
		s.trip_duration_ms = (uint32_t)breaker_trip_ms(br);
		memcpy(s.why, br->why, sizeof(s.why));
		s.why[sizeof(s.why) - 1] = '\0';
		fn(arg, bk->cfg->name, bk->name_len, &s);
	}
}

void route_snapshot_weights(const struct route_engine *e,
			    route_saved_weight_fn fn, void *arg)
{
	struct route_saved_weight w;
	uint32_t p, i;

	for (p = 0; p < e->n_pools; p++) {
		const struct route_pool *rp = &e->pools[p];

		for (i = 0; i < rp->n; i++) {
			const struct route_backend *bk =
				&e->backends[rp->m[i].backend];

			if (!rp->m[i].overridden)
				continue;
			w.pool = rp->cfg->name;
			w.pool_len = rp->name_len;
			w.backend = bk->cfg->name;
			w.backend_len = bk->name_len;
			w.weight = rp->m[i].weight;
			fn(arg, &w);
		}
	}
}

int route_restore_backend(struct route_engine *e, const char *name, size_t len,
			  const struct route_saved *s, uint64_t now_ms,
			  uint64_t now_wall_ms)
{
	struct breaker_event ev = {0};
	struct route_backend *bk;
	enum breaker_state to = (enum breaker_state)s->state;
	enum breaker_cause cause = (enum breaker_cause)s->cause;
	uint64_t until = 0;
	char why[ROUTE_WHY_MAX];
	int b;

	b = route_table_lookup(&e->backend_tab, name, len);
	if (b < 0 || (unsigned)s->state > ROUTE_ST_HALF_OPEN ||
	    (unsigned)s->cause > ROUTE_BY_FLEET)
		return -1;
	bk = &e->backends[b];
	if (bk->br.state != BREAKER_ST_CLOSED)
		return -1;
	/* why is a fixed array that may come from a file: bound it */
	snprintf(why, sizeof(why), "%.*s", (int)strnlen(s->why, sizeof(why)),
		 s->why);
	if (to == BREAKER_ST_OPEN || to == BREAKER_ST_COOLING) {
		if (s->until_wall_ms > now_wall_ms) {
			until = route_after(
				now_ms,
				route_min64(s->until_wall_ms - now_wall_ms,
					    ROUTE_WAIT_CEIL_MS));
		} else {
			snprintf(why, sizeof(why), "%s",
				 to == BREAKER_ST_OPEN ? "trip over"
						       : "cooldown over");
			to = BREAKER_ST_HALF_OPEN;
			cause = BREAKER_BY_BREAKER;
		}
	}
	bk->disabled = s->disabled;
	breaker_restore(&bk->br, to, until,
			(uint32_t)route_min64(s->consecutive_trips,
					      ROUTE_TRIPS_RESTORE_MAX),
			why, cause, &ev);
	route_breaker_done(e, (uint32_t)b, &ev);
	return 0;
}

uint64_t route_saved_gen(const struct route_engine *e)
{
	return e->saved_gen;
}

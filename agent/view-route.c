/* SPDX-License-Identifier: Apache-2.0 */
/* The backends and pools views: their columns, declared once, and their
 * rows.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authset.h"
#include "cred.h"
#include "route.h"
#include "text.h"
#include "view-route.h"
#include "view.h"

static const char *const vr_states[] = {"closed", "open", "cooling",
					"half-open"};

/* The backend columns: X(type, the cell from row <r>, the column). One
 * entry per column: the text table shows those with a .head in this
 * order, JSON those with a .key, Prometheus those with a .prom. The
 * engine's counters follow, generated from ROUTE_BACKEND_COUNTERS.
 */
#define VR_COLS(X)                                                             \
	X(STR, r->bi.name, .key = "name", .head = "BACKEND")                   \
	X(ENUM, r->bi.state, .key = "state", .head = "STATE",                  \
	  .prom = "backend_state", .ptype = "gauge",                           \
	  .help = "breaker state of the backend: 1 for the state it is in",    \
	  .names = vr_states, .n_names = 4, .label = "state")                  \
	X(STR, r->left, .head = "UNTIL")                                       \
	X(STR, r->flags[0] ? r->flags + 1 : "", .head = "FLAGS")               \
	X(STR, r->weight, .head = "WEIGHT")                                    \
	X(STR, r->head, .head = "HEADROOM")                                    \
	X(U64, r->bi.counters.decisions, .head = "DECISIONS")                  \
	X(U64, r->bi.counters.results_2xx, .head = "2XX")                      \
	X(U64, r->bi.counters.results_4xx, .head = "4XX")                      \
	X(U64, r->bi.counters.throttles, .head = "429")                        \
	X(U64, r->bi.counters.results_5xx, .head = "5XX")                      \
	X(U64, r->bi.counters.faults, .head = "FAULTS")                        \
	X(U64, r->bi.counters.trips, .head = "TRIPS")                          \
	X(STR, r->auth, .head = "AUTH")                                        \
	X(STR, r->why, .head = "REASON")                                       \
	X(STR, r->bi.why, .key = "reason")                                     \
	X(BOOL, r->bi.disabled, .key = "disabled", .prom = "backend_disabled", \
	  .ptype = "gauge",                                                    \
	  .help = "1 when an operator disabled the backend (drain)")           \
	X(BOOL, r->bi.down, .key = "down", .prom = "backend_down",             \
	  .ptype = "gauge",                                                    \
	  .help = "1 when HAProxy reports the server DOWN or in MAINT")        \
	X(BOOL, r->bi.no_auth, .key = "auth_unavailable",                      \
	  .prom = "backend_auth_unavailable", .ptype = "gauge",                \
	  .help = "1 when a keyless backend has no access token HAProxy "      \
		  "holds")                                                     \
	X(BOOL, r->bi.disabled, .key = "disabled", .group = "runtime")         \
	X(BOOL, r->bi.operator_trip, .key = "trip", .group = "runtime")        \
	X(BOOL, r->weight_set, .key = "weight", .group = "runtime")            \
	X(U64, vr_left_ms(&r->bi, now_ms), .key = "remaining_ms",              \
	  .prom = "backend_cooldown_remaining_seconds", .ptype = "gauge",      \
	  .unit = VIEW_UNIT_MILLI,                                             \
	  .help = "time until an open or cooling backend turns half-open")     \
	X(U64, r->bi.trip_duration_ms, .key = "trip_duration_ms")              \
	X(U64, r->bi.consecutive_trips, .key = "consecutive_trips")            \
	X(U64, r->bi.probes_inflight, .key = "probes_inflight")                \
	X(U64, r->bi.probe_limit, .key = "probe_limit")                        \
	X(U64, r->bi.window_faults, .key = "window_faults")                    \
	X(U64, r->bi.window_calls, .key = "window_calls")                      \
	X(U64, r->bi.consecutive_faults, .key = "consecutive_faults")          \
	X(U64, vr_weight_permille(&r->bi), .key = "weight_permille",           \
	  .prom = "backend_weight_ratio", .ptype = "gauge",                    \
	  .unit = VIEW_UNIT_MILLI,                                             \
	  .help = "share of its configured weights the backend gets now: 0 "   \
		  "unless closed, enabled and up; else the headroom factor")   \
	X(U64, r->bi.headroom_permille, .key = "headroom_permille",            \
	  .prom = "backend_headroom_ratio", .ptype = "gauge",                  \
	  .unit = VIEW_UNIT_MILLI,                                             \
	  .help = "weight factor from x-ratelimit-remaining-* (1 = full)")     \
	X(I64, r->bi.remaining_requests, .key = "remaining_requests",          \
	  .prom = "backend_remaining_requests", .ptype = "gauge",              \
	  .help = "last x-ratelimit-remaining-requests seen")                  \
	X(I64, r->bi.remaining_tokens, .key = "remaining_tokens",              \
	  .prom = "backend_remaining_tokens", .ptype = "gauge",                \
	  .help = "last x-ratelimit-remaining-tokens seen")                    \
	X(I64, r->bi.remaining_requests_age_ms,                                \
	  .key = "remaining_requests_age_ms",                                  \
	  .prom = "backend_remaining_requests_age_seconds", .ptype = "gauge",  \
	  .unit = VIEW_UNIT_MILLI,                                             \
	  .help = "time since x-ratelimit-remaining-requests was last seen")   \
	X(I64, r->bi.remaining_tokens_age_ms,                                  \
	  .key = "remaining_tokens_age_ms",                                    \
	  .prom = "backend_remaining_tokens_age_seconds", .ptype = "gauge",    \
	  .unit = VIEW_UNIT_MILLI,                                             \
	  .help = "time since x-ratelimit-remaining-tokens was last seen")     \
	X(STR, r->cred ? cred_kind_name(r->cred->conf.kind) : NULL,            \
	  .key = "kind", .group = "auth")                                      \
	X(STR, vr_token_state(r->cred), .key = "token", .group = "auth")       \
	X(INT, r->cred ? cred_seconds_left(r->cred) : 0,                       \
	  .key = "expires_in_s", .group = "auth")                              \
	X(U64, r->cred ? r->cred->refreshes : 0, .key = "refreshes",           \
	  .group = "auth")                                                     \
	X(U64, r->cred ? r->cred->failures : 0, .key = "failures",             \
	  .group = "auth")                                                     \
	X(STR, r->cred ? r->cred->last_error : NULL, .key = "last_error",      \
	  .group = "auth")

/* Results by status class share one family, with a "class" label. */
static const struct {
	const char *counter;
	const char *class;
} vr_result_classes[] = {
	{"results_2xx", "2xx"}, {"results_3xx", "3xx"},
	{"results_4xx", "4xx"}, {"throttles", "throttle"},
	{"results_5xx", "5xx"}, {"results_none", "none"},
};

enum {
#define X(type, expr, ...) +1
	VR_NSTATIC = 0 VR_COLS(X),
#undef X
#define X(name, help) +1
	VR_NCOUNTERS = 0 ROUTE_BACKEND_COUNTERS(X),
#undef X
	VR_NCOLS = VR_NSTATIC + VR_NCOUNTERS,
};

static const struct view_col vr_static[VR_NSTATIC] = {
#define X(t, expr, ...) {.type = VIEW_##t, __VA_ARGS__},
	VR_COLS(X)
#undef X
};

#define VR_NCLASSES (sizeof(vr_result_classes) / sizeof(vr_result_classes[0]))

/* Index in vr_result_classes of counter <name>, or VR_NCLASSES. */
static size_t vr_result_class(const char *name)
{
	size_t j;

	for (j = 0; j < VR_NCLASSES; j++)
		if (strcmp(name, vr_result_classes[j].counter) == 0)
			break;
	return j;
}

static struct view_col vr_cols[VR_NCOLS];
/* the counter (ROUTE_BACKEND_COUNTERS order) each counter column shows */
static size_t vr_order[VR_NCOUNTERS];
static char vr_names[VR_NCOUNTERS][48];
static const struct view vr_view = {vr_cols, VR_NCOLS, "backend"};

/* Completes the column table once: the counters' columns, each in the
 * JSON "counters" object and in a Prometheus family of its own, or in
 * backend_results_total when it counts a status class.
 */
static void vr_cols_init(void)
{
	static const char *const names[] = {
#define X(name, help) #name,
		ROUTE_BACKEND_COUNTERS(X)
#undef X
	};
	static const char *const helps[] = {
#define X(name, help) help,
		ROUTE_BACKEND_COUNTERS(X)
#undef X
	};
	struct view_col *c = &vr_cols[VR_NSTATIC];
	size_t k, j, pass;

	if (vr_cols[0].key)
		return;
	memcpy(vr_cols, vr_static, sizeof(vr_static));
	/* the status classes first: backend_results_total leads the
	 * counter families, as it always has
	 */
	for (pass = 0; pass < 2; pass++)
		for (k = 0; k < VR_NCOUNTERS; k++) {
			j = vr_result_class(names[k]);
			if ((j < VR_NCLASSES) != (pass == 0))
				continue;
			vr_order[c - &vr_cols[VR_NSTATIC]] = k;
			c->type = VIEW_U64;
			c->key = names[k];
			c->group = "counters";
			c->ptype = "counter";
			c->help = helps[k];
			snprintf(vr_names[k], sizeof(vr_names[k]),
				 "backend_%s_total", names[k]);
			c->prom = vr_names[k];
			if (j < VR_NCLASSES) {
				c->prom = "backend_results_total";
				c->help =
					"results learned from aoai-result, by "
					"status class (throttle: a throttle "
					"status such as 429; none: no "
					"response)";
				c->plabel = "class";
				c->pvalue = vr_result_classes[j].class;
			}
			c++;
		}
}

static uint64_t vr_left_ms(const struct route_backend_info *bi, uint64_t now)
{
	if ((bi->state == ROUTE_ST_OPEN || bi->state == ROUTE_ST_COOLING) &&
	    bi->until_ms > now)
		return bi->until_ms - now;
	return 0;
}

/* Share of its configured weight a backend gets now, per mille: 0 while
 * it cannot take ordinary traffic, its headroom factor otherwise.
 */
static uint32_t vr_weight_permille(const struct route_backend_info *bi)
{
	if (bi->disabled || bi->down || bi->no_auth ||
	    bi->state != ROUTE_ST_CLOSED)
		return 0;
	return bi->headroom_permille;
}

/* Marks in <set> the backends that have a weight set at run time in some
 * pool.
 */
static void vr_weight_overrides(struct route_engine *e, uint64_t now_ms,
				struct view_backend_row *rows, uint32_t nb)
{
	uint32_t np = route_pool_count(e), p, i;
	struct route_pool_info pi;
	struct route_member_info mi;

	for (p = 0; p < np; p++) {
		if (route_pool_info(e, (int)p, &pi) < 0)
			continue;
		for (i = 0; i < pi.n_members; i++)
			if (route_member_info(e, (int)p, i, now_ms, &mi) == 0 &&
			    mi.weight_overridden && mi.backend >= 0 &&
			    (uint32_t)mi.backend < nb)
				rows[mi.backend].weight_set = true;
	}
}

/* A credential's token: "valid", "expired", "pending"; NULL without one. */
static const char *vr_token_state(const struct cred *c)
{
	if (!c)
		return NULL;
	return cred_usable(c) ? "valid" : c->expired ? "expired" : "pending";
}

/* The text cells of row <r>. */
static void vr_text_cells(struct view_backend_row *r, uint64_t now_ms)
{
	const struct route_backend_info *bi = &r->bi;

	snprintf(r->flags, sizeof(r->flags), "%s%s%s%s%s",
		 bi->disabled ? ",disabled*" : "",
		 bi->operator_trip ? ",trip*" : "",
		 r->weight_set ? ",weight*" : "", bi->down ? ",down" : "",
		 bi->no_auth ? ",auth" : "");
	if (r->cred)
		snprintf(r->auth, sizeof(r->auth), "%s,%s,%llds",
			 cred_kind_name(r->cred->conf.kind),
			 vr_token_state(r->cred),
			 (long long)cred_seconds_left(r->cred));
	if (bi->no_auth)
		snprintf(r->why, sizeof(r->why), "auth: %s",
			 r->cred && r->cred->last_error[0] ? r->cred->last_error
							   : "no token yet");
	else
		snprintf(r->why, sizeof(r->why), "%s", bi->why);
	if (bi->state == ROUTE_ST_OPEN || bi->state == ROUTE_ST_COOLING)
		text_fmt_left(r->left, sizeof(r->left),
			      bi->until_ms > now_ms ? bi->until_ms - now_ms
						    : 0);
	else if (bi->state == ROUTE_ST_HALF_OPEN)
		snprintf(r->left, sizeof(r->left), "probes %u/%u",
			 bi->probes_inflight, bi->probe_limit);
	else
		snprintf(r->left, sizeof(r->left), "-");
	snprintf(r->weight, sizeof(r->weight), "%u%%",
		 vr_weight_permille(bi) / 10);
	if (bi->remaining_requests >= 0 || bi->remaining_tokens >= 0)
		snprintf(r->head, sizeof(r->head), "%u%% req=%lld tok=%lld",
			 bi->headroom_permille / 10,
			 (long long)bi->remaining_requests,
			 (long long)bi->remaining_tokens);
	else
		snprintf(r->head, sizeof(r->head), "%u%%",
			 bi->headroom_permille / 10);
}

/* The cells of row <r> into <cells>. */
static void vr_cells(const struct view_backend_row *r, uint64_t now_ms,
		     union view_val *cells)
{
	uint32_t k = 0;
	const uint64_t counters[] = {
#define X(name, help) r->bi.counters.name,
		ROUTE_BACKEND_COUNTERS(X)
#undef X
	};
	size_t j;

#define X(t, expr, ...) cells[k++] = VIEW_VAL_##t(expr);
	VR_COLS(X)
#undef X
	for (j = 0; j < VR_NCOUNTERS; j++)
		cells[k++] = VIEW_VAL_U64(counters[vr_order[j]]);
}

int view_backends_fill(struct view_backends *vb, struct route_engine *e,
		       const struct authset *auth, uint64_t now_ms, int only)
{
	uint32_t nb = route_backend_count(e), n = 0, i;
	struct view_backend_row *all;

	vr_cols_init();
	memset(vb, 0, sizeof(*vb));
	all = calloc(nb ? nb : 1, sizeof(*all));
	if (!all)
		return -1;
	vr_weight_overrides(e, now_ms, all, nb);
	for (i = 0; i < nb; i++) {
		if (only >= 0 && (int)i != only)
			continue;
		if (route_backend_info(e, (int)i, now_ms, &all[i].bi) < 0)
			continue;
		if (n != i)
			all[n] = all[i];
		n++;
	}
	if (view_rows_init(&vb->rows, &vr_view, n) < 0) {
		free(all);
		return -1;
	}
	vb->r = all;
	for (i = 0; i < n; i++) {
		struct view_backend_row *r = &all[i];

		r->cred = auth ? authset_find(auth, r->bi.name) : NULL;
		vr_text_cells(r, now_ms);
		if (r->bi.disabled || r->bi.operator_trip || r->weight_set)
			vb->any_runtime = true;
		vr_cells(r, now_ms, view_row(&vb->rows, i));
	}
	return 0;
}

void view_backends_free(struct view_backends *vb)
{
	view_rows_free(&vb->rows);
	free(vb->r);
	vb->r = NULL;
}

/* The pool columns: as VR_COLS, from pool <p>. The decision counters
 * follow, generated from ROUTE_POOL_COUNTERS.
 */
#define VP_COLS(X)                                                             \
	X(STR, p->name, .key = "name")                                         \
	X(U64, p->best_priority, .key = "best_priority")                       \
	X(U64, p->cur_priority, .key = "current_priority",                     \
	  .prom = "pool_priority_group", .ptype = "gauge",                     \
	  .help = "priority group of the last decision (0: none or "           \
		  "exhausted)")

static const struct view_col vp_cols[] = {
#define X(t, expr, ...) {.type = VIEW_##t, __VA_ARGS__},
	VP_COLS(X)
#undef X
#define X(n, h)                                                                \
	{.type = VIEW_U64,                                                     \
	 .key = #n,                                                            \
	 .group = "counters",                                                  \
	 .prom = "pool_decisions_total",                                       \
	 .ptype = "counter",                                                   \
	 .help = "route decisions of the pool, by reason (exhausted: no "      \
		 "member available, answered 429)",                            \
	 .plabel = "reason",                                                   \
	 .pvalue = #n},
		ROUTE_POOL_COUNTERS(X)
#undef X
};

static const struct view vp_view = {
	vp_cols, sizeof(vp_cols) / sizeof(vp_cols[0]), "pool"};

/* The member columns, from member row <m>. Column 1 (the pool) labels the
 * Prometheus samples before the backend.
 */
#define VM_COLS(X)                                                             \
	X(STR, m->backend, .key = "backend", .head = "BACKEND")                \
	X(STR, m->pool, )                                                      \
	X(U64, m->mi.priority, .key = "priority", .head = "PRIORITY")          \
	X(U64, m->mi.weight, .key = "weight", .prom = "pool_member_weight",    \
	  .ptype = "gauge",                                                    \
	  .help = "weight in force (configured, or set at run time)")          \
	X(STR, m->weight, .head = "WEIGHT")                                    \
	X(U64, m->mi.cfg_weight, .key = "cfg_weight", .head = "CONFIGURED")    \
	X(BOOL, m->mi.weight_overridden, .key = "runtime_weight")              \
	X(U64, m->mi.available ? m->mi.effective_milli : 0,                    \
	  .key = "effective_weight_milli",                                     \
	  .prom = "pool_member_effective_weight", .ptype = "gauge",            \
	  .unit = VIEW_UNIT_MILLI,                                             \
	  .help = "weight used now: weight x headroom, 0 when the backend "    \
		  "cannot take traffic")                                       \
	X(STR, m->eff, .head = "EFFECTIVE")                                    \
	X(ENUM, m->state, .key = "state", .names = vr_states, .n_names = 4)    \
	X(STR, m->st, .head = "STATE")                                         \
	X(BOOL, m->mi.available, .key = "available", .head = "AVAILABLE",      \
	  .prom = "pool_member_available", .ptype = "gauge",                   \
	  .help = "1 when a decision would consider the member now")

static const struct view_col vm_cols[] = {
#define X(t, expr, ...) {.type = VIEW_##t, __VA_ARGS__},
	VM_COLS(X)
#undef X
};

static const struct view vm_view = {
	vm_cols, sizeof(vm_cols) / sizeof(vm_cols[0]), "backend", "pool", 1};

static void vp_cells(const struct route_pool_info *p, union view_val *cells)
{
	uint32_t k = 0;

#define X(t, expr, ...) cells[k++] = VIEW_VAL_##t(expr);
	VP_COLS(X)
#undef X
#define X(name, help) cells[k++] = VIEW_VAL_U64(p->counters.name);
	ROUTE_POOL_COUNTERS(X)
#undef X
}

static void vm_cells(const struct view_member_row *m, union view_val *cells)
{
	uint32_t k = 0;

#define X(t, expr, ...) cells[k++] = VIEW_VAL_##t(expr);
	VM_COLS(X)
#undef X
}

/* Member <i> of pool <p> into <m>: false when the engine has no such
 * member or backend.
 */
static bool vm_fill(struct route_engine *e, const struct route_pool_info *p,
		    int pool, uint32_t i, uint64_t now_ms,
		    struct view_member_row *m)
{
	struct route_backend_info bi;
	uint32_t eff;

	if (route_member_info(e, pool, i, now_ms, &m->mi) < 0 ||
	    route_backend_info(e, m->mi.backend, now_ms, &bi) < 0)
		return false;
	m->pool = p->name;
	m->backend = bi.name;
	m->state = bi.state;
	snprintf(m->weight, sizeof(m->weight), "%u%s", m->mi.weight,
		 m->mi.weight_overridden ? "*" : "");
	eff = m->mi.available ? m->mi.effective_milli : 0;
	snprintf(m->eff, sizeof(m->eff), "%u.%03u", eff / 1000, eff % 1000);
	snprintf(m->st, sizeof(m->st), "%s%s%s", route_state_str(bi.state),
		 bi.disabled ? ",disabled*" : "", bi.down ? ",down" : "");
	return true;
}

int view_pools_fill(struct view_pools *vp, struct route_engine *e,
		    uint64_t now_ms, int only)
{
	uint32_t np = route_pool_count(e), n = 0, nm = 0, p, i;

	memset(vp, 0, sizeof(*vp));
	vp->pi = calloc(np ? np : 1, sizeof(*vp->pi));
	vp->first = calloc(np + 1, sizeof(*vp->first));
	if (!vp->pi || !vp->first)
		goto fail;
	for (p = 0; p < np; p++) {
		if ((only >= 0 && (int)p != only) ||
		    route_pool_info(e, (int)p, &vp->pi[n]) < 0)
			continue;
		vp->first[n] = (uint32_t)p; /* the engine's index, for now */
		nm += vp->pi[n].n_members;
		n++;
	}
	vp->m = calloc(nm ? nm : 1, sizeof(*vp->m));
	if (!vp->m || view_rows_init(&vp->pools, &vp_view, n) < 0)
		goto fail;
	nm = 0;
	for (p = 0; p < n; p++) {
		int pool = (int)vp->first[p];

		vp->first[p] = nm;
		vp_cells(&vp->pi[p], view_row(&vp->pools, p));
		for (i = 0; i < vp->pi[p].n_members; i++)
			if (vm_fill(e, &vp->pi[p], pool, i, now_ms,
				    &vp->m[nm])) {
				vp->any_runtime |=
					vp->m[nm].mi.weight_overridden;
				nm++;
			}
	}
	vp->first[n] = nm;
	if (view_rows_init(&vp->members, &vm_view, nm) < 0)
		goto fail;
	for (i = 0; i < nm; i++)
		vm_cells(&vp->m[i], view_row(&vp->members, i));
	return 0;
fail:
	view_pools_free(vp);
	return -1;
}

void view_pools_free(struct view_pools *vp)
{
	view_rows_free(&vp->pools);
	view_rows_free(&vp->members);
	free(vp->pi);
	free(vp->first);
	free(vp->m);
	memset(vp, 0, sizeof(*vp));
}

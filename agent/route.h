/* SPDX-License-Identifier: Apache-2.0 */
/* Routing engine: pools, priority groups, weights, affinity, breakers. */
#ifndef AOAI_ROUTE_H
#define AOAI_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg-t.h"
#include "route-t.h"

/* The engine is pure: no I/O, no logging (see route_set_hook()), no clock
 * (every call that depends on time takes <now_ms>, a monotonic millisecond
 * clock that never goes back), no allocation outside route_new() and
 * route_apply(). It is not thread-safe. Backend and pool indexes are those
 * of the applied cfg (cfg->backends[i], cfg->pools[i]) and change only on
 * route_apply(). docs/routing.md describes the semantics.
 */
struct route_engine;

/* Returns a new engine with no configuration (every pool unknown), or NULL
 * when out of memory. <seed> seeds the PRNG used for cooldown jitter only.
 */
struct route_engine *route_new(uint64_t seed);

/* Frees <e> (NULL is fine); the applied cfg is the caller's. */
void route_free(struct route_engine *e);

/* Puts <cfg> in force. The engine keeps a pointer to it: the caller keeps it
 * alive until the next successful route_apply() or route_free(), and may
 * free the previous one once this returns 0. State follows backends by
 * name: breaker state, deadlines, windows, headroom, flags and counters of
 * surviving backends are kept, removed ones dropped, new ones start closed.
 * Weight overrides are kept per (pool name, backend name), pool counters
 * per pool name; round-robin positions restart. No hook is called. Returns
 * 0, or -1 (out of memory, or a member naming a backend index out of range,
 * or more than CFG_MEMBERS_MAX members) with the previous config in force.
 */
int route_apply(struct route_engine *e, const struct cfg *cfg, uint64_t now_ms);

/* Installs <fn> (NULL: none), called on each breaker state change. */
void route_set_hook(struct route_engine *e, route_hook_fn fn, void *arg);

/* Turns the per-pool affinity cache on (the default) or off. Decisions are
 * the same either way, only their cost differs: the tests and benchmarks
 * compare the two.
 */
void route_set_affinity_cache(struct route_engine *e, bool enabled);

/* "weighted", "spillover", "affinity", "probe", "exhausted",
 * "unknown-pool"; "?" for anything else.
 */
const char *route_reason_str(enum route_reason r);

/* "closed", "open", "cooling", "half-open"; "?" for anything else. */
const char *route_state_str(enum route_state s);

/* Decides where one request of pool <pool> goes and fills <out>. <key> of
 * <key_len> bytes (binary safe; key_len 0 = none) asks for affinity. The
 * pool's lowest priority group with an available member is used: a
 * half-open member with a free probe slot takes the request as a probe;
 * otherwise the key's rendezvous-hash backend when available; otherwise
 * smooth weighted round-robin. With no member available the reason is
 * ROUTE_EXHAUSTED and retry_after_s is set. Cost O(members of the pool) at
 * most; a key found in the pool's affinity cache is O(1) (docs/routing.md
 * §4). No allocation. May run the hook (deadlines passing).
 */
void route_decide(struct route_engine *e, const char *pool, size_t pool_len,
		  const void *key, size_t key_len, uint64_t now_ms,
		  struct route_decision *out);

/* Feeds one response to the breaker of the backend it names: throttle
 * cooldowns, fault window, half-open verdicts, headroom values. Results
 * naming an unknown backend are counted and ignored. May run the hook.
 * Returns the backend's index, or -1 when the result was ignored.
 */
int route_learn(struct route_engine *e, const struct route_result *r,
		uint64_t now_ms);

/* Moves every backend whose deadline has passed (open/cooling ->
 * half-open, probe timeouts) so the hook fires without traffic. Returns the
 * earliest future deadline in ms (UINT64_MAX: none), for a timer.
 * O(backends).
 */
uint64_t route_tick(struct route_engine *e, uint64_t now_ms);

/* Lookups: index or -1. O(1). */
int route_backend_index(const struct route_engine *e, const char *name,
			size_t len);
int route_pool_index(const struct route_engine *e, const char *name,
		     size_t len);
uint32_t route_backend_count(const struct route_engine *e);
uint32_t route_pool_count(const struct route_engine *e);

/* Name of backend index <b>, or NULL when out of range. */
const char *route_backend_name(const struct route_engine *e, int b);

/* Runtime overrides (control socket). Each returns 0, or -1 when an index
 * is out of range or an argument is invalid; none calls cfg.c. Overrides
 * survive route_apply() by name until route_reset().
 */

/* Sets the weight of backend <b> in pool <p> to <weight> (0 drains it from
 * that pool, at most CFG_WEIGHT_MAX); -1 if <b> is not a member of <p>.
 */
int route_set_weight(struct route_engine *e, int p, int b, uint32_t weight);

/* Disables (drains: no new decision in any pool, like weight 0 everywhere)
 * or re-enables backend <b>. Results are still learned. No hook.
 */
int route_set_disabled(struct route_engine *e, int b, bool disabled);

/* Marks backend <b> down (HAProxy reports DOWN or MAINT: unavailable) or
 * up. Not an override: route_reset() leaves it. No hook.
 */
int route_set_down(struct route_engine *e, int b, bool down);

/* Marks keyless backend <b> unavailable for want of an access token
 * HAProxy holds (reason "auth"), or available again. Like down: not an
 * override, no hook.
 */
int route_set_auth(struct route_engine *e, int b, bool usable);

/* Opens the circuit of backend <b> for <duration_ms> (capped at
 * ROUTE_WAIT_CEIL_MS), then half-open as after any trip. Does not grow the
 * trip duration. Runs the hook when the state changes.
 */
int route_trip(struct route_engine *e, int b, uint32_t duration_ms,
	       uint64_t now_ms);

/* Resets backend <b>: circuit closed, cooldown, fault window, probes and
 * trip growth cleared, disabled flag and its weight overrides in every pool
 * removed. Keeps counters, headroom values and the down flag. Runs the hook
 * when the state changes.
 */
int route_reset(struct route_engine *e, int b, uint64_t now_ms);

/* Another node's throttle of backend <b>, shared through the fleet: the
 * backend cools until <until_ms> (monotonic; capped at ROUTE_WAIT_CEIL_MS
 * from now) unless its own cooldown or trip already ends later: the fleet
 * extends, never shortens. The state's cause is ROUTE_BY_FLEET and its
 * reason <why>. Runs the hook when the state changes. Returns 1 when the
 * deadline moved, 0 when it did not, -1 when <b> is out of range.
 */
int route_fleet(struct route_engine *e, int b, uint64_t until_ms,
		const char *why, uint64_t now_ms);

/* A reset of backend <b> made on another node: a cooldown (local or the
 * fleet's) ends, closed; open circuits are left. Returns 1 when it closed,
 * 0 when there was no cooldown, -1 when <b> is out of range.
 */
int route_fleet_clear(struct route_engine *e, int b, uint64_t now_ms);

/* Feeds one fault seen outside the responses (a connection error or
 * timeout counted by HAProxy) to backend <b>'s breaker, as a status-0
 * result would be.
 */
int route_fault(struct route_engine *e, int b, uint64_t now_ms);

/* The end (monotonic ms) of backend <b>'s own cooldown: cooling, set by
 * its breaker (a throttle seen here, not the fleet's), not passed at
 * <now_ms>; 0 otherwise or when <b> is out of range. O(1), no deadline
 * applied, no hook: for the result path.
 */
uint64_t route_own_cooldown(const struct route_engine *e, int b,
			    uint64_t now_ms);

/* Inspection. The info functions first apply passed deadlines (so they may
 * run the hook), then copy. Each returns 0 or -1 (index out of range).
 */
int route_backend_info(struct route_engine *e, int b, uint64_t now_ms,
		       struct route_backend_info *out);
int route_pool_info(const struct route_engine *e, int p,
		    struct route_pool_info *out);
int route_member_info(struct route_engine *e, int p, uint32_t i,
		      uint64_t now_ms, struct route_member_info *out);
const struct route_engine_counters *route_engine_counters(
	const struct route_engine *e);

/* Dumps each counter of a struct, in declaration order, to <fn>. */
void route_backend_counters_each(const struct route_backend_counters *c,
				 route_counter_fn fn, void *arg);
void route_pool_counters_each(const struct route_pool_counters *c,
			      route_counter_fn fn, void *arg);
void route_engine_counters_each(const struct route_engine_counters *c,
				route_counter_fn fn, void *arg);

/* Zeroes every counter (engine, pools, backends); state is untouched. */
void route_clear_counters(struct route_engine *e);

/* State snapshots (snapshot.c writes and reads the file). <now_ms> (the
 * monotonic clock) and <now_wall_ms> (ms since the Unix epoch) are the
 * same instant: deadlines are converted between the two clocks.
 */

/* Calls <fn> once per backend, in index order, with what a snapshot keeps
 * of it (struct route_saved), after applying passed deadlines (so it may
 * run the hook).
 */
void route_snapshot_backends(struct route_engine *e, uint64_t now_ms,
			     uint64_t now_wall_ms, route_saved_fn fn,
			     void *arg);

/* Calls <fn> once per weight override (pool, backend, weight). */
void route_snapshot_weights(const struct route_engine *e,
			    route_saved_weight_fn fn, void *arg);

/* Restores backend <name> of <len> bytes from <s>, for use at startup
 * right after route_apply(): disabled flag, trip growth (consecutive_trips,
 * at most ROUTE_TRIPS_RESTORE_MAX), why, and the state. An open or cooling
 * state whose deadline is still ahead stays so until the same wall-clock
 * instant (at most ROUTE_WAIT_CEIL_MS from now, should the wall clock have
 * gone back); one whose deadline has passed becomes half-open, as it would
 * have had the agent kept running. Runs the hook when the state changes.
 * Returns 0, or -1 when no backend has that name, <s> is invalid, or the
 * backend is not closed (it has live state, newer than any snapshot).
 */
int route_restore_backend(struct route_engine *e, const char *name, size_t len,
			  const struct route_saved *s, uint64_t now_ms,
			  uint64_t now_wall_ms);

/* Generation of what route_snapshot_*() report: moves on every breaker
 * state change or deadline change, trip growth, disabled flag, weight
 * override and route_apply(), and on nothing else (results that change no
 * state, probes, headroom, counters). A caller saves when it has moved.
 */
uint64_t route_saved_gen(const struct route_engine *e);

#endif /* AOAI_ROUTE_H */

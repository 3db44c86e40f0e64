/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet: throttle deadlines shared with the other HAProxy + agent
 * nodes through a HAProxy peers stick table, over the runtime API.
 *
 * Each node writes its own keys: "<backend>@<node>" holds the epoch second
 * at which the backend's local cooldown ends (written by HAProxy with the
 * response, from the variables of the aoai-result ACK, fleet_result();
 * by the agent over the runtime API when a read shows it missing),
 * "<backend>!<node>" the
 * newest reset of the backend (epoch second of the "reset backend") this
 * node made or acted upon. Every poll_interval the table is read: for
 * each backend the latest deadline written by another node, cut at
 * max_wait after it was first seen, cools the backend here (route_fleet():
 * extends, never shortens). A reset newer than any seen ends cooldowns
 * here; the node withdraws its deadline and acknowledges the reset; a
 * deadline counts only once its writer has acknowledged the newest reset.
 * Own keys the table lost (a HAProxy restart or reload) are written
 * again.
 *
 * The fast read path: HAProxy reads the table itself on every request and
 * passes each other node's deadline as an "aoai-route" argument,
 * "fleet.<backend>@<node>" = table_gpt0 (haproxy-config renders them from
 * fleet.peers); fleet_arg() applies a changed value at once, as a read
 * would. The reads stay: resets, repairs, and a fallback when HAProxy
 * passes nothing.
 */
#ifndef AOAI_FLEET_H
#define AOAI_FLEET_H

#include <ev.h>
#include <stdbool.h>

#include "buf.h"
#include "cfg-t.h"
#include "fleet-t.h"
#include "route-t.h"

struct fleet;
struct route_engine;

/* Starts the link into *<fp> when <cfg> has a fleet: block (else does
 * nothing): the first read at once, then every fleet.poll_interval, on
 * haproxy.stats_socket. Feeds and asks <route>. Never blocks: one
 * non-blocking request at a time ("set table ...; show table T"), with a
 * timeout and a capped answer. Returns 0, or -1 out of memory (logged).
 */
int fleet_start(struct fleet **fp, struct ev_loop *loop,
		struct route_engine *route, const struct cfg *cfg);

/* After a successful reload to <cfg>: the link starts again with the new
 * block (deadlines already applied to the engine stay there), or stops.
 */
void fleet_reload(struct fleet **fp, struct ev_loop *loop,
		  struct route_engine *route, const struct cfg *cfg);

/* Stops the link and frees it; *<fp> becomes NULL (NULL-safe). */
void fleet_stop(struct fleet **fp);

/* The agent drains: no new request starts (NULL-safe). */
void fleet_quiesce(struct fleet *f);

/* Breaker transition of backend <b> (the route hook calls it): a new local
 * cooldown is written at once instead of at the next poll. Records and
 * wakes only; no engine call, no I/O. NULL-safe.
 */
void fleet_note(struct fleet *f, int b, enum route_state to);

/* Result path (spoa.c), after aoai-result's learning of backend <b>:
 * when it started or extended this node's own cooldown (a throttle seen
 * here), HAProxy is to write the new deadline with the response (the
 * region's http-response rules haproxy-config renders): *<key>
 * ("<backend>@<node>", *<len> bytes, owned by the link) and *<until>
 * (epoch s, rounded up), and returns true. The agent is the key's only
 * writer: a deadline is handed over only when later than its last one.
 * The runtime-API write of it waits until a read of the table shows it
 * missing (then it is written, counted as resp_missed; after two in a
 * row, every deadline is written over the runtime API at once too). No
 * allocation, no system call. NULL-safe.
 */
bool fleet_result(struct fleet *f, int b, const char **key, size_t *len,
		  uint32_t *until);

/* HAProxy's process changed (a restart or reload, seen by the runtime
 * API link): if the agent had found the response-path rules missing, the
 * new process may have them, so its next deadlines are left to it again
 * (each still written over the runtime API if a read shows it did not).
 * NULL-safe.
 */
void fleet_haproxy_restarted(struct fleet *f);

/* The operator reset backend <b> here: the reset is written for the whole
 * fleet and this node's deadline for it is withdrawn; other nodes'
 * deadlines are void until their writers acknowledge it. NULL-safe.
 */
void fleet_reset(struct fleet *f, int b);

/* Whether another node's deadline key <e> counts: its writer has
 * acknowledged the newest reset of its backend (for fleet-show.c).
 */
bool fleet_valid(const struct fleet *f, const struct fleet_ent *e);

/* Prefix of the aoai-route arguments fleet_arg() takes. */
#define FLEET_ARG_PREFIX "fleet."

/* Request path: argument "fleet.<key>" of aoai-route, <key> (after the
 * prefix) "<backend>@<node>" and its table value <val> (epoch s; 0 when
 * HAProxy had none). Unchanged values cost a compare; a new deadline of
 * another node is applied to the engine like a read of the table would
 * (same cap, same reset rule). No allocation, no system call (a log line
 * when a cooldown starts). NULL-safe.
 */
void fleet_arg(struct fleet *f, const char *key, size_t len, uint64_t val);

/* Fills <out>; returns false when the link is not configured (<f> NULL). */
bool fleet_status(const struct fleet *f, struct fleet_status *out);

/* Dumps each counter of <c> to <fn>, in declaration order. */
void fleet_counters_each(const struct fleet_counters *c,
			 void (*fn)(void *arg, const char *name,
				    const char *help, uint64_t value),
			 void *arg);

/* Renders "show fleet": the link, this node's keys, then one row per key
 * of another node (backend, node, deadline, state). Returns 0, or -1 when
 * <out> overflowed.
 */
int fleet_show(const struct fleet *f, struct buf *out, bool json);

#endif /* AOAI_FLEET_H */

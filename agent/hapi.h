/* SPDX-License-Identifier: Apache-2.0 */
/* HAProxy runtime API link: reads server state and error counters from
 * HAProxy's stats socket, and mirrors open circuits as DRAIN.
 */
#ifndef AOAI_HAPI_H
#define AOAI_HAPI_H

#include <stdbool.h>
#include <ev.h>
#include <stdint.h>

#include "buf.h"
#include "cfg-t.h"
#include "route-t.h"
#include "secret-t.h"

/* What the link looks like now, for "show info", "show haproxy" and the
 * metrics.
 */
struct hapi_status {
	bool enabled;	       /* a haproxy: block is configured */
	bool up;	       /* the last poll succeeded */
	bool mirror;	       /* writes drain/ready */
	uint64_t polls;	       /* polls completed */
	uint64_t poll_errors;  /* polls failed (connect, timeout, answer) */
	uint64_t sets;	       /* "set server" commands HAProxy accepted */
	uint64_t set_errors;   /* "set server" commands that failed */
	uint64_t faults;       /* faults fed to breakers (econ + eresp) */
	uint64_t maps;	       /* "set map" token lines HAProxy took */
	uint64_t map_errors;   /* "set map" lines that failed */
	uint64_t last_poll_ms; /* monotonic time of the last good poll; 0 */
	char last_error[128];  /* "" when none */
};

struct hapi;
struct route_engine;

/* Starts the link into *<hp> when <c> is enabled and none runs (else does
 * nothing): the first poll runs at once, then every poll_interval. It
 * feeds and asks <route>. Never blocks: one non-blocking request at a
 * time, each on its own connection (HAProxy closes after one command
 * line), with a timeout and a capped response. Returns 0, or -1 out of
 * memory (logged).
 */
int hapi_start(struct hapi **hp, struct ev_loop *loop,
	       struct route_engine *route, const struct cfg_haproxy *c);

/* After a successful reload (route_apply() done) to the block <c>:
 * follows backends by name, restarts the link when the block changed,
 * stops it (and clears the down flags it set) when it went away.
 */
void hapi_reload(struct hapi **hp, struct ev_loop *loop,
		 struct route_engine *route, const struct cfg_haproxy *c);

/* Stops the link and frees it, *<hp> becomes NULL (NULL-safe). Down flags
 * it set are left: the engine goes away with it.
 */
void hapi_stop(struct hapi **hp);

/* The agent drains: no new request starts (NULL-safe). */
void hapi_quiesce(struct hapi *h);

/* Breaker transition of backend <b> (the agent's route hook calls this):
 * with mirror on, an open, cooling or half-open circuit wants the HAProxy
 * server in DRAIN, a closed one wants READY. Only records the wish and wakes
 * the link; no engine call, no I/O here. One "set server" per real change.
 * NULL-safe.
 */
void hapi_mirror(struct hapi *h, int b, enum route_state from,
		 enum route_state to);

/* Builds into <out> the runtime API line "set map MAP KEY VALUE\n" of
 * backend <name>'s current token. Returns 0, or -1: nothing to send.
 */
typedef int (*hapi_map_line_fn)(void *arg, const char *name,
				struct sec_buf *out);

/* Told whether HAProxy took the "set map" of backend <name>. */
typedef void (*hapi_map_done_fn)(void *arg, const char *name, bool ok);

/* Sets the token delivery hooks (NULL-safe; again after hapi_reload(),
 * which may start a new link).
 */
void hapi_map_hooks(struct hapi *h, hapi_map_line_fn line,
		    hapi_map_done_fn done, void *arg);

/* Told that HAProxy's process changed (its Pid): a restart or reload. */
typedef void (*hapi_restart_fn)(void *arg);

/* Sets the restart hook (NULL-safe; again after hapi_reload()). */
void hapi_restart_hook(struct hapi *h, hapi_restart_fn fn, void *arg);

/* Asks for backend <name>'s token to be sent with "set map": the line is
 * built by the line hook when the request goes out (so it carries the
 * token current then), before any poll or "set server". One failed is
 * due again after the next poll. Returns 0, or -1 when the link is not
 * configured or <name> is no backend.
 */
int hapi_set_map(struct hapi *h, const char *name);

/* Fills <out>; returns false when the link is not configured (<h> NULL). */
bool hapi_status(const struct hapi *h, struct hapi_status *out);

/* Renders "show haproxy": the link, then one row per server HAProxy
 * reported (status, admin flags, error counters, faults fed, mirror).
 * Returns 0, or -1 when <out> overflowed.
 */
int hapi_show(const struct hapi *h, struct buf *out, bool json);

#endif /* AOAI_HAPI_H */

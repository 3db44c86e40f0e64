/* SPDX-License-Identifier: Apache-2.0 */
/* The state the control socket, its views and the metrics read: the
 * modules' own structs, side by side. The lifecycle (agent.c) embeds one
 * and fills it; the modules that read it never see the lifecycle, so
 * none of them includes agent.h.
 */
#ifndef AOAI_CORE_T_H
#define AOAI_CORE_T_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cfg-t.h"
#include "conn-t.h"
#include "ctl-t.h"
#include "listener-t.h"
#include "spoa-t.h"

/* Counters of the lifecycle: X(field, metric help text). The other
 * modules own theirs (CONN_COUNTERS, SPOA_COUNTERS, ...); stats.h lists
 * them all in one order.
 */
#define AGENT_COUNTERS(X)                                                      \
	X(reloads, "configuration reloads applied")                            \
	X(reload_failed, "configuration reloads rejected")

struct agent_counters {
#define X(name, help) uint64_t name;
	AGENT_COUNTERS(X)
#undef X
};

struct route_engine;
struct hapi;
struct fleet;
struct authset;
struct core;

/* Re-reads the configuration file (agent_reload() behind it): 0 or -1,
 * each error passed to <err>.
 */
typedef int (*core_reload_fn)(struct core *c, cfg_error_fn err, void *arg);

struct core {
	struct ev_loop *loop;
	const char *cfg_path;	    /* as given with -f */
	struct cfg *cfg;	    /* in force; owned */
	struct route_engine *route; /* owned */
	struct listener_set spop;   /* SPOP listeners */
	struct conn_set conns;	    /* SPOP connections */
	struct spoa spoa;	    /* aoai-route and aoai-result handlers */
	struct hapi *hapi;	    /* HAProxy runtime API link; owned */
	struct fleet *fleet;	    /* throttles shared with other nodes */
	struct authset *auth;	    /* Entra ID credentials; owned, NULL */
	struct ctl_status ctl_st; /* what the control socket shows of itself */
	time_t started;		  /* wall clock, for "show info" */
	time_t cfg_loaded;	  /* wall clock of the last (re)load */
	bool stopping;		  /* SIGTERM seen: draining */
	/* the control socket's "reload": set by the lifecycle, so that the
	 * control socket does not depend on the module that starts it
	 */
	core_reload_fn reload;
	struct agent_counters cnt;
};

#endif /* AOAI_CORE_T_H */

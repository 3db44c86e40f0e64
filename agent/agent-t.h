/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's state: an aggregate of the modules' own structs. One event
 * loop owns every connection and the routing engine, so every decision
 * sees the same breaker state.
 */
#ifndef AOAI_AGENT_T_H
#define AOAI_AGENT_T_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cfg-t.h"
#include "conn-t.h"
#include "ctl-t.h"
#include "listener-t.h"
#include "log.h"
#include "spoa-t.h"

/* Counters of the agent module itself: X(field, metric help text). The
 * other modules own theirs (CONN_COUNTERS, SPOA_COUNTERS, ...); stats.h
 * lists them all in one order.
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
struct ctl;
struct hapi;
struct fleet;
struct authset;

struct agent {
	struct ev_loop *loop;
	const char *cfg_path;	    /* as given with -f */
	struct cfg *cfg;	    /* in force; owned */
	struct route_engine *route; /* owned */
	struct listener_set spop;   /* SPOP listeners */
	struct conn_set conns;	    /* SPOP connections */
	struct spoa spoa;	    /* aoai-route and aoai-result handlers */
	time_t started;		    /* wall clock, for "show info" */
	time_t cfg_loaded;	    /* wall clock of the last (re)load */
	bool stopping;		    /* SIGTERM seen: draining */
	struct ctl *ctl;	    /* control sockets; owned */
	struct ctl_status ctl_st;   /* what ctl shows of itself */
	struct hapi *hapi;	    /* HAProxy runtime API link; owned */
	struct fleet *fleet;	    /* throttles shared with other nodes */
	struct authset *auth;	    /* Entra ID credentials; owned, NULL */
	/* agent_reload(): the control socket's "reload" calls it through
	 * here, so that ctl does not depend on the module that starts it
	 */
	int (*reload)(struct agent *a, cfg_error_fn err, void *arg);
	ev_signal sig_term;
	ev_signal sig_int;
	ev_signal sig_hup;
	ev_check reaper;	  /* frees dead connections */
	ev_timer stop_timer;	  /* SIGTERM: longest wait to drain */
	ev_timer route_timer;	  /* applies passed breaker deadlines */
	ev_timer state_timer;	  /* periodic state_file write */
	ev_timer watch_timer;	  /* each second: stalls, log reports */
	uint64_t watch_last_ms;	  /* monotonic ms of its last run */
	bool state_dirty;	  /* a breaker moved since the last write */
	uint64_t state_saved_gen; /* route_saved_gen() at the last write */
	bool state_final;	  /* state written on the way out */
	bool debug;		  /* -d: reloads keep LOG_DEBUG */
	struct log_rl rl_state;	  /* failed state_file writes */
	struct agent_counters cnt;
};

#endif /* AOAI_AGENT_T_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's state: the modules' own structs (struct core) and the
 * lifecycle's watchers. One event loop owns every connection and the
 * routing engine, so every decision sees the same breaker state.
 */
#ifndef AOAI_AGENT_T_H
#define AOAI_AGENT_T_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "core-t.h"
#include "log.h"
#include "statelog-t.h"

struct ctl;

struct agent {
	struct core core; /* what the control socket and the views read */
	struct ctl *ctl;  /* control sockets; owned */
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
	struct statelog slog;	  /* breaker changes, logged by the reaper */
};

#endif /* AOAI_AGENT_T_H */

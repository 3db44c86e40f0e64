/* SPDX-License-Identifier: Apache-2.0 */
/* Fleet types: what "show fleet" and the metrics see of the link, and the
 * link itself (fleet.c, fleet-show.c).
 */
#ifndef AOAI_FLEET_T_H
#define AOAI_FLEET_T_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "cfg-t.h"
#include "log.h"

/* Counters of the fleet link: X(field, metric help text). */
#define FLEET_COUNTERS(X)                                                      \
	X(polls, "reads of the peers table completed")                         \
	X(poll_errors, "reads of the peers table failed")                      \
	X(writes, "deadlines and resets written to the peers table over the "  \
		  "runtime API")                                               \
	X(resp_writes, "own deadlines HAProxy wrote on the response path "     \
		       "(aoai-result's variables), seen in a read")            \
	X(resp_missed, "own deadlines handed to HAProxy on the response path " \
		       "that a read did not show: written over the runtime "   \
		       "API")                                                  \
	X(repairs, "own keys written again after the table lost them")         \
	X(applied, "deadlines of other nodes that started or extended a "      \
		   "cooldown")                                                 \
	X(fast, "deadlines of other nodes that started or extended a "         \
		"cooldown from aoai-route's arguments, before the next read")  \
	X(capped, "deadlines of other nodes cut at max_wait")                  \
	X(resets_sent, "fleet-wide resets this node started")                  \
	X(resets_seen, "fleet-wide resets other nodes started")                \
	X(dropped, "keys of the table ignored: unknown backend, full")

struct fleet_counters {
#define X(name, help) uint64_t name;
	FLEET_COUNTERS(X)
#undef X
};

/* What the link looks like now. */
struct fleet_status {
	bool enabled;	       /* a fleet: block is configured */
	bool up;	       /* the last read succeeded */
	uint32_t nodes;	       /* other writers seen in the last read */
	uint64_t last_poll_ms; /* monotonic time of the last good read; 0 */
	bool resp_missing;     /* HAProxy did not write the response path's
				* deadlines: written over the runtime API at
				* once too, until HAProxy's process changes */
	struct fleet_counters c;
	char last_error[128]; /* "" when none */
};

#define FLEET_WRITES_MAX 32 /* "set table" per request */
#define FLEET_CMD_MAX                                                          \
	(FLEET_WRITES_MAX * (2 * CFG_NAME_MAX + CFG_FLEET_KEY_MAX + 48) +      \
	 CFG_NAME_MAX + 16)

/* This node's keys of one backend (by engine index). */
struct fleet_bk {
	char name[CFG_NAME_MAX];
	uint32_t want;	      /* own deadline to publish, epoch s; 0 none */
	uint32_t table;	      /* own deadline key in the last read; 0 none */
	uint32_t written;     /* own deadline last written */
	uint32_t reset_want;  /* own reset key to publish: the newest reset
			       * this node made or acted upon; 0 none */
	uint32_t reset_table; /* own reset key in the last read */
	uint32_t reset_seen;  /* newest reset (any node) acted upon */
	bool polled;	      /* reset_seen holds the table's */
	uint64_t own_ms;      /* the engine's own cooldown end (monotonic)
			       * <want> was last computed from; 0 none */
	uint32_t resp_val;    /* deadline last handed to HAProxy in an
			       * aoai-result ACK; 0 none */
	uint64_t resp_ms;     /* when (monotonic) */
	bool resp_wait;	      /* a read has yet to show <resp_val> */
	uint8_t key_len;
	char key[CFG_FLEET_KEY_MAX + 1]; /* "<backend>@<node>" */
};

/* Another node's deadline key. */
struct fleet_ent {
	int b;			 /* engine backend index */
	char node[CFG_NAME_MAX]; /* its writer */
	uint32_t val;		 /* epoch s */
	uint64_t first_wall_ms;	 /* when <val> was first read here */
	bool reset;		 /* a "!" reset key, not a deadline */
	bool seen;		 /* in the last read */
};

/* Another node's deadline as aoai-route passes it. */
struct fleet_fast {
	char key[CFG_FLEET_KEY_MAX + 1]; /* "<backend>@<node>" */
	uint8_t len;
	uint8_t node_off; /* the node's name starts at key + node_off */
	int b;		  /* engine backend index; -1: not a backend here */
	bool own;	  /* this node's own key: never applied */
	uint32_t val;	  /* last value seen, epoch s */
	uint64_t first_wall_ms; /* when <val> was first seen */
};

enum fleet_state {
	FLEET_IDLE,	  /* no request */
	FLEET_CONNECTING, /* non-blocking connect in progress */
	FLEET_SENDING,	  /* writing the command line */
	FLEET_READING,	  /* reading until HAProxy closes */
};

struct fleet {
	struct ev_loop *loop;
	struct route_engine *route; /* fed and asked; not owned */
	struct cfg_fleet cfg;	    /* copy of the block in force */
	struct cfg_listener sock;   /* haproxy.stats_socket */
	bool stopping;
	struct fleet_bk *bk; /* by engine backend index; owned */
	uint32_t n_bk;
	struct fleet_ent *ents; /* FLEET_ENTS_MAX; owned */
	uint32_t n_ents;
	struct fleet_fast *fast; /* FLEET_FAST_MAX; owned */
	uint32_t n_fast;
	uint32_t fast_next; /* the slot the next argument likely is */
	enum fleet_state state;
	int fd;
	ev_io io;
	ev_timer timeout;
	ev_timer poll_timer;
	ev_timer kick; /* zero delay: write a new deadline now */
	bool poll_due;
	char cmd[FLEET_CMD_MAX];
	size_t cmd_len;
	size_t cmd_off;
	struct buf resp;
	uint64_t req_ms;      /* when (monotonic) the request was started */
	uint32_t resp_misses; /* response-path deadlines missed in a row */
	struct fleet_status st;
	struct log_rl rl;
	uint64_t grace_until;
};

#endif /* AOAI_FLEET_T_H */

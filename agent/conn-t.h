/* SPDX-License-Identifier: Apache-2.0 */
/* SPOP connection types: one state machine per connection (SPOE.txt §3.2). */
#ifndef AOAI_CONN_T_H
#define AOAI_CONN_T_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg-t.h"
#include "log.h"
#include "pool-t.h"
#include "spop-t.h"

enum conn_state {
	CONN_ST_HELLO,	 /* waiting for HAPROXY-HELLO */
	CONN_ST_ACTIVE,	 /* NOTIFY -> ACK */
	CONN_ST_CLOSING, /* last frame queued: flush, then close */
	CONN_ST_CLOSED,	 /* fd closed; freed at the loop's safe point */
};

/* X(field, metric help text) */
#define CONN_COUNTERS(X)                                                       \
	X(conn_accepted, "SPOP connections accepted")                          \
	X(conn_refused, "SPOP connections refused at max_connections")         \
	X(conn_evicted, "SPOP connections without HELLO closed for a new one") \
	X(conn_evicted_idle,                                                   \
	  "idle SPOP connections closed for a new one (cap or descriptors)")   \
	X(conn_closed, "SPOP connections closed")                              \
	X(hello, "HELLO handshakes completed")                                 \
	X(healthcheck, "health-check HELLOs answered")                         \
	X(frames_in, "frames received")                                        \
	X(frames_out, "frames sent")                                           \
	X(notify, "NOTIFY frames handled")                                     \
	X(disconnect_in, "HAPROXY-DISCONNECT frames received")                 \
	X(backpressure, "times reading paused for a full write buffer")

struct conn_counters {
#define X(name, help) uint64_t name;
	CONN_COUNTERS(X)
#undef X
	/* AGENT-DISCONNECT sent, by status code; the last slot is "other" */
	uint64_t disconnect_out[SPOP_ERR_RES + 2];
};

struct conn;
struct spoa;

/* Every SPOP connection of the process, and what they share. */
struct conn_set {
	struct ev_loop *loop;
	const struct cfg_agent *cfg; /* limits and timeouts in force */
	struct spoa *spoa;	     /* handles NOTIFY messages */
	struct conn *list;	     /* open connections */
	struct conn *dead;	     /* closed, freed at the safe point */
	struct conn *hq_head;	     /* waiting for HELLO, oldest first */
	struct conn *hq_tail;
	uint32_t n;	  /* open connections */
	uint32_t fd_cap;  /* beyond it, a new one replaces an idle one */
	uint64_t next_id; /* for log lines */
	struct conn_counters cnt;
	struct log_rl rl_proto;	  /* protocol errors */
	struct log_rl rl_refused; /* refusals at max_connections */
	struct log_rl rl_evicted; /* evictions at max_connections */
	struct log_rl rl_idle;	  /* idle connections closed, either side */
	struct pool rpool;	  /* read buffers, while a frame is partial */
	struct pool wpool;	  /* write buffers, while output is queued */
	ev_timer trim;		  /* gives unused buffers back, then stops */
};

struct conn {
	struct conn_set *set; /* owner */
	struct conn *next;    /* the set's list of connections */
	struct conn *prev;
	struct conn *hq_next; /* the set's queue of CONN_ST_HELLO ones */
	struct conn *hq_prev;
	int fd;
	enum conn_state state;
	uint64_t id;	    /* "conn #N" in logs */
	char peer[64];	    /* address for logs */
	ev_io rio;	    /* readable */
	ev_io wio;	    /* writable, only while output is pending */
	ev_timer timer;	    /* hello, then idle timeout (ev_timer_again) */
	uint32_t frame_max; /* our max before HELLO, negotiated after */
	bool healthcheck;   /* HELLO said healthcheck: close after it */
	bool reading;	    /* rio started */
	char *rbuf;	    /* received bytes not yet consumed: from set->rpool
		     * while rlen > 0 (or during a read), else NULL
		     */
	size_t rlen;
	size_t rsize; /* our max frame + prefix: a frame fits */
	char *wbuf;   /* frames to send: from set->wpool while wlen > 0 */
	size_t wlen;  /* bytes queued */
	size_t woff;  /* bytes of wbuf already sent */
	size_t wsize;
	uint64_t notifies; /* NOTIFYs handled on this connection */
	uint64_t since;	   /* ms: accepted, then the last complete frame */
};

#endif /* AOAI_CONN_T_H */

/* The daemon's state: one event loop owns every connection and the routing
 * engine, so every decision sees the same breaker state.
 */
#ifndef AOAI_AGENT_T_H
#define AOAI_AGENT_T_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cfg-t.h"
#include "log.h"
#include "spop-t.h"

/* Agent-wide counters, declared once (memcached's X-macro habit) so the
 * struct, "show info", the metrics and the tests cannot drift.
 * X(field, metric help text)
 */
#define AGENT_COUNTERS(X)                                                      \
	X(conn_accepted, "SPOP connections accepted")                          \
	X(conn_refused, "SPOP connections refused at max_connections")         \
	X(conn_closed, "SPOP connections closed")                              \
	X(hello, "HELLO handshakes completed")                                 \
	X(healthcheck, "health-check HELLOs answered")                         \
	X(frames_in, "frames received")                                        \
	X(frames_out, "frames sent")                                           \
	X(notify, "NOTIFY frames handled")                                     \
	X(msg_route, "aoai-route messages")                                    \
	X(msg_result, "aoai-result messages")                                  \
	X(msg_unknown, "unknown messages acknowledged and ignored")            \
	X(bad_value, "argument values ignored as garbage")                     \
	X(disconnect_in, "HAPROXY-DISCONNECT frames received")                 \
	X(backpressure, "times reading paused for a full write buffer")        \
	X(accept_paused, "times accepting paused for lack of descriptors")     \
	X(reloads, "configuration reloads applied")                            \
	X(reload_failed, "configuration reloads rejected")

struct agent_counters {
#define X(name, help) uint64_t name;
	AGENT_COUNTERS(X)
#undef X
	/* AGENT-DISCONNECT sent, by status code; the last slot is "other" */
	uint64_t disconnect_out[SPOP_ERR_RES + 2];
};

/* Decision latency, sampled: one aoai-route in AGENT_HIST_SAMPLE is timed
 * (two vDSO clock reads), so the hot path pays for it rarely.
 */
#define AGENT_HIST_SAMPLE  16
#define AGENT_HIST_BUCKETS 11
/* Upper bounds of the buckets in nanoseconds; the last one is +Inf. */
#define AGENT_HIST_BOUNDS_NS                                                   \
	{                                                                      \
		500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 500000,    \
			1000000, UINT64_MAX                                    \
	}

struct agent_hist {
	uint64_t bucket[AGENT_HIST_BUCKETS]; /* not cumulative */
	uint64_t count;			     /* samples */
	uint64_t sum_ns;		     /* sum of the samples */
};

struct conn;
struct listener;
struct route_engine;
struct ctl;
struct hapi;

struct agent {
	struct ev_loop *loop;
	const char *cfg_path;	    /* as given with -f */
	struct cfg *cfg;	    /* in force; owned */
	struct route_engine *route; /* owned */
	struct listener *listeners; /* SPOP listeners, a list; owned */
	struct conn *conns;	    /* open connections, a list */
	struct conn *dead;	    /* closed, freed at the safe point */
	uint32_t n_conns;
	uint64_t next_conn_id; /* for log lines */
	time_t started;	       /* wall clock, for "show info" */
	time_t cfg_loaded;     /* wall clock of the last (re)load */
	bool stopping;	       /* SIGTERM seen: draining */
	struct ctl *ctl;       /* control sockets; owned */
	struct hapi *hapi;     /* HAProxy runtime API link; owned */
	/* agent_reload(): the control socket's "reload" calls it through
	 * here, so that ctl does not depend on the module that starts it
	 */
	int (*reload)(struct agent *a, cfg_error_fn err, void *arg);
	ev_signal sig_term;
	ev_signal sig_int;
	ev_signal sig_hup;
	ev_check reaper;	  /* frees dead connections */
	ev_timer accept_retry;	  /* EMFILE: accept again later */
	ev_timer stop_timer;	  /* SIGTERM: longest wait to drain */
	ev_timer route_timer;	  /* applies passed breaker deadlines */
	ev_timer state_timer;	  /* periodic state_file write */
	uint64_t state_saved_gen; /* route_saved_gen() at the last write */
	bool state_final;	  /* state written on the way out */
	bool debug;		  /* -d: reloads keep LOG_DEBUG */
	struct log_rl rl_state;	  /* failed state_file writes */
	struct agent_counters cnt;
	struct agent_hist decide_hist; /* aoai-route decision latency */
	struct log_rl rl_accept;       /* accept() errors */
	struct log_rl rl_proto;	       /* protocol errors */
	struct log_rl rl_pool;	       /* unknown pools */
	struct log_rl rl_value;	       /* garbage argument values */
};

#endif /* AOAI_AGENT_T_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Types of the mock Azure OpenAI region server: server, settings, stats,
 * connections.
 */
#ifndef MOCK_T_H
#define MOCK_T_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "mock-http.h"

#define MOCK_IN_INIT  (16 * 1024) /* input buffer of a new connection */
#define MOCK_IN_SLACK (64 * 1024) /* chunk framing, pipelined bytes */
#define MOCK_IN_MAX   (MHTTP_HEAD_MAX + MHTTP_BODY_MAX + MOCK_IN_SLACK)
#define MOCK_OUT_CAP  (32 * 1024) /* response buffer, per connection */
#define MOCK_IDLE_S   30.0	  /* idle connection timeout */
#define MOCK_LINGER_S 2.0	  /* drain time after our last byte */
#define MOCK_NAME_MAX 64	  /* region, deployment, model names */
#define MOCK_KEY_MAX  4096	  /* api key, bearer token */
#define MOCK_STATUS_N 600	  /* status codes counted: 0..599 */

#define MOCK_RA_AUTO (-1) /* retry-after computed from the quota window */
#define MOCK_RA_NONE (-2) /* retry-after header omitted */

#define MOCK_COMPLETION_TOKENS 16 /* completion tokens of every answer */

/* Run-time behaviour, changed through /_mock/set. Command-line values are
 * kept apart as the defaults that "reset=1" restores.
 */
struct mock_settings {
	uint64_t rpm;		  /* requests per window, 0 = no quota */
	uint64_t tpm;		  /* tokens per window, 0 = no quota */
	uint64_t window_ms;	  /* quota window length */
	uint64_t latency_ms;	  /* added before every API answer */
	uint64_t fail_status;	  /* status of injected failures */
	uint64_t fail_count;	  /* next requests that fail */
	uint64_t fail_rate;	  /* percent of requests that fail */
	uint64_t seed;		  /* seed of the fail_rate generator */
	uint64_t reset_count;	  /* next requests whose connection is reset */
	int64_t retry_after;	  /* seconds, or MOCK_RA_AUTO/MOCK_RA_NONE */
	int64_t retry_after_ms;	  /* milliseconds, or MOCK_RA_AUTO/NONE */
	uint64_t throttle_all;	  /* 1: every API request gets 429 */
	uint64_t stream_delay_ms; /* between streamed events */
};

/* Fixed quota window: it opens on the first request after the previous one
 * expired and counts requests and tokens until it expires.
 */
struct mock_window {
	ev_tstamp start;   /* when the window opened */
	uint64_t requests; /* admitted requests in this window */
	uint64_t tokens;   /* admitted tokens in this window */
};

/* Counters of API requests (never /_mock/ ones), declared once. */
#define MOCK_COUNTERS(X)                                                       \
	X(requests)                                                            \
	X(resets)                                                              \
	X(streams)                                                             \
	X(bytes_in)                                                            \
	X(auth_failures)                                                       \
	X(throttled)                                                           \
	X(throttled_unavoidable)                                               \
	X(throttled_last_us)                                                   \
	X(tokens)                                                              \
	X(connections)                                                         \
	X(aoai_headers)

struct mock_stats {
#define MOCK_COUNTER_FIELD(name) uint64_t name;
	MOCK_COUNTERS(MOCK_COUNTER_FIELD)
#undef MOCK_COUNTER_FIELD
	uint64_t status[MOCK_STATUS_N]; /* answers by status code */
};

struct conn;

/* One process serves one region. */
struct mock_srv {
	struct ev_loop *loop;		/* the event loop */
	char region[MOCK_NAME_MAX + 1]; /* --region, also x-ms-region */
	char api_key[MOCK_KEY_MAX + 1]; /* --api-key-file content */
	size_t api_key_len;		/* 0: no api key configured */
	char bearer[MOCK_KEY_MAX + 1];	/* --bearer */
	size_t bearer_len;		/* 0: no bearer configured */
	char jwt_key[MOCK_KEY_MAX + 1]; /* --jwt-key-file: HS256 key */
	size_t jwt_key_len;		/* 0: no signed tokens accepted */
	int verbose;			/* -v count */
	struct mock_settings defaults;	/* from the command line */
	struct mock_settings set;	/* in force */
	struct mock_window win;		/* quota window state */
	uint64_t fail_rng;		/* fail_rate generator state */
	uint64_t id_rng;		/* request id generator state */
	struct mock_stats stats;	/* counters for /_mock/stats */
	uint64_t first_429_us;		/* wall clock the first 429 since the
					 * last stats reset leaves, 0: none */
	int lfd;			/* listening socket */
	ev_io accept_io;		/* readiness of lfd */
	ev_timer accept_retry;		/* resumes accepting after EMFILE */
	ev_signal sig_term, sig_int, sig_usr1; /* signal watchers */
	ev_check reaper;		       /* frees closed connections */
	struct conn *live;		       /* open connections */
	struct conn *dead;		       /* closed, freed by the reaper */
};

/* Connection states; every change goes through conn_set_state(). */
enum conn_state {
	CONN_READ_HEAD, /* reading a request head */
	CONN_READ_BODY, /* reading a request body */
	CONN_DELAY,	/* answer ready, waiting for the latency timer */
	CONN_WRITE,	/* sending a complete answer */
	CONN_STREAM,	/* sending an event stream, paced by a timer */
	CONN_LINGER,	/* our side shut down, draining before close */
	CONN_CLOSED,	/* closed, waiting for the reaper */
};

/* What starting the prepared answer means. */
enum conn_after {
	CONN_AFTER_WRITE,  /* send the buffer */
	CONN_AFTER_STREAM, /* send the buffer, then stream events */
	CONN_AFTER_RESET,  /* reset the connection, send nothing */
};

/* State of a streamed chat completion. */
struct mock_stream {
	int step;		       /* next event to send */
	bool chunked;		       /* HTTP/1.1 chunked framing */
	long long created;	       /* "created" of every chunk */
	char id[40];		       /* "chatcmpl-..." */
	char model[MOCK_NAME_MAX + 1]; /* "model" of every chunk */
};

struct conn {
	struct mock_srv *srv;	   /* owning server */
	struct conn *prev, *next;  /* in srv->live, or next in srv->dead */
	int fd;			   /* socket, -1 once closed */
	enum conn_state state;	   /* see enum conn_state */
	ev_io rio;		   /* readable */
	ev_io wio;		   /* writable, only while output is blocked */
	ev_timer idle;		   /* idle and linger timeout */
	ev_timer delay;		   /* latency and stream pacing */
	char *in;		   /* input buffer, owned */
	size_t in_len;		   /* bytes in <in> */
	size_t in_cap;		   /* size of <in>, at most MOCK_IN_MAX */
	bool in_full;		   /* <in> is full and cannot grow */
	bool eof;		   /* the peer shut down its side */
	size_t scan;		   /* head terminator search position */
	struct mhttp_req req;	   /* current request head */
	struct mhttp_chunk chunk;  /* chunked body decoder */
	size_t body_len;	   /* decoded body, at in + req.head_len */
	size_t req_end;		   /* raw end of the request in <in> */
	bool is_mock;		   /* request for /_mock/ */
	bool close_after;	   /* close once the answer is sent */
	enum conn_after after;	   /* what the prepared answer is */
	struct mock_stream stream; /* when after == CONN_AFTER_STREAM */
	struct mbuf out;	   /* answer bytes, over out_store */
	size_t out_pos;		   /* bytes of <out> already sent */
	char out_store[MOCK_OUT_CAP]; /* storage of <out> */
};

#endif /* MOCK_T_H */

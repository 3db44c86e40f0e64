/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration types: what the YAML file says, after validation. */
#ifndef AOAI_CFG_T_H
#define AOAI_CFG_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg-addr-t.h"

#define CFG_NAME_MAX	 64  /* backend/pool name, including the NUL */
#define CFG_STATE_MAX	 256 /* state_file path, including the NUL */
#define CFG_DNS_MAX	 253 /* characters of a DNS name */
#define CFG_LISTEN_MAX	 16
#define CFG_CONTROL_MAX	 4
#define CFG_BACKENDS_MAX 1024
#define CFG_POOLS_MAX	 256
#define CFG_MEMBERS_MAX	 256 /* per pool */
#define CFG_WEIGHT_MAX	 1000
#define CFG_PRIORITY_MAX 1000
#define CFG_STATUS_MIN	 100
#define CFG_STATUS_MAX	 599

/* A set of HTTP status codes CFG_STATUS_MIN..CFG_STATUS_MAX, as a bitmap. */
struct cfg_status_set {
	uint64_t bits[(CFG_STATUS_MAX + 64) / 64];
};

/* Circuit breaker of one backend: APIM's fields plus our extensions. */
struct cfg_breaker {
	uint32_t failure_count; /* faults within interval to trip; 0 off */
	uint32_t failure_interval_ms;	      /* sliding window length */
	struct cfg_status_set failure_status; /* faults, never throttles */
	uint32_t failure_percentage;   /* 1..100: fault ratio to trip; 0 off */
	uint32_t minimum_requests;     /* results in window before percentage */
	uint32_t consecutive_failures; /* consecutive faults to trip; 0 off */
	uint32_t slow_call_ms;	   /* a result slower than this is a fault */
	uint32_t trip_duration_ms; /* first trip */
	uint32_t max_trip_duration_ms; /* doubling cap; == trip: no growth */
	bool accept_retry_after;       /* 429: wait what the server says */
	uint32_t max_retry_after_ms;   /* cap on a server-requested wait */
	struct cfg_status_set throttle_status; /* statuses that are throttles */
	uint32_t probe_requests;   /* half-open: probes in flight at most */
	uint32_t probe_timeout_ms; /* a probe with no result is released */
};

/* Headroom steering from x-ratelimit-remaining-*: all zero means off. */
struct cfg_headroom {
	uint64_t min_remaining_requests; /* below this, weight scales down */
	uint64_t min_remaining_tokens;	 /* below this, weight scales down */
	uint32_t min_weight_percent; /* floor of the scaled weight, 1..100 */
	uint32_t max_age_ms;	     /* older headers are ignored */
};

/* Where a region's upstream-<name> hop takes the api-key from. */
enum cfg_keysrc {
	CFG_KEY_MAP,  /* the keys map, by server name */
	CFG_KEY_NONE, /* none: the client's bearer token passes through */
};

/* The HAProxy side of one backend ("upstream:"), read only by
 * "aoai-spoa haproxy-config" and never by the agent.
 */
struct cfg_upstream {
	char endpoint[CFG_DNS_MAX + 1]; /* resource host; "" = not given */
	char deployment[CFG_NAME_MAX];	/* its deployment; "" = the client's */
	char client_deployment[CFG_NAME_MAX]; /* renamed from; "" = none */
	int key;			      /* enum cfg_keysrc */
	struct cfg_mark mark; /* of the "upstream" key; 0:0 when absent */
};

/* Entra ID credentials (keyless backends): sizes of the text fields. */
#define CFG_AUTH_ID_MAX	  128 /* client_id, tenant */
#define CFG_AUTH_URL_MAX  256 /* authority, imds */
#define CFG_AUTH_FILE_MAX 256 /* secret, certificate, token, CA, map */

/* Where a backend's access token comes from; NONE: the region takes an
 * api-key from HAProxy's own map, the agent fetches nothing.
 */
enum cfg_auth_kind {
	CFG_AUTH_NONE,
	CFG_AUTH_MANAGED_IDENTITY,  /* IMDS of the Azure VM */
	CFG_AUTH_WORKLOAD_IDENTITY, /* federated token file (AKS) */
	CFG_AUTH_SERVICE_PRINCIPAL, /* client secret or certificate */
};

/* A backend's Entra ID credential ("auth:"), as written; "" = unset. */
struct cfg_auth {
	enum cfg_auth_kind kind;
	char client_id[CFG_AUTH_ID_MAX];	  /* app or user-assigned id */
	char tenant[CFG_AUTH_ID_MAX];		  /* Entra tenant */
	char secret_file[CFG_AUTH_FILE_MAX];	  /* service principal */
	char certificate_file[CFG_AUTH_FILE_MAX]; /* PEM certificate + key */
	char token_file[CFG_AUTH_FILE_MAX];	  /* workload identity */
	char authority[CFG_AUTH_URL_MAX];	  /* https://login... */
	char imds[CFG_AUTH_URL_MAX];		  /* http://169.254.169.254 */
	char ca_file[CFG_AUTH_FILE_MAX];	  /* "" = system CAs */
	char token_map[CFG_AUTH_FILE_MAX]; /* map file the agent writes */
	char map_name[CFG_AUTH_FILE_MAX];  /* as HAProxy names it */
	struct cfg_mark mark;		   /* its "auth:" or "kind" */
};

struct cfg_backend {
	char name[CFG_NAME_MAX]; /* equals the HAProxy server name */
	struct cfg_breaker breaker;
	struct cfg_headroom headroom;
	struct cfg_upstream upstream;
	struct cfg_auth auth; /* kind NONE: api-key, no token */
	struct cfg_mark mark;
};

struct cfg_member {
	uint32_t backend;  /* index into cfg.backends */
	uint32_t priority; /* 1..CFG_PRIORITY_MAX, lower is used first */
	uint32_t weight;   /* 0..CFG_WEIGHT_MAX; 0 = drained, never chosen */
	struct cfg_mark mark;
};

struct cfg_pool {
	char name[CFG_NAME_MAX];
	uint32_t n_members;
	struct cfg_member *members; /* owned; sorted by priority, stable */
	struct cfg_mark mark;
};

/* Link to HAProxy's runtime API (stats socket). */
struct cfg_haproxy {
	bool enabled;
	struct cfg_listener stats_socket; /* unix or tcp, to connect to */
	char backend[CFG_NAME_MAX]; /* HAProxy backend holding the servers */
	uint32_t poll_interval_ms;
	bool mirror; /* set servers drain/ready */
};

/* The fleet: throttles shared with the other nodes through a HAProxy
 * peers table (agent/fleet.c). Needs the haproxy: block's stats socket.
 */
#define CFG_FLEET_KEY_MAX 63 /* "<backend>@<node>" in a "len 64" table */

#define CFG_FLEET_PEERS_MAX 32

/* A node of the fleet: its peer name (the node name in the keys) and the
 * address its HAProxy's peers listen on.
 */
struct cfg_fleet_peer {
	char name[CFG_NAME_MAX];
	struct cfg_listener addr; /* tcp only */
};

struct cfg_fleet {
	bool enabled;
	char table[CFG_NAME_MAX]; /* the peers stick table, in HAProxy */
	char node[CFG_NAME_MAX];  /* this node's name in the keys */
	uint32_t poll_interval_ms;
	uint32_t max_wait_ms; /* cap on a deadline learned from the fleet */
	/* what haproxy-config renders; optional for the agent itself */
	struct cfg_fleet_peer peers[CFG_FLEET_PEERS_MAX];
	uint32_t n_peers;
	char crt[CFG_PATH_MAX];	    /* this node's certificate + key (PEM) */
	char ca_file[CFG_PATH_MAX]; /* the fleet's CA */
	bool plaintext;		    /* peers without TLS: a lab only */
};

/* Limits and timeouts of the SPOP server. */
struct cfg_agent {
	uint32_t max_connections;
	uint32_t max_frame_size; /* announced in AGENT-HELLO */
	uint32_t max_inflight;	 /* NOTIFYs being handled per connection */
	uint32_t hello_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t shutdown_timeout_ms; /* SIGTERM: longest wait to flush */
	int log_level;		      /* LOG_ERR..LOG_DEBUG (syslog.h) */
};

struct cfg {
	char *file; /* owned copy of the path it came from */
	struct cfg_agent agent;
	uint32_t n_listen;
	struct cfg_listener listen[CFG_LISTEN_MAX];
	uint32_t n_control;
	struct cfg_listener control[CFG_CONTROL_MAX];
	bool has_metrics;
	struct cfg_listener metrics; /* optional HTTP /metrics, tcp */
	bool metrics_allow_remote;   /* metrics may listen off loopback */
	struct cfg_haproxy haproxy;
	struct cfg_fleet fleet;
	uint32_t n_backends;
	struct cfg_backend *backends; /* owned */
	uint32_t n_pools;
	struct cfg_pool *pools;		/* owned */
	char state_file[CFG_STATE_MAX]; /* snapshot path; "" = none */
};

/* Kinds of configuration values, as the schema describes them. */
enum cfg_type {
	CFG_T_MAP,	 /* a mapping of the keys of another block */
	CFG_T_SEQ,	 /* a list of mappings of another block */
	CFG_T_U32,	 /* decimal integer */
	CFG_T_U64,	 /* decimal integer */
	CFG_T_DURATION,	 /* integer and unit: 500ms, 10s, 1m, 1h */
	CFG_T_BOOL,	 /* true or false */
	CFG_T_STATUS,	 /* list of HTTP statuses and ranges: 408, 500-599 */
	CFG_T_LOG_LEVEL, /* err, warning, notice, info, debug */
	CFG_T_NAME,	 /* 1..63 of A-Z a-z 0-9 _ . : - */
	CFG_T_ADDR,	 /* tcp://HOST:PORT or unix:///PATH */
	CFG_T_SOCKET,	 /* an address, or a mapping {address, mode[, level]} */
	CFG_T_MODE,	 /* octal file mode, at most 0777 */
	CFG_T_LEVEL,	 /* control level: user, operator, admin */
	CFG_T_PATH,	 /* absolute file path */
	CFG_T_DNS,	 /* a DNS host name, at most <max> characters */
	CFG_T_WORD,	 /* 1..<max> of A-Z a-z 0-9 _ . - (deployment names) */
	CFG_T_KEYSRC,	 /* api-key source: map or none */
	CFG_T_TEXT,	 /* printable, no spaces, shorter than max bytes */
	CFG_T_AUTH_KIND, /* none, managed-identity, workload-identity, ... */
};

/* The mappings of the file; each key of the schema belongs to one. */
enum cfg_block {
	CFG_BLK_ROOT,	  /* the top level */
	CFG_BLK_AGENT,	  /* agent: (struct cfg_agent) */
	CFG_BLK_SOCKET,	  /* an item of listen or control (cfg_listener) */
	CFG_BLK_HAPROXY,  /* haproxy: (struct cfg_haproxy) */
	CFG_BLK_FLEET,	  /* fleet: (struct cfg_fleet) */
	CFG_BLK_PEER,	  /* an item of fleet.peers (cfg_fleet_peer) */
	CFG_BLK_DEFAULTS, /* defaults: */
	CFG_BLK_BREAKER,  /* circuit_breaker: (struct cfg_breaker) */
	CFG_BLK_FAILURE,  /* circuit_breaker.failure: (struct cfg_breaker) */
	CFG_BLK_HEADROOM, /* headroom: (struct cfg_headroom) */
	CFG_BLK_BACKEND,  /* an item of backends (struct cfg_backend) */
	CFG_BLK_UPSTREAM, /* backends[].upstream (struct cfg_upstream) */
	CFG_BLK_POOL,	  /* an item of pools (struct cfg_pool) */
	CFG_BLK_MEMBER,	  /* an item of members (struct cfg_member) */
	CFG_BLK_AUTH,	  /* auth: of a backend or defaults (cfg_auth) */
	CFG_BLK_COUNT
};

#define CFG_OFF_NONE ((size_t)-1) /* a field the schema cannot set alone */

/* One key of the schema: the single description that drives the parser's
 * keys, the defaults, cfg_schema_walk() and docs/config.md.
 */
struct cfg_field {
	enum cfg_block block; /* the mapping it belongs to */
	const char *key;      /* as written in the file */
	enum cfg_type type;
	enum cfg_block child; /* CFG_T_MAP, CFG_T_SEQ: the block inside */
	bool required;	      /* missing is an error */
	size_t off;	      /* offset in the block's struct, CFG_OFF_NONE */
	uint64_t min, max;    /* integers and durations (ms): the range */
	const char *def;      /* default as the file would say it; NULL none */
	const char *doc_def;  /* the docs' wording of a derived default */
	const char *apim;     /* Azure APIM's name for it, NULL none */
	const char *help;     /* one line for the docs */
};

/* What cfg_schema_walk() reports, in file order. */
enum cfg_walk_event {
	CFG_WALK_VALUE,	    /* a scalar value (STATUS: "408, 500-599") */
	CFG_WALK_MAP_BEGIN, /* a mapping starts (key NULL: a list item) */
	CFG_WALK_MAP_END,
	CFG_WALK_SEQ_BEGIN, /* a list starts */
	CFG_WALK_SEQ_END,
};

/* One step of cfg_schema_walk(); strings valid during the call only. */
struct cfg_walk_item {
	enum cfg_walk_event event;
	unsigned depth;	  /* 0 for the top-level keys */
	const char *path; /* "backends[1].circuit_breaker.failure" */
	const char *key;  /* key in its mapping; NULL: list item */
	const struct cfg_field *field; /* its schema entry; NULL list item */
	enum cfg_type type;	       /* the field's, CFG_T_MAP for an item */
	const char *value;	       /* VALUE: as the file would say it */
	bool is_default;	       /* VALUE: equals the built-in default */
};

/* Receives each step of cfg_schema_walk(). */
typedef void (*cfg_visit_fn)(void *arg, const struct cfg_walk_item *it);

/* Receives each configuration error, already formatted
 * "FILE:LINE:COL: message" (no trailing newline).
 */
typedef void (*cfg_error_fn)(void *arg, const char *msg);

static inline bool cfg_status_has(const struct cfg_status_set *s, int code)
{
	if (code < CFG_STATUS_MIN || code > CFG_STATUS_MAX)
		return false;
	return (s->bits[code / 64] >> (code % 64)) & 1;
}

static inline void cfg_status_add(struct cfg_status_set *s, int code)
{
	if (code >= CFG_STATUS_MIN && code <= CFG_STATUS_MAX)
		s->bits[code / 64] |= (uint64_t)1 << (code % 64);
}

#endif /* AOAI_CFG_T_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration schema, described once: keys, types, ranges, defaults,
 * APIM names. It drives the parser's keys (cfg.c), the defaults,
 * cfg_schema_walk() ("show config") and docs/config.md (checked by a test).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "cfg.h"
#include "text.h"

#define MS_SEC	TEXT_MS_SEC
#define MS_MIN	TEXT_MS_MIN
#define MS_HOUR TEXT_MS_HOUR
#define MS_DAY	(24 * TEXT_MS_HOUR)

#define CFG_COUNT_MAX  1000000		/* failure counters */
#define CFG_REMAIN_MAX 1000000000000ULL /* headroom thresholds */

#define NONE  CFG_OFF_NONE
#define AG(m) offsetof(struct cfg_agent, m)
#define HA(m) offsetof(struct cfg_haproxy, m)
#define FL(m) offsetof(struct cfg_fleet, m)
#define BR(m) offsetof(struct cfg_breaker, m)
#define HR(m) offsetof(struct cfg_headroom, m)
#define ME(m) offsetof(struct cfg_member, m)
#define UP(m) offsetof(struct cfg_upstream, m)
#define AU(m) offsetof(struct cfg_auth, m)

/* block, key, type, child block, required, offset, min, max, default,
 * docs' default, APIM name, help
 */
#define F(blk, key, type, child, req, off, min, max, def, ddef, apim, help)    \
	{                                                                      \
		CFG_BLK_##blk, key, CFG_T_##type, CFG_BLK_##child, req, off,   \
			min, max, def, ddef, apim, help                        \
	}

static const struct cfg_field cfg_fields[] = {
	F(ROOT, "agent", MAP, AGENT, false, NONE, 0, 0, NULL, NULL, NULL,
	  "the SPOP server's limits and timeouts"),
	F(ROOT, "listen", SEQ, SOCKET, true, NONE, 0, 0, NULL, NULL, NULL,
	  "where HAProxy connects: 1 to 16 sockets"),
	F(ROOT, "control", SEQ, SOCKET, false, NONE, 0, 0, NULL, "none", NULL,
	  "control sockets: one, or a list of up to 4"),
	F(ROOT, "metrics", ADDR, ROOT, false, NONE, 0, 0, NULL, "none", NULL,
	  "Prometheus /metrics over HTTP, TCP on loopback"),
	F(ROOT, "metrics_allow_remote", BOOL, ROOT, false,
	  offsetof(struct cfg, metrics_allow_remote), 0, 0, "false", NULL, NULL,
	  "true lets metrics listen off loopback, for a scraper on another "
	  "host"),
	F(ROOT, "haproxy", MAP, HAPROXY, false, NONE, 0, 0, NULL, "none", NULL,
	  "link to HAProxy's runtime API"),
	F(ROOT, "fleet", MAP, FLEET, false, NONE, 0, 0, NULL, "none", NULL,
	  "throttles shared with the other nodes (HAProxy peers)"),
	F(ROOT, "defaults", MAP, DEFAULTS, false, NONE, 0, 0, NULL, NULL, NULL,
	  "applied to every backend before its own keys"),
	F(ROOT, "backends", SEQ, BACKEND, true, NONE, 0, 0, NULL, NULL, NULL,
	  "the deployments: 1 to 1024"),
	F(ROOT, "pools", SEQ, POOL, true, NONE, 0, 0, NULL, NULL, NULL,
	  "what HAProxy asks for: 1 to 256"),
	F(ROOT, "state_file", PATH, ROOT, false, NONE, 0, 0, NULL, "none", NULL,
	  "breaker state kept across restarts"),

	F(AGENT, "max_connections", U32, ROOT, false, AG(max_connections), 1,
	  65536, "4096", NULL, NULL, "HAProxy connections at once"),
	F(AGENT, "max_frame_size", U32, ROOT, false, AG(max_frame_size), 256,
	  1048576, "16380", NULL, NULL, "announced in AGENT-HELLO"),
	F(AGENT, "max_inflight", U32, ROOT, false, AG(max_inflight), 1, 65536,
	  "256", NULL, NULL, "frames handled per connection in one wake-up"),
	F(AGENT, "hello_timeout", DURATION, ROOT, false, AG(hello_timeout_ms),
	  100, 5 * MS_MIN, "5s", NULL, NULL, "wait for HAPROXY-HELLO"),
	F(AGENT, "idle_timeout", DURATION, ROOT, false, AG(idle_timeout_ms),
	  MS_SEC, MS_DAY, "60s", NULL, NULL, "an idle connection is closed"),
	F(AGENT, "shutdown_timeout", DURATION, ROOT, false,
	  AG(shutdown_timeout_ms), 0, 10 * MS_MIN, "5s", NULL, NULL,
	  "longest wait for in-flight NOTIFYs on SIGTERM"),
	F(AGENT, "log_level", LOG_LEVEL, ROOT, false, AG(log_level), 0, 0,
	  "info", NULL, NULL, "err, warning, notice, info, debug"),

	F(SOCKET, "address", ADDR, ROOT, true, NONE, 0, 0, NULL, NULL, NULL,
	  "tcp://HOST:PORT or unix:///PATH"),
	F(SOCKET, "mode", MODE, ROOT, false, NONE, 0, 0777, NULL,
	  "0660 (listen), 0600 (control)", NULL, "unix sockets only"),
	F(SOCKET, "level", LEVEL, ROOT, false, NONE, 0, 0, "admin", NULL, NULL,
	  "control sockets only: user, operator, admin"),

	F(HAPROXY, "stats_socket", ADDR, ROOT, true, NONE, 0, 0, NULL, NULL,
	  NULL, "HAProxy's runtime API socket"),
	F(HAPROXY, "backend", NAME, ROOT, true, NONE, 0, 0, NULL, NULL, NULL,
	  "the HAProxy backend holding the servers"),
	F(HAPROXY, "poll_interval", DURATION, ROOT, false, HA(poll_interval_ms),
	  100, MS_HOUR, "2s", NULL, NULL,
	  "between reads of server state and error counters"),
	F(HAPROXY, "mirror", BOOL, ROOT, false, HA(mirror), 0, 0, "false", NULL,
	  NULL, "set servers drain/ready while a circuit is not closed"),

	F(FLEET, "table", NAME, ROOT, true, NONE, 0, 0, NULL, NULL, NULL,
	  "the peers stick table in HAProxy"),
	F(FLEET, "node", NAME, ROOT, true, NONE, 0, 0, NULL, NULL, NULL,
	  "this node's name, unique in the fleet"),
	F(FLEET, "poll_interval", DURATION, ROOT, false, FL(poll_interval_ms),
	  50, 10 * MS_SEC, "250ms", NULL, NULL, "between reads of the table"),
	F(FLEET, "max_wait", DURATION, ROOT, false, FL(max_wait_ms), MS_SEC,
	  MS_HOUR, "5m", NULL, NULL,
	  "cap on another node's deadline, from when it is first seen"),

	F(DEFAULTS, "circuit_breaker", MAP, BREAKER, false, NONE, 0, 0, NULL,
	  NULL, NULL, "every backend's breaker"),
	F(DEFAULTS, "headroom", MAP, HEADROOM, false, NONE, 0, 0, NULL, NULL,
	  NULL, "every backend's headroom steering"),
	F(DEFAULTS, "auth", MAP, AUTH, false, NONE, 0, 0, NULL, NULL, NULL,
	  "every backend's Entra ID credential"),

	F(BREAKER, "failure", MAP, FAILURE, false, NONE, 0, 0, NULL, NULL,
	  "failureCondition", "what trips the circuit"),
	F(BREAKER, "trip_duration", DURATION, ROOT, false, BR(trip_duration_ms),
	  MS_SEC, MS_DAY, "30s", NULL, "tripDuration", "first open period"),
	F(BREAKER, "max_trip_duration", DURATION, ROOT, false,
	  BR(max_trip_duration_ms), MS_SEC, MS_DAY, "5m",
	  "10 x trip_duration, at most 1h, never below trip_duration", NULL,
	  "each failed probe doubles the open period up to this"),
	F(BREAKER, "accept_retry_after", BOOL, ROOT, false,
	  BR(accept_retry_after), 0, 0, "true", NULL, "acceptRetryAfter",
	  "wait what Retry-After / retry-after-ms says"),
	F(BREAKER, "max_retry_after", DURATION, ROOT, false,
	  BR(max_retry_after_ms), MS_SEC, MS_DAY, "60s", NULL, NULL,
	  "cap on a server-requested wait"),
	F(BREAKER, "throttle_status_codes", STATUS, ROOT, false,
	  BR(throttle_status), 0, 0, "429", NULL, NULL,
	  "statuses that are throttles, not faults"),
	F(BREAKER, "probe_requests", U32, ROOT, false, BR(probe_requests), 1,
	  16, "1", NULL, NULL, "requests let through while half-open"),
	F(BREAKER, "probe_timeout", DURATION, ROOT, false, BR(probe_timeout_ms),
	  MS_SEC, 10 * MS_MIN, "30s", NULL, NULL,
	  "a probe with no result is given up after this"),

	F(FAILURE, "count", U32, ROOT, false, BR(failure_count), 0,
	  CFG_COUNT_MAX, "5", NULL, "failureCondition.count",
	  "faults within interval that trip; 0 = off"),
	F(FAILURE, "interval", DURATION, ROOT, false, BR(failure_interval_ms),
	  MS_SEC, MS_HOUR, "10s", NULL, "failureCondition.interval",
	  "sliding window"),
	F(FAILURE, "status_codes", STATUS, ROOT, false, BR(failure_status), 0,
	  0, "408, 500-599", NULL, "failureCondition.statusCodeRanges",
	  "statuses that are faults; a list replaces the default"),
	F(FAILURE, "percentage", U32, ROOT, false, BR(failure_percentage), 0,
	  100, "0", NULL, "failureCondition.percentage",
	  "share of faults in interval that trips; 0 = off"),
	F(FAILURE, "minimum_requests", U32, ROOT, false, BR(minimum_requests),
	  1, CFG_COUNT_MAX, "10", NULL, NULL,
	  "results seen before percentage applies"),
	F(FAILURE, "consecutive", U32, ROOT, false, BR(consecutive_failures), 0,
	  CFG_COUNT_MAX, "0", NULL, NULL, "faults in a row that trip; 0 = off"),
	F(FAILURE, "slow_call", DURATION, ROOT, false, BR(slow_call_ms), 0,
	  MS_HOUR, "0s", NULL, NULL, "a slower result is a fault; 0s = off"),

	F(HEADROOM, "min_remaining_requests", U64, ROOT, false,
	  HR(min_remaining_requests), 0, CFG_REMAIN_MAX, "0", NULL, NULL,
	  "below this, the weight scales down; 0 = off"),
	F(HEADROOM, "min_remaining_tokens", U64, ROOT, false,
	  HR(min_remaining_tokens), 0, CFG_REMAIN_MAX, "0", NULL, NULL,
	  "below this, the weight scales down; 0 = off"),
	F(HEADROOM, "min_weight_percent", U32, ROOT, false,
	  HR(min_weight_percent), 1, 100, "10", NULL, NULL,
	  "floor of the scaled weight"),
	F(HEADROOM, "max_age", DURATION, ROOT, false, HR(max_age_ms), MS_SEC,
	  MS_HOUR, "10s", NULL, NULL, "older headers are ignored"),

	F(BACKEND, "name", NAME, ROOT, true, NONE, 0, 0, NULL, NULL, NULL,
	  "equals the HAProxy server name"),
	F(BACKEND, "circuit_breaker", MAP, BREAKER, false, NONE, 0, 0, NULL,
	  "defaults.circuit_breaker", "circuitBreaker.rules[]",
	  "this backend's breaker"),
	F(BACKEND, "headroom", MAP, HEADROOM, false, NONE, 0, 0, NULL,
	  "defaults.headroom", NULL, "this backend's headroom steering"),
	F(BACKEND, "auth", MAP, AUTH, false, NONE, 0, 0, NULL, "defaults.auth",
	  "authentication-managed-identity",
	  "this backend's Entra ID credential; a kind replaces defaults.auth"),
	F(BACKEND, "upstream", MAP, UPSTREAM, false, NONE, 0, 0, NULL, "none",
	  NULL, "the HAProxy side, for aoai-spoa haproxy-config"),

	/* The HAProxy side of a region: "aoai-spoa haproxy-config" renders
	 * its upstream-<name> section from these; the agent never reads them.
	 * Strings: max is their length in characters.
	 */
	F(UPSTREAM, "endpoint", DNS, ROOT, false, UP(endpoint), 1, CFG_DNS_MAX,
	  NULL, "none (haproxy-config needs it)", "url",
	  "the resource's host name: Host, SNI, address:443"),
	F(UPSTREAM, "deployment", WORD, ROOT, false, UP(deployment), 1,
	  CFG_NAME_MAX - 1, NULL, "none", NULL,
	  "this resource's name for client_deployment"),
	F(UPSTREAM, "client_deployment", WORD, ROOT, false,
	  UP(client_deployment), 1, CFG_NAME_MAX - 1, NULL, "none", NULL,
	  "the deployment name clients use, rewritten to deployment"),
	F(UPSTREAM, "key", KEYSRC, ROOT, false, UP(key), 0, 0, "map", NULL,
	  "credentials.header",
	  "api-key from the keys map, or none (the client's bearer token "
	  "passes); a backend with auth sends the agent's token instead"),

	F(POOL, "name", NAME, ROOT, true, NONE, 0, 0, NULL, NULL,
	  "backend of type Pool", "the pool argument of aoai-route"),
	F(POOL, "members", SEQ, MEMBER, true, NONE, 0, 0, NULL, NULL,
	  "pool.services[]", "1 to 256 backends"),

	F(MEMBER, "backend", NAME, ROOT, true, NONE, 0, 0, NULL, NULL,
	  "pool.services[].id", "a backend name"),
	F(MEMBER, "priority", U32, ROOT, false, ME(priority), 1, 1000, "1",
	  NULL, "pool.services[].priority", "lower is used first"),
	F(MEMBER, "weight", U32, ROOT, false, ME(weight), 0, 1000, "1", NULL,
	  "pool.services[].weight", "share within a priority; 0 = drained"),

	F(AUTH, "kind", AUTH_KIND, ROOT, false, AU(kind), 0, 0, "none", NULL,
	  NULL,
	  "none (api-key in HAProxy), managed-identity, workload-identity, "
	  "service-principal"),
	F(AUTH, "client_id", TEXT, ROOT, false, AU(client_id), 0,
	  CFG_AUTH_ID_MAX, "", NULL, "clientId",
	  "application id; managed-identity: a user-assigned identity; "
	  "workload-identity: else AZURE_CLIENT_ID"),
	F(AUTH, "tenant", TEXT, ROOT, false, AU(tenant), 0, CFG_AUTH_ID_MAX, "",
	  NULL, NULL,
	  "Entra tenant id; workload-identity: else AZURE_TENANT_ID"),
	F(AUTH, "secret_file", TEXT, ROOT, false, AU(secret_file), 0,
	  CFG_AUTH_FILE_MAX, "", NULL, NULL,
	  "service-principal: file holding the client secret, mode 0600"),
	F(AUTH, "certificate_file", TEXT, ROOT, false, AU(certificate_file), 0,
	  CFG_AUTH_FILE_MAX, "", NULL, NULL,
	  "service-principal: PEM file with the certificate and its key"),
	F(AUTH, "token_file", TEXT, ROOT, false, AU(token_file), 0,
	  CFG_AUTH_FILE_MAX, "", NULL, NULL,
	  "workload-identity: federated token file; else "
	  "AZURE_FEDERATED_TOKEN_FILE"),
	F(AUTH, "authority", TEXT, ROOT, false, AU(authority), 0,
	  CFG_AUTH_URL_MAX, "", NULL, NULL,
	  "Entra authority; empty: https://login.microsoftonline.com"),
	F(AUTH, "imds", TEXT, ROOT, false, AU(imds), 0, CFG_AUTH_URL_MAX, "",
	  NULL, NULL,
	  "managed-identity: metadata service; empty: "
	  "http://169.254.169.254"),
	F(AUTH, "ca_file", TEXT, ROOT, false, AU(ca_file), 0, CFG_AUTH_FILE_MAX,
	  "", NULL, NULL, "CAs that verify the authority; empty: the system's"),
	F(AUTH, "token_map", TEXT, ROOT, false, AU(token_map), 0,
	  CFG_AUTH_FILE_MAX, "/var/lib/aoai-spoa/tokens.map", NULL, NULL,
	  "map file of tokens the agent writes, one for every backend"),
	F(AUTH, "map_name", TEXT, ROOT, false, AU(map_name), 0,
	  CFG_AUTH_FILE_MAX, "", NULL, NULL,
	  "the map as haproxy.cfg names it; empty: token_map"),
};

static const char *const cfg_auth_kinds[] = {
	[CFG_AUTH_NONE] = "none",
	[CFG_AUTH_MANAGED_IDENTITY] = "managed-identity",
	[CFG_AUTH_WORKLOAD_IDENTITY] = "workload-identity",
	[CFG_AUTH_SERVICE_PRINCIPAL] = "service-principal",
};

static const struct {
	const char *name;
	int level;
} cfg_log_levels[] = {
	{"err", LOG_ERR},   {"warning", LOG_WARNING}, {"notice", LOG_NOTICE},
	{"info", LOG_INFO}, {"debug", LOG_DEBUG},
};

const char *cfg_level_str(enum cfg_level level)
{
	static const char *const names[] = {
		[CFG_LEVEL_USER] = "user",
		[CFG_LEVEL_OPERATOR] = "operator",
		[CFG_LEVEL_ADMIN] = "admin",
	};

	return (unsigned)level < sizeof(names) / sizeof(names[0]) ? names[level]
								  : "?";
}

const struct cfg_field *cfg_schema(size_t *n)
{
	*n = sizeof(cfg_fields) / sizeof(cfg_fields[0]);
	return cfg_fields;
}

const char *cfg_type_str(enum cfg_type t)
{
	static const char *const names[] = {
		[CFG_T_MAP] = "map",
		[CFG_T_SEQ] = "list",
		[CFG_T_U32] = "integer",
		[CFG_T_U64] = "integer",
		[CFG_T_DURATION] = "duration",
		[CFG_T_BOOL] = "boolean",
		[CFG_T_STATUS] = "status list",
		[CFG_T_LOG_LEVEL] = "log level",
		[CFG_T_NAME] = "name",
		[CFG_T_ADDR] = "address",
		[CFG_T_SOCKET] = "socket",
		[CFG_T_MODE] = "file mode",
		[CFG_T_LEVEL] = "level",
		[CFG_T_PATH] = "path",
		[CFG_T_DNS] = "host name",
		[CFG_T_WORD] = "name",
		[CFG_T_KEYSRC] = "key source",
		[CFG_T_TEXT] = "text",
		[CFG_T_AUTH_KIND] = "credential kind",
	};

	if ((unsigned)t < sizeof(names) / sizeof(names[0]) && names[t])
		return names[t];
	return "?";
}

const char *cfg_block_path(enum cfg_block b)
{
	static const char *const paths[] = {
		[CFG_BLK_ROOT] = "",
		[CFG_BLK_AGENT] = "agent",
		[CFG_BLK_SOCKET] = "listen[]",
		[CFG_BLK_HAPROXY] = "haproxy",
		[CFG_BLK_FLEET] = "fleet",
		[CFG_BLK_DEFAULTS] = "defaults",
		[CFG_BLK_BREAKER] = "circuit_breaker",
		[CFG_BLK_FAILURE] = "circuit_breaker.failure",
		[CFG_BLK_HEADROOM] = "headroom",
		[CFG_BLK_BACKEND] = "backends[]",
		[CFG_BLK_UPSTREAM] = "backends[].upstream",
		[CFG_BLK_POOL] = "pools[]",
		[CFG_BLK_MEMBER] = "pools[].members[]",
		[CFG_BLK_AUTH] = "auth",
	};

	if ((unsigned)b < sizeof(paths) / sizeof(paths[0]) && paths[b])
		return paths[b];
	return "?";
}

size_t cfg_block_fields(enum cfg_block b, const struct cfg_field **out)
{
	size_t i, n = 0;

	for (i = 0; i < sizeof(cfg_fields) / sizeof(cfg_fields[0]); i++)
		if (cfg_fields[i].block == b && n < CFG_BLOCK_KEYS_MAX)
			out[n++] = &cfg_fields[i];
	return n;
}

/* ---------------------------------------------------------------- */
/* values                                                            */

/* Parses one status item "408" or "500-599" of <len> bytes into <set>.
 * Returns 0 or -1.
 */
static int cfg_status_text(const char *s, size_t len,
			   struct cfg_status_set *set)
{
	const char *dash = memchr(s, '-', len);
	uint64_t lo, hi, c;

	if (!dash) {
		if (text_parse_u64(s, len, CFG_STATUS_MAX, &lo) < 0)
			return -1;
		hi = lo;
	} else if (text_parse_u64(s, (size_t)(dash - s), CFG_STATUS_MAX, &lo) <
			   0 ||
		   text_parse_u64(dash + 1, len - (size_t)(dash - s) - 1,
				  CFG_STATUS_MAX, &hi) < 0) {
		return -1;
	}
	if (lo < CFG_STATUS_MIN || hi < lo)
		return -1;
	for (c = lo; c <= hi; c++)
		cfg_status_add(set, (int)c);
	return 0;
}

/* A duration of field <f> into *<out>. Returns 0 or -1 (<err>). */
static int cfg_value_duration(const struct cfg_field *f, const char *s,
			      uint32_t *out, char *err, size_t len)
{
	char lo[TEXT_DURATION_LEN], hi[TEXT_DURATION_LEN];
	uint64_t v = 0;
	int rc = text_parse_durationz(s, 0, f->max, &v);

	if (rc == TEXT_ENOUNIT) {
		snprintf(err, len, "duration needs a unit: ms, s, m or h");
		return -1;
	}
	if (rc == TEXT_EINVAL) {
		snprintf(err, len,
			 "expected a duration: an integer and a unit ms, s, m "
			 "or h (500ms, 10s, 1m, 1h)");
		return -1;
	}
	if (rc < 0 || v < f->min) {
		snprintf(err, len, "expected a duration %s..%s",
			 text_fmt_duration(lo, sizeof(lo), f->min),
			 text_fmt_duration(hi, sizeof(hi), f->max));
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* A status list "408, 500-599" replacing *<out>. Returns 0 or -1. */
static int cfg_value_status(const char *s, struct cfg_status_set *out,
			    char *err, size_t len)
{
	struct cfg_status_set set;
	const char *q;

	memset(&set, 0, sizeof(set));
	while (*s) {
		while (*s == ' ')
			s++;
		q = strchr(s, ',');
		if (!q)
			q = s + strlen(s);
		if (cfg_status_text(s, (size_t)(q - s), &set) < 0) {
			snprintf(err, len,
				 "expected status codes %d..%d and ranges "
				 "such as 500-599",
				 CFG_STATUS_MIN, CFG_STATUS_MAX);
			return -1;
		}
		s = *q ? q + 1 : q;
	}
	*out = set;
	return 0;
}

/* A string of field <f> (CFG_T_DNS, CFG_T_WORD) into <out> of f->max + 1
 * bytes. Returns 0 or -1 (<err>).
 */
static int cfg_value_string(const struct cfg_field *f, const char *s, char *out,
			    char *err, size_t len)
{
	size_t i, n = strlen(s);
	bool dns = f->type == CFG_T_DNS;

	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '-' || (!dns && s[i] == '_')))
			break;
	/* a DNS name: no empty label, no label starting with '-' */
	if (dns && i == n && n &&
	    (s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || strstr(s, "..") ||
	     strstr(s, ".-")))
		i = 0;
	if (n < f->min || n > f->max || i < n) {
		if (dns)
			snprintf(err, len,
				 "expected a host name of 1..%" PRIu64
				 " characters among a-z 0-9 . -",
				 f->max);
		else
			snprintf(err, len,
				 "expected 1..%" PRIu64
				 " characters among A-Z a-z 0-9 _ . -",
				 f->max);
		return -1;
	}
	memcpy(out, s, n + 1);
	return 0;
}

/* A text field into the char array at <p> of f->max bytes: printable
 * ASCII without spaces (paths, URLs, ids), "" allowed (unset). Returns 0
 * or -1 (<err>).
 */
static int cfg_value_text(const struct cfg_field *f, const char *s, char *p,
			  char *err, size_t len)
{
	size_t n = strlen(s), i;

	if (n >= f->max) {
		snprintf(err, len, "longer than %" PRIu64 " bytes", f->max - 1);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (s[i] <= ' ' || s[i] > '~') {
			snprintf(err, len,
				 "only printable characters, no spaces");
			return -1;
		}
	}
	memcpy(p, s, n + 1);
	return 0;
}

int cfg_value_set(const struct cfg_field *f, const char *s, void *base,
		  char *err, size_t len)
{
	char *p = (char *)base + f->off;
	uint64_t v = 0;
	size_t i;

	if (f->off == CFG_OFF_NONE) {
		snprintf(err, len, "not a plain value");
		return -1;
	}
	switch (f->type) {
	case CFG_T_U32:
	case CFG_T_U64:
		if (text_parse_u64z(s, f->max, &v) < 0 || v < f->min) {
			snprintf(err, len,
				 "expected an integer %" PRIu64 "..%" PRIu64,
				 f->min, f->max);
			return -1;
		}
		if (f->type == CFG_T_U32)
			*(uint32_t *)(void *)p = (uint32_t)v;
		else
			*(uint64_t *)(void *)p = v;
		return 0;
	case CFG_T_DURATION:
		return cfg_value_duration(f, s, (uint32_t *)(void *)p, err,
					  len);
	case CFG_T_BOOL:
		if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0) {
			snprintf(err, len, "expected true or false");
			return -1;
		}
		*(bool *)(void *)p = s[0] == 't';
		return 0;
	case CFG_T_LOG_LEVEL:
		for (i = 0;
		     i < sizeof(cfg_log_levels) / sizeof(cfg_log_levels[0]);
		     i++) {
			if (strcmp(s, cfg_log_levels[i].name) == 0) {
				*(int *)(void *)p = cfg_log_levels[i].level;
				return 0;
			}
		}
		snprintf(err, len,
			 "expected err, warning, notice, info or debug");
		return -1;
	case CFG_T_STATUS:
		return cfg_value_status(s, (struct cfg_status_set *)(void *)p,
					err, len);
	case CFG_T_DNS:
	case CFG_T_WORD:
		return cfg_value_string(f, s, p, err, len);
	case CFG_T_KEYSRC:
		if (strcmp(s, "map") != 0 && strcmp(s, "none") != 0) {
			snprintf(err, len, "expected map or none");
			return -1;
		}
		*(int *)(void *)p = s[0] == 'm' ? CFG_KEY_MAP : CFG_KEY_NONE;
		return 0;
	case CFG_T_TEXT:
		return cfg_value_text(f, s, p, err, len);
	case CFG_T_AUTH_KIND:
		for (i = 0;
		     i < sizeof(cfg_auth_kinds) / sizeof(cfg_auth_kinds[0]);
		     i++) {
			if (strcmp(s, cfg_auth_kinds[i]) == 0) {
				*(enum cfg_auth_kind *)(void *)p = i;
				return 0;
			}
		}
		snprintf(err, len,
			 "expected none, managed-identity, workload-identity "
			 "or service-principal");
		return -1;
	default:
		snprintf(err, len, "not a plain value");
		return -1;
	}
}

/* Writes status set <set> as "408, 500-599". */
static void cfg_status_fmt(const struct cfg_status_set *set, char *buf,
			   size_t size)
{
	size_t o = 0;
	int c, end, r;

	buf[0] = '\0';
	for (c = CFG_STATUS_MIN; c <= CFG_STATUS_MAX; c++) {
		if (!cfg_status_has(set, c))
			continue;
		for (end = c;
		     end < CFG_STATUS_MAX && cfg_status_has(set, end + 1);
		     end++)
			;
		if (end == c)
			r = snprintf(buf + o, size - o, "%s%d", o ? ", " : "",
				     c);
		else
			r = snprintf(buf + o, size - o, "%s%d-%d",
				     o ? ", " : "", c, end);
		if (r < 0 || (size_t)r >= size - o)
			return;
		o += (size_t)r;
		c = end;
	}
}

const char *cfg_value_fmt(const struct cfg_field *f, const void *base,
			  char *buf, size_t size)
{
	const char *p = (const char *)base + f->off;
	size_t i;

	buf[0] = '\0';
	if (f->off == CFG_OFF_NONE)
		return buf;
	switch (f->type) {
	case CFG_T_U32:
		text_fmt_u64(buf, size, *(const uint32_t *)(const void *)p);
		break;
	case CFG_T_U64:
		text_fmt_u64(buf, size, *(const uint64_t *)(const void *)p);
		break;
	case CFG_T_DURATION:
		text_fmt_duration(buf, size,
				  *(const uint32_t *)(const void *)p);
		break;
	case CFG_T_BOOL:
		snprintf(buf, size, "%s",
			 *(const bool *)(const void *)p ? "true" : "false");
		break;
	case CFG_T_LOG_LEVEL:
		for (i = 0;
		     i < sizeof(cfg_log_levels) / sizeof(cfg_log_levels[0]);
		     i++)
			if (cfg_log_levels[i].level ==
			    *(const int *)(const void *)p)
				snprintf(buf, size, "%s",
					 cfg_log_levels[i].name);
		break;
	case CFG_T_STATUS:
		cfg_status_fmt((const struct cfg_status_set *)(const void *)p,
			       buf, size);
		break;
	case CFG_T_DNS:
	case CFG_T_WORD:
		snprintf(buf, size, "%s", p);
		break;
	case CFG_T_KEYSRC:
		snprintf(buf, size, "%s",
			 *(const int *)(const void *)p == CFG_KEY_MAP ? "map"
								      : "none");
		break;
	case CFG_T_TEXT:
		snprintf(buf, size, "%s", p);
		break;
	case CFG_T_AUTH_KIND:
		i = (size_t) * (const enum cfg_auth_kind *)(const void *)p;
		if (i < sizeof(cfg_auth_kinds) / sizeof(cfg_auth_kinds[0]))
			snprintf(buf, size, "%s", cfg_auth_kinds[i]);
		break;
	default:
		break;
	}
	return buf;
}

void cfg_block_defaults(enum cfg_block b, void *base)
{
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(cfg_fields) / sizeof(cfg_fields[0]); i++) {
		const struct cfg_field *f = &cfg_fields[i];

		/* the table's own defaults parse: test_cfg_schema checks */
		if (f->block == b && f->def && f->off != CFG_OFF_NONE)
			cfg_value_set(f, f->def, base, err, sizeof(err));
	}
}

/* ---------------------------------------------------------------- */
/* the walker                                                        */

#define CFG_WALK_PATH_MAX  192
#define CFG_WALK_VALUE_MAX (CFG_STATE_MAX + 16)

/* State of one cfg_schema_walk(). */
struct cfg_walker {
	cfg_visit_fn fn;
	void *arg;
	const struct cfg *cfg;
	bool control; /* walking a control socket (mode, level apply) */
	unsigned depth;
	size_t plen; /* strlen(path) */
	char path[CFG_WALK_PATH_MAX];
};

/* Appends ".key" (or "key" at the top) or "[i]" to the path; returns the
 * length to restore.
 */
static size_t cfg_walk_push(struct cfg_walker *w, const char *key, long idx)
{
	size_t old = w->plen;
	int r;

	if (key)
		r = snprintf(w->path + w->plen, sizeof(w->path) - w->plen,
			     "%s%s", w->plen ? "." : "", key);
	else
		r = snprintf(w->path + w->plen, sizeof(w->path) - w->plen,
			     "[%ld]", idx);
	if (r > 0 && (size_t)r < sizeof(w->path) - w->plen)
		w->plen += (size_t)r;
	return old;
}

static void cfg_walk_pop(struct cfg_walker *w, size_t old)
{
	w->plen = old;
	w->path[old] = '\0';
}

static void cfg_walk_emit(struct cfg_walker *w, enum cfg_walk_event ev,
			  const char *key, const struct cfg_field *f,
			  const char *value, bool is_default)
{
	struct cfg_walk_item it = {
		.event = ev,
		.depth = w->depth,
		.path = w->path,
		.key = key,
		.field = f,
		.type = f ? f->type : CFG_T_MAP,
		.value = value,
		.is_default = is_default,
	};

	w->fn(w->arg, &it);
}

/* Reports scalar field <f> whose value is <value>. */
static void cfg_walk_value(struct cfg_walker *w, const struct cfg_field *f,
			   const char *value, bool is_default)
{
	size_t old = cfg_walk_push(w, f->key, 0);

	cfg_walk_emit(w, CFG_WALK_VALUE, f->key, f, value, is_default);
	cfg_walk_pop(w, old);
}

/* Reports plain field <f> of the struct at <base>, compared with its
 * default.
 */
static void cfg_walk_plain(struct cfg_walker *w, const struct cfg_field *f,
			   const void *base)
{
	union {
		struct cfg c; /* root-level keys (metrics_allow_remote) */
		struct cfg_agent a;
		struct cfg_haproxy h;
		struct cfg_fleet fl;
		struct cfg_breaker b;
		struct cfg_headroom r;
		struct cfg_member m;
		struct cfg_upstream up;
		struct cfg_auth u;
	} scratch;
	char v[CFG_WALK_VALUE_MAX], d[CFG_WALK_VALUE_MAX], err[128];
	bool is_def = false;

	cfg_value_fmt(f, base, v, sizeof(v));
	if (!v[0] && (f->type == CFG_T_DNS || f->type == CFG_T_WORD))
		return; /* a string not given */
	/* a derived default (max_trip_duration) depends on other keys: its
	 * value is never reported as the default, so leaving the defaults
	 * out of a rendering keeps it
	 */
	if (f->def && !f->doc_def) {
		memset(&scratch, 0, sizeof(scratch));
		if (cfg_value_set(f, f->def, &scratch, err, sizeof(err)) == 0)
			is_def =
				strcmp(cfg_value_fmt(f, &scratch, d, sizeof(d)),
				       v) == 0;
	}
	cfg_walk_value(w, f, v, is_def);
}

const char *cfg_listener_str(const struct cfg_listener *l, char *buf,
			     size_t size)
{
	if (l->kind == CFG_ADDR_UNIX)
		snprintf(buf, size, "unix://%s", l->path);
	else if (strchr(l->host, ':'))
		snprintf(buf, size, "tcp://[%s]:%u", l->host, l->port);
	else
		snprintf(buf, size, "tcp://%s:%u", l->host, l->port);
	return buf;
}

static void cfg_walk_block(struct cfg_walker *w, enum cfg_block b,
			   const void *base);

/* Reports the mapping of key <f> (or a list item when <f> is NULL) over
 * block <b> at <base>.
 */
static void cfg_walk_map(struct cfg_walker *w, const struct cfg_field *f,
			 long idx, enum cfg_block b, const void *base)
{
	const char *key = f ? f->key : NULL;
	size_t old = cfg_walk_push(w, key, idx);

	cfg_walk_emit(w, CFG_WALK_MAP_BEGIN, key, f, NULL, false);
	w->depth++;
	cfg_walk_block(w, b, base);
	w->depth--;
	cfg_walk_emit(w, CFG_WALK_MAP_END, key, f, NULL, false);
	cfg_walk_pop(w, old);
}

/* Reports list <f> of <n> items of <size> bytes at <items>, each a
 * mapping of block f->child.
 */
static void cfg_walk_seq(struct cfg_walker *w, const struct cfg_field *f,
			 const void *items, uint32_t n, size_t size)
{
	size_t old = cfg_walk_push(w, f->key, 0);
	uint32_t i;

	cfg_walk_emit(w, CFG_WALK_SEQ_BEGIN, f->key, f, NULL, false);
	w->depth++;
	for (i = 0; i < n; i++)
		cfg_walk_map(w, NULL, (long)i, f->child,
			     (const char *)items + (size_t)i * size);
	w->depth--;
	cfg_walk_emit(w, CFG_WALK_SEQ_END, f->key, f, NULL, false);
	cfg_walk_pop(w, old);
}

/* The top-level keys: where each lives in struct cfg. */
static void cfg_walk_root(struct cfg_walker *w, const struct cfg_field *f)
{
	const struct cfg *cfg = w->cfg;
	char v[CFG_WALK_VALUE_MAX];

	if (!strcmp(f->key, "agent")) {
		cfg_walk_map(w, f, 0, f->child, &cfg->agent);
	} else if (!strcmp(f->key, "listen")) {
		cfg_walk_seq(w, f, cfg->listen, cfg->n_listen,
			     sizeof(cfg->listen[0]));
	} else if (!strcmp(f->key, "control") && cfg->n_control) {
		w->control = true;
		cfg_walk_seq(w, f, cfg->control, cfg->n_control,
			     sizeof(cfg->control[0]));
		w->control = false;
	} else if (!strcmp(f->key, "metrics") && cfg->has_metrics) {
		cfg_walk_value(w, f,
			       cfg_listener_str(&cfg->metrics, v, sizeof(v)),
			       false);
	} else if (!strcmp(f->key, "haproxy") && cfg->haproxy.enabled) {
		cfg_walk_map(w, f, 0, f->child, &cfg->haproxy);
	} else if (!strcmp(f->key, "fleet") && cfg->fleet.enabled) {
		cfg_walk_map(w, f, 0, f->child, &cfg->fleet);
	} else if (!strcmp(f->key, "backends")) {
		cfg_walk_seq(w, f, cfg->backends, cfg->n_backends,
			     sizeof(cfg->backends[0]));
	} else if (!strcmp(f->key, "pools")) {
		cfg_walk_seq(w, f, cfg->pools, cfg->n_pools,
			     sizeof(cfg->pools[0]));
	} else if (!strcmp(f->key, "state_file") && cfg->state_file[0]) {
		cfg_walk_value(w, f, cfg->state_file, false);
	}
	/* defaults: merged into every backend at load */
}

/* A listen or control socket <l>: mode for unix ones, level for control. */
static void cfg_walk_socket(struct cfg_walker *w, const struct cfg_field *f,
			    const struct cfg_listener *l)
{
	char v[CFG_WALK_VALUE_MAX];

	if (!strcmp(f->key, "address")) {
		cfg_walk_value(w, f, cfg_listener_str(l, v, sizeof(v)), false);
	} else if (!strcmp(f->key, "mode") && l->kind == CFG_ADDR_UNIX) {
		snprintf(v, sizeof(v), "0%o", (unsigned)l->mode);
		cfg_walk_value(w, f, v,
			       l->mode == (w->control ? 0600u : 0660u));
	} else if (!strcmp(f->key, "level") && w->control &&
		   (unsigned)l->level < 3) {
		cfg_walk_value(w, f, cfg_level_str(l->level),
			       l->level == CFG_LEVEL_ADMIN);
	}
}

/* The keys the schema cannot set alone, below the top level: names,
 * addresses, nested blocks.
 */
static void cfg_walk_special(struct cfg_walker *w, const struct cfg_field *f,
			     const void *base)
{
	const struct cfg_backend *bk = base;
	const struct cfg_member *m = base;
	const struct cfg_pool *p = base;
	const struct cfg *cfg = w->cfg;
	char v[CFG_WALK_VALUE_MAX];

	if (f->block == CFG_BLK_ROOT)
		cfg_walk_root(w, f);
	else if (f->block == CFG_BLK_SOCKET)
		cfg_walk_socket(w, f, base);
	else if (f->block == CFG_BLK_HAPROXY && !strcmp(f->key, "backend"))
		cfg_walk_value(w, f, cfg->haproxy.backend, false);
	else if (f->block == CFG_BLK_HAPROXY)
		cfg_walk_value(w, f,
			       cfg_listener_str(&cfg->haproxy.stats_socket, v,
						sizeof(v)),
			       false);
	else if (f->block == CFG_BLK_FLEET && !strcmp(f->key, "table"))
		cfg_walk_value(w, f, cfg->fleet.table, false);
	else if (f->block == CFG_BLK_FLEET)
		cfg_walk_value(w, f, cfg->fleet.node, false);
	else if (f->block == CFG_BLK_BREAKER) /* failure: same struct */
		cfg_walk_map(w, f, 0, f->child, base);
	else if (f->block == CFG_BLK_BACKEND && !strcmp(f->key, "name"))
		cfg_walk_value(w, f, bk->name, false);
	else if (f->block == CFG_BLK_BACKEND && f->child == CFG_BLK_UPSTREAM) {
		if (bk->upstream.mark.line) /* given in the file */
			cfg_walk_map(w, f, 0, f->child, &bk->upstream);
	} else if (f->block == CFG_BLK_BACKEND && f->child == CFG_BLK_AUTH) {
		/* a keyed backend has nothing to say here */
		if (bk->auth.kind != CFG_AUTH_NONE)
			cfg_walk_map(w, f, 0, f->child, &bk->auth);
	} else if (f->block == CFG_BLK_BACKEND)
		cfg_walk_map(w, f, 0, f->child,
			     f->child == CFG_BLK_BREAKER
				     ? (const void *)&bk->breaker
				     : (const void *)&bk->headroom);
	else if (f->block == CFG_BLK_POOL && !strcmp(f->key, "name"))
		cfg_walk_value(w, f, p->name, false);
	else if (f->block == CFG_BLK_POOL)
		cfg_walk_seq(w, f, p->members, p->n_members,
			     sizeof(p->members[0]));
	else if (f->block == CFG_BLK_MEMBER && m->backend < cfg->n_backends)
		cfg_walk_value(w, f, cfg->backends[m->backend].name, false);
}

static void cfg_walk_block(struct cfg_walker *w, enum cfg_block b,
			   const void *base)
{
	const struct cfg_field *fields[CFG_BLOCK_KEYS_MAX];
	size_t i, n = cfg_block_fields(b, fields);

	for (i = 0; i < n; i++) {
		if (fields[i]->off != CFG_OFF_NONE)
			cfg_walk_plain(w, fields[i], base);
		else
			cfg_walk_special(w, fields[i], base);
	}
}

void cfg_schema_walk(const struct cfg *cfg, cfg_visit_fn fn, void *arg)
{
	struct cfg_walker w;

	memset(&w, 0, sizeof(w));
	w.fn = fn;
	w.arg = arg;
	w.cfg = cfg;
	cfg_walk_block(&w, CFG_BLK_ROOT, cfg);
}

/* Configuration loading: YAML (libyaml document API) into struct cfg. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "cfg.h"
#include "text.h"
#include "yconf.h"

/*
 * Defaults and accepted ranges. Everything the file may leave out, with the
 * value it gets; haproxy-conf/aoai-spoa.yaml documents the same list.
 *
 *   agent.max_connections        4096    1..65536
 *   agent.max_frame_size         16380   256..1048576 (SPOE.txt §3.2.5)
 *   agent.max_inflight           256     1..65536 (frames per wake-up)
 *   agent.hello_timeout          5s      100ms..5m
 *   agent.idle_timeout           60s     1s..24h
 *   agent.shutdown_timeout       5s      0s..10m
 *   agent.log_level              info    err|warning|notice|info|debug
 *   listen[].mode                0660    octal, at most 0777 (unix only)
 *   control[].mode               0600
 *   control[].level              admin   user|operator|admin
 *   haproxy.poll_interval        2s      100ms..1h
 *   haproxy.mirror               false
 *   state_file                   none    absolute path of a file, at most
 *                                        255 bytes (CFG_STATE_MAX - 1);
 *                                        not ending in /, ".", ".."
 *
 *   circuit_breaker.failure.count             5      0..1000000, 0 = off
 *   circuit_breaker.failure.interval          10s    1s..1h
 *   circuit_breaker.failure.status_codes      408, 500-599 (a given list
 *                                            replaces it, no merge)
 *   circuit_breaker.failure.percentage        off    0..100, 0 = off
 *   circuit_breaker.failure.minimum_requests  10     1..1000000, needs
 *                                                    percentage
 *   circuit_breaker.failure.consecutive       off    0..1000000, 0 = off
 *   circuit_breaker.failure.slow_call         off    0s..1h, 0s = off
 *   circuit_breaker.trip_duration             30s    1s..24h
 *   circuit_breaker.max_trip_duration         10 x trip_duration, capped at
 *                                            1h but never below
 *                                            trip_duration; given: it must
 *                                            be >= trip_duration, <= 24h
 *   circuit_breaker.accept_retry_after        true
 *   circuit_breaker.max_retry_after           60s    1s..24h
 *   circuit_breaker.throttle_status_codes     429
 *   circuit_breaker.probe_requests            1      1..16
 *   circuit_breaker.probe_timeout             30s    1s..10m
 *
 *   headroom.min_remaining_requests  0 (off)  0..10^12
 *   headroom.min_remaining_tokens    0 (off)  0..10^12
 *   headroom.min_weight_percent      10       1..100
 *   headroom.max_age                 10s      1s..1h
 *
 *   pools[].members[].priority  1   1..CFG_PRIORITY_MAX
 *   pools[].members[].weight    1   0..CFG_WEIGHT_MAX (0 = drained)
 *
 * A status listed both as a failure and as a throttle is a throttle: it is
 * removed from failure_status, so the two sets never overlap.
 */

#define CFG_FILE_MAX   (1024 * 1024)	/* bytes of YAML accepted */
#define CFG_COUNT_MAX  1000000		/* failure counters */
#define CFG_REMAIN_MAX 1000000000000ULL /* headroom thresholds */

#define CFG_MS_SEC  1000U
#define CFG_MS_MIN  (60U * CFG_MS_SEC)
#define CFG_MS_HOUR (60U * CFG_MS_MIN)
#define CFG_MS_DAY  (24U * CFG_MS_HOUR)

#define CFG_NKEYS(a) (sizeof(a) / sizeof((a)[0]))

/* State of one parse: the YAML document and the struct being filled. */
struct cfg_ctx {
	struct yconf y;	 /* the document and the errors found so far */
	struct cfg *cfg; /* being filled */
};

static void cfg_err_mark(struct cfg_ctx *ctx, struct cfg_mark m,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records an error at 1-based position <m> (a mark kept in the cfg). */
static void cfg_err_mark(struct cfg_ctx *ctx, struct cfg_mark m,
			 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	yconf_verr(&ctx->y, m.line, m.col, fmt, ap);
	va_end(ap);
}

/* Where node <n> starts, 1-based, as kept in the cfg. */
static struct cfg_mark cfg_mark_node(const yaml_node_t *n)
{
	struct yconf_mark m = yconf_mark_of(n->start_mark);

	return (struct cfg_mark){m.line, m.col};
}

/* Nodes that set breaker fields which are checked against each other, so
 * an inconsistency is reported where it was written.
 */
struct cfg_bsrc {
	yaml_node_t *trip;     /* trip_duration */
	yaml_node_t *max_trip; /* max_trip_duration */
	yaml_node_t *pct;      /* failure.percentage */
	yaml_node_t *min_req;  /* failure.minimum_requests */
};

/* Parses decimal integer <n> within <min>..<max>. Returns 0 or -1
 * (reported).
 */
static int cfg_u64(struct cfg_ctx *ctx, const yaml_node_t *n, const char *what,
		   uint64_t min, uint64_t max, uint64_t *out)
{
	const char *s = yconf_scalar(&ctx->y, n, what);
	uint64_t v;

	if (!s)
		return -1;
	if (text_parse_u64z(s, max, &v) < 0 || v < min) {
		yconf_bad(&ctx->y, n,
			  "%s: expected an integer %" PRIu64 "..%" PRIu64, what,
			  min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* Sets *<out> from key <k> when present: an integer in <min>..<max>. */
static void cfg_get_u32(struct cfg_ctx *ctx, const struct yconf_key *k,
			uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;

	if (k->val && cfg_u64(ctx, k->val, k->name, min, max, &v) == 0)
		*out = (uint32_t)v;
}

/* Same as cfg_get_u32() for a 64-bit field. */
static void cfg_get_u64(struct cfg_ctx *ctx, const struct yconf_key *k,
			uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (k->val && cfg_u64(ctx, k->val, k->name, min, max, &v) == 0)
		*out = v;
}

/* Parses duration <n> ("500ms", "10s", "1m", "1h") within <min>..<max>
 * milliseconds. Returns 0 or -1 (reported).
 */
static int cfg_ms(struct cfg_ctx *ctx, const yaml_node_t *n, const char *what,
		  uint32_t min, uint32_t max, uint32_t *out)
{
	char lo[TEXT_DURATION_LEN], hi[TEXT_DURATION_LEN];
	const char *s = yconf_scalar(&ctx->y, n, what);
	uint64_t v = 0;
	int rc;

	if (!s)
		return -1;
	rc = text_parse_durationz(s, 0, max, &v);
	if (rc == TEXT_ENOUNIT) {
		yconf_bad(&ctx->y, n,
			  "%s: duration needs a unit: ms, s, m or h", what);
		return -1;
	}
	if (rc == TEXT_EINVAL) {
		yconf_bad(
			&ctx->y, n,
			"%s: expected a duration: an integer and a unit ms, s, "
			"m or h (500ms, 10s, 1m, 1h)",
			what);
		return -1;
	}
	if (rc < 0 || v < min) {
		yconf_bad(&ctx->y, n, "%s: expected a duration %s..%s", what,
			  text_fmt_duration(lo, sizeof(lo), min),
			  text_fmt_duration(hi, sizeof(hi), max));
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

/* Sets *<out> from key <k> when present: a duration in <min>..<max> ms. */
static void cfg_get_ms(struct cfg_ctx *ctx, const struct yconf_key *k,
		       uint32_t min, uint32_t max, uint32_t *out)
{
	uint32_t v;

	if (k->val && cfg_ms(ctx, k->val, k->name, min, max, &v) == 0)
		*out = v;
}

/* Sets *<out> from key <k> when present: true or false. */
static void cfg_get_bool(struct cfg_ctx *ctx, const struct yconf_key *k,
			 bool *out)
{
	const char *s;

	if (!k->val || !(s = yconf_scalar(&ctx->y, k->val, k->name)))
		return;
	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else
		yconf_bad(&ctx->y, k->val, "%s: expected true or false",
			  k->name);
}

/* Copies name <n> into <out> (CFG_NAME_MAX bytes): 1..CFG_NAME_MAX-1
 * characters among A-Z a-z 0-9 _ . : - as HAProxy accepts in server names.
 * Returns 0 or -1 (reported).
 */
static int cfg_name(struct cfg_ctx *ctx, const yaml_node_t *n, const char *what,
		    char *out)
{
	const char *s = yconf_scalar(&ctx->y, n, what);
	size_t i, len;

	if (!s)
		return -1;
	len = strlen(s);
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '.' || s[i] == ':' || s[i] == '-'))
			break;
	if (len == 0 || len >= CFG_NAME_MAX || i < len) {
		yconf_bad(&ctx->y, n,
			  "%s: expected 1..%d characters among A-Z a-z 0-9 _ . "
			  ": -",
			  what, CFG_NAME_MAX - 1);
		return -1;
	}
	memcpy(out, s, len + 1);
	return 0;
}

/* Adds status item <n> to <set>: a code or a range "A-B", within
 * CFG_STATUS_MIN..CFG_STATUS_MAX. Returns 0 or -1 (reported).
 */
static int cfg_status_item(struct cfg_ctx *ctx, const yaml_node_t *n,
			   const char *what, struct cfg_status_set *set)
{
	const char *s = yconf_scalar(&ctx->y, n, what), *dash;
	uint64_t lo, hi, c;
	bool ok;

	if (!s)
		return -1;
	dash = strchr(s, '-');
	if (!dash) {
		ok = text_parse_u64z(s, CFG_STATUS_MAX, &lo) == TEXT_OK;
		hi = lo;
	} else {
		ok = text_parse_u64(s, (size_t)(dash - s), CFG_STATUS_MAX,
				    &lo) == TEXT_OK &&
		     text_parse_u64z(dash + 1, CFG_STATUS_MAX, &hi) == TEXT_OK;
	}
	if (!ok || lo < CFG_STATUS_MIN || lo > CFG_STATUS_MAX ||
	    hi < CFG_STATUS_MIN || hi > CFG_STATUS_MAX) {
		yconf_bad(
			&ctx->y, n,
			"%s: expected a status code %d..%d or a range such as "
			"500-599",
			what, CFG_STATUS_MIN, CFG_STATUS_MAX);
		return -1;
	}
	if (lo > hi) {
		yconf_bad(&ctx->y, n,
			  "%s: reversed range, write %" PRIu64 "-%" PRIu64,
			  what, hi, lo);
		return -1;
	}
	for (c = lo; c <= hi; c++)
		cfg_status_add(set, (int)c);
	return 0;
}

/* Replaces *<set> with the list of key <k> when present. */
static void cfg_get_status(struct cfg_ctx *ctx, const struct yconf_key *k,
			   struct cfg_status_set *set)
{
	yaml_node_item_t *items;
	yaml_node_t *item;
	int i, n;

	if (!k->val)
		return;
	n = yconf_seq(&ctx->y, k->val, k->name, &items);
	if (n < 0)
		return;
	memset(set, 0, sizeof(*set));
	for (i = 0; i < n; i++) {
		item = yconf_node(&ctx->y, items[i]);
		if (item)
			cfg_status_item(ctx, item, k->name, set);
	}
}

/* True when TCP listener <l> is on 127.0.0.0/8 or ::1. */
static bool cfg_is_loopback(const struct cfg_listener *l)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (l->kind != CFG_ADDR_TCP)
		return false;
	if (inet_pton(AF_INET, l->host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, l->host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* Parses address <n>, "tcp://HOST:PORT" (HOST a numeric IPv4 address or a
 * bracketed IPv6 one) or "unix:///PATH", into the kind, host, port, path and
 * mark of <l>. Returns 0 or -1 (reported).
 */
static int cfg_addr(struct cfg_ctx *ctx, const yaml_node_t *n, const char *what,
		    struct cfg_listener *l)
{
	const char *s = yconf_scalar(&ctx->y, n, what), *h, *port, *end;
	char host[CFG_HOST_MAX];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t hlen;
	uint64_t v;
	int family;

	if (!s)
		return -1;
	l->mark = cfg_mark_node(n);
	if (strncmp(s, "unix://", 7) == 0) {
		h = s + 7;
		hlen = strlen(h);
		if (h[0] != '/') {
			yconf_bad(&ctx->y, n,
				  "%s: expected an absolute path: "
				  "unix:///PATH",
				  what);
			return -1;
		}
		if (hlen >= CFG_PATH_MAX) {
			yconf_err(
				&ctx->y, n,
				"%s: unix socket path too long: %zu bytes, at "
				"most %d",
				what, hlen, CFG_PATH_MAX - 1);
			return -1;
		}
		l->kind = CFG_ADDR_UNIX;
		memcpy(l->path, h, hlen + 1);
		return 0;
	}
	if (strncmp(s, "tcp://", 6) != 0) {
		yconf_bad(&ctx->y, n,
			  "%s: expected tcp://HOST:PORT or unix:///PATH", what);
		return -1;
	}
	h = s + 6;
	if (h[0] == '[') {
		end = strchr(h, ']');
		if (!end || end[1] != ':') {
			yconf_bad(&ctx->y, n, "%s: expected tcp://[IPV6]:PORT",
				  what);
			return -1;
		}
		h++;
		hlen = (size_t)(end - h);
		port = end + 2;
		family = AF_INET6;
	} else {
		end = strrchr(h, ':');
		if (!end) {
			yconf_bad(&ctx->y, n, "%s: expected tcp://HOST:PORT",
				  what);
			return -1;
		}
		hlen = (size_t)(end - h);
		if (memchr(h, ':', hlen)) {
			yconf_bad(&ctx->y, n,
				  "%s: an IPv6 address needs brackets: "
				  "tcp://[ADDR]:PORT",
				  what);
			return -1;
		}
		port = end + 1;
		family = AF_INET;
	}
	if (hlen >= sizeof(host)) {
		yconf_bad(&ctx->y, n, "%s: host too long", what);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(family, host, bin) != 1) {
		yconf_bad(&ctx->y, n,
			  "%s: host must be a numeric IPv4 address or a "
			  "bracketed IPv6 address",
			  what);
		return -1;
	}
	if (text_parse_u64z(port, 65535, &v) < 0 || v < 1) {
		yconf_bad(&ctx->y, n, "%s: port must be 1..65535", what);
		return -1;
	}
	l->kind = CFG_ADDR_TCP;
	memcpy(l->host, host, hlen + 1);
	l->port = (uint16_t)v;
	return 0;
}

/* Parses file mode <n>: octal digits, optionally after "0o", at most 0777.
 * Returns 0 or -1 (reported).
 */
static int cfg_mode(struct cfg_ctx *ctx, const yaml_node_t *n, const char *what,
		    uint32_t *out)
{
	const char *s = yconf_scalar(&ctx->y, n, what);
	uint32_t v = 0;
	size_t i;

	if (!s)
		return -1;
	if (s[0] == '0' && s[1] == 'o')
		s += 2;
	for (i = 0; s[i] >= '0' && s[i] <= '7' && v <= 0777; i++)
		v = v * 8 + (uint32_t)(s[i] - '0');
	if (i == 0 || s[i] != '\0' || v > 0777) {
		yconf_bad(&ctx->y, n,
			  "%s: mode: expected an octal file mode such as 0660, "
			  "at most 0777",
			  what);
		return -1;
	}
	*out = v;
	return 0;
}

/* Parses socket <n> into <l>: an address, or a mapping {address, mode} and,
 * for a control socket, level. Returns 0 or -1 (reported).
 */
static int cfg_socket(struct cfg_ctx *ctx, yaml_node_t *n, const char *what,
		      bool control, struct cfg_listener *l)
{
	enum { K_ADDRESS, K_MODE, K_LEVEL };
	struct yconf_key keys[] = {
		[K_ADDRESS] = {.name = "address", .required = true},
		[K_MODE] = {.name = "mode"},
		[K_LEVEL] = {.name = "level"},
	};
	const char *s;
	int rc = 0;

	memset(l, 0, sizeof(*l));
	l->mode = control ? 0600 : 0660;
	l->level = CFG_LEVEL_ADMIN;
	if (n->type == YAML_SCALAR_NODE)
		return cfg_addr(ctx, n, what, l);
	if (n->type != YAML_MAPPING_NODE) {
		yconf_err(&ctx->y, n, "%s: expected an address or a mapping",
			  what);
		return -1;
	}
	if (yconf_map(&ctx->y, n, what, keys, control ? 3 : 2) < 0)
		return -1;
	if (!keys[K_ADDRESS].val ||
	    cfg_addr(ctx, keys[K_ADDRESS].val, what, l) < 0)
		rc = -1;
	if (keys[K_MODE].val) {
		if (cfg_mode(ctx, keys[K_MODE].val, what, &l->mode) < 0) {
			rc = -1;
		} else if (rc == 0 && l->kind != CFG_ADDR_UNIX) {
			yconf_err(&ctx->y, keys[K_MODE].key,
				  "%s: mode applies to unix sockets only",
				  what);
			rc = -1;
		}
	}
	if (control && keys[K_LEVEL].val) {
		s = yconf_scalar(&ctx->y, keys[K_LEVEL].val, "level");
		if (!s)
			rc = -1;
		else if (strcmp(s, "user") == 0)
			l->level = CFG_LEVEL_USER;
		else if (strcmp(s, "operator") == 0)
			l->level = CFG_LEVEL_OPERATOR;
		else if (strcmp(s, "admin") == 0)
			l->level = CFG_LEVEL_ADMIN;
		else {
			yconf_bad(&ctx->y, keys[K_LEVEL].val,
				  "%s: level: expected user, operator or admin",
				  what);
			rc = -1;
		}
	}
	return rc;
}

/* Parses the "listen" list. */
static void cfg_parse_listen(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct cfg *cfg = ctx->cfg;
	yaml_node_item_t *items;
	yaml_node_t *item;
	int i, count;

	count = yconf_seq(&ctx->y, n, "listen", &items);
	if (count < 0)
		return;
	if (count == 0) {
		yconf_err(&ctx->y, n,
			  "listen: at least one address is required");
		return;
	}
	for (i = 0; i < count; i++) {
		item = yconf_node(&ctx->y, items[i]);
		if (!item)
			continue;
		if (i >= CFG_LISTEN_MAX) {
			yconf_err(&ctx->y, item,
				  "listen: too many addresses, at most %d",
				  CFG_LISTEN_MAX);
			break;
		}
		if (cfg_socket(ctx, item, "listen", false,
			       &cfg->listen[cfg->n_listen]) == 0)
			cfg->n_listen++;
	}
}

/* Parses one control socket <n> and appends it. */
static void cfg_control_one(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct cfg *cfg = ctx->cfg;
	struct cfg_listener *l = &cfg->control[cfg->n_control];
	int rc;

	rc = cfg_socket(ctx, n, "control", true, l);

	/* host[0]: the address itself parsed, whatever else went wrong */
	if (l->kind == CFG_ADDR_TCP && l->host[0] && !cfg_is_loopback(l)) {
		cfg_err_mark(ctx, l->mark,
			     "control: a TCP control socket must be on a "
			     "loopback address (127.0.0.0/8 or [::1])");
		return;
	}
	if (rc == 0)
		cfg->n_control++;
}

/* Parses "control": one socket or a list of them; null means none. */
static void cfg_parse_control(struct cfg_ctx *ctx, yaml_node_t *n)
{
	yaml_node_item_t *items;
	yaml_node_t *item;
	int i, count;

	if (yconf_is_null(n))
		return;
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_control_one(ctx, n);
		return;
	}
	count = yconf_seq(&ctx->y, n, "control", &items);
	for (i = 0; i < count; i++) {
		item = yconf_node(&ctx->y, items[i]);
		if (!item)
			continue;
		if (i >= CFG_CONTROL_MAX) {
			yconf_err(&ctx->y, item,
				  "control: too many sockets, at most %d",
				  CFG_CONTROL_MAX);
			break;
		}
		cfg_control_one(ctx, item);
	}
}

/* Parses "metrics": a TCP address on loopback; null means none. */
static void cfg_parse_metrics(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct cfg *cfg = ctx->cfg;

	if (yconf_is_null(n))
		return;
	if (cfg_addr(ctx, n, "metrics", &cfg->metrics) < 0)
		return;
	if (!cfg_is_loopback(&cfg->metrics)) {
		yconf_bad(&ctx->y, n,
			  "metrics: expected tcp://HOST:PORT on a loopback "
			  "address (127.0.0.0/8 or [::1])");
		return;
	}
	cfg->has_metrics = true;
}

/* True when listeners <a> and <b> would bind the same socket. */
static bool cfg_same_addr(const struct cfg_listener *a,
			  const struct cfg_listener *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == CFG_ADDR_UNIX)
		return strcmp(a->path, b->path) == 0;
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Reports every listening address used twice (listen, control, metrics). */
static void cfg_check_addrs(struct cfg_ctx *ctx)
{
	const struct cfg_listener *all[CFG_LISTEN_MAX + CFG_CONTROL_MAX + 1];
	struct cfg *cfg = ctx->cfg;
	size_t i, j, n = 0;

	for (i = 0; i < cfg->n_listen; i++)
		all[n++] = &cfg->listen[i];
	for (i = 0; i < cfg->n_control; i++)
		all[n++] = &cfg->control[i];
	if (cfg->has_metrics)
		all[n++] = &cfg->metrics;
	for (i = 1; i < n; i++)
		for (j = 0; j < i; j++)
			if (cfg_same_addr(all[i], all[j])) {
				cfg_err_mark(ctx, all[i]->mark,
					     "address already used at %" PRIu32
					     ":%" PRIu32,
					     all[j]->mark.line,
					     all[j]->mark.col);
				break;
			}
}

/* Parses the "agent" block. */
static void cfg_parse_agent(struct cfg_ctx *ctx, yaml_node_t *n)
{
	enum { K_CONN, K_FRAME, K_INFLIGHT, K_HELLO, K_IDLE, K_SHUT, K_LOG };
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{"err", LOG_ERR},	{"warning", LOG_WARNING},
		{"notice", LOG_NOTICE}, {"info", LOG_INFO},
		{"debug", LOG_DEBUG},
	};
	struct yconf_key keys[] = {
		[K_CONN] = {.name = "max_connections"},
		[K_FRAME] = {.name = "max_frame_size"},
		[K_INFLIGHT] = {.name = "max_inflight"},
		[K_HELLO] = {.name = "hello_timeout"},
		[K_IDLE] = {.name = "idle_timeout"},
		[K_SHUT] = {.name = "shutdown_timeout"},
		[K_LOG] = {.name = "log_level"},
	};
	struct cfg_agent *a = &ctx->cfg->agent;
	const char *s;
	size_t i;

	if (yconf_map(&ctx->y, n, "agent", keys, CFG_NKEYS(keys)) < 0)
		return;
	cfg_get_u32(ctx, &keys[K_CONN], 1, 65536, &a->max_connections);
	cfg_get_u32(ctx, &keys[K_FRAME], 256, 1048576, &a->max_frame_size);
	cfg_get_u32(ctx, &keys[K_INFLIGHT], 1, 65536, &a->max_inflight);
	cfg_get_ms(ctx, &keys[K_HELLO], 100, 5 * CFG_MS_MIN,
		   &a->hello_timeout_ms);
	cfg_get_ms(ctx, &keys[K_IDLE], CFG_MS_SEC, CFG_MS_DAY,
		   &a->idle_timeout_ms);
	cfg_get_ms(ctx, &keys[K_SHUT], 0, 10 * CFG_MS_MIN,
		   &a->shutdown_timeout_ms);
	if (keys[K_LOG].val &&
	    (s = yconf_scalar(&ctx->y, keys[K_LOG].val, "log_level"))) {
		for (i = 0; i < CFG_NKEYS(levels); i++)
			if (strcmp(s, levels[i].name) == 0)
				break;
		if (i < CFG_NKEYS(levels))
			a->log_level = levels[i].level;
		else
			yconf_bad(&ctx->y, keys[K_LOG].val,
				  "log_level: expected err, warning, notice, "
				  "info or debug");
	}
}

/* Parses the "haproxy" block: the runtime API link. */
static void cfg_parse_haproxy(struct cfg_ctx *ctx, yaml_node_t *n)
{
	enum { K_SOCKET, K_BACKEND, K_POLL, K_MIRROR };
	struct yconf_key keys[] = {
		[K_SOCKET] = {.name = "stats_socket", .required = true},
		[K_BACKEND] = {.name = "backend", .required = true},
		[K_POLL] = {.name = "poll_interval"},
		[K_MIRROR] = {.name = "mirror"},
	};
	struct cfg_haproxy *h = &ctx->cfg->haproxy;

	if (yconf_map(&ctx->y, n, "haproxy", keys, CFG_NKEYS(keys)) < 0)
		return;
	h->enabled = true;
	if (keys[K_SOCKET].val)
		cfg_addr(ctx, keys[K_SOCKET].val, "stats_socket",
			 &h->stats_socket);
	if (keys[K_BACKEND].val)
		cfg_name(ctx, keys[K_BACKEND].val, "backend", h->backend);
	cfg_get_ms(ctx, &keys[K_POLL], 100, CFG_MS_HOUR, &h->poll_interval_ms);
	cfg_get_bool(ctx, &keys[K_MIRROR], &h->mirror);
}

/* Applies the "failure" block <n> of a circuit breaker onto <b>. */
static void cfg_parse_failure(struct cfg_ctx *ctx, yaml_node_t *n,
			      struct cfg_breaker *b, struct cfg_bsrc *src)
{
	enum {
		K_COUNT,
		K_INTERVAL,
		K_CODES,
		K_PCT,
		K_MINREQ,
		K_CONSEC,
		K_SLOW
	};
	struct yconf_key keys[] = {
		[K_COUNT] = {.name = "count"},
		[K_INTERVAL] = {.name = "interval"},
		[K_CODES] = {.name = "status_codes"},
		[K_PCT] = {.name = "percentage"},
		[K_MINREQ] = {.name = "minimum_requests"},
		[K_CONSEC] = {.name = "consecutive"},
		[K_SLOW] = {.name = "slow_call"},
	};

	if (yconf_map(&ctx->y, n, "failure", keys, CFG_NKEYS(keys)) < 0)
		return;
	cfg_get_u32(ctx, &keys[K_COUNT], 0, CFG_COUNT_MAX, &b->failure_count);
	cfg_get_ms(ctx, &keys[K_INTERVAL], CFG_MS_SEC, CFG_MS_HOUR,
		   &b->failure_interval_ms);
	cfg_get_status(ctx, &keys[K_CODES], &b->failure_status);
	cfg_get_u32(ctx, &keys[K_PCT], 0, 100, &b->failure_percentage);
	cfg_get_u32(ctx, &keys[K_MINREQ], 1, CFG_COUNT_MAX,
		    &b->minimum_requests);
	cfg_get_u32(ctx, &keys[K_CONSEC], 0, CFG_COUNT_MAX,
		    &b->consecutive_failures);
	cfg_get_ms(ctx, &keys[K_SLOW], 0, CFG_MS_HOUR, &b->slow_call_ms);
	if (keys[K_PCT].val)
		src->pct = keys[K_PCT].val;
	if (keys[K_MINREQ].val)
		src->min_req = keys[K_MINREQ].val;
}

/* Applies the "circuit_breaker" block <n> onto <b>, noting in <src> where
 * the cross-checked fields were set.
 */
static void cfg_parse_breaker(struct cfg_ctx *ctx, yaml_node_t *n,
			      struct cfg_breaker *b, struct cfg_bsrc *src)
{
	enum {
		K_FAILURE,
		K_TRIP,
		K_MAXTRIP,
		K_ACCEPT,
		K_MAXRA,
		K_THROTTLE,
		K_PROBES,
		K_PROBE_TO,
	};
	struct yconf_key keys[] = {
		[K_FAILURE] = {.name = "failure"},
		[K_TRIP] = {.name = "trip_duration"},
		[K_MAXTRIP] = {.name = "max_trip_duration"},
		[K_ACCEPT] = {.name = "accept_retry_after"},
		[K_MAXRA] = {.name = "max_retry_after"},
		[K_THROTTLE] = {.name = "throttle_status_codes"},
		[K_PROBES] = {.name = "probe_requests"},
		[K_PROBE_TO] = {.name = "probe_timeout"},
	};

	if (yconf_map(&ctx->y, n, "circuit_breaker", keys, CFG_NKEYS(keys)) < 0)
		return;
	if (keys[K_FAILURE].val)
		cfg_parse_failure(ctx, keys[K_FAILURE].val, b, src);
	cfg_get_ms(ctx, &keys[K_TRIP], CFG_MS_SEC, CFG_MS_DAY,
		   &b->trip_duration_ms);
	cfg_get_ms(ctx, &keys[K_MAXTRIP], CFG_MS_SEC, CFG_MS_DAY,
		   &b->max_trip_duration_ms);
	cfg_get_bool(ctx, &keys[K_ACCEPT], &b->accept_retry_after);
	cfg_get_ms(ctx, &keys[K_MAXRA], CFG_MS_SEC, CFG_MS_DAY,
		   &b->max_retry_after_ms);
	cfg_get_status(ctx, &keys[K_THROTTLE], &b->throttle_status);
	/* the engine tracks at most ROUTE_PROBES_MAX (16) probes */
	cfg_get_u32(ctx, &keys[K_PROBES], 1, 16, &b->probe_requests);
	cfg_get_ms(ctx, &keys[K_PROBE_TO], CFG_MS_SEC, 10 * CFG_MS_MIN,
		   &b->probe_timeout_ms);
	if (keys[K_TRIP].val)
		src->trip = keys[K_TRIP].val;
	if (keys[K_MAXTRIP].val)
		src->max_trip = keys[K_MAXTRIP].val;
}

/* Completes breaker <b> once defaults (<inh>) and the backend's own keys
 * (<local>) are applied: derives max_trip_duration when nobody set it,
 * checks the fields that depend on each other (reported where the backend
 * set them; conflicts within the defaults are reported once, by a call with
 * the defaults as <local> and an empty <inh>), and removes throttle statuses
 * from the failure set.
 */
static void cfg_breaker_finish(struct cfg_ctx *ctx, struct cfg_breaker *b,
			       const struct cfg_bsrc *local,
			       const struct cfg_bsrc *inh)
{
	char t1[24], t2[24];
	const yaml_node_t *at;
	uint64_t max;
	size_t i;

	if (!local->max_trip && !inh->max_trip) {
		max = (uint64_t)b->trip_duration_ms * 10;
		if (max > CFG_MS_HOUR)
			max = CFG_MS_HOUR;
		if (max < b->trip_duration_ms)
			max = b->trip_duration_ms;
		b->max_trip_duration_ms = (uint32_t)max;
	} else if (b->max_trip_duration_ms < b->trip_duration_ms) {
		at = local->max_trip ? local->max_trip : local->trip;
		if (at)
			yconf_err(&ctx->y, at,
				  "max_trip_duration (%s) is shorter than "
				  "trip_duration (%s)",
				  text_fmt_duration(t1, sizeof(t1),
						    b->max_trip_duration_ms),
				  text_fmt_duration(t2, sizeof(t2),
						    b->trip_duration_ms));
	}
	/* an inherited minimum_requests is harmless once percentage is 0 */
	if (local->min_req && b->failure_percentage == 0)
		yconf_err(&ctx->y, local->min_req,
			  "minimum_requests needs failure.percentage");
	/* a status both a failure and a throttle is a throttle */
	for (i = 0; i < CFG_NKEYS(b->failure_status.bits); i++)
		b->failure_status.bits[i] &= ~b->throttle_status.bits[i];
}

/* Applies the "headroom" block <n> onto <h>. */
static void cfg_parse_headroom(struct cfg_ctx *ctx, yaml_node_t *n,
			       struct cfg_headroom *h)
{
	enum { K_REQ, K_TOK, K_PCT, K_AGE };
	struct yconf_key keys[] = {
		[K_REQ] = {.name = "min_remaining_requests"},
		[K_TOK] = {.name = "min_remaining_tokens"},
		[K_PCT] = {.name = "min_weight_percent"},
		[K_AGE] = {.name = "max_age"},
	};

	if (yconf_map(&ctx->y, n, "headroom", keys, CFG_NKEYS(keys)) < 0)
		return;
	cfg_get_u64(ctx, &keys[K_REQ], 0, CFG_REMAIN_MAX,
		    &h->min_remaining_requests);
	cfg_get_u64(ctx, &keys[K_TOK], 0, CFG_REMAIN_MAX,
		    &h->min_remaining_tokens);
	cfg_get_u32(ctx, &keys[K_PCT], 1, 100, &h->min_weight_percent);
	cfg_get_ms(ctx, &keys[K_AGE], CFG_MS_SEC, CFG_MS_HOUR, &h->max_age_ms);
}

/* Parses "defaults" into the template <tmpl> every backend starts from;
 * <src> records where the cross-checked breaker fields were set.
 */
static void cfg_parse_defaults(struct cfg_ctx *ctx, yaml_node_t *n,
			       struct cfg_backend *tmpl, struct cfg_bsrc *src)
{
	enum { K_BREAKER, K_HEADROOM };
	struct yconf_key keys[] = {
		[K_BREAKER] = {.name = "circuit_breaker"},
		[K_HEADROOM] = {.name = "headroom"},
	};
	const struct cfg_bsrc none = {0};
	struct cfg_breaker check;

	if (yconf_map(&ctx->y, n, "defaults", keys, CFG_NKEYS(keys)) < 0)
		return;
	if (keys[K_BREAKER].val)
		cfg_parse_breaker(ctx, keys[K_BREAKER].val, &tmpl->breaker,
				  src);
	if (keys[K_HEADROOM].val)
		cfg_parse_headroom(ctx, keys[K_HEADROOM].val, &tmpl->headroom);
	/* the template must stay unfinished: check a copy */
	check = tmpl->breaker;
	cfg_breaker_finish(ctx, &check, src, &none);
}

/* Parses the "backends" list; each starts from <tmpl> (set at <tsrc>). */
static void cfg_parse_backends(struct cfg_ctx *ctx, yaml_node_t *n,
			       const struct cfg_backend *tmpl,
			       const struct cfg_bsrc *tsrc)
{
	enum { K_NAME, K_BREAKER, K_HEADROOM };
	struct yconf_key keys[] = {
		[K_NAME] = {.name = "name", .required = true},
		[K_BREAKER] = {.name = "circuit_breaker"},
		[K_HEADROOM] = {.name = "headroom"},
	};
	struct cfg *cfg = ctx->cfg;
	yaml_node_item_t *items;
	struct cfg_backend *b;
	struct cfg_bsrc local;
	yaml_node_t *item;
	int i, j, count;

	count = yconf_seq_alloc(&ctx->y, n, "backends", "backend",
				CFG_BACKENDS_MAX, sizeof(*cfg->backends),
				&items, (void **)&cfg->backends);
	if (count < 0)
		return;
	for (i = 0; i < count; i++) {
		item = yconf_node(&ctx->y, items[i]);
		if (!item)
			continue;
		if (i >= CFG_BACKENDS_MAX) {
			yconf_err(&ctx->y, item,
				  "backends: too many, at most %d",
				  CFG_BACKENDS_MAX);
			break;
		}
		b = &cfg->backends[cfg->n_backends++];
		*b = *tmpl;
		b->mark = cfg_mark_node(item);
		if (yconf_map(&ctx->y, item, "backends", keys,
			      CFG_NKEYS(keys)) < 0)
			continue;
		if (keys[K_NAME].val &&
		    cfg_name(ctx, keys[K_NAME].val, "name", b->name) == 0) {
			j = cfg_backend_index(cfg, b->name);
			if (j >= 0 && b != &cfg->backends[j])
				yconf_err(&ctx->y, keys[K_NAME].val,
					  "backend '%s' already defined at "
					  "%" PRIu32 ":%" PRIu32,
					  b->name, cfg->backends[j].mark.line,
					  cfg->backends[j].mark.col);
		}
		memset(&local, 0, sizeof(local));
		if (keys[K_BREAKER].val)
			cfg_parse_breaker(ctx, keys[K_BREAKER].val, &b->breaker,
					  &local);
		if (keys[K_HEADROOM].val)
			cfg_parse_headroom(ctx, keys[K_HEADROOM].val,
					   &b->headroom);
		cfg_breaker_finish(ctx, &b->breaker, &local, tsrc);
	}
}

/* Sorts the members of <p> by priority, keeping file order within one. */
static void cfg_sort_members(struct cfg_pool *p)
{
	struct cfg_member tmp;
	uint32_t i, j;

	for (i = 1; i < p->n_members; i++) {
		tmp = p->members[i];
		for (j = i; j > 0 && p->members[j - 1].priority > tmp.priority;
		     j--)
			p->members[j] = p->members[j - 1];
		p->members[j] = tmp;
	}
}

/* Parses the "members" list <n> of pool <p>. */
static void cfg_parse_members(struct cfg_ctx *ctx, yaml_node_t *n,
			      struct cfg_pool *p)
{
	enum { K_BACKEND, K_PRIORITY, K_WEIGHT };
	struct yconf_key keys[] = {
		[K_BACKEND] = {.name = "backend", .required = true},
		[K_PRIORITY] = {.name = "priority"},
		[K_WEIGHT] = {.name = "weight"},
	};
	char v[YCONF_SHOW_MAX];
	yaml_node_item_t *items;
	struct cfg_member *m;
	yaml_node_t *item, *bn;
	unsigned n_bad = 0;
	bool weighted = false;
	const char *s;
	int i, idx, count;
	uint32_t j;

	count = yconf_seq_alloc(&ctx->y, n, "members", "member",
				CFG_MEMBERS_MAX, sizeof(*p->members), &items,
				(void **)&p->members);
	if (count < 0)
		return;
	for (i = 0; i < count; i++) {
		item = yconf_node(&ctx->y, items[i]);
		if (!item)
			continue;
		if (i >= CFG_MEMBERS_MAX) {
			yconf_err(&ctx->y, item,
				  "members: too many, at most %d",
				  CFG_MEMBERS_MAX);
			n_bad++;
			break;
		}
		m = &p->members[p->n_members];
		memset(m, 0, sizeof(*m));
		m->priority = 1;
		m->weight = 1;
		m->mark = cfg_mark_node(item);
		if (yconf_map(&ctx->y, item, "members", keys, CFG_NKEYS(keys)) <
			    0 ||
		    !(bn = keys[K_BACKEND].val) ||
		    !(s = yconf_scalar(&ctx->y, bn, "backend"))) {
			n_bad++;
			continue;
		}
		cfg_get_u32(ctx, &keys[K_PRIORITY], 1, CFG_PRIORITY_MAX,
			    &m->priority);
		cfg_get_u32(ctx, &keys[K_WEIGHT], 0, CFG_WEIGHT_MAX,
			    &m->weight);
		idx = cfg_backend_index(ctx->cfg, s);
		if (idx < 0) {
			yconf_err(&ctx->y, bn, "unknown backend '%s'",
				  yconf_show(bn, v, sizeof(v)));
			n_bad++;
			continue;
		}
		for (j = 0; j < p->n_members; j++)
			if (p->members[j].backend == (uint32_t)idx)
				break;
		if (j < p->n_members) {
			yconf_err(&ctx->y, bn,
				  "backend '%s' is already a member of this "
				  "pool at %" PRIu32 ":%" PRIu32,
				  yconf_show(bn, v, sizeof(v)),
				  p->members[j].mark.line,
				  p->members[j].mark.col);
			n_bad++;
			continue;
		}
		m->backend = (uint32_t)idx;
		if (m->weight > 0)
			weighted = true;
		p->n_members++;
	}
	if (n_bad == 0 && !weighted)
		yconf_err(&ctx->y, n,
			  "members: every member has weight 0, at least one "
			  "needs a weight above 0");
	cfg_sort_members(p);
}

/* Parses the "pools" list; backends must be parsed already. */
static void cfg_parse_pools(struct cfg_ctx *ctx, yaml_node_t *n)
{
	enum { K_NAME, K_MEMBERS };
	struct yconf_key keys[] = {
		[K_NAME] = {.name = "name", .required = true},
		[K_MEMBERS] = {.name = "members", .required = true},
	};
	struct cfg *cfg = ctx->cfg;
	yaml_node_item_t *items;
	struct cfg_pool *p;
	yaml_node_t *item;
	int i, count;
	uint32_t j;

	count = yconf_seq_alloc(&ctx->y, n, "pools", "pool", CFG_POOLS_MAX,
				sizeof(*cfg->pools), &items,
				(void **)&cfg->pools);
	if (count < 0)
		return;
	for (i = 0; i < count; i++) {
		item = yconf_node(&ctx->y, items[i]);
		if (!item)
			continue;
		if (i >= CFG_POOLS_MAX) {
			yconf_err(&ctx->y, item, "pools: too many, at most %d",
				  CFG_POOLS_MAX);
			break;
		}
		p = &cfg->pools[cfg->n_pools++];
		p->mark = cfg_mark_node(item);
		if (yconf_map(&ctx->y, item, "pools", keys, CFG_NKEYS(keys)) <
		    0)
			continue;
		if (keys[K_NAME].val &&
		    cfg_name(ctx, keys[K_NAME].val, "name", p->name) == 0) {
			for (j = 0; j + 1 < cfg->n_pools; j++)
				if (strcmp(cfg->pools[j].name, p->name) == 0)
					break;
			if (j + 1 < cfg->n_pools)
				yconf_err(&ctx->y, keys[K_NAME].val,
					  "pool '%s' already defined at "
					  "%" PRIu32 ":%" PRIu32,
					  p->name, cfg->pools[j].mark.line,
					  cfg->pools[j].mark.col);
		}
		if (keys[K_MEMBERS].val)
			cfg_parse_members(ctx, keys[K_MEMBERS].val, p);
	}
}

/* Parses "state_file": the absolute path of a file (its snapshot's
 * temporary file is written beside it, in the same directory, and renamed
 * over it); null means none.
 */
static void cfg_parse_state_file(struct cfg_ctx *ctx, yaml_node_t *n)
{
	const char *s, *base;
	size_t len;

	if (yconf_is_null(n))
		return;
	s = yconf_scalar(&ctx->y, n, "state_file");
	if (!s)
		return;
	len = strlen(s);
	if (s[0] != '/') {
		yconf_bad(&ctx->y, n, "state_file: expected an absolute path");
		return;
	}
	if (len >= CFG_STATE_MAX) {
		yconf_err(&ctx->y, n,
			  "state_file: path too long: %zu bytes, at most %d",
			  len, CFG_STATE_MAX - 1);
		return;
	}
	base = strrchr(s, '/') + 1;
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		yconf_bad(&ctx->y, n,
			  "state_file: expected a file name after the last /");
		return;
	}
	memcpy(ctx->cfg->state_file, s, len + 1);
}

/* Parses the top-level mapping <root> into ctx->cfg. */
static void cfg_parse_root(struct cfg_ctx *ctx, yaml_node_t *root)
{
	enum {
		K_AGENT,
		K_LISTEN,
		K_CONTROL,
		K_METRICS,
		K_HAPROXY,
		K_DEFAULTS,
		K_BACKENDS,
		K_POOLS,
		K_STATE_FILE,
	};
	struct yconf_key keys[] = {
		[K_AGENT] = {.name = "agent"},
		[K_LISTEN] = {.name = "listen", .required = true},
		[K_CONTROL] = {.name = "control"},
		[K_METRICS] = {.name = "metrics"},
		[K_HAPROXY] = {.name = "haproxy"},
		[K_DEFAULTS] = {.name = "defaults"},
		[K_BACKENDS] = {.name = "backends", .required = true},
		[K_POOLS] = {.name = "pools", .required = true},
		[K_STATE_FILE] = {.name = "state_file"},
	};
	struct cfg_backend tmpl;
	struct cfg_bsrc tsrc = {0};

	if (yconf_map(&ctx->y, root, "configuration", keys, CFG_NKEYS(keys)) <
	    0)
		return;
	memset(&tmpl, 0, sizeof(tmpl));
	cfg_backend_defaults(&tmpl);
	if (keys[K_AGENT].val)
		cfg_parse_agent(ctx, keys[K_AGENT].val);
	if (keys[K_LISTEN].val)
		cfg_parse_listen(ctx, keys[K_LISTEN].val);
	if (keys[K_CONTROL].val)
		cfg_parse_control(ctx, keys[K_CONTROL].val);
	if (keys[K_METRICS].val)
		cfg_parse_metrics(ctx, keys[K_METRICS].val);
	cfg_check_addrs(ctx);
	if (keys[K_HAPROXY].val)
		cfg_parse_haproxy(ctx, keys[K_HAPROXY].val);
	if (keys[K_DEFAULTS].val)
		cfg_parse_defaults(ctx, keys[K_DEFAULTS].val, &tmpl, &tsrc);
	if (keys[K_BACKENDS].val)
		cfg_parse_backends(ctx, keys[K_BACKENDS].val, &tmpl, &tsrc);
	if (keys[K_POOLS].val)
		cfg_parse_pools(ctx, keys[K_POOLS].val);
	if (keys[K_STATE_FILE].val)
		cfg_parse_state_file(ctx, keys[K_STATE_FILE].val);
}

/* Loads the document (every node keeps its mark) once the event stream
 * was found sound, and walks it into ctx->cfg.
 */
static void cfg_walk(struct cfg_ctx *ctx)
{
	yaml_node_t *root;

	if (yconf_load(&ctx->y, &root) < 0)
		return;
	if (!root || yconf_is_null(root))
		yconf_err_at(&ctx->y, (struct yconf_mark){1, 1},
			     "no backends: the configuration is empty");
	else
		cfg_parse_root(ctx, root);
	yconf_unload(&ctx->y);
}

void cfg_defaults(struct cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->agent.max_connections = 4096;
	cfg->agent.max_frame_size = 16380;
	cfg->agent.max_inflight = 256;
	cfg->agent.hello_timeout_ms = 5 * CFG_MS_SEC;
	cfg->agent.idle_timeout_ms = 60 * CFG_MS_SEC;
	cfg->agent.shutdown_timeout_ms = 5 * CFG_MS_SEC;
	cfg->agent.log_level = LOG_INFO;
	cfg->haproxy.enabled = false;
	cfg->haproxy.poll_interval_ms = 2 * CFG_MS_SEC;
	cfg->haproxy.mirror = false;
}

void cfg_backend_defaults(struct cfg_backend *b)
{
	struct cfg_breaker *br = &b->breaker;
	struct cfg_headroom *h = &b->headroom;
	int c;

	memset(br, 0, sizeof(*br));
	br->failure_count = 5;
	br->failure_interval_ms = 10 * CFG_MS_SEC;
	cfg_status_add(&br->failure_status, 408);
	for (c = 500; c <= 599; c++)
		cfg_status_add(&br->failure_status, c);
	br->failure_percentage = 0;
	br->minimum_requests = 10;
	br->consecutive_failures = 0;
	br->slow_call_ms = 0;
	br->trip_duration_ms = 30 * CFG_MS_SEC;
	br->max_trip_duration_ms = 5 * CFG_MS_MIN;
	br->accept_retry_after = true;
	br->max_retry_after_ms = 60 * CFG_MS_SEC;
	cfg_status_add(&br->throttle_status, 429);
	br->probe_requests = 1;
	br->probe_timeout_ms = 30 * CFG_MS_SEC;

	/* off: the thresholds depend on each deployment's quota */
	memset(h, 0, sizeof(*h));
	h->min_weight_percent = 10;
	h->max_age_ms = 10 * CFG_MS_SEC;
}

int cfg_backend_index(const struct cfg *cfg, const char *name)
{
	uint32_t i;

	for (i = 0; i < cfg->n_backends; i++)
		if (strcmp(cfg->backends[i].name, name) == 0)
			return (int)i;
	return -1;
}

void cfg_free(struct cfg *cfg)
{
	uint32_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_pools; i++)
		free(cfg->pools[i].members);
	free(cfg->pools);
	free(cfg->backends);
	free(cfg->file);
	free(cfg);
}

/* The document is walked only when the first pass found nothing wrong:
 * libyaml cannot go on after a syntax error, and an alias must not be
 * expanded. cfg is filled in place and dropped at the end if anything was
 * reported.
 */
struct cfg *cfg_parse(const char *name, const char *buf, size_t len,
		      cfg_error_fn err, void *arg)
{
	struct cfg_ctx *ctx;
	struct cfg *cfg;

	if (!name)
		name = "<config>";
	if (len > CFG_FILE_MAX) {
		yconf_err_file(name, err, arg,
			       "file too large: %zu bytes, at most %d", len,
			       CFG_FILE_MAX);
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		goto oom;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		goto free_ctx;
	cfg_defaults(cfg);
	cfg->file = strdup(name);
	if (!cfg->file)
		goto free_cfg;
	yconf_init(&ctx->y, name, buf, len);
	ctx->cfg = cfg;
	cfg_walk(ctx);
	yconf_report(&ctx->y, err, arg);
	if (ctx->y.n_errors) {
		cfg_free(cfg);
		cfg = NULL;
	}
	free(ctx);
	return cfg;

free_cfg:
	cfg_free(cfg);
free_ctx:
	free(ctx);
oom:
	yconf_err_file(name, err, arg, "out of memory");
	return NULL;
}

struct cfg *cfg_load(const char *path, cfg_error_fn err, void *arg)
{
	struct cfg *cfg = NULL;
	size_t len = 0;
	ssize_t r;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		yconf_err_file(path, err, arg, "cannot open: %s",
			       strerror(errno));
		return NULL;
	}
	/* one byte more than accepted, to tell "too large" from "full" */
	buf = malloc(CFG_FILE_MAX + 1);
	if (!buf) {
		yconf_err_file(path, err, arg, "out of memory");
		goto close_fd;
	}
	while (len <= CFG_FILE_MAX) {
		r = read(fd, buf + len, CFG_FILE_MAX + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			yconf_err_file(path, err, arg, "cannot read: %s",
				       strerror(errno));
			goto free_buf;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > CFG_FILE_MAX) {
		yconf_err_file(path, err, arg,
			       "file too large: more than %d bytes",
			       CFG_FILE_MAX);
		goto free_buf;
	}
	cfg = cfg_parse(path, buf, len, err, arg);
free_buf:
	free(buf);
close_fd:
	close(fd);
	return cfg;
}

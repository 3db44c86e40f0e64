/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration loading: the product's schema over the YAML layer (yconf.c)
 * into struct cfg, fully validated.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg-addr.h"
#include "cfg.h"
#include "text.h"
#include "yconf.h"

/*
 * The keys, their types, ranges and defaults are the schema's
 * (cfg-schema.c, listed in docs/config.md); this file reads the document
 * through it and checks what no single key can: names, sockets (their
 * address grammar is cfg-addr.c's) and addresses used twice, references
 * between backends and pools, fields that depend on each other. A status
 * listed both as a failure and as a throttle is a throttle: it is removed
 * from failure_status, so the two sets never overlap.
 */

#define CFG_FILE_MAX (1024 * 1024) /* bytes of YAML accepted */

#define CFG_MS_HOUR (3600U * 1000U)

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

/* Nodes that set breaker fields which are checked against each other, so
 * an inconsistency is reported where it was written.
 */
struct cfg_bsrc {
	yaml_node_t *trip;     /* trip_duration */
	yaml_node_t *max_trip; /* max_trip_duration */
	yaml_node_t *pct;      /* failure.percentage */
	yaml_node_t *min_req;  /* failure.minimum_requests */
};

/* Fills <keys> with the keys of block <b> from the schema, <f> with their
 * fields, in file order. Returns their count.
 */
static size_t cfg_keys(enum cfg_block b, struct yconf_key *keys,
		       const struct cfg_field **f)
{
	size_t i, n = cfg_block_fields(b, f);

	for (i = 0; i < n; i++) {
		memset(&keys[i], 0, sizeof(keys[i]));
		keys[i].name = f[i]->key;
		keys[i].required = f[i]->required;
	}
	return n;
}

static void cfg_get_status(struct cfg_ctx *ctx, const struct yconf_key *k,
			   struct cfg_status_set *set);

/* Sets each plain field (one the schema sets alone) whose key is present
 * in <keys> into the block's struct at <base>. Returns nothing: errors are
 * reported where the value is.
 */
static void cfg_get_plain(struct cfg_ctx *ctx, const struct yconf_key *keys,
			  const struct cfg_field **f, size_t n, void *base)
{
	char err[160];
	const char *s;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!keys[i].val || f[i]->off == CFG_OFF_NONE)
			continue;
		if (f[i]->type == CFG_T_STATUS) {
			cfg_get_status(
				ctx, &keys[i],
				(struct cfg_status_set *)(void *)((char *)base +
								  f[i]->off));
			continue;
		}
		s = yconf_scalar(&ctx->y, keys[i].val, f[i]->key);
		if (s && cfg_value_set(f[i], s, base, err, sizeof(err)) < 0)
			yconf_bad(&ctx->y, keys[i].val, "%s: %s", f[i]->key,
				  err);
	}
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

/* Parses socket <n> into <l> with the schema's keys of a socket. */
static int cfg_socket(struct cfg_ctx *ctx, yaml_node_t *n, const char *what,
		      bool control, struct cfg_listener *l)
{
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_SOCKET, keys, f);

	return cfg_socket_parse(&ctx->y, n, what, control, keys, nk, l);
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

/* Parses "metrics": a TCP address, on loopback unless
 * metrics_allow_remote (already read) says otherwise; null means none.
 */
static void cfg_parse_metrics(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct cfg *cfg = ctx->cfg;

	if (yconf_is_null(n))
		return;
	if (cfg_addr_parse(&ctx->y, n, "metrics", &cfg->metrics) < 0)
		return;
	if (cfg->metrics.kind != CFG_ADDR_TCP ||
	    (!cfg->metrics_allow_remote && !cfg_is_loopback(&cfg->metrics))) {
		yconf_bad(&ctx->y, n,
			  "metrics: expected tcp://HOST:PORT on a loopback "
			  "address (127.0.0.0/8 or [::1]); another address "
			  "needs metrics_allow_remote: true");
		return;
	}
	cfg->has_metrics = true;
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
			if (cfg_listener_same(all[i], all[j])) {
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
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_AGENT, keys, f);

	if (yconf_map(&ctx->y, n, "agent", keys, nk) < 0)
		return;
	cfg_get_plain(ctx, keys, f, nk, &ctx->cfg->agent);
}

/* Parses the "haproxy" block: the runtime API link. */
static void cfg_parse_haproxy(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_HAPROXY, keys, f);
	struct cfg_haproxy *h = &ctx->cfg->haproxy;

	if (yconf_map(&ctx->y, n, "haproxy", keys, nk) < 0)
		return;
	cfg_get_plain(ctx, keys, f, nk, h);
	h->enabled = true;
	if (yconf_key_get(keys, nk, "stats_socket")->val)
		cfg_addr_parse(&ctx->y,
			       yconf_key_get(keys, nk, "stats_socket")->val,
			       "stats_socket", &h->stats_socket);
	if (yconf_key_get(keys, nk, "backend")->val)
		cfg_name(ctx, yconf_key_get(keys, nk, "backend")->val,
			 "backend", h->backend);
}

/* Parses "fleet.peers": every node, unique names, this node among them. */
static void cfg_parse_fleet_peers(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_PEER, keys, f);
	struct cfg_fleet *fl = &ctx->cfg->fleet;
	yaml_node_item_t *items;
	yaml_node_t *item;
	bool self = false;
	int i, count = yconf_seq(&ctx->y, n, "peers", &items);
	uint32_t j;

	for (i = 0; i < count; i++) {
		struct cfg_fleet_peer *p = &fl->peers[fl->n_peers];

		item = yconf_node(&ctx->y, items[i]);
		if (!item || yconf_map(&ctx->y, item, "peers", keys, nk) < 0)
			continue;
		if (fl->n_peers >= CFG_FLEET_PEERS_MAX) {
			yconf_err(&ctx->y, item, "peers: at most %d nodes",
				  CFG_FLEET_PEERS_MAX);
			return;
		}
		if (cfg_name(ctx, yconf_key_get(keys, nk, "name")->val, "name",
			     p->name) < 0)
			continue;
		self |= !strcmp(p->name, fl->node);
		if (cfg_addr_parse(&ctx->y,
				   yconf_key_get(keys, nk, "address")->val,
				   "address", &p->addr) < 0)
			continue;
		if (p->addr.kind != CFG_ADDR_TCP) {
			yconf_bad(&ctx->y,
				  yconf_key_get(keys, nk, "address")->val,
				  "address: HAProxy's peers listen on "
				  "tcp://HOST:PORT");
			continue;
		}
		for (j = 0; j < fl->n_peers; j++)
			if (!strcmp(fl->peers[j].name, p->name))
				break;
		if (j < fl->n_peers) {
			yconf_err(&ctx->y, item, "peers: node %s twice",
				  p->name);
			continue;
		}
		fl->n_peers++;
	}
	if (count > 0 && fl->node[0] && !self)
		yconf_err(&ctx->y, n, "peers: this node (%s) is not listed",
			  fl->node);
}

/* Parses the "fleet" block: throttles shared through a peers table. */
static void cfg_parse_fleet(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_FLEET, keys, f);
	struct cfg_fleet *fl = &ctx->cfg->fleet;

	if (yconf_map(&ctx->y, n, "fleet", keys, nk) < 0)
		return;
	cfg_get_plain(ctx, keys, f, nk, fl);
	fl->enabled = true;
	if (yconf_key_get(keys, nk, "table")->val)
		cfg_name(ctx, yconf_key_get(keys, nk, "table")->val, "table",
			 fl->table);
	if (yconf_key_get(keys, nk, "node")->val)
		cfg_name(ctx, yconf_key_get(keys, nk, "node")->val, "node",
			 fl->node);
	if (yconf_key_get(keys, nk, "peers")->val)
		cfg_parse_fleet_peers(ctx,
				      yconf_key_get(keys, nk, "peers")->val);
	/* the table is read and written through the runtime API */
	if (!ctx->cfg->haproxy.enabled)
		yconf_err(&ctx->y, n,
			  "fleet: needs the haproxy: block (its stats_socket "
			  "reaches the peers table)");
}

/* Every key of the fleet table, "<backend>@<node>", must fit the table's
 * "len 64" string keys: reported at the fleet block <n>.
 */
static void cfg_check_fleet_keys(struct cfg_ctx *ctx, yaml_node_t *n)
{
	const struct cfg *cfg = ctx->cfg;
	size_t node = strlen(cfg->fleet.node), len;
	uint32_t i;

	if (!cfg->fleet.enabled)
		return;
	for (i = 0; i < cfg->n_backends; i++) {
		len = strlen(cfg->backends[i].name) + 1 + node;
		if (len > CFG_FLEET_KEY_MAX) {
			yconf_err(&ctx->y, n,
				  "fleet: key %s@%s is %zu bytes, the table's "
				  "keys hold %d: shorten node",
				  cfg->backends[i].name, cfg->fleet.node, len,
				  CFG_FLEET_KEY_MAX);
			return;
		}
	}
}

/* Applies the "failure" block <n> of a circuit breaker onto <b>. */
static void cfg_parse_failure(struct cfg_ctx *ctx, yaml_node_t *n,
			      struct cfg_breaker *b, struct cfg_bsrc *src)
{
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_FAILURE, keys, f);

	if (yconf_map(&ctx->y, n, "failure", keys, nk) < 0)
		return;
	cfg_get_plain(ctx, keys, f, nk, b);
	if (yconf_key_get(keys, nk, "percentage")->val)
		src->pct = yconf_key_get(keys, nk, "percentage")->val;
	if (yconf_key_get(keys, nk, "minimum_requests")->val)
		src->min_req = yconf_key_get(keys, nk, "minimum_requests")->val;
}

/* Applies the "circuit_breaker" block <n> onto <b>, noting in <src> where
 * the cross-checked fields were set.
 */
static void cfg_parse_breaker(struct cfg_ctx *ctx, yaml_node_t *n,
			      struct cfg_breaker *b, struct cfg_bsrc *src)
{
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_BREAKER, keys, f);

	if (yconf_map(&ctx->y, n, "circuit_breaker", keys, nk) < 0)
		return;
	cfg_get_plain(ctx, keys, f, nk, b);
	if (yconf_key_get(keys, nk, "failure")->val)
		cfg_parse_failure(ctx, yconf_key_get(keys, nk, "failure")->val,
				  b, src);
	if (yconf_key_get(keys, nk, "trip_duration")->val)
		src->trip = yconf_key_get(keys, nk, "trip_duration")->val;
	if (yconf_key_get(keys, nk, "max_trip_duration")->val)
		src->max_trip =
			yconf_key_get(keys, nk, "max_trip_duration")->val;
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
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_HEADROOM, keys, f);

	if (yconf_map(&ctx->y, n, "headroom", keys, nk) < 0)
		return;
	cfg_get_plain(ctx, keys, f, nk, h);
}

/* Applies the "upstream" block <n> onto <u>: the HAProxy side of a
 * backend, checked here, used only by haproxy-config.
 */
static void cfg_parse_upstream(struct cfg_ctx *ctx, yaml_node_t *n,
			       struct cfg_upstream *u)
{
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_UPSTREAM, keys, f);

	u->mark = cfg_mark_node(n);
	if (yconf_map(&ctx->y, n, "upstream", keys, nk) < 0)
		return;
	cfg_get_plain(ctx, keys, f, nk, u);
	/* a rename: the name clients use, and this resource's */
	if (!yconf_key_get(keys, nk, "deployment")->val !=
	    !yconf_key_get(keys, nk, "client_deployment")->val)
		yconf_err(&ctx->y, n,
			  "upstream: deployment and client_deployment go "
			  "together (clients' name -> this resource's)");
}

/* Applies the "auth" block <n> onto <a>. A block that names a kind starts
 * from scratch (a service principal's files are not inherited by a
 * managed identity); one without a kind refines the inherited credential.
 */
static void cfg_parse_auth(struct cfg_ctx *ctx, yaml_node_t *n,
			   struct cfg_auth *a)
{
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_AUTH, keys, f);

	if (yconf_map(&ctx->y, n, "auth", keys, nk) < 0)
		return;
	if (yconf_key_get(keys, nk, "kind")->val) {
		memset(a, 0, sizeof(*a));
		cfg_block_defaults(CFG_BLK_AUTH, a);
	}
	cfg_get_plain(ctx, keys, f, nk, a);
	a->mark = cfg_mark_node(n);
}

/* Checks the credential of backend <b> is complete for its kind, and that
 * every keyless backend shares one token map. Errors point at the auth
 * block that made the credential (the backend's or the defaults').
 */
static void cfg_auth_check(struct cfg_ctx *ctx, const struct cfg_backend *b)
{
	const struct cfg_auth *a = &b->auth, *first = NULL;
	struct yconf_mark m = {a->mark.line, a->mark.col};
	const char *path[] = {a->secret_file, a->certificate_file,
			      a->token_file, a->ca_file, a->token_map};
	uint32_t i;

	if (a->kind == CFG_AUTH_NONE)
		return;
	if (!ctx->cfg->haproxy.enabled)
		yconf_err_at(&ctx->y, m,
			     "backend '%s': auth needs the haproxy: block "
			     "(tokens reach HAProxy through its runtime API)",
			     b->name);
	if (a->kind == CFG_AUTH_SERVICE_PRINCIPAL &&
	    (!a->tenant[0] || !a->client_id[0]))
		yconf_err_at(&ctx->y, m,
			     "backend '%s': service-principal needs tenant "
			     "and client_id",
			     b->name);
	if (a->kind == CFG_AUTH_SERVICE_PRINCIPAL &&
	    !a->secret_file[0] == !a->certificate_file[0])
		yconf_err_at(&ctx->y, m,
			     "backend '%s': service-principal needs one of "
			     "secret_file and certificate_file",
			     b->name);
	if (a->kind != CFG_AUTH_SERVICE_PRINCIPAL &&
	    (a->secret_file[0] || a->certificate_file[0]))
		yconf_err_at(&ctx->y, m,
			     "backend '%s': secret_file and certificate_file "
			     "are for service-principal",
			     b->name);
	for (i = 0; i < CFG_NKEYS(path); i++)
		if (path[i][0] && path[i][0] != '/')
			yconf_err_at(&ctx->y, m,
				     "backend '%s': '%s' is not an absolute "
				     "path",
				     b->name, path[i]);
	if (!a->token_map[0])
		yconf_err_at(&ctx->y, m, "backend '%s': token_map is empty",
			     b->name);
	for (i = 0; i < ctx->cfg->n_backends && !first; i++)
		if (ctx->cfg->backends[i].auth.kind != CFG_AUTH_NONE)
			first = &ctx->cfg->backends[i].auth;
	if (first && first != a &&
	    (strcmp(first->token_map, a->token_map) != 0 ||
	     strcmp(first->map_name, a->map_name) != 0))
		yconf_err_at(&ctx->y, m,
			     "backend '%s': every keyless backend shares one "
			     "token_map and map_name",
			     b->name);
}

/* Parses "defaults" into the template <tmpl> every backend starts from;
 * <src> records where the cross-checked breaker fields were set.
 */
static void cfg_parse_defaults(struct cfg_ctx *ctx, yaml_node_t *n,
			       struct cfg_backend *tmpl, struct cfg_bsrc *src)
{
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_DEFAULTS, keys, f);
	const struct cfg_bsrc none = {0};
	struct cfg_breaker check;

	if (yconf_map(&ctx->y, n, "defaults", keys, nk) < 0)
		return;
	if (yconf_key_get(keys, nk, "circuit_breaker")->val)
		cfg_parse_breaker(
			ctx, yconf_key_get(keys, nk, "circuit_breaker")->val,
			&tmpl->breaker, src);
	if (yconf_key_get(keys, nk, "headroom")->val)
		cfg_parse_headroom(ctx,
				   yconf_key_get(keys, nk, "headroom")->val,
				   &tmpl->headroom);
	if (yconf_key_get(keys, nk, "auth")->val)
		cfg_parse_auth(ctx, yconf_key_get(keys, nk, "auth")->val,
			       &tmpl->auth);
	/* the template must stay unfinished: check a copy */
	check = tmpl->breaker;
	cfg_breaker_finish(ctx, &check, src, &none);
}

/* Parses the "backends" list; each starts from <tmpl> (set at <tsrc>). */
static void cfg_parse_backends(struct cfg_ctx *ctx, yaml_node_t *n,
			       const struct cfg_backend *tmpl,
			       const struct cfg_bsrc *tsrc)
{
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_BACKEND, keys, f);
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
		if (yconf_map(&ctx->y, item, "backends", keys, nk) < 0)
			continue;
		if (yconf_key_get(keys, nk, "name")->val &&
		    cfg_name(ctx, yconf_key_get(keys, nk, "name")->val, "name",
			     b->name) == 0) {
			j = cfg_backend_index(cfg, b->name);
			if (j >= 0 && b != &cfg->backends[j])
				yconf_err(&ctx->y,
					  yconf_key_get(keys, nk, "name")->val,
					  "backend '%s' already defined at "
					  "%" PRIu32 ":%" PRIu32,
					  b->name, cfg->backends[j].mark.line,
					  cfg->backends[j].mark.col);
		}
		memset(&local, 0, sizeof(local));
		if (yconf_key_get(keys, nk, "circuit_breaker")->val)
			cfg_parse_breaker(
				ctx,
				yconf_key_get(keys, nk, "circuit_breaker")->val,
				&b->breaker, &local);
		if (yconf_key_get(keys, nk, "headroom")->val)
			cfg_parse_headroom(
				ctx, yconf_key_get(keys, nk, "headroom")->val,
				&b->headroom);
		if (yconf_key_get(keys, nk, "upstream")->val)
			cfg_parse_upstream(
				ctx, yconf_key_get(keys, nk, "upstream")->val,
				&b->upstream);
		if (yconf_key_get(keys, nk, "auth")->val)
			cfg_parse_auth(ctx,
				       yconf_key_get(keys, nk, "auth")->val,
				       &b->auth);
		cfg_breaker_finish(ctx, &b->breaker, &local, tsrc);
	}
	for (i = 0; i < (int)cfg->n_backends; i++)
		cfg_auth_check(ctx, &cfg->backends[i]);
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
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_MEMBER, keys, f);
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
		cfg_block_defaults(CFG_BLK_MEMBER, m);
		m->mark = cfg_mark_node(item);
		if (yconf_map(&ctx->y, item, "members", keys, nk) < 0 ||
		    !(bn = yconf_key_get(keys, nk, "backend")->val) ||
		    !(s = yconf_scalar(&ctx->y, bn, "backend"))) {
			n_bad++;
			continue;
		}
		cfg_get_plain(ctx, keys, f, nk, m);
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
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_POOL, keys, f);
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
		if (yconf_map(&ctx->y, item, "pools", keys, nk) < 0)
			continue;
		if (yconf_key_get(keys, nk, "name")->val &&
		    cfg_name(ctx, yconf_key_get(keys, nk, "name")->val, "name",
			     p->name) == 0) {
			for (j = 0; j + 1 < cfg->n_pools; j++)
				if (strcmp(cfg->pools[j].name, p->name) == 0)
					break;
			if (j + 1 < cfg->n_pools)
				yconf_err(&ctx->y,
					  yconf_key_get(keys, nk, "name")->val,
					  "pool '%s' already defined at "
					  "%" PRIu32 ":%" PRIu32,
					  p->name, cfg->pools[j].mark.line,
					  cfg->pools[j].mark.col);
		}
		if (yconf_key_get(keys, nk, "members")->val)
			cfg_parse_members(
				ctx, yconf_key_get(keys, nk, "members")->val,
				p);
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
	struct yconf_key keys[CFG_BLOCK_KEYS_MAX];
	const struct cfg_field *f[CFG_BLOCK_KEYS_MAX];
	size_t nk = cfg_keys(CFG_BLK_ROOT, keys, f);
	struct cfg_backend tmpl;
	struct cfg_bsrc tsrc = {0};

	if (yconf_map(&ctx->y, root, "configuration", keys, nk) < 0)
		return;
	memset(&tmpl, 0, sizeof(tmpl));
	cfg_backend_defaults(&tmpl);
	if (yconf_key_get(keys, nk, "agent")->val)
		cfg_parse_agent(ctx, yconf_key_get(keys, nk, "agent")->val);
	if (yconf_key_get(keys, nk, "listen")->val)
		cfg_parse_listen(ctx, yconf_key_get(keys, nk, "listen")->val);
	if (yconf_key_get(keys, nk, "control")->val)
		cfg_parse_control(ctx, yconf_key_get(keys, nk, "control")->val);
	cfg_get_plain(ctx, keys, f, nk, ctx->cfg); /* metrics_allow_remote */
	if (yconf_key_get(keys, nk, "metrics")->val)
		cfg_parse_metrics(ctx, yconf_key_get(keys, nk, "metrics")->val);
	cfg_check_addrs(ctx);
	if (yconf_key_get(keys, nk, "haproxy")->val)
		cfg_parse_haproxy(ctx, yconf_key_get(keys, nk, "haproxy")->val);
	if (yconf_key_get(keys, nk, "fleet")->val)
		cfg_parse_fleet(ctx, yconf_key_get(keys, nk, "fleet")->val);
	if (yconf_key_get(keys, nk, "defaults")->val)
		cfg_parse_defaults(ctx,
				   yconf_key_get(keys, nk, "defaults")->val,
				   &tmpl, &tsrc);
	if (yconf_key_get(keys, nk, "backends")->val)
		cfg_parse_backends(ctx,
				   yconf_key_get(keys, nk, "backends")->val,
				   &tmpl, &tsrc);
	if (yconf_key_get(keys, nk, "pools")->val)
		cfg_parse_pools(ctx, yconf_key_get(keys, nk, "pools")->val);
	if (yconf_key_get(keys, nk, "state_file")->val)
		cfg_parse_state_file(
			ctx, yconf_key_get(keys, nk, "state_file")->val);
	if (yconf_key_get(keys, nk, "fleet")->val)
		cfg_check_fleet_keys(ctx,
				     yconf_key_get(keys, nk, "fleet")->val);
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
	cfg_block_defaults(CFG_BLK_AGENT, &cfg->agent);
	cfg_block_defaults(CFG_BLK_HAPROXY, &cfg->haproxy);
	cfg_block_defaults(CFG_BLK_FLEET, &cfg->fleet);
}

void cfg_backend_defaults(struct cfg_backend *b)
{
	memset(&b->breaker, 0, sizeof(b->breaker));
	cfg_block_defaults(CFG_BLK_BREAKER, &b->breaker);
	cfg_block_defaults(CFG_BLK_FAILURE, &b->breaker);
	memset(&b->headroom, 0, sizeof(b->headroom));
	cfg_block_defaults(CFG_BLK_HEADROOM, &b->headroom);
	memset(&b->upstream, 0, sizeof(b->upstream));
	cfg_block_defaults(CFG_BLK_UPSTREAM, &b->upstream);
	memset(&b->auth, 0, sizeof(b->auth));
	cfg_block_defaults(CFG_BLK_AUTH, &b->auth);
}

int cfg_backend_index(const struct cfg *cfg, const char *name)
{
	uint32_t i;

	for (i = 0; i < cfg->n_backends; i++)
		if (strcmp(cfg->backends[i].name, name) == 0)
			return (int)i;
	return -1;
}

bool cfg_listener_same(const struct cfg_listener *a,
		       const struct cfg_listener *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == CFG_ADDR_UNIX)
		return strcmp(a->path, b->path) == 0;
	return a->port == b->port && strcmp(a->host, b->host) == 0;
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

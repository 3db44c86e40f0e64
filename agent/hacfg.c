/* SPDX-License-Identifier: Apache-2.0 */
/* haproxy-config: haproxy.cfg and aoai-spoe.conf from the configuration. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fleet.h"
#include "hacfg-tmpl.h"
#include "hacfg.h"

/*
 * The fixed text is hacfg-tmpl.c; what the YAML decides is written here:
 * the agent's stats socket and server address, the "aoai" backend's server
 * lines, and per backend the region template (a shim and an upstream) with
 * its name, endpoint, credential and rename. Every line goes through
 * hacfg_put(), which resolves ".if version_atleast(X)" blocks when a
 * version is asked for and keeps them otherwise, so that one rendering
 * serves every version.
 */

#define HACFG_LINE_MAX	4096 /* longest rendered line, the template's too */
#define HACFG_DEPTH_MAX 8    /* nested .if blocks */
#define HACFG_CHROOT	"/var/lib/haproxy" /* the template's chroot */
#define HACFG_KEYS_MAP	"/etc/haproxy/aoai-keys.map"

/* A "@NAME@" of a template line and the text it stands for. */
struct hacfg_var {
	const char *name;
	const char *value;
};

#define HACFG_PEERS	  "aoai-peers" /* the rendered peers section */
#define HACFG_FLEET_BEGIN "# ==== fleet: BEGIN"
#define HACFG_FLEET_END	  "# ==== fleet: END"
#define HACFG_ROUTE_ARGS  "    args pool=" /* aoai-route's arguments */
/* the region's aoai-result rule: the fleet's response rules follow it */
#define HACFG_RESULT_RULE  "    http-response send-spoe-group aoai-result "
#define HACFG_FLEET_SIZE_K 1 /* the table's size, in 1k entries, at least */
/* aoai-route's fleet arguments in one NOTIFY, at most: half the SPOE
 * frame of aoai-spoe.conf (max-frame-size 16380)
 */
#define HACFG_FLEET_ARGS_MAX 8192

/* The output of one rendering and its .if state. */
struct hacfg_out {
	struct buf *b;
	const struct cfg *cfg; /* its fleet block, when it renders one */
	bool skip;	       /* inside the template's commented fleet block */
	hacfg_version v;       /* 0: keep the version conditions */
	unsigned depth;
	struct {
		bool version; /* a version condition, resolved here */
		bool on;      /* the current branch is written */
	} st[HACFG_DEPTH_MAX];
};

int hacfg_version_parse(const char *s, hacfg_version *v)
{
	unsigned major, minor;
	int n = 0;

	if (sscanf(s, "%u.%u%n", &major, &minor, &n) != 2 || s[n] ||
	    major > 99 || minor > 99 || major * 100 + minor < 206)
		return -1;
	*v = major * 100 + minor;
	return 0;
}

/* True when the lines are written at depth <n>: the branches of the
 * <n> outer blocks are on.
 */
static bool hacfg_on(const struct hacfg_out *o, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (!o->st[i].on)
			return false;
	return true;
}

/* A version condition "[!]version_atleast(X.Y)" after ".if ": sets *<on>
 * for version <v>. Returns false for any other condition.
 */
static bool hacfg_version_cond(const char *c, hacfg_version v, bool *on)
{
	bool neg = *c == '!';
	hacfg_version want;
	char num[16];
	int n = 0;

	if (neg)
		c++;
	if (sscanf(c, "version_atleast(%15[0-9.])%n", num, &n) != 1 || c[n] ||
	    hacfg_version_parse(num, &want) < 0)
		return false;
	*on = (v >= want) != neg;
	return true;
}

/* Writes line <s> (no newline) unless an .if resolved for o->v drops it.
 * The .if/.else/.endif lines of other conditions are written as they come.
 */
static void hacfg_put(struct hacfg_out *o, const char *s)
{
	bool on = true, write = hacfg_on(o, o->depth);

	if (!strncmp(s, ".if ", 4) && o->depth < HACFG_DEPTH_MAX) {
		bool ver = o->v && hacfg_version_cond(s + 4, o->v, &on);

		o->st[o->depth].version = ver;
		o->st[o->depth++].on = on;
		if (ver)
			return;
	} else if (!strcmp(s, ".else") && o->depth) {
		/* a kept condition: both branches are written */
		if (o->st[o->depth - 1].version) {
			o->st[o->depth - 1].on = !o->st[o->depth - 1].on;
			return;
		}
		write = hacfg_on(o, o->depth - 1);
	} else if (!strcmp(s, ".endif") && o->depth) {
		o->depth--;
		if (o->st[o->depth].version)
			return;
		write = hacfg_on(o, o->depth);
	}
	if (write)
		buf_printf(o->b, "%s\n", s);
}

static void hacfg_putf(struct hacfg_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void hacfg_putf(struct hacfg_out *o, const char *fmt, ...)
{
	char line[HACFG_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	hacfg_put(o, line);
}

void hacfg_servers(const struct cfg *cfg, struct hacfg_server *out)
{
	const struct cfg_pool *p = &cfg->pools[0];
	uint32_t i;

	memset(out, 0, sizeof(*out) * cfg->n_backends);
	/* members are sorted by priority: the first is the active tier */
	for (i = 0; cfg->n_pools && i < p->n_members; i++) {
		const struct cfg_member *m = &p->members[i];

		out[m->backend].weight = m->weight;
		out[m->backend].backup = m->priority > p->members[0].priority;
	}
}

static void hacfg_err(const struct cfg *cfg, struct cfg_mark m,
		      cfg_error_fn err, void *arg, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Reports one problem at <m> of the configuration's file. */
static void hacfg_err(const struct cfg *cfg, struct cfg_mark m,
		      cfg_error_fn err, void *arg, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg),
		     "%s:%u:%u: ", cfg->file ? cfg->file : "-", m.line, m.col);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	err(arg, msg);
}

/* True when the fleet's HAProxy side is rendered: a fleet: block that
 * lists its peers.
 */
static bool hacfg_fleet_on(const struct cfg *cfg)
{
	return cfg->fleet.enabled && cfg->fleet.n_peers > 0;
}

/* Bytes aoai-route's fleet arguments take in a NOTIFY: per backend and
 * other node, the name "fleet.<backend>@<node>" with its length and an
 * integer value (type and varint), counted at their largest.
 */
static size_t hacfg_fleet_args_size(const struct cfg *cfg)
{
	const struct cfg_fleet *fl = &cfg->fleet;
	size_t n = 0;
	uint32_t b, i;

	for (b = 0; b < cfg->n_backends; b++)
		for (i = 0; i < fl->n_peers; i++)
			if (strcmp(fl->peers[i].name, fl->node))
				n += 2 + sizeof(FLEET_ARG_PREFIX) - 1 +
				     strlen(cfg->backends[b].name) + 1 +
				     strlen(fl->peers[i].name) + 1 + 10;
	return n;
}

/* What the fleet's peers section needs: every node listed, TLS files, or
 * plaintext on loopback only.
 */
static unsigned hacfg_check_fleet(const struct cfg *cfg, cfg_error_fn err,
				  void *arg)
{
	const struct cfg_fleet *fl = &cfg->fleet;
	unsigned bad = 0;
	uint32_t i;

	if (!fl->enabled)
		return 0;
	if (!fl->n_peers) {
		hacfg_err(cfg, cfg->haproxy.stats_socket.mark, err, arg,
			  "fleet: no peers: haproxy-config renders the peers "
			  "section and aoai-route's fleet arguments from "
			  "fleet.peers (every node, this one too)");
		return 1;
	}
	if (!fl->plaintext && (!fl->crt[0] || !fl->ca_file[0])) {
		hacfg_err(cfg, fl->peers[0].addr.mark, err, arg,
			  "fleet: peers use TLS with client certificates: "
			  "fleet.crt and fleet.ca_file are needed (or "
			  "fleet.plaintext: true, a lab on loopback)");
		bad++;
	}
	if (hacfg_fleet_args_size(cfg) > HACFG_FLEET_ARGS_MAX) {
		/* aoai-route's NOTIFY must fit the SPOE frame (16380 bytes
		 * in aoai-spoe.conf) with room for pool and key
		 */
		hacfg_err(cfg, fl->peers[0].addr.mark, err, arg,
			  "fleet: aoai-route's fleet arguments (%u backends x "
			  "%u other nodes) take about %zu bytes of a SPOE "
			  "frame, at most %d: fewer backends or nodes",
			  cfg->n_backends, fl->n_peers - 1,
			  hacfg_fleet_args_size(cfg), HACFG_FLEET_ARGS_MAX);
		bad++;
	}
	for (i = 0; fl->plaintext && i < fl->n_peers; i++) {
		const struct cfg_listener *a = &fl->peers[i].addr;

		if (!strncmp(a->host, "127.", 4) || !strcmp(a->host, "::1"))
			continue;
		/* anyone who reaches a plaintext peer may write the table */
		hacfg_err(cfg, a->mark, err, arg,
			  "fleet: peer %s: plaintext peers on loopback only; "
			  "give fleet.crt and fleet.ca_file",
			  fl->peers[i].name);
		bad++;
	}
	return bad;
}

unsigned hacfg_check(const struct cfg *cfg, cfg_error_fn err, void *arg)
{
	const struct cfg_listener *l = &cfg->listen[0];
	unsigned bad = 0;
	uint32_t i;

	for (i = 0; i < cfg->n_backends; i++) {
		const struct cfg_backend *b = &cfg->backends[i];

		if (b->upstream.endpoint[0])
			continue;
		hacfg_err(cfg, b->mark, err, arg,
			  "backend '%s': no upstream.endpoint, the region's "
			  "host name that haproxy-config renders",
			  b->name);
		bad++;
	}
	for (i = 0; cfg->n_pools && i < cfg->pools[0].n_members; i++) {
		const struct cfg_member *m = &cfg->pools[0].members[i];

		if (m->weight <= HACFG_WEIGHT_MAX)
			continue;
		hacfg_err(cfg, m->mark, err, arg,
			  "weight %u: the first pool's weights are HAProxy's "
			  "fail-open weights, at most %d",
			  m->weight, HACFG_WEIGHT_MAX);
		bad++;
	}
	for (i = 0; i < cfg->n_backends; i++) {
		const struct cfg_auth *a = &cfg->backends[i].auth;
		const char *m = a->map_name[0] ? a->map_name : a->token_map;

		/* it goes inside map(...) of a quoted header value */
		if (a->kind == CFG_AUTH_NONE ||
		    strspn(m,
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"
			   "yz0123456789/_.-") == strlen(m))
			continue;
		hacfg_err(cfg, a->mark, err, arg,
			  "backend '%s': the token map '%s' has characters "
			  "haproxy-config does not put in map() (A-Z a-z 0-9 "
			  "/ _ . -)",
			  cfg->backends[i].name, m);
		bad++;
	}
	if (cfg->haproxy.enabled &&
	    strcmp(cfg->haproxy.backend, HACFG_BACKEND)) {
		hacfg_err(cfg, cfg->haproxy.stats_socket.mark, err, arg,
			  "haproxy.backend is '%s': the rendered backend is "
			  "'%s'",
			  cfg->haproxy.backend, HACFG_BACKEND);
		bad++;
	}
	if (cfg->haproxy.enabled &&
	    cfg->haproxy.stats_socket.kind == CFG_ADDR_TCP &&
	    strncmp(cfg->haproxy.stats_socket.host, "127.", 4) &&
	    strcmp(cfg->haproxy.stats_socket.host, "::1")) {
		/* the rendered socket is level admin: never off the host */
		hacfg_err(cfg, cfg->haproxy.stats_socket.mark, err, arg,
			  "haproxy.stats_socket: HAProxy's admin socket is "
			  "rendered on a unix socket or loopback only");
		bad++;
	}
	bad += hacfg_check_fleet(cfg, err, arg);
	if (cfg->n_listen && l->kind == CFG_ADDR_UNIX &&
	    strncmp(l->path, HACFG_CHROOT "/", sizeof(HACFG_CHROOT))) {
		hacfg_err(cfg, l->mark, err, arg,
			  "listen: HAProxy (chroot %s) reaches the agent by "
			  "the first address, a unix socket must be under it",
			  HACFG_CHROOT);
		bad++;
	}
	return bad;
}

/* The agent's stats socket in HAProxy's global section. */
static void hacfg_stats_socket(struct hacfg_out *o, const struct cfg *cfg)
{
	const struct cfg_listener *s = &cfg->haproxy.stats_socket;

	if (!cfg->haproxy.enabled)
		hacfg_putf(o,
			   "    stats socket /run/haproxy/aoai-spoa.sock mode "
			   "660 group haproxy level admin");
	else if (s->kind == CFG_ADDR_UNIX)
		hacfg_putf(o,
			   "    stats socket %s mode 660 group haproxy level "
			   "admin",
			   s->path);
	else
		hacfg_putf(o, "    stats socket %s@%s:%u level admin",
			   strchr(s->host, ':') ? "ipv6" : "ipv4", s->host,
			   s->port);
}

/* The agent's address as HAProxy's server line says it: the first listen
 * address into <addr>.
 */
static const char *hacfg_agent_addr(const struct cfg *cfg, char *addr,
				    size_t size)
{
	const struct cfg_listener *l = &cfg->listen[0];

	if (l->kind == CFG_ADDR_UNIX) /* under the chroot: hacfg_check() */
		snprintf(addr, size, "unix@%s",
			 l->path + sizeof(HACFG_CHROOT) - 1);
	else if (strchr(l->host, ':'))
		snprintf(addr, size, "ipv6@%s:%u", l->host, l->port);
	else
		snprintf(addr, size, "%s:%u", l->host, l->port);
	return addr;
}

/* Template line <t> with each "@NAME@" of the <n> variables <vars>
 * replaced by its value, into <out>; other text is copied.
 */
static const char *hacfg_subst(const char *t, const struct hacfg_var *vars,
			       size_t n, char *out, size_t size)
{
	size_t o = 0, i, k = 0;

	while (*t && o + 1 < size) {
		for (i = 0; i < n; i++) {
			k = strlen(vars[i].name);
			if (!strncmp(t, vars[i].name, k))
				break;
		}
		if (i == n) {
			out[o++] = *t++;
			continue;
		}
		o += (size_t)snprintf(out + o, size - o, "%s", vars[i].value);
		if (o >= size)
			o = size - 1;
		t += k;
	}
	out[o] = '\0';
	return out;
}

/* "host:port" of a peer address. */
static const char *hacfg_peer_addr(const struct cfg_listener *a, char *out,
				   size_t size)
{
	if (strchr(a->host, ':'))
		snprintf(out, size, "ipv6@%s:%u", a->host, a->port);
	else
		snprintf(out, size, "%s:%u", a->host, a->port);
	return out;
}

/* The fleet block of haproxy.cfg, in place of the template's commented
 * one: this node's name, the peers section, the table.
 */
static void hacfg_fleet_cfg(struct hacfg_out *o)
{
	const struct cfg *cfg = o->cfg;
	const struct cfg_fleet *fl = &cfg->fleet;
	char addr[CFG_HOST_MAX + 16], tls[2 * CFG_PATH_MAX + 64] = "";
	uint32_t i, keys, size_k;

	hacfg_putf(o, "%s (rendered from aoai-spoa's fleet: block) ====",
		   HACFG_FLEET_BEGIN);
	hacfg_put(o,
		  "# Throttles shared between nodes: haproxy-conf/README.md, "
		  "\"A fleet\".");
	hacfg_put(o, "# This node's deadlines are written by the http-response "
		     "rules of each region-*");
	hacfg_put(o, "# from the agent's aoai-result answer; the agent writes "
		     "the rest (resets, repairs)");
	hacfg_put(o, "# over its stats socket. aoai-route (aoai-spoe.conf) "
		     "reads it on every request.");
	if (fl->plaintext)
		hacfg_put(o, "# PLAINTEXT peers (fleet.plaintext): anyone "
			     "reaching a peer port may write the table.");
	else
		snprintf(tls, sizeof(tls),
			 " ssl crt %s ca-file %s verify required", fl->crt,
			 fl->ca_file);
	hacfg_put(o, "global");
	hacfg_putf(o, "    localpeer %s", fl->node);
	hacfg_put(o, "");
	hacfg_putf(o, "peers %s", HACFG_PEERS);
	for (i = 0; i < fl->n_peers; i++)
		if (!strcmp(fl->peers[i].name, fl->node))
			hacfg_putf(o, "    bind %s%s",
				   hacfg_peer_addr(&fl->peers[i].addr, addr,
						   sizeof(addr)),
				   tls);
	if (tls[0])
		hacfg_putf(o, "    default-server%s", tls);
	for (i = 0; i < fl->n_peers; i++)
		if (!strcmp(fl->peers[i].name, fl->node))
			hacfg_putf(o, "    server %s", fl->peers[i].name);
		else
			hacfg_putf(o, "    server %s %s", fl->peers[i].name,
				   hacfg_peer_addr(&fl->peers[i].addr, addr,
						   sizeof(addr)));
	hacfg_put(o, "");
	/* a deadline and a reset key per node and backend */
	keys = 2 * fl->n_peers * cfg->n_backends;
	size_k = (keys + 1023) / 1024;
	if (size_k < HACFG_FLEET_SIZE_K)
		size_k = HACFG_FLEET_SIZE_K;
	hacfg_putf(o, "backend %s", fl->table);
	hacfg_putf(o,
		   "    stick-table type string len %d size %uk expire 1h "
		   "store gpt0 peers %s",
		   CFG_FLEET_KEY_MAX + 1, size_k, HACFG_PEERS);
	hacfg_putf(o, "%s ========", HACFG_FLEET_END);
}

/* aoai-route's fleet arguments: each other node's deadline of each
 * backend, read from the table by HAProxy (agent/fleet.h, fleet_arg()),
 * one "args" line each (HAProxy's lines are short).
 */
static void hacfg_fleet_args(struct hacfg_out *o)
{
	const struct cfg *cfg = o->cfg;
	const struct cfg_fleet *fl = &cfg->fleet;
	uint32_t b, i;

	for (b = 0; b < cfg->n_backends; b++)
		for (i = 0; i < fl->n_peers; i++) {
			const char *name = cfg->backends[b].name;
			const char *node = fl->peers[i].name;

			if (strcmp(node, fl->node))
				hacfg_putf(o,
					   "    args %s%s@%s=str(%s@%s),"
					   "table_gpt0(%s)",
					   FLEET_ARG_PREFIX, name, node, name,
					   node, fl->table);
		}
}

/* The fleet's response-path rules of the region of backend <b>, after
 * its aoai-result rule: the deadline the agent's ACK names for this
 * node's key of <b> (fleet_result()) is written to the table, a later
 * value only (the agent may have been reset meanwhile: it repairs).
 */
static void hacfg_fleet_rules(struct hacfg_out *o, const struct cfg_backend *b)
{
	const struct cfg_fleet *fl = &o->cfg->fleet;

	hacfg_put(o, "    # the fleet: this node's new deadline, named by the "
		     "agent's answer, to the peers table");
	hacfg_putf(o,
		   "    http-response track-sc0 var(txn.aoai.fleet_key) table "
		   "%s if { var(txn.aoai.fleet_key) -m str %s@%s }",
		   fl->table, b->name, fl->node);
	hacfg_putf(o,
		   "    http-response sc-set-gpt0(0) var(txn.aoai.fleet_until) "
		   "if { var(txn.aoai.fleet_key) -m str %s@%s } { "
		   "sc_get_gpt0(0),neg,add(txn.aoai.fleet_until) gt 0 }",
		   b->name, fl->node);
}

/* Writes template <t> with <vars> replaced; a whole line "@PART@" is left
 * to <part>, called with <arg>; with a fleet, "@FLEET_RULES@" is asked of
 * <part> after the aoai-result rule.
 */
static void hacfg_lines(struct hacfg_out *o, const char *const *t,
			const struct hacfg_var *vars, size_t n,
			void (*part)(struct hacfg_out *, const char *, void *),
			void *arg)
{
	char line[HACFG_LINE_MAX];
	size_t len;

	for (; *t; t++) {
		len = strlen(*t);
		if (o->cfg && !strncmp(*t, HACFG_FLEET_BEGIN,
				       sizeof(HACFG_FLEET_BEGIN) - 1)) {
			hacfg_fleet_cfg(o);
			o->skip = true;
			continue;
		}
		if (o->skip) {
			o->skip = strncmp(*t, HACFG_FLEET_END,
					  sizeof(HACFG_FLEET_END) - 1) != 0;
			continue;
		}
		if (part && len > 2 && (*t)[0] == '@' && (*t)[len - 1] == '@' &&
		    !strchr(*t, ' '))
			part(o, *t, arg);
		else
			hacfg_put(o,
				  hacfg_subst(*t, vars, n, line, sizeof(line)));
		if (o->cfg && !strncmp(*t, HACFG_ROUTE_ARGS,
				       sizeof(HACFG_ROUTE_ARGS) - 1))
			hacfg_fleet_args(o);
		if (o->cfg && part &&
		    !strncmp(*t, HACFG_RESULT_RULE,
			     sizeof(HACFG_RESULT_RULE) - 1))
			part(o, "@FLEET_RULES@", arg);
	}
}

/* The "aoai" backend's server lines, one per backend. */
static void hacfg_server_lines(struct hacfg_out *o, const struct cfg *cfg)
{
	struct hacfg_server srv[CFG_BACKENDS_MAX];
	char weight[16];
	uint32_t i;

	hacfg_servers(cfg, srv);
	for (i = 0; i < cfg->n_backends; i++) {
		const struct hacfg_var vars[] = {
			{"@NAME@", cfg->backends[i].name},
			{"@WEIGHT@", weight},
			{"@BACKUP@", srv[i].backup ? " backup" : ""},
		};

		snprintf(weight, sizeof(weight), "%u", srv[i].weight);
		hacfg_lines(o, hacfg_tmpl_server, vars, 3, NULL, NULL);
	}
}

/* <s> with '.' escaped for a regular expression into <out>. */
static const char *hacfg_regex(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; *s && o + 3 < size; s++) {
		if (*s == '.')
			out[o++] = '\\';
		out[o++] = *s;
	}
	out[o] = '\0';
	return out;
}

/* How the upstream of <b> authenticates to its region: an Entra ID
 * credential (auth:) sends the token the agent keeps in its token map,
 * else the upstream's key source decides.
 */
static void hacfg_credential(struct hacfg_out *o, const struct cfg_backend *b)
{
	const struct cfg_auth *a = &b->auth;

	if (a->kind != CFG_AUTH_NONE) {
		/* the map as HAProxy names it: map_name, else token_map */
		hacfg_putf(o,
			   "    http-request set-header Authorization \"Bearer "
			   "%%[str(%s),map(%s)]\"",
			   b->name,
			   a->map_name[0] ? a->map_name : a->token_map);
		return;
	}
	switch (b->upstream.key) {
	case CFG_KEY_MAP:
		hacfg_putf(o,
			   "    http-request set-header api-key "
			   "\"%%[str(%s),map(%s)]\" unless { "
			   "req.hdr(authorization) -m beg -i \"bearer \" }",
			   b->name, HACFG_KEYS_MAP);
		break;
	case CFG_KEY_NONE:
		hacfg_put(o, "    # key: none, the client's bearer token is "
			     "passed to the region");
		break;
	}
}

/* The deployment rename of <b>'s upstream, if it has one. */
static void hacfg_rename(struct hacfg_out *o, const struct cfg_backend *b)
{
	const struct cfg_upstream *u = &b->upstream;
	char from[2 * CFG_NAME_MAX];

	if (!u->deployment[0])
		return;
	hacfg_putf(o, "    # clients say %s, this resource calls it %s",
		   u->client_deployment, u->deployment);
	hacfg_putf(o,
		   "    http-request replace-path "
		   "^/openai/deployments/%s/(.*)$ /openai/deployments/%s/\\1",
		   hacfg_regex(u->client_deployment, from, sizeof(from)),
		   u->deployment);
}

/* The region template's whole-line parts for backend <arg>. */
static void hacfg_region_part(struct hacfg_out *o, const char *name, void *arg)
{
	if (!strcmp(name, "@CREDENTIAL@"))
		hacfg_credential(o, arg);
	else if (!strcmp(name, "@RENAME@"))
		hacfg_rename(o, arg);
	else if (!strcmp(name, "@FLEET_RULES@"))
		hacfg_fleet_rules(o, arg);
}

/* The region shim and upstream of backend <b>, from the region template. */
static void hacfg_region(struct hacfg_out *o, const struct cfg_backend *b)
{
	const struct hacfg_var vars[] = {
		{"@NAME@", b->name},
		{"@ENDPOINT@", b->upstream.endpoint},
	};

	hacfg_lines(o, hacfg_tmpl_region, vars, 2, hacfg_region_part,
		    (void *)(uintptr_t)b);
}

/* The whole-line parts of haproxy.cfg's template for <arg>, the cfg. */
static void hacfg_cfg_part(struct hacfg_out *o, const char *name, void *arg)
{
	const struct cfg *cfg = arg;
	uint32_t i;

	if (!strcmp(name, "@STATS_SOCKET@"))
		hacfg_stats_socket(o, cfg);
	else if (!strcmp(name, "@SERVERS@"))
		hacfg_server_lines(o, cfg);
	else if (!strcmp(name, "@REGIONS@"))
		for (i = 0; i < cfg->n_backends; i++)
			hacfg_region(o, &cfg->backends[i]);
}

/* Writes template <t> for <cfg>; "@AGENT@" is the agent's address. */
static int hacfg_render(const char *const *t, const struct cfg *cfg,
			hacfg_version v, struct buf *out)
{
	struct hacfg_out o = {
		.b = out,
		.v = v,
		.cfg = hacfg_fleet_on(cfg) ? cfg : NULL,
	};
	char addr[CFG_PATH_MAX + CFG_HOST_MAX + 16];
	const struct hacfg_var vars[] = {
		{"@AGENT@", hacfg_agent_addr(cfg, addr, sizeof(addr))},
	};

	hacfg_lines(&o, t, vars, 1, hacfg_cfg_part, (void *)(uintptr_t)cfg);
	return out->overflow ? -1 : 0;
}

int hacfg_render_cfg(const struct cfg *cfg, hacfg_version v, struct buf *out)
{
	return hacfg_render(hacfg_tmpl_cfg, cfg, v, out);
}

int hacfg_render_spoe(const struct cfg *cfg, hacfg_version v, struct buf *out)
{
	return hacfg_render(hacfg_tmpl_spoe, cfg, v, out);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The running HAProxy against the configuration: what differs. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "hacfg.h"
#include "hadrift.h"
#include "hapi-parse.h"
#include "sock.h"

#define HADRIFT_RESP_MAX   (1024 * 1024) /* the answer, capped */
#define HADRIFT_TIMEOUT_MS 3000		 /* the whole exchange */
#define HADRIFT_ACLS_MAX   512 /* "show acl #N" asked at most, one request */

/* One server as the two answers describe it. */
struct hadrift_srv {
	char name[CFG_NAME_MAX];
	int backend; /* index in cfg->backends, -1 unknown */
	int uweight; /* -1 not reported */
	int backup;  /* -1 not reported */
	bool stat;   /* seen in "show stat" */
};

/* What the answers held. */
struct hadrift_seen {
	const struct cfg *cfg;
	uint32_t n;
	struct hadrift_srv *srv; /* CFG_BACKENDS_MAX + some: owned */
	uint32_t max;
};

/* The entry of server <name>, added when new; NULL when full. */
static struct hadrift_srv *hadrift_srv(struct hadrift_seen *s, const char *name)
{
	struct hadrift_srv *v;
	uint32_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->srv[i].name, name))
			return &s->srv[i];
	if (s->n == s->max)
		return NULL;
	v = &s->srv[s->n++];
	snprintf(v->name, sizeof(v->name), "%s", name);
	v->backend = cfg_backend_index(s->cfg, name);
	v->uweight = -1;
	v->backup = -1;
	v->stat = false;
	return v;
}

static void hadrift_on_state(void *arg, const struct hapi_row_state *row)
{
	struct hadrift_srv *v = hadrift_srv(arg, row->name);

	if (v)
		v->uweight = row->uweight;
}

static void hadrift_on_stat(void *arg, const struct hapi_row_stat *row)
{
	struct hadrift_srv *v;

	/* the backend's own FRONTEND/BACKEND rows are not servers */
	if (!strcmp(row->name, "BACKEND") || !strcmp(row->name, "FRONTEND"))
		return;
	v = hadrift_srv(arg, row->name);
	if (v) {
		v->backup = row->backup;
		v->stat = true;
	}
}

static void hadrift_say(hadrift_fn fn, void *arg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void hadrift_say(hadrift_fn fn, void *arg, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(arg, msg);
}

/* The differences of server <v> (a known backend) with <want>. */
static int hadrift_server(const char *be, const struct hadrift_srv *v,
			  const struct hacfg_server *want, hadrift_fn fn,
			  void *arg)
{
	int n = 0;

	if (v->uweight >= 0 && (uint32_t)v->uweight != want->weight) {
		hadrift_say(fn, arg,
			    "%s/%s: weight %d in HAProxy, %u in the "
			    "configuration",
			    be, v->name, v->uweight, want->weight);
		n++;
	}
	if (v->backup >= 0 && (v->backup != 0) != want->backup) {
		hadrift_say(fn, arg, "%s/%s: backup in %s, not in %s", be,
			    v->name,
			    want->backup ? "the configuration" : "HAProxy",
			    want->backup ? "HAProxy" : "the configuration");
		n++;
	}
	return n;
}

int hadrift_compare(const struct cfg *cfg, char *text, hadrift_fn fn, void *arg,
		    char *err, size_t errlen)
{
	struct hacfg_server want[CFG_BACKENDS_MAX];
	struct hadrift_seen s = {.cfg = cfg};
	const char *be = cfg->haproxy.backend;
	char *p = text;
	bool *found;
	uint32_t i;
	int n = 0;

	s.max = CFG_BACKENDS_MAX * 2;
	s.srv = calloc(s.max, sizeof(*s.srv));
	found = calloc(cfg->n_backends, sizeof(*found));
	if (!s.srv || !found) {
		snprintf(err, errlen, "out of memory");
		n = -1;
		goto out;
	}
	if (hapi_parse_state(&p, be, hadrift_on_state, &s, err, errlen) < 0 ||
	    hapi_parse_stat(&p, be, hadrift_on_stat, &s, err, errlen) < 0) {
		n = -1;
		goto out;
	}
	hacfg_servers(cfg, want);
	for (i = 0; i < s.n; i++) {
		const struct hadrift_srv *v = &s.srv[i];

		if (v->backend < 0) {
			hadrift_say(fn, arg,
				    "%s/%s: in HAProxy, unknown to the "
				    "configuration",
				    be, v->name);
			n++;
			continue;
		}
		found[v->backend] = true;
		n += hadrift_server(be, v, &want[v->backend], fn, arg);
	}
	for (i = 0; i < cfg->n_backends; i++) {
		if (found[i])
			continue;
		hadrift_say(fn, arg, "%s/%s: missing in HAProxy", be,
			    cfg->backends[i].name);
		n++;
	}
out:
	free(found);
	free(s.srv);
	return n;
}

/* Milliseconds left until <deadline> (CLOCK_MONOTONIC ms), at least 0. */
static int hadrift_left(long long deadline)
{
	struct timespec ts;
	long long now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Waits until <fd> has <events> or the deadline passed. Returns 0 or -1
 * (<err>).
 */
static int hadrift_wait(int fd, short events, long long deadline, char *err,
			size_t errlen)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int r;

	do {
		r = poll(&pfd, 1, hadrift_left(deadline));
	} while (r < 0 && errno == EINTR);
	if (r > 0)
		return 0;
	snprintf(err, errlen, "%s", r == 0 ? "no answer in time" : "poll");
	return -1;
}

/* Sends <cmd> to the stats socket <l> and reads the answer until HAProxy
 * closes, into <out> (NUL-terminated). Returns 0 or -1 (<err>).
 */
static int hadrift_ask(const struct cfg_listener *l, const char *cmd, char *out,
		       size_t size, char *err, size_t errlen)
{
	struct timespec ts;
	long long deadline;
	size_t off = 0, len = strlen(cmd);
	int fd, soerr = 0;
	socklen_t sl = sizeof(soerr);
	ssize_t r;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
		   HADRIFT_TIMEOUT_MS;
	fd = sock_connect(l, err, errlen);
	if (fd < 0)
		return -1;
	if (hadrift_wait(fd, POLLOUT, deadline, err, errlen) < 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
		snprintf(err, errlen, "connect: %s", strerror(soerr));
		goto fail;
	}
	while (off < len) {
		r = send(fd, cmd + off, len - off, MSG_NOSIGNAL);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (hadrift_wait(fd, POLLOUT, deadline, err, errlen))
				goto fail;
			continue;
		}
		if (r < 0) {
			snprintf(err, errlen, "send: %s", strerror(errno));
			goto fail;
		}
		off += (size_t)r;
	}
	for (off = 0;;) {
		if (off + 1 >= size) {
			snprintf(err, errlen, "answer over %zu bytes", size);
			goto fail;
		}
		r = recv(fd, out + off, size - off - 1, 0);
		if (r == 0)
			break;
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (hadrift_wait(fd, POLLIN, deadline, err, errlen))
				goto fail;
			continue;
		}
		if (r < 0) {
			snprintf(err, errlen, "recv: %s", strerror(errno));
			goto fail;
		}
		off += (size_t)r;
	}
	out[off] = '\0';
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

/* The fleet's side of the running HAProxy ("show table;show peers" in
 * <text>): its table, this node as the local peer, every other node of
 * fleet.peers as a remote one. Returns the number of differences.
 */
static int hadrift_fleet(const struct cfg *cfg, const char *text, hadrift_fn fn,
			 void *arg)
{
	const struct cfg_fleet *fl = &cfg->fleet;
	char want[CFG_NAME_MAX + 32], msg[2 * CFG_NAME_MAX + 160];
	int n = 0;
	uint32_t i;

	snprintf(want, sizeof(want), "# table: %s,", fl->table);
	if (!strstr(text, want)) {
		snprintf(msg, sizeof(msg),
			 "fleet: no table %s in HAProxy (the fleet block of "
			 "haproxy.cfg, aoai-spoa haproxy-config)",
			 fl->table);
		fn(arg, msg);
		n++;
	}
	snprintf(want, sizeof(want), " id=%s(local,", fl->node);
	if (!strstr(text, want)) {
		snprintf(msg, sizeof(msg),
			 "fleet: HAProxy's local peer is not %s (fleet.node; "
			 "localpeer or haproxy -L)",
			 fl->node);
		fn(arg, msg);
		n++;
	}
	for (i = 0; i < fl->n_peers; i++) {
		if (!strcmp(fl->peers[i].name, fl->node))
			continue;
		snprintf(want, sizeof(want), " id=%s(remote,",
			 fl->peers[i].name);
		if (strstr(text, want))
			continue;
		snprintf(msg, sizeof(msg),
			 "fleet: peer %s of fleet.peers is not a peer of "
			 "HAProxy",
			 fl->peers[i].name);
		fn(arg, msg);
		n++;
	}
	return n;
}

/* "show acl #N;..." for each ACL on var() that "show acl" lists in
 * <text> ("N () acl 'var' file 'F' line L. ..."), into <cmd>. Returns
 * how many.
 */
static unsigned hadrift_var_acls(const char *text, char *cmd, size_t size)
{
	const char *p = text, *q;
	size_t off = 0;
	unsigned n = 0, id;
	int k;

	for (; *p && n < HADRIFT_ACLS_MAX; p = q + 1) {
		q = strchr(p, '\n');
		if (!q)
			q = p + strlen(p);
		if (sscanf(p, "%u () acl 'var' file %n", &id, &k) == 1 &&
		    k > 0 && p + k <= q) {
			k = snprintf(cmd + off, size - off, "show acl #%u;",
				     id);
			if (k < 0 || (size_t)k >= size - off)
				break;
			off += (size_t)k;
			n++;
		}
		if (!*q)
			break;
	}
	if (off)
		cmd[off - 1] = '\n'; /* the last ';' ends the line */
	return n;
}

/* The fleet's response-path rules (hacfg.c hacfg_fleet_rules()): an ACL
 * matching this node's key of each backend, "<backend>@<node>", among
 * the patterns of the var() ACLs in <text> ("show acl #N" answers, one
 * "0x... <pattern>" line each). Returns the number of differences.
 */
static int hadrift_fleet_rules(const struct cfg *cfg, const char *text,
			       hadrift_fn fn, void *arg)
{
	char want[2 * CFG_NAME_MAX + 8], msg[6 * CFG_NAME_MAX + 256];
	int n = 0;
	uint32_t b;

	for (b = 0; b < cfg->n_backends; b++) {
		snprintf(want, sizeof(want), " %s@%s\n", cfg->backends[b].name,
			 cfg->fleet.node);
		if (strstr(text, want))
			continue;
		snprintf(msg, sizeof(msg),
			 "fleet: no response-path rule of region-%s writes "
			 "%s@%s in HAProxy (http-response track-sc0 ... -m "
			 "str %s@%s; aoai-spoa haproxy-config): the agent "
			 "writes that deadline over the runtime API after a "
			 "read",
			 cfg->backends[b].name, cfg->backends[b].name,
			 cfg->fleet.node, cfg->backends[b].name,
			 cfg->fleet.node);
		fn(arg, msg);
		n++;
	}
	return n;
}

int hadrift_check(const struct cfg *cfg, hadrift_fn fn, void *arg, char *err,
		  size_t errlen)
{
	char cmd[2 * CFG_NAME_MAX + 64], e[160];
	char *text = malloc(HADRIFT_RESP_MAX), *acls;
	int n = HADRIFT_UNREACHABLE;

	if (!text) {
		snprintf(err, errlen, "out of memory");
		return HADRIFT_UNREACHABLE;
	}
	snprintf(cmd, sizeof(cmd), "show servers state %s;show stat %s 4 -1\n",
		 cfg->haproxy.backend, cfg->haproxy.backend);
	if (hadrift_ask(&cfg->haproxy.stats_socket, cmd, text, HADRIFT_RESP_MAX,
			e, sizeof(e)) < 0) {
		char where[CFG_PATH_MAX + 16];

		snprintf(err, errlen, "%s: %s",
			 cfg_listener_str(&cfg->haproxy.stats_socket, where,
					  sizeof(where)),
			 e);
	} else {
		n = hadrift_compare(cfg, text, fn, arg, err, errlen);
		if (n < 0)
			n = HADRIFT_BAD_ANSWER;
	}
	if (n >= 0 && cfg->fleet.enabled &&
	    hadrift_ask(&cfg->haproxy.stats_socket,
			"show table;show peers;show acl\n", text,
			HADRIFT_RESP_MAX, e, sizeof(e)) == 0) {
		n += hadrift_fleet(cfg, text, fn, arg);
		acls = malloc(HADRIFT_ACLS_MAX * 24);
		if (acls &&
		    hadrift_var_acls(text, acls, HADRIFT_ACLS_MAX * 24)) {
			if (hadrift_ask(&cfg->haproxy.stats_socket, acls, text,
					HADRIFT_RESP_MAX, e, sizeof(e)) == 0)
				n += hadrift_fleet_rules(cfg, text, fn, arg);
		} else if (acls) {
			n += hadrift_fleet_rules(cfg, "", fn, arg);
		}
		free(acls);
	}
	free(text);
	return n;
}

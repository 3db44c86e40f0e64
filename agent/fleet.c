/* SPDX-License-Identifier: Apache-2.0 */
/* The fleet: throttle deadlines shared through a HAProxy peers table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "fleet.h"
#include "log.h"
#include "route.h"
#include "sock.h"
#include "text.h"

#define FLEET_RESP_MAX (1u << 20) /* "show table" of a 1k-entry table */
/* Other nodes' keys followed: a read costs O(keys x (keys + backends))
 * compares on the event loop, so the count is bounded; more are dropped,
 * counted.
 */
#define FLEET_ENTS_MAX	  512
#define FLEET_TIMEOUT_MIN 1.0 /* seconds per request */
/* aoai-route arguments followed: backends x other nodes of the rendered
 * SPOE file; more are ignored, counted as dropped.
 */
#define FLEET_FAST_MAX 512
/* The agent starts before HAProxy: errors are quiet this long. */
#define FLEET_START_GRACE_MS 30000
/* A deadline handed to HAProxy in an aoai-result ACK is looked for in
 * the first read started this long after the ACK (HAProxy runs the
 * response's rules within milliseconds of it); missing there, it is
 * written over the runtime API.
 */
#define FLEET_RESP_MARGIN_MS 50
/* Deadlines in a row HAProxy did not write on the response path before
 * the agent writes every new one over the runtime API at once as well.
 */
#define FLEET_RESP_MISSES 2

static const char *fleet_state_str(enum fleet_state st)
{
	switch (st) {
	case FLEET_IDLE:
		return "IDLE";
	case FLEET_CONNECTING:
		return "CONNECTING";
	case FLEET_SENDING:
		return "SENDING";
	case FLEET_READING:
		return "READING";
	}
	return "?";
}

/* Every state change of the link goes through here. */
static void fleet_set_state(struct fleet *f, enum fleet_state st)
{
	if (f->state != st && log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "fleet link: %s -> %s",
			fleet_state_str(f->state), fleet_state_str(st));
	f->state = st;
}

static void fleet_run(struct fleet *f);

static void fleet_error(struct fleet *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records (and logs, rate-limited) why the request failed. */
static void fleet_error(struct fleet *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->st.last_error, sizeof(f->st.last_error), fmt, ap);
	va_end(ap);
	if (clock_now.ms < f->grace_until)
		log_msg(LOG_DEBUG, "fleet: %s (not up yet since start)",
			f->st.last_error);
	else
		log_rl(&f->rl, clock_now.ms, LOG_WARNING, "fleet: %s",
		       f->st.last_error);
}

static void fleet_close(struct fleet *f)
{
	ev_io_stop(f->loop, &f->io);
	ev_timer_stop(f->loop, &f->timeout);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	fleet_set_state(f, FLEET_IDLE);
}

static void fleet_wake(struct fleet *f)
{
	if (f->state == FLEET_IDLE && !ev_is_active(&f->kick)) {
		ev_timer_set(&f->kick, 0., 0.);
		ev_timer_start(f->loop, &f->kick);
	}
}

/* ------------------------------------------------------------------ */
/* the table's answer                                                 */

/* The entry of <node>'s key of backend <b> (reset key when <reset>),
 * created when absent; NULL when every slot is taken.
 */
static struct fleet_ent *fleet_ent(struct fleet *f, int b, const char *node,
				   size_t len, bool reset)
{
	struct fleet_ent *e;
	uint32_t i;

	for (i = 0; i < f->n_ents; i++) {
		e = &f->ents[i];
		if (e->b == b && e->reset == reset && strlen(e->node) == len &&
		    memcmp(e->node, node, len) == 0)
			return e;
	}
	if (f->n_ents >= FLEET_ENTS_MAX || len >= CFG_NAME_MAX)
		return NULL;
	e = &f->ents[f->n_ents++];
	memset(e, 0, sizeof(*e));
	e->b = b;
	e->reset = reset;
	memcpy(e->node, node, len);
	e->node[len] = '\0';
	return e;
}

/* One "show table" row: "0x...: key=<k> use=0 exp=N [shard=0] gpt0=V". */
static void fleet_row(struct fleet *f, const char *line, size_t len,
		      uint64_t wall_ms)
{
	const char *k = memmem(line, len, " key=", 5), *ke, *sep, *v;
	const char *end = line + len;
	struct fleet_ent *e;
	uint64_t val;
	size_t vl;
	int b;

	v = memmem(line, len, " gpt0=", 6);
	if (!k || !v)
		return;
	k += 5;
	ke = memchr(k, ' ', (size_t)(end - k));
	if (!ke)
		return;
	for (sep = ke; sep > k && sep[-1] != '@' && sep[-1] != '!'; sep--)
		;
	if (sep == k)
		return; /* not one of ours */
	v += 6;
	for (vl = 0; v + vl < end && v[vl] >= '0' && v[vl] <= '9'; vl++)
		;
	if (text_parse_u64(v, vl, UINT32_MAX, &val) < 0)
		return;
	b = route_backend_index(f->route, k, (size_t)(sep - 1 - k));
	if (b < 0 || (uint32_t)b >= f->n_bk) {
		f->st.c.dropped++;
		return;
	}
	if ((size_t)(ke - sep) == strlen(f->cfg.node) &&
	    memcmp(sep, f->cfg.node, (size_t)(ke - sep)) == 0) {
		if (sep[-1] == '@')
			f->bk[b].table = (uint32_t)val;
		else
			f->bk[b].reset_table = (uint32_t)val;
		return;
	}
	e = fleet_ent(f, b, sep, (size_t)(ke - sep), sep[-1] == '!');
	if (!e) {
		f->st.c.dropped++;
		return;
	}
	if (!e->first_wall_ms || e->val != (uint32_t)val)
		e->first_wall_ms = wall_ms;
	e->val = (uint32_t)val;
	e->seen = true;
}

/* Forgets the keys the last read did not show; counts the writers. */
static void fleet_compact(struct fleet *f)
{
	uint32_t i, j, n = 0, w;

	for (i = 0; i < f->n_ents; i++)
		if (f->ents[i].seen)
			f->ents[n++] = f->ents[i];
	f->n_ents = n;
	f->st.nodes = 0;
	for (i = 0; i < n; i++) {
		for (w = 0, j = 0; j < i; j++)
			w |= strcmp(f->ents[j].node, f->ents[i].node) == 0;
		f->st.nodes += !w;
	}
}

/* The entry of <node>'s key of backend <b>, or NULL. */
static const struct fleet_ent *fleet_find(const struct fleet *f, int b,
					  const char *node, bool reset)
{
	uint32_t i;

	for (i = 0; i < f->n_ents; i++)
		if (f->ents[i].b == b && f->ents[i].reset == reset &&
		    strcmp(f->ents[i].node, node) == 0)
			return &f->ents[i];
	return NULL;
}

/* A deadline counts when its writer has acknowledged the newest reset of
 * its backend: every node writes its reset key ("<backend>!<node>") with
 * the newest reset it acted upon, after withdrawing its deadline, in the
 * same command. A deadline written before a reset its writer has not seen
 * yet is void; no clock comparison is needed.
 */
static bool fleet_acked(const struct fleet *f, int b, const char *node)
{
	const struct fleet_ent *ack = fleet_find(f, b, node, true);

	return (ack ? ack->val : 0) >= f->bk[b].reset_seen;
}

bool fleet_valid(const struct fleet *f, const struct fleet_ent *e)
{
	return fleet_acked(f, e->b, e->node);
}

/* <k>'s own deadline withdrawn (a reset): nothing to publish or await. */
static void fleet_own_forget(struct fleet_bk *k)
{
	k->want = 0;
	k->own_ms = 0;
	k->resp_val = 0;
	k->resp_wait = false;
}

/* After a reset of backend <b>: the request path's memory of its values
 * goes, so that the same deadline written again (a new throttle within
 * the same second) counts as new; one written before the reset stays void
 * (fleet_acked()).
 */
static void fleet_fast_forget(struct fleet *f, int b)
{
	uint32_t i;

	for (i = 0; i < f->n_fast; i++)
		if (f->fast[i].b == b)
			f->fast[i].val = 0;
}

/* Resets of backend <b>: the newest one, from any node, acted upon once:
 * cooldowns end here, this node's deadline is withdrawn and the reset
 * acknowledged (fleet_valid()).
 */
static void fleet_apply_resets(struct fleet *f, int b, uint64_t now_ms)
{
	struct fleet_bk *k = &f->bk[b];
	const char *by = f->cfg.node;
	uint32_t r = k->reset_table, i;

	for (i = 0; i < f->n_ents; i++)
		if (f->ents[i].b == b && f->ents[i].reset &&
		    f->ents[i].val > r) {
			r = f->ents[i].val;
			by = f->ents[i].node;
		}
	if (!k->polled) {
		/* what happened before this agent started is history; a
		 * deadline of ours older than it is withdrawn
		 */
		k->polled = true;
		if (r > k->reset_seen)
			k->reset_seen = r;
	} else if (r > k->reset_seen) {
		k->reset_seen = r;
		fleet_own_forget(k);
		f->st.c.resets_seen++;
		log_msg(LOG_NOTICE, "fleet: backend %s reset by node %s",
			k->name, by);
		route_fleet_clear(f->route, b, now_ms);
		fleet_fast_forget(f, b);
	}
	if (k->reset_want < k->reset_seen)
		k->reset_want = k->reset_seen;
}

/* The latest valid deadline other nodes wrote for backend <b>, each cut
 * at max_wait after it was first read here, applied to the engine.
 */
static void fleet_apply_deadlines(struct fleet *f, int b, uint64_t now_ms,
				  uint64_t wall_ms)
{
	const struct fleet_ent *best = NULL;
	uint64_t until = 0, u;
	char why[ROUTE_WHY_MAX];
	uint32_t i;
	bool capped = false, cut;

	for (i = 0; i < f->n_ents; i++) {
		struct fleet_ent *e = &f->ents[i];

		if (e->b != b || e->reset)
			continue;
		if (!fleet_valid(f, e))
			continue;
		u = (uint64_t)e->val * 1000;
		/* a skewed clock or a rogue value holds max_wait at most */
		cut = u > e->first_wall_ms + f->cfg.max_wait_ms;
		if (cut)
			u = e->first_wall_ms + f->cfg.max_wait_ms;
		if (u > wall_ms && u > until) {
			until = u;
			best = e;
			capped = cut;
		}
	}
	if (!best || until <= wall_ms)
		return;
	snprintf(why, sizeof(why), "fleet: throttled at %.32s%s", best->node,
		 capped ? ", capped" : "");
	if (route_fleet(f->route, b, now_ms + (until - wall_ms), why, now_ms) ==
	    1) {
		f->st.c.applied++;
		if (capped)
			f->st.c.capped++;
		log_msg(LOG_INFO,
			"fleet: backend %s cooling %llums: deadline of node "
			"%s%s",
			f->bk[b].name, (unsigned long long)(until - wall_ms),
			best->node, capped ? " (cut at max_wait)" : "");
	}
}

/* Parses a complete answer. Returns 0, or -1 with the error recorded. */
static int fleet_parse(struct fleet *f)
{
	const char *p = f->resp.p ? f->resp.p : "", *nl, *end = p + f->resp.len;
	uint64_t wall_ms = clock_wall_ms();
	bool header = false;
	uint32_t b;

	f->st.last_error[0] = '\0'; /* the answer's own errors are kept */
	for (b = 0; b < f->n_bk; b++)
		f->bk[b].table = f->bk[b].reset_table = 0;
	for (b = 0; b < f->n_ents; b++)
		f->ents[b].seen = false;
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (nl - p >= 2 && p[0] == '0' && p[1] == 'x')
			fleet_row(f, p, (size_t)(nl - p), wall_ms);
		else if (nl - p >= 9 && memcmp(p, "# table: ", 9) == 0)
			header = true;
		else if (nl > p && !header && p[0] != '\n')
			/* "set table" says nothing when it works */
			fleet_error(f, "HAProxy: %.*s",
				    (int)(nl - p > 100 ? 100 : nl - p), p);
	}
	if (!header) {
		if (!f->st.last_error[0])
			fleet_error(f, "no table %s in HAProxy's answer",
				    f->cfg.table);
		return -1;
	}
	fleet_compact(f);
	return 0;
}

/* The deadlines handed to HAProxy on the response path, against a read
 * started long enough after: written (counted; a later loss is repaired
 * as one), or missed and left to the runtime API (fleet_run()). Two
 * misses in a row of a later deadline than the table's set
 * st.resp_missing: the rules are probably not there.
 */
static void fleet_resp_check(struct fleet *f)
{
	struct fleet_bk *k;
	uint32_t b;

	for (b = 0; b < f->n_bk; b++) {
		k = &f->bk[b];
		if (!k->resp_wait ||
		    f->req_ms < k->resp_ms + FLEET_RESP_MARGIN_MS)
			continue;
		k->resp_wait = false;
		if (k->table == k->resp_val) {
			f->st.c.resp_writes++;
			k->written = k->resp_val;
			f->resp_misses = 0;
			continue;
		}
		f->st.c.resp_missed++;
		/* a higher value in the table: HAProxy's guard kept it
		 * (an older deadline before a reset), not a missing rule
		 */
		if (k->table > k->resp_val ||
		    ++f->resp_misses < FLEET_RESP_MISSES || f->st.resp_missing)
			continue;
		f->st.resp_missing = true;
		log_msg(LOG_WARNING,
			"fleet: HAProxy did not write %s from aoai-result's "
			"answer, %u deadlines in a row (haproxy.cfg without "
			"the response-path rules of haproxy-config?): each "
			"deadline is also written over the runtime API at "
			"once from now on",
			k->key, f->resp_misses);
	}
}

static void fleet_poll_done(struct fleet *f, bool ok)
{
	uint64_t wall_ms;
	uint32_t b;

	clock_update();
	if (!ok || fleet_parse(f) < 0) {
		f->st.c.poll_errors++;
		f->st.up = false;
		return;
	}
	f->grace_until = 0;
	if (!f->st.up)
		log_msg(LOG_NOTICE, "fleet: link up (table %s, node %s)",
			f->cfg.table, f->cfg.node);
	f->st.up = true;
	f->st.c.polls++;
	f->st.last_poll_ms = clock_now.ms;
	fleet_resp_check(f);
	wall_ms = clock_wall_ms();
	for (b = 0; b < f->n_bk; b++) {
		fleet_apply_resets(f, (int)b, clock_now.ms);
		fleet_apply_deadlines(f, (int)b, clock_now.ms, wall_ms);
	}
}

/* ------------------------------------------------------------------ */
/* the request path                                                   */

/* The slot of argument key <key>: the one after the last found first
 * (HAProxy sends the arguments in the same order every time), else a
 * search, else a new slot. NULL when the slots are taken or <key> is not
 * "<backend>@<node>".
 */
static struct fleet_fast *fleet_fast_slot(struct fleet *f, const char *key,
					  size_t len)
{
	struct fleet_fast *x;
	const char *at;
	uint32_t i;

	for (i = 0; i < f->n_fast; i++) {
		x = &f->fast[(f->fast_next + i) % f->n_fast];
		if (x->len == len && memcmp(x->key, key, len) == 0) {
			f->fast_next = (uint32_t)(x - f->fast + 1) % f->n_fast;
			return x;
		}
	}
	at = len ? memrchr(key, '@', len) : NULL;
	if (!at || at == key || at == key + len - 1 ||
	    len > CFG_FLEET_KEY_MAX || f->n_fast >= FLEET_FAST_MAX) {
		f->st.c.dropped++;
		return NULL;
	}
	x = &f->fast[f->n_fast++];
	memset(x, 0, sizeof(*x));
	memcpy(x->key, key, len);
	x->len = (uint8_t)len;
	x->node_off = (uint8_t)(at + 1 - key);
	x->b = route_backend_index(f->route, key, (size_t)(at - key));
	if (x->b >= 0 && (uint32_t)x->b >= f->n_bk)
		x->b = -1;
	x->own = strcmp(x->key + x->node_off, f->cfg.node) == 0;
	if (x->b < 0)
		f->st.c.dropped++;
	return x;
}

void fleet_arg(struct fleet *f, const char *key, size_t len, uint64_t val)
{
	struct fleet_fast *x;
	char why[ROUTE_WHY_MAX];
	uint64_t wall_ms, u, now_ms = clock_now.ms;
	bool cut;

	if (!f || f->stopping)
		return;
	if (val > UINT32_MAX)
		val = 0; /* not a deadline HAProxy's gpt0 can hold */
	x = fleet_fast_slot(f, key, len);
	if (!x || x->val == (uint32_t)val)
		return;
	/* a change: rare, once per deadline and node */
	wall_ms = clock_wall_ms();
	x->val = (uint32_t)val;
	x->first_wall_ms = wall_ms;
	if (x->own || x->b < 0 || !val ||
	    !fleet_acked(f, x->b, x->key + x->node_off))
		return;
	u = val * 1000;
	/* a skewed clock or a rogue value holds max_wait at most */
	cut = u > wall_ms + f->cfg.max_wait_ms;
	if (cut)
		u = wall_ms + f->cfg.max_wait_ms;
	if (u <= wall_ms)
		return;
	snprintf(why, sizeof(why), "fleet: throttled at %.32s%s",
		 x->key + x->node_off, cut ? ", capped" : "");
	if (route_fleet(f->route, x->b, now_ms + (u - wall_ms), why, now_ms) !=
	    1)
		return;
	f->st.c.applied++;
	f->st.c.fast++;
	if (cut)
		f->st.c.capped++;
	log_msg(LOG_INFO,
		"fleet: backend %s cooling %llums: deadline of node %s (from "
		"aoai-route)%s",
		f->bk[x->b].name, (unsigned long long)(u - wall_ms),
		x->key + x->node_off, cut ? " (cut at max_wait)" : "");
}

/* ------------------------------------------------------------------ */
/* I/O                                                                 */

static void fleet_done(struct fleet *f, bool ok)
{
	fleet_close(f);
	fleet_poll_done(f, ok);
	buf_truncate(&f->resp, 0);
	f->resp.overflow = false;
	fleet_run(f);
}

static void fleet_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fleet *f = w->data;
	char buf[16384];
	socklen_t len;
	ssize_t n;
	int err = 0;

	(void)revents;
	if (f->state == FLEET_CONNECTING) {
		len = sizeof(err);
		if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			fleet_error(f, "connect: %s", strerror(err));
			fleet_done(f, false);
			return;
		}
		fleet_set_state(f, FLEET_SENDING);
	}
	if (f->state == FLEET_SENDING) {
		n = send(f->fd, f->cmd + f->cmd_off, f->cmd_len - f->cmd_off,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			fleet_error(f, "send: %s", strerror(errno));
			fleet_done(f, false);
			return;
		}
		f->cmd_off += (size_t)n;
		if (f->cmd_off < f->cmd_len)
			return;
		fleet_set_state(f, FLEET_READING);
		ev_io_stop(loop, &f->io);
		ev_io_set(&f->io, f->fd, EV_READ);
		ev_io_start(loop, &f->io);
		return;
	}
	n = read(f->fd, buf, sizeof(buf));
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		fleet_error(f, "read: %s", strerror(errno));
		fleet_done(f, false);
		return;
	}
	if (n == 0) {
		fleet_done(f, true);
		return;
	}
	if (buf_add(&f->resp, buf, (size_t)n) < 0) {
		fleet_error(f, "answer larger than %u bytes", FLEET_RESP_MAX);
		fleet_done(f, false);
	}
}

static void fleet_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fleet *f = w->data;

	(void)loop;
	(void)revents;
	fleet_error(f, "no complete answer within %.1fs", FLEET_TIMEOUT_MIN);
	fleet_done(f, false);
}

/* Starts one request: connect, send <f->cmd>, read until closed. */
static void fleet_request(struct fleet *f)
{
	char err[SOCK_ERR_MAX];

	f->cmd_off = 0;
	f->req_ms = clock_now.ms;
	f->fd = sock_connect(&f->sock, err, sizeof(err));
	fleet_set_state(f, FLEET_CONNECTING);
	if (f->fd < 0) {
		fleet_error(f, "%s", err);
		fleet_done(f, false);
		return;
	}
	ev_io_set(&f->io, f->fd, EV_WRITE);
	ev_io_start(f->loop, &f->io);
	ev_timer_set(&f->timeout, FLEET_TIMEOUT_MIN, 0.);
	ev_timer_start(f->loop, &f->timeout);
}

/* Appends "set table T key K data.gpt0 V;" to the command. */
static void fleet_cmd_set(struct fleet *f, const char *name, char sep,
			  uint32_t val)
{
	int n = snprintf(f->cmd + f->cmd_len, sizeof(f->cmd) - f->cmd_len,
			 "set table %s key %s%c%s data.gpt0 %u;", f->cfg.table,
			 name, sep, f->cfg.node, val);

	if (n > 0 && (size_t)n < sizeof(f->cmd) - f->cmd_len)
		f->cmd_len += (size_t)n;
}

/* Publishes the engine's own cooldown of <k> ending at <until_ms>
 * (monotonic, after clock_now.ms), <wall_ms> being now: a new one moves
 * k->want to its end rounded up to the second, never back. Returns true
 * when k->want moved.
 */
static bool fleet_own(struct fleet_bk *k, uint64_t until_ms, uint64_t wall_ms)
{
	uint64_t s;

	/* the same cooldown is not rounded again (from another clock
	 * reading it could land a second later)
	 */
	if (until_ms == k->own_ms)
		return false;
	k->own_ms = until_ms;
	s = (wall_ms + (until_ms - clock_now.ms) + 999) / 1000;
	if (s > UINT32_MAX)
		s = UINT32_MAX;
	if (s <= k->want)
		return false;
	k->want = (uint32_t)s;
	return true;
}

/* Learns this node's own cooldowns from the engine: a cooling state the
 * breaker set (a throttle seen here) is published; the fleet's own
 * cooldowns are not echoed. The result path (fleet_result()) has usually
 * done it already.
 */
static void fleet_learn_local(struct fleet *f, uint64_t wall_ms)
{
	uint64_t u;
	uint32_t b;

	for (b = 0; b < f->n_bk; b++) {
		u = route_own_cooldown(f->route, (int)b, clock_now.ms);
		if (u)
			fleet_own(&f->bk[b], u, wall_ms);
	}
}

/* Starts the next request when idle: due writes first (a new local
 * deadline, a reset, a key the table lost), then the read.
 */
static void fleet_run(struct fleet *f)
{
	uint64_t wall_ms, now_s;
	uint32_t b, writes = 0;

	if (f->state != FLEET_IDLE || f->stopping)
		return;
	clock_update();
	wall_ms = clock_wall_ms();
	now_s = wall_ms / 1000;
	fleet_learn_local(f, wall_ms);
	f->cmd_len = 0;
	for (b = 0; b < f->n_bk && writes < FLEET_WRITES_MAX; b++) {
		struct fleet_bk *k = &f->bk[b];

		/* HAProxy writes it with the response: a read tells */
		bool resp = k->resp_wait && k->resp_val == k->want &&
			    !f->st.resp_missing;

		if (!resp && k->want != k->table &&
		    (k->want > now_s || k->table > now_s)) {
			/* written before and gone: HAProxy restarted or
			 * reloaded, or the entry expired
			 */
			if (k->written == k->want && k->want > now_s)
				f->st.c.repairs++;
			fleet_cmd_set(f, k->name, '@', k->want);
			k->table = k->written = k->want;
			writes++;
		}
		if (k->reset_want && k->reset_want != k->reset_table &&
		    writes < FLEET_WRITES_MAX) {
			fleet_cmd_set(f, k->name, '!', k->reset_want);
			k->reset_table = k->reset_want;
			writes++;
		}
	}
	if (!writes && !f->poll_due)
		return;
	f->st.c.writes += writes;
	f->poll_due = false;
	f->cmd_len += (size_t)snprintf(f->cmd + f->cmd_len,
				       sizeof(f->cmd) - f->cmd_len,
				       "show table %s\n", f->cfg.table);
	fleet_request(f);
}

static void fleet_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fleet *f = w->data;

	(void)loop;
	(void)revents;
	f->poll_due = true;
	fleet_run(f);
}

static void fleet_kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	fleet_run(w->data);
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                           */

int fleet_start(struct fleet **fp, struct ev_loop *loop,
		struct route_engine *route, const struct cfg *cfg)
{
	uint32_t n = route_backend_count(route), b;
	struct fleet *f;

	if (!cfg->fleet.enabled || !cfg->haproxy.enabled || *fp)
		return 0;
	f = calloc(1, sizeof(*f));
	if (f) {
		f->bk = calloc(n ? n : 1, sizeof(*f->bk));
		f->ents = calloc(FLEET_ENTS_MAX, sizeof(*f->ents));
		f->fast = calloc(FLEET_FAST_MAX, sizeof(*f->fast));
	}
	if (!f || !f->bk || !f->ents || !f->fast) {
		if (f) {
			free(f->bk);
			free(f->ents);
			free(f->fast);
		}
		free(f);
		log_msg(LOG_ERR, "fleet: out of memory");
		return -1;
	}
	f->loop = loop;
	f->route = route;
	f->cfg = cfg->fleet;
	f->sock = cfg->haproxy.stats_socket;
	f->fd = -1;
	f->n_bk = n;
	for (b = 0; b < n; b++) {
		struct fleet_bk *k = &f->bk[b];
		int l;

		snprintf(k->name, sizeof(k->name), "%s",
			 route_backend_name(route, (int)b));
		/* cfg.c keeps "<backend>@<node>" within the table's key */
		l = snprintf(k->key, sizeof(k->key), "%s@%s", k->name,
			     f->cfg.node);
		k->key_len = (uint8_t)(l < (int)sizeof(k->key)
					       ? l
					       : (int)sizeof(k->key) - 1);
	}
	f->st.enabled = true;
	f->grace_until = clock_now.ms + FLEET_START_GRACE_MS;
	buf_init(&f->resp, FLEET_RESP_MAX);
	ev_init(&f->io, fleet_io_cb);
	ev_init(&f->timeout, fleet_timeout_cb);
	ev_init(&f->poll_timer, fleet_poll_cb);
	ev_init(&f->kick, fleet_kick_cb);
	f->io.data = f->timeout.data = f->poll_timer.data = f->kick.data = f;
	f->poll_timer.repeat = f->cfg.poll_interval_ms / 1000.0;
	ev_timer_again(loop, &f->poll_timer);
	f->poll_due = true;
	fleet_wake(f);
	*fp = f;
	log_msg(LOG_INFO,
		"fleet: table %s as node %s, read every %ums, deadlines of "
		"other nodes capped at %ums",
		f->cfg.table, f->cfg.node, f->cfg.poll_interval_ms,
		f->cfg.max_wait_ms);
	return 0;
}

void fleet_stop(struct fleet **fp)
{
	struct fleet *f = *fp;

	if (!f)
		return;
	fleet_close(f);
	ev_timer_stop(f->loop, &f->poll_timer);
	ev_timer_stop(f->loop, &f->kick);
	buf_free(&f->resp);
	free(f->bk);
	free(f->ents);
	free(f->fast);
	free(f);
	*fp = NULL;
}

void fleet_reload(struct fleet **fp, struct ev_loop *loop,
		  struct route_engine *route, const struct cfg *cfg)
{
	/* indexes follow the new configuration: start again; what the
	 * table holds is read back at once
	 */
	fleet_stop(fp);
	fleet_start(fp, loop, route, cfg);
}

void fleet_quiesce(struct fleet *f)
{
	if (f)
		f->stopping = true;
}

void fleet_note(struct fleet *f, int b, enum route_state to)
{
	if (!f || b < 0 || (uint32_t)b >= f->n_bk || to != ROUTE_ST_COOLING)
		return;
	fleet_wake(f);
}

bool fleet_result(struct fleet *f, int b, const char **key, size_t *len,
		  uint32_t *until)
{
	struct fleet_bk *k;
	uint64_t u;

	if (!f || f->stopping || b < 0 || (uint32_t)b >= f->n_bk)
		return false;
	u = route_own_cooldown(f->route, b, clock_now.ms);
	k = &f->bk[b];
	/* most results: no own cooldown, or the one already handed over */
	if (!u || u == k->own_ms || !fleet_own(k, u, clock_wall_ms()))
		return false;
	k->resp_val = k->want;
	k->resp_ms = clock_now.ms;
	/* rules missing: written over the runtime API at once as well, so
	 * a read cannot tell who wrote it
	 */
	k->resp_wait = !f->st.resp_missing;
	if (f->st.resp_missing)
		fleet_wake(f);
	*key = k->key;
	*len = k->key_len;
	*until = k->want;
	return true;
}

void fleet_haproxy_restarted(struct fleet *f)
{
	if (!f)
		return;
	f->resp_misses = 0;
	if (!f->st.resp_missing)
		return;
	f->st.resp_missing = false;
	log_msg(LOG_NOTICE, "fleet: HAProxy restarted: deadlines are left to "
			    "its response-path rules again (each written over "
			    "the runtime API if a read shows it did not)");
}

void fleet_reset(struct fleet *f, int b)
{
	struct fleet_bk *k;
	uint32_t now_s = (uint32_t)(clock_wall_ms() / 1000);

	if (!f || b < 0 || (uint32_t)b >= f->n_bk)
		return;
	k = &f->bk[b];
	/* a later reset than any seen, even within the same second */
	k->reset_want = now_s > k->reset_seen ? now_s : k->reset_seen + 1;
	k->reset_seen = k->reset_want;
	fleet_own_forget(k);
	fleet_fast_forget(f, b);
	f->st.c.resets_sent++;
	log_msg(LOG_NOTICE, "fleet: backend %s reset for the whole fleet",
		k->name);
	fleet_wake(f);
}

bool fleet_status(const struct fleet *f, struct fleet_status *out)
{
	memset(out, 0, sizeof(*out));
	if (!f)
		return false;
	*out = f->st;
	return true;
}

void fleet_counters_each(const struct fleet_counters *c,
			 void (*fn)(void *arg, const char *name,
				    const char *help, uint64_t value),
			 void *arg)
{
#define X(name, help) fn(arg, #name, help, c->name);
	FLEET_COUNTERS(X)
#undef X
}

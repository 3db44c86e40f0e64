/* SPDX-License-Identifier: Apache-2.0 */
/* HAProxy runtime API client: polls server state, mirrors open circuits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "clock.h"
#include "hapi-parse.h"
#include "hapi.h"
#include "log.h"
#include "route.h"
#include "secret.h"
#include "sock.h"
#include "text.h"
#include "view.h"

#define HAPI_RESP_MAX	     (8u << 20) /* one answer of HAProxy */
#define HAPI_TIMEOUT_MIN     1.0	/* seconds, per request ... */
#define HAPI_TIMEOUT_MAX     5.0	/* ... poll_interval clamped */
#define HAPI_FAULTS_PER_POLL 100	/* faults fed per server per poll */
#define HAPI_FAIL_OPEN	     3		/* failed polls: forget DOWN */
/* After start, errors are quiet (debug) until the first success or for
 * this long: the agent is started before HAProxy, whose stats socket
 * does not exist yet.
 */
#define HAPI_START_GRACE_MS 30000

/* srv_admin_state bits (HAProxy 2.6 include/haproxy/server-t.h). */
#define HAPI_ADMF_FMAINT 0x01 /* forced (CLI) maintenance */
#define HAPI_ADMF_IMAINT 0x02 /* inherited (track) maintenance */
#define HAPI_ADMF_CMAINT 0x04 /* "disabled" in the configuration */
#define HAPI_ADMF_FDRAIN 0x08 /* forced (CLI) drain */
#define HAPI_ADMF_RMAINT 0x20 /* DNS resolution failed */
#define HAPI_ADMF_HMAINT 0x40 /* "set server addr" maintenance */
#define HAPI_ADMF_MAINT                                                        \
	(HAPI_ADMF_FMAINT | HAPI_ADMF_IMAINT | HAPI_ADMF_CMAINT |              \
	 HAPI_ADMF_RMAINT | HAPI_ADMF_HMAINT)
#define HAPI_OP_STOPPED	 0	     /* srv_op_state: DOWN */
#define HAPI_MAP_CMD_MAX (64u << 10) /* one "set map" line with its token */

/* What the link knows of one HAProxy server, by agent backend index. */
struct hapi_srv {
	char name[CFG_NAME_MAX]; /* agent backend = HAProxy server name */
	bool seen;		 /* in HAProxy's last answer */
	bool base;		 /* counters below are a baseline */
	uint64_t econ;		 /* HAProxy's counters at the last poll */
	uint64_t eresp;
	uint64_t wretr;
	uint64_t wredis;
	uint64_t faults;       /* fed to the breaker by the link */
	int op_state;	       /* srv_op_state, -1 unknown */
	int admin;	       /* srv_admin_state, -1 unknown */
	char status[24];       /* "show stat" status column */
	bool down;	       /* the link marked it down in the engine */
	bool want_drain;       /* mirror: the breaker wants DRAIN */
	int applied;	       /* mirror: -1 unknown, 0 ready, 1 drain */
	bool dirty;	       /* mirror: a "set server" is due */
	bool held;	       /* mirror: drain withheld, last usable server */
	bool map_due;	       /* a "set map" of its token is due */
	struct log_rl rl_down; /* "unavailable" / "available again" lines */
	struct log_rl rl_set;  /* mirror's "set server" lines */
};

enum hapi_state {
	HAPI_IDLE,	 /* no request */
	HAPI_CONNECTING, /* non-blocking connect in progress */
	HAPI_SENDING,	 /* writing the command line */
	HAPI_READING,	 /* reading until HAProxy closes */
};

enum hapi_kind {
	HAPI_POLL, /* show info; show servers state; show stat */
	HAPI_SET,  /* set server B/S state drain|ready */
	HAPI_MAP,  /* set map MAP KEY TOKEN (Entra ID token delivery) */
};

struct hapi {
	struct ev_loop *loop;
	struct route_engine *route; /* fed and asked; not owned */
	bool stopping;		    /* the agent drains: no new request */
	struct cfg_haproxy cfg;	    /* copy of the block in force */
	struct hapi_srv *srv;	    /* by engine backend index; owned */
	uint32_t n_srv;
	enum hapi_state state;
	enum hapi_kind kind;
	int fd;
	ev_io io;
	ev_timer timeout;    /* the request in flight */
	ev_timer poll_timer; /* every poll_interval */
	ev_timer kick;	     /* zero delay: start work outside the hook */
	bool poll_due;
	char set_name[CFG_NAME_MAX]; /* HAPI_SET: server */
	bool set_drain;		     /* HAPI_SET: drain, else ready */
	uint32_t rr;		     /* next server to look at for sets */
	char cmd[2 * CFG_NAME_MAX + 96];
	const char *wbuf;	   /* what is being sent: cmd or map_cmd.p */
	struct sec_buf map_cmd;	   /* HAPI_MAP: the line, wiped after */
	bool map_hold;		   /* a set map failed: none before next poll */
	hapi_map_line_fn map_line; /* builds a set map line */
	hapi_map_done_fn map_done; /* told its outcome */
	void *map_arg;		   /* their argument */
	hapi_restart_fn restart;   /* told of a new HAProxy process */
	void *restart_arg;	   /* its argument */
	size_t cmd_len;
	size_t cmd_off;
	struct buf resp;
	uint32_t fails; /* consecutive failed polls */
	long long pid;	/* HAProxy's Pid: a change is a restart */
	struct hapi_status st;
	struct log_rl rl;
	uint64_t grace_until; /* ms: errors before this are quiet; 0 after
			       * the first success
			       */
};

static const char *hapi_state_str(enum hapi_state st)
{
	switch (st) {
	case HAPI_IDLE:
		return "IDLE";
	case HAPI_CONNECTING:
		return "CONNECTING";
	case HAPI_SENDING:
		return "SENDING";
	case HAPI_READING:
		return "READING";
	}
	return "?";
}

/* True when the HAProxy server of a backend in <st> should be drained:
 * every state but closed. A drained server still takes the agent's
 * use-server choice (HAProxy skips only a stopped one), so the half-open
 * probe reaches it; but each L7 retry redispatches (redispatch 1) and the
 * balancer skips drained servers, falling back to the backup tier when no
 * active one is left. Readying a half-open server instead made it the
 * retries' only active target: a failed probe came back to the client
 * as the region's 500 (50 of 50 trials in tests/e2e/test_probe.py).
 */
static bool hapi_wants_drain(enum route_state st)
{
	return st != ROUTE_ST_CLOSED;
}

/* Every state change of the link goes through here. */
static void hapi_set_state(struct hapi *h, enum hapi_state st)
{
	if (h->state != st && log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "haproxy link: %s -> %s",
			hapi_state_str(h->state), hapi_state_str(st));
	h->state = st;
}

static void hapi_run(struct hapi *h);
static void hapi_request(struct hapi *h, enum hapi_kind kind);

static double hapi_timeout(const struct hapi *h)
{
	double t = h->cfg.poll_interval_ms / 1000.0;

	return t < HAPI_TIMEOUT_MIN   ? HAPI_TIMEOUT_MIN
	       : t > HAPI_TIMEOUT_MAX ? HAPI_TIMEOUT_MAX
				      : t;
}

static void hapi_error(struct hapi *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Records (and logs, rate-limited) why the request failed. */
static void hapi_error(struct hapi *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->st.last_error, sizeof(h->st.last_error), fmt, ap);
	va_end(ap);
	if (clock_now.ms < h->grace_until)
		log_msg(LOG_DEBUG, "haproxy: %s (not up yet since start)",
			h->st.last_error);
	else
		log_rl(&h->rl, clock_now.ms, LOG_WARNING, "haproxy: %s",
		       h->st.last_error);
}

/* Marks backend <b> down or up in the engine, once per change, logged. */
static void hapi_set_down(struct hapi *h, uint32_t b, bool down,
			  const char *why)
{
	struct hapi_srv *s = &h->srv[b];

	if (s->down == down)
		return;
	s->down = down;
	route_set_down(h->route, (int)b, down);
	/* a flapping server: the first lines, then a count per window */
	log_rl(&s->rl_down, clock_now.ms, down ? LOG_WARNING : LOG_NOTICE,
	       "haproxy: backend %s %s: %s", s->name,
	       down ? "unavailable" : "available again", why);
}

/* Clears every down flag the link set (fail open). */
static void hapi_forget(struct hapi *h, const char *why)
{
	uint32_t b;

	for (b = 0; b < h->n_srv; b++) {
		hapi_set_down(h, b, false, why);
		h->srv[b].seen = false;
		h->srv[b].applied = -1;
	}
}

/* Ends the request in flight (if any): closes the socket. */
static void hapi_close(struct hapi *h)
{
	struct ev_loop *loop = h->loop;

	ev_io_stop(loop, &h->io);
	ev_timer_stop(loop, &h->timeout);
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	hapi_set_state(h, HAPI_IDLE);
}

/* ------------------------------------------------------------------ */
/* parsing HAProxy's answers                                          */

/* A "show servers state" row: op and admin state of a known server. */
static void hapi_on_state(void *arg, const struct hapi_row_state *row)
{
	struct hapi *h = arg;
	int b = route_backend_index(h->route, row->name, strlen(row->name));

	if (b < 0 || (uint32_t)b >= h->n_srv)
		return;
	h->srv[b].seen = true;
	h->srv[b].op_state = row->op_state;
	h->srv[b].admin = row->admin;
}

/* A "show stat" row: the new connection and response errors of a known
 * server are fed to its breaker as faults.
 */
static void hapi_on_stat(void *arg, const struct hapi_row_stat *row)
{
	struct hapi *h = arg;
	int b = route_backend_index(h->route, row->name, strlen(row->name));
	struct hapi_srv *s;
	uint64_t n = 0, k;

	if (b < 0 || (uint32_t)b >= h->n_srv)
		return;
	s = &h->srv[b];
	snprintf(s->status, sizeof(s->status), "%s", row->status);
	/* a retry or a redispatch follows a connection error already
	 * counted in econ, or is a layer-7 retry of a throttle: wretr and
	 * wredis are shown, not fed
	 */
	if (s->base && row->econ >= s->econ && row->eresp >= s->eresp)
		n = row->econ - s->econ + (row->eresp - s->eresp);
	s->econ = row->econ;
	s->eresp = row->eresp;
	s->wretr = row->wretr;
	s->wredis = row->wredis;
	s->base = true;
	if (n > HAPI_FAULTS_PER_POLL)
		n = HAPI_FAULTS_PER_POLL;
	if (n)
		log_msg(LOG_INFO,
			"haproxy: backend %s: %llu connection or "
			"response errors",
			s->name, (unsigned long long)n);
	for (k = 0; k < n; k++)
		route_fault(h->route, b, clock_now.ms);
	s->faults += n;
	h->st.faults += n;
}

/* Applies one good poll: availability, and what the mirror must fix. */
static void hapi_apply(struct hapi *h)
{
	struct route_backend_info bi;
	char why[64];
	uint32_t b;

	for (b = 0; b < h->n_srv; b++) {
		struct hapi_srv *s = &h->srv[b];
		bool maint, down;

		if (!s->seen) {
			hapi_set_down(h, b, false,
				      "not a server of the HAProxy backend");
			s->applied = -1;
			continue;
		}
		maint = s->admin >= 0 && (s->admin & HAPI_ADMF_MAINT);
		down = s->op_state == HAPI_OP_STOPPED;
		snprintf(why, sizeof(why), "HAProxy says %s", s->status);
		hapi_set_down(h, b, maint || down, why);
		if (!h->cfg.mirror)
			continue;
		if (route_backend_info(h->route, (int)b, clock_now.ms, &bi) ==
		    0)
			s->want_drain = hapi_wants_drain(bi.state);
		if (maint) {
			/* "state drain" or "ready" would lift MAINT: an
			 * operator's MAINT is never touched
			 */
			s->applied = -1;
			s->dirty = false;
			continue;
		}
		if (!s->dirty)
			s->applied = s->admin & HAPI_ADMF_FDRAIN ? 1 : 0;
		if (s->applied != (int)s->want_drain)
			s->dirty = true;
	}
}

static void hapi_poll_done(struct hapi *h, bool ok)
{
	char *p = h->resp.p, err[sizeof(h->st.last_error)] = "";
	long long pid;
	uint32_t b;

	clock_update();
	if (ok) {
		for (b = 0; b < h->n_srv; b++)
			h->srv[b].seen = false;
		ok = p && hapi_parse_info(&p, &pid, err, sizeof(err)) == 0;
		if (ok && pid != h->pid) {
			if (h->pid >= 0)
				log_msg(LOG_NOTICE,
					"haproxy: process %lld replaced %lld "
					"(reload): counters restart",
					pid, h->pid);
			for (b = 0; b < h->n_srv; b++)
				h->srv[b].base = false;
			if (h->pid >= 0 && h->restart)
				h->restart(h->restart_arg);
			h->pid = pid;
		}
		ok = ok &&
		     hapi_parse_state(&p, h->cfg.backend, hapi_on_state, h, err,
				      sizeof(err)) == 0 &&
		     hapi_parse_stat(&p, h->cfg.backend, hapi_on_stat, h, err,
				     sizeof(err)) == 0;
		if (!ok && err[0])
			hapi_error(h, "%s", err);
	}
	if (!ok) {
		h->st.poll_errors++;
		h->st.up = false;
		if (++h->fails == HAPI_FAIL_OPEN)
			hapi_forget(h,
				    "HAProxy's stats socket does not answer");
		return;
	}
	h->grace_until = 0;
	if (!h->st.up)
		log_msg(LOG_NOTICE, "haproxy: link up (%s, backend %s)",
			h->cfg.stats_socket.kind == CFG_ADDR_UNIX
				? h->cfg.stats_socket.path
				: h->cfg.stats_socket.host,
			h->cfg.backend);
	h->fails = 0;
	h->st.up = true;
	h->st.polls++;
	h->st.last_poll_ms = clock_now.ms;
	h->st.last_error[0] = '\0';
	hapi_apply(h);
}

static void hapi_set_done(struct hapi *h, bool ok)
{
	int b = route_backend_index(h->route, h->set_name, strlen(h->set_name));
	const char *p = h->resp.p ? h->resp.p : "";

	/* success is an empty answer */
	while (ok && (*p == '\n' || *p == '\r' || *p == ' '))
		p++;
	if (ok && *p) {
		hapi_error(h, "set server %s/%s state %s: %.80s",
			   h->cfg.backend, h->set_name,
			   h->set_drain ? "drain" : "ready", p);
		ok = false;
	}
	if (!ok) {
		h->st.set_errors++;
		if (b >= 0 && (uint32_t)b < h->n_srv)
			h->srv[b].applied = -1; /* the next poll decides */
		return;
	}
	h->st.sets++;
	if (b >= 0 && (uint32_t)b < h->n_srv)
		h->srv[b].applied = h->set_drain ? 1 : 0;
}

/* A "set map" is over: HAProxy answers an empty line when it took it.
 * A failed one is due again after the next poll (not at once: HAProxy
 * may be down), and the owner is told either way.
 */
static void hapi_map_done(struct hapi *h, bool ok)
{
	int b = route_backend_index(h->route, h->set_name, strlen(h->set_name));
	const char *p = h->resp.p ? h->resp.p : "";

	while (ok && (*p == '\n' || *p == '\r' || *p == ' '))
		p++;
	if (ok && *p) {
		/* HAProxy's map errors do not echo the value; the key and
		 * the first words of the answer are safe to log
		 */
		hapi_error(h, "set map of %s refused: %.60s", h->set_name, p);
		ok = false;
	}
	if (!ok) {
		h->st.map_errors++;
		h->map_hold = true;
		if (b >= 0 && (uint32_t)b < h->n_srv)
			h->srv[b].map_due = true;
	} else {
		h->st.maps++;
	}
	if (h->map_done)
		h->map_done(h->map_arg, h->set_name, ok);
}

/* Starts the "set map" of the first backend due, built now with its
 * current token. Returns true when a request started.
 */
static bool hapi_run_map(struct hapi *h)
{
	uint32_t b;

	if (!h->map_line || h->map_hold || !h->map_cmd.p)
		return false;
	for (b = 0; b < h->n_srv; b++) {
		if (!h->srv[b].map_due)
			continue;
		h->srv[b].map_due = false;
		sec_buf_clear(&h->map_cmd);
		if (h->map_line(h->map_arg, h->srv[b].name, &h->map_cmd) < 0)
			continue;
		snprintf(h->set_name, sizeof(h->set_name), "%s",
			 h->srv[b].name);
		h->cmd_len = h->map_cmd.len;
		log_msg(LOG_INFO, "haproxy: set map of %s's token",
			h->srv[b].name);
		hapi_request(h, HAPI_MAP);
		return true;
	}
	return false;
}

/* The request in flight is over (HAProxy closed, or it failed). */
static void hapi_done(struct hapi *h, bool ok)
{
	hapi_close(h);
	sec_buf_clear(&h->map_cmd);
	if (h->kind == HAPI_POLL)
		hapi_poll_done(h, ok);
	else if (h->kind == HAPI_MAP)
		hapi_map_done(h, ok);
	else
		hapi_set_done(h, ok);
	buf_free(&h->resp);
	hapi_run(h);
}

/* ------------------------------------------------------------------ */
/* I/O                                                                 */

static void hapi_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hapi *h = w->data;
	char buf[16384];
	socklen_t len;
	ssize_t n;
	int err = 0;

	(void)revents;
	if (h->state == HAPI_CONNECTING) {
		len = sizeof(err);
		if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			hapi_error(h, "connect: %s", strerror(err));
			hapi_done(h, false);
			return;
		}
		hapi_set_state(h, HAPI_SENDING);
	}
	if (h->state == HAPI_SENDING) {
		n = send(h->fd, h->wbuf + h->cmd_off, h->cmd_len - h->cmd_off,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			hapi_error(h, "send: %s", strerror(errno));
			hapi_done(h, false);
			return;
		}
		h->cmd_off += (size_t)n;
		if (h->cmd_off < h->cmd_len)
			return;
		sec_buf_clear(&h->map_cmd); /* the token is HAProxy's now */
		hapi_set_state(h, HAPI_READING);
		ev_io_stop(loop, &h->io);
		ev_io_set(&h->io, h->fd, EV_READ);
		ev_io_start(loop, &h->io);
		return;
	}
	n = read(h->fd, buf, sizeof(buf));
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		hapi_error(h, "read: %s", strerror(errno));
		hapi_done(h, false);
		return;
	}
	if (n == 0) {
		hapi_done(h, true);
		return;
	}
	if (buf_add(&h->resp, buf, (size_t)n) < 0) {
		hapi_error(h, "answer larger than %u bytes", HAPI_RESP_MAX);
		hapi_done(h, false);
	}
}

static void hapi_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hapi *h = w->data;

	(void)loop;
	(void)revents;
	hapi_error(h, "%s: no complete answer within %.1fs",
		   h->kind == HAPI_POLL	 ? "poll"
		   : h->kind == HAPI_MAP ? "set map"
					 : "set server",
		   hapi_timeout(h));
	hapi_done(h, false);
}

/* Starts one request: connect, send <h->cmd>, read until closed. */
static void hapi_request(struct hapi *h, enum hapi_kind kind)
{
	struct ev_loop *loop = h->loop;
	char err[SOCK_ERR_MAX];

	h->kind = kind;
	h->cmd_off = 0;
	h->wbuf = kind == HAPI_MAP ? h->map_cmd.p : h->cmd;
	buf_init(&h->resp, HAPI_RESP_MAX);
	h->fd = sock_connect(&h->cfg.stats_socket, err, sizeof(err));
	if (h->fd < 0) {
		hapi_set_state(h, HAPI_CONNECTING); /* so hapi_done() ends it */
		hapi_error(h, "%s", err);
		hapi_done(h, false);
		return;
	}
	hapi_set_state(h, HAPI_CONNECTING);
	ev_io_set(&h->io, h->fd, EV_WRITE);
	ev_io_start(loop, &h->io);
	ev_timer_set(&h->timeout, hapi_timeout(h), 0.);
	ev_timer_start(loop, &h->timeout);
}

/* True when HAProxy could still send a request to a server of the backend
 * other than <skip>: seen, not in MAINT, not DOWN, not drained.
 */
static bool hapi_other_usable(const struct hapi *h, uint32_t skip)
{
	uint32_t b;

	for (b = 0; b < h->n_srv; b++) {
		const struct hapi_srv *s = &h->srv[b];

		if (b == skip || !s->seen || s->applied == 1 ||
		    s->op_state == HAPI_OP_STOPPED ||
		    (s->admin >= 0 && (s->admin & HAPI_ADMF_MAINT)))
			continue;
		return true;
	}
	return false;
}

/* Starts the next piece of work when idle: a due "set server" first (in
 * round-robin order), then a due poll.
 */
static void hapi_run(struct hapi *h)
{
	uint32_t i, b;

	if (h->state != HAPI_IDLE || h->stopping)
		return;
	/* tokens first: a backend waits for its token to take traffic */
	if (hapi_run_map(h))
		return;
	for (i = 0; h->cfg.mirror && i < h->n_srv; i++) {
		struct hapi_srv *s;

		b = (h->rr + i) % h->n_srv;
		s = &h->srv[b];
		if (!s->dirty)
			continue;
		s->dirty = false;
		/* one change per transition: nothing when HAProxy has it */
		if (!s->seen || s->applied == (int)s->want_drain ||
		    (s->admin >= 0 && (s->admin & HAPI_ADMF_MAINT)))
			continue;
		/* HAProxy 2.6 closes the client connection without a
		 * response when a retry finds no usable server: the last
		 * one stays ready and answers (a 429 reaches the client with
		 * the region's Retry-After). Reconsidered at every poll.
		 */
		if (s->want_drain && !hapi_other_usable(h, b)) {
			if (!s->held)
				log_msg(LOG_NOTICE,
					"haproxy: %s/%s stays ready: it is the "
					"last server HAProxy could use",
					h->cfg.backend, s->name);
			s->held = true;
			continue;
		}
		s->held = false;
		h->rr = b + 1;
		snprintf(h->set_name, sizeof(h->set_name), "%s", s->name);
		h->set_drain = s->want_drain;
		h->cmd_len = (size_t)snprintf(
			h->cmd, sizeof(h->cmd), "set server %s/%s state %s\n",
			h->cfg.backend, s->name,
			s->want_drain ? "drain" : "ready");
		log_rl(&s->rl_set, clock_now.ms, LOG_NOTICE,
		       "haproxy: set server %s/%s state %s (%s)",
		       h->cfg.backend, s->name,
		       s->want_drain ? "drain" : "ready",
		       s->want_drain ? "circuit not closed" : "circuit closed");
		hapi_request(h, HAPI_SET);
		return;
	}
	if (!h->poll_due)
		return;
	h->poll_due = false;
	h->cmd_len = (size_t)snprintf(h->cmd, sizeof(h->cmd),
				      "show info;show servers state %s;"
				      "show stat %s 4 -1\n",
				      h->cfg.backend, h->cfg.backend);
	hapi_request(h, HAPI_POLL);
}

static void hapi_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hapi *h = w->data;

	(void)loop;
	(void)revents;
	h->poll_due = true;
	h->map_hold = false;
	hapi_run(h);
}

static void hapi_kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	hapi_run(w->data);
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                           */

/* (Re)builds the per-backend table for the engine's backends, carrying
 * what is known by name. Returns 0 or -1 out of memory (table kept).
 */
static int hapi_table(struct hapi *h)
{
	struct route_engine *e = h->route;
	uint32_t n = route_backend_count(e), b;
	struct hapi_srv *t = calloc(n ? n : 1, sizeof(*t));
	int o;

	if (!t)
		return -1;
	for (b = 0; b < n; b++) {
		t[b].op_state = t[b].admin = t[b].applied = -1;
		snprintf(t[b].name, sizeof(t[b].name), "%s",
			 route_backend_name(e, (int)b));
	}
	for (b = 0; b < h->n_srv; b++) {
		o = route_backend_index(e, h->srv[b].name,
					strlen(h->srv[b].name));
		if (o >= 0 && (uint32_t)o < n)
			t[o] = h->srv[b];
	}
	free(h->srv);
	h->srv = t;
	h->n_srv = n;
	if (h->rr >= n)
		h->rr = 0;
	return 0;
}

int hapi_start(struct hapi **hp, struct ev_loop *loop,
	       struct route_engine *route, const struct cfg_haproxy *c)
{
	struct hapi *h;
	char addr[CFG_PATH_MAX + 40];

	if (!c->enabled || *hp)
		return 0;
	h = calloc(1, sizeof(*h));
	if (!h) {
		log_msg(LOG_ERR, "haproxy: out of memory");
		return -1;
	}
	h->loop = loop;
	h->route = route;
	h->cfg = *c;
	h->fd = -1;
	h->pid = -1;
	h->st.enabled = true;
	h->grace_until = clock_now.ms + HAPI_START_GRACE_MS;
	if (hapi_table(h) < 0 ||
	    sec_buf_init(&h->map_cmd, HAPI_MAP_CMD_MAX) < 0) {
		free(h->srv);
		free(h);
		log_msg(LOG_ERR, "haproxy: out of memory");
		return -1;
	}
	ev_init(&h->io, hapi_io_cb);
	ev_init(&h->timeout, hapi_timeout_cb);
	ev_init(&h->poll_timer, hapi_poll_cb);
	ev_init(&h->kick, hapi_kick_cb);
	h->io.data = h->timeout.data = h->poll_timer.data = h->kick.data = h;
	h->poll_timer.repeat = c->poll_interval_ms / 1000.0;
	ev_timer_again(loop, &h->poll_timer);
	h->poll_due = true;
	ev_timer_set(&h->kick, 0., 0.);
	ev_timer_start(loop, &h->kick);
	*hp = h;
	log_msg(LOG_INFO, "haproxy: polling %s, backend %s, every %ums%s",
		cfg_listener_str(&c->stats_socket, addr, sizeof(addr)),
		c->backend, c->poll_interval_ms,
		c->mirror ? ", mirroring open circuits as drain" : "");
	return 0;
}

void hapi_stop(struct hapi **hp)
{
	struct hapi *h = *hp;

	if (!h)
		return;
	hapi_close(h);
	ev_timer_stop(h->loop, &h->poll_timer);
	ev_timer_stop(h->loop, &h->kick);
	buf_free(&h->resp);
	sec_buf_free(&h->map_cmd);
	free(h->srv);
	free(h);
	*hp = NULL;
}

void hapi_quiesce(struct hapi *h)
{
	if (h)
		h->stopping = true;
}

void hapi_reload(struct hapi **hp, struct ev_loop *loop,
		 struct route_engine *route, const struct cfg_haproxy *c)
{
	struct hapi *h = *hp;
	bool moved;

	if (!h) {
		hapi_start(hp, loop, route, c);
		return;
	}
	if (hapi_table(h) < 0) {
		/* indexes no longer match the engine: stop rather than
		 * mark the wrong backends
		 */
		log_msg(LOG_ERR, "haproxy: out of memory; link stopped");
		hapi_stop(hp);
		return;
	}
	if (!c->enabled) {
		hapi_forget(h, "haproxy: link removed from the configuration");
		log_msg(LOG_NOTICE, "haproxy: link stopped");
		hapi_stop(hp);
		return;
	}
	moved = strcmp(c->backend, h->cfg.backend) != 0 ||
		c->stats_socket.kind != h->cfg.stats_socket.kind ||
		strcmp(c->stats_socket.path, h->cfg.stats_socket.path) != 0 ||
		strcmp(c->stats_socket.host, h->cfg.stats_socket.host) != 0 ||
		c->stats_socket.port != h->cfg.stats_socket.port;
	if (moved) {
		/* another HAProxy or backend: nothing known holds */
		hapi_close(h);
		buf_free(&h->resp);
		hapi_forget(h, "haproxy: link moved");
		h->pid = -1;
		h->fails = 0;
		h->st.up = false;
	}
	h->cfg = *c;
	h->poll_timer.repeat = c->poll_interval_ms / 1000.0;
	ev_timer_again(h->loop, &h->poll_timer);
	h->poll_due = true;
	ev_timer_set(&h->kick, 0., 0.);
	ev_timer_start(h->loop, &h->kick);
}

void hapi_mirror(struct hapi *h, int b, enum route_state from,
		 enum route_state to)
{
	struct hapi_srv *s;
	bool want = hapi_wants_drain(to);

	(void)from;
	if (!h || !h->cfg.mirror || b < 0 || (uint32_t)b >= h->n_srv)
		return;
	s = &h->srv[b];
	s->want_drain = want;
	if (s->applied == (int)want && !s->dirty)
		return;
	s->dirty = true;
	if (h->state == HAPI_IDLE && !ev_is_active(&h->kick)) {
		ev_timer_set(&h->kick, 0., 0.);
		ev_timer_start(h->loop, &h->kick);
	}
}

void hapi_map_hooks(struct hapi *h, hapi_map_line_fn line,
		    hapi_map_done_fn done, void *arg)
{
	if (!h)
		return;
	h->map_line = line;
	h->map_done = done;
	h->map_arg = arg;
}

void hapi_restart_hook(struct hapi *h, hapi_restart_fn fn, void *arg)
{
	if (!h)
		return;
	h->restart = fn;
	h->restart_arg = arg;
}

int hapi_set_map(struct hapi *h, const char *name)
{
	int b;

	if (!h)
		return -1;
	b = route_backend_index(h->route, name, strlen(name));
	if (b < 0 || (uint32_t)b >= h->n_srv)
		return -1;
	h->srv[b].map_due = true;
	if (h->state == HAPI_IDLE && !ev_is_active(&h->kick)) {
		ev_timer_set(&h->kick, 0., 0.);
		ev_timer_start(h->loop, &h->kick);
	}
	return 0;
}

bool hapi_status(const struct hapi *h, struct hapi_status *out)
{
	memset(out, 0, sizeof(*out));
	if (!h)
		return false;
	*out = h->st;
	out->mirror = h->cfg.mirror;
	return true;
}

static const char *hapi_applied_str(int v)
{
	return v < 0 ? "unknown" : v ? "drain" : "ready";
}

/* The servers view of "show haproxy": X(type, cell of server <s>, column)
 * as in view-route.c; the text is HAProxy-like fixed columns.
 */
#define HAPI_SRV_COLS(X)                                                       \
	X(STR, s->name, .key = "name", .head = "SERVER", .width = -20)         \
	X(BOOL, s->seen, .key = "seen")                                        \
	X(STR, s->seen ? s->status : "", .key = "status")                      \
	X(STR, s->seen ? s->status : "(absent)", .head = "STATUS",             \
	  .width = -12)                                                        \
	X(INT, s->op_state, .key = "op_state", .head = "OP", .width = -5)      \
	X(INT, s->admin, .key = "admin_state", .head = "ADMIN", .width = -5)   \
	X(U64, s->econ, .key = "econ", .head = "ECON", .width = 8)             \
	X(U64, s->eresp, .key = "eresp", .head = "ERESP", .width = 8)          \
	X(U64, s->wretr, .key = "wretr", .head = "WRETR", .width = 8)          \
	X(U64, s->wredis, .key = "wredis", .head = "WREDIS", .width = 8)       \
	X(U64, s->faults, .key = "faults", .head = "FAULTS", .width = 8)       \
	X(BOOL, s->down, .key = "down", .head = "DOWN", .width = -5)           \
	X(BOOL, s->want_drain, .key = "want_drain")                            \
	X(STR, hapi_applied_str(s->applied), .key = "applied")                 \
	X(STR,                                                                 \
	  !h->cfg.mirror  ? "-"                                                \
	  : s->want_drain ? "want drain"                                       \
			  : "want ready",                                      \
	  .head = "MIRROR")

static const struct view_col hapi_srv_cols[] = {
#define X(t, expr, ...) {.type = VIEW_##t, __VA_ARGS__},
	HAPI_SRV_COLS(X)
#undef X
};

static const struct view hapi_srv_view = {
	.cols = hapi_srv_cols,
	.ncols = sizeof(hapi_srv_cols) / sizeof(hapi_srv_cols[0]),
	.row_label = "server",
	.fixed = true,
};

/* The link's own figures, before its servers. */
static void hapi_show_link(const struct hapi *h, struct buf *o, bool json)
{
	char addr[CFG_PATH_MAX + 40];
	uint64_t age;

	cfg_listener_str(&h->cfg.stats_socket, addr, sizeof(addr));
	age = h->st.last_poll_ms ? clock_now.ms - h->st.last_poll_ms : 0;
	if (json) {
		buf_add(o, "{\"enabled\":true,\"stats_socket\":", 31);
		buf_json_str(o, addr);
		buf_add(o, ",\"backend\":", 11);
		buf_json_str(o, h->cfg.backend);
		buf_printf(o,
			   ",\"up\":%s,\"mirror\":%s,\"poll_interval_ms\":%u,"
			   "\"polls\":%llu,\"poll_errors\":%llu,"
			   "\"sets\":%llu,\"set_errors\":%llu,"
			   "\"faults\":%llu,\"last_poll_age_ms\":",
			   h->st.up ? "true" : "false",
			   h->cfg.mirror ? "true" : "false",
			   h->cfg.poll_interval_ms,
			   (unsigned long long)h->st.polls,
			   (unsigned long long)h->st.poll_errors,
			   (unsigned long long)h->st.sets,
			   (unsigned long long)h->st.set_errors,
			   (unsigned long long)h->st.faults);
		if (h->st.last_poll_ms)
			buf_printf(o, "%llu", (unsigned long long)age);
		else
			buf_add(o, "null", 4);
		buf_add(o, ",\"last_error\":", 14);
		buf_json_str(o, h->st.last_error);
		return;
	}
	buf_printf(o, "link: %s (%s, backend %s), mirror %s, poll every %ums\n",
		   h->st.up ? "up" : "down", addr, h->cfg.backend,
		   h->cfg.mirror ? "on" : "off", h->cfg.poll_interval_ms);
	buf_printf(o,
		   "polls: %llu ok, %llu failed; set server: %llu ok, %llu "
		   "failed; faults fed: %llu\n",
		   (unsigned long long)h->st.polls,
		   (unsigned long long)h->st.poll_errors,
		   (unsigned long long)h->st.sets,
		   (unsigned long long)h->st.set_errors,
		   (unsigned long long)h->st.faults);
	if (h->st.last_poll_ms)
		buf_printf(o, "last good poll: %llu.%03llus ago\n",
			   (unsigned long long)(age / 1000),
			   (unsigned long long)(age % 1000));
	if (h->st.last_error[0])
		buf_printf(o, "last error: %s\n", h->st.last_error);
}

int hapi_show(const struct hapi *h, struct buf *o, bool json)
{
	struct view_rows rows;
	uint32_t b, k;

	if (!h) {
		if (json)
			buf_printf(o, "{\"enabled\":false}\n");
		else
			buf_printf(o, "link: off (no haproxy: block in "
				      "the configuration)\n");
		return o->overflow ? -1 : 0;
	}
	clock_update();
	if (view_rows_init(&rows, &hapi_srv_view, h->n_srv) < 0)
		return -1;
	for (b = 0; b < h->n_srv; b++) {
		const struct hapi_srv *s = &h->srv[b];
		union view_val *cells = view_row(&rows, b);

		k = 0;
#define X(t, expr, ...) cells[k++] = VIEW_VAL_##t(expr);
		HAPI_SRV_COLS(X)
#undef X
	}
	hapi_show_link(h, o, json);
	if (json) {
		buf_add(o, ",\"servers\":", 11);
		view_json(&rows, o);
		buf_add(o, "}\n", 2);
	} else {
		view_text(&rows, o, "", 0);
	}
	view_rows_free(&rows);
	return o->overflow ? -1 : 0;
}

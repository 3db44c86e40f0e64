/* SPDX-License-Identifier: Apache-2.0 */
/* SPOP connections: the state machine of SPOE.txt §3.2 on libev.
 *
 * Each wake-up reads once, handles every complete frame in the buffer, and
 * writes every ACK it produced with one send(). Reading pauses while the
 * write buffer lacks room for one more frame (back-pressure). A connection
 * holds its buffers only while a frame is partial or output is queued: an
 * idle one holds none. They come from the set's pools, so steady traffic
 * allocates nothing; a timer gives unused ones back after a burst.
 */
#include <assert.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "log.h"
#include "pool.h"
#include "spoa.h"
#include "spop.h"
#include "text.h"

/* Output kept per connection: room for many pipelined ACKs, and at least
 * twice the largest frame (see conn_room()).
 */
#define CONN_WBUF_SIZE (32 * 1024)
/* Kept free behind an ACK so an AGENT-DISCONNECT always fits. */
#define CONN_DISCONNECT_RESERVE 128
/* Free buffers: kept at most (per pool), kept at least by the trim, and
 * how often the trim runs while some are free.
 */
#define CONN_POOL_MAX  4096
#define CONN_POOL_KEEP 8
#define CONN_POOL_TRIM 1.0 /* seconds */
/* Descriptors not given to SPOP connections: a quarter of RLIMIT_NOFILE,
 * at most this many.
 */
#define CONN_FD_RESERVE_DIV 4
#define CONN_FD_RESERVE_MAX 256
/* Connections waiting for HELLO read at most, per eviction, before one of
 * them is closed.
 */
#define CONN_EVICT_READS 8
/* A connection without HELLO is not closed for a new one before this (ms):
 * HAProxy sends its HELLO at once, a peer that connected a moment ago may
 * not have yet.
 */
#define CONN_HELLO_GRACE_MS 100

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void conn_flush(struct conn *c);

static const char *conn_state_str(enum conn_state st)
{
	switch (st) {
	case CONN_ST_HELLO:
		return "HELLO";
	case CONN_ST_ACTIVE:
		return "ACTIVE";
	case CONN_ST_CLOSING:
		return "CLOSING";
	case CONN_ST_CLOSED:
		return "CLOSED";
	}
	return "?";
}

/* True for the transitions of SPOE.txt §3.2.3's workflow: forward only. */
static bool conn_transition_ok(enum conn_state from, enum conn_state to)
{
	switch (from) {
	case CONN_ST_HELLO:
		return to == CONN_ST_ACTIVE || to == CONN_ST_CLOSING ||
		       to == CONN_ST_CLOSED;
	case CONN_ST_ACTIVE:
		return to == CONN_ST_CLOSING || to == CONN_ST_CLOSED;
	case CONN_ST_CLOSING:
		return to == CONN_ST_CLOSED;
	case CONN_ST_CLOSED:
		return false;
	}
	return false;
}

/* Connections waiting for HELLO, oldest first: at max_connections the
 * oldest of them makes room for a new one, so a flood of connections
 * that never say HELLO cannot keep HAProxy (and its health checks) out.
 */
static void conn_hq_push(struct conn *c)
{
	struct conn_set *cs = c->set;

	c->hq_next = NULL;
	c->hq_prev = cs->hq_tail;
	if (cs->hq_tail)
		cs->hq_tail->hq_next = c;
	else
		cs->hq_head = c;
	cs->hq_tail = c;
}

static void conn_hq_remove(struct conn *c)
{
	struct conn_set *cs = c->set;

	if (c->hq_prev)
		c->hq_prev->hq_next = c->hq_next;
	else
		cs->hq_head = c->hq_next;
	if (c->hq_next)
		c->hq_next->hq_prev = c->hq_prev;
	else
		cs->hq_tail = c->hq_prev;
	c->hq_next = c->hq_prev = NULL;
}

/* Every state change goes through here. */
static void conn_set_state(struct conn *c, enum conn_state st)
{
	assert(conn_transition_ok(c->state, st));
	if (c->state == CONN_ST_HELLO && st != CONN_ST_HELLO)
		conn_hq_remove(c);
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "conn #%llu %s: %s -> %s",
			(unsigned long long)c->id, c->peer,
			conn_state_str(c->state), conn_state_str(st));
	c->state = st;
}

static void conn_trim_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn_set *cs = w->data;
	uint32_t n;

	(void)loop;
	(void)revents;
	n = pool_trim(&cs->rpool, CONN_POOL_KEEP) +
	    pool_trim(&cs->wpool, CONN_POOL_KEEP);
#ifdef __GLIBC__
	/* freed buffers sit in the heap's free space: give it back */
	if (n)
		malloc_trim(0);
#endif
	if (cs->rpool.nfree <= CONN_POOL_KEEP &&
	    cs->wpool.nfree <= CONN_POOL_KEEP)
		ev_timer_stop(cs->loop, &cs->trim);
}

/* Returns a buffer to <p>; the trim timer runs while buffers are free. */
static void conn_buf_put(struct conn_set *cs, struct pool *p, char *buf,
			 size_t size)
{
	pool_put(p, buf, size);
	if (!ev_is_active(&cs->trim) && p->nfree > CONN_POOL_KEEP) {
		ev_init(&cs->trim, conn_trim_cb);
		cs->trim.data = cs;
		cs->trim.repeat = CONN_POOL_TRIM;
		ev_timer_again(cs->loop, &cs->trim);
	}
}

/* The read buffer, taken from the pool if the connection has none.
 * Returns NULL when memory is short.
 */
static char *conn_rbuf(struct conn *c)
{
	if (!c->rbuf)
		c->rbuf = pool_get(&c->set->rpool, c->rsize);
	return c->rbuf;
}

/* The write buffer, likewise. */
static char *conn_wbuf(struct conn *c)
{
	if (!c->wbuf)
		c->wbuf = pool_get(&c->set->wpool, c->wsize);
	return c->wbuf;
}

/* Gives back the buffers that hold nothing. */
static void conn_release(struct conn *c)
{
	if (c->rbuf && c->rlen == 0) {
		conn_buf_put(c->set, &c->set->rpool, c->rbuf, c->rsize);
		c->rbuf = NULL;
	}
	if (c->wbuf && c->wlen == 0) {
		conn_buf_put(c->set, &c->set->wpool, c->wbuf, c->wsize);
		c->wbuf = NULL;
	}
}

static void conn_start_reading(struct conn *c)
{
	if (!c->reading && c->state != CONN_ST_CLOSED) {
		ev_io_start(c->set->loop, &c->rio);
		c->reading = true;
	}
}

static void conn_stop_reading(struct conn *c)
{
	if (c->reading) {
		ev_io_stop(c->set->loop, &c->rio);
		c->reading = false;
	}
}

/* The SPOP connections the descriptor limit leaves room for: the rest is
 * kept for the control and metrics clients, HAProxy's runtime API, token
 * requests and snapshot files, which fail if SPOP connections took every
 * descriptor.
 */
static uint32_t conn_fd_cap(void)
{
	struct rlimit rl;
	rlim_t reserve;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= UINT32_MAX)
		return UINT32_MAX;
	reserve = rl.rlim_cur / CONN_FD_RESERVE_DIV;
	if (reserve > CONN_FD_RESERVE_MAX)
		reserve = CONN_FD_RESERVE_MAX;
	return (uint32_t)(rl.rlim_cur - reserve);
}

/* The HELLO'd connection idle for longest with no frame in flight, or
 * NULL. One that completed a frame during this wake-up is never chosen.
 * Linear, but it runs only at a limit, never per frame.
 */
static struct conn *conn_idlest(struct conn_set *cs)
{
	struct conn *c, *best = NULL;

	for (c = cs->list; c; c = c->next) {
		if (c->state != CONN_ST_ACTIVE || c->rlen || c->wlen ||
		    c->since >= clock_now.ms)
			continue;
		if (!best || c->since < best->since)
			best = c;
	}
	return best;
}

/* Makes room for a new connection because of <limit>: closes the oldest
 * connection still waiting for HELLO, else conn_idlest(), which first
 * gets an AGENT-DISCONNECT (status 0: HAProxy simply opens another),
 * written straight to its socket as it has no output queued. A waiting
 * one is read first: its HELLO may sit unread behind the accept burst
 * (HAProxy's health check), and then it is served, not closed; one that
 * came less than CONN_HELLO_GRACE_MS ago is left its chance, and nothing
 * is closed. Returns true when a connection (and its descriptor) was
 * closed.
 */
static bool conn_evict(struct conn_set *cs, const char *limit)
{
	char frame[CONN_DISCONNECT_RESERVE], *p = frame;
	uint32_t open = cs->n;
	struct conn *c;
	int i;

	for (i = 0; i < CONN_EVICT_READS && (c = cs->hq_head); i++) {
		conn_read_cb(cs->loop, &c->rio, EV_READ);
		if (cs->n < open)
			return true; /* it closed: room made */
		if (c->state != CONN_ST_HELLO)
			continue; /* it said HELLO: served */
		if (clock_now.ms - c->since < CONN_HELLO_GRACE_MS)
			return false;
		cs->cnt.conn_evicted++;
		log_rl(&cs->rl_evicted, clock_now.ms, LOG_WARNING,
		       "%s reached (%u SPOP connections): closed the oldest "
		       "connection without HELLO (%s) to accept a new one",
		       limit, cs->n, c->peer);
		conn_close(c, "evicted: no HELLO, at a limit");
		return true;
	}
	/* a HELLO'd connection never goes while one without HELLO is left */
	c = cs->hq_head ? NULL : conn_idlest(cs);
	if (!c)
		return false;
	cs->cnt.conn_evicted_idle++;
	log_rl(&cs->rl_evicted, clock_now.ms, LOG_WARNING,
	       "%s reached (%u SPOP connections): closed conn #%llu %s, idle "
	       "%.1fs, to accept a new one (%llu idle ones closed so far)",
	       limit, cs->n, (unsigned long long)c->id, c->peer,
	       (double)(clock_now.ms - c->since) / 1000.0,
	       (unsigned long long)cs->cnt.conn_evicted_idle);
	if (spop_encode_agent_disconnect(
		    &p, frame + sizeof(frame), SPOP_ERR_NONE,
		    "idle, closed for a new connection") > 0 &&
	    send(c->fd, frame, (size_t)(p - frame),
		 MSG_NOSIGNAL | MSG_DONTWAIT) == p - frame) {
		cs->cnt.frames_out++;
		cs->cnt.disconnect_out[SPOP_ERR_NONE]++;
	}
	conn_close(c, "evicted: idle, at a limit");
	return true;
}

bool conn_shed(struct conn_set *cs)
{
	clock_update();
	return conn_evict(cs, "the process's descriptor limit");
}

int conn_new(struct conn_set *cs, int fd, const char *peer)
{
	uint32_t fmax = cs->cfg->max_frame_size;
	size_t rsize = (size_t)fmax + SPOP_FRAME_PREFIX;
	size_t wsize = 2 * (rsize + CONN_DISCONNECT_RESERVE);
	struct conn *c;

	if (cs->fd_cap == 0)
		cs->fd_cap = conn_fd_cap();
	if (cs->n >= cs->cfg->max_connections)
		conn_evict(cs, "max_connections");
	else if (cs->n >= cs->fd_cap)
		/* soft: with nothing idle, accept into the reserve */
		conn_evict(cs, "the descriptor limit");
	if (cs->n >= cs->cfg->max_connections) {
		log_rl(&cs->rl_refused, clock_now.ms, LOG_WARNING,
		       "%s: refused: max_connections (%u) reached", peer,
		       cs->cfg->max_connections);
		cs->cnt.conn_refused++;
		close(fd);
		return -1;
	}
	if (wsize < CONN_WBUF_SIZE)
		wsize = CONN_WBUF_SIZE;
	if (cs->rpool.max_free == 0) {
		pool_init(&cs->rpool, rsize, CONN_POOL_MAX);
		pool_init(&cs->wpool, wsize, CONN_POOL_MAX);
	}
	/* a reload may have changed the frame size */
	pool_set_size(&cs->rpool, rsize);
	pool_set_size(&cs->wpool, wsize);
	/* buffers come later, while a frame is in flight */
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_msg(LOG_ERR, "%s: out of memory for a connection", peer);
		close(fd);
		return -1;
	}
	c->set = cs;
	c->fd = fd;
	c->id = ++cs->next_id;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->frame_max = fmax;
	c->rsize = rsize;
	c->wsize = wsize;
	c->state = CONN_ST_HELLO;
	c->since = clock_now.ms;
	conn_hq_push(c);
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	ev_init(&c->timer, conn_timer_cb);
	c->timer.data = c;
	c->timer.repeat = cs->cfg->hello_timeout_ms / 1000.0;
	ev_timer_again(cs->loop, &c->timer);
	conn_start_reading(c);

	c->next = cs->list;
	if (cs->list)
		cs->list->prev = c;
	cs->list = c;
	cs->n++;
	cs->cnt.conn_accepted++;
	log_msg(LOG_DEBUG, "conn #%llu %s: accepted (%u open)",
		(unsigned long long)c->id, c->peer, cs->n);
	return 0;
}

void conn_close(struct conn *c, const char *why)
{
	struct conn_set *cs = c->set;

	if (c->state == CONN_ST_CLOSED)
		return;
	log_msg(LOG_DEBUG, "conn #%llu %s: closed: %s (%llu NOTIFYs)",
		(unsigned long long)c->id, c->peer, why,
		(unsigned long long)c->notifies);
	/* stopping also drops an event fed by conn_process() (libev clears
	 * pending events of a stopped watcher), so nothing fires once freed
	 */
	ev_io_stop(cs->loop, &c->rio);
	c->reading = false;
	ev_io_stop(cs->loop, &c->wio);
	ev_timer_stop(cs->loop, &c->timer);
	close(c->fd);
	c->fd = -1;
	conn_set_state(c, CONN_ST_CLOSED);

	/* unlink now so nothing reaches it again; free it at the safe point */
	if (c->prev)
		c->prev->next = c->next;
	else
		cs->list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = cs->dead;
	cs->dead = c;
	cs->n--;
	cs->cnt.conn_closed++;
}

void conn_reap(struct conn_set *cs)
{
	struct conn *c;

	while ((c = cs->dead) != NULL) {
		cs->dead = c->next;
		c->rlen = c->wlen = 0;
		conn_release(c);
		free(c);
	}
}

void conn_set_free(struct conn_set *cs)
{
	ev_timer_stop(cs->loop, &cs->trim);
	pool_free(&cs->rpool);
	pool_free(&cs->wpool);
}

void conn_reset_counters(struct conn_set *cs)
{
	memset(&cs->cnt, 0, sizeof(cs->cnt));
}

void conn_disconnect(struct conn *c, uint32_t status, const char *why)
{
	struct conn_set *cs = c->set;
	char *p, *end;

	if (c->state == CONN_ST_CLOSING || c->state == CONN_ST_CLOSED)
		return;
	/* an idle connection timing out is routine, not a warning; a
	 * burst of them (HAProxy gone quiet) is one line and a count
	 */
	if (status == SPOP_ERR_TIMEOUT && c->state == CONN_ST_ACTIVE)
		log_rl(&cs->rl_idle, clock_now.ms, LOG_INFO,
		       "conn #%llu %s: AGENT-DISCONNECT 2: %s",
		       (unsigned long long)c->id, c->peer, why);
	else if (status != SPOP_ERR_NONE)
		log_rl(&cs->rl_proto, clock_now.ms, LOG_WARNING,
		       "conn #%llu %s: AGENT-DISCONNECT %u (%s): %s",
		       (unsigned long long)c->id, c->peer, status,
		       spop_status_str(status), why);
	else
		log_msg(LOG_DEBUG, "conn #%llu %s: AGENT-DISCONNECT 0: %s",
			(unsigned long long)c->id, c->peer, why);
	cs->cnt.disconnect_out[status <= SPOP_ERR_RES ? status
						      : SPOP_ERR_RES + 1]++;
	if (!conn_wbuf(c)) {
		conn_close(c, "out of memory for the DISCONNECT");
		return;
	}
	/* the reserve guarantees room, whatever is queued */
	p = c->wbuf + c->wlen;
	end = c->wbuf + c->wsize;
	if (spop_encode_agent_disconnect(&p, end, status,
					 spop_status_str(status)) > 0) {
		c->wlen = (size_t)(p - c->wbuf);
		cs->cnt.frames_out++;
	}
	conn_stop_reading(c);
	conn_set_state(c, CONN_ST_CLOSING);
	conn_flush(c);
}

/* HAPROXY-HELLO: decide, answer, and move on (SPOE.txt §3.2.4, §3.2.5). */
static void conn_hello(struct conn *c, const struct spop_frame *f)
{
	struct conn_set *cs = c->set;
	struct spop_hello h;
	uint32_t size = 0;
	enum spop_status st;
	char *p, *end;

	if (f->type != SPOP_FRM_HAPROXY_HELLO) {
		conn_disconnect(c, SPOP_ERR_INVALID,
				"first frame is not HAPROXY-HELLO");
		return;
	}
	if (!(f->flags & SPOP_FL_FIN)) {
		conn_disconnect(c, SPOP_ERR_FRAG_NOT_SUPPORTED,
				"fragmented HAPROXY-HELLO");
		return;
	}
	if (spop_hello_parse(f->payload, f->len, &h) < 0) {
		conn_disconnect(c, SPOP_ERR_INVALID, "malformed HAPROXY-HELLO");
		return;
	}
	/* c->frame_max is what this connection's buffers were sized for: a
	 * reload may have changed the configured value since accept
	 */
	st = spop_hello_check(&h, c->frame_max, &size);
	if (st != SPOP_ERR_NONE) {
		conn_disconnect(c, st, "HAPROXY-HELLO refused");
		return;
	}
	c->frame_max = size;
	c->healthcheck = h.healthcheck;
	if (!conn_wbuf(c)) {
		conn_close(c, "out of memory for the AGENT-HELLO");
		return;
	}
	p = c->wbuf + c->wlen;
	end = c->wbuf + c->wsize;
	/* pipelining only: async and fragmentation are gone from HAProxy
	 * 3.1, and HAProxy never accepts fragmented ACKs (docs/design.md)
	 */
	if (spop_encode_agent_hello(&p, end, size, "pipelining") < 0) {
		conn_close(c, "no room for AGENT-HELLO");
		return;
	}
	c->wlen = (size_t)(p - c->wbuf);
	cs->cnt.frames_out++;
	if (h.healthcheck) {
		/* §3.2.5: after a health check, close without DISCONNECT */
		cs->cnt.healthcheck++;
		conn_stop_reading(c);
		conn_set_state(c, CONN_ST_CLOSING);
		return;
	}
	cs->cnt.hello++;
	log_msg(LOG_DEBUG, "conn #%llu %s: HELLO, max-frame-size %u%s",
		(unsigned long long)c->id, c->peer, size,
		h.cap_pipelining ? ", pipelining" : "");
	conn_set_state(c, CONN_ST_ACTIVE);
	c->timer.repeat = cs->cfg->idle_timeout_ms / 1000.0;
	ev_timer_again(cs->loop, &c->timer);
}

/* NOTIFY: the ACK is written straight into the output buffer. */
static void conn_notify(struct conn *c, const struct spop_frame *f)
{
	struct conn_set *cs = c->set;
	char *p, *end, *start;
	int r;

	if (!conn_wbuf(c)) {
		conn_close(c, "out of memory for the ACK");
		return;
	}
	p = c->wbuf + c->wlen;
	end = c->wbuf + c->wsize - CONN_DISCONNECT_RESERVE;

	if (!(f->flags & SPOP_FL_FIN)) {
		/* we did not announce fragmentation (SPOE.txt §3.2.1) */
		conn_disconnect(c, SPOP_ERR_FRAG_NOT_SUPPORTED,
				"fragmented NOTIFY");
		return;
	}
	/* never send a frame above the negotiated size */
	if ((size_t)(end - p) > (size_t)c->frame_max + SPOP_FRAME_PREFIX)
		end = p + c->frame_max + SPOP_FRAME_PREFIX;
	start = spop_frame_begin(&p, end, SPOP_FRM_ACK, SPOP_FL_FIN,
				 f->stream_id, f->frame_id);
	r = start ? spoa_notify(cs->spoa, f->payload, f->len, &p, end) : -2;
	if (r == -1) {
		conn_disconnect(c, SPOP_ERR_INVALID, "malformed NOTIFY");
		return;
	}
	if (r < 0) {
		/* the answer would not fit in the negotiated frame size */
		conn_disconnect(c, SPOP_ERR_TOO_BIG,
				"the ACK would exceed max-frame-size");
		return;
	}
	c->wlen += spop_frame_end(start, p);
	c->notifies++;
	cs->cnt.notify++;
	cs->cnt.frames_out++;
}

static void conn_haproxy_disconnect(struct conn *c, const struct spop_frame *f)
{
	struct conn_set *cs = c->set;
	struct spop_disconnect d;
	char msg[128];

	cs->cnt.disconnect_in++;
	if (spop_disconnect_parse(f->payload, f->len, &d) < 0) {
		conn_disconnect(c, SPOP_ERR_INVALID,
				"malformed HAPROXY-DISCONNECT");
		return;
	}
	text_printable(msg, sizeof(msg), d.message ? d.message : "",
		       d.message ? d.message_len : 0);
	/* HAProxy closes idle SPOE connections with status 2 (timeout):
	 * routine, like a normal close; anything else is worth a warning
	 */
	if (d.status == SPOP_ERR_NONE)
		log_msg(LOG_DEBUG, "conn #%llu %s: HAPROXY-DISCONNECT 0 (%s)",
			(unsigned long long)c->id, c->peer, msg);
	else if (d.status == SPOP_ERR_TIMEOUT)
		log_rl(&cs->rl_idle, clock_now.ms, LOG_INFO,
		       "conn #%llu %s: HAPROXY-DISCONNECT 2 (%s)",
		       (unsigned long long)c->id, c->peer, msg);
	else
		log_rl(&cs->rl_proto, clock_now.ms, LOG_WARNING,
		       "conn #%llu %s: HAPROXY-DISCONNECT %u (%s)",
		       (unsigned long long)c->id, c->peer, d.status, msg);
	conn_disconnect(c, SPOP_ERR_NONE, "HAProxy disconnected");
}

/* Dispatches one complete frame according to the connection's state. */
static void conn_frame(struct conn *c, const struct spop_frame *f)
{
	c->set->cnt.frames_in++;
	if (c->state == CONN_ST_HELLO) {
		conn_hello(c, f);
		return;
	}
	if (c->state != CONN_ST_ACTIVE)
		return; /* §3.2.8: frames after a DISCONNECT are ignored */
	switch (f->type) {
	case SPOP_FRM_NOTIFY:
		conn_notify(c, f);
		break;
	case SPOP_FRM_HAPROXY_DISCONNECT:
		conn_haproxy_disconnect(c, f);
		break;
	case SPOP_FRM_UNSET:
		conn_disconnect(c, SPOP_ERR_FRAG_NOT_SUPPORTED,
				"fragment received");
		break;
	case SPOP_FRM_HAPROXY_HELLO:
		conn_disconnect(c, SPOP_ERR_INVALID, "second HAPROXY-HELLO");
		break;
	case SPOP_FRM_AGENT_HELLO:
	case SPOP_FRM_AGENT_DISCONNECT:
	case SPOP_FRM_ACK:
		conn_disconnect(c, SPOP_ERR_INVALID,
				"agent frame sent to the agent");
		break;
	default:
		/* §3.2.2: unknown frames may be silently skipped */
		log_msg(LOG_DEBUG, "conn #%llu %s: frame type %u skipped",
			(unsigned long long)c->id, c->peer, f->type);
		break;
	}
}

/* True when the output has room for the largest answer to one frame: an
 * ACK can be as large as the negotiated frame size, and a DISCONNECT must
 * still fit behind it.
 */
static bool conn_room(const struct conn *c)
{
	return c->wsize - c->wlen >= (size_t)c->frame_max + SPOP_FRAME_PREFIX +
					     CONN_DISCONNECT_RESERVE;
}

/* Handles every complete frame buffered, as long as the output has room.
 * Returns the number of frames handled.
 */
static uint32_t conn_process(struct conn *c)
{
	struct conn_set *cs = c->set;
	uint32_t budget = cs->cfg->max_inflight;
	struct spop_frame f;
	size_t off = 0;
	uint32_t frames = 0;
	int n;

	while (c->state == CONN_ST_HELLO || c->state == CONN_ST_ACTIVE) {
		if (!budget--) {
			/* fairness: other connections run before the rest of
			 * this buffer, which the fed event brings back
			 */
			ev_feed_event(cs->loop, &c->rio, EV_READ);
			break;
		}
		if (!conn_room(c)) {
			/* resumes from conn_flush() once output drains */
			if (c->reading)
				cs->cnt.backpressure++;
			conn_stop_reading(c);
			break;
		}
		n = spop_frame_extract(c->rbuf + off, c->rlen - off,
				       c->frame_max, &f);
		if (n == 0)
			break;
		if (n < 0) {
			conn_disconnect(c, (uint32_t)-n,
					n == -SPOP_ERR_TOO_BIG
						? "frame above max-frame-size"
						: "malformed frame");
			break;
		}
		off += (size_t)n;
		frames++;
		conn_frame(c, &f);
	}
	if (off) {
		c->rlen -= off;
		memmove(c->rbuf, c->rbuf + off, c->rlen);
	}
	return frames;
}

/* Before closing after our last frame: closing a socket with unread input
 * makes the kernel send a reset, which can destroy that frame in flight.
 * Send FIN first and discard what the peer already sent (bounded).
 */
static void conn_drain(struct conn *c)
{
	char sink[4096];
	int i;

	shutdown(c->fd, SHUT_WR);
	for (i = 0; i < 16; i++)
		if (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
			break;
}

/* Sends what is queued: one send() per call. */
static void conn_flush(struct conn *c)
{
	struct conn_set *cs = c->set;
	ssize_t n;

	while (c->woff < c->wlen) {
		n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(cs->loop, &c->wio);
				return;
			}
			conn_close(c, strerror(errno));
			return;
		}
		c->woff += (size_t)n;
		if (c->woff < c->wlen) {
			ev_io_start(cs->loop, &c->wio);
			return;
		}
	}
	c->woff = c->wlen = 0;
	ev_io_stop(cs->loop, &c->wio);
	conn_release(c);
	if (c->state == CONN_ST_CLOSING) {
		conn_drain(c);
		conn_close(c, c->healthcheck ? "health check done"
					     : "disconnected");
		return;
	}
	if (c->state == CONN_ST_ACTIVE && !c->reading) {
		/* back-pressure released: the fed event runs the frames
		 * already buffered (conn_read_cb), not a nested call here
		 */
		conn_start_reading(c);
		ev_feed_event(cs->loop, &c->rio, EV_READ);
	}
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	struct conn_set *cs = c->set;
	ssize_t n;

	(void)loop;
	(void)revents;
	clock_update();
	if (!conn_rbuf(c)) {
		conn_close(c, "out of memory for a frame");
		return;
	}
	/* a full buffer holds whole frames left by the per-wake-up budget
	 * (a frame always fits): handle them before reading more
	 */
	n = c->rlen < c->rsize
		    ? read(c->fd, c->rbuf + c->rlen, c->rsize - c->rlen)
		    : 0;
	if (n == 0 && c->rlen < c->rsize) {
		conn_close(c, "closed by peer");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			/* HAProxy 3.1+ resets idle SPOP connections (soft stop,
			 * idle pool) without a HAPROXY-DISCONNECT: a normal end
			 */
			conn_close(c, errno == ECONNRESET
					      ? "closed by peer (reset)"
					      : strerror(errno));
			return;
		}
		/* a fed event (conn_process): frames may wait in rbuf */
		n = 0;
	}
	c->rlen += (size_t)n;
	/* only whole frames count as activity: bytes trickled in without
	 * ever completing a frame must not hold the connection forever
	 */
	if (conn_process(c) && c->state == CONN_ST_ACTIVE) {
		ev_timer_again(cs->loop, &c->timer);
		c->since = clock_now.ms;
	}
	if (c->wlen && c->state != CONN_ST_CLOSED)
		conn_flush(c);
	if (c->state != CONN_ST_CLOSED)
		conn_release(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	/* flushing may resume buffered NOTIFYs, which need the time */
	clock_update();
	conn_flush(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == CONN_ST_CLOSING) {
		/* the peer does not read what we send: give up */
		conn_close(c, "timeout while flushing");
		return;
	}
	ev_timer_stop(c->set->loop, &c->timer);
	/* the timer must not fire again while we flush the DISCONNECT */
	c->timer.repeat = 1.0;
	ev_timer_again(c->set->loop, &c->timer);
	conn_disconnect(c, SPOP_ERR_TIMEOUT,
			c->state == CONN_ST_HELLO ? "no HELLO in time"
						  : "idle timeout");
}

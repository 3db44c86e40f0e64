/* SPDX-License-Identifier: Apache-2.0 */
/* Connection state machine and socket I/O of the mock Azure OpenAI server. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mock.h"

#define CONN_READS_PER_WAKE 8  /* recv() calls per readiness event */
#define CONN_DRAIN_PER_WAKE 16 /* discarded reads per event while lingering */

static const char *const conn_state_names[] = {
	[CONN_READ_HEAD] = "read-head", [CONN_READ_BODY] = "read-body",
	[CONN_DELAY] = "delay",		[CONN_WRITE] = "write",
	[CONN_STREAM] = "stream",	[CONN_LINGER] = "linger",
	[CONN_CLOSED] = "closed",
};

static void conn_process(struct conn *c);

/* The only place where c->state changes; watchers follow the state. */
static void conn_set_state(struct conn *c, enum conn_state to)
{
	struct ev_loop *loop = c->srv->loop;

	if (c->srv->verbose > 1)
		fprintf(stderr, "mock-aoai: conn %d: %s -> %s\n", c->fd,
			conn_state_names[c->state], conn_state_names[to]);
	c->state = to;
	switch (to) {
	case CONN_READ_HEAD:
	case CONN_READ_BODY:
		ev_io_start(loop, &c->rio);
		c->idle.repeat = MOCK_IDLE_S;
		ev_timer_again(loop, &c->idle);
		break;
	case CONN_DELAY:
		/* The latency may exceed the idle timeout: not idle. */
		ev_io_stop(loop, &c->rio);
		ev_timer_stop(loop, &c->idle);
		break;
	case CONN_WRITE:
	case CONN_STREAM:
		ev_io_stop(loop, &c->rio);
		c->idle.repeat = MOCK_IDLE_S;
		ev_timer_again(loop, &c->idle);
		break;
	case CONN_LINGER:
		ev_io_start(loop, &c->rio);
		c->idle.repeat = MOCK_LINGER_S;
		ev_timer_again(loop, &c->idle);
		break;
	case CONN_CLOSED:
		ev_io_stop(loop, &c->rio);
		ev_io_stop(loop, &c->wio);
		ev_timer_stop(loop, &c->idle);
		ev_timer_stop(loop, &c->delay);
		break;
	}
}

/* Progress was made: push the idle timeout back. */
static void conn_touch(struct conn *c)
{
	if (c->state != CONN_DELAY && c->state != CONN_CLOSED)
		ev_timer_again(c->srv->loop, &c->idle);
}

void conn_close(struct conn *c)
{
	struct mock_srv *srv = c->srv;

	if (c->state == CONN_CLOSED)
		return;
	conn_set_state(c, CONN_CLOSED);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->live = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = srv->dead;
	srv->dead = c;
}

void conn_reap(struct mock_srv *srv)
{
	while (srv->dead) {
		struct conn *c = srv->dead;

		srv->dead = c->next;
		free(c->in);
		free(c);
	}
}

void conn_close_all(struct mock_srv *srv)
{
	while (srv->live)
		conn_close(srv->live);
	conn_reap(srv);
}

/* Resets the connection (RST, no FIN) as a failing front end would. */
static void conn_reset(struct conn *c)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == -1)
		perror("mock-aoai: setsockopt(SO_LINGER)");
	conn_close(c);
}

/* Our answer is complete and the connection ends: shut our side down and
 * drain what the peer still sends, so that closing with unread bytes does
 * not turn into a reset that destroys the answer in flight.
 */
static void conn_linger(struct conn *c)
{
	if (c->eof || shutdown(c->fd, SHUT_WR) == -1) {
		conn_close(c);
		return;
	}
	conn_set_state(c, CONN_LINGER);
}

static void conn_linger_drain(struct conn *c)
{
	char sink[4096];
	int i;

	for (i = 0; i < CONN_DRAIN_PER_WAKE; i++) {
		ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

		if (n > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_close(c);
		return;
	}
}

/* Forgets the request just answered and prepares for the next one. */
static void conn_req_reset(struct conn *c)
{
	memset(&c->req, 0, sizeof(c->req));
	memset(&c->chunk, 0, sizeof(c->chunk));
	c->scan = 0;
	c->body_len = 0;
	c->req_end = 0;
	c->is_mock = false;
	c->in_full = false;
}

/* The answer was sent and the connection persists: move pipelined bytes to
 * the front and go on reading.
 */
static void conn_next_request(struct conn *c)
{
	size_t left = c->in_len - c->req_end;

	if (left)
		memmove(c->in, c->in + c->req_end, left);
	c->in_len = left;
	/* Give back what a large body needed. */
	if (c->in_cap > MOCK_IN_INIT && left <= MOCK_IN_INIT) {
		char *p = realloc(c->in, MOCK_IN_INIT);

		if (p) {
			c->in = p;
			c->in_cap = MOCK_IN_INIT;
		}
	}
	conn_req_reset(c);
	if (c->eof && left == 0) {
		conn_close(c);
		return;
	}
	conn_set_state(c, CONN_READ_HEAD);
	/* Bytes already buffered will not make the socket readable again;
	 * going through the loop also bounds the work per wake-up.
	 */
	if (left || c->eof)
		ev_feed_event(c->srv->loop, &c->rio, EV_READ);
}

/* Called when c->out has been sent completely. */
static void conn_drained(struct conn *c)
{
	if (c->state != CONN_WRITE)
		return;
	if (c->close_after)
		conn_linger(c);
	else
		conn_next_request(c);
}

/* Sends what c->out holds. Returns 0, or -1 when the connection was closed.
 */
static int conn_flush(struct conn *c)
{
	struct ev_loop *loop = c->srv->loop;

	while (c->out_pos < c->out.len) {
		ssize_t n = send(c->fd, c->out.p + c->out_pos,
				 c->out.len - c->out_pos, MSG_NOSIGNAL);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(loop, &c->wio);
				return 0;
			}
			conn_close(c);
			return -1;
		}
		c->out_pos += (size_t)n;
		conn_touch(c);
	}
	c->out_pos = 0;
	c->out.len = 0;
	c->out.over = false;
	ev_io_stop(loop, &c->wio);
	conn_drained(c);
	return c->state == CONN_CLOSED ? -1 : 0;
}

/* Grows c->in to at least <want> bytes, within MOCK_IN_MAX. Returns 0, or -1
 * when it cannot (c->in_full is then set).
 */
static int conn_grow(struct conn *c, size_t want)
{
	size_t cap = c->in_cap;
	char *p;

	if (want <= cap)
		return 0;
	while (cap < want)
		cap *= 2;
	if (cap > MOCK_IN_MAX)
		cap = MOCK_IN_MAX;
	if (cap <= c->in_cap) {
		c->in_full = true;
		return -1;
	}
	p = realloc(c->in, cap);
	if (!p) {
		c->in_full = true;
		return -1;
	}
	c->in = p;
	c->in_cap = cap;
	return 0;
}

/* Reads what the socket has, within bounds. Returns 0, or -1 when the
 * connection was closed.
 */
static int conn_fill(struct conn *c)
{
	int i;

	for (i = 0; i < CONN_READS_PER_WAKE; i++) {
		size_t room;
		ssize_t n;

		if (c->in_len == c->in_cap && conn_grow(c, c->in_cap + 1) == -1)
			break; /* left in the socket; the parser decides */
		room = c->in_cap - c->in_len;
		n = recv(c->fd, c->in + c->in_len, room, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			conn_touch(c);
			if ((size_t)n < room)
				break;
			continue;
		}
		if (n == 0) {
			c->eof = true;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		conn_close(c);
		return -1;
	}
	return 0;
}

/* A request could not be parsed: answer <status> and close. */
static void conn_proto_error(struct conn *c, int status)
{
	c->close_after = true;
	c->req_end = c->in_len;
	api_proto_error(c, status);
}

/* The request is incomplete: wait, unless waiting cannot help. */
static void conn_need_more(struct conn *c, int status)
{
	if (c->eof)
		conn_close(c);
	else if (c->in_full)
		conn_proto_error(c, status);
}

/* The head is parsed: set up body reading. Returns 0, or -1 if closed. */
static int conn_body_start(struct conn *c)
{
	struct mhttp_str path = mhttp_at(c->in, c->req.path);
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	bool complete = true;

	c->is_mock = mhttp_str_prefix(path, "/_mock/");
	conn_set_state(c, CONN_READ_BODY);
	if (c->req.body == MHTTP_BODY_LENGTH) {
		size_t end = c->req.head_len + c->req.content_length;

		/* Room for the whole body at once: one realloc at most. */
		conn_grow(c, end);
		complete = c->in_len >= end;
	} else if (c->req.body == MHTTP_BODY_CHUNKED) {
		mhttp_chunk_init(&c->chunk, c->req.head_len);
		complete = false;
	}
	/* RFC 9110 §10.1.1: tell a waiting client to send the body. */
	if (c->req.expect_continue && c->req.minor >= 1 && !complete) {
		mbuf_add(&c->out, cont, sizeof(cont) - 1);
		return conn_flush(c);
	}
	return 0;
}

/* Reads the body. Returns 1 when complete, 0 if more is needed, -1 on
 * error with the status to answer.
 */
static int conn_body(struct conn *c, int *status)
{
	size_t head = c->req.head_len;
	int r;

	switch (c->req.body) {
	case MHTTP_BODY_NONE:
		c->body_len = 0;
		c->req_end = head;
		return 1;
	case MHTTP_BODY_LENGTH:
		if (c->in_len - head < c->req.content_length)
			return 0;
		c->body_len = c->req.content_length;
		c->req_end = head + c->body_len;
		return 1;
	case MHTTP_BODY_CHUNKED:
		r = mhttp_chunk_decode(c->in, c->in_len, head, &c->chunk,
				       status);
		if (r == 1) {
			c->body_len = c->chunk.body_len;
			c->req_end = c->chunk.rpos;
		}
		return r;
	}
	*status = 500;
	return -1;
}

/* Advances the request parser over what c->in holds. */
static void conn_process(struct conn *c)
{
	int status = 400;
	int r;

	if (c->state == CONN_READ_HEAD) {
		r = mhttp_parse_head(c->in, c->in_len, &c->scan, &c->req,
				     &status);
		if (r < 0) {
			conn_proto_error(c, status);
			return;
		}
		if (r == 0) {
			conn_need_more(c, 431);
			return;
		}
		if (conn_body_start(c) == -1)
			return;
	}
	if (c->state != CONN_READ_BODY)
		return;
	r = conn_body(c, &status);
	if (r < 0) {
		conn_proto_error(c, status);
		return;
	}
	if (r == 0) {
		conn_need_more(c, 413);
		return;
	}
	c->close_after = !c->req.keep_alive;
	api_dispatch(c);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == CONN_LINGER) {
		conn_linger_drain(c);
		return;
	}
	if (c->state != CONN_READ_HEAD && c->state != CONN_READ_BODY)
		return;
	if (!c->eof && conn_fill(c) == -1)
		return;
	conn_process(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	(void)revents;
	/* A 100-continue still in flight; the answer waits for the timer. */
	if (c->state == CONN_DELAY) {
		ev_io_stop(loop, w);
		return;
	}
	conn_flush(c);
}

static void conn_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->srv->verbose && c->state != CONN_LINGER)
		fprintf(stderr, "mock-aoai: conn %d: idle timeout in %s\n",
			c->fd, conn_state_names[c->state]);
	conn_close(c);
}

/* Arms the timer of the next stream event. */
static void conn_stream_arm(struct conn *c)
{
	struct ev_loop *loop = c->srv->loop;

	ev_timer_set(&c->delay, (double)c->srv->set.stream_delay_ms / 1000.0,
		     0.);
	ev_timer_start(loop, &c->delay);
}

/* Sends the next stream event, when the client keeps up. */
static void conn_stream_step(struct conn *c)
{
	bool done;

	if (c->out_pos > 0) {
		memmove(c->out.p, c->out.p + c->out_pos,
			c->out.len - c->out_pos);
		c->out.len -= c->out_pos;
		c->out_pos = 0;
	}
	if (c->out.cap - c->out.len < MOCK_EVENT_MAX) {
		conn_stream_arm(c); /* client is slow: wait */
		return;
	}
	done = api_stream_next(c);
	if (done)
		conn_set_state(c, CONN_WRITE);
	if (conn_flush(c) == -1)
		return;
	if (!done)
		conn_stream_arm(c);
}

/* Starts the prepared answer. */
static void conn_go(struct conn *c)
{
	switch (c->after) {
	case CONN_AFTER_RESET:
		conn_reset(c);
		return;
	case CONN_AFTER_STREAM:
		conn_set_state(c, CONN_STREAM);
		if (conn_flush(c) == -1)
			return;
		conn_stream_arm(c);
		return;
	case CONN_AFTER_WRITE:
		conn_set_state(c, CONN_WRITE);
		conn_flush(c);
		return;
	}
}

static void conn_delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == CONN_DELAY)
		conn_go(c);
	else if (c->state == CONN_STREAM)
		conn_stream_step(c);
}

void conn_respond(struct conn *c, enum conn_after after, uint64_t delay_ms)
{
	c->after = after;
	if (delay_ms > 0) {
		conn_set_state(c, CONN_DELAY);
		ev_timer_set(&c->delay, (double)delay_ms / 1000.0, 0.);
		ev_timer_start(c->srv->loop, &c->delay);
		return;
	}
	conn_go(c);
}

int conn_accept(struct mock_srv *srv, int fd)
{
	struct conn *c;
	int one = 1;

	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->in = malloc(MOCK_IN_INIT);
	if (!c->in)
		goto free_conn;
	c->in_cap = MOCK_IN_INIT;
	c->srv = srv;
	c->fd = fd;
	c->out.p = c->out_store;
	c->out.cap = sizeof(c->out_store);
	/* Small answers on a kept-alive connection: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	ev_init(&c->idle, conn_idle_cb);
	ev_init(&c->delay, conn_delay_cb);
	c->rio.data = c;
	c->wio.data = c;
	c->idle.data = c;
	c->delay.data = c;
	c->next = srv->live;
	if (srv->live)
		srv->live->prev = c;
	srv->live = c;
	srv->stats.connections++;
	c->state = CONN_READ_HEAD;
	conn_set_state(c, CONN_READ_HEAD);
	return 0;

free_conn:
	free(c);
fail:
	return -1;
}

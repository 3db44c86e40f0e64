/* SPDX-License-Identifier: Apache-2.0 */
/* Baselines for the SPOP load benchmark (tests/bench/bench.py).
 *
 *   ack-server [-e] PORT
 *
 * Default: an "ACK-only" SPOP agent with the agent's I/O pattern (libev,
 * one read per wake-up, every complete frame handled, one send()): it
 * answers HAPROXY-HELLO with AGENT-HELLO and every NOTIFY with a
 * precomputed ACK, echoing the ids, reading only the first message's name.
 * aoai-route gets what the agent answers for a weighted decision: two
 * set-var actions (backend, reason), the backend taking turns over
 * eastus, swedencentral, eastus, westus-payg (the benchmarks' weights
 * 2/1/1, so HAProxy spreads requests and server connections as it does
 * with the agent); any other message (aoai-result) gets the agent's
 * no-op (unset-var txn noop). The difference with the agent is the cost
 * of decoding the arguments and routing.
 *
 * -e: a plain TCP echo server (the loopback round-trip baseline).
 *
 * Listens on 127.0.0.1:PORT and runs until SIGTERM or SIGINT. Not a test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spop.h"

#define ACK_FRAME_MAX SPOP_DEFAULT_FRAME_SIZE
#define ACK_RSIZE     (ACK_FRAME_MAX + SPOP_FRAME_PREFIX)
#define ACK_WSIZE     (32 * 1024)
/* Room kept in the output before a frame is handled, as conn.c does. */
#define ACK_RESERVE 1024

struct ack_conn {
	int fd;
	bool hello_done; /* AGENT-HELLO sent */
	bool reading;	 /* rio started */
	ev_io rio;	 /* readable */
	ev_io wio;	 /* writable, only while output is pending */
	size_t rlen;	 /* bytes in rbuf */
	size_t wlen;	 /* bytes queued in wbuf */
	size_t woff;	 /* bytes of wbuf already sent */
	char rbuf[ACK_RSIZE];
	char wbuf[ACK_WSIZE];
};

static bool echo_mode;
#define ACK_ROUTES 4
/* the precomputed LIST-OF-ACTIONS: aoai-route (in turn), anything else */
static char ack_route[ACK_ROUTES][128], ack_noop[32];
static size_t ack_route_len[ACK_ROUTES], ack_noop_len;
static unsigned ack_turn;
static struct ev_loop *loop;

static void ack_close(struct ack_conn *c)
{
	ev_io_stop(loop, &c->rio);
	ev_io_stop(loop, &c->wio);
	close(c->fd);
	free(c);
}

/* Sends what is queued. Returns 0, or -1 when <c> was closed. */
static int ack_flush(struct ack_conn *c)
{
	ssize_t n;

	while (c->woff < c->wlen) {
		n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(loop, &c->wio);
				if (c->reading) {
					ev_io_stop(loop, &c->rio);
					c->reading = false;
				}
				return 0;
			}
			ack_close(c);
			return -1;
		}
		c->woff += (size_t)n;
	}
	c->woff = c->wlen = 0;
	ev_io_stop(loop, &c->wio);
	if (!c->reading) {
		ev_io_start(loop, &c->rio);
		c->reading = true;
	}
	return 0;
}

/* Answers one frame. Returns 0, or -1 to close. */
static int ack_frame(struct ack_conn *c, const struct spop_frame *f)
{
	char *p = c->wbuf + c->wlen, *end = c->wbuf + ACK_WSIZE, *start;

	if (!c->hello_done) {
		if (f->type != SPOP_FRM_HAPROXY_HELLO ||
		    spop_encode_agent_hello(&p, end, ACK_FRAME_MAX,
					    "pipelining") < 0)
			return -1;
		c->hello_done = true;
	} else if (f->type == SPOP_FRM_NOTIFY) {
		struct spop_msg_iter it;
		struct spop_msg m;
		const char *act = ack_noop;
		size_t act_len = ack_noop_len;

		spop_msg_iter_init(&it, f->payload, f->len);
		if (spop_msg_next(&it, &m) == 1 &&
		    spop_name_eq(m.name, m.name_len, "aoai-route")) {
			act = ack_route[ack_turn];
			act_len = ack_route_len[ack_turn];
			ack_turn = (ack_turn + 1) % ACK_ROUTES;
		}
		start = spop_frame_begin(&p, end, SPOP_FRM_ACK, SPOP_FL_FIN,
					 f->stream_id, f->frame_id);
		if (!start || (size_t)(end - p) < act_len)
			return -1;
		memcpy(p, act, act_len);
		p += act_len;
		spop_frame_end(start, p);
	} else {
		return -1; /* DISCONNECT or anything else: hang up */
	}
	c->wlen = (size_t)(p - c->wbuf);
	return 0;
}

/* Handles every complete frame buffered while the output has room, then
 * sends. Returns 0, or -1 when <c> was closed.
 */
static int ack_process(struct ack_conn *c)
{
	struct spop_frame f;
	size_t off = 0;
	int r;

	while (ACK_WSIZE - c->wlen >= ACK_RESERVE) {
		r = spop_frame_extract(c->rbuf + off, c->rlen - off,
				       ACK_FRAME_MAX, &f);
		if (r == 0)
			break;
		if (r < 0 || ack_frame(c, &f) < 0) {
			ack_close(c);
			return -1;
		}
		off += (size_t)r;
	}
	c->rlen -= off;
	memmove(c->rbuf, c->rbuf + off, c->rlen);
	return c->wlen ? ack_flush(c) : 0;
}

static void ack_read_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct ack_conn *c = w->data;
	ssize_t n;

	(void)l;
	(void)revents;
	if (echo_mode) {
		n = read(c->fd, c->wbuf + c->wlen, ACK_WSIZE - c->wlen);
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			ack_close(c);
			return;
		}
		c->wlen += (size_t)n;
		ack_flush(c);
		return;
	}
	n = read(c->fd, c->rbuf + c->rlen, ACK_RSIZE - c->rlen);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		ack_close(c);
		return;
	}
	c->rlen += (size_t)n;
	ack_process(c);
}

static void ack_write_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct ack_conn *c = w->data;

	(void)l;
	(void)revents;
	/* output drained: finish what was left buffered behind it */
	if (ack_flush(c) == 0 && !echo_mode && c->reading && c->rlen)
		ack_process(c);
}

static void ack_accept_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct ack_conn *c;
	int fd, one = 1;

	(void)revents;
	fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	ev_io_init(&c->rio, ack_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, ack_write_cb, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	ev_io_start(l, &c->rio);
	c->reading = true;
}

static void ack_signal_cb(struct ev_loop *l, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

/* Builds the precomputed actions: the agent's weighted decisions for
 * each backend in turn (set-var txn backend, set-var txn reason
 * "weighted"), and its no-op (unset-var txn noop).
 */
static void ack_build_actions(void)
{
	static const char *const turn[ACK_ROUTES] = {"eastus", "swedencentral",
						     "eastus", "westus-payg"};
	struct spop_data d = {.type = SPOP_DATA_STR};
	char *p, *end;

	for (int i = 0; i < ACK_ROUTES; i++) {
		p = ack_route[i];
		end = ack_route[i] + sizeof(ack_route[i]);
		d.u.str.ptr = turn[i];
		d.u.str.len = strlen(turn[i]);
		spop_encode_set_var(&p, end, SPOP_SCOPE_TXN, "backend", 7, &d);
		d.u.str.ptr = "weighted";
		d.u.str.len = 8;
		spop_encode_set_var(&p, end, SPOP_SCOPE_TXN, "reason", 6, &d);
		ack_route_len[i] = (size_t)(p - ack_route[i]);
	}
	p = ack_noop;
	spop_encode_unset_var(&p, ack_noop + sizeof(ack_noop), SPOP_SCOPE_TXN,
			      "noop", 4);
	ack_noop_len = (size_t)(p - ack_noop);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	ev_signal sig_term, sig_int;
	ev_io lio;
	long port;
	char *endp;
	int fd, one = 1, argi = 1;

	if (argc > 1 && strcmp(argv[1], "-e") == 0) {
		echo_mode = true;
		argi++;
	}
	if (argi != argc - 1) {
		fprintf(stderr, "usage: ack-server [-e] PORT\n");
		return 2;
	}
	port = strtol(argv[argi], &endp, 10);
	if (*endp || port <= 0 || port > 65535) {
		fprintf(stderr, "ack-server: bad port %s\n", argv[argi]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	ack_build_actions();
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 128) == -1) {
		perror("bind/listen");
		return 1;
	}
	loop = EV_DEFAULT;
	ev_io_init(&lio, ack_accept_cb, fd, EV_READ);
	ev_io_start(loop, &lio);
	ev_signal_init(&sig_term, ack_signal_cb, SIGTERM);
	ev_signal_init(&sig_int, ack_signal_cb, SIGINT);
	ev_signal_start(loop, &sig_term);
	ev_signal_start(loop, &sig_int);
	ev_run(loop, 0);
	close(fd);
	return 0;
}

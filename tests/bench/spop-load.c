/* SPDX-License-Identifier: Apache-2.0 */
/* SPOP load generator: NOTIFY -> ACK throughput and latency (bench.py).
 *
 *   spop-load -p PORT [-c CONNS] [-w WINDOW] [-d SECONDS] [-W WARMUP]
 *             [-P POOL] [-k] [-e]
 *
 * Plays HAProxy: CONNS connections to 127.0.0.1:PORT, each says HELLO and
 * then keeps WINDOW NOTIFYs in flight (pipelining), each carrying an
 * aoai-route message (pool, key, model; pool "chat" unless -P). Every ACK
 * is matched to its NOTIFY by frame-id and its latency taken with
 * CLOCK_MONOTONIC, from the send() that carried the NOTIFY to the read()
 * that brought the ACK. The first WARMUP seconds (default 0.3) are not
 * counted; then SECONDS (default 3) are.
 *
 * -k: the key is a session id (16 distinct per connection, round robin),
 *     so decisions go through affinity; without -k it is NULL, as HAProxy
 *     sends an absent header, and decisions are weighted round-robin.
 * -e: echo mode against a plain TCP echo server (ack-server -e): no HELLO,
 *     every frame comes back unchanged (the loopback round-trip baseline).
 *
 * One thread, epoll. Prints one line:
 *   RESULT mode=spop conns=C window=W seconds=S acks=N rate=R p50_us=...
 * and exits 0, or 1 on any protocol error. Not a test: nothing is asserted
 * about timings.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "spop.h"

#define LOAD_FRAME_MAX SPOP_DEFAULT_FRAME_SIZE
#define LOAD_RSIZE     (LOAD_FRAME_MAX + SPOP_FRAME_PREFIX)
#define LOAD_WSIZE     (64 * 1024)
#define LOAD_CONNS_MAX 256
#define LOAD_WIN_MAX   4096
#define LOAD_KEYS      16
/* Latency samples kept at most (one uint32 of nanoseconds each). */
#define LOAD_SAMPLES_MAX (16u * 1024 * 1024)

enum load_state {
	LOAD_ST_HELLO,	/* HELLO sent, waiting for AGENT-HELLO */
	LOAD_ST_ACTIVE, /* NOTIFYs in flight */
};

struct load_conn {
	int fd;
	enum load_state state;
	uint64_t stream_id;  /* one per connection, as HAProxy's streams */
	uint64_t next_fid;   /* frame-id of the next NOTIFY, from 1 */
	uint32_t inflight;   /* NOTIFYs sent, ACK not seen */
	uint32_t key_i;	     /* next key (-k) */
	bool want_write;     /* EPOLLOUT registered */
	uint64_t *sent_ns;   /* send time by frame-id & ring_mask */
	uint64_t *sent_fid;  /* frame-id in that slot, 0 when free */
	size_t rlen;	     /* bytes in rbuf */
	size_t wlen;	     /* bytes queued in wbuf */
	size_t woff;	     /* bytes of wbuf already sent */
	size_t wfresh;	     /* wbuf[wfresh..wlen) not stamped yet */
	uint64_t fresh_from; /* first frame-id of that range */
	char rbuf[LOAD_RSIZE];
	char wbuf[LOAD_WSIZE];
};

struct load_opts {
	uint16_t port;
	uint32_t conns;
	uint32_t window;
	double seconds;
	double warmup;
	const char *pool;
	bool keys;
	bool echo;
};

static struct load_opts opt = {
	.conns = 1,
	.window = 1,
	.seconds = 3.0,
	.warmup = 0.3,
	.pool = "chat",
};

static uint32_t ring_mask;
static uint32_t *samples;
static size_t n_samples;
static uint64_t measure_from, measure_to; /* ns, monotonic */
static uint64_t acks_total, acks_measured, errors;
static bool first_ack_checked;
static char keys[LOAD_CONNS_MAX][LOAD_KEYS][24];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "spop-load: %s\n", what);
	exit(1);
}

static void die_errno(const char *what)
{
	fprintf(stderr, "spop-load: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int put_str(char **p, char *end, const char *name, const char *v)
{
	struct spop_data d = {.type = SPOP_DATA_STR};

	d.u.str.ptr = v;
	d.u.str.len = strlen(v);
	return spop_encode_kv(p, end, name, &d);
}

/* Appends one NOTIFY (aoai-route: pool, key, model) to <c>'s output. */
static int load_encode_notify(struct load_conn *c, uint32_t idx)
{
	static const struct spop_data null = {.type = SPOP_DATA_NULL};
	char *p = c->wbuf + c->wlen, *end = c->wbuf + LOAD_WSIZE, *start;

	start = spop_frame_begin(&p, end, SPOP_FRM_NOTIFY, SPOP_FL_FIN,
				 c->stream_id, c->next_fid);
	if (!start || spop_encode_bytes(&p, end, "aoai-route", 10) < 0 ||
	    p >= end)
		return -1;
	*p++ = 3;
	if (put_str(&p, end, "pool", opt.pool) < 0)
		return -1;
	if (opt.keys) {
		if (put_str(&p, end, "key", keys[idx][c->key_i]) < 0)
			return -1;
		c->key_i = (c->key_i + 1) % LOAD_KEYS;
	} else if (spop_encode_kv(&p, end, "key", &null) < 0) {
		return -1;
	}
	if (put_str(&p, end, "model", "gpt-4o") < 0)
		return -1;
	spop_frame_end(start, p);
	c->wlen = (size_t)(p - c->wbuf);
	c->next_fid++;
	c->inflight++;
	return 0;
}

static void load_epoll_mod(int ep, struct load_conn *c, bool want_write)
{
	struct epoll_event ev = {.data.ptr = c};

	if (c->want_write == want_write)
		return;
	ev.events = EPOLLIN | (want_write ? EPOLLOUT : 0);
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		die_errno("epoll_ctl");
	c->want_write = want_write;
}

/* Stamps the NOTIFYs queued since the last stamp with <t>: the moment
 * the send() that carries them starts.
 */
static void load_stamp(struct load_conn *c, uint64_t t)
{
	uint64_t fid;

	for (fid = c->fresh_from; fid < c->next_fid; fid++) {
		uint32_t slot = (uint32_t)fid & ring_mask;

		if (c->sent_fid[slot])
			die("frame-id ring overflow");
		c->sent_fid[slot] = fid;
		c->sent_ns[slot] = t;
	}
	c->fresh_from = c->next_fid;
}

static void load_flush(int ep, struct load_conn *c)
{
	ssize_t n;

	if (c->fresh_from != c->next_fid)
		load_stamp(c, now_ns());
	while (c->woff < c->wlen) {
		n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
			 MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				load_epoll_mod(ep, c, true);
				return;
			}
			die_errno("send");
		}
		c->woff += (size_t)n;
	}
	c->woff = c->wlen = 0;
	load_epoll_mod(ep, c, false);
}

/* Tops the window up (only when the output is empty: one send() per
 * batch, as HAProxy's SPOE applet writes).
 */
static void load_fill(int ep, struct load_conn *c, uint32_t idx)
{
	if (c->state != LOAD_ST_ACTIVE || c->wlen)
		return;
	while (c->inflight < opt.window)
		if (load_encode_notify(c, idx) < 0)
			die("NOTIFY does not fit");
	load_flush(ep, c);
}

/* The first ACK must set txn "backend" or "reason": the agent routed. */
static void load_check_ack(const struct spop_frame *f)
{
	const char *p = f->payload, *end = f->payload + f->len;
	bool routed = false;

	while (end - p >= 3) {
		const char *name;
		size_t len;
		struct spop_data d;
		uint8_t type = (uint8_t)p[0];

		p += 3;
		if (spop_decode_bytes(&p, end, &name, &len) < 0)
			die("malformed ACK");
		if (type == SPOP_ACT_SET_VAR) {
			if (spop_decode_data(&p, end, &d) < 0)
				die("malformed ACK");
			if (spop_name_eq(name, len, "backend"))
				routed = true;
		}
	}
	if (!routed)
		die("the first ACK sets no backend: check the agent's pools");
	first_ack_checked = true;
}

static void load_frame(struct load_conn *c, const struct spop_frame *f,
		       uint64_t t)
{
	uint32_t slot;

	if (c->state == LOAD_ST_HELLO) {
		if (f->type != SPOP_FRM_AGENT_HELLO)
			die("first frame is not AGENT-HELLO");
		c->state = LOAD_ST_ACTIVE;
		return;
	}
	if (!opt.echo && f->type != SPOP_FRM_ACK) {
		fprintf(stderr, "spop-load: frame type %u received\n", f->type);
		exit(1);
	}
	if (!opt.echo && !first_ack_checked)
		load_check_ack(f);
	slot = (uint32_t)f->frame_id & ring_mask;
	if (c->sent_fid[slot] != f->frame_id || f->stream_id != c->stream_id) {
		errors++;
		return;
	}
	c->sent_fid[slot] = 0;
	c->inflight--;
	acks_total++;
	if (t >= measure_from && t < measure_to) {
		uint64_t d = t - c->sent_ns[slot];

		acks_measured++;
		if (n_samples < LOAD_SAMPLES_MAX)
			samples[n_samples++] =
				d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
}

static void load_read(int ep, struct load_conn *c, uint32_t idx)
{
	struct spop_frame f;
	size_t off = 0;
	ssize_t n;
	uint64_t t;
	int r;

	n = read(c->fd, c->rbuf + c->rlen, LOAD_RSIZE - c->rlen);
	if (n == 0)
		die("connection closed by the server");
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		die_errno("read");
	}
	t = now_ns();
	c->rlen += (size_t)n;
	while ((r = spop_frame_extract(c->rbuf + off, c->rlen - off,
				       LOAD_FRAME_MAX, &f)) > 0) {
		load_frame(c, &f, t);
		off += (size_t)r;
	}
	if (r < 0)
		die("malformed frame from the server");
	c->rlen -= off;
	memmove(c->rbuf, c->rbuf + off, c->rlen);
	load_fill(ep, c, idx);
}

static int load_connect(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die_errno("socket");
	sin.sin_port = htons(opt.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die_errno("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		die_errno("fcntl");
	return fd;
}

static void load_send_hello(struct load_conn *c)
{
	char *p = c->wbuf, *end = c->wbuf + LOAD_WSIZE, *start;
	struct spop_data d = {.type = SPOP_DATA_UINT32};

	start = spop_frame_begin(&p, end, SPOP_FRM_HAPROXY_HELLO, SPOP_FL_FIN,
				 0, 0);
	if (!start || put_str(&p, end, "supported-versions", "2.0") < 0)
		die("HELLO does not fit");
	d.u.uint = LOAD_FRAME_MAX;
	if (spop_encode_kv(&p, end, "max-frame-size", &d) < 0 ||
	    put_str(&p, end, "capabilities", "pipelining") < 0 ||
	    put_str(&p, end, "engine-id", "spop-load") < 0)
		die("HELLO does not fit");
	spop_frame_end(start, p);
	c->wlen = (size_t)(p - c->wbuf);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile <q> (0..1) of the sorted samples, in microseconds. */
static double pct_us(double q)
{
	size_t i;

	if (!n_samples)
		return 0.0;
	i = (size_t)(q * (double)(n_samples - 1) + 0.5);
	return samples[i] / 1000.0;
}

static void usage(void)
{
	fprintf(stderr, "usage: spop-load -p PORT [-c CONNS] [-w WINDOW] "
			"[-d SECONDS] [-W WARMUP] [-P POOL] [-k] [-e]\n");
	exit(2);
}

static double parse_num(const char *s, double lo, double hi)
{
	char *end;
	double v = strtod(s, &end);

	if (*end || v < lo || v > hi)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	struct epoll_event evs[64];
	struct load_conn **conns;
	uint64_t start;
	uint32_t i, j, ring = 2;
	int ep, o;

	while ((o = getopt(argc, argv, "p:c:w:d:W:P:ke")) != -1) {
		switch (o) {
		case 'p':
			opt.port = (uint16_t)parse_num(optarg, 1, 65535);
			break;
		case 'c':
			opt.conns =
				(uint32_t)parse_num(optarg, 1, LOAD_CONNS_MAX);
			break;
		case 'w':
			opt.window =
				(uint32_t)parse_num(optarg, 1, LOAD_WIN_MAX);
			break;
		case 'd':
			opt.seconds = parse_num(optarg, 0.01, 3600);
			break;
		case 'W':
			opt.warmup = parse_num(optarg, 0, 3600);
			break;
		case 'P':
			opt.pool = optarg;
			break;
		case 'k':
			opt.keys = true;
			break;
		case 'e':
			opt.echo = true;
			break;
		default:
			usage();
		}
	}
	if (!opt.port || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	while (ring < 2 * opt.window)
		ring *= 2;
	ring_mask = ring - 1;
	samples = malloc(LOAD_SAMPLES_MAX * sizeof(*samples));
	conns = calloc(opt.conns, sizeof(*conns));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!samples || !conns || ep < 0)
		die("out of memory");
	for (i = 0; i < opt.conns; i++)
		for (j = 0; j < LOAD_KEYS; j++)
			snprintf(keys[i][j], sizeof(keys[i][j]),
				 "sess-%08x-%04x", i * 2654435761u, j);

	for (i = 0; i < opt.conns; i++) {
		struct load_conn *c = calloc(1, sizeof(*c));
		struct epoll_event ev = {.events = EPOLLIN};

		if (!c)
			die("out of memory");
		c->sent_ns = calloc(ring, sizeof(*c->sent_ns));
		c->sent_fid = calloc(ring, sizeof(*c->sent_fid));
		if (!c->sent_ns || !c->sent_fid)
			die("out of memory");
		c->fd = load_connect();
		c->stream_id = i;
		c->next_fid = c->fresh_from = 1;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
			die_errno("epoll_ctl");
		conns[i] = c;
		if (opt.echo) {
			c->state = LOAD_ST_ACTIVE;
		} else {
			c->state = LOAD_ST_HELLO;
			load_send_hello(c);
			load_flush(ep, c);
		}
	}

	start = now_ns();
	measure_from = start + (uint64_t)(opt.warmup * 1e9);
	measure_to = measure_from + (uint64_t)(opt.seconds * 1e9);
	for (i = 0; i < opt.conns; i++)
		load_fill(ep, conns[i], i);
	for (;;) {
		int n = epoll_wait(ep, evs, 64, 100);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die_errno("epoll_wait");
		}
		for (o = 0; o < n; o++) {
			struct load_conn *c = evs[o].data.ptr;
			uint32_t idx = (uint32_t)c->stream_id;

			if (evs[o].events & (EPOLLERR | EPOLLHUP))
				die("connection error");
			if (evs[o].events & EPOLLOUT)
				load_flush(ep, c);
			if (evs[o].events & EPOLLIN)
				load_read(ep, c, idx);
		}
		if (now_ns() >= measure_to)
			break;
	}
	for (i = 0; i < opt.conns; i++)
		close(conns[i]->fd);
	if (!acks_measured)
		die("no ACK in the measured period");
	qsort(samples, n_samples, sizeof(*samples), cmp_u32);
	printf("RESULT mode=%s pool=%s conns=%u window=%u keys=%d seconds=%.2f "
	       "acks=%llu rate=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f "
	       "p999_us=%.1f max_us=%.1f total=%llu errors=%llu\n",
	       opt.echo ? "echo" : "spop", opt.pool, opt.conns, opt.window,
	       opt.keys ? 1 : 0, opt.seconds, (unsigned long long)acks_measured,
	       (double)acks_measured / opt.seconds, pct_us(0.50), pct_us(0.90),
	       pct_us(0.99), pct_us(0.999), samples[n_samples - 1] / 1000.0,
	       (unsigned long long)acks_total, (unsigned long long)errors);
	return errors ? 1 : 0;
}

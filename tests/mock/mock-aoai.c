/* SPDX-License-Identifier: Apache-2.0 */
/* mock-aoai: one mock Azure OpenAI region for end-to-end tests and the lab.
 *
 * Command line, listener, signals and the event loop. The HTTP codec is in
 * mock-http.c, connections in mock-conn.c, Azure behaviour and the /_mock/
 * control endpoint in mock-api.c.
 *
 * API: POST /openai/deployments/{name}/chat/completions?api-version=V,
 * POST /openai/deployments/{name}/embeddings?api-version=V,
 * POST /openai/v1/chat/completions and /openai/v1/embeddings (model in the
 * body). "stream": true in a chat body answers with server-sent events.
 * Embeddings: one vector per input (a string, or an array of them), as
 * floats or, with "encoding_format": "base64", as base64 float32 (see
 * mock-embed.c); a missing or empty input is a 400.
 * Order of decisions: reset_count, fail_count/fail_rate, 404, 405, 401, 429
 * (throttle_all, rpm, tpm), 200. Latency applies to all of them.
 *
 * Quotas use a fixed window: it opens on the first request after the
 * previous one expired and lasts window_ms; retry-after is the time left in
 * it. Prompt tokens are body bytes / 4 (at least 1); chat adds 16
 * completion tokens. A 429 consumes nothing.
 *
 * Control (no auth, never counted, never delayed):
 *   POST /_mock/set?key=value&...  rpm tpm window_ms latency_ms fail_status
 *        fail_count fail_rate seed reset_count retry_after retry_after_ms
 *        throttle_all stream_delay_ms reset; all or nothing, reset=1 first.
 *        retry_after and retry_after_ms also take "auto" and "none".
 *   GET  /_mock/settings, GET /_mock/stats, POST /_mock/stats/reset,
 *   GET  /_mock/health
 * Stats also count, for the fleet lab, the 429s of requests whose
 * x-lab-decided-us (when HAProxy decided, wall clock us) is before the
 * first 429 since the last stats reset left (throttled_unavoidable), and
 * how long after it the latest other 429's request was decided
 * (throttled_last_us).
 * SIGUSR1 toggles throttle_all; SIGTERM and SIGINT exit 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mock.h"

#define MAIN_ACCEPTS_PER_WAKE 64   /* accept() calls per readiness event */
#define MAIN_ACCEPT_RETRY_S   0.25 /* pause after EMFILE and friends */
#define MAIN_BACKLOG	      1024

/* What the command line says, before it is checked. */
struct main_opts {
	const char *region;
	const char *port;
	const char *listen;
	const char *api_key_file;
	const char *bearer;
	const char *jwt_key_file;
	const char *port_file;
	const char *rpm, *tpm, *window_ms, *latency_ms, *stream_delay_ms;
	const char *seed;
	int verbose;
};

static void main_usage(FILE *f)
{
	fprintf(f,
		"usage: mock-aoai --region NAME --port PORT [--listen ADDR]\n"
		"         [--api-key-file FILE] [--bearer TOKEN] [--jwt-key-file FILE]\n"
		"         [--rpm N]"
		" [--tpm N]\n"
		"         [--window-ms MS] [--latency-ms MS]"
		" [--stream-delay-ms MS]\n"
		"         [--seed N] [--port-file FILE] [-v]\n"
		"Control: POST /_mock/set?key=value..., GET /_mock/settings,\n"
		"         GET /_mock/stats, POST /_mock/stats/reset,"
		" GET /_mock/health\n");
}

static bool main_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Reads the api key: the file's content minus trailing newlines. */
static int main_read_key(const char *path, char *dst, size_t size, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -1;
	n = fread(dst, 1, size, f);
	if (ferror(f) || n == size) {
		fclose(f);
		errno = n == size ? EFBIG : EIO;
		return -1;
	}
	fclose(f);
	while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '\r'))
		n--;
	dst[n] = '\0';
	*len = n;
	return 0;
}

static bool main_region_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > MOCK_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_' ||
		      ch == '.' || ch == ' '))
			return false;
	}
	return true;
}

/* Checks the options into <srv> and <addr>/<port>. Every problem is
 * reported; returns their number.
 */
static int main_configure(const struct main_opts *o, struct mock_srv *srv,
			  uint64_t *port)
{
	struct mock_settings *d = &srv->defaults;
	int errors = 0;
	size_t len;

	d->window_ms = 60000;
	d->fail_status = 500;
	d->seed = 1;
	d->retry_after = MOCK_RA_AUTO;
	d->retry_after_ms = MOCK_RA_AUTO;
	d->stream_delay_ms = 10;
	srv->verbose = o->verbose;

	if (!o->region) {
		fprintf(stderr, "mock-aoai: --region is required\n");
		errors++;
	} else if (!main_region_ok(o->region)) {
		fprintf(stderr,
			"mock-aoai: --region: 1..%d of [A-Za-z0-9 ._-]\n",
			MOCK_NAME_MAX);
		errors++;
	} else {
		memcpy(srv->region, o->region, strlen(o->region) + 1);
	}
	if (!o->port) {
		fprintf(stderr, "mock-aoai: --port is required\n");
		errors++;
	} else if (!main_u64(o->port, 0, 65535, port)) {
		fprintf(stderr, "mock-aoai: --port: expected 0..65535\n");
		errors++;
	}
#define MAIN_NUM(opt, field, min, max)                                         \
	do {                                                                   \
		if (o->field && !main_u64(o->field, min, max, &d->field)) {    \
			fprintf(stderr,                                        \
				"mock-aoai: --" opt ": expected %llu..%llu\n", \
				(unsigned long long)(min),                     \
				(unsigned long long)(max));                    \
			errors++;                                              \
		}                                                              \
	} while (0)
	MAIN_NUM("rpm", rpm, 0, 1000000000000ULL);
	MAIN_NUM("tpm", tpm, 0, 1000000000000ULL);
	MAIN_NUM("window-ms", window_ms, 1, 86400000);
	MAIN_NUM("latency-ms", latency_ms, 0, 600000);
	MAIN_NUM("stream-delay-ms", stream_delay_ms, 0, 60000);
	MAIN_NUM("seed", seed, 0, UINT64_MAX);
#undef MAIN_NUM
	if (o->api_key_file) {
		if (main_read_key(o->api_key_file, srv->api_key,
				  sizeof(srv->api_key),
				  &srv->api_key_len) == -1) {
			fprintf(stderr, "mock-aoai: --api-key-file %s: %s\n",
				o->api_key_file, strerror(errno));
			errors++;
		} else if (srv->api_key_len == 0) {
			fprintf(stderr, "mock-aoai: --api-key-file %s: empty\n",
				o->api_key_file);
			errors++;
		}
	}
	if (o->jwt_key_file &&
	    (main_read_key(o->jwt_key_file, srv->jwt_key, sizeof(srv->jwt_key),
			   &srv->jwt_key_len) == -1 ||
	     srv->jwt_key_len == 0)) {
		fprintf(stderr,
			"mock-aoai: --jwt-key-file %s: unreadable or "
			"empty\n",
			o->jwt_key_file);
		errors++;
	}
	if (o->bearer) {
		len = strlen(o->bearer);
		if (len == 0 || len > MOCK_KEY_MAX) {
			fprintf(stderr, "mock-aoai: --bearer: 1..%d bytes\n",
				MOCK_KEY_MAX);
			errors++;
		} else {
			memcpy(srv->bearer, o->bearer, len + 1);
			srv->bearer_len = len;
		}
	}
	srv->set = srv->defaults;
	srv->fail_rng = srv->set.seed;
	srv->id_rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	return errors;
}

/* Opens the listening socket. Returns 0 with the bound port, or -1. */
static int main_listen(struct mock_srv *srv, const char *addr, uint64_t port,
		       unsigned *bound)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char service[8];
	int one = 1, rc, fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	rc = getaddrinfo(addr, service, &hints, &ai);
	if (rc) {
		fprintf(stderr, "mock-aoai: --listen %s: %s\n", addr,
			gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		goto fail;
	if (listen(fd, MAIN_BACKLOG) == -1)
		goto fail;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
		goto fail;
	if (ss.ss_family == AF_INET)
		*bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else
		*bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	freeaddrinfo(ai);
	srv->lfd = fd;
	return 0;

fail:
	fprintf(stderr, "mock-aoai: listen on %s port %u: %s\n", addr,
		(unsigned)port, strerror(errno));
	if (fd != -1)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

/* Writes the bound port to <path> atomically (temp file, rename), so that
 * a reader never sees a partial number.
 */
static int main_port_file(const char *path, unsigned port)
{
	char tmp[PATH_MAX], text[16];
	int fd, n;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	n = snprintf(text, sizeof(text), "%u\n", port);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return -1;
	if (write(fd, text, (size_t)n) != n || close(fd) == -1) {
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void main_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mock_srv *srv = w->data;
	int i;

	(void)revents;
	for (i = 0; i < MAIN_ACCEPTS_PER_WAKE; i++) {
		int fd = accept4(srv->lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EPROTO)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the socket stays
			 * readable, so stop watching it for a while instead
			 * of spinning.
			 */
			fprintf(stderr, "mock-aoai: accept: %s; pausing\n",
				strerror(errno));
			ev_io_stop(loop, &srv->accept_io);
			/* A fired timer keeps no interval: set it again. */
			ev_timer_set(&srv->accept_retry, MAIN_ACCEPT_RETRY_S,
				     0.);
			ev_timer_start(loop, &srv->accept_retry);
			return;
		}
		if (conn_accept(srv, fd) == -1) {
			fprintf(stderr, "mock-aoai: out of memory\n");
			close(fd);
		}
	}
}

static void main_accept_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct mock_srv *srv = w->data;

	(void)revents;
	ev_io_start(loop, &srv->accept_io);
}

static void main_stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void main_usr1_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct mock_srv *srv = w->data;

	(void)loop;
	(void)revents;
	srv->set.throttle_all = !srv->set.throttle_all;
	fprintf(stderr, "mock-aoai: %s throttle_all=%" PRIu64 "\n", srv->region,
		srv->set.throttle_all);
}

static void main_reap_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_reap(w->data);
}

static int main_parse_args(int argc, char **argv, struct main_opts *o)
{
	static const struct option longopts[] = {
		{"region", required_argument, NULL, 'r'},
		{"port", required_argument, NULL, 'p'},
		{"listen", required_argument, NULL, 'l'},
		{"api-key-file", required_argument, NULL, 'k'},
		{"bearer", required_argument, NULL, 'b'},
		{"jwt-key-file", required_argument, NULL, 'J'},
		{"rpm", required_argument, NULL, 'R'},
		{"tpm", required_argument, NULL, 'T'},
		{"window-ms", required_argument, NULL, 'w'},
		{"latency-ms", required_argument, NULL, 'L'},
		{"stream-delay-ms", required_argument, NULL, 'S'},
		{"seed", required_argument, NULL, 's'},
		{"port-file", required_argument, NULL, 'f'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			o->region = optarg;
			break;
		case 'p':
			o->port = optarg;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 'k':
			o->api_key_file = optarg;
			break;
		case 'J':
			o->jwt_key_file = optarg;
			break;
		case 'b':
			o->bearer = optarg;
			break;
		case 'R':
			o->rpm = optarg;
			break;
		case 'T':
			o->tpm = optarg;
			break;
		case 'w':
			o->window_ms = optarg;
			break;
		case 'L':
			o->latency_ms = optarg;
			break;
		case 'S':
			o->stream_delay_ms = optarg;
			break;
		case 's':
			o->seed = optarg;
			break;
		case 'f':
			o->port_file = optarg;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'h':
			main_usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mock-aoai: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct mock_srv srv; /* large: api key and bearer buffers */
	struct main_opts opts = {.listen = "127.0.0.1"};
	struct sigaction sa;
	struct ev_loop *loop;
	uint64_t port = 0;
	unsigned bound;

	if (main_parse_args(argc, argv, &opts) == -1) {
		main_usage(stderr);
		return 2;
	}
	if (main_configure(&opts, &srv, &port)) {
		main_usage(stderr);
		return 2;
	}
	/* Writes use MSG_NOSIGNAL; this covers anything else. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	loop = ev_default_loop(EVFLAG_AUTO);
	if (!loop) {
		fprintf(stderr, "mock-aoai: cannot initialise libev\n");
		return 1;
	}
	srv.loop = loop;
	srv.lfd = -1;
	if (main_listen(&srv, opts.listen, port, &bound) == -1)
		return 1;
	if (opts.port_file && main_port_file(opts.port_file, bound) == -1) {
		fprintf(stderr, "mock-aoai: --port-file %s: %s\n",
			opts.port_file, strerror(errno));
		close(srv.lfd);
		return 1;
	}

	ev_io_init(&srv.accept_io, main_accept_cb, srv.lfd, EV_READ);
	srv.accept_io.data = &srv;
	ev_io_start(loop, &srv.accept_io);
	ev_timer_init(&srv.accept_retry, main_accept_retry_cb,
		      MAIN_ACCEPT_RETRY_S, 0.);
	srv.accept_retry.data = &srv;
	ev_signal_init(&srv.sig_term, main_stop_cb, SIGTERM);
	ev_signal_start(loop, &srv.sig_term);
	ev_signal_init(&srv.sig_int, main_stop_cb, SIGINT);
	ev_signal_start(loop, &srv.sig_int);
	ev_signal_init(&srv.sig_usr1, main_usr1_cb, SIGUSR1);
	srv.sig_usr1.data = &srv;
	ev_signal_start(loop, &srv.sig_usr1);
	/* Frees closed connections after every callback of the iteration. */
	ev_check_init(&srv.reaper, main_reap_cb);
	srv.reaper.data = &srv;
	ev_set_priority(&srv.reaper, EV_MINPRI);
	ev_check_start(loop, &srv.reaper);

	fprintf(stderr, "mock-aoai %s listening on %s%s%s:%u\n", srv.region,
		strchr(opts.listen, ':') ? "[" : "", opts.listen,
		strchr(opts.listen, ':') ? "]" : "", bound);
	fflush(stderr);

	ev_run(loop, 0);

	conn_close_all(&srv);
	close(srv.lfd);
	ev_loop_destroy(loop);
	return 0;
}

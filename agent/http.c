/* SPDX-License-Identifier: Apache-2.0 */
/* Non-blocking HTTP/1.1 client for the token endpoints: resolve
 * (getaddrinfo_a), connect, TLS handshake, send, receive; one request per
 * connection. The caller's process ignores SIGPIPE (OpenSSL writes with
 * write(2)).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "http.h"
#include "log.h"
#include "secret.h"

#define HTTP_RBUF_SIZE	  16384
#define HTTP_RESOLVE_POLL 0.01 /* s between getaddrinfo_a() checks */

static const char *const http_state_names[] = {
	[HTTP_S_IDLE] = "idle",	      [HTTP_S_RESOLVE] = "resolve",
	[HTTP_S_CONNECT] = "connect", [HTTP_S_HANDSHAKE] = "handshake",
	[HTTP_S_SEND] = "send",	      [HTTP_S_RECV] = "recv",
};

const char *http_err_name(enum http_err e)
{
	static const char *const names[] = {
		[HTTP_OK] = "ok",
		[HTTP_E_RESOLVE] = "resolve",
		[HTTP_E_CONNECT] = "connect",
		[HTTP_E_TLS] = "tls",
		[HTTP_E_IO] = "io",
		[HTTP_E_PROTO] = "protocol",
		[HTTP_E_TIMEOUT] = "timeout",
	};

	return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}

/* The one place the state changes; asserts the edge is legal. */
static void http_set_state(struct http_client *c, enum http_state to)
{
	enum http_state from = c->state;
	bool legal;

	switch (to) {
	case HTTP_S_IDLE:
		legal = true;
		break;
	case HTTP_S_RESOLVE:
		legal = from == HTTP_S_IDLE;
		break;
	case HTTP_S_CONNECT:
		legal = from == HTTP_S_RESOLVE;
		break;
	case HTTP_S_HANDSHAKE:
		legal = from == HTTP_S_CONNECT;
		break;
	case HTTP_S_SEND:
		legal = from == HTTP_S_CONNECT || from == HTTP_S_HANDSHAKE;
		break;
	case HTTP_S_RECV:
		legal = from == HTTP_S_SEND;
		break;
	default:
		legal = false;
	}
	assert(legal);
	(void)legal;
	if (log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "http %s:%u: %s -> %s", c->url.host,
			c->url.port, http_state_names[from],
			http_state_names[to]);
	c->state = to;
}

int http_url_parse(const char *s, struct http_url *u, char *err, size_t errlen)
{
	const char *h, *hend, *p, *path;
	size_t hl;

	memset(u, 0, sizeof(*u));
	if (strncmp(s, "https://", 8) == 0) {
		u->tls = true;
		u->port = 443;
		h = s + 8;
	} else if (strncmp(s, "http://", 7) == 0) {
		u->port = 80;
		h = s + 7;
	} else {
		snprintf(err, errlen,
			 "URL must start with http:// or https://");
		return -1;
	}
	path = h + strcspn(h, "/?#");
	if (*h == '[') {
		hend = memchr(h, ']', (size_t)(path - h));
		if (!hend) {
			snprintf(err, errlen, "unterminated '[' in URL");
			return -1;
		}
		p = hend + 1;
		h++;
	} else {
		hend = memchr(h, ':', (size_t)(path - h));
		if (!hend)
			hend = path;
		p = hend;
	}
	hl = (size_t)(hend - h);
	if (hl == 0 || hl > HTTP_HOST_MAX || memchr(h, '@', hl)) {
		snprintf(err, errlen, "bad host in URL");
		return -1;
	}
	memcpy(u->host, h, hl);
	if (p < path && *p == ':') {
		char *e;
		long v;

		errno = 0;
		v = strtol(p + 1, &e, 10);
		if (e != path || e == p + 1 || errno || v < 1 || v > 65535) {
			snprintf(err, errlen, "bad port in URL");
			return -1;
		}
		u->port = (uint16_t)v;
	} else if (p != path) {
		snprintf(err, errlen, "bad URL after the host");
		return -1;
	}
	if (*path != '/' && *path != '\0') {
		snprintf(err, errlen, "URL path must start with '/'");
		return -1;
	}
	if (strlen(path) > HTTP_PATH_MAX || strpbrk(path, " \r\n\t")) {
		snprintf(err, errlen, "bad URL path");
		return -1;
	}
	snprintf(u->path, sizeof(u->path), "%s", *path ? path : "/");
	return 0;
}

void *http_tls_ctx_new(const char *ca_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ok;

	if (!ctx) {
		snprintf(err, errlen, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (ca_file)
		ok = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
	else
		ok = SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		snprintf(err, errlen, "%s: cannot load CA certificates",
			 ca_file ? ca_file : "system CA store");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void http_tls_ctx_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

static void http_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void http_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void http_poll_cb(struct ev_loop *loop, ev_timer *w, int revents);

int http_client_init(struct http_client *c, struct ev_loop *loop)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->fd = -1;
	ev_init(&c->io, http_io_cb);
	ev_init(&c->timer, http_timer_cb);
	ev_init(&c->poll, http_poll_cb);
	c->io.data = c->timer.data = c->poll.data = c;
	if (sec_buf_init(&c->req, HTTP_REQUEST_MAX) == -1)
		return -1;
	if (sec_buf_init(&c->rbuf, HTTP_RBUF_SIZE) == -1)
		goto free_req;
	if (sec_buf_init(&c->body, HTTP_BODY_MAX) == -1)
		goto free_rbuf;
	return 0;
free_rbuf:
	sec_buf_free(&c->rbuf);
free_req:
	sec_buf_free(&c->req);
	return -1;
}

/* Reaps a finished resolver request; true when none is outstanding. */
static bool http_gai_reap(struct http_client *c, bool wait)
{
	if (!c->gai_busy)
		return true;
	if (gai_cancel(&c->gai) == EAI_NOTCANCELED && wait) {
		while (gai_error(&c->gai) == EAI_INPROGRESS)
			(void)gai_suspend(
				(const struct gaicb *const *)c->gai_list, 1,
				NULL);
	}
	if (gai_error(&c->gai) == EAI_INPROGRESS)
		return false;
	if (c->gai.ar_result)
		freeaddrinfo(c->gai.ar_result);
	c->gai.ar_result = NULL;
	c->gai_busy = false;
	return true;
}

/* Closes the connection; the buffers stay allocated, wiped. */
static void http_close(struct http_client *c)
{
	ev_io_stop(c->loop, &c->io);
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_stop(c->loop, &c->poll);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	ERR_clear_error();
	sec_buf_clear(&c->req);
	sec_buf_clear(&c->rbuf);
	sec_wipe(c->resp.line, sizeof(c->resp.line));
	c->resp.line_len = 0;
	http_set_state(c, HTTP_S_IDLE);
}

/* Ends the exchange and calls the owner, which may start another one. */
static void http_finish(struct http_client *c, enum http_err err)
{
	if (err != HTTP_OK)
		sec_buf_clear(&c->body);
	http_close(c);
	/* a resolver still running after a timeout is reaped by polling */
	if (c->gai_busy)
		ev_timer_again(c->loop, &c->poll);
	c->done(c, err, c->arg);
}

__attribute__((format(printf, 3, 4))) static void http_fail(
	struct http_client *c, enum http_err err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errbuf, sizeof(c->errbuf), fmt, ap);
	va_end(ap);
	http_finish(c, err);
}

void http_cancel(struct http_client *c)
{
	if (c->state != HTTP_S_IDLE)
		http_close(c);
	ev_timer_stop(c->loop, &c->poll);
	http_gai_reap(c, true);
}

void http_client_free(struct http_client *c)
{
	if (!c->loop)
		return;
	http_cancel(c);
	sec_buf_free(&c->req);
	sec_buf_free(&c->rbuf);
	sec_buf_free(&c->body);
}

static void http_io_set(struct http_client *c, int events)
{
	if (ev_is_active(&c->io) &&
	    (c->io.events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(c->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->loop, &c->io);
}

/* Starts connecting to the first address that takes a socket. */
static void http_connect(struct http_client *c, const struct addrinfo *ai)
{
	int last = 0;

	for (; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family,
				ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);

		if (fd == -1) {
			last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno != EINPROGRESS) {
			last = errno;
			close(fd);
			continue;
		}
		c->fd = fd;
		http_set_state(c, HTTP_S_CONNECT);
		http_io_set(c, EV_WRITE);
		return;
	}
	http_fail(c, HTTP_E_CONNECT, "connect to %s:%u: %s", c->url.host,
		  c->url.port, last ? strerror(last) : "no address");
}

static void http_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_client *c = w->data;
	struct addrinfo *res = NULL;
	int rc;

	(void)loop;
	(void)revents;
	if (c->state != HTTP_S_RESOLVE) {
		/* reaping a resolver abandoned by a timeout */
		if (http_gai_reap(c, false))
			ev_timer_stop(c->loop, &c->poll);
		else
			ev_timer_again(c->loop, &c->poll);
		return;
	}
	if (!c->gai_busy) {
		/* an address literal needs no resolver thread */
		c->hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		if (getaddrinfo(c->url.host, c->port_str, &c->hints, &res) ==
		    0) {
			ev_timer_stop(c->loop, &c->poll);
			http_connect(c, res);
			freeaddrinfo(res);
			return;
		}
		c->hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
		memset(&c->gai, 0, sizeof(c->gai));
		c->gai.ar_name = c->url.host;
		c->gai.ar_service = c->port_str;
		c->gai.ar_request = &c->hints;
		c->gai_list[0] = &c->gai;
		rc = getaddrinfo_a(GAI_NOWAIT, c->gai_list, 1, NULL);
		if (rc != 0) {
			http_fail(c, HTTP_E_RESOLVE, "resolve %s: %s",
				  c->url.host, gai_strerror(rc));
			return;
		}
		c->gai_busy = true;
		ev_timer_again(c->loop, &c->poll);
		return;
	}
	rc = gai_error(&c->gai);
	if (rc == EAI_INPROGRESS) {
		ev_timer_again(c->loop, &c->poll);
		return;
	}
	ev_timer_stop(c->loop, &c->poll);
	res = c->gai.ar_result;
	c->gai.ar_result = NULL;
	c->gai_busy = false;
	if (rc != 0) {
		if (res)
			freeaddrinfo(res);
		http_fail(c, HTTP_E_RESOLVE, "resolve %s: %s", c->url.host,
			  gai_strerror(rc));
		return;
	}
	http_connect(c, res);
	freeaddrinfo(res);
}

static void http_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_client *c = w->data;

	(void)loop;
	(void)revents;
	if (c->gai_busy)
		http_gai_reap(c, false);
	http_fail(c, HTTP_E_TIMEOUT, "%s:%u: no complete response in time (%s)",
		  c->url.host, c->url.port, http_state_names[c->state]);
}

/* Reason of a TLS failure; verification errors by name. */
static void http_tls_fail(struct http_client *c)
{
	long v = SSL_get_verify_result(c->ssl);
	unsigned long e = ERR_peek_error();

	if (v != X509_V_OK)
		http_fail(c, HTTP_E_TLS, "%s:%u: certificate: %s", c->url.host,
			  c->url.port, X509_verify_cert_error_string(v));
	else
		http_fail(c, HTTP_E_TLS, "%s:%u: TLS: %s", c->url.host,
			  c->url.port,
			  e ? ERR_reason_error_string(e) : "handshake failed");
}

/* Sets up the SSL object: SNI for names, the host checked against the
 * certificate (name or IP address).
 */
static int http_tls_start(struct http_client *c)
{
	struct in6_addr a6;
	struct in_addr a4;
	bool literal = inet_pton(AF_INET, c->url.host, &a4) == 1 ||
		       inet_pton(AF_INET6, c->url.host, &a6) == 1;
	SSL *ssl = SSL_new(c->ssl_ctx);

	if (!ssl)
		return -1;
	c->ssl = ssl;
	if (SSL_set_fd(ssl, c->fd) != 1)
		return -1;
	if (literal) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

		if (X509_VERIFY_PARAM_set1_ip_asc(vp, c->url.host) != 1)
			return -1;
	} else {
		if (SSL_set_tlsext_host_name(ssl, c->url.host) != 1)
			return -1;
		if (SSL_set1_host(ssl, c->url.host) != 1)
			return -1;
	}
	return 0;
}

/* One step of the handshake; true when done. */
static bool http_tls_handshake(struct http_client *c)
{
	int rc = SSL_connect(c->ssl);

	if (rc == 1)
		return true;
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		http_io_set(c, EV_READ);
		return false;
	case SSL_ERROR_WANT_WRITE:
		http_io_set(c, EV_WRITE);
		return false;
	default:
		http_tls_fail(c);
		return false;
	}
}

/* Writes what is left of the request; true when all is sent. */
static bool http_send(struct http_client *c)
{
	while (c->sent < c->req.len) {
		const char *p = c->req.p + c->sent;
		size_t n = c->req.len - c->sent;

		if (c->ssl) {
			int rc = SSL_write(c->ssl, p, (int)n);

			if (rc > 0) {
				c->sent += (size_t)rc;
				continue;
			}
			switch (SSL_get_error(c->ssl, rc)) {
			case SSL_ERROR_WANT_READ:
				http_io_set(c, EV_READ);
				return false;
			case SSL_ERROR_WANT_WRITE:
				http_io_set(c, EV_WRITE);
				return false;
			default:
				http_fail(c, HTTP_E_IO,
					  "%s:%u: TLS write failed",
					  c->url.host, c->url.port);
				return false;
			}
		}
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN) {
			http_io_set(c, EV_WRITE);
			return false;
		}
		if (w == -1) {
			http_fail(c, HTTP_E_IO, "%s:%u: write: %s", c->url.host,
				  c->url.port, strerror(errno));
			return false;
		}
		c->sent += (size_t)w;
	}
	return true;
}

/* The response bytes or end just read: finishes the exchange when the
 * response is complete or broken. <n> == 0 is the end of the stream.
 */
static void http_got(struct http_client *c, size_t n)
{
	int rc;

	if (n == 0)
		rc = http_resp_eof(&c->resp);
	else
		rc = http_resp_feed(&c->resp, c->rbuf.p, n);
	sec_wipe(c->rbuf.p, n);
	if (rc == 1)
		http_finish(c, HTTP_OK);
	else if (rc == -1)
		http_fail(c, n ? HTTP_E_PROTO : HTTP_E_IO, "%s:%u: %s",
			  c->url.host, c->url.port, c->resp.err);
}

/* Reads until the socket is drained or the exchange ends. */
static void http_recv(struct http_client *c)
{
	for (int i = 0; i < 64 && c->state == HTTP_S_RECV; i++) {
		if (c->ssl) {
			int rc = SSL_read(c->ssl, c->rbuf.p, (int)c->rbuf.cap);

			if (rc > 0) {
				http_got(c, (size_t)rc);
				continue;
			}
			switch (SSL_get_error(c->ssl, rc)) {
			case SSL_ERROR_WANT_READ:
				http_io_set(c, EV_READ);
				return;
			case SSL_ERROR_WANT_WRITE:
				http_io_set(c, EV_WRITE);
				return;
			case SSL_ERROR_ZERO_RETURN:
				http_got(c, 0);
				return;
			default:
				/* an unclean close counts as a close only when
				 * the response is complete by its own framing
				 */
				http_fail(c, HTTP_E_IO,
					  "%s:%u: TLS read failed", c->url.host,
					  c->url.port);
				return;
			}
		}
		ssize_t r = read(c->fd, c->rbuf.p, c->rbuf.cap);

		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN) {
			http_io_set(c, EV_READ);
			return;
		}
		if (r == -1) {
			http_fail(c, HTTP_E_IO, "%s:%u: read: %s", c->url.host,
				  c->url.port, strerror(errno));
			return;
		}
		http_got(c, (size_t)r);
		if (r == 0)
			return;
	}
}

static void http_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_client *c = w->data;
	socklen_t len;
	int soerr;

	(void)loop;
	(void)revents;
	switch (c->state) {
	case HTTP_S_CONNECT:
		len = sizeof(soerr);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) ==
			    -1 ||
		    soerr) {
			http_fail(c, HTTP_E_CONNECT, "connect to %s:%u: %s",
				  c->url.host, c->url.port,
				  strerror(soerr ? soerr : errno));
			return;
		}
		if (!c->url.tls) {
			http_set_state(c, HTTP_S_SEND);
			break;
		}
		if (http_tls_start(c) == -1) {
			http_fail(c, HTTP_E_TLS, "%s:%u: TLS setup failed",
				  c->url.host, c->url.port);
			return;
		}
		http_set_state(c, HTTP_S_HANDSHAKE);
		/* fall through */
	case HTTP_S_HANDSHAKE:
		if (!http_tls_handshake(c))
			return;
		http_set_state(c, HTTP_S_SEND);
		break;
	case HTTP_S_SEND:
	case HTTP_S_RECV:
		break;
	default:
		return;
	}
	if (c->state == HTTP_S_SEND) {
		if (!http_send(c))
			return;
		http_set_state(c, HTTP_S_RECV);
	}
	http_recv(c);
}

int http_start(struct http_client *c, const struct http_url *u, void *ssl_ctx,
	       double timeout, http_done_fn done, void *arg)
{
	if (c->state != HTTP_S_IDLE || c->gai_busy)
		return -1;
	if (u->tls && !ssl_ctx)
		return -1;
	c->url = *u;
	c->ssl_ctx = u->tls ? ssl_ctx : NULL;
	c->done = done;
	c->arg = arg;
	c->sent = 0;
	c->errbuf[0] = '\0';
	http_resp_init(&c->resp, &c->body);
	snprintf(c->port_str, sizeof(c->port_str), "%u", u->port);
	memset(&c->hints, 0, sizeof(c->hints));
	c->hints.ai_family = AF_UNSPEC;
	c->hints.ai_socktype = SOCK_STREAM;
	http_set_state(c, HTTP_S_RESOLVE);
	ev_timer_set(&c->timer, timeout, 0.);
	ev_timer_start(c->loop, &c->timer);
	/* first resolver step from the loop, so <done> never runs inside */
	c->poll.repeat = HTTP_RESOLVE_POLL;
	ev_timer_set(&c->poll, 0., HTTP_RESOLVE_POLL);
	ev_timer_start(c->loop, &c->poll);
	return 0;
}

int http_request_build(struct http_client *c, const char *method,
		       const struct http_url *u, const char *path,
		       const char *headers, const char *ctype, const char *body,
		       size_t body_len)
{
	char head[HTTP_PATH_MAX + HTTP_HOST_MAX + 256];
	bool v6 = strchr(u->host, ':') != NULL;
	bool dflt = u->port == (u->tls ? 443 : 80);
	char port[8] = "";
	int n;

	if (!dflt)
		snprintf(port, sizeof(port), ":%u", u->port);
	n = snprintf(head, sizeof(head),
		     "%s %s HTTP/1.1\r\nHost: %s%s%s%s\r\n"
		     "Connection: close\r\nAccept: application/json\r\n"
		     "User-Agent: aoai-spoa\r\n",
		     method, path, v6 ? "[" : "", u->host, v6 ? "]" : "", port);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	sec_buf_clear(&c->req);
	if (sec_buf_append(&c->req, head, (size_t)n) == -1)
		return -1;
	if (headers && sec_buf_append(&c->req, headers, strlen(headers)) == -1)
		goto fail;
	if (body) {
		n = snprintf(head, sizeof(head),
			     "Content-Type: %s\r\nContent-Length: %zu\r\n",
			     ctype, body_len);
		if (sec_buf_append(&c->req, head, (size_t)n) == -1)
			goto fail;
	}
	if (sec_buf_append(&c->req, "\r\n", 2) == -1)
		goto fail;
	if (body && sec_buf_append(&c->req, body, body_len) == -1)
		goto fail;
	return 0;
fail:
	sec_buf_clear(&c->req);
	return -1;
}

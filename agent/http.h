/* SPDX-License-Identifier: Apache-2.0 */
/* Small non-blocking HTTP/1.1 client on libev for the token endpoints:
 * one request per connection ("Connection: close"), TLS with OpenSSL over
 * the same descriptor, certificates verified, sizes capped.
 */
#ifndef AOAI_HTTP_H
#define AOAI_HTTP_H

#include <stddef.h>

#include "http-t.h"

/* Parses "http[s]://host[:port][/path]" ("[v6]" accepted). Returns 0, or
 * -1 with the reason in <err>.
 */
int http_url_parse(const char *s, struct http_url *u, char *err, size_t errlen);

/* Response parser (I/O-free): http_resp_init() (any prior content of <r>
 * is overwritten) then http_resp_feed() with
 * each piece read. feed returns 1 when the response is complete (the
 * remaining bytes are ignored), 0 when it needs more, -1 on error
 * (r->err). A Retry-After value (up to 63 bytes) is kept in
 * r->retry_after. http_resp_eof() reports the connection's end: 1 when that
 * completes the response, -1 when it came too early.
 */
void http_resp_init(struct http_resp *r, struct sec_buf *body);
int http_resp_feed(struct http_resp *r, const char *p, size_t n);
int http_resp_eof(struct http_resp *r);

/* A TLS context verifying servers against <ca_file>, or the system's CAs
 * when NULL. Returns an SSL_CTX *, or NULL with the reason in <err>.
 */
void *http_tls_ctx_new(const char *ca_file, char *err, size_t errlen);
void http_tls_ctx_free(void *ctx);

/* Prepares <c> (buffers allocated once). Returns 0 or -1. */
int http_client_init(struct http_client *c, struct ev_loop *loop);

/* Cancels what is in flight and frees the buffers. */
void http_client_free(struct http_client *c);

/* Starts one exchange: sends the request bytes in c->req (built by the
 * caller with http_request_build()) to <u>, over TLS with <ssl_ctx> when
 * u->tls. <done> is called later, never from inside this function.
 * Returns 0, or -1 if an exchange is already in flight.
 */
int http_start(struct http_client *c, const struct http_url *u, void *ssl_ctx,
	       double timeout, http_done_fn done, void *arg);

/* Stops the exchange in flight, if any; no callback follows. A name
 * resolution that cannot be cancelled is waited for (shutdown or
 * reconfiguration only).
 */
void http_cancel(struct http_client *c);

/* Fills c->req with "<method> <path> HTTP/1.1", Host, Connection: close,
 * the lines in <headers> (each ending in CRLF, may be NULL), and a body of
 * <body_len> bytes with its Content-Length and <ctype> when <body> is not
 * NULL. Returns 0, or -1 if it does not fit HTTP_REQUEST_MAX.
 */
int http_request_build(struct http_client *c, const char *method,
		       const struct http_url *u, const char *path,
		       const char *headers, const char *ctype, const char *body,
		       size_t body_len);

const char *http_err_name(enum http_err e);

#endif /* AOAI_HTTP_H */

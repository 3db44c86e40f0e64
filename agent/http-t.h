/* SPDX-License-Identifier: Apache-2.0 */
/* Types of the small HTTP/1.1 client used to fetch access tokens: one
 * request per connection, optional TLS over the same descriptor.
 */
#ifndef AOAI_HTTP_T_H
#define AOAI_HTTP_T_H

#include <ev.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "secret-t.h"

#define HTTP_HOST_MAX	 255
#define HTTP_PATH_MAX	 1024
#define HTTP_LINE_MAX	 8192	   /* one status or header line */
#define HTTP_HEAD_MAX	 65536	   /* status line and headers together */
#define HTTP_BODY_MAX	 (1 << 18) /* token responses are a few KiB */
#define HTTP_REQUEST_MAX 16384	   /* a signed client assertion fits */
#define HTTP_ERR_MAX	 256

/* A parsed http:// or https:// URL. */
struct http_url {
	bool tls;		      /* https */
	char host[HTTP_HOST_MAX + 1]; /* name or address, no brackets */
	uint16_t port;		      /* explicit or the scheme's */
	char path[HTTP_PATH_MAX + 1]; /* from the first '/', "/" if none */
};

/* Response parser states, in order. */
enum http_resp_state {
	HTTP_R_STATUS,	   /* status line */
	HTTP_R_HEADERS,	   /* header lines up to the empty one */
	HTTP_R_BODY_LEN,   /* Content-Length bytes */
	HTTP_R_CHUNK_SIZE, /* a chunk-size line */
	HTTP_R_CHUNK_DATA, /* chunk bytes */
	HTTP_R_CHUNK_END,  /* CRLF after a chunk */
	HTTP_R_TRAILERS,   /* trailer lines after the last chunk */
	HTTP_R_BODY_EOF,   /* body delimited by the connection's close */
	HTTP_R_DONE,	   /* complete response */
};

/* Incremental response parser; the body goes to a secret buffer. */
struct http_resp {
	enum http_resp_state state; /* where the next byte belongs */
	int status;		    /* status code, once the line is read */
	bool chunked;		    /* Transfer-Encoding: chunked */
	bool has_len;		    /* a Content-Length was given */
	uint64_t left;		    /* body or chunk bytes still expected */
	size_t head_bytes;	    /* status and header bytes so far */
	size_t line_len;	    /* bytes in <line> */
	char retry_after[64];	    /* Retry-After value, "" if none */
	char line[HTTP_LINE_MAX];   /* the line being assembled */
	struct sec_buf *body;	    /* where the body goes (capped) */
	const char *err;	    /* static reason after an error */
};

/* Client errors, reported to the completion callback. */
enum http_err {
	HTTP_OK,	/* a complete response was read */
	HTTP_E_RESOLVE, /* name resolution failed */
	HTTP_E_CONNECT, /* TCP connect failed */
	HTTP_E_TLS,	/* handshake or certificate verification failed */
	HTTP_E_IO,	/* read or write failed, early close */
	HTTP_E_PROTO,	/* malformed or too large response */
	HTTP_E_TIMEOUT, /* the whole exchange took too long */
};

/* Client states; every change goes through http_set_state(). */
enum http_state {
	HTTP_S_IDLE,	  /* nothing in flight */
	HTTP_S_RESOLVE,	  /* getaddrinfo_a() running */
	HTTP_S_CONNECT,	  /* non-blocking connect in progress */
	HTTP_S_HANDSHAKE, /* TLS handshake */
	HTTP_S_SEND,	  /* writing the request */
	HTTP_S_RECV,	  /* reading the response */
};

struct http_client;

/* Called once per http_start() unless http_cancel() came first. <err> is
 * HTTP_OK with c->resp.status and c->body filled, else an error whose text
 * is in c->errbuf. The callback may call http_start() again or
 * http_cancel().
 */
typedef void (*http_done_fn)(struct http_client *c, enum http_err err,
			     void *arg);

/* One exchange at a time. Embedded by its owner; watchers inside. */
struct http_client {
	struct ev_loop *loop;	   /* loop the watchers run on */
	ev_io io;		   /* the connection's readiness */
	ev_timer timer;		   /* deadline of the whole exchange */
	ev_timer poll;		   /* resolver polling while resolving */
	enum http_state state;	   /* see enum http_state */
	int fd;			   /* connection, -1 when none */
	void *ssl_ctx;		   /* SSL_CTX (borrowed), NULL: no TLS */
	void *ssl;		   /* SSL of this connection */
	struct http_url url;	   /* where the request goes */
	struct gaicb gai;	   /* resolver request */
	bool gai_busy;		   /* <gai> submitted, not yet reaped */
	struct gaicb *gai_list[1]; /* getaddrinfo_a() wants a list */
	struct addrinfo hints;	   /* resolver hints */
	char port_str[8];	   /* the port, for the resolver */
	struct sec_buf req;	   /* request bytes (may hold a secret) */
	size_t sent;		   /* request bytes written */
	struct sec_buf rbuf;	   /* read buffer */
	struct sec_buf body;	   /* response body */
	struct http_resp resp;	   /* response parser */
	http_done_fn done;	   /* completion callback */
	void *arg;		   /* its argument */
	char errbuf[HTTP_ERR_MAX]; /* reason of the last failure */
};

#endif /* AOAI_HTTP_T_H */

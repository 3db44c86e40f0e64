/* SPDX-License-Identifier: Apache-2.0 */
/* I/O-free HTTP/1.x request codec of the mock Azure OpenAI server. */
#ifndef MOCK_HTTP_H
#define MOCK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MHTTP_HEAD_MAX	  (32 * 1024)	    /* request line + headers */
#define MHTTP_HEADERS_MAX 100		    /* header fields per request */
#define MHTTP_TARGET_MAX  8192		    /* request-target length */
#define MHTTP_BODY_MAX	  (4 * 1024 * 1024) /* decoded body */
#define MHTTP_LINE_MAX	  1024		    /* chunk-size and trailer lines */

/* A piece of the request buffer, by offset: the buffer may be reallocated
 * while the body is read, so pointers into it would not survive.
 */
struct mhttp_span {
	uint32_t off; /* from the start of the buffer */
	uint32_t len; /* bytes */
};

/* A borrowed string, not NUL-terminated. */
struct mhttp_str {
	const char *p; /* first byte */
	size_t len;    /* bytes */
};

enum mhttp_body {
	MHTTP_BODY_NONE,    /* no body */
	MHTTP_BODY_LENGTH,  /* Content-Length bytes follow the head */
	MHTTP_BODY_CHUNKED, /* Transfer-Encoding: chunked */
};

/* What the mock needs from a parsed request head. */
struct mhttp_req {
	struct mhttp_span method;  /* request method token */
	struct mhttp_span target;  /* origin-form request-target */
	struct mhttp_span path;	   /* target up to '?' */
	struct mhttp_span query;   /* after '?', empty when none */
	struct mhttp_span api_key; /* api-key value, when has_api_key */
	struct mhttp_span authz;   /* Authorization value, when has_authz */
	bool has_api_key;	   /* an api-key header was present */
	bool has_authz;		   /* an Authorization header was present */
	bool has_aoai_hdr;	   /* a header named x-aoai-* was present */
	uint64_t decided_us;	   /* x-lab-decided-us, 0 when absent or bad */
	int minor;		   /* HTTP/1.<minor> */
	bool keep_alive;	   /* connection persists after the response */
	bool expect_continue;	   /* Expect: 100-continue */
	enum mhttp_body body;	   /* how the body is framed */
	size_t content_length;	   /* when body == MHTTP_BODY_LENGTH */
	size_t head_len;	   /* bytes of head, final CRLFCRLF included */
};

enum mhttp_chunk_state {
	MHTTP_CHUNK_SIZE,     /* expecting a chunk-size line */
	MHTTP_CHUNK_DATA,     /* inside chunk-data */
	MHTTP_CHUNK_DATA_END, /* expecting the CRLF after chunk-data */
	MHTTP_CHUNK_TRAILER,  /* trailer section, up to the empty line */
	MHTTP_CHUNK_DONE,     /* whole body decoded */
};

/* Progress of the in-place chunked decoder, kept across partial reads. */
struct mhttp_chunk {
	enum mhttp_chunk_state state; /* where the decoder stands */
	size_t remaining;	      /* bytes left in the current chunk */
	size_t body_len;	      /* decoded bytes, stored at body_off */
	size_t rpos;	    /* raw bytes consumed, from buffer start */
	size_t trailer_len; /* trailer bytes seen so far */
};

/* A bounded output buffer over storage it does not own. Writes that do not
 * fit set <over> and are dropped; the content is then unusable.
 */
struct mbuf {
	char *p;    /* storage */
	size_t len; /* bytes used */
	size_t cap; /* bytes available */
	bool over;  /* a write did not fit */
};

/* Parses the request head at the start of buf[0..len). <scan> keeps the
 * search position across calls (start at 0). Returns the head length (>0)
 * and fills <req>, 0 when more bytes are needed, or -1 with the HTTP status
 * to answer in <status> (400, 413, 414, 431, 501, 505).
 */
int mhttp_parse_head(const char *buf, size_t len, size_t *scan,
		     struct mhttp_req *req, int *status);

/* Prepares <ck> for a chunked body starting at <body_off>. */
void mhttp_chunk_init(struct mhttp_chunk *ck, size_t body_off);

/* Decodes the chunked body in buf[0..len) in place: decoded bytes are moved
 * down to buf[body_off..body_off + ck->body_len). Returns 1 when the body is
 * complete (ck->rpos is then the end of the request), 0 when more bytes are
 * needed, or -1 with 400, 413 or 431 in <status>.
 */
int mhttp_chunk_decode(char *buf, size_t len, size_t body_off,
		       struct mhttp_chunk *ck, int *status);

/* Returns the string a span designates in <buf>. */
static inline struct mhttp_str mhttp_at(const char *buf, struct mhttp_span s)
{
	struct mhttp_str str = {buf + s.off, s.len};

	return str;
}

/* True when <s> equals the NUL-terminated <lit>, byte for byte. */
bool mhttp_str_eq(struct mhttp_str s, const char *lit);

/* True when <s> starts with the NUL-terminated <lit>. */
bool mhttp_str_prefix(struct mhttp_str s, const char *lit);

/* Iterates "k=v&k=v" pairs of a query string. <q> is advanced past the pair
 * returned. Returns false when there are no more pairs. A pair without '='
 * has an empty value and <has_val> false.
 */
bool mhttp_query_next(struct mhttp_str *q, struct mhttp_str *key,
		      struct mhttp_str *val, bool *has_val);

/* Finds the value of <key> in query string <q>. */
bool mhttp_query_get(struct mhttp_str q, const char *key,
		     struct mhttp_str *val);

/* Appends formatted text to <b>; sets b->over when it does not fit. */
void mbuf_printf(struct mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Appends <n> bytes to <b>; sets b->over when they do not fit. */
void mbuf_add(struct mbuf *b, const void *src, size_t n);

#endif /* MOCK_HTTP_H */

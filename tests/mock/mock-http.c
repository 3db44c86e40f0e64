/* SPDX-License-Identifier: Apache-2.0 */
/* I/O-free HTTP/1.x request codec of the mock Azure OpenAI server. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mock-http.h"

/* RFC 9110 §5.6.2: tchar. */
static bool mhttp_is_tchar(unsigned char ch)
{
	if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z'))
		return true;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* RFC 9110 §5.5: field-vchar / SP / HTAB, obs-text allowed. */
static bool mhttp_is_field_char(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static bool mhttp_is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static int mhttp_hex(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static struct mhttp_span mhttp_span_of(const char *buf, const char *p,
				       size_t len)
{
	struct mhttp_span s = {(uint32_t)(p - buf), (uint32_t)len};

	return s;
}

/* True when [p, p+len) equals <lit> ignoring ASCII case. */
static bool mhttp_ieq(const char *p, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(p, lit, len) == 0;
}

/* Parses "HTTP/1.x" into <minor>. Returns 0, or the status to answer. */
/* A decimal of at most 19 digits, or 0 when <v> is anything else. */
static uint64_t mhttp_u64(const char *v, size_t vlen)
{
	uint64_t n = 0;
	size_t i;

	if (vlen == 0 || vlen > 19)
		return 0;
	for (i = 0; i < vlen; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	return n;
}

static int mhttp_parse_version(const char *p, size_t len, int *minor)
{
	if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' ||
	    p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
		return 400;
	if (p[5] != '1')
		return 505;
	*minor = p[7] - '0';
	return 0;
}

/* Parses the request line [p, eol). Returns 0, or the status to answer. */
static int mhttp_parse_reqline(const char *buf, const char *p, const char *eol,
			       struct mhttp_req *req)
{
	const char *m = p, *t, *q;

	while (p < eol && mhttp_is_tchar((unsigned char)*p))
		p++;
	if (p == m || p == eol || *p != ' ' || p - m > 32)
		return 400;
	req->method = mhttp_span_of(buf, m, p - m);
	t = ++p;
	while (p < eol && (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f)
		p++;
	if (p == t || p == eol || *p != ' ')
		return 400;
	if (p - t > MHTTP_TARGET_MAX)
		return 414;
	/* Only origin-form: HAProxy and the tests never send anything else. */
	if (*t != '/')
		return 400;
	req->target = mhttp_span_of(buf, t, p - t);
	q = memchr(t, '?', p - t);
	if (q) {
		req->path = mhttp_span_of(buf, t, q - t);
		req->query = mhttp_span_of(buf, q + 1, p - q - 1);
	} else {
		req->path = req->target;
		req->query = mhttp_span_of(buf, p, 0);
	}
	p++;
	return mhttp_parse_version(p, eol - p, &req->minor);
}

/* Head parsing state that does not belong in the result. */
struct mhttp_seen {
	bool has_cl;	       /* a Content-Length was seen */
	bool has_te;	       /* a Transfer-Encoding was seen */
	bool conn_close;       /* Connection: close */
	bool conn_ka;	       /* Connection: keep-alive */
	bool too_large;	       /* Content-Length above MHTTP_BODY_MAX */
	int hosts;	       /* Host fields */
	unsigned long long cl; /* Content-Length value */
};

/* Reads Connection tokens (RFC 9110 §7.6.1). */
static void mhttp_connection(const char *v, size_t vlen,
			     struct mhttp_seen *seen)
{
	const char *end = v + vlen;

	while (v < end) {
		const char *tok, *tend;

		while (v < end && (mhttp_is_ows(*v) || *v == ','))
			v++;
		tok = v;
		while (v < end && *v != ',')
			v++;
		tend = v;
		while (tend > tok && mhttp_is_ows(tend[-1]))
			tend--;
		if (mhttp_ieq(tok, tend - tok, "close"))
			seen->conn_close = true;
		else if (mhttp_ieq(tok, tend - tok, "keep-alive"))
			seen->conn_ka = true;
	}
}

/* Interprets one header field. Returns 0, or the status to answer. */
static int mhttp_field(const char *buf, const char *n, size_t nlen,
		       const char *v, size_t vlen, struct mhttp_req *req,
		       struct mhttp_seen *seen)
{
	if (mhttp_ieq(n, nlen, "content-length")) {
		unsigned long long cl = 0;
		size_t i;

		/* RFC 9112 §6.3: a list or a bad value is unrecoverable. */
		if (vlen == 0)
			return 400;
		for (i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return 400;
			/* Saturate: anything this long is over the cap. */
			if (cl < 1000000000000ULL)
				cl = cl * 10 + (unsigned long long)(v[i] - '0');
		}
		if (seen->has_cl && seen->cl != cl)
			return 400;
		seen->has_cl = true;
		seen->cl = cl;
		if (cl > MHTTP_BODY_MAX)
			seen->too_large = true;
	} else if (mhttp_ieq(n, nlen, "transfer-encoding")) {
		if (seen->has_te)
			return 400;
		seen->has_te = true;
		if (!mhttp_ieq(v, vlen, "chunked"))
			return 501;
	} else if (mhttp_ieq(n, nlen, "connection")) {
		mhttp_connection(v, vlen, seen);
	} else if (mhttp_ieq(n, nlen, "expect")) {
		if (mhttp_ieq(v, vlen, "100-continue"))
			req->expect_continue = true;
	} else if (mhttp_ieq(n, nlen, "host")) {
		seen->hosts++;
	} else if (mhttp_ieq(n, nlen, "api-key")) {
		if (req->has_api_key)
			return 400;
		req->has_api_key = true;
		req->api_key = mhttp_span_of(buf, v, vlen);
	} else if (mhttp_ieq(n, nlen, "x-lab-decided-us")) {
		/* the lab's HAProxy: when it had the routing decision (wall
		 * clock, us); read by the throttle counters only */
		req->decided_us = mhttp_u64(v, vlen);
	} else if (nlen > 7 && strncasecmp(n, "x-aoai-", 7) == 0) {
		req->has_aoai_hdr = true;
	} else if (mhttp_ieq(n, nlen, "authorization")) {
		if (req->has_authz)
			return 400;
		req->has_authz = true;
		req->authz = mhttp_span_of(buf, v, vlen);
	}
	return 0;
}

/* Parses the header lines in [p, hend), hend being the final empty line. */
static int mhttp_parse_fields(const char *buf, const char *p, const char *hend,
			      struct mhttp_req *req, struct mhttp_seen *seen)
{
	int fields = 0;

	while (p < hend) {
		const char *eol = memmem(p, (size_t)(hend - p), "\r\n", 2);
		const char *n = p, *v, *vend;
		size_t nlen;
		int st;

		if (!eol)
			return 400;
		/* RFC 9112 §5.2: obs-fold is rejected. */
		if (mhttp_is_ows(*p))
			return 400;
		if (++fields > MHTTP_HEADERS_MAX)
			return 431;
		while (p < eol && mhttp_is_tchar((unsigned char)*p))
			p++;
		/* RFC 9112 §5.1: no whitespace before the colon. */
		if (p == n || p == eol || *p != ':')
			return 400;
		nlen = (size_t)(p - n);
		v = p + 1;
		while (v < eol && mhttp_is_ows(*v))
			v++;
		vend = eol;
		while (vend > v && mhttp_is_ows(vend[-1]))
			vend--;
		for (p = v; p < vend; p++)
			if (!mhttp_is_field_char((unsigned char)*p))
				return 400;
		st = mhttp_field(buf, n, nlen, v, (size_t)(vend - v), req,
				 seen);
		if (st)
			return st;
		p = eol + 2;
	}
	return 0;
}

int mhttp_parse_head(const char *buf, size_t len, size_t *scan,
		     struct mhttp_req *req, int *status)
{
	struct mhttp_seen seen = {0};
	const char *end, *eol;
	size_t start = 0, limit, from;
	int st;

	/* RFC 9112 §2.2: empty lines before the request-line are ignored. */
	while (start + 1 < len && buf[start] == '\r' && buf[start + 1] == '\n')
		start += 2;
	limit = len < MHTTP_HEAD_MAX ? len : MHTTP_HEAD_MAX;
	if (start >= MHTTP_HEAD_MAX) {
		*status = 400;
		return -1;
	}
	from = *scan > 3 ? *scan - 3 : 0;
	if (from < start)
		from = start;
	end = limit > from ? memmem(buf + from, limit - from, "\r\n\r\n", 4)
			   : NULL;
	if (!end) {
		*scan = limit;
		if (len >= MHTTP_HEAD_MAX) {
			*status = 431;
			return -1;
		}
		return 0;
	}

	memset(req, 0, sizeof(*req));
	req->head_len = (size_t)(end - buf) + 4;
	eol = memmem(buf + start, (size_t)(end + 2 - (buf + start)), "\r\n", 2);
	st = mhttp_parse_reqline(buf, buf + start, eol, req);
	if (!st)
		st = mhttp_parse_fields(buf, eol + 2, end + 2, req, &seen);
	if (!st && seen.has_cl && seen.has_te)
		st = 400; /* RFC 9112 §6.3 rule 3: smuggling risk, refuse */
	if (!st && seen.has_te && req->minor == 0)
		st = 400;
	if (!st && req->minor >= 1 && seen.hosts != 1)
		st = 400; /* RFC 9112 §3.2 */
	if (!st && seen.hosts > 1)
		st = 400;
	if (!st && seen.too_large)
		st = 413;
	if (st) {
		*status = st;
		return -1;
	}
	if (req->minor >= 1)
		req->keep_alive = !seen.conn_close;
	else
		req->keep_alive = seen.conn_ka && !seen.conn_close;
	if (seen.has_te) {
		req->body = MHTTP_BODY_CHUNKED;
	} else if (seen.has_cl && seen.cl > 0) {
		req->body = MHTTP_BODY_LENGTH;
		req->content_length = (size_t)seen.cl;
	}
	return (int)req->head_len;
}

void mhttp_chunk_init(struct mhttp_chunk *ck, size_t body_off)
{
	memset(ck, 0, sizeof(*ck));
	ck->state = MHTTP_CHUNK_SIZE;
	ck->rpos = body_off;
}

/* Finds the CRLF ending the line at buf[rpos..len) within MHTTP_LINE_MAX.
 * Returns it, or NULL with *too_long telling whether waiting is pointless.
 */
static const char *mhttp_line(const char *buf, size_t len, size_t rpos,
			      bool *too_long)
{
	size_t avail = len - rpos;
	size_t n = avail < MHTTP_LINE_MAX ? avail : MHTTP_LINE_MAX;
	const char *eol = memmem(buf + rpos, n, "\r\n", 2);

	*too_long = !eol && avail >= MHTTP_LINE_MAX;
	return eol;
}

/* Parses a chunk-size line [p, eol) (RFC 9112 §7.1). Returns 0, or the
 * status to answer.
 */
static int mhttp_chunk_size(const char *p, const char *eol, size_t *size)
{
	const char *d = p;
	size_t v = 0;
	int h;

	while (p < eol && (h = mhttp_hex(*p)) >= 0) {
		/* Reject before overflow: no chunk may exceed the body cap. */
		if (v > (MHTTP_BODY_MAX >> 4))
			return 413;
		v = (v << 4) | (size_t)h;
		p++;
	}
	if (p == d)
		return 400;
	while (p < eol && mhttp_is_ows(*p))
		p++;
	if (p < eol && *p != ';')
		return 400;
	for (; p < eol; p++)
		if (!mhttp_is_field_char((unsigned char)*p))
			return 400;
	if (v > MHTTP_BODY_MAX)
		return 413;
	*size = v;
	return 0;
}

int mhttp_chunk_decode(char *buf, size_t len, size_t body_off,
		       struct mhttp_chunk *ck, int *status)
{
	const char *eol;
	bool too_long;
	size_t n;
	int st;

	for (;;) {
		switch (ck->state) {
		case MHTTP_CHUNK_SIZE:
			eol = mhttp_line(buf, len, ck->rpos, &too_long);
			if (!eol) {
				if (!too_long)
					return 0;
				*status = 400;
				return -1;
			}
			st = mhttp_chunk_size(buf + ck->rpos, eol, &n);
			if (!st && ck->body_len + n > MHTTP_BODY_MAX)
				st = 413;
			if (st) {
				*status = st;
				return -1;
			}
			ck->rpos = (size_t)(eol - buf) + 2;
			ck->remaining = n;
			ck->state = n ? MHTTP_CHUNK_DATA : MHTTP_CHUNK_TRAILER;
			break;
		case MHTTP_CHUNK_DATA:
			n = len - ck->rpos;
			if (n > ck->remaining)
				n = ck->remaining;
			if (n == 0)
				return 0;
			memmove(buf + body_off + ck->body_len, buf + ck->rpos,
				n);
			ck->body_len += n;
			ck->rpos += n;
			ck->remaining -= n;
			if (ck->remaining == 0)
				ck->state = MHTTP_CHUNK_DATA_END;
			break;
		case MHTTP_CHUNK_DATA_END:
			if (len - ck->rpos < 2)
				return 0;
			if (buf[ck->rpos] != '\r' ||
			    buf[ck->rpos + 1] != '\n') {
				*status = 400;
				return -1;
			}
			ck->rpos += 2;
			ck->state = MHTTP_CHUNK_SIZE;
			break;
		case MHTTP_CHUNK_TRAILER:
			eol = mhttp_line(buf, len, ck->rpos, &too_long);
			if (!eol) {
				if (!too_long)
					return 0;
				*status = 431;
				return -1;
			}
			n = (size_t)(eol - buf) + 2 - ck->rpos;
			ck->rpos += n;
			if (n == 2) {
				ck->state = MHTTP_CHUNK_DONE;
				return 1;
			}
			/* Trailer fields are read and ignored (RFC 9110 §6.5). */
			ck->trailer_len += n;
			if (ck->trailer_len > MHTTP_HEAD_MAX) {
				*status = 431;
				return -1;
			}
			break;
		case MHTTP_CHUNK_DONE:
			return 1;
		}
	}
}

bool mhttp_str_eq(struct mhttp_str s, const char *lit)
{
	return strlen(lit) == s.len && memcmp(s.p, lit, s.len) == 0;
}

bool mhttp_str_prefix(struct mhttp_str s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len >= n && memcmp(s.p, lit, n) == 0;
}

bool mhttp_query_next(struct mhttp_str *q, struct mhttp_str *key,
		      struct mhttp_str *val, bool *has_val)
{
	const char *p, *end, *amp, *eq;

	/* Skip empty pairs ("a=1&&b=2"). */
	while (q->len > 0 && q->p[0] == '&') {
		q->p++;
		q->len--;
	}
	if (q->len == 0)
		return false;
	p = q->p;
	end = q->p + q->len;
	amp = memchr(p, '&', (size_t)(end - p));
	if (!amp)
		amp = end;
	eq = memchr(p, '=', (size_t)(amp - p));
	key->p = p;
	if (eq) {
		key->len = (size_t)(eq - p);
		val->p = eq + 1;
		val->len = (size_t)(amp - eq - 1);
		*has_val = true;
	} else {
		key->len = (size_t)(amp - p);
		val->p = amp;
		val->len = 0;
		*has_val = false;
	}
	q->len -= (size_t)(amp - p);
	q->p = amp;
	return true;
}

bool mhttp_query_get(struct mhttp_str q, const char *key, struct mhttp_str *val)
{
	struct mhttp_str k, v;
	bool has_val;

	while (mhttp_query_next(&q, &k, &v, &has_val)) {
		if (has_val && mhttp_str_eq(k, key)) {
			*val = v;
			return true;
		}
	}
	return false;
}

void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	size_t room;
	va_list ap;
	int n;

	if (b->over)
		return;
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		b->over = true;
		return;
	}
	b->len += (size_t)n;
}

void mbuf_add(struct mbuf *b, const void *src, size_t n)
{
	if (b->over || n > b->cap - b->len) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}

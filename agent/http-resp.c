/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/1.1 response parser: status line, headers, Content-Length, chunked
 * or close-delimited bodies (RFC 9112), every size capped.
 */
#include <string.h>
#include <strings.h>

#include "http.h"
#include "secret.h"

void http_resp_init(struct http_resp *r, struct sec_buf *body)
{
	memset(r, 0, sizeof(*r));
	r->state = HTTP_R_STATUS;
	r->body = body;
	sec_buf_clear(body);
}

static int http_resp_fail(struct http_resp *r, const char *why)
{
	r->err = why;
	return -1;
}

/* "HTTP/1.x NNN reason" */
static int http_resp_status(struct http_resp *r, const char *l, size_t n)
{
	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[8] != ' ')
		return http_resp_fail(r, "bad status line");
	for (int i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return http_resp_fail(r, "bad status code");
	if (n > 12 && l[12] != ' ')
		return http_resp_fail(r, "bad status line");
	r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (r->status < 100)
		return http_resp_fail(r, "bad status code");
	return 0;
}

/* Decimal without sign or spaces inside; -1 on overflow or junk. */
static int http_parse_u64(const char *p, size_t n, int base, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned d;
		char c = p[i];

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (base == 16 && c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -1;
		if (v > (UINT64_MAX - d) / (unsigned)base)
			return -1;
		v = v * (unsigned)base + d;
	}
	*out = v;
	return 0;
}

static int http_resp_header(struct http_resp *r, const char *l, size_t n)
{
	const char *colon = memchr(l, ':', n);
	const char *v, *end = l + n;
	size_t nlen;

	if (!colon || colon == l)
		return http_resp_fail(r, "bad header line");
	nlen = (size_t)(colon - l);
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (nlen == 14 && strncasecmp(l, "content-length", 14) == 0) {
		uint64_t len;

		if (http_parse_u64(v, (size_t)(end - v), 10, &len) == -1)
			return http_resp_fail(r, "bad Content-Length");
		/* RFC 9112 §6.3: differing lengths are an error */
		if (r->has_len && len != r->left)
			return http_resp_fail(r, "conflicting Content-Length");
		r->has_len = true;
		r->left = len;
	} else if (nlen == 17 && strncasecmp(l, "transfer-encoding", 17) == 0) {
		size_t vl = (size_t)(end - v);

		/* only "chunked" alone is understood */
		if (vl != 7 || strncasecmp(v, "chunked", 7) != 0)
			return http_resp_fail(r,
					      "unsupported Transfer-Encoding");
		r->chunked = true;
	} else if (nlen == 11 && strncasecmp(l, "retry-after", 11) == 0 &&
		   (size_t)(end - v) < sizeof(r->retry_after)) {
		memcpy(r->retry_after, v, (size_t)(end - v));
		r->retry_after[end - v] = '\0';
	}
	return 0;
}

/* Called at the empty line ending the headers. */
static int http_resp_head_done(struct http_resp *r)
{
	if (r->status < 200) {
		/* 1xx interim: another head follows */
		r->state = HTTP_R_STATUS;
		r->has_len = false;
		r->chunked = false;
	} else if (r->status == 204 || r->status == 304)
		r->state = HTTP_R_DONE;
	else if (r->chunked)
		r->state = HTTP_R_CHUNK_SIZE;
	else if (r->has_len) {
		if (r->left > r->body->cap)
			return http_resp_fail(r, "body too large");
		r->state = r->left ? HTTP_R_BODY_LEN : HTTP_R_DONE;
	} else
		r->state = HTTP_R_BODY_EOF;
	return 0;
}

/* One complete line (without CRLF) in the current state. */
static int http_resp_line(struct http_resp *r, const char *l, size_t n)
{
	const char *semi;

	switch (r->state) {
	case HTTP_R_STATUS:
		if (http_resp_status(r, l, n) == -1)
			return -1;
		r->state = HTTP_R_HEADERS;
		return 0;
	case HTTP_R_HEADERS:
		if (n == 0)
			return http_resp_head_done(r);
		return http_resp_header(r, l, n);
	case HTTP_R_CHUNK_SIZE:
		semi = memchr(l, ';', n); /* chunk extensions ignored */
		if (semi)
			n = (size_t)(semi - l);
		while (n && (l[n - 1] == ' ' || l[n - 1] == '\t'))
			n--;
		if (http_parse_u64(l, n, 16, &r->left) == -1)
			return http_resp_fail(r, "bad chunk size");
		if (r->left > r->body->cap - r->body->len)
			return http_resp_fail(r, "body too large");
		r->state = r->left ? HTTP_R_CHUNK_DATA : HTTP_R_TRAILERS;
		return 0;
	case HTTP_R_CHUNK_END:
		if (n != 0)
			return http_resp_fail(r, "missing CRLF after chunk");
		r->state = HTTP_R_CHUNK_SIZE;
		return 0;
	case HTTP_R_TRAILERS:
		if (n == 0)
			r->state = HTTP_R_DONE;
		return 0;
	default:
		return http_resp_fail(r, "internal: line in body state");
	}
}

static bool http_resp_in_lines(const struct http_resp *r)
{
	return r->state == HTTP_R_STATUS || r->state == HTTP_R_HEADERS ||
	       r->state == HTTP_R_CHUNK_SIZE || r->state == HTTP_R_CHUNK_END ||
	       r->state == HTTP_R_TRAILERS;
}

int http_resp_feed(struct http_resp *r, const char *p, size_t n)
{
	const char *end = p + n;

	while (p < end && r->state != HTTP_R_DONE) {
		if (http_resp_in_lines(r)) {
			char c = *p++;

			if (r->state == HTTP_R_STATUS ||
			    r->state == HTTP_R_HEADERS) {
				if (++r->head_bytes > HTTP_HEAD_MAX)
					return http_resp_fail(
						r, "headers too large");
			}
			if (c != '\n') {
				if (r->line_len == sizeof(r->line))
					return http_resp_fail(r,
							      "line too long");
				r->line[r->line_len++] = c;
				continue;
			}
			size_t len = r->line_len;

			if (len && r->line[len - 1] == '\r')
				len--;
			r->line_len = 0;
			if (http_resp_line(r, r->line, len) == -1)
				return -1;
			continue;
		}
		size_t take = (size_t)(end - p);

		if (r->state != HTTP_R_BODY_EOF && take > r->left)
			take = (size_t)r->left;
		if (sec_buf_append(r->body, p, take) == -1)
			return http_resp_fail(r, "body too large");
		p += take;
		if (r->state == HTTP_R_BODY_EOF)
			continue;
		r->left -= take;
		if (r->left == 0)
			r->state = r->state == HTTP_R_BODY_LEN
					   ? HTTP_R_DONE
					   : HTTP_R_CHUNK_END;
	}
	return r->state == HTTP_R_DONE ? 1 : 0;
}

int http_resp_eof(struct http_resp *r)
{
	if (r->state == HTTP_R_DONE)
		return 1;
	if (r->state == HTTP_R_BODY_EOF) {
		r->state = HTTP_R_DONE;
		return 1;
	}
	return http_resp_fail(r, "connection closed before the response "
				 "ended");
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The metrics listener's HTTP: one request head in, one whole response
 * out, the connection closed after it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl-http.h"
#include "metrics.h"

static void ctl_http_error(struct buf *out, const char *status,
			   const char *extra)
{
	buf_printf(out,
		   "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
		   "Content-Length: %zu\r\n%sConnection: close\r\n\r\n"
		   "%s\n",
		   status, strlen(status) + 1, extra, status);
}

int ctl_http_answer(struct core *a, const char *head, size_t len,
		    struct buf *out)
{
	const char *sp1, *sp2, *eol, *target;
	struct buf body;
	size_t tlen, mlen;
	bool is_head;

	eol = memchr(head, '\n', len);
	sp1 = eol ? memchr(head, ' ', (size_t)(eol - head)) : NULL;
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp2 || eol - sp2 < 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1')) {
		ctl_http_error(out, "400 Bad Request", "");
		return 400;
	}
	mlen = (size_t)(sp1 - head);
	target = sp1 + 1;
	tlen = (size_t)(sp2 - target);
	is_head = mlen == 4 && memcmp(head, "HEAD", 4) == 0;
	if (!is_head && !(mlen == 3 && memcmp(head, "GET", 3) == 0)) {
		ctl_http_error(out, "405 Method Not Allowed",
			       "Allow: GET, HEAD\r\n");
		return 405;
	}
	/* a query string is allowed and ignored */
	if (!(tlen >= 8 && memcmp(target, "/metrics", 8) == 0 &&
	      (tlen == 8 || target[8] == '?'))) {
		ctl_http_error(out, "404 Not Found", "");
		return 404;
	}
	buf_init(&body, out->cap > 8192 ? out->cap - 4096 : out->cap);
	if (metrics_render(a, &body) < 0) {
		buf_free(&body);
		ctl_http_error(out, "500 Internal Server Error", "");
		return 500;
	}
	buf_printf(out,
		   "HTTP/1.1 200 OK\r\nContent-Type: " METRICS_CONTENT_TYPE
		   "\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
		   "Connection: close\r\n\r\n",
		   body.len);
	if (!is_head)
		buf_add(out, body.p, body.len);
	buf_free(&body);
	return 200;
}

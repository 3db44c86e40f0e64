/* SPDX-License-Identifier: Apache-2.0 */
/* The metrics listener's minimal HTTP/1.x server. */
#ifndef AOAI_CTL_HTTP_H
#define AOAI_CTL_HTTP_H

#include <stddef.h>

#include "core-t.h"
#include "buf.h"

/* Answers one HTTP/1.x request whose complete head (request line and
 * headers, up to the empty line) is <head, len>: GET or HEAD /metrics is
 * 200 with the exposition, another path 404, another method 405, a
 * malformed head 400; every answer closes the connection. The whole
 * response goes into <out>. Returns the HTTP status sent.
 */
int ctl_http_answer(struct core *a, const char *head, size_t len,
		    struct buf *out);

#endif /* AOAI_CTL_HTTP_H */

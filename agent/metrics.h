/* Prometheus text exposition of the agent, and its minimal HTTP server. */
#ifndef AOAI_METRICS_H
#define AOAI_METRICS_H

#include <stddef.h>

#include "agent-t.h"
#include "buf.h"

/* Longest HTTP request head the metrics listener reads. */
#define METRICS_HTTP_HEAD_MAX 4096

/* Content type of the text exposition format, version 0.0.4. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Renders every metric family of <a> into <out> (text format 0.0.4: HELP
 * and TYPE before each family, samples grouped, base units). May apply
 * passed breaker deadlines (route_*_info()), hence the hook. Returns 0, or
 * -1 when <out> overflowed its cap (its content is then incomplete).
 */
int metrics_render(struct agent *a, struct buf *out);

/* Answers one HTTP/1.x request whose complete head (request line and
 * headers, up to the empty line) is <head, len>: GET or HEAD /metrics is
 * 200 with the exposition, another path 404, another method 405, a
 * malformed head 400; every answer closes the connection. The whole
 * response goes into <out>. Returns the HTTP status sent.
 */
int metrics_http(struct agent *a, const char *head, size_t len,
		 struct buf *out);

#endif /* AOAI_METRICS_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition of the agent. */
#ifndef AOAI_METRICS_H
#define AOAI_METRICS_H

#include <stddef.h>

#include "core-t.h"
#include "buf.h"

/* Content type of the text exposition format, version 0.0.4. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Renders every metric family of <a> into <out> (text format 0.0.4: HELP
 * and TYPE before each family, samples grouped, base units). May apply
 * passed breaker deadlines (route_*_info()), hence the hook. Returns 0, or
 * -1 when <out> overflowed its cap (its content is then incomplete).
 */
int metrics_render(struct core *a, struct buf *out);

#endif /* AOAI_METRICS_H */

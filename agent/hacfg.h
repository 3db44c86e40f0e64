/* SPDX-License-Identifier: Apache-2.0 */
/* The HAProxy side rendered from the agent's configuration ("aoai-spoa
 * haproxy-config"): haproxy.cfg and aoai-spoe.conf, and the server lines
 * the running HAProxy is compared with ("aoai-spoa -c"). No I/O here.
 */
#ifndef AOAI_HACFG_H
#define AOAI_HACFG_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "cfg-t.h"

#define HACFG_WEIGHT_MAX 256	/* HAProxy's largest server weight */
#define HACFG_BACKEND	 "aoai" /* the rendered backend of the servers */
#define HACFG_OUT_MAX	 (8 * 1024 * 1024) /* cap of one rendered file */

/* What the "aoai" backend's server line of one backend says. */
struct hacfg_server {
	uint32_t weight; /* fail-open weight (HAProxy's "weight") */
	bool backup;	 /* a later priority of the first pool */
};

/* HAProxy version as major * 100 + minor (2.6 is 206); 0 means any. */
typedef unsigned hacfg_version;

/* Parses "2.6", "3.0", "3.2"... into *<v>: 2.6 or later. Returns 0 or -1. */
int hacfg_version_parse(const char *s, hacfg_version *v);

/* The server line of each backend of <cfg> into <out> (n_backends
 * entries): weights and backup flags from the first pool, weight 0 for a
 * backend outside it.
 */
void hacfg_servers(const struct cfg *cfg, struct hacfg_server *out);

/* What rendering needs beyond what the agent checks: an upstream endpoint
 * per backend, pool weights within HAProxy's, a listen address HAProxy
 * can reach. Each problem goes to <err> as "FILE:LINE:COL: message".
 * Returns the number of problems.
 */
unsigned hacfg_check(const struct cfg *cfg, cfg_error_fn err, void *arg);

/* Renders haproxy.cfg for <cfg> (hacfg_check() passed) into <out>. With
 * <v> 0 the file serves every version (".if version_atleast" kept);
 * otherwise the version conditions are resolved for <v>. Returns 0, or -1
 * when <out> overflowed.
 */
int hacfg_render_cfg(const struct cfg *cfg, hacfg_version v, struct buf *out);

/* Renders aoai-spoe.conf the same way. */
int hacfg_render_spoe(const struct cfg *cfg, hacfg_version v, struct buf *out);

#endif /* AOAI_HACFG_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Drift between the running HAProxy and the configuration ("aoai-spoa -c"
 * with a haproxy block): the aoai backend's servers, weights and backup
 * flags against what haproxy-config renders; with a fleet block, the
 * peers table, this node as HAProxy's local peer, the other peers, and
 * the response-path rules writing this node's key of each backend (an
 * ACL on var() matching "<backend>@<node>", as "show acl" lists them).
 */
#ifndef AOAI_HADRIFT_H
#define AOAI_HADRIFT_H

#include <stddef.h>

#include "cfg-t.h"

/* Receives one difference, "aoai/eastus: weight 2 in HAProxy, 3 in the
 * configuration".
 */
typedef void (*hadrift_fn)(void *arg, const char *msg);

/* Compares the answer <text> (NUL-terminated, cut in place) of
 * "show servers state B;show stat B 4 -1" (B: cfg->haproxy.backend) with
 * <cfg>: <fn> per
 * server missing in HAProxy, unknown to the configuration, whose weight
 * or backup flag differs. Returns the number of differences, or -1 when
 * the answer is not one (the reason in <err>).
 */
int hadrift_compare(const struct cfg *cfg, char *text, hadrift_fn fn, void *arg,
		    char *err, size_t errlen);

#define HADRIFT_UNREACHABLE (-1) /* HAProxy could not be asked */
#define HADRIFT_BAD_ANSWER  (-2) /* it answered, not with the servers */

/* Asks HAProxy's runtime API at cfg->haproxy.stats_socket and compares,
 * as hadrift_compare(). Blocking, at most a few seconds: for the command
 * line, never the event loop. Returns the number of differences, or
 * HADRIFT_UNREACHABLE (no connection, no answer in time) or
 * HADRIFT_BAD_ANSWER (no such backend, an error text), the reason in
 * <err>.
 */
int hadrift_check(const struct cfg *cfg, hadrift_fn fn, void *arg, char *err,
		  size_t errlen);

#endif /* AOAI_HADRIFT_H */

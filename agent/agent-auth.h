/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's Entra ID credentials: the authset built from the
 * configuration, its tokens handed to HAProxy by the runtime API link, and
 * the availability of keyless backends in routing ("auth").
 */
#ifndef AOAI_AGENT_AUTH_H
#define AOAI_AGENT_AUTH_H

#include "core-t.h"

struct authset;

/* Builds a set of the credentials of <cfg>'s keyless backends (secret
 * files read now), not started. *<out> is NULL when none is configured.
 * Returns 0, or -1 after logging why (nothing to free then).
 */
int agent_auth_prepare(const struct cfg *cfg, struct ev_loop *loop,
		       struct authset **out);

/* Puts <next> (from agent_auth_prepare(), may be NULL; ownership passes)
 * in force after route_apply() of the configuration it came from: takes
 * over the old set's valid tokens, frees the old set, starts <next>,
 * rewrites the map and marks every keyless backend without a token
 * HAProxy holds as unavailable (reason "auth"). Returns 0, or -1 (logged)
 * when the token map cannot be written: the backends stay unavailable.
 */
int agent_auth_commit(struct core *a, struct authset *next);

/* Frees a set agent_auth_prepare() made that is not used (NULL-safe). */
void agent_auth_abandon(struct authset *s);

/* Wires the hooks of the HAProxy link (again after hapi_reload()). */
void agent_auth_link(struct core *a);

/* Stops and frees the set (NULL-safe). */
void agent_auth_free(struct core *a);

#endif /* AOAI_AGENT_AUTH_H */

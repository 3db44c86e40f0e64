/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's messages: aoai-route and aoai-result (docs/design.md). */
#ifndef AOAI_SPOA_H
#define AOAI_SPOA_H

#include <stddef.h>

#include "spoa-t.h"

/* Variable names the agent sets, without HAProxy's var-prefix. */
#define SPOA_VAR_BACKEND     "backend"
#define SPOA_VAR_REASON	     "reason"
#define SPOA_VAR_RETRY_AFTER "retry_after"
/* aoai-result: this node's new deadline for the fleet's table */
#define SPOA_VAR_FLEET_KEY   "fleet_key"
#define SPOA_VAR_FLEET_UNTIL "fleet_until"

/* Handles the LIST-OF-MESSAGES of one NOTIFY and writes the actions of its
 * ACK at *p (at least one, whatever the messages). Returns 0, -1 when
 * the payload is malformed, or -2 when the actions do not fit before
 * <end>.
 */
int spoa_notify(struct spoa *s, const char *payload, size_t len, char **p,
		char *end);

/* Zeroes the counters and the latency histogram ("clear counters"). */
void spoa_reset_counters(struct spoa *s);

#endif /* AOAI_SPOA_H */

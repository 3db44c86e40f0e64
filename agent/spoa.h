/* The agent's messages: aoai-route and aoai-result (DESIGN.md contract). */
#ifndef AOAI_SPOA_H
#define AOAI_SPOA_H

#include <stddef.h>

#include "agent-t.h"

/* Variable names the agent sets, without HAProxy's var-prefix. */
#define SPOA_VAR_BACKEND     "backend"
#define SPOA_VAR_REASON	     "reason"
#define SPOA_VAR_RETRY_AFTER "retry_after"

/* Handles the LIST-OF-MESSAGES of one NOTIFY and writes the actions of its
 * ACK at *p (at least one, whatever the messages). Returns 0, or -1 when
 * the payload is malformed or the actions do not fit before <end>.
 */
int spoa_notify(struct agent *a, const char *payload, size_t len, char **p,
		char *end);

#endif /* AOAI_SPOA_H */

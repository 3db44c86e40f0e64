/* SPDX-License-Identifier: Apache-2.0 */
/* Breaker state changes, logged after the callback that caused them and
 * rate-limited per backend and kind: a flapping backend, or a burst of
 * trips, writes the first LOG_RL_BURST lines of each kind and then one
 * "N similar messages suppressed" line per window (log.c's limiter),
 * never a line per request from inside the request's own callback.
 */
#ifndef AOAI_STATELOG_H
#define AOAI_STATELOG_H

#include <stdint.h>

#include "statelog-t.h"

/* Sizes the limiters for <n_backends> (at start and after a reload: the
 * windows start over). Returns 0, or -1 out of memory (nothing changed).
 */
int statelog_resize(struct statelog *s, uint32_t n_backends);

/* Queues one change of backend <backend> (named <name>) entering state
 * <kind>, described by <line>. No allocation, no system call.
 */
void statelog_push(struct statelog *s, uint64_t now_ms, int prio,
		   uint32_t backend, const char *name, uint32_t kind,
		   const char *line);

/* Logs what was queued, through each backend's limiter of its kind. */
void statelog_flush(struct statelog *s);

void statelog_free(struct statelog *s);

#endif /* AOAI_STATELOG_H */

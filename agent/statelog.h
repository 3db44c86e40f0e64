/* SPDX-License-Identifier: Apache-2.0 */
/* Breaker state changes, logged after the callback that caused them and
 * rate-limited per backend and kind: a flapping backend, or a burst of
 * trips, writes the first line of each kind and then one "N similar
 * messages suppressed" line per window (log.c's limiter), never a line
 * per request from inside the request's own callback.
 */
#ifndef AOAI_STATELOG_H
#define AOAI_STATELOG_H

#include <stdint.h>

#include "cfg-t.h"
#include "log.h"

/* State changes held between two flushes; more in one loop iteration are
 * counted and reported as lost.
 */
#define STATELOG_QUEUE 64

/* Kinds of change, by the state entered (breaker states' order). */
#define STATELOG_KINDS 4

struct statelog_ev {
	uint64_t ms;		 /* monotonic, when it happened */
	int prio;		 /* LOG_NOTICE or LOG_WARNING */
	uint32_t backend;	 /* engine index at the time */
	uint8_t kind;		 /* the state entered */
	char name[CFG_NAME_MAX]; /* the backend's name then */
	char line[128];		 /* "closed -> open: 5 faults in 10s" */
};

struct statelog {
	struct log_rl *rl; /* STATELOG_KINDS per backend; owned */
	uint32_t n_backends;
	struct statelog_ev q[STATELOG_QUEUE];
	uint32_t n;    /* events queued */
	uint32_t lost; /* events that found the queue full */
};

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

/* SPDX-License-Identifier: Apache-2.0 */
/* Types of the breaker state-change log (statelog.h). */
#ifndef AOAI_STATELOG_T_H
#define AOAI_STATELOG_T_H

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

#endif /* AOAI_STATELOG_T_H */

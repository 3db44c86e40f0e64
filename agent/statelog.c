/* SPDX-License-Identifier: Apache-2.0 */
/* Breaker state changes: queued, then logged rate-limited. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "statelog.h"

int statelog_resize(struct statelog *s, uint32_t n_backends)
{
	struct log_rl *rl;

	rl = calloc((size_t)(n_backends ? n_backends : 1) * STATELOG_KINDS,
		    sizeof(*rl));
	if (!rl)
		return -1;
	free(s->rl);
	s->rl = rl;
	s->n_backends = n_backends;
	return 0;
}

void statelog_push(struct statelog *s, uint64_t now_ms, int prio,
		   uint32_t backend, const char *name, uint32_t kind,
		   const char *line)
{
	struct statelog_ev *ev;

	if (s->n == STATELOG_QUEUE) {
		s->lost++;
		return;
	}
	ev = &s->q[s->n++];
	ev->ms = now_ms;
	ev->prio = prio;
	ev->backend = backend;
	ev->kind = (uint8_t)(kind < STATELOG_KINDS ? kind : 0);
	snprintf(ev->name, sizeof(ev->name), "%s", name);
	snprintf(ev->line, sizeof(ev->line), "%s", line);
}

void statelog_flush(struct statelog *s)
{
	uint32_t i;

	for (i = 0; i < s->n; i++) {
		const struct statelog_ev *ev = &s->q[i];

		/* queued before a reload that removed the backend: once */
		if (ev->backend >= s->n_backends) {
			log_msg(ev->prio, "backend %s: %s", ev->name, ev->line);
			continue;
		}
		log_rl(&s->rl[ev->backend * STATELOG_KINDS + ev->kind], ev->ms,
		       ev->prio, "backend %s: %s", ev->name, ev->line);
	}
	s->n = 0;
	if (s->lost) {
		log_msg(LOG_WARNING,
			"%u breaker state changes not logged "
			"(more than %u at once)",
			s->lost, STATELOG_QUEUE);
		s->lost = 0;
	}
}

void statelog_free(struct statelog *s)
{
	free(s->rl);
	s->rl = NULL;
	s->n_backends = 0;
	s->n = 0;
}

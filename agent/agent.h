/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's lifecycle: start, reload, stop. */
#ifndef AOAI_AGENT_H
#define AOAI_AGENT_H

#include "agent-t.h"

/* Sets up <a> around the validated <cfg> (ownership passes to <a>): the
 * routing engine, the listeners, the signals. Returns 0 or -1 (logged).
 */
int agent_start(struct agent *a, struct ev_loop *loop, const char *cfg_path,
		struct cfg *cfg);

/* Re-reads the configuration file. A file with any error changes nothing:
 * every error is logged and the running configuration stays. Errors are
 * also passed to <err> when not NULL. Returns 0 or -1.
 */
int agent_reload(struct agent *a, cfg_error_fn err, void *arg);

/* Graceful stop: no new connections, AGENT-DISCONNECT 0 to every
 * connection, exit the loop when they are gone or after shutdown_timeout.
 */
void agent_stop(struct agent *a);

/* Frees everything agent_start() set up. */
void agent_free(struct agent *a);

#endif /* AOAI_AGENT_H */

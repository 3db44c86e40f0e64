/* SPOP listeners: accept HAProxy's connections. */
#ifndef AOAI_LISTENER_H
#define AOAI_LISTENER_H

#include <ev.h>
#include <stdbool.h>

#include "agent-t.h"

struct listener {
	struct listener *next; /* agent's list */
	struct agent *agent;
	int fd;
	ev_io io;
	char name[160];		 /* address, for logs */
	char path[CFG_PATH_MAX]; /* unix socket we created: removed on close */
};

/* Opens every listener of the configuration, or adopts the sockets systemd
 * passed (socket activation), and starts accepting. Returns 0, or -1 after
 * logging what failed (nothing left open).
 */
int listener_open_all(struct agent *a);

/* Stops accepting and closes every listener (unix paths removed). */
void listener_close_all(struct agent *a);

/* Stops or restarts accepting, without closing (EMFILE). */
void listener_pause_all(struct agent *a);
void listener_resume_all(struct agent *a);

#endif /* AOAI_LISTENER_H */

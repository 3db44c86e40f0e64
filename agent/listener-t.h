/* SPDX-License-Identifier: Apache-2.0 */
/* Listening socket types: one accept loop for the SPOP, control and
 * metrics listeners.
 */
#ifndef AOAI_LISTENER_T_H
#define AOAI_LISTENER_T_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfg-t.h"
#include "log.h"

struct listener;

/* Takes ownership of <fd>, a non-blocking socket accepted on <l> from
 * <peer> (numeric address, or the listener's name for unix peers).
 */
typedef void (*listener_accept_fn)(void *arg, struct listener *l, int fd,
				   const char *peer);

/* Out of descriptors: closes one connection of the set's owner to free a
 * descriptor for a new one. Returns false when none can go.
 */
typedef bool (*listener_shed_fn)(void *arg);

/* Listeners paused together when the process runs out of descriptors. */
struct listener_set {
	struct ev_loop *loop;
	struct listener *list; /* owned */
	listener_shed_fn shed; /* NULL: out of descriptors, only pause */
	void *shed_arg;
	ev_timer retry;	  /* EMFILE: accept again later */
	struct log_rl rl; /* accept() errors */
	uint64_t paused;  /* times accepting paused for lack of fds */
};

struct listener {
	struct listener *next; /* the set's list */
	struct listener_set *set;
	int fd;
	ev_io io;
	listener_accept_fn accept; /* what an accepted socket is given to */
	void *arg;
	char name[CFG_PATH_MAX + 40]; /* address, for logs */
	char path[CFG_PATH_MAX]; /* unix socket we created: removed on close */
};

#endif /* AOAI_LISTENER_T_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Listening sockets: one accept loop for the SPOP, control and metrics
 * listeners, with one way to pause on EMFILE.
 */
#ifndef AOAI_LISTENER_H
#define AOAI_LISTENER_H

#include "listener-t.h"

/* An empty set on <loop>. */
void listener_set_init(struct listener_set *s, struct ev_loop *loop);

/* When accept() runs out of descriptors, <shed>(<arg>) is asked to free
 * one before accepting again; accepting pauses only when it cannot.
 */
void listener_set_shed(struct listener_set *s, listener_shed_fn shed,
		       void *arg);

/* Adds the listening socket <fd> (ownership passes) named <name> to <s>
 * and starts accepting: each socket goes to <accept>(<arg>, ...). <path>,
 * when not NULL, is a unix socket file removed on close. Returns the
 * listener, or NULL (fd closed) out of memory.
 */
struct listener *listener_add(struct listener_set *s, int fd, const char *name,
			      const char *path, listener_accept_fn accept,
			      void *arg);

/* Stops accepting, closes and frees <l> (its path removed). */
void listener_close(struct listener *l);

/* listener_close() on every listener of <s>, and no retry pending. */
void listener_close_all(struct listener_set *s);

#endif /* AOAI_LISTENER_H */

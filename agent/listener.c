/* SPDX-License-Identifier: Apache-2.0 */
/* Listening sockets: one accept loop; out of descriptors, an idle
 * connection makes room, else accepting pauses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "listener.h"
#include "log.h"
#include "sock.h"

/* Connections accepted per wake-up of a listener, so one burst (a HAProxy
 * reload) cannot starve the connections already open.
 */
#define LISTENER_ACCEPT_BATCH 64
/* How long accepting pauses when the process is out of descriptors. */
#define LISTENER_EMFILE_PAUSE 0.5

static void listener_pause(struct listener_set *s, bool pause)
{
	struct listener *l;

	for (l = s->list; l; l = l->next) {
		if (pause)
			ev_io_stop(s->loop, &l->io);
		else
			ev_io_start(s->loop, &l->io);
	}
}

static void listener_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	listener_pause(w->data, false);
}

static void listener_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct listener_set *s = l->set;
	struct sockaddr_storage ss;
	char peer[CFG_PATH_MAX + 40];
	socklen_t len;
	int i, fd, err;
	bool shed = false;

	(void)revents;
	clock_update();
	for (i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			err = errno; /* logging may change errno */
			if (err == EAGAIN || err == EWOULDBLOCK ||
			    err == EINTR || err == ECONNABORTED)
				return;
			/* an idle connection gives its descriptor to the
			 * waiting one, which may be HAProxy's health check
			 */
			if ((err == EMFILE || err == ENFILE) && s->shed &&
			    !shed && s->shed(s->shed_arg)) {
				/* once: if the freed descriptor did not
				 * help (another process took it), pause
				 */
				shed = true;
				continue;
			}
			if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
			    err == ENOMEM) {
				/* the pending connection stays queued; do not
				 * spin on it, retry on a timer
				 */
				log_rl(&s->rl, clock_now.ms, LOG_ERR,
				       "%s: accept: %s; pausing %.1fs", l->name,
				       strerror(err), LISTENER_EMFILE_PAUSE);
				s->paused++;
				listener_pause(s, true);
				ev_timer_set(&s->retry, LISTENER_EMFILE_PAUSE,
					     0.);
				ev_timer_start(loop, &s->retry);
				return;
			}
			log_rl(&s->rl, clock_now.ms, LOG_ERR, "%s: accept: %s",
			       l->name, strerror(err));
			return;
		}
		/* An ACK is one small segment: without TCP_NODELAY, Nagle's
		 * algorithm holds it back against HAProxy's delayed ACK, up to
		 * 40 ms at p99 (measured through HAProxy 2.6).
		 */
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1},
				   sizeof(int));
		shed = false;
		sock_peer_str(&ss, len, l->name, peer, sizeof(peer));
		l->accept(l->arg, l, fd, peer);
	}
}

void listener_set_init(struct listener_set *s, struct ev_loop *loop)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	ev_init(&s->retry, listener_retry_cb);
	s->retry.data = s;
}

void listener_set_shed(struct listener_set *s, listener_shed_fn shed, void *arg)
{
	s->shed = shed;
	s->shed_arg = arg;
}

struct listener *listener_add(struct listener_set *s, int fd, const char *name,
			      const char *path, listener_accept_fn accept,
			      void *arg)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (!l) {
		close(fd);
		return NULL;
	}
	l->set = s;
	l->fd = fd;
	l->accept = accept;
	l->arg = arg;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (path)
		snprintf(l->path, sizeof(l->path), "%s", path);
	ev_io_init(&l->io, listener_accept_cb, fd, EV_READ);
	l->io.data = l;
	if (!ev_is_active(&s->retry))
		ev_io_start(s->loop, &l->io);
	l->next = s->list;
	s->list = l;
	return l;
}

void listener_close(struct listener *l)
{
	struct listener_set *s = l->set;
	struct listener **pl;

	for (pl = &s->list; *pl; pl = &(*pl)->next) {
		if (*pl == l) {
			*pl = l->next;
			break;
		}
	}
	ev_io_stop(s->loop, &l->io);
	close(l->fd);
	if (l->path[0])
		unlink(l->path);
	free(l);
}

void listener_close_all(struct listener_set *s)
{
	while (s->list)
		listener_close(s->list);
	ev_timer_stop(s->loop, &s->retry);
}

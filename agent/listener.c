/* SPOP listeners: accept loop with a connection cap and EMFILE pause. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "ctl.h"
#include "listener.h"
#include "log.h"
#include "sock.h"

/* Connections accepted per wake-up of a listener, so one burst (a HAProxy
 * reload) cannot starve the connections already open.
 */
#define LISTENER_ACCEPT_BATCH 64
/* How long accepting pauses when the process is out of descriptors. */
#define LISTENER_EMFILE_PAUSE 0.5

static void listener_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct agent *a = l->agent;
	struct sockaddr_storage ss;
	char peer[64];
	socklen_t len;
	int i, fd;

	(void)loop;
	(void)revents;
	for (i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR || errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* the pending connection stays queued; do not
				 * spin on it, retry on a timer
				 */
				log_rl(&a->rl_accept, clock_now.ms, LOG_ERR,
				       "%s: accept: %s; pausing %.1fs", l->name,
				       strerror(errno), LISTENER_EMFILE_PAUSE);
				a->cnt.accept_paused++;
				listener_pause_all(a);
				ev_timer_set(&a->accept_retry,
					     LISTENER_EMFILE_PAUSE, 0.);
				ev_timer_start(a->loop, &a->accept_retry);
				return;
			}
			log_rl(&a->rl_accept, clock_now.ms, LOG_ERR,
			       "%s: accept: %s", l->name, strerror(errno));
			return;
		}
		/* An ACK is one small segment: without TCP_NODELAY, Nagle's
		 * algorithm holds it back against HAProxy's delayed ACK, up to
		 * 40 ms at p99 (measured through HAProxy 2.6).
		 */
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1},
				   sizeof(int));
		sock_peer_str(&ss, len, l->name, peer, sizeof(peer));
		if (a->n_conns >= a->cfg->agent.max_connections) {
			log_rl(&a->rl_accept, clock_now.ms, LOG_WARNING,
			       "%s: refused: max_connections (%u) reached",
			       peer, a->cfg->agent.max_connections);
			a->cnt.conn_refused++;
			close(fd);
			continue;
		}
		conn_new(a, fd, peer);
	}
}

static int listener_add(struct agent *a, int fd, const char *name,
			const char *path)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (!l) {
		close(fd);
		return -1;
	}
	l->agent = a;
	l->fd = fd;
	snprintf(l->name, sizeof(l->name), "%s", name);
	if (path)
		snprintf(l->path, sizeof(l->path), "%s", path);
	ev_io_init(&l->io, listener_accept_cb, fd, EV_READ);
	l->io.data = l;
	ev_io_start(a->loop, &l->io);
	l->next = a->listeners;
	a->listeners = l;
	log_msg(LOG_INFO, "listening on %s", name);
	return 0;
}

int listener_open_all(struct agent *a)
{
	char err[SOCK_ERR_MAX], name[CFG_PATH_MAX + 40];
	char names[CFG_LISTEN_MAX][32];
	int fds[CFG_LISTEN_MAX], n, i, fd;
	uint32_t j;

	n = sock_systemd_fds(fds, names, CFG_LISTEN_MAX);
	if (n > 0) {
		int spop = 0;

		for (i = 0; i < n; i++) {
			/* a socket named "control" belongs to ctl */
			if (strcmp(names[i], "control") == 0) {
				if (ctl_adopt(a, fds[i]) < 0)
					goto fail;
				continue;
			}
			snprintf(name, sizeof(name), "systemd fd %d%s%.31s",
				 fds[i], names[i][0] ? " " : "", names[i]);
			if (listener_add(a, fds[i], name, NULL) < 0)
				goto fail;
			spop++;
		}
		if (spop)
			return 0;
		/* systemd passed only the control socket: SPOP as configured */
		log_msg(LOG_INFO, "no SPOP socket from systemd: using listen:");
	}
	for (j = 0; j < a->cfg->n_listen; j++) {
		const struct cfg_listener *cl = &a->cfg->listen[j];

		sock_addr_str(cl, name, sizeof(name));
		fd = sock_listen(cl, err, sizeof(err));
		if (fd < 0) {
			log_msg(LOG_ERR, "cannot listen on %s: %s", name, err);
			goto fail;
		}
		if (listener_add(a, fd, name,
				 cl->kind == CFG_ADDR_UNIX ? cl->path : NULL) <
		    0)
			goto fail;
	}
	return 0;
fail:
	listener_close_all(a);
	return -1;
}

void listener_close_all(struct agent *a)
{
	struct listener *l;

	while ((l = a->listeners) != NULL) {
		a->listeners = l->next;
		ev_io_stop(a->loop, &l->io);
		close(l->fd);
		if (l->path[0])
			unlink(l->path);
		free(l);
	}
}

void listener_pause_all(struct agent *a)
{
	struct listener *l;

	for (l = a->listeners; l; l = l->next)
		ev_io_stop(a->loop, &l->io);
}

void listener_resume_all(struct agent *a)
{
	struct listener *l;

	for (l = a->listeners; l; l = l->next)
		ev_io_start(a->loop, &l->io);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Control socket: its listeners, its clients' I/O (command lines, or one
 * HTTP request on the metrics listener), its lifecycle across reloads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cfg.h"
#include "clock.h"
#include "ctl.h"
#include "listener.h"
#include "log.h"
#include "sock.h"

/* Limits: what one client can make the agent hold or do. */
#define CTL_LINE_MAX	   4096u       /* one command line, ';' parts in */
#define CTL_OUT_LOW	   (64u << 10) /* stop running lines above this */
#define CTL_LINES_PER_WAKE 16	       /* lines run per wake-up */
#define CTL_CLIENTS_MAX	   256	       /* control + metrics clients */
#define CTL_IDLE_TIMEOUT   60.0	       /* seconds; "set timeout cli" */
#define CTL_HTTP_TIMEOUT   10.0	       /* seconds, metrics clients */
#define CTL_LINGER	   1.0	       /* seconds of input discarded ... */
#define CTL_LINGER_MAX	   (1u << 20)  /* ... at most, before closing */

/* Client budgets, one per kind of listener, so that clients of one kind
 * (a user-level socket anyone local may reach) cannot take the places of
 * another (the admin socket, Prometheus). A refused client is kept a
 * moment so its refusal is read rather than lost in a reset; those are
 * budgeted too, and past that budget closed at once.
 */
enum ctl_class {
	CTL_CLASS_USER,	    /* control socket at level user */
	CTL_CLASS_OPERATOR, /* control socket at level operator */
	CTL_CLASS_ADMIN,    /* control socket at level admin */
	CTL_CLASS_METRICS,  /* the /metrics listener */
	CTL_CLASS_REFUSED,  /* refused: answer sent, then closed */
	CTL_CLASSES,
};

static const uint32_t ctl_class_max[CTL_CLASSES] = {
	[CTL_CLASS_USER] = 128,
	[CTL_CLASS_OPERATOR] = 128,
	[CTL_CLASS_ADMIN] = CTL_CLIENTS_MAX,
	[CTL_CLASS_METRICS] = 64,
	[CTL_CLASS_REFUSED] = 32,
};

enum ctl_proto {
	CTL_PROTO_CLI,	/* line-oriented commands */
	CTL_PROTO_HTTP, /* GET /metrics */
};

struct ctl;

struct ctl_listener {
	struct ctl_listener *next; /* ctl's list */
	struct ctl *ctl;
	struct listener *lsn; /* the socket; owned */
	enum ctl_proto proto;
	enum cfg_level level;	  /* given to each client accepted */
	struct cfg_listener addr; /* as configured, to match on reload */
	bool systemd;		  /* adopted: systemd owns the path */
	bool stale;		  /* reload: not in the new config */
};

enum ctl_client_state {
	CTL_CL_OPEN,	/* reading and running lines */
	CTL_CL_CLOSING, /* last output queued: flush, then close */
	CTL_CL_LINGER,	/* output sent, our side shut: discard input */
	CTL_CL_CLOSED,	/* fd closed; freed at the loop's safe point */
};

struct ctl_client {
	struct ctl_client *next; /* ctl's list of clients, or of dead ones */
	struct ctl_client *prev;
	struct ctl *ctl;
	int fd;
	enum ctl_proto proto;
	enum ctl_class cls; /* the budget it counts against */
	enum ctl_client_state state;
	struct ctl_session sess; /* level, prompt, timeout */
	bool eof;		 /* the peer shut its side: finish, close */
	uint64_t id;
	char peer[CFG_PATH_MAX + 40];
	ev_io rio;
	ev_io wio;
	ev_timer timer;	       /* idle: ev_timer_again on progress */
	char in[CTL_LINE_MAX]; /* bytes of lines not yet run */
	size_t in_len;
	struct buf out;	  /* output not yet sent */
	size_t out_off;	  /* bytes of out already sent */
	size_t discarded; /* CTL_CL_LINGER: input thrown away */
};

struct ctl {
	struct ev_loop *loop;
	const struct cfg *cfg; /* in force: levels of systemd sockets */
	struct ctl_ops ops;    /* what lines and HTTP requests mean */
	struct ctl_listener *listeners;
	struct ctl_client *clients; /* open, a list */
	struct ctl_client *dead;    /* closed, freed by the reaper */
	uint64_t next_id;
	ev_check reaper;
	struct listener_set lset;      /* control and metrics listeners */
	struct ctl_status *st;	       /* counters and clients; not owned */
	uint32_t n_class[CTL_CLASSES]; /* clients open, per budget */
	struct log_rl rl_refused;      /* refusals at the client limit */
};

static const char *ctl_client_state_str(enum ctl_client_state st)
{
	switch (st) {
	case CTL_CL_OPEN:
		return "OPEN";
	case CTL_CL_CLOSING:
		return "CLOSING";
	case CTL_CL_LINGER:
		return "LINGER";
	case CTL_CL_CLOSED:
		return "CLOSED";
	}
	return "?";
}

/* Every state change of a control client goes through here. */
static void ctl_client_set_state(struct ctl_client *c, enum ctl_client_state st)
{
	if (c->state != st && log_enabled(LOG_DEBUG))
		log_msg(LOG_DEBUG, "ctl client #%llu %s: %s -> %s",
			(unsigned long long)c->id, c->peer,
			ctl_client_state_str(c->state),
			ctl_client_state_str(st));
	c->state = st;
}

/* ------------------------------------------------------------------ */
/* clients                                                             */

static void ctl_client_close(struct ctl_client *c, const char *why)
{
	struct ctl *ctl = c->ctl;

	if (c->state == CTL_CL_CLOSED)
		return;
	log_msg(LOG_DEBUG, "control #%llu %s: closed: %s",
		(unsigned long long)c->id, c->peer, why);
	ev_io_stop(ctl->loop, &c->rio);
	ev_io_stop(ctl->loop, &c->wio);
	ev_timer_stop(ctl->loop, &c->timer);
	close(c->fd);
	c->fd = -1;
	ctl_client_set_state(c, CTL_CL_CLOSED);
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = ctl->dead;
	ctl->dead = c;
	ctl->n_class[c->cls]--;
	if (c->cls != CTL_CLASS_REFUSED)
		ctl->st->clients--;
}

static void ctl_reap(struct ctl *ctl)
{
	struct ctl_client *c;

	while ((c = ctl->dead) != NULL) {
		ctl->dead = c->next;
		buf_free(&c->out);
		free(c);
	}
}

static void ctl_reaper_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	(void)loop;
	(void)revents;
	ctl_reap(w->data);
}

/* Starts or stops the watchers to match the client's state: write while
 * output is pending; read while open, not at EOF, with room, and not held
 * back by unsent output.
 */
static void ctl_client_watch(struct ctl_client *c)
{
	struct ev_loop *loop = c->ctl->loop;
	size_t pending = c->out.len - c->out_off;
	bool want_read = c->state == CTL_CL_OPEN && !c->eof &&
			 c->in_len < sizeof(c->in) && pending < CTL_OUT_LOW;

	if (pending && !ev_is_active(&c->wio))
		ev_io_start(loop, &c->wio);
	else if (!pending && ev_is_active(&c->wio))
		ev_io_stop(loop, &c->wio);
	if (want_read && !ev_is_active(&c->rio))
		ev_io_start(loop, &c->rio);
	else if (!want_read && ev_is_active(&c->rio))
		ev_io_stop(loop, &c->rio);
}

/* Runs one line, then the prompt in interactive mode; outside it, the
 * connection closes after the line.
 */
static void ctl_client_run_line(struct ctl_client *c, char *line)
{
	c->ctl->ops.line(c->ctl->ops.arg, &c->ctl->st->cnt, &c->sess, line,
			 &c->out);
	if (c->sess.quit)
		ctl_client_set_state(c, CTL_CL_CLOSING);
	else if (c->sess.interactive)
		buf_add(&c->out, "> ", 2);
	else
		ctl_client_set_state(c, CTL_CL_CLOSING);
	/* "set timeout cli" applies from the next idle period on */
	c->timer.repeat = c->sess.timeout;
}

/* Runs what the client sent: complete lines (at most CTL_LINES_PER_WAKE,
 * and only while little output is waiting), a line too long, or the last
 * line at EOF. Returns -1 when the client was closed.
 */
static int ctl_client_process_cli(struct ctl_client *c)
{
	int budget = CTL_LINES_PER_WAKE;
	char *nl;
	size_t len, used;

	while (c->state == CTL_CL_OPEN && budget-- > 0 &&
	       c->out.len - c->out_off < CTL_OUT_LOW) {
		/* drop what was sent: the cap then applies to new output,
		 * and the move is of less than CTL_OUT_LOW bytes
		 */
		if (c->out_off) {
			buf_consume(&c->out, c->out_off);
			c->out_off = 0;
		}
		nl = memchr(c->in, '\n', c->in_len);
		if (!nl) {
			if (c->in_len == sizeof(c->in)) {
				c->ctl->st->cnt.oversized++;
				c->ctl->st->cnt.errors++;
				buf_printf(&c->out,
					   "error: line too long (at most "
					   "%u bytes)\n\n",
					   CTL_LINE_MAX - 1);
				c->in_len = 0;
				ctl_client_set_state(c, CTL_CL_CLOSING);
				break;
			}
			if (!c->eof)
				break;
			if (c->in_len == 0) {
				ctl_client_set_state(c, CTL_CL_CLOSING);
				break;
			}
			/* a last line without its newline; room for a NUL */
			nl = c->in + c->in_len;
		}
		len = (size_t)(nl - c->in);
		used = len < c->in_len ? len + 1 : len;
		if (len && c->in[len - 1] == '\r')
			len--;
		c->in[len] = '\0';
		if (memchr(c->in, '\0', len)) {
			c->ctl->st->cnt.errors++;
			buf_printf(&c->out, "error: NUL byte in the "
					    "line\n\n");
			if (!c->sess.interactive)
				ctl_client_set_state(c, CTL_CL_CLOSING);
		} else {
			ctl_client_run_line(c, c->in);
		}
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		ev_timer_again(c->ctl->loop, &c->timer);
		if (c->eof && c->in_len == 0 && c->state == CTL_CL_OPEN)
			ctl_client_set_state(c, CTL_CL_CLOSING);
	}
	return 0;
}

/* An HTTP client: once the head is complete, answer and close. */
static int ctl_client_process_http(struct ctl_client *c)
{
	struct ctl *ctl = c->ctl;
	const char *end = NULL;
	size_t i;

	if (c->state != CTL_CL_OPEN)
		return 0;
	for (i = 0; i + 1 < c->in_len && !end; i++) {
		if (c->in[i] != '\n')
			continue;
		if (c->in[i + 1] == '\n')
			end = c->in + i + 2;
		else if (i + 2 < c->in_len && c->in[i + 1] == '\r' &&
			 c->in[i + 2] == '\n')
			end = c->in + i + 3;
	}
	if (!end && c->in_len < sizeof(c->in) && !c->eof)
		return 0;
	if (!end && c->in_len == 0) {
		ctl_client_close(c, "closed by peer");
		return -1;
	}
	ctl->st->cnt.http_requests++;
	if (!end) {
		if (c->in_len == sizeof(c->in))
			ctl->st->cnt.oversized++;
		buf_printf(&c->out,
			   "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
			   "Content-Length: 0\r\nConnection: close\r\n\r\n",
			   c->in_len == sizeof(c->in)
				   ? "431 Request Header Fields Too Large"
				   : "400 Bad Request");
	} else {
		clock_update();
		ctl->ops.http(ctl->ops.arg, c->in, (size_t)(end - c->in),
			      &c->out);
	}
	c->in_len = 0;
	ctl_client_set_state(c, CTL_CL_CLOSING);
	return 0;
}

/* Everything is sent: close, or, when the peer may still be sending,
 * shut our side and discard its input a little while first, so unread
 * input does not turn the close into a reset that loses the answer.
 * Returns -1 when the client was closed.
 */
static int ctl_client_linger(struct ctl_client *c)
{
	struct ev_loop *loop = c->ctl->loop;

	if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {
		ctl_client_close(c, "done");
		return -1;
	}
	ctl_client_set_state(c, CTL_CL_LINGER);
	c->in_len = 0;
	ev_io_stop(loop, &c->wio);
	ev_io_start(loop, &c->rio);
	c->timer.repeat = CTL_LINGER;
	ev_timer_again(loop, &c->timer);
	return 0;
}

static int ctl_client_process(struct ctl_client *c)
{
	int r = c->proto == CTL_PROTO_HTTP ? ctl_client_process_http(c)
					   : ctl_client_process_cli(c);

	if (r < 0)
		return -1;
	if (c->state == CTL_CL_CLOSING && c->out.len == c->out_off)
		return ctl_client_linger(c);
	ctl_client_watch(c);
	return 0;
}

static void ctl_client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *c = w->data;
	ssize_t n;

	(void)loop;
	(void)revents;
	if (c->state == CTL_CL_LINGER) {
		n = read(c->fd, c->in, sizeof(c->in));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		c->discarded += n > 0 ? (size_t)n : 0;
		if (n <= 0 || c->discarded > CTL_LINGER_MAX)
			ctl_client_close(c, "done");
		return;
	}
	n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		ctl_client_close(c, strerror(errno));
		return;
	}
	if (n == 0)
		c->eof = true;
	c->in_len += (size_t)n;
	ctl_client_process(c);
}

static void ctl_client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *c = w->data;
	ssize_t n;

	(void)revents;
	n = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off,
		 MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		ctl_client_close(c, strerror(errno));
		return;
	}
	c->out_off += (size_t)n;
	ev_timer_again(loop, &c->timer);
	if (c->out_off == c->out.len) {
		c->out.len = c->out_off = 0;
		/* do not keep a large buffer for an idle session */
		if (c->out.size > CTL_OUT_LOW)
			buf_free(&c->out);
	}
	ctl_client_process(c);
}

static void ctl_client_timeout_cb(struct ev_loop *loop, ev_timer *w,
				  int revents)
{
	struct ctl_client *c = w->data;

	(void)loop;
	(void)revents;
	if (c->state == CTL_CL_LINGER) {
		ctl_client_close(c, "done");
		return;
	}
	c->ctl->st->cnt.timeouts++;
	ctl_client_close(c, "idle timeout");
}

/* Takes <fd> as a new client of <l> counted against budget <cls>.
 * Returns it, or NULL when out of memory (fd closed).
 */
static struct ctl_client *ctl_client_new(struct ctl_listener *l, int fd,
					 const char *peer, enum ctl_class cls)
{
	struct ctl *ctl = l->ctl;
	struct ev_loop *loop = ctl->loop;
	struct ctl_client *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return NULL;
	}
	c->ctl = ctl;
	c->fd = fd;
	c->cls = cls;
	c->proto = l->proto;
	c->sess.level = l->level;
	c->sess.peer = c->peer;
	ctl_client_set_state(c, CTL_CL_OPEN);
	c->id = ++ctl->next_id;
	c->sess.timeout = l->proto == CTL_PROTO_HTTP ? CTL_HTTP_TIMEOUT
						     : CTL_IDLE_TIMEOUT;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	buf_init(&c->out, CTL_OUT_MAX + 4096);
	ev_io_init(&c->rio, ctl_client_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, ctl_client_write_cb, fd, EV_WRITE);
	ev_init(&c->timer, ctl_client_timeout_cb);
	c->timer.repeat = c->sess.timeout;
	c->rio.data = c->wio.data = c->timer.data = c;
	c->next = ctl->clients;
	if (ctl->clients)
		ctl->clients->prev = c;
	ctl->clients = c;
	ctl->n_class[cls]++;
	if (cls != CTL_CLASS_REFUSED) {
		ctl->st->clients++;
		ctl->st->cnt.accepted++;
	}
	ev_timer_again(loop, &c->timer);
	ev_io_start(loop, &c->rio);
	log_msg(LOG_DEBUG, "control #%llu %s: connected (level %s)",
		(unsigned long long)c->id, c->peer,
		cfg_level_str(c->sess.level));
	return c;
}

static enum ctl_class ctl_listener_class(const struct ctl_listener *l)
{
	if (l->proto == CTL_PROTO_HTTP)
		return CTL_CLASS_METRICS;
	switch (l->level) {
	case CFG_LEVEL_USER:
		return CTL_CLASS_USER;
	case CFG_LEVEL_OPERATOR:
		return CTL_CLASS_OPERATOR;
	case CFG_LEVEL_ADMIN:
		break;
	}
	return CTL_CLASS_ADMIN;
}

/* A client over its budget: told so, then closed. Unless too many are
 * being refused already, it is kept until the answer is sent and its
 * input is drained, as a close with unread input would reset the
 * connection and lose the answer.
 */
static void ctl_refuse(struct ctl_listener *l, int fd, const char *peer)
{
	static const char busy[] = "error: too many control clients\n\n";
	static const char busy_http[] =
		"HTTP/1.1 503 Service Unavailable\r\n"
		"Content-Type: text/plain\r\nContent-Length: 21\r\n"
		"Connection: close\r\n\r\ntoo many HTTP clients";
	struct ctl *ctl = l->ctl;
	bool http = l->proto == CTL_PROTO_HTTP;
	struct ctl_client *c;

	if (ctl->n_class[CTL_CLASS_REFUSED] >=
	    ctl_class_max[CTL_CLASS_REFUSED]) {
		char sink[4096];
		int i;

		if (send(fd, http ? busy_http : busy,
			 http ? sizeof(busy_http) - 1 : sizeof(busy) - 1,
			 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			errno = 0; /* best effort only */
		/* without lingering, at least drop what already arrived
		 * (usually the command): unread input turns the close into
		 * a reset
		 */
		shutdown(fd, SHUT_WR);
		for (i = 0; i < 4; i++)
			if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
				break;
		close(fd);
		return;
	}
	c = ctl_client_new(l, fd, peer, CTL_CLASS_REFUSED);
	if (!c)
		return;
	if (http)
		buf_add(&c->out, busy_http, sizeof(busy_http) - 1);
	else
		buf_add(&c->out, busy, sizeof(busy) - 1);
	ctl_client_set_state(c, CTL_CL_CLOSING);
	c->timer.repeat = CTL_LINGER;
	ev_timer_again(ctl->loop, &c->timer);
	ctl_client_watch(c);
}

/* A client accepted on <lsn>: served unless its listener's budget is
 * spent.
 */
static void ctl_accept(void *arg, struct listener *lsn, int fd,
		       const char *peer)
{
	struct ctl_listener *l = arg;
	struct ctl *ctl = l->ctl;
	enum ctl_class cls = ctl_listener_class(l);

	if (ctl->n_class[cls] >= ctl_class_max[cls]) {
		ctl->st->cnt.refused++;
		log_rl(&ctl->rl_refused, clock_now.ms, LOG_WARNING,
		       "%s: refused: %u clients of its kind", lsn->name,
		       ctl->n_class[cls]);
		ctl_refuse(l, fd, peer);
		return;
	}
	ctl_client_new(l, fd, peer, cls);
}

/* ------------------------------------------------------------------ */
/* listeners                                                           */

static struct ctl_listener *ctl_listener_add(struct ctl *ctl, int fd,
					     enum ctl_proto proto,
					     const struct cfg_listener *addr,
					     bool systemd)
{
	struct ctl_listener *l = calloc(1, sizeof(*l));
	char name[CFG_PATH_MAX + 40];
	bool owned = addr->kind == CFG_ADDR_UNIX && !systemd && addr->path[0];

	if (!l) {
		close(fd);
		return NULL;
	}
	cfg_listener_str(addr, name, sizeof(name));
	l->lsn = listener_add(&ctl->lset, fd, name, owned ? addr->path : NULL,
			      ctl_accept, l);
	if (!l->lsn) {
		free(l);
		return NULL;
	}
	l->ctl = ctl;
	l->proto = proto;
	l->systemd = systemd;
	l->addr = *addr;
	l->level = addr->level;
	l->next = ctl->listeners;
	ctl->listeners = l;
	return l;
}

static void ctl_listener_free(struct ctl_listener *l)
{
	listener_close(l->lsn);
	free(l);
}

static struct ctl_listener *ctl_find(struct ctl *ctl,
				     const struct cfg_listener *addr,
				     enum ctl_proto proto)
{
	struct ctl_listener *l;

	for (l = ctl->listeners; l; l = l->next)
		if (l->proto == proto && cfg_listener_same(&l->addr, addr))
			return l;
	return NULL;
}

/* Opens <addr> for <proto>. Returns the listener or NULL (logged). */
static struct ctl_listener *ctl_open(struct ctl *ctl,
				     const struct cfg_listener *addr,
				     enum ctl_proto proto)
{
	char err[SOCK_ERR_MAX], name[CFG_PATH_MAX + 40];
	struct ctl_listener *l;
	int fd;

	cfg_listener_str(addr, name, sizeof(name));
	fd = sock_listen(addr, err, sizeof(err));
	if (fd < 0) {
		log_msg(LOG_ERR, "cannot listen on %s (%s): %s", name,
			proto == CTL_PROTO_HTTP ? "metrics" : "control", err);
		return NULL;
	}
	l = ctl_listener_add(ctl, fd, proto, addr, false);
	if (!l) {
		if (addr->kind == CFG_ADDR_UNIX)
			unlink(addr->path);
		return NULL;
	}
	if (proto == CTL_PROTO_HTTP)
		log_msg(LOG_INFO, "metrics on http://%s:%u/metrics", addr->host,
			addr->port);
	else
		log_msg(LOG_INFO, "control socket on %s (level %s)", name,
			cfg_level_str(addr->level));
	return l;
}

static struct ctl *ctl_get(struct ctl **ctlp, struct ev_loop *loop)
{
	struct ctl *ctl = *ctlp;

	if (ctl)
		return ctl;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return NULL;
	ctl->loop = loop;
	ev_check_init(&ctl->reaper, ctl_reaper_cb);
	ctl->reaper.data = ctl;
	listener_set_init(&ctl->lset, loop);
	*ctlp = ctl;
	return ctl;
}

int ctl_adopt(struct ctl **ctlp, struct ev_loop *loop, int fd)
{
	struct ctl *ctl = ctl_get(ctlp, loop);
	struct cfg_listener addr;
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	if (!ctl) {
		close(fd);
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	memset(&sun, 0, sizeof(sun));
	addr.level = CFG_LEVEL_ADMIN;
	addr.kind = CFG_ADDR_UNIX;
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == 0 &&
	    sun.sun_family == AF_UNIX && len > sizeof(sa_family_t))
		snprintf(addr.path, sizeof(addr.path), "%.*s",
			 (int)(len - sizeof(sa_family_t)), sun.sun_path);
	else
		snprintf(addr.path, sizeof(addr.path), "systemd fd %d", fd);
	return ctl_listener_add(ctl, fd, CTL_PROTO_CLI, &addr, true) ? 0 : -1;
}

/* A systemd socket takes the level of the control socket configured at
 * the same path, else admin.
 */
static void ctl_systemd_levels(struct ctl *ctl)
{
	const struct cfg *cfg = ctl->cfg;
	struct ctl_listener *l;
	uint32_t i;

	for (l = ctl->listeners; l; l = l->next) {
		if (!l->systemd)
			continue;
		l->level = CFG_LEVEL_ADMIN;
		for (i = 0; i < cfg->n_control; i++)
			if (cfg_listener_same(&l->addr, &cfg->control[i]))
				l->level = cfg->control[i].level;
	}
}

int ctl_start(struct ctl **ctlp, struct ev_loop *loop, const struct cfg *cfg,
	      struct ctl_status *st, const struct ctl_ops *ops)
{
	struct ctl *ctl = ctl_get(ctlp, loop);
	struct ctl_listener *l;
	uint32_t i;

	if (!ctl) {
		log_msg(LOG_ERR, "control: out of memory");
		return -1;
	}
	ctl->cfg = cfg;
	ctl->st = st;
	ctl->ops = *ops;
	ctl_systemd_levels(ctl);
	for (l = ctl->listeners; l; l = l->next)
		log_msg(LOG_INFO,
			"control socket on %s from systemd (level %s)",
			l->lsn->name, cfg_level_str(l->level));
	for (i = 0; i < cfg->n_control; i++) {
		if (ctl_find(ctl, &cfg->control[i], CTL_PROTO_CLI))
			continue; /* adopted from systemd */
		if (!ctl_open(ctl, &cfg->control[i], CTL_PROTO_CLI))
			goto fail;
	}
	if (cfg->has_metrics && !ctl_open(ctl, &cfg->metrics, CTL_PROTO_HTTP))
		goto fail;
	ev_check_start(loop, &ctl->reaper);
	return 0;
fail:
	ctl_stop(ctlp);
	return -1;
}

void ctl_reload(struct ctl *ctl, const struct cfg *cfg)
{
	struct ctl_listener *l, **pl;
	uint32_t i;

	if (!ctl)
		return;
	ctl->cfg = cfg;
	for (l = ctl->listeners; l; l = l->next)
		l->stale = !l->systemd;
	for (i = 0; i < cfg->n_control; i++) {
		const struct cfg_listener *c = &cfg->control[i];

		l = ctl_find(ctl, c, CTL_PROTO_CLI);
		if (!l) {
			ctl_open(ctl, c, CTL_PROTO_CLI);
			continue;
		}
		if (l->systemd)
			continue;
		l->stale = false;
		if (l->level != c->level)
			log_msg(LOG_NOTICE,
				"control socket %s: level %s -> %s "
				"for new clients",
				l->lsn->name, cfg_level_str(l->level),
				cfg_level_str(c->level));
		l->level = c->level;
		if (c->kind == CFG_ADDR_UNIX && c->mode != l->addr.mode) {
			if (chmod(c->path, c->mode) < 0)
				log_errno(LOG_ERR, "control socket %s: chmod",
					  l->lsn->name);
		}
		l->addr = *c;
	}
	ctl_systemd_levels(ctl);
	if (cfg->has_metrics) {
		l = ctl_find(ctl, &cfg->metrics, CTL_PROTO_HTTP);
		if (l)
			l->stale = false;
		else
			ctl_open(ctl, &cfg->metrics, CTL_PROTO_HTTP);
	}
	for (pl = &ctl->listeners; (l = *pl) != NULL;) {
		if (!l->stale) {
			pl = &l->next;
			continue;
		}
		log_msg(LOG_NOTICE, "%s %s: closed (not in the configuration)",
			l->proto == CTL_PROTO_HTTP ? "metrics"
						   : "control socket",
			l->lsn->name);
		*pl = l->next;
		ctl_listener_free(l);
	}
}

void ctl_stop(struct ctl **ctlp)
{
	struct ctl *ctl = *ctlp;
	struct ctl_listener *l;

	if (!ctl)
		return;
	while ((l = ctl->listeners) != NULL) {
		ctl->listeners = l->next;
		ctl_listener_free(l);
	}
	while (ctl->clients)
		ctl_client_close(ctl->clients, "exit");
	ctl_reap(ctl);
	ev_check_stop(ctl->loop, &ctl->reaper);
	listener_close_all(&ctl->lset);
	free(ctl);
	*ctlp = NULL;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's lifecycle: start, signals, reload, graceful stop. */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent-auth.h"
#include "agent.h"
#include "cfg.h"
#include "clock.h"
#include "conn.h"
#include "ctl-cmd.h"
#include "ctl-http.h"
#include "ctl.h"
#include "fleet.h"
#include "hapi.h"
#include "listener.h"
#include "log.h"
#include "route.h"
#include "snapshot.h"
#include "sock.h"
#include "statelog.h"

/* The longest wait before passed deadlines are applied without traffic,
 * so a recovery is logged (and mirrored) when it happens, not at the next
 * request. The timer wakes earlier for a deadline route_tick() announces;
 * the bound covers deadlines set by traffic in between (a probe sent).
 */
#define AGENT_TICK 0.25

/* Seconds between two writes of the state file, when the state changed. */
#define AGENT_STATE_EVERY 10.0

/* The watch timer's period, and the delay past it reported as a stall of
 * the event loop (the process frozen, swapped out, or a callback that
 * ran too long).
 */
#define AGENT_WATCH_EVERY 1.0
#define AGENT_STALL_MS	  2000

/* Writes the state file (state_file) when the breaker state changed since
 * the last write, or always with <force>. A failure is logged
 * (rate-limited) and retried at the next period.
 */
static void agent_state_save(struct agent *a, bool force)
{
	const char *path = a->core.cfg->state_file;
	char err[SNAPSHOT_ERR_MAX];

	if (!path[0] ||
	    (!force && route_saved_gen(a->core.route) == a->state_saved_gen))
		return;
	clock_update();
	/* only the exit save (force) waits for the disk: see snapshot.h */
	if (snapshot_save(a->core.route, path, clock_now.ms, clock_wall_ms(),
			  force, err, sizeof(err)) < 0) {
		log_rl(&a->rl_state, clock_now.ms, LOG_WARNING,
		       "state file %s not written: %s", path, err);
		return;
	}
	/* the save applied passed deadlines: what it wrote includes them */
	a->state_saved_gen = route_saved_gen(a->core.route);
	log_msg(LOG_DEBUG, "state written to %s", path);
}

/* Restores the state file at startup, before any traffic. A missing file
 * is a first start; a bad one is logged once and ignored.
 */
static void agent_state_load(struct agent *a)
{
	const char *path = a->core.cfg->state_file;
	struct snapshot_stats st;
	char err[SNAPSHOT_ERR_MAX];
	uint64_t wall = clock_wall_ms(), age_s;
	int rc;

	if (!path[0])
		return;
	rc = snapshot_load(a->core.route, path, clock_now.ms, wall, &st, err,
			   sizeof(err));
	statelog_flush(&a->slog); /* the restored states, before the summary */
	age_s = rc == 0 && wall > st.saved_at_ms
			? (wall - st.saved_at_ms) / 1000
			: 0;
	if (rc > 0)
		log_msg(LOG_INFO, "state file %s: none yet, starting fresh",
			path);
	else if (rc < 0)
		log_msg(LOG_WARNING,
			"state file %s ignored: %s; starting fresh", path, err);
	else
		log_msg(LOG_NOTICE,
			"restored %u backends from %s (%u weight overrides, "
			"%u unknown backends ignored; written %llus ago by "
			"aoai-spoa %s)",
			st.backends, path, st.weights, st.unknown,
			(unsigned long long)age_s,
			st.agent[0] ? st.agent : "?");
	a->state_saved_gen = route_saved_gen(a->core.route);
}

static void agent_state_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	agent_state_save(w->data, false);
}

/* Leaves the event loop once, writing the state file on the way out. */
static void agent_exit_loop(struct agent *a)
{
	if (!a->state_final) {
		a->state_final = true;
		agent_state_save(a, true);
	}
	ev_break(a->core.loop, EVBREAK_ALL);
}

/* Each second: reports a stall of the loop, the log messages suppressed
 * in windows just ended, and writes the state file within about a second
 * of a breaker's move (coalesced: one write for a burst of moves).
 */
static void agent_watch_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct agent *a = w->data;
	uint64_t late;

	(void)loop;
	(void)revents;
	clock_update();
	late = clock_now.ms - a->watch_last_ms;
	late = late > AGENT_WATCH_EVERY * 1000 ? late - AGENT_WATCH_EVERY * 1000
					       : 0;
	if (a->watch_last_ms && late >= AGENT_STALL_MS)
		log_msg(LOG_WARNING, "event loop stalled %.1f s",
			(double)late / 1000.0);
	a->watch_last_ms = clock_now.ms;
	log_rl_flush(clock_now.ms);
	if (a->state_dirty) {
		a->state_dirty = false;
		agent_state_save(a, false);
	}
}

/* Runs inside the engine call that moved the breaker, often on the
 * request path: the line is queued (no system call) and written by the
 * reaper, rate-limited per backend and kind.
 */
static void agent_route_hook(void *arg, int backend, enum route_state from,
			     enum route_state to, const char *why)
{
	struct agent *a = arg;
	int prio = to == ROUTE_ST_CLOSED ? LOG_NOTICE : LOG_WARNING;
	char line[128];

	a->state_dirty = true;
	snprintf(line, sizeof(line), "%s -> %s: %s", route_state_str(from),
		 route_state_str(to), why);
	statelog_push(&a->slog, clock_now.ms, prio, (uint32_t)backend,
		      route_backend_name(a->core.route, backend), to, line);
	hapi_mirror(a->core.hapi, backend, from, to); /* HAProxy drain/ready */
	fleet_note(a->core.fleet, backend, to); /* a throttle: tell the fleet */
}

/* The HAProxy link saw a new process: the fleet checks its rules again. */
static void agent_haproxy_restarted(void *arg)
{
	struct agent *a = arg;

	fleet_haproxy_restarted(a->core.fleet);
}

static void agent_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct agent *a = w->data;
	uint64_t next;
	double wait = AGENT_TICK;

	(void)revents;
	clock_update();
	next = route_tick(a->core.route, clock_now.ms);
	if (next != UINT64_MAX && next > clock_now.ms &&
	    (double)(next - clock_now.ms) / 1000.0 < wait)
		wait = (double)(next - clock_now.ms) / 1000.0;
	else if (next != UINT64_MAX && next <= clock_now.ms)
		wait = 0.001; /* due within this millisecond */
	ev_timer_set(w, wait, 0.);
	ev_timer_start(loop, w);
}

static void agent_reaper_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	struct agent *a = w->data;

	(void)revents;
	(void)loop;
	statelog_flush(&a->slog);
	conn_reap(&a->core.conns);
	if (a->core.stopping && a->core.conns.n == 0)
		agent_exit_loop(a);
}

static void agent_accept(void *arg, struct listener *l, int fd,
			 const char *peer)
{
	struct agent *a = arg;

	(void)l;
	conn_new(&a->core.conns, fd, peer);
}

static bool agent_shed(void *arg)
{
	struct agent *a = arg;

	return conn_shed(&a->core.conns);
}

static int agent_listen_one(struct agent *a, int fd, const char *name,
			    const char *path)
{
	if (!listener_add(&a->core.spop, fd, name, path, agent_accept, a))
		return -1;
	log_msg(LOG_INFO, "listening on %s", name);
	return 0;
}

/* Opens the SPOP listeners of the configuration, or takes the sockets
 * systemd passed (socket activation): the one named "control" goes to the
 * control socket, the others are SPOP. Returns 0, or -1 after logging what
 * failed (nothing left open).
 */
static int agent_listen(struct agent *a)
{
	char err[SOCK_ERR_MAX], name[CFG_PATH_MAX + 40];
	char names[CFG_LISTEN_MAX][32];
	int fds[CFG_LISTEN_MAX], n, i, fd, spop = 0;
	uint32_t j;

	n = sock_systemd_fds(fds, names, CFG_LISTEN_MAX);
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], "control") == 0) {
			if (ctl_adopt(&a->ctl, a->core.loop, fds[i]) < 0)
				goto fail;
			continue;
		}
		snprintf(name, sizeof(name), "systemd fd %d%s%.31s", fds[i],
			 names[i][0] ? " " : "", names[i]);
		if (agent_listen_one(a, fds[i], name, NULL) < 0)
			goto fail;
		spop++;
	}
	if (spop)
		return 0;
	if (n > 0)
		log_msg(LOG_INFO, "no SPOP socket from systemd: using listen:");
	for (j = 0; j < a->core.cfg->n_listen; j++) {
		const struct cfg_listener *cl = &a->core.cfg->listen[j];

		cfg_listener_str(cl, name, sizeof(name));
		fd = sock_listen(cl, err, sizeof(err));
		if (fd < 0) {
			log_msg(LOG_ERR, "cannot listen on %s: %s", name, err);
			goto fail;
		}
		if (agent_listen_one(a, fd, name,
				     cl->kind == CFG_ADDR_UNIX ? cl->path
							       : NULL) < 0)
			goto fail;
	}
	return 0;
fail:
	listener_close_all(&a->core.spop);
	return -1;
}

static void agent_stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct agent *a = w->data;

	(void)loop;
	(void)revents;
	log_msg(LOG_WARNING,
		"shutdown: %u connections still open after "
		"%ums, closing them",
		a->core.conns.n, a->core.cfg->agent.shutdown_timeout_ms);
	while (a->core.conns.list)
		conn_close(a->core.conns.list, "shutdown timeout");
	agent_exit_loop(a);
}

static void agent_signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct agent *a = w->data;

	(void)loop;
	(void)revents;
	clock_update();
	if (w->signum == SIGHUP) {
		log_msg(LOG_NOTICE, "SIGHUP: reloading %s", a->core.cfg_path);
		agent_reload(a, NULL, NULL);
		return;
	}
	log_msg(LOG_NOTICE, "%s: stopping",
		w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	agent_stop(a);
}

/* The control socket's "reload" command, through struct core. */
static int agent_reload_core(struct core *c, cfg_error_fn err, void *arg)
{
	return agent_reload(
		(struct agent *)((char *)c - offsetof(struct agent, core)), err,
		arg);
}

static void agent_ctl_line(void *arg, struct ctl_counters *cnt,
			   struct ctl_session *s, char *line, struct buf *out)
{
	ctl_cmd_run_line(arg, cnt, s, line, out);
}

static int agent_ctl_http(void *arg, const char *head, size_t len,
			  struct buf *out)
{
	return ctl_http_answer(arg, head, len, out);
}

int agent_start(struct agent *a, struct ev_loop *loop, const char *cfg_path,
		struct cfg *cfg)
{
	const struct ctl_ops ops = {.line = agent_ctl_line,
				    .http = agent_ctl_http,
				    .arg = &a->core};
	struct authset *auth;

	a->core.loop = loop;
	a->core.reload = agent_reload_core;
	a->core.cfg_path = cfg_path;
	a->core.cfg = cfg;
	a->core.started = a->core.cfg_loaded = time(NULL);
	clock_update();
	signal(SIGPIPE, SIG_IGN);

	listener_set_init(&a->core.spop, loop);
	listener_set_shed(&a->core.spop, agent_shed, a);
	/* before any listener: a SIGTERM as soon as the socket answers must
	 * stop the agent cleanly, not kill it (the signal waits in libev
	 * until the loop runs)
	 */
	ev_signal_init(&a->sig_term, agent_signal_cb, SIGTERM);
	ev_signal_init(&a->sig_int, agent_signal_cb, SIGINT);
	ev_signal_init(&a->sig_hup, agent_signal_cb, SIGHUP);
	a->sig_term.data = a->sig_int.data = a->sig_hup.data = a;
	ev_signal_start(loop, &a->sig_term);
	ev_signal_start(loop, &a->sig_int);
	ev_signal_start(loop, &a->sig_hup);

	a->core.route =
		route_new((uint64_t)a->core.started ^ (uint64_t)getpid());
	if (!a->core.route ||
	    route_apply(a->core.route, cfg, clock_now.ms) < 0) {
		log_msg(LOG_ERR, "cannot set up the routing engine");
		return -1;
	}
	if (statelog_resize(&a->slog, cfg->n_backends) < 0) {
		log_msg(LOG_ERR, "out of memory");
		return -1;
	}
	route_set_hook(a->core.route, agent_route_hook, a);
	a->core.spoa.route = a->core.route;
	a->core.spoa.fleet = &a->core.fleet;
	a->core.conns.loop = loop;
	a->core.conns.cfg = &cfg->agent;
	a->core.conns.spoa = &a->core.spoa;
	agent_state_load(a);
	if (agent_listen(a) < 0)
		return -1;
	if (ctl_start(&a->ctl, loop, cfg, &a->core.ctl_st, &ops) < 0 ||
	    hapi_start(&a->core.hapi, loop, a->core.route, &cfg->haproxy) < 0 ||
	    fleet_start(&a->core.fleet, loop, a->core.route, cfg) < 0)
		return -1;
	hapi_restart_hook(a->core.hapi, agent_haproxy_restarted, a);
	/* the map exists (every key "-") before HAProxy starts */
	if (agent_auth_prepare(cfg, loop, &auth) < 0 ||
	    agent_auth_commit(&a->core, auth) < 0)
		return -1;

	ev_check_init(&a->reaper, agent_reaper_cb);
	a->reaper.data = a;
	ev_check_start(loop, &a->reaper);
	ev_init(&a->stop_timer, agent_stop_timer_cb);
	a->stop_timer.data = a;
	ev_timer_init(&a->route_timer, agent_tick_cb, AGENT_TICK, 0.);
	a->route_timer.data = a;
	ev_timer_start(loop, &a->route_timer);
	/* runs without a state_file too: a reload may set one */
	ev_timer_init(&a->state_timer, agent_state_cb, AGENT_STATE_EVERY,
		      AGENT_STATE_EVERY);
	a->state_timer.data = a;
	ev_timer_start(loop, &a->state_timer);
	ev_timer_init(&a->watch_timer, agent_watch_cb, AGENT_WATCH_EVERY,
		      AGENT_WATCH_EVERY);
	a->watch_timer.data = a;
	ev_timer_start(loop, &a->watch_timer);
	log_msg(LOG_NOTICE, "aoai-spoa %s started: %u backends, %u pools",
		AOAI_VERSION, cfg->n_backends, cfg->n_pools);
	return 0;
}

struct reload_ctx {
	cfg_error_fn err;
	void *arg;
	unsigned n;
};

static void agent_reload_err(void *arg, const char *msg)
{
	struct reload_ctx *ctx = arg;

	ctx->n++;
	log_msg(LOG_ERR, "%s", msg);
	if (ctx->err)
		ctx->err(ctx->arg, msg);
}

static bool listeners_equal(const struct cfg *x, const struct cfg *y)
{
	uint32_t i;

	if (x->n_listen != y->n_listen)
		return false;
	for (i = 0; i < x->n_listen; i++) {
		const struct cfg_listener *l = &x->listen[i];
		const struct cfg_listener *m = &y->listen[i];

		if (l->kind != m->kind || l->port != m->port ||
		    l->mode != m->mode || strcmp(l->host, m->host) != 0 ||
		    strcmp(l->path, m->path) != 0)
			return false;
	}
	return true;
}

int agent_reload(struct agent *a, cfg_error_fn err, void *arg)
{
	struct reload_ctx ctx = {.err = err, .arg = arg};
	struct authset *auth;
	struct cfg *next;

	clock_update();
	next = cfg_load(a->core.cfg_path, agent_reload_err, &ctx);
	if (!next) {
		a->core.cnt.reload_failed++;
		log_msg(LOG_ERR,
			"reload of %s rejected (%u errors): the "
			"running configuration stays in force",
			a->core.cfg_path, ctx.n);
		return -1;
	}
	/* credentials files are read before anything changes */
	if (agent_auth_prepare(next, a->core.loop, &auth) < 0) {
		a->core.cnt.reload_failed++;
		log_msg(LOG_ERR, "reload: credentials refused; the running "
				 "configuration stays");
		agent_reload_err(&ctx, "auth: a credential could not be set "
				       "up (see the log)");
		cfg_free(next);
		return -1;
	}
	if (route_apply(a->core.route, next, clock_now.ms) < 0) {
		a->core.cnt.reload_failed++;
		log_msg(LOG_ERR, "reload: routing engine refused the new "
				 "configuration; the running one stays");
		agent_auth_abandon(auth);
		cfg_free(next);
		return -1;
	}
	/* what the old indices queued, then limiters for the new ones */
	statelog_flush(&a->slog);
	if (statelog_resize(&a->slog, next->n_backends) < 0)
		log_msg(LOG_WARNING, "reload: out of memory; state changes of "
				     "new backends are logged unlimited");
	if (!listeners_equal(a->core.cfg, next))
		log_msg(LOG_WARNING, "reload: listen addresses changed; they "
				     "take effect at the next restart");
	if (!a->debug)
		log_set_level(next->agent.log_level);
	cfg_free(a->core.cfg);
	a->core.cfg = next;
	a->core.conns.cfg = &next->agent;
	a->core.cfg_loaded = time(NULL);
	a->core.cnt.reloads++;
	/* control sockets and the HAProxy link follow the file */
	ctl_reload(a->ctl, next);
	hapi_reload(&a->core.hapi, a->core.loop, a->core.route, &next->haproxy);
	hapi_restart_hook(a->core.hapi, agent_haproxy_restarted, a);
	fleet_reload(&a->core.fleet, a->core.loop, a->core.route, next);
	/* after the link: it sends the tokens */
	agent_auth_commit(&a->core, auth);
	log_msg(LOG_NOTICE, "reloaded %s: %u backends, %u pools",
		a->core.cfg_path, next->n_backends, next->n_pools);
	return 0;
}

void agent_stop(struct agent *a)
{
	struct conn *c, *next;

	if (a->core.stopping)
		return;
	a->core.stopping = true;
	hapi_quiesce(a->core.hapi);
	fleet_quiesce(a->core.fleet);
	listener_close_all(&a->core.spop);
	for (c = a->core.conns.list; c; c = next) {
		next = c->next; /* the call may close and unlink it */
		if (c->state == CONN_ST_ACTIVE)
			conn_disconnect(c, SPOP_ERR_NONE, "shutting down");
		else if (c->state == CONN_ST_HELLO)
			conn_close(c, "shutting down");
	}
	ev_timer_set(&a->stop_timer,
		     a->core.cfg->agent.shutdown_timeout_ms / 1000.0, 0.);
	ev_timer_start(a->core.loop, &a->stop_timer);
}

void agent_free(struct agent *a)
{
	listener_close_all(&a->core.spop);
	while (a->core.conns.list)
		conn_close(a->core.conns.list, "exit");
	conn_reap(&a->core.conns);
	conn_set_free(&a->core.conns);
	agent_auth_free(&a->core);
	hapi_stop(&a->core.hapi);
	fleet_stop(&a->core.fleet);
	ctl_stop(&a->ctl);
	statelog_flush(&a->slog);
	statelog_free(&a->slog);
	route_free(a->core.route);
	cfg_free(a->core.cfg);
	a->core.route = NULL;
	a->core.cfg = NULL;
}

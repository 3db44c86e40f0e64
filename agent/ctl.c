/* Control socket: HAProxy-style runtime commands over unix/loopback TCP. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "agent-t.h"
#include "ctl.h"
#include "hapi.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "sock.h"
#include "stats.h"
#include "spop.h"
#include "text.h"

/* Limits: what one client can make the agent hold or do. */
#define CTL_LINE_MAX	   4096u       /* one command line, ';' parts in */
#define CTL_OUT_MAX	   (16u << 20) /* output of one line */
#define CTL_OUT_LOW	   (64u << 10) /* stop running lines above this */
#define CTL_LINES_PER_WAKE 16	       /* lines run per wake-up */
#define CTL_ARGS_MAX	   16	       /* words of one command */
#define CTL_CLIENTS_MAX	   256	       /* control + metrics clients */
#define CTL_IDLE_TIMEOUT   60.0	       /* seconds; "set timeout cli" */
#define CTL_TIMEOUT_MAX_MS 86400000u   /* "set timeout cli" at most 1 day */
#define CTL_HTTP_TIMEOUT   10.0	       /* seconds, metrics clients */
#define CTL_LINGER	   1.0	       /* seconds of input discarded ... */
#define CTL_LINGER_MAX	   (1u << 20)  /* ... at most, before closing */
#define CTL_LISTENERS_MAX  (CFG_CONTROL_MAX + 2)

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
	enum ctl_client_state state;
	enum cfg_level level; /* may only go down ("user", "operator") */
	bool interactive;     /* "prompt": several lines, a prompt */
	bool eof;	      /* the peer shut its side: finish, close */
	double timeout;	      /* idle timeout, seconds */
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
	struct agent *agent;
	struct ctl_listener *listeners;
	struct ctl_client *clients; /* open, a list */
	struct ctl_client *dead;    /* closed, freed by the reaper */
	uint32_t n_clients;
	uint64_t next_id;
	ev_check reaper;
	struct listener_set lset; /* control and metrics listeners */
	struct ctl_counters cnt;
	struct log_rl rl_refused; /* refusals at the client limit */
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
/* small helpers                                                       */

const char *ctl_level_str(enum cfg_level level)
{
	switch (level) {
	case CFG_LEVEL_USER:
		return "user";
	case CFG_LEVEL_OPERATOR:
		return "operator";
	case CFG_LEVEL_ADMIN:
		return "admin";
	}
	return "?";
}

/* ------------------------------------------------------------------ */
/* commands                                                            */

struct ctl_req;

struct ctl_cmd {
	const char *words[3]; /* keywords, e.g. {"show", "backends"} */
	const char *args;     /* arguments, for help */
	const char *help;     /* one line, for help */
	enum cfg_level level; /* lowest level allowed */
	bool json;	      /* accepts a trailing "json" / "-json" */
	bool change;	      /* changes routing state: logged */
	int min_args;
	int max_args;
	int (*fn)(struct ctl_req *r);
};

/* One command being run. */
struct ctl_req {
	struct ctl_client *c;
	struct agent *a;
	const struct ctl_cmd *cmd;
	int argc; /* arguments after the keywords */
	char **argv;
	bool json;
	struct buf *out;
};

static void ctl_err(struct ctl_req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Answers the command with one error line (a JSON object in json mode). */
static void ctl_err(struct ctl_req *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->c->ctl->cnt.errors++;
	if (r->json) {
		buf_add(r->out, "{\"error\":", 9);
		buf_json_str(r->out, msg);
		buf_add(r->out, "}\n", 2);
	} else {
		buf_printf(r->out, "error: %s\n", msg);
	}
}

/* Backend named argv[i], or -1 after answering the error. */
static int ctl_backend_arg(struct ctl_req *r, int i)
{
	const char *name = r->argv[i];
	int b = route_backend_index(r->a->route, name, strlen(name));

	if (b < 0)
		ctl_err(r, "no backend '%.64s'", name);
	return b;
}

static int cmd_help(struct ctl_req *r);

static int cmd_prompt(struct ctl_req *r)
{
	r->c->interactive = !r->c->interactive;
	return 0;
}

static int cmd_quit(struct ctl_req *r)
{
	ctl_client_set_state(r->c, CTL_CL_CLOSING);
	return 0;
}

static int cmd_level(struct ctl_req *r)
{
	enum cfg_level want = strcmp(r->cmd->words[0], "user") == 0
				      ? CFG_LEVEL_USER
				      : CFG_LEVEL_OPERATOR;

	/* HAProxy's rule: a session's level can go down, never up */
	if (want < r->c->level)
		r->c->level = want;
	return 0;
}

static int cmd_set_timeout(struct ctl_req *r)
{
	uint64_t ms;

	if (text_parse_duration(r->argv[0], true, CTL_TIMEOUT_MAX_MS, &ms) <
		    0 ||
	    ms < 1000) {
		ctl_err(r, "expected a duration from 1s to 24h, such as 30 "
			   "(seconds), 90s or 5m");
		return -1;
	}
	r->c->timeout = (double)ms / 1000.0;
	r->c->timer.repeat = r->c->timeout;
	ev_timer_again(r->a->loop, &r->c->timer);
	return 0;
}

/* "show info": flat key/value pairs, the same keys in text and JSON. */
struct ctl_kv {
	struct ctl_req *r;
	struct buf_table t;
	bool first;
};

static void ctl_kv_u64(struct ctl_kv *kv, const char *key, uint64_t v)
{
	if (kv->r->json) {
		buf_printf(kv->r->out, "%s\"%s\":%llu", kv->first ? "" : ",",
			   key, (unsigned long long)v);
	} else {
		buf_table_cell(&kv->t, "%s:", key);
		buf_table_cell(&kv->t, "%llu", (unsigned long long)v);
	}
	kv->first = false;
}

static void ctl_kv_str(struct ctl_kv *kv, const char *key, const char *v)
{
	if (kv->r->json) {
		buf_printf(kv->r->out, "%s\"%s\":", kv->first ? "" : ",", key);
		buf_json_str(kv->r->out, v);
	} else {
		buf_table_cell(&kv->t, "%s:", key);
		buf_table_cell(&kv->t, "%s", v);
	}
	kv->first = false;
}

static void ctl_kv_counter(void *arg, const char *name, const char *help,
			   uint64_t value)
{
	char key[80];

	(void)help;
	snprintf(key, sizeof(key), "route_%s", name);
	ctl_kv_u64(arg, key, value);
}

static void ctl_kv_stat(void *arg, const char *name, const char *help,
			uint64_t value)
{
	(void)help;
	ctl_kv_u64(arg, name, value);
}

static int cmd_show_info(struct ctl_req *r)
{
	struct agent *a = r->a;
	struct ctl_kv kv = {.r = r, .first = true};
	struct hapi_status hs;
	char buf[64], key[40];
	uint32_t i;

	buf_table_init(&kv.t, 2, CTL_OUT_MAX);
	if (r->json)
		buf_add(r->out, "{", 1);
	ctl_kv_str(&kv, "version", AOAI_VERSION);
	ctl_kv_u64(&kv, "pid", (uint64_t)getpid());
	ctl_kv_str(&kv, "started", text_fmt_time(buf, sizeof(buf), a->started));
	ctl_kv_u64(&kv, "uptime_s",
		   clock_now.wall_s > a->started
			   ? (uint64_t)(clock_now.wall_s - a->started)
			   : 0);
	ctl_kv_str(&kv, "config_file", a->cfg_path ? a->cfg_path : "");
	ctl_kv_str(&kv, "config_loaded",
		   text_fmt_time(buf, sizeof(buf), a->cfg_loaded));
	ctl_kv_u64(&kv, "backends", route_backend_count(a->route));
	ctl_kv_u64(&kv, "pools", route_pool_count(a->route));
	ctl_kv_u64(&kv, "connections", a->conns.n);
	ctl_kv_u64(&kv, "control_clients", ctl_client_count(a));
	ctl_kv_str(&kv, "stopping", a->stopping ? "yes" : "no");
	if (hapi_status(a->hapi, &hs))
		ctl_kv_str(&kv, "haproxy_link", hs.up ? "up" : "down");
	else
		ctl_kv_str(&kv, "haproxy_link", "off");
	stats_counters_each(a, ctl_kv_stat, &kv);
	for (i = 0; i <= SPOP_ERR_RES + 1; i++) {
		if (i <= SPOP_ERR_RES)
			snprintf(key, sizeof(key), "disconnect_out_%u", i);
		else
			snprintf(key, sizeof(key), "disconnect_out_other");
		ctl_kv_u64(&kv, key, a->conns.cnt.disconnect_out[i]);
	}
	route_engine_counters_each(route_engine_counters(a->route),
				   ctl_kv_counter, &kv);
	ctl_kv_u64(&kv, "decide_samples", a->spoa.decide_hist.count);
	ctl_kv_u64(&kv, "decide_avg_ns",
		   a->spoa.decide_hist.count ? a->spoa.decide_hist.sum_ns /
						       a->spoa.decide_hist.count
					     : 0);
	if (r->json) {
		buf_add(r->out, "}\n", 2);
		buf_free(&kv.t.cells);
	} else {
		buf_table_print(&kv.t, r->out, "");
	}
	return 0;
}

/* Which backends have a weight set at run time in some pool. */
static bool *ctl_weight_overrides(struct agent *a)
{
	uint32_t nb = route_backend_count(a->route), np, p, i;
	struct route_pool_info pi;
	struct route_member_info mi;
	bool *o = calloc(nb ? nb : 1, sizeof(*o));

	if (!o)
		return NULL;
	np = route_pool_count(a->route);
	for (p = 0; p < np; p++) {
		if (route_pool_info(a->route, (int)p, &pi) < 0)
			continue;
		for (i = 0; i < pi.n_members; i++)
			if (route_member_info(a->route, (int)p, i, clock_now.ms,
					      &mi) == 0 &&
			    mi.weight_overridden && mi.backend >= 0 &&
			    (uint32_t)mi.backend < nb)
				o[mi.backend] = true;
	}
	return o;
}

static bool ctl_operator_trip(const struct route_backend_info *bi)
{
	return bi->state == ROUTE_ST_OPEN &&
	       strncmp(bi->why, "operator trip", 13) == 0;
}

/* Share of its configured weight a backend gets now, per mille: 0 while
 * it cannot take ordinary traffic, its headroom factor otherwise.
 */
static uint32_t ctl_weight_permille(const struct route_backend_info *bi)
{
	if (bi->disabled || bi->down || bi->state != ROUTE_ST_CLOSED)
		return 0;
	return bi->headroom_permille;
}

static void ctl_backend_json(struct ctl_req *r,
			     const struct route_backend_info *bi, bool weights,
			     uint64_t now_ms)
{
	static const char *const names[] = {
#define X(name, help) #name,
		ROUTE_BACKEND_COUNTERS(X)
#undef X
	};
	const uint64_t vals[] = {
#define X(name, help) bi->counters.name,
		ROUTE_BACKEND_COUNTERS(X)
#undef X
	};
	struct buf *o = r->out;
	uint64_t left = bi->until_ms > now_ms ? bi->until_ms - now_ms : 0;
	size_t k;

	buf_add(o, "{\"name\":", 8);
	buf_json_str(o, bi->name);
	buf_printf(o, ",\"state\":\"%s\",\"disabled\":%s,\"down\":%s",
		   route_state_str(bi->state), bi->disabled ? "true" : "false",
		   bi->down ? "true" : "false");
	buf_printf(o,
		   ",\"runtime\":{\"disabled\":%s,\"trip\":%s,"
		   "\"weight\":%s}",
		   bi->disabled ? "true" : "false",
		   ctl_operator_trip(bi) ? "true" : "false",
		   weights ? "true" : "false");
	buf_add(o, ",\"reason\":", 10);
	buf_json_str(o, bi->why);
	buf_printf(o,
		   ",\"remaining_ms\":%llu,\"trip_duration_ms\":%u,"
		   "\"consecutive_trips\":%u,\"probes_inflight\":%u,"
		   "\"probe_limit\":%u,\"window_faults\":%u,"
		   "\"window_calls\":%u,\"consecutive_faults\":%u",
		   (unsigned long long)left, bi->trip_duration_ms,
		   bi->consecutive_trips, bi->probes_inflight, bi->probe_limit,
		   bi->window_faults, bi->window_calls, bi->consecutive_faults);
	if (bi->remaining_requests >= 0)
		buf_printf(o, ",\"remaining_requests\":%lld",
			   (long long)bi->remaining_requests);
	else
		buf_add(o, ",\"remaining_requests\":null", 26);
	if (bi->remaining_tokens >= 0)
		buf_printf(o, ",\"remaining_tokens\":%lld",
			   (long long)bi->remaining_tokens);
	else
		buf_add(o, ",\"remaining_tokens\":null", 24);
	buf_printf(o, ",\"headroom_permille\":%u,\"weight_permille\":%u",
		   bi->headroom_permille, ctl_weight_permille(bi));
	buf_add(o, ",\"counters\":{", 13);
	for (k = 0; k < sizeof(vals) / sizeof(vals[0]); k++)
		buf_printf(o, "%s\"%s\":%llu", k ? "," : "", names[k],
			   (unsigned long long)vals[k]);
	buf_add(o, "}}", 2);
}

static int cmd_show_backends(struct ctl_req *r)
{
	struct agent *a = r->a;
	uint32_t n = route_backend_count(a->route), i;
	struct route_backend_info bi;
	struct buf_table t;
	bool *weights, any_runtime = false, first = true;
	int only = -1;
	char left[32], flags[48], head[48];

	if (r->argc == 1 && (only = ctl_backend_arg(r, 0)) < 0)
		return -1;
	weights = ctl_weight_overrides(a);
	if (!weights) {
		ctl_err(r, "out of memory");
		return -1;
	}
	if (r->json) {
		buf_add(r->out, "{\"backends\":[", 13);
	} else {
		buf_table_init(&t, 13, CTL_OUT_MAX);
		buf_table_cell(&t, "BACKEND");
		buf_table_cell(&t, "STATE");
		buf_table_cell(&t, "UNTIL");
		buf_table_cell(&t, "FLAGS");
		buf_table_cell(&t, "WEIGHT");
		buf_table_cell(&t, "HEADROOM");
		buf_table_cell(&t, "DECISIONS");
		buf_table_cell(&t, "2XX");
		buf_table_cell(&t, "429");
		buf_table_cell(&t, "5XX");
		buf_table_cell(&t, "FAULTS");
		buf_table_cell(&t, "TRIPS");
		buf_table_cell(&t, "REASON");
	}
	for (i = 0; i < n; i++) {
		if (only >= 0 && (int)i != only)
			continue;
		if (route_backend_info(a->route, (int)i, clock_now.ms, &bi) < 0)
			continue;
		if (r->json) {
			if (!first)
				buf_add(r->out, ",", 1);
			ctl_backend_json(r, &bi, weights[i], clock_now.ms);
			first = false;
			continue;
		}
		flags[0] = '\0';
		snprintf(flags, sizeof(flags), "%s%s%s%s",
			 bi.disabled ? ",disabled*" : "",
			 ctl_operator_trip(&bi) ? ",trip*" : "",
			 weights[i] ? ",weight*" : "", bi.down ? ",down" : "");
		if (bi.disabled || ctl_operator_trip(&bi) || weights[i])
			any_runtime = true;
		if (bi.state == ROUTE_ST_OPEN || bi.state == ROUTE_ST_COOLING)
			text_fmt_left(left, sizeof(left),
				      bi.until_ms > clock_now.ms
					      ? bi.until_ms - clock_now.ms
					      : 0);
		else if (bi.state == ROUTE_ST_HALF_OPEN)
			snprintf(left, sizeof(left), "probes %u/%u",
				 bi.probes_inflight, bi.probe_limit);
		else
			snprintf(left, sizeof(left), "-");
		if (bi.remaining_requests >= 0 || bi.remaining_tokens >= 0)
			snprintf(head, sizeof(head), "%u%% req=%lld tok=%lld",
				 bi.headroom_permille / 10,
				 (long long)bi.remaining_requests,
				 (long long)bi.remaining_tokens);
		else
			snprintf(head, sizeof(head), "%u%%",
				 bi.headroom_permille / 10);
		buf_table_cell(&t, "%s", bi.name);
		buf_table_cell(&t, "%s", route_state_str(bi.state));
		buf_table_cell(&t, "%s", left);
		buf_table_cell(&t, "%s", flags[0] ? flags + 1 : "-");
		buf_table_cell(&t, "%u%%", ctl_weight_permille(&bi) / 10);
		buf_table_cell(&t, "%s", head);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.decisions);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.results_2xx);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.throttles);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.results_5xx);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.faults);
		buf_table_cell(&t, "%llu",
			       (unsigned long long)bi.counters.trips);
		buf_table_cell(&t, "%s", bi.why[0] ? bi.why : "-");
	}
	free(weights);
	if (r->json) {
		buf_add(r->out, "]}\n", 3);
		return 0;
	}
	buf_table_print(&t, r->out, "");
	if (any_runtime)
		buf_printf(r->out, "* set at run time: kept across "
				   "reloads until \"reset backend NAME\"\n");
	return 0;
}

static int cmd_show_pools(struct ctl_req *r)
{
	struct agent *a = r->a;
	uint32_t np = route_pool_count(a->route), p, i;
	struct route_pool_info pi;
	struct route_member_info mi;
	struct route_backend_info bi;
	struct buf_table t;
	bool first = true, any_runtime = false;
	const char *name;
	uint32_t eff;
	int only = -1;

	if (r->argc == 1) {
		name = r->argv[0];
		only = route_pool_index(a->route, name, strlen(name));
		if (only < 0) {
			ctl_err(r, "no pool '%.64s'", name);
			return -1;
		}
	}
	if (r->json)
		buf_add(r->out, "{\"pools\":[", 10);
	for (p = 0; p < np; p++) {
		if ((only >= 0 && (int)p != only) ||
		    route_pool_info(a->route, (int)p, &pi) < 0)
			continue;
		if (r->json) {
			buf_printf(r->out, "%s{\"name\":", first ? "" : ",");
			buf_json_str(r->out, pi.name);
			buf_printf(r->out,
				   ",\"best_priority\":%u,"
				   "\"current_priority\":%u,\"counters\":{",
				   pi.best_priority, pi.cur_priority);
#define X(name, help)                                                          \
	buf_printf(r->out, "%s\"%s\":%llu",                                    \
		   strcmp(#name, "weighted") == 0 ? "" : ",", #name,           \
		   (unsigned long long)pi.counters.name);
			ROUTE_POOL_COUNTERS(X)
#undef X
			buf_add(r->out, "},\"members\":[", 13);
		} else {
			buf_printf(r->out,
				   "pool %s: %u members, group in use %u "
				   "(best %u)\n",
				   pi.name, pi.n_members, pi.cur_priority,
				   pi.best_priority);
			buf_add(r->out, "  decisions:", 12);
#define X(name, help)                                                          \
	buf_printf(r->out, " %s %llu", #name,                                  \
		   (unsigned long long)pi.counters.name);
			ROUTE_POOL_COUNTERS(X)
#undef X
			buf_add(r->out, "\n", 1);
			buf_table_init(&t, 7, CTL_OUT_MAX);
			buf_table_cell(&t, "BACKEND");
			buf_table_cell(&t, "PRIORITY");
			buf_table_cell(&t, "WEIGHT");
			buf_table_cell(&t, "CONFIGURED");
			buf_table_cell(&t, "EFFECTIVE");
			buf_table_cell(&t, "STATE");
			buf_table_cell(&t, "AVAILABLE");
		}
		first = false;
		for (i = 0; i < pi.n_members; i++) {
			if (route_member_info(a->route, (int)p, i, clock_now.ms,
					      &mi) < 0 ||
			    route_backend_info(a->route, mi.backend,
					       clock_now.ms, &bi) < 0)
				continue;
			if (r->json) {
				buf_printf(r->out,
					   "%s{\"backend\":", i ? "," : "");
				buf_json_str(r->out, bi.name);
				buf_printf(
					r->out,
					",\"priority\":%u,\"weight\":%u,"
					"\"cfg_weight\":%u,"
					"\"runtime_weight\":%s,"
					"\"effective_weight_milli\":%u,"
					"\"state\":\"%s\",\"available\":%s}",
					mi.priority, mi.weight, mi.cfg_weight,
					mi.weight_overridden ? "true" : "false",
					mi.available ? mi.effective_milli : 0,
					route_state_str(bi.state),
					mi.available ? "true" : "false");
				continue;
			}
			any_runtime |= mi.weight_overridden;
			buf_table_cell(&t, "%s", bi.name);
			buf_table_cell(&t, "%u", mi.priority);
			buf_table_cell(&t, "%u%s", mi.weight,
				       mi.weight_overridden ? "*" : "");
			buf_table_cell(&t, "%u", mi.cfg_weight);
			eff = mi.available ? mi.effective_milli : 0;
			buf_table_cell(&t, "%u.%03u", eff / 1000, eff % 1000);
			buf_table_cell(&t, "%s%s%s", route_state_str(bi.state),
				       bi.disabled ? ",disabled*" : "",
				       bi.down ? ",down" : "");
			buf_table_cell(&t, "%s", mi.available ? "yes" : "no");
		}
		if (r->json)
			buf_add(r->out, "]}", 2);
		else
			buf_table_print(&t, r->out, "  ");
	}
	if (r->json) {
		buf_add(r->out, "]}\n", 3);
		return 0;
	}
	if (any_runtime)
		buf_printf(r->out, "* set at run time: kept across "
				   "reloads until \"reset backend NAME\"\n");
	return 0;
}

/* "[429, 500-599]" of a status set, ranges compressed; JSON uses strings
 * for ranges too ("500-599"), as the configuration file does.
 */
static void ctl_status_set(struct buf *o, const struct cfg_status_set *s)
{
	int code = CFG_STATUS_MIN, end;
	bool first = true;

	buf_add(o, "[", 1);
	while (code <= CFG_STATUS_MAX) {
		if (!cfg_status_has(s, code)) {
			code++;
			continue;
		}
		for (end = code;
		     end + 1 <= CFG_STATUS_MAX && cfg_status_has(s, end + 1);
		     end++)
			;
		if (end == code)
			buf_printf(o, "%s%d", first ? "" : ", ", code);
		else
			buf_printf(o, "%s\"%d-%d\"", first ? "" : ", ", code,
				   end);
		first = false;
		code = end + 1;
	}
	buf_add(o, "]", 1);
}

static void ctl_config_sock_yaml(struct buf *o, const struct cfg_listener *l,
				 bool control)
{
	char addr[CFG_PATH_MAX + 40];

	sock_addr_str(l, addr, sizeof(addr));
	buf_printf(o, "  - {address: \"%s\"", addr);
	if (l->kind == CFG_ADDR_UNIX)
		buf_printf(o, ", mode: \"%04o\"", l->mode);
	if (control)
		buf_printf(o, ", level: %s", ctl_level_str(l->level));
	buf_add(o, "}\n", 2);
}

static void ctl_config_sock_json(struct buf *o, const struct cfg_listener *l,
				 bool control)
{
	char addr[CFG_PATH_MAX + 40];

	sock_addr_str(l, addr, sizeof(addr));
	buf_add(o, "{\"address\":", 11);
	buf_json_str(o, addr);
	if (l->kind == CFG_ADDR_UNIX)
		buf_printf(o, ",\"mode\":\"%04o\"", l->mode);
	if (control)
		buf_printf(o, ",\"level\":\"%s\"", ctl_level_str(l->level));
	buf_add(o, "}", 1);
}

/* The configuration in force, defaults expanded, as a YAML document the
 * agent itself accepts (aoai-spoa -c -f on it says "configuration OK").
 */
static void ctl_config_yaml(struct agent *a, struct buf *o)
{
	const struct cfg *cfg = a->cfg;
	const struct cfg_agent *ag = &cfg->agent;
	char d1[24], d2[24], d3[24], when[32];
	uint32_t i, j;

	buf_printf(o,
		   "# running configuration from %s, loaded %s; "
		   "defaults expanded,\n# run-time changes not included "
		   "(show backends, show pools)\n",
		   cfg->file ? cfg->file : "?",
		   text_fmt_time(when, sizeof(when), a->cfg_loaded));
	buf_printf(o,
		   "agent:\n  max_connections: %u\n  max_frame_size: %u\n"
		   "  max_inflight: %u\n  hello_timeout: %s\n"
		   "  idle_timeout: %s\n",
		   ag->max_connections, ag->max_frame_size, ag->max_inflight,
		   text_fmt_duration(d1, sizeof(d1), ag->hello_timeout_ms),
		   text_fmt_duration(d2, sizeof(d2), ag->idle_timeout_ms));
	buf_printf(o, "  shutdown_timeout: %s\n  log_level: %s\n",
		   text_fmt_duration(d1, sizeof(d1), ag->shutdown_timeout_ms),
		   log_level_name(ag->log_level));
	buf_add(o, "listen:\n", 8);
	for (i = 0; i < cfg->n_listen; i++)
		ctl_config_sock_yaml(o, &cfg->listen[i], false);
	if (cfg->n_control) {
		buf_add(o, "control:\n", 9);
		for (i = 0; i < cfg->n_control; i++)
			ctl_config_sock_yaml(o, &cfg->control[i], true);
	}
	if (cfg->has_metrics)
		buf_printf(o, "metrics: \"%s\"\n",
			   sock_addr_str(&cfg->metrics, when, sizeof(when)));
	if (cfg->haproxy.enabled) {
		char addr[CFG_PATH_MAX + 40];

		buf_printf(
			o,
			"haproxy:\n  stats_socket: \"%s\"\n  backend: \"%s\"\n"
			"  poll_interval: %s\n  mirror: %s\n",
			sock_addr_str(&cfg->haproxy.stats_socket, addr,
				      sizeof(addr)),
			cfg->haproxy.backend,
			text_fmt_duration(d1, sizeof(d1),
					  cfg->haproxy.poll_interval_ms),
			cfg->haproxy.mirror ? "true" : "false");
	}
	buf_add(o, "backends:\n", 10);
	for (i = 0; i < cfg->n_backends; i++) {
		const struct cfg_backend *b = &cfg->backends[i];
		const struct cfg_breaker *k = &b->breaker;
		const struct cfg_headroom *h = &b->headroom;

		buf_printf(o,
			   "  - name: \"%s\"\n    circuit_breaker:\n"
			   "      failure:\n        count: %u\n"
			   "        interval: %s\n        status_codes: ",
			   b->name, k->failure_count,
			   text_fmt_duration(d1, sizeof(d1),
					     k->failure_interval_ms));
		ctl_status_set(o, &k->failure_status);
		buf_add(o, "\n", 1);
		if (k->failure_percentage)
			buf_printf(o,
				   "        percentage: %u\n"
				   "        minimum_requests: %u\n",
				   k->failure_percentage, k->minimum_requests);
		buf_printf(
			o,
			"        consecutive: %u\n"
			"        slow_call: %s\n"
			"      trip_duration: %s\n"
			"      max_trip_duration: %s\n",
			k->consecutive_failures,
			text_fmt_duration(d1, sizeof(d1), k->slow_call_ms),
			text_fmt_duration(d2, sizeof(d2), k->trip_duration_ms),
			text_fmt_duration(d3, sizeof(d3),
					  k->max_trip_duration_ms));
		buf_printf(o,
			   "      accept_retry_after: %s\n"
			   "      max_retry_after: %s\n"
			   "      throttle_status_codes: ",
			   k->accept_retry_after ? "true" : "false",
			   text_fmt_duration(d1, sizeof(d1),
					     k->max_retry_after_ms));
		ctl_status_set(o, &k->throttle_status);
		buf_printf(
			o,
			"\n      probe_requests: %u\n"
			"      probe_timeout: %s\n",
			k->probe_requests,
			text_fmt_duration(d1, sizeof(d1), k->probe_timeout_ms));
		buf_printf(o,
			   "    headroom:\n"
			   "      min_remaining_requests: %llu\n"
			   "      min_remaining_tokens: %llu\n"
			   "      min_weight_percent: %u\n"
			   "      max_age: %s\n",
			   (unsigned long long)h->min_remaining_requests,
			   (unsigned long long)h->min_remaining_tokens,
			   h->min_weight_percent,
			   text_fmt_duration(d1, sizeof(d1), h->max_age_ms));
	}
	buf_add(o, "pools:\n", 7);
	for (i = 0; i < cfg->n_pools; i++) {
		const struct cfg_pool *p = &cfg->pools[i];

		buf_printf(o, "  - name: \"%s\"\n    members:\n", p->name);
		for (j = 0; j < p->n_members; j++) {
			const struct cfg_member *m = &p->members[j];

			buf_printf(o,
				   "      - {backend: \"%s\", priority: %u, "
				   "weight: %u}\n",
				   m->backend < cfg->n_backends
					   ? cfg->backends[m->backend].name
					   : "?",
				   m->priority, m->weight);
		}
	}
}

/* The same in JSON: durations as integer milliseconds ("..._ms"). */
static void ctl_config_json(struct agent *a, struct buf *o)
{
	const struct cfg *cfg = a->cfg;
	const struct cfg_agent *ag = &cfg->agent;
	uint32_t i, j;

	buf_add(o, "{\"file\":", 8);
	buf_json_str(o, cfg->file ? cfg->file : "");
	buf_printf(o,
		   ",\"loaded\":%lld,\"agent\":{\"max_connections\":%u,"
		   "\"max_frame_size\":%u,\"max_inflight\":%u,"
		   "\"hello_timeout_ms\":%u,\"idle_timeout_ms\":%u,"
		   "\"shutdown_timeout_ms\":%u,\"log_level\":\"%s\"}",
		   (long long)a->cfg_loaded, ag->max_connections,
		   ag->max_frame_size, ag->max_inflight, ag->hello_timeout_ms,
		   ag->idle_timeout_ms, ag->shutdown_timeout_ms,
		   log_level_name(ag->log_level));
	buf_add(o, ",\"listen\":[", 11);
	for (i = 0; i < cfg->n_listen; i++) {
		if (i)
			buf_add(o, ",", 1);
		ctl_config_sock_json(o, &cfg->listen[i], false);
	}
	buf_add(o, "],\"control\":[", 13);
	for (i = 0; i < cfg->n_control; i++) {
		if (i)
			buf_add(o, ",", 1);
		ctl_config_sock_json(o, &cfg->control[i], true);
	}
	buf_add(o, "],\"metrics\":", 12);
	if (cfg->has_metrics)
		ctl_config_sock_json(o, &cfg->metrics, false);
	else
		buf_add(o, "null", 4);
	buf_add(o, ",\"haproxy\":", 11);
	if (cfg->haproxy.enabled) {
		char addr[CFG_PATH_MAX + 40];

		buf_add(o, "{\"stats_socket\":", 16);
		buf_json_str(o, sock_addr_str(&cfg->haproxy.stats_socket, addr,
					      sizeof(addr)));
		buf_add(o, ",\"backend\":", 11);
		buf_json_str(o, cfg->haproxy.backend);
		buf_printf(o, ",\"poll_interval_ms\":%u,\"mirror\":%s}",
			   cfg->haproxy.poll_interval_ms,
			   cfg->haproxy.mirror ? "true" : "false");
	} else {
		buf_add(o, "null", 4);
	}
	buf_add(o, ",\"backends\":[", 13);
	for (i = 0; i < cfg->n_backends; i++) {
		const struct cfg_backend *b = &cfg->backends[i];
		const struct cfg_breaker *k = &b->breaker;
		const struct cfg_headroom *h = &b->headroom;

		buf_printf(o, "%s{\"name\":", i ? "," : "");
		buf_json_str(o, b->name);
		buf_printf(o,
			   ",\"circuit_breaker\":{\"failure\":{"
			   "\"count\":%u,\"interval_ms\":%u,"
			   "\"status_codes\":",
			   k->failure_count, k->failure_interval_ms);
		ctl_status_set(o, &k->failure_status);
		buf_printf(o,
			   ",\"percentage\":%u,\"minimum_requests\":%u,"
			   "\"consecutive\":%u,\"slow_call_ms\":%u},"
			   "\"trip_duration_ms\":%u,"
			   "\"max_trip_duration_ms\":%u,"
			   "\"accept_retry_after\":%s,"
			   "\"max_retry_after_ms\":%u,"
			   "\"throttle_status_codes\":",
			   k->failure_percentage, k->minimum_requests,
			   k->consecutive_failures, k->slow_call_ms,
			   k->trip_duration_ms, k->max_trip_duration_ms,
			   k->accept_retry_after ? "true" : "false",
			   k->max_retry_after_ms);
		ctl_status_set(o, &k->throttle_status);
		buf_printf(o,
			   ",\"probe_requests\":%u,\"probe_timeout_ms\":%u}"
			   ",\"headroom\":{\"min_remaining_requests\":%llu,"
			   "\"min_remaining_tokens\":%llu,"
			   "\"min_weight_percent\":%u,\"max_age_ms\":%u}}",
			   k->probe_requests, k->probe_timeout_ms,
			   (unsigned long long)h->min_remaining_requests,
			   (unsigned long long)h->min_remaining_tokens,
			   h->min_weight_percent, h->max_age_ms);
	}
	buf_add(o, "],\"pools\":[", 11);
	for (i = 0; i < cfg->n_pools; i++) {
		const struct cfg_pool *p = &cfg->pools[i];

		buf_printf(o, "%s{\"name\":", i ? "," : "");
		buf_json_str(o, p->name);
		buf_add(o, ",\"members\":[", 12);
		for (j = 0; j < p->n_members; j++) {
			const struct cfg_member *m = &p->members[j];

			buf_printf(o, "%s{\"backend\":", j ? "," : "");
			buf_json_str(o, m->backend < cfg->n_backends
						? cfg->backends[m->backend].name
						: "?");
			buf_printf(o, ",\"priority\":%u,\"weight\":%u}",
				   m->priority, m->weight);
		}
		buf_add(o, "]}", 2);
	}
	buf_add(o, "]}\n", 3);
}

static int cmd_show_config(struct ctl_req *r)
{
	if (r->json)
		ctl_config_json(r->a, r->out);
	else
		ctl_config_yaml(r->a, r->out);
	return 0;
}

static int cmd_show_metrics(struct ctl_req *r)
{
	metrics_render(r->a, r->out);
	return 0;
}

static int cmd_show_haproxy(struct ctl_req *r)
{
	hapi_show(r->a->hapi, r->out, r->json);
	return 0;
}

static int cmd_set_weight(struct ctl_req *r)
{
	struct agent *a = r->a;
	const char *pool = r->argv[0];
	struct route_member_info mi;
	struct route_pool_info pi;
	uint64_t w;
	uint32_t i, cfg_w = 0;
	int p, b;

	p = route_pool_index(a->route, pool, strlen(pool));
	if (p < 0) {
		ctl_err(r, "no pool '%.64s'", pool);
		return -1;
	}
	if ((b = ctl_backend_arg(r, 1)) < 0)
		return -1;
	if (text_parse_uint(r->argv[2], CFG_WEIGHT_MAX, &w) < 0) {
		ctl_err(r, "weight: expected an integer from 0 to %d",
			CFG_WEIGHT_MAX);
		return -1;
	}
	if (route_set_weight(a->route, p, b, (uint32_t)w) < 0) {
		ctl_err(r, "backend '%s' is not a member of pool '%s'",
			route_backend_name(a->route, b), pool);
		return -1;
	}
	if (route_pool_info(a->route, p, &pi) == 0)
		for (i = 0; i < pi.n_members; i++)
			if (route_member_info(a->route, p, i, clock_now.ms,
					      &mi) == 0 &&
			    mi.backend == b)
				cfg_w = mi.cfg_weight;
	buf_printf(r->out,
		   "weight of %s in pool %s set to %llu (configured %u)\n",
		   route_backend_name(a->route, b), pool, (unsigned long long)w,
		   cfg_w);
	return 0;
}

static int cmd_able(struct ctl_req *r)
{
	bool disable = strcmp(r->cmd->words[0], "disable") == 0;
	int b = ctl_backend_arg(r, 0);

	if (b < 0)
		return -1;
	route_set_disabled(r->a->route, b, disable);
	buf_printf(r->out, "backend %s %s\n",
		   route_backend_name(r->a->route, b),
		   disable ? "disabled: no new decisions (drain)" : "enabled");
	return 0;
}

static int cmd_trip(struct ctl_req *r)
{
	struct agent *a = r->a;
	uint64_t ms;
	char d[24];
	int b = ctl_backend_arg(r, 0);

	if (b < 0)
		return -1;
	ms = a->cfg->backends[b].breaker.trip_duration_ms;
	if (r->argc == 2 && (text_parse_duration(r->argv[1], false,
						 ROUTE_WAIT_CEIL_MS, &ms) < 0 ||
			     ms == 0)) {
		ctl_err(r, "duration: expected 500ms, 30s, 5m or 1h, at most "
			   "24h");
		return -1;
	}
	route_trip(a->route, b, (uint32_t)ms, clock_now.ms);
	buf_printf(r->out, "backend %s open for %s\n",
		   route_backend_name(a->route, b),
		   text_fmt_duration(d, sizeof(d), ms));
	return 0;
}

static int cmd_reset(struct ctl_req *r)
{
	int b = ctl_backend_arg(r, 0);

	if (b < 0)
		return -1;
	route_reset(r->a->route, b, clock_now.ms);
	buf_printf(r->out,
		   "backend %s reset: closed, enabled, configured "
		   "weights\n",
		   route_backend_name(r->a->route, b));
	return 0;
}

static int cmd_clear_counters(struct ctl_req *r)
{
	route_clear_counters(r->a->route);
	stats_reset(r->a);
	buf_printf(r->out, "counters cleared\n");
	return 0;
}

struct ctl_reload_ctx {
	struct buf errs;
	unsigned n;
};

static void ctl_reload_err(void *arg, const char *msg)
{
	struct ctl_reload_ctx *x = arg;

	x->n++;
	buf_printf(&x->errs, "  %s\n", msg);
}

static int cmd_reload(struct ctl_req *r)
{
	struct agent *a = r->a;
	struct ctl_reload_ctx x = {.n = 0};

	buf_init(&x.errs, 1u << 20);
	if (a->reload(a, ctl_reload_err, &x) < 0) {
		if (x.n)
			ctl_err(r,
				"reload rejected (%u error%s); the running "
				"configuration stays",
				x.n, x.n == 1 ? "" : "s");
		else
			ctl_err(r, "reload rejected; the running "
				   "configuration stays (see the log)");
		if (!r->json && x.errs.len)
			buf_add(r->out, x.errs.p, x.errs.len);
		buf_free(&x.errs);
		return -1;
	}
	buf_free(&x.errs);
	buf_printf(r->out, "reloaded %s: %u backends, %u pools\n", a->cfg_path,
		   a->cfg->n_backends, a->cfg->n_pools);
	return 0;
}

/* The command table: help is generated from it, and so are the level
 * and argument-count checks.
 */
static const struct ctl_cmd ctl_cmds[] = {
	{
		.words = {"help"},
		.args = "",
		.help = "list the commands this session may run",
		.level = CFG_LEVEL_USER,
		.fn = cmd_help,
	},
	{
		.words = {"prompt"},
		.args = "",
		.help = "toggle interactive mode: several lines, a prompt",
		.level = CFG_LEVEL_USER,
		.fn = cmd_prompt,
	},
	{
		.words = {"quit"},
		.args = "",
		.help = "close the connection",
		.level = CFG_LEVEL_USER,
		.fn = cmd_quit,
	},
	{
		.words = {"user"},
		.args = "",
		.help = "lower this session's level to user",
		.level = CFG_LEVEL_USER,
		.fn = cmd_level,
	},
	{
		.words = {"operator"},
		.args = "",
		.help = "lower this session's level to operator",
		.level = CFG_LEVEL_USER,
		.fn = cmd_level,
	},
	{
		.words = {"set", "timeout", "cli"},
		.args = "DURATION",
		.help = "idle timeout of this session (seconds, or 90s, 5m)",
		.level = CFG_LEVEL_USER,
		.min_args = 1,
		.max_args = 1,
		.fn = cmd_set_timeout,
	},
	{
		.words = {"show", "info"},
		.args = "[json]",
		.help = "version, uptime, configuration, connections, counters",
		.level = CFG_LEVEL_USER,
		.json = true,
		.fn = cmd_show_info,
	},
	{
		.words = {"show", "backends"},
		.args = "[NAME] [json]",
		.help = "breaker state, reason, deadline, weight, headroom, results",
		.level = CFG_LEVEL_USER,
		.json = true,
		.max_args = 1,
		.fn = cmd_show_backends,
	},
	{
		.words = {"show", "pools"},
		.args = "[NAME] [json]",
		.help = "members, priorities, weights, group in use, decisions",
		.level = CFG_LEVEL_USER,
		.json = true,
		.max_args = 1,
		.fn = cmd_show_pools,
	},
	{
		.words = {"show", "config"},
		.args = "[json]",
		.help = "the configuration in force, defaults expanded",
		.level = CFG_LEVEL_USER,
		.json = true,
		.fn = cmd_show_config,
	},
	{
		.words = {"show", "haproxy"},
		.args = "[json]",
		.help = "the HAProxy runtime API link and the servers it reports",
		.level = CFG_LEVEL_USER,
		.json = true,
		.fn = cmd_show_haproxy,
	},
	{
		.words = {"show", "metrics"},
		.args = "",
		.help = "Prometheus text exposition",
		.level = CFG_LEVEL_USER,
		.fn = cmd_show_metrics,
	},
	{
		.words = {"set", "weight"},
		.args = "POOL BACKEND WEIGHT",
		.help = "weight of a member (0..1000, 0 drains it from the pool)",
		.level = CFG_LEVEL_OPERATOR,
		.change = true,
		.min_args = 3,
		.max_args = 3,
		.fn = cmd_set_weight,
	},
	{
		.words = {"disable", "backend"},
		.args = "NAME",
		.help = "drain: no new decisions to it in any pool",
		.level = CFG_LEVEL_OPERATOR,
		.change = true,
		.min_args = 1,
		.max_args = 1,
		.fn = cmd_able,
	},
	{
		.words = {"enable", "backend"},
		.args = "NAME",
		.help = "undo disable backend",
		.level = CFG_LEVEL_OPERATOR,
		.change = true,
		.min_args = 1,
		.max_args = 1,
		.fn = cmd_able,
	},
	{
		.words = {"trip", "backend"},
		.args = "NAME [DURATION]",
		.help = "open its circuit (default: its trip_duration), then "
			"half-open",
		.level = CFG_LEVEL_OPERATOR,
		.change = true,
		.min_args = 1,
		.max_args = 2,
		.fn = cmd_trip,
	},
	{
		.words = {"reset", "backend"},
		.args = "NAME",
		.help = "close its circuit, undo disable and set weight",
		.level = CFG_LEVEL_OPERATOR,
		.change = true,
		.min_args = 1,
		.max_args = 1,
		.fn = cmd_reset,
	},
	{
		.words = {"clear", "counters"},
		.args = "",
		.help = "zero every counter",
		.level = CFG_LEVEL_ADMIN,
		.change = true,
		.fn = cmd_clear_counters,
	},
	{
		.words = {"reload"},
		.args = "",
		.help = "re-read the configuration file (kept only if valid)",
		.level = CFG_LEVEL_ADMIN,
		.change = true,
		.fn = cmd_reload,
	},
};

#define CTL_NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static int ctl_cmd_words(const struct ctl_cmd *cmd)
{
	int n = 0;

	while (n < 3 && cmd->words[n])
		n++;
	return n;
}

static int cmd_help(struct ctl_req *r)
{
	struct buf_table t;
	char usage[96];
	size_t k;
	int w;

	buf_printf(r->out,
		   "Commands at this session's level (%s); several may "
		   "share a line, separated by ';':\n",
		   ctl_level_str(r->c->level));
	buf_table_init(&t, 2, CTL_OUT_MAX);
	for (k = 0; k < CTL_NCMDS; k++) {
		const struct ctl_cmd *cmd = &ctl_cmds[k];
		size_t n = 0;

		if (cmd->level > r->c->level)
			continue;
		for (w = 0; w < ctl_cmd_words(cmd); w++)
			n += (size_t)snprintf(usage + n, sizeof(usage) - n,
					      "%s%s", w ? " " : "",
					      cmd->words[w]);
		if (cmd->args[0] && n < sizeof(usage))
			snprintf(usage + n, sizeof(usage) - n, " %s",
				 cmd->args);
		buf_table_cell(&t, "%s", usage);
		buf_table_cell(&t, "%s", cmd->help);
	}
	buf_table_print(&t, r->out, "  ");
	return 0;
}

/* ------------------------------------------------------------------ */
/* running lines                                                       */

/* Splits <s> into words on blanks, in place. Returns the count, or -1
 * when there are more than <max>.
 */
static int ctl_split(char *s, char **argv, int max)
{
	int n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			*s++ = '\0';
		if (!*s)
			return n;
		if (n == max)
			return -1;
		argv[n++] = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
}

/* Runs one command (a ';'-separated part of a line) and appends its
 * output and the empty line that ends every answer (HAProxy's habit).
 */
static void ctl_run_command(struct ctl_client *c, char *text)
{
	struct ctl *ctl = c->ctl;
	struct agent *a = ctl->agent;
	const struct ctl_cmd *best = NULL;
	char *argv[CTL_ARGS_MAX];
	struct ctl_req r = {.c = c, .a = a, .out = &c->out};
	size_t mark = c->out.len;
	int argc, k, w, nw, best_w = 0;

	argc = ctl_split(text, argv, CTL_ARGS_MAX);
	if (argc == 0)
		return;
	ctl->cnt.commands++;
	if (argc < 0) {
		ctl_err(&r, "too many words (at most %d)", CTL_ARGS_MAX);
		goto end;
	}
	for (k = 0; k < (int)CTL_NCMDS; k++) {
		nw = ctl_cmd_words(&ctl_cmds[k]);
		if (nw > argc || nw <= best_w)
			continue;
		for (w = 0; w < nw; w++)
			if (strcmp(argv[w], ctl_cmds[k].words[w]) != 0)
				break;
		if (w == nw) {
			best = &ctl_cmds[k];
			best_w = nw;
		}
	}
	if (argc > 0 &&
	    (strcmp(argv[argc - 1], "json") == 0 ||
	     strcmp(argv[argc - 1], "-json") == 0) &&
	    best && best->json && argc > best_w) {
		r.json = true;
		argc--;
	}
	if (!best) {
		ctl_err(&r,
			"unknown command '%.64s%s%.64s'; 'help' lists "
			"the commands",
			argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
		goto end;
	}
	r.cmd = best;
	r.argc = argc - best_w;
	r.argv = argv + best_w;
	if (best->level > c->level) {
		ctl->cnt.denied++;
		ctl_err(&r,
			"permission denied: '%s%s%s' needs level %s, this "
			"session is %s",
			best->words[0], best->words[1] ? " " : "",
			best->words[1] ? best->words[1] : "",
			ctl_level_str(best->level), ctl_level_str(c->level));
		goto end;
	}
	if (r.argc < best->min_args || r.argc > best->max_args) {
		ctl_err(&r, "%s arguments; usage: %s%s%s%s%s %s",
			r.argc < best->min_args ? "missing" : "too many",
			best->words[0], best->words[1] ? " " : "",
			best->words[1] ? best->words[1] : "",
			best->words[2] ? " " : "",
			best->words[2] ? best->words[2] : "", best->args);
		goto end;
	}
	clock_update();
	if (best->fn(&r) == 0 && best->change) {
		char what[256];
		size_t n = 0;
		int i;

		ctl->cnt.changes++;
		for (i = 0; i < argc && n < sizeof(what); i++)
			n += (size_t)snprintf(what + n, sizeof(what) - n,
					      "%s%s", i ? " " : "", argv[i]);
		log_msg(LOG_NOTICE, "control %s: %s", c->peer, what);
	}
end:
	if (c->out.overflow) {
		buf_truncate(&c->out, mark);
		ctl_err(&r, "output too large (more than %u bytes)",
			CTL_OUT_MAX);
	}
	buf_add(&c->out, "\n", 1);
}

/* Runs one line: its ';'-separated commands in order, then the prompt in
 * interactive mode. Outside it, the connection closes after the line.
 */
static void ctl_run_line(struct ctl_client *c, char *line)
{
	char *part = line, *semi;

	for (;;) {
		semi = strchr(part, ';');
		if (semi)
			*semi = '\0';
		ctl_run_command(c, part);
		if (!semi || c->state != CTL_CL_OPEN)
			break;
		part = semi + 1;
	}
	if (c->state == CTL_CL_OPEN && c->interactive)
		buf_add(&c->out, "> ", 2);
	else if (c->state == CTL_CL_OPEN)
		ctl_client_set_state(c, CTL_CL_CLOSING);
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
	ev_io_stop(ctl->agent->loop, &c->rio);
	ev_io_stop(ctl->agent->loop, &c->wio);
	ev_timer_stop(ctl->agent->loop, &c->timer);
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
	ctl->n_clients--;
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
	struct ev_loop *loop = c->ctl->agent->loop;
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
				c->ctl->cnt.oversized++;
				c->ctl->cnt.errors++;
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
			c->ctl->cnt.errors++;
			buf_printf(&c->out, "error: NUL byte in the "
					    "line\n\n");
			if (!c->interactive)
				ctl_client_set_state(c, CTL_CL_CLOSING);
		} else {
			ctl_run_line(c, c->in);
		}
		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		ev_timer_again(c->ctl->agent->loop, &c->timer);
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
	ctl->cnt.http_requests++;
	if (!end) {
		if (c->in_len == sizeof(c->in))
			ctl->cnt.oversized++;
		buf_printf(&c->out,
			   "HTTP/1.1 %s\r\nContent-Type: text/plain\r\n"
			   "Content-Length: 0\r\nConnection: close\r\n\r\n",
			   c->in_len == sizeof(c->in)
				   ? "431 Request Header Fields Too Large"
				   : "400 Bad Request");
	} else {
		clock_update();
		metrics_http(ctl->agent, c->in, (size_t)(end - c->in), &c->out);
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
	struct ev_loop *loop = c->ctl->agent->loop;

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
	c->ctl->cnt.timeouts++;
	ctl_client_close(c, "idle timeout");
}

static void ctl_client_new(struct ctl_listener *l, int fd, const char *peer)
{
	struct ctl *ctl = l->ctl;
	struct ev_loop *loop = ctl->agent->loop;
	struct ctl_client *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return;
	}
	c->ctl = ctl;
	c->fd = fd;
	c->proto = l->proto;
	c->level = l->level;
	ctl_client_set_state(c, CTL_CL_OPEN);
	c->id = ++ctl->next_id;
	c->timeout = l->proto == CTL_PROTO_HTTP ? CTL_HTTP_TIMEOUT
						: CTL_IDLE_TIMEOUT;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	buf_init(&c->out, CTL_OUT_MAX + 4096);
	ev_io_init(&c->rio, ctl_client_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, ctl_client_write_cb, fd, EV_WRITE);
	ev_init(&c->timer, ctl_client_timeout_cb);
	c->timer.repeat = c->timeout;
	c->rio.data = c->wio.data = c->timer.data = c;
	c->next = ctl->clients;
	if (ctl->clients)
		ctl->clients->prev = c;
	ctl->clients = c;
	ctl->n_clients++;
	ctl->cnt.accepted++;
	ev_timer_again(loop, &c->timer);
	ev_io_start(loop, &c->rio);
	log_msg(LOG_DEBUG, "control #%llu %s: connected (level %s)",
		(unsigned long long)c->id, c->peer, ctl_level_str(c->level));
}

/* A client accepted on <lsn>: served unless the client limit is reached. */
static void ctl_accept(void *arg, struct listener *lsn, int fd,
		       const char *peer)
{
	static const char busy[] = "error: too many control clients\n\n";
	struct ctl_listener *l = arg;
	struct ctl *ctl = l->ctl;

	if (ctl->n_clients >= CTL_CLIENTS_MAX) {
		ctl->cnt.refused++;
		log_rl(&ctl->rl_refused, clock_now.ms, LOG_WARNING,
		       "%s: refused: %u clients", lsn->name, ctl->n_clients);
		if (l->proto == CTL_PROTO_CLI &&
		    send(fd, busy, sizeof(busy) - 1,
			 MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			errno = 0; /* best effort only */
		close(fd);
		return;
	}
	ctl_client_new(l, fd, peer);
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
	sock_addr_str(addr, name, sizeof(name));
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

static bool ctl_same_addr(const struct cfg_listener *x,
			  const struct cfg_listener *y)
{
	if (x->kind != y->kind)
		return false;
	if (x->kind == CFG_ADDR_UNIX)
		return strcmp(x->path, y->path) == 0;
	return x->port == y->port && strcmp(x->host, y->host) == 0;
}

static struct ctl_listener *ctl_find(struct ctl *ctl,
				     const struct cfg_listener *addr,
				     enum ctl_proto proto)
{
	struct ctl_listener *l;

	for (l = ctl->listeners; l; l = l->next)
		if (l->proto == proto && ctl_same_addr(&l->addr, addr))
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

	sock_addr_str(addr, name, sizeof(name));
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
			ctl_level_str(addr->level));
	return l;
}

static struct ctl *ctl_get(struct agent *a)
{
	struct ctl *ctl = a->ctl;

	if (ctl)
		return ctl;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return NULL;
	ctl->agent = a;
	ev_check_init(&ctl->reaper, ctl_reaper_cb);
	ctl->reaper.data = ctl;
	listener_set_init(&ctl->lset, a->loop);
	a->ctl = ctl;
	return ctl;
}

int ctl_adopt(struct agent *a, int fd)
{
	struct ctl *ctl = ctl_get(a);
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
	const struct cfg *cfg = ctl->agent->cfg;
	struct ctl_listener *l;
	uint32_t i;

	for (l = ctl->listeners; l; l = l->next) {
		if (!l->systemd)
			continue;
		l->level = CFG_LEVEL_ADMIN;
		for (i = 0; i < cfg->n_control; i++)
			if (ctl_same_addr(&l->addr, &cfg->control[i]))
				l->level = cfg->control[i].level;
	}
}

int ctl_start(struct agent *a)
{
	const struct cfg *cfg = a->cfg;
	struct ctl *ctl = ctl_get(a);
	struct ctl_listener *l;
	uint32_t i;

	if (!ctl) {
		log_msg(LOG_ERR, "control: out of memory");
		return -1;
	}
	ctl_systemd_levels(ctl);
	for (l = ctl->listeners; l; l = l->next)
		log_msg(LOG_INFO,
			"control socket on %s from systemd (level %s)",
			l->lsn->name, ctl_level_str(l->level));
	for (i = 0; i < cfg->n_control; i++) {
		if (ctl_find(ctl, &cfg->control[i], CTL_PROTO_CLI))
			continue; /* adopted from systemd */
		if (!ctl_open(ctl, &cfg->control[i], CTL_PROTO_CLI))
			goto fail;
	}
	if (cfg->has_metrics && !ctl_open(ctl, &cfg->metrics, CTL_PROTO_HTTP))
		goto fail;
	ev_check_start(a->loop, &ctl->reaper);
	return 0;
fail:
	ctl_stop(a);
	return -1;
}

void ctl_reload(struct agent *a)
{
	const struct cfg *cfg = a->cfg;
	struct ctl *ctl = a->ctl;
	struct ctl_listener *l, **pl;
	uint32_t i;

	if (!ctl)
		return;
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
				l->lsn->name, ctl_level_str(l->level),
				ctl_level_str(c->level));
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

void ctl_stop(struct agent *a)
{
	struct ctl *ctl = a->ctl;
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
	ev_check_stop(a->loop, &ctl->reaper);
	listener_close_all(&ctl->lset);
	free(ctl);
	a->ctl = NULL;
}

uint32_t ctl_client_count(const struct agent *a)
{
	return a->ctl ? a->ctl->n_clients : 0;
}

const struct ctl_counters *ctl_counters(const struct agent *a)
{
	return a->ctl ? &a->ctl->cnt : NULL;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Control commands: the command table (keywords, levels, argument counts,
 * help), the line dispatcher, and the handlers that change state. The
 * views are in ctl-show.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cfg.h"
#include "ctl-cmd.h"
#include "ctl-req.h"
#include "ctl-show.h"
#include "fleet.h"
#include "log.h"
#include "route.h"
#include "stats.h"
#include "text.h"

#define CTL_ARGS_MAX	   16	     /* words of one command */
#define CTL_TIMEOUT_MAX_MS 86400000u /* "set timeout cli" at most 1 day */
/* ... and at level user at most 5 minutes: a user-level socket may be open
 * to every local process, and a client there must not hold its place long
 */
#define CTL_TIMEOUT_USER_MAX_MS 300000u

static int cmd_help(struct ctl_req *r);

static int cmd_prompt(struct ctl_req *r)
{
	r->s->interactive = !r->s->interactive;
	return 0;
}

static int cmd_quit(struct ctl_req *r)
{
	r->s->quit = true;
	return 0;
}

static int cmd_level(struct ctl_req *r)
{
	enum cfg_level want = strcmp(r->cmd->words[0], "user") == 0
				      ? CFG_LEVEL_USER
				      : CFG_LEVEL_OPERATOR;

	/* HAProxy's rule: a session's level can go down, never up */
	if (want < r->s->level)
		r->s->level = want;
	return 0;
}

static int cmd_set_timeout(struct ctl_req *r)
{
	uint64_t ms;
	bool user = r->s->level == CFG_LEVEL_USER;

	if (text_parse_durationz(r->argv[0], TEXT_DUR_BARE_S,
				 user ? CTL_TIMEOUT_USER_MAX_MS
				      : CTL_TIMEOUT_MAX_MS,
				 &ms) < 0 ||
	    ms < 1000) {
		ctl_err(r,
			"expected a duration from 1s to %s, such as 30 "
			"(seconds), 90s or 5m",
			user ? "5m at level user" : "24h");
		return -1;
	}
	r->s->timeout = (double)ms / 1000.0;
	return 0;
}

static int cmd_set_weight(struct ctl_req *r)
{
	struct core *a = r->a;
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
	if (text_parse_u64z(r->argv[2], CFG_WEIGHT_MAX, &w) < 0) {
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
	struct core *a = r->a;
	uint64_t ms;
	char d[24];
	int b = ctl_backend_arg(r, 0);

	if (b < 0)
		return -1;
	ms = a->cfg->backends[b].breaker.trip_duration_ms;
	if (r->argc == 2 &&
	    (text_parse_durationz(r->argv[1], 0, ROUTE_WAIT_CEIL_MS, &ms) < 0 ||
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
	fleet_reset(r->a->fleet, b); /* the fleet's cooldowns too */
	buf_printf(r->out,
		   "backend %s reset: closed, enabled, configured "
		   "weights%s\n",
		   route_backend_name(r->a->route, b),
		   r->a->fleet ? "; reset sent to the fleet" : "");
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
	struct core *a = r->a;
	struct ctl_reload_ctx x = {.n = 0};

	buf_init(&x.errs, 1u << 20);
	if (a->reload(a, ctl_reload_err, &x) < 0) {
		log_msg(LOG_WARNING, "control %s: reload rejected (%u error%s)",
			r->s->peer, x.n, x.n == 1 ? "" : "s");
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
		.fn = ctl_show_info,
	},
	{
		.words = {"show", "backends"},
		.args = "[NAME] [json]",
		.help = "breaker state, reason, deadline, weight, headroom, results",
		.level = CFG_LEVEL_USER,
		.json = true,
		.max_args = 1,
		.fn = ctl_show_backends,
	},
	{
		.words = {"show", "pools"},
		.args = "[NAME] [json]",
		.help = "members, priorities, weights, group in use, decisions",
		.level = CFG_LEVEL_USER,
		.json = true,
		.max_args = 1,
		.fn = ctl_show_pools,
	},
	{
		.words = {"show", "config"},
		.args = "[json]",
		.help = "the configuration in force, defaults expanded",
		.level = CFG_LEVEL_USER,
		.json = true,
		.fn = ctl_show_config,
	},
	{
		.words = {"show", "haproxy"},
		.args = "[json]",
		.help = "the HAProxy runtime API link and the servers it reports",
		.level = CFG_LEVEL_USER,
		.json = true,
		.fn = ctl_show_haproxy,
	},
	{
		.words = {"show", "fleet"},
		.args = "[json]",
		.help = "throttle deadlines shared with the other nodes",
		.level = CFG_LEVEL_USER,
		.json = true,
		.fn = ctl_show_fleet,
	},
	{
		.words = {"show", "metrics"},
		.args = "",
		.help = "Prometheus text exposition",
		.level = CFG_LEVEL_USER,
		.fn = ctl_show_metrics,
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
		   cfg_level_str(r->s->level));
	buf_table_init(&t, 2, CTL_OUT_MAX);
	for (k = 0; k < CTL_NCMDS; k++) {
		const struct ctl_cmd *cmd = &ctl_cmds[k];
		size_t n = 0;

		if (cmd->level > r->s->level)
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

/* True when the last word of <text> asks for JSON ("json" or "-json"),
 * whatever the command: the dispatcher's own errors then answer in JSON.
 */
static bool ctl_ends_json(const char *text)
{
	size_t n = strlen(text), e;

	while (n && (text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	e = n;
	while (n && text[n - 1] != ' ' && text[n - 1] != '\t')
		n--;
	return (e - n == 4 && memcmp(text + n, "json", 4) == 0) ||
	       (e - n == 5 && memcmp(text + n, "-json", 5) == 0);
}

/* Runs one command (a ';'-separated part of a line) and appends its
 * output and the empty line that ends every answer (HAProxy's habit).
 */
static void ctl_run_command(struct core *a, struct ctl_counters *cnt,
			    struct ctl_session *s, char *text, struct buf *out)
{
	const struct ctl_cmd *best = NULL;
	char *argv[CTL_ARGS_MAX];
	struct ctl_req r = {.s = s, .a = a, .cnt = cnt, .out = out};
	size_t mark = out->len;
	bool want_json = ctl_ends_json(text);
	int argc, k, w, nw, best_w = 0;

	argc = ctl_split(text, argv, CTL_ARGS_MAX);
	if (argc == 0)
		return;
	cnt->commands++;
	/* the dispatcher's errors follow the line's json word, also for a
	 * command that has no JSON form (its own output stays text)
	 */
	r.json = want_json;
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
	    best && best->json && argc > best_w)
		argc--;
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
	if (best->level > s->level) {
		cnt->denied++;
		ctl_err(&r,
			"permission denied: '%s%s%s' needs level %s, this "
			"session is %s",
			best->words[0], best->words[1] ? " " : "",
			best->words[1] ? best->words[1] : "",
			cfg_level_str(best->level), cfg_level_str(s->level));
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
	r.json = want_json && best->json;
	clock_update();
	if (best->fn(&r) == 0 && best->change) {
		char what[256];
		size_t n = 0;
		int i;

		cnt->changes++;
		for (i = 0; i < argc && n < sizeof(what); i++)
			n += (size_t)snprintf(what + n, sizeof(what) - n,
					      "%s%s", i ? " " : "", argv[i]);
		log_msg(LOG_NOTICE, "control %s: %s", s->peer, what);
	}
end:
	if (out->overflow) {
		buf_truncate(out, mark);
		ctl_err(&r, "output too large (more than %u bytes)",
			CTL_OUT_MAX);
	}
	buf_add(out, "\n", 1);
}

void ctl_cmd_run_line(struct core *a, struct ctl_counters *cnt,
		      struct ctl_session *s, char *line, struct buf *out)
{
	char *part = line, *semi;

	for (;;) {
		semi = strchr(part, ';');
		if (semi)
			*semi = '\0';
		ctl_run_command(a, cnt, s, part, out);
		if (!semi || s->quit)
			break;
		part = semi + 1;
	}
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Control commands (agent/ctl-cmd.c, ctl-show.c) run without a socket:
 * every handler, the level checks, argument errors, JSON errors, the
 * session changes, and the counters they keep.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "clock.h"
#include "ctl-cmd.h"
#include "route.h"
#include "spop.h"
#include "tap.h"

static const char yaml[] = "listen: [tcp://127.0.0.1:12345]\n"
			   "backends:\n"
			   "  - name: eastus\n"
			   "  - name: westus\n"
			   "pools:\n"
			   "  - name: chat\n"
			   "    members:\n"
			   "      - {backend: eastus, weight: 3}\n"
			   "      - {backend: westus, weight: 1}\n";

static struct core a;
static struct ctl_session sess;
static struct buf out;
static int reload_result;

static void cfg_err(void *arg, const char *msg)
{
	(void)arg;
	printf("# config: %s\n", msg);
}

/* Stands for agent_reload(): fails with two errors, or succeeds. */
static int fake_reload(struct core *ag, cfg_error_fn err, void *arg)
{
	(void)ag;
	if (reload_result < 0) {
		err(arg, "t.yaml:3:5: first problem");
		err(arg, "t.yaml:9:1: second problem");
	}
	return reload_result;
}

static void setup(void)
{
	clock_now.ms = 1000000;
	clock_now.wall_s = 1700000000;
	a.cfg = cfg_parse("t.yaml", yaml, sizeof(yaml) - 1, cfg_err, NULL);
	if (!a.cfg)
		abort();
	a.cfg_path = "t.yaml";
	a.route = a.spoa.route = route_new(1);
	if (!a.route || route_apply(a.route, a.cfg, clock_now.ms) < 0)
		abort();
	a.reload = fake_reload;
	a.started = a.cfg_loaded = 1700000000;
	buf_init(&out, CTL_OUT_MAX);
}

/* Runs <line> at <level> in a fresh session; the answer is in out.p. */
static const char *run_as(enum cfg_level level, const char *line)
{
	char copy[4096];

	snprintf(copy, sizeof(copy), "%s", line);
	memset(&sess, 0, sizeof(sess));
	sess.level = level;
	sess.timeout = 60.0;
	sess.peer = "test";
	buf_truncate(&out, 0);
	ctl_cmd_run_line(&a, &a.ctl_st.cnt, &sess, copy, &out);
	return out.p ? out.p : "";
}

static const char *run(const char *line)
{
	return run_as(CFG_LEVEL_ADMIN, line);
}

static bool has(const char *s, const char *sub)
{
	return strstr(s, sub) != NULL;
}

static enum route_state state_of(int b)
{
	struct route_backend_info bi;

	route_backend_info(a.route, b, clock_now.ms, &bi);
	return bi.state;
}

static void test_dispatch(void)
{
	struct ctl_counters before = a.ctl_st.cnt;
	const char *o;

	o = run("");
	tap_ok(o[0] == '\0', "empty line: no answer");
	o = run("nosuch thing");
	tap_ok(strcmp(o, "error: unknown command 'nosuch thing'; 'help' "
			 "lists the commands\n\n") == 0,
	       "unknown command: one error line and the empty line");
	o = run("nosuch json");
	tap_ok(strcmp(o, "{\"error\":\"unknown command 'nosuch json'; 'help' "
			 "lists the commands\"}\n\n") == 0,
	       "unknown command asked in JSON: a JSON error");
	o = run("a b c d e f g h i j k l m n o p q");
	tap_ok(has(o, "error: too many words (at most 16)"),
	       "seventeen words: too many");
	o = run("a b c d e f g h i j k l m n o p q -json");
	tap_ok(strcmp(o, "{\"error\":\"too many words (at most 16)\"}\n\n") ==
		       0,
	       "too many words asked in JSON: a JSON error");
	o = run("show info extra json");
	tap_ok(has(o, "{\"error\":\"too many arguments; usage: show info "
		      "[json]\"}\n\n"),
	       "usage error asked in JSON: a JSON error");
	o = run("show info; show nosuch");
	tap_ok(has(o, "pid:") && has(o, "\n\nerror: unknown command"),
	       "';' runs both commands, each answer closed by an empty line");
	tap_is_int((long long)(a.ctl_st.cnt.commands - before.commands), 7,
		   "commands counted (the empty line is not a command)");
	tap_is_int((long long)(a.ctl_st.cnt.errors - before.errors), 6,
		   "errors counted");
}

static void test_levels(void)
{
	uint64_t denied = a.ctl_st.cnt.denied;
	const char *o;

	o = run_as(CFG_LEVEL_USER, "help");
	tap_ok(has(o, "level (user)") && has(o, "show backends") &&
		       !has(o, "trip backend") && !has(o, "reload"),
	       "help at user: read-only commands only");
	o = run_as(CFG_LEVEL_OPERATOR, "help");
	tap_ok(has(o, "trip backend") && !has(o, "clear counters"),
	       "help at operator: changes, not admin commands");
	o = run_as(CFG_LEVEL_ADMIN, "help");
	tap_ok(has(o, "reload") && has(o, "clear counters"),
	       "help at admin: everything");
	o = run_as(CFG_LEVEL_USER, "disable backend eastus");
	tap_ok(strcmp(o, "error: permission denied: 'disable backend' needs "
			 "level operator, this session is user\n\n") == 0,
	       "user cannot disable");
	o = run_as(CFG_LEVEL_OPERATOR, "reload");
	tap_ok(has(o, "permission denied: 'reload' needs level admin"),
	       "operator cannot reload");
	o = run_as(CFG_LEVEL_USER, "disable backend eastus json");
	tap_ok(has(o, "{\"error\":\"permission denied"),
	       "denied and asked in JSON: a JSON error");
	o = run_as(CFG_LEVEL_USER, "show backends nosuch json");
	tap_ok(has(o, "{\"error\":\"no backend 'nosuch'\"}"),
	       "a handler's error in JSON mode is JSON");
	tap_is_int((long long)(a.ctl_st.cnt.denied - denied), 3,
		   "denials counted");

	o = run_as(CFG_LEVEL_ADMIN, "operator; help");
	tap_ok(sess.level == CFG_LEVEL_OPERATOR && has(o, "level (operator)"),
	       "'operator' lowers an admin session");
	o = run_as(CFG_LEVEL_ADMIN, "user; operator; disable backend eastus");
	tap_ok(sess.level == CFG_LEVEL_USER && has(o, "permission denied"),
	       "a level never goes back up");
}

static void test_session(void)
{
	const char *o;

	o = run("show \x1b[31mred");
	tap_ok(has(o, "error: ") && !strchr(o, 0x1b),
	       "an escape sequence in the input is not echoed in the error");

	o = run("prompt");
	tap_ok(sess.interactive && strcmp(o, "\n") == 0,
	       "prompt: interactive, an empty answer");
	o = run("quit; show info");
	tap_ok(sess.quit && strcmp(o, "\n") == 0,
	       "quit: stops the line, nothing after it runs");
	o = run("set timeout cli 30");
	tap_ok(sess.timeout == 30.0 && strcmp(o, "\n") == 0,
	       "set timeout cli 30: bare seconds");
	o = run("set timeout cli 5m");
	tap_ok(sess.timeout == 300.0, "set timeout cli 5m");
	o = run("set timeout cli 500ms");
	tap_ok(has(o, "error: expected a duration from 1s to 24h") &&
		       sess.timeout == 60.0,
	       "set timeout cli below 1s: error, unchanged");
	o = run("set timeout cli 25h");
	tap_ok(has(o, "error: expected a duration"), "above 24h: error");
	o = run_as(CFG_LEVEL_USER, "set timeout cli 5m");
	tap_ok(sess.timeout == 300.0, "level user: 5m allowed");
	o = run_as(CFG_LEVEL_USER, "set timeout cli 24h");
	tap_ok(has(o, "error: expected a duration from 1s to 5m at level "
		      "user") &&
		       sess.timeout == 60.0,
	       "level user: above 5m refused, unchanged");
	o = run_as(CFG_LEVEL_OPERATOR, "set timeout cli 24h");
	tap_ok(sess.timeout == 86400.0, "level operator: 24h allowed");
	o = run("set timeout cli");
	tap_ok(has(o, "error: missing arguments; usage: set timeout cli "
		      "DURATION"),
	       "missing argument: usage");
	o = run("set timeout cli 1 2");
	tap_ok(has(o, "error: too many arguments"), "too many arguments");
}

static void test_show(void)
{
	const char *o;

	o = run("show info");
	tap_ok(has(o, "\nbackends:   ") && has(o, "\npools:   ") &&
		       has(o, "\nconfig_file: ") && has(o, "t.yaml") &&
		       has(o, "\nhaproxy_link: ") && has(o, "off") &&
		       has(o, "\nconn_accepted: ") && has(o, "\nbad_value: ") &&
		       has(o, "\naccept_paused: ") && has(o, "\nreloads: "),
	       "show info: process, link, every counter list");
	o = run("show info json");
	tap_ok(o[0] == '{' && has(o, "\"backends\":2") &&
		       has(o, "\"pools\":1") && has(o, "\"stopping\":\"no\"") &&
		       has(o, "}\n\n"),
	       "show info json: one object");
	o = run("show info -json");
	tap_ok(o[0] == '{', "show info -json: HAProxy's spelling");
	a.conns.cnt.disconnect_out[0] = 7;
	a.conns.cnt.disconnect_out[3] = 2;
	a.conns.cnt.disconnect_out[SPOP_ERR_RES + 1] = 1;
	o = run("show info");
	tap_ok(has(o, "\ndisconnect_out: ") &&
		       has(o, " 10 (0: 7, 3: 2, other: 1)\n") &&
		       !has(o, "disconnect_out_"),
	       "show info: disconnects on one line, non-zero statuses only");
	o = run("show info json");
	tap_ok(has(o, "\"disconnect_out\":10,\"disconnect_out_0\":7,") &&
		       has(o, "\"disconnect_out_3\":2,") &&
		       has(o, "\"disconnect_out_13\":0,") &&
		       has(o, "\"disconnect_out_other\":1,"),
	       "show info json: the total and one key per status");
	memset(a.conns.cnt.disconnect_out, 0,
	       sizeof(a.conns.cnt.disconnect_out));
	o = run("show info");
	tap_ok(has(o, "\ndisconnect_out: ") && has(o, " 0\n"),
	       "show info: no disconnect, a bare 0");
	o = run("show info extra");
	tap_ok(has(o, "error: too many arguments; usage: show info [json]"),
	       "show info extra: usage");

	{
		struct route_result rr = {.backend = "westus",
					  .backend_len = 6,
					  .status = 401,
					  .retry_after_ms = -1,
					  .remaining_requests = -1,
					  .remaining_tokens = -1,
					  .duration_ms = -1};

		route_learn(a.route, &rr, clock_now.ms);
		route_learn(a.route, &rr, clock_now.ms);
	}
	o = run("show backends");
	tap_ok(has(o, "eastus") && has(o, "westus") && has(o, "closed"),
	       "show backends: both, closed");
	tap_ok(has(o, " 2XX  4XX  429  5XX "),
	       "show backends: a 4XX column between 2XX and 429");
	{
		const char *h = strstr(o, "4XX"), *w = strstr(o, "\nwestus");
		const char *e = strstr(o, "\neastus");
		size_t col = h ? (size_t)(h - o) : 0;

		tap_ok(h && w && e && w[1 + col] == '2' && e[1 + col] == '0',
		       "show backends: two 401s in westus' 4XX, none in "
		       "eastus'");
	}
	o = run("show backends eastus json");
	tap_ok(o[0] == '[' || o[0] == '{', "show backends NAME json");
	tap_ok(has(o, "\"eastus\"") && !has(o, "\"westus\""),
	       "show backends NAME: that one only");
	o = run("show backends nosuch");
	tap_ok(strcmp(o, "error: no backend 'nosuch'\n\n") == 0,
	       "show backends of an unknown name: error");
	o = run("show backends nosuch json");
	tap_ok(strcmp(o, "{\"error\":\"no backend 'nosuch'\"}\n\n") == 0,
	       "JSON error: an object with the message");

	o = run("show pools");
	tap_ok(has(o, "chat") && has(o, "eastus") && has(o, "westus"),
	       "show pools: the pool and its members");
	o = run("show pools nosuch json");
	tap_ok(has(o, "{\"error\":") && has(o, "nosuch"),
	       "show pools of an unknown pool: JSON error");

	o = run("show config");
	tap_ok(has(o, "backends:") && has(o, "eastus") && has(o, "pools:"),
	       "show config: YAML");
	{
		struct cfg *back =
			cfg_parse("shown", o, strlen(o), cfg_err, NULL);

		tap_ok(back && back->n_backends == 2 && back->n_pools == 1 &&
			       back->pools[0].members[0].weight == 3 &&
			       back->backends[0].breaker.trip_duration_ms ==
				       a.cfg->backends[0]
					       .breaker.trip_duration_ms,
		       "show config: the YAML loads back to the same values");
		cfg_free(back);
	}
	o = run("show config json");
	tap_ok(o[0] == '{' && has(o, "\"backends\":[{\"name\":\"eastus\"") &&
		       has(o, "\"trip_duration_ms\":30000") &&
		       has(o, "\"status_codes\":[408,\"500-599\"]") &&
		       has(o, "\"weight\":3") && has(o, "\"control\":[]") &&
		       has(o, "\"metrics\":null") &&
		       has(o, "\"haproxy\":null") && has(o, "}\n\n"),
	       "show config json: one object, durations in ms, documented "
	       "keys");
	if (getenv("SHOW"))
		printf("%s", o);

	o = run("show metrics");
	tap_ok(has(o, "# TYPE ") && has(o, "_total") && has(o, "build_info"),
	       "show metrics: the exposition");
	o = run("show haproxy");
	tap_ok(has(o, "link: off"), "show haproxy: no link configured");
	o = run("show haproxy json");
	tap_ok(strcmp(o, "{\"enabled\":false}\n\n") == 0,
	       "show haproxy json: disabled");
}

static void test_changes(void)
{
	uint64_t changes = a.ctl_st.cnt.changes;
	struct route_backend_info bi;
	const char *o;

	o = run_as(CFG_LEVEL_OPERATOR, "set weight chat eastus 7");
	tap_ok(strcmp(o, "weight of eastus in pool chat set to 7 "
			 "(configured 3)\n\n") == 0,
	       "set weight: the new and the configured weight");
	o = run("set weight nosuch eastus 7");
	tap_ok(has(o, "error: no pool 'nosuch'"), "set weight: unknown pool");
	o = run("set weight chat nosuch 7");
	tap_ok(has(o, "error: no backend 'nosuch'"),
	       "set weight: unknown backend");
	o = run("set weight chat eastus -1");
	tap_ok(has(o, "error: weight: expected an integer from 0 to"),
	       "set weight: negative");
	o = run("set weight chat eastus 99999999999999999999999");
	tap_ok(has(o, "error: weight: expected an integer"),
	       "set weight: overflow");

	o = run_as(CFG_LEVEL_OPERATOR, "disable backend westus");
	route_backend_info(a.route, 1, clock_now.ms, &bi);
	tap_ok(has(o, "backend westus disabled") && bi.disabled,
	       "disable backend");
	o = run_as(CFG_LEVEL_OPERATOR, "enable backend westus");
	route_backend_info(a.route, 1, clock_now.ms, &bi);
	tap_ok(has(o, "backend westus enabled") && !bi.disabled,
	       "enable backend");

	o = run_as(CFG_LEVEL_OPERATOR, "trip backend eastus 2m");
	tap_ok(strcmp(o, "backend eastus open for 2m\n\n") == 0 &&
		       state_of(0) == ROUTE_ST_OPEN,
	       "trip backend: open for the given time");
	o = run("show backends eastus");
	tap_ok(has(o, "open"), "show backends: the trip shows");
	o = run("trip backend eastus 0s");
	tap_ok(has(o, "error: duration: expected 500ms"), "trip: 0s refused");
	o = run("trip backend eastus 90");
	tap_ok(has(o, "error: duration"), "trip: bare number refused");
	o = run("trip backend westus");
	tap_ok(has(o, "backend westus open for 30s"),
	       "trip without a duration: the configured trip_duration");
	o = run_as(CFG_LEVEL_OPERATOR, "reset backend eastus; reset backend "
				       "westus");
	tap_ok(has(o, "backend eastus reset") &&
		       state_of(0) == ROUTE_ST_CLOSED &&
		       state_of(1) == ROUTE_ST_CLOSED,
	       "reset backend: closed again");
	o = run("reset backend nosuch");
	tap_ok(has(o, "error: no backend 'nosuch'"), "reset: unknown name");
	tap_is_int((long long)(a.ctl_st.cnt.changes - changes), 7,
		   "changes counted, failures not");
}

static void test_clear_and_reload(void)
{
	const char *o;

	a.conns.cnt.notify = 5;
	a.conns.cnt.disconnect_out[1] = 2;
	a.spoa.cnt.bad_value = 3;
	a.spoa.decide_hist.count = 4;
	a.spop.paused = 1;
	a.cnt.reloads = 2;
	a.cnt.reload_failed = 1;
	o = run("clear counters");
	tap_ok(strcmp(o, "counters cleared\n\n") == 0, "clear counters");
	tap_ok(a.conns.cnt.notify == 0 && a.conns.cnt.disconnect_out[1] == 0 &&
		       a.spoa.cnt.bad_value == 0 &&
		       a.spoa.decide_hist.count == 0 && a.spop.paused == 0,
	       "clear counters: connections, messages, latency, accept");
	tap_ok(a.cnt.reloads == 2 && a.cnt.reload_failed == 1,
	       "clear counters: the reload counts stay");

	reload_result = -1;
	o = run("reload");
	tap_ok(has(o, "error: reload rejected (2 errors); the running "
		      "configuration stays\n") &&
		       has(o, "  t.yaml:3:5: first problem\n") &&
		       has(o, "  t.yaml:9:1: second problem\n"),
	       "reload rejected: every error listed");
	o = run("reload json");
	tap_ok(has(o, "{\"error\":\"too many arguments; usage: reload"),
	       "reload takes no json: the usage error, in JSON as asked");
	reload_result = 0;
	o = run("reload");
	tap_ok(strcmp(o, "reloaded t.yaml: 2 backends, 1 pools\n\n") == 0,
	       "reload accepted");
}

static void test_overflow(void)
{
	struct buf small;
	char line[] = "show config";

	buf_init(&small, 64);
	memset(&sess, 0, sizeof(sess));
	sess.level = CFG_LEVEL_ADMIN;
	ctl_cmd_run_line(&a, &a.ctl_st.cnt, &sess, line, &small);
	tap_ok(small.p && has(small.p, "error: output too large"),
	       "an answer over the cap becomes an error");
	buf_free(&small);
}

int main(void)
{
	setup();
	test_dispatch();
	test_levels();
	test_session();
	test_show();
	test_changes();
	test_clear_and_reload();
	test_overflow();
	buf_free(&out);
	route_free(a.route);
	cfg_free(a.cfg);
	return tap_done();
}

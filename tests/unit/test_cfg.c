/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of agent/cfg.c: values, defaults, every error and its position. */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cfg.h"
#include "tap.h"

#define ERRS_MAX 160

/* Errors received from one parse. */
struct errs {
	unsigned n;
	char msg[ERRS_MAX][600];
};

static struct errs errs;

/* LISTEN and TAIL complete a document around the part a test is about. */
#define LISTEN "listen: [tcp://127.0.0.1:1]\n"
#define TAIL                                                                   \
	"backends: [{name: a}]\n"                                              \
	"pools: [{name: p, members: [{backend: a}]}]\n"

/* Documents whose one cause gives more than one error. */
#define Y_SCALAR                                                               \
	LISTEN "backends: [{name: [a]}]\n"                                     \
	       "pools: [{name: p, members: [{backend: b}]}]\n"
#define Y_EMPTY LISTEN "backends: []\npools: []\n"
#define Y_NUL                                                                  \
	LISTEN "backends: [{name: \"a\\0b\"}]\n"                               \
	       "pools: [{name: p, members: [{backend: x}]}]\n"

static void collect(void *arg, const char *msg)
{
	struct errs *e = arg;

	if (e->n < ERRS_MAX)
		snprintf(e->msg[e->n], sizeof(e->msg[0]), "%s", msg);
	e->n++;
}

/* Parses <yaml> as "t.yaml", collecting errors in the global errs. */
static struct cfg *parse(const char *yaml)
{
	memset(&errs, 0, sizeof(errs));
	return cfg_parse("t.yaml", yaml, strlen(yaml), collect, &errs);
}

/* Prints what was received, to make a failure readable. */
static void dump_errs(void)
{
	unsigned i;

	for (i = 0; i < errs.n && i < ERRS_MAX; i++)
		printf("# got: %s\n", errs.msg[i]);
}

/* Checks that <yaml> is rejected with exactly the NULL-terminated <want>. */
static void expect_errors(const char *name, const char *yaml,
			  const char *const *want)
{
	struct cfg *cfg = parse(yaml);
	unsigned n = 0, i;
	bool same;

	while (want[n])
		n++;
	same = cfg == NULL && errs.n == n;
	for (i = 0; same && i < n; i++)
		same = strcmp(errs.msg[i], want[i]) == 0;
	if (!tap_ok(same, "%s", name)) {
		for (i = 0; i < n; i++)
			printf("# want: %s\n", want[i]);
		dump_errs();
	}
	cfg_free(cfg);
}

static void expect_error(const char *name, const char *yaml, const char *want)
{
	const char *list[] = {want, NULL};

	expect_errors(name, yaml, list);
}

/* Parses <yaml>, which must be valid; reports and returns NULL otherwise. */
static struct cfg *expect_ok(const char *name, const char *yaml)
{
	struct cfg *cfg = parse(yaml);

	if (!tap_ok(cfg != NULL && errs.n == 0, "%s: valid", name))
		dump_errs();
	return cfg;
}

/* Number of statuses in <s>, and the first and last one. */
static int status_count(const struct cfg_status_set *s, int *lo, int *hi)
{
	int c, n = 0;

	*lo = *hi = 0;
	for (c = 0; c < 700; c++)
		if (cfg_status_has(s, c)) {
			if (!n)
				*lo = c;
			*hi = c;
			n++;
		}
	return n;
}

static void test_full(void)
{
	const struct cfg_backend *b;
	const struct cfg_breaker *br;
	const struct cfg_pool *p;
	struct cfg *cfg;
	int lo, hi;

	memset(&errs, 0, sizeof(errs));
	cfg = cfg_load("tests/unit/cfg/full.yaml", collect, &errs);
	if (!tap_ok(cfg != NULL && errs.n == 0, "full: valid")) {
		dump_errs();
		cfg_free(cfg);
		return;
	}
	tap_ok(strcmp(cfg->file, "tests/unit/cfg/full.yaml") == 0,
	       "full: file");
	tap_is_int(cfg->agent.max_connections, 100, "full: max_connections");
	tap_is_int(cfg->agent.max_frame_size, 65536, "full: max_frame_size");
	tap_is_int(cfg->agent.max_inflight, 32, "full: max_inflight");
	tap_is_int(cfg->agent.hello_timeout_ms, 1500, "full: hello_timeout");
	tap_is_int(cfg->agent.idle_timeout_ms, 120000, "full: idle_timeout");
	tap_is_int(cfg->agent.shutdown_timeout_ms, 0, "full: shutdown_timeout");
	tap_is_int(cfg->agent.log_level, LOG_DEBUG, "full: log_level");

	tap_is_int(cfg->n_listen, 5, "full: n_listen");
	tap_is_int(cfg->listen[0].kind, CFG_ADDR_TCP, "full: listen[0] tcp");
	tap_ok(strcmp(cfg->listen[0].host, "127.0.0.1") == 0,
	       "full: listen[0] host");
	tap_is_int(cfg->listen[0].port, 12345, "full: listen[0] port");
	tap_is_int(cfg->listen[0].mark.line, 12, "full: listen[0] line");
	tap_is_int(cfg->listen[0].mark.col, 5, "full: listen[0] col");
	tap_ok(strcmp(cfg->listen[1].host, "::1") == 0,
	       "full: listen[1] IPv6 host without brackets");
	tap_is_int(cfg->listen[1].port, 12346, "full: listen[1] port");
	tap_is_int(cfg->listen[2].kind, CFG_ADDR_UNIX, "full: listen[2] unix");
	tap_ok(strcmp(cfg->listen[2].path, "/var/lib/haproxy/aoai-spoa.sock") ==
		       0,
	       "full: listen[2] path");
	tap_is_int(cfg->listen[2].mode, 0660, "full: listen[2] default mode");
	tap_ok(strcmp(cfg->listen[3].path, "/run/aoai-spoa/spop.sock") == 0,
	       "full: listen[3] path");
	tap_is_int(cfg->listen[3].mode, 0666, "full: listen[3] mode string");
	tap_is_int(cfg->listen[4].mode, 0640, "full: listen[4] mode int");

	tap_is_int(cfg->n_control, 3, "full: n_control");
	tap_ok(strcmp(cfg->control[0].path, "/run/aoai-spoa/control.sock") == 0,
	       "full: control[0] path");
	tap_is_int(cfg->control[0].mode, 0600, "full: control[0] mode");
	tap_is_int(cfg->control[0].level, CFG_LEVEL_ADMIN,
		   "full: control[0] level");
	tap_is_int(cfg->control[1].mode, 0644, "full: control[1] mode 0o");
	tap_is_int(cfg->control[1].level, CFG_LEVEL_USER,
		   "full: control[1] level");
	tap_is_int(cfg->control[2].kind, CFG_ADDR_TCP, "full: control[2] tcp");
	tap_ok(strcmp(cfg->control[2].host, "::1") == 0,
	       "full: control[2] host");
	tap_is_int(cfg->control[2].level, CFG_LEVEL_OPERATOR,
		   "full: control[2] level");

	tap_ok(cfg->has_metrics, "full: has_metrics");
	tap_ok(strcmp(cfg->metrics.host, "127.0.0.2") == 0,
	       "full: metrics host");
	tap_is_int(cfg->metrics.port, 9101, "full: metrics port");

	tap_ok(cfg->haproxy.enabled, "full: haproxy enabled");
	tap_is_int(cfg->haproxy.stats_socket.kind, CFG_ADDR_TCP,
		   "full: stats_socket tcp");
	tap_is_int(cfg->haproxy.stats_socket.port, 9999,
		   "full: stats_socket port");
	tap_ok(strcmp(cfg->haproxy.backend, "aoai-be") == 0,
	       "full: haproxy backend");
	tap_is_int(cfg->haproxy.poll_interval_ms, 500, "full: poll_interval");
	tap_ok(cfg->haproxy.mirror, "full: mirror");

	tap_is_int(cfg->n_backends, 4, "full: n_backends");
	b = &cfg->backends[0];
	br = &b->breaker;
	tap_ok(strcmp(b->name, "eastus") == 0, "full: eastus name");
	tap_is_int(b->mark.line, 50, "full: eastus line");
	tap_is_int(b->mark.col, 5, "full: eastus col");
	tap_is_int(br->failure_count, 1, "full: eastus failure.count");
	tap_is_int(br->failure_interval_ms, 10000, "full: eastus interval");
	tap_is_int(status_count(&br->failure_status, &lo, &hi), 100,
		   "full: eastus failure statuses, 429 moved to throttle");
	tap_ok(lo == 500 && hi == 599, "full: eastus failure 500-599");
	tap_is_int(br->failure_percentage, 50, "full: eastus percentage");
	tap_is_int(br->minimum_requests, 20, "full: eastus minimum_requests");
	tap_is_int(br->consecutive_failures, 5, "full: eastus consecutive");
	tap_is_int(br->slow_call_ms, 30000, "full: eastus slow_call");
	tap_is_int(br->trip_duration_ms, 30000, "full: eastus trip");
	tap_is_int(br->max_trip_duration_ms, 300000, "full: eastus max_trip");
	tap_ok(br->accept_retry_after, "full: eastus accept_retry_after");
	tap_is_int(br->max_retry_after_ms, 60000, "full: eastus max_retry");
	tap_is_int(status_count(&br->throttle_status, &lo, &hi), 1,
		   "full: eastus throttle count");
	tap_ok(cfg_status_has(&br->throttle_status, 429),
	       "full: eastus throttle 429");
	tap_is_int(br->probe_requests, 2, "full: eastus probe_requests");
	tap_is_int(br->probe_timeout_ms, 60000, "full: eastus probe_timeout");
	tap_is_int((long long)b->headroom.min_remaining_requests, 10,
		   "full: eastus min_remaining_requests");
	tap_is_int((long long)b->headroom.min_remaining_tokens, 5000,
		   "full: eastus min_remaining_tokens");
	tap_is_int(b->headroom.min_weight_percent, 15,
		   "full: eastus min_weight_percent");
	tap_is_int(b->headroom.max_age_ms, 10000, "full: eastus max_age");

	/* swedencentral: every value from the defaults block */
	b = &cfg->backends[1];
	br = &b->breaker;
	tap_ok(strcmp(b->name, "swedencentral") == 0, "full: sweden name");
	tap_is_int(br->failure_count, 7, "full: sweden failure.count");
	tap_is_int(br->failure_interval_ms, 20000, "full: sweden interval");
	tap_is_int(status_count(&br->failure_status, &lo, &hi), 3,
		   "full: sweden failure statuses (503 is a throttle)");
	tap_ok(cfg_status_has(&br->failure_status, 500) &&
		       cfg_status_has(&br->failure_status, 502) &&
		       cfg_status_has(&br->failure_status, 504) &&
		       !cfg_status_has(&br->failure_status, 503),
	       "full: sweden failure 500, 502, 504");
	tap_is_int(br->failure_percentage, 40, "full: sweden percentage");
	tap_is_int(br->minimum_requests, 30, "full: sweden minimum_requests");
	tap_is_int(br->consecutive_failures, 4, "full: sweden consecutive");
	tap_is_int(br->slow_call_ms, 45000, "full: sweden slow_call");
	tap_is_int(br->trip_duration_ms, 20000, "full: sweden trip");
	tap_is_int(br->max_trip_duration_ms, 2400000, "full: sweden max_trip");
	tap_ok(!br->accept_retry_after, "full: sweden accept_retry_after");
	tap_is_int(br->max_retry_after_ms, 120000, "full: sweden max_retry");
	tap_is_int(status_count(&br->throttle_status, &lo, &hi), 2,
		   "full: sweden throttle count");
	tap_ok(cfg_status_has(&br->throttle_status, 429) &&
		       cfg_status_has(&br->throttle_status, 503),
	       "full: sweden throttle 429, 503");
	tap_is_int(br->probe_requests, 3, "full: sweden probe_requests");
	tap_is_int(br->probe_timeout_ms, 15000, "full: sweden probe_timeout");
	tap_is_int((long long)b->headroom.min_remaining_requests, 5,
		   "full: sweden min_remaining_requests");
	tap_is_int((long long)b->headroom.min_remaining_tokens, 1000,
		   "full: sweden min_remaining_tokens");
	tap_is_int(b->headroom.min_weight_percent, 20,
		   "full: sweden min_weight_percent");
	tap_is_int(b->headroom.max_age_ms, 30000, "full: sweden max_age");

	b = &cfg->backends[2];
	tap_is_int(b->breaker.trip_duration_ms, 60000, "full: westus trip");
	tap_is_int(b->breaker.max_trip_duration_ms, 2400000,
		   "full: westus max_trip from defaults");
	tap_is_int(b->breaker.failure_count, 7, "full: westus count default");
	tap_ok(strcmp(cfg->backends[3].name, "spare.backend:1") == 0,
	       "full: unused backend kept");

	tap_is_int(cfg->n_pools, 2, "full: n_pools");
	p = &cfg->pools[0];
	tap_ok(strcmp(p->name, "chat") == 0, "full: pool chat");
	tap_is_int(p->n_members, 3, "full: chat members");
	tap_is_int(p->members[0].backend, 0, "full: chat[0] eastus");
	tap_is_int(p->members[0].priority, 1, "full: chat[0] priority");
	tap_is_int(p->members[0].weight, 3, "full: chat[0] weight");
	tap_is_int(p->members[1].backend, 1, "full: chat[1] swedencentral");
	tap_is_int(p->members[1].priority, 1, "full: chat[1] default priority");
	tap_is_int(p->members[1].weight, 0, "full: chat[1] weight 0");
	tap_is_int(p->members[2].backend, 2, "full: chat[2] westus-payg");
	tap_is_int(p->members[2].priority, 2, "full: chat[2] priority");
	tap_is_int(p->members[2].mark.line, 80, "full: chat[2] line");
	tap_is_int(p->members[2].mark.col, 9, "full: chat[2] col");
	p = &cfg->pools[1];
	tap_ok(strcmp(p->name, "embeddings") == 0, "full: pool embeddings");
	tap_is_int(p->n_members, 1, "full: embeddings members");
	tap_is_int(p->members[0].priority, 1000, "full: embeddings priority");
	tap_is_int(p->members[0].weight, 1000, "full: embeddings weight");
	cfg_free(cfg);
}

/* Checks breaker and headroom of <b> against the built-in defaults. */
static void check_backend_defaults(const char *what,
				   const struct cfg_backend *b)
{
	const struct cfg_breaker *br = &b->breaker;
	int lo, hi;

	tap_is_int(br->failure_count, 5, what);
	tap_is_int(br->failure_interval_ms, 10000, what);
	tap_is_int(status_count(&br->failure_status, &lo, &hi), 101, what);
	tap_ok(cfg_status_has(&br->failure_status, 408) && lo == 408 &&
		       hi == 599 && !cfg_status_has(&br->failure_status, 429),
	       "%s: failure statuses 408, 500-599", what);
	tap_is_int(br->failure_percentage, 0, what);
	tap_is_int(br->minimum_requests, 10, what);
	tap_is_int(br->consecutive_failures, 0, what);
	tap_is_int(br->slow_call_ms, 0, what);
	tap_is_int(br->trip_duration_ms, 30000, what);
	tap_is_int(br->max_trip_duration_ms, 300000, what);
	tap_ok(br->accept_retry_after, "%s: accept_retry_after", what);
	tap_is_int(br->max_retry_after_ms, 60000, what);
	tap_is_int(status_count(&br->throttle_status, &lo, &hi), 1, what);
	tap_ok(lo == 429, "%s: throttle 429", what);
	tap_is_int(br->probe_requests, 1, what);
	tap_is_int(br->probe_timeout_ms, 30000, what);
	tap_is_int((long long)b->headroom.min_remaining_requests, 0, what);
	tap_is_int((long long)b->headroom.min_remaining_tokens, 0, what);
	tap_is_int(b->headroom.min_weight_percent, 10, what);
	tap_is_int(b->headroom.max_age_ms, 10000, what);
}

static void test_defaults(void)
{
	struct cfg_backend b;
	struct cfg c, *cfg;

	memset(&errs, 0, sizeof(errs));
	cfg = cfg_load("tests/unit/cfg/minimal.yaml", collect, &errs);
	if (!tap_ok(cfg != NULL, "minimal: valid")) {
		dump_errs();
		return;
	}
	tap_is_int(cfg->agent.max_connections, 4096, "defaults: max_conn");
	tap_is_int(cfg->agent.max_frame_size, 16380, "defaults: frame");
	tap_is_int(cfg->agent.max_inflight, 256, "defaults: inflight");
	tap_is_int(cfg->agent.hello_timeout_ms, 5000, "defaults: hello");
	tap_is_int(cfg->agent.idle_timeout_ms, 60000, "defaults: idle");
	tap_is_int(cfg->agent.shutdown_timeout_ms, 5000, "defaults: shutdown");
	tap_is_int(cfg->agent.log_level, LOG_INFO, "defaults: log_level");
	tap_is_int(cfg->n_listen, 1, "defaults: n_listen");
	tap_is_int(cfg->listen[0].mode, 0660, "defaults: listen mode");
	tap_is_int(cfg->n_control, 0, "defaults: no control");
	tap_ok(!cfg->has_metrics, "defaults: no metrics");
	tap_ok(!cfg->haproxy.enabled, "defaults: haproxy off");
	tap_is_int(cfg->haproxy.poll_interval_ms, 2000, "defaults: poll");
	tap_ok(!cfg->haproxy.mirror, "defaults: mirror off");
	tap_is_int(cfg->pools[0].members[0].priority, 1, "defaults: priority");
	tap_is_int(cfg->pools[0].members[0].weight, 1, "defaults: weight");
	check_backend_defaults("defaults: backend", &cfg->backends[0]);
	tap_is_int(cfg_backend_index(cfg, "eastus"), 0, "backend_index found");
	tap_is_int(cfg_backend_index(cfg, "westus"), -1,
		   "backend_index missing");
	cfg_free(cfg);

	memset(&b, 0, sizeof(b));
	cfg_backend_defaults(&b);
	check_backend_defaults("cfg_backend_defaults", &b);
	cfg_defaults(&c);
	tap_ok(c.n_listen == 0 && c.n_backends == 0 && c.n_pools == 0 &&
		       c.backends == NULL && c.pools == NULL &&
		       c.file == NULL && c.agent.max_connections == 4096 &&
		       c.haproxy.poll_interval_ms == 2000,
	       "cfg_defaults: empty with agent defaults");
	cfg_free(NULL); /* must not crash: a crash fails the whole program */
}

/* The shipped example must stay valid. */
static void test_example(void)
{
	const struct cfg_pool *p;
	struct cfg *cfg;

	memset(&errs, 0, sizeof(errs));
	cfg = cfg_load("haproxy-conf/aoai-spoa.yaml", collect, &errs);
	if (!tap_ok(cfg != NULL, "example: haproxy-conf/aoai-spoa.yaml")) {
		dump_errs();
		return;
	}
	p = &cfg->pools[0];
	tap_ok(p->n_members == 3 && p->members[2].priority == 2 &&
		       strcmp(cfg->backends[p->members[2].backend].name,
			      "westus-payg") == 0,
	       "example: spillover last");
	tap_ok(!cfg_status_has(&cfg->backends[0].breaker.failure_status, 429),
	       "example: 429 is a throttle, not a failure");
	check_backend_defaults("example: swedencentral", &cfg->backends[1]);
	cfg_free(cfg);
}

static void test_five_errors(void)
{
	static const char *const want[] = {
		"tests/unit/cfg/five-errors.yaml:3:5: listen: port must be "
		"1..65535, got 'tcp://127.0.0.1:99999'",
		"tests/unit/cfg/five-errors.yaml:6:5: backends: unknown key "
		"'colour' (valid: name, circuit_breaker, headroom, auth, upstream)",
		"tests/unit/cfg/five-errors.yaml:8:22: trip_duration: "
		"duration needs a unit: ms, s, m or h, got '30'",
		"tests/unit/cfg/five-errors.yaml:9:11: backend 'eastus' "
		"already defined at 5:5",
		"tests/unit/cfg/five-errors.yaml:13:19: unknown backend "
		"'westus'",
	};
	struct cfg *cfg;
	unsigned i;

	memset(&errs, 0, sizeof(errs));
	cfg = cfg_load("tests/unit/cfg/five-errors.yaml", collect, &errs);
	tap_ok(cfg == NULL, "five errors: rejected");
	if (!tap_is_int(errs.n, 5, "five errors: all five reported"))
		dump_errs();
	for (i = 0; i < 5 && i < errs.n; i++)
		if (!tap_ok(strcmp(errs.msg[i], want[i]) == 0,
			    "five errors: #%u in file order", i + 1))
			printf("# want: %s\n# got:  %s\n", want[i],
			       errs.msg[i]);
}

/* One rejected document and the one error it must produce. */
struct err_case {
	const char *name;
	const char *yaml;
	const char *want;
};

static const struct err_case err_cases[] = {
	{"int below range", "agent: {max_connections: 0}\n" LISTEN TAIL,
	 "t.yaml:1:26: max_connections: expected an integer 1..65536, got "
	 "'0'"},
	{"int not decimal", "agent: {max_inflight: 0x10}\n" LISTEN TAIL,
	 "t.yaml:1:23: max_inflight: expected an integer 1..65536, got "
	 "'0x10'"},
	{"frame size below SPOP minimum",
	 "agent: {max_frame_size: 255}\n" LISTEN TAIL,
	 "t.yaml:1:25: max_frame_size: expected an integer 256..1048576, got "
	 "'255'"},
	{"log level", "agent: {log_level: warn}\n" LISTEN TAIL,
	 "t.yaml:1:20: log_level: expected err, warning, notice, info or "
	 "debug, got 'warn'"},
	{"duration range", "agent: {idle_timeout: 500ms}\n" LISTEN TAIL,
	 "t.yaml:1:23: idle_timeout: expected a duration 1s..24h, got "
	 "'500ms'"},
	{"unknown key", "agent: {bogus: 1}\n" LISTEN TAIL,
	 "t.yaml:1:9: agent: unknown key 'bogus' (valid: max_connections, "
	 "max_frame_size, max_inflight, hello_timeout, idle_timeout, "
	 "shutdown_timeout, log_level)"},
	{"unknown top-level key", LISTEN TAIL "listne: []\n",
	 "t.yaml:4:1: configuration: unknown key 'listne' (valid: agent, "
	 "listen, control, metrics, metrics_allow_remote, haproxy, fleet, "
	 "defaults, backends, pools, state_file)"},
	{"expected a mapping", "agent: [1]\n" LISTEN TAIL,
	 "t.yaml:1:8: agent: expected a mapping"},
	{"top level not a mapping", "- a\n- b\n",
	 "t.yaml:1:1: configuration: expected a mapping"},
	{"expected a list", "listen: tcp://127.0.0.1:1\n" TAIL,
	 "t.yaml:1:9: listen: expected a list"},
	{"duplicate key", "agent: {}\n" LISTEN "agent: {}\n" TAIL,
	 "t.yaml:3:1: configuration: duplicate key 'agent' (first at 1:1)"},
	{"duplicate nested key",
	 "agent: {max_inflight: 1, max_inflight: 2}\n" LISTEN TAIL,
	 "t.yaml:1:26: agent: duplicate key 'max_inflight' (first at 1:9)"},
	{"missing listen", TAIL,
	 "t.yaml:1:1: configuration: missing required key 'listen'"},
	{"empty listen", "listen: []\n" TAIL,
	 "t.yaml:1:9: listen: at least one address is required"},
	{"non-scalar key", "? [a]\n: b\n" LISTEN TAIL,
	 "t.yaml:1:3: configuration: expected a scalar key"},
	{"bad name",
	 LISTEN "backends: [{name: 'a b'}, {name: a}]\n"
		"pools: [{name: p, members: [{backend: a}]}]\n",
	 "t.yaml:2:19: name: expected 1..63 characters among A-Z a-z 0-9 _ . "
	 ": -, got 'a b'"},
	{"name too long",
	 LISTEN "backends: [{name: a}, {name: "
		"a123456789012345678901234567890123456789012345678901234567890"
		"123}]\npools: [{name: p, members: [{backend: a}]}]\n",
	 "t.yaml:2:30: name: expected 1..63 characters among A-Z a-z 0-9 _ . "
	 ": -, got 'a123456789012345678901234567890123456789...'"},
	{"bool",
	 LISTEN TAIL "haproxy: {stats_socket: unix:///h, backend: b, "
		     "mirror: yes}\n",
	 "t.yaml:4:56: mirror: expected true or false, got 'yes'"},
	{"alias", "x: &a 1\ny: *a\n" LISTEN TAIL,
	 "t.yaml:2:4: aliases are not supported"},
	{"multiple documents", LISTEN TAIL "---\nfoo: 1\n",
	 "t.yaml:4:1: multiple documents are not supported"},
	{"empty document", "",
	 "t.yaml:1:1: no backends: the configuration is "
	 "empty"},
	{"comments only", "# nothing\n\n",
	 "t.yaml:1:1: no backends: the configuration is empty"},
	{"empty explicit document", "---\n...\n",
	 "t.yaml:1:1: no backends: the configuration is empty"},
	{"syntax error", "listen: [a\n",
	 "t.yaml:2:1: syntax error: did not find expected ',' or ']' (while "
	 "parsing a flow sequence at 1:9)"},
	{"tab indentation", "listen:\n\t- a\n",
	 "t.yaml:2:1: syntax error: found character that cannot start any "
	 "token (while scanning for the next token at 2:1)"},
	{"invalid UTF-8", "listen: \xff\n",
	 "t.yaml:1:9: invalid input: invalid leading UTF-8 octet"},
	{"deep nesting",
	 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
	 "t.yaml:1:33: nesting too deep, at most 32 levels"},
	{"control not loopback", LISTEN "control: tcp://10.1.2.3:9\n" TAIL,
	 "t.yaml:2:10: control: a TCP control socket must be on a loopback "
	 "address (127.0.0.0/8 or [::1])"},
	{"control level",
	 LISTEN "control: {address: unix:///c, level: root}\n" TAIL,
	 "t.yaml:2:38: control: level: expected user, operator or admin, got "
	 "'root'"},
	{"control unknown key",
	 LISTEN "control: {address: unix:///c, owner: me}\n" TAIL,
	 "t.yaml:2:31: control: unknown key 'owner' (valid: address, mode, "
	 "level)"},
	{"control too many",
	 LISTEN "control: [unix:///1, unix:///2, unix:///3, unix:///4, "
		"unix:///5]\n" TAIL,
	 "t.yaml:2:55: control: too many sockets, at most 4"},
	{"control missing address", LISTEN "control: {mode: '0600'}\n" TAIL,
	 "t.yaml:2:10: control: missing required key 'address'"},
	{"listen level is not a listen key",
	 "listen: [{address: unix:///a, level: user}]\n" TAIL,
	 "t.yaml:1:31: listen: unknown key 'level' (valid: address, mode)"},
	{"metrics not loopback", LISTEN "metrics: tcp://0.0.0.0:9101\n" TAIL,
	 "t.yaml:2:10: metrics: expected tcp://HOST:PORT on a loopback "
	 "address (127.0.0.0/8 or [::1]); another address needs "
	 "metrics_allow_remote: true, got 'tcp://0.0.0.0:9101'"},
	{"metrics remote, allow_remote false",
	 LISTEN
	 "metrics_allow_remote: false\nmetrics: tcp://10.1.2.3:9101\n" TAIL,
	 "t.yaml:3:10: metrics: expected tcp://HOST:PORT on a loopback "
	 "address (127.0.0.0/8 or [::1]); another address needs "
	 "metrics_allow_remote: true, got 'tcp://10.1.2.3:9101'"},
	{"metrics unix", LISTEN "metrics: unix:///m\n" TAIL,
	 "t.yaml:2:10: metrics: expected tcp://HOST:PORT on a loopback "
	 "address (127.0.0.0/8 or [::1]); another address needs "
	 "metrics_allow_remote: true, got 'unix:///m'"},
	{"metrics unix, allow_remote",
	 LISTEN "metrics: unix:///m\nmetrics_allow_remote: true\n" TAIL,
	 "t.yaml:2:10: metrics: expected tcp://HOST:PORT on a loopback "
	 "address (127.0.0.0/8 or [::1]); another address needs "
	 "metrics_allow_remote: true, got 'unix:///m'"},
	{"metrics_allow_remote not a boolean",
	 LISTEN "metrics_allow_remote: yes\n" TAIL,
	 "t.yaml:2:23: metrics_allow_remote: expected true or false, got "
	 "'yes'"},
	{"mode on tcp",
	 "listen: [{address: 'tcp://127.0.0.1:1', mode: '0600'}]\n" TAIL,
	 "t.yaml:1:41: listen: mode applies to unix sockets only"},
	{"bad mode", "listen: [{address: 'unix:///a', mode: '0999'}]\n" TAIL,
	 "t.yaml:1:39: listen: mode: expected an octal file mode such as "
	 "0660, at most 0777, got '0999'"},
	{"mode too large",
	 "listen: [{address: 'unix:///a', mode: 1777}]\n" TAIL,
	 "t.yaml:1:39: listen: mode: expected an octal file mode such as "
	 "0660, at most 0777, got '1777'"},
	{"address used twice",
	 "listen: [tcp://127.0.0.1:1, unix:///s]\ncontrol: unix:///s\n" TAIL,
	 "t.yaml:2:10: address already used at 1:29"},
	{"haproxy missing backend",
	 LISTEN TAIL "haproxy: {stats_socket: unix:///h}\n",
	 "t.yaml:4:10: haproxy: missing required key 'backend'"},
	{"haproxy poll range",
	 LISTEN TAIL "haproxy: {stats_socket: unix:///h, backend: b, "
		     "poll_interval: 50ms}\n",
	 "t.yaml:4:63: poll_interval: expected a duration 100ms..1h, got "
	 "'50ms'"},
	{"fleet without haproxy", LISTEN TAIL "fleet: {table: t, node: n1}\n",
	 "t.yaml:4:8: fleet: needs the haproxy: block (its stats_socket "
	 "reaches the peers table)"},
	{"fleet missing node",
	 LISTEN TAIL "haproxy: {stats_socket: unix:///h, backend: b}\n"
		     "fleet: {table: t}\n",
	 "t.yaml:5:8: fleet: missing required key 'node'"},
	{"fleet peers without this node",
	 LISTEN TAIL "haproxy: {stats_socket: unix:///h, backend: b}\n"
		     "fleet: {table: t, node: n1, peers: [{name: n2, "
		     "address: 'tcp://10.0.0.2:1'}]}\n",
	 "t.yaml:5:36: peers: this node (n1) is not listed"},
	{"fleet peer twice",
	 LISTEN TAIL "haproxy: {stats_socket: unix:///h, backend: b}\n"
		     "fleet: {table: t, node: n1, peers: [{name: n1, "
		     "address: 'tcp://10.0.0.1:1'}, {name: n1, "
		     "address: 'tcp://10.0.0.2:1'}]}\n",
	 "t.yaml:5:78: peers: node n1 twice"},
	{"fleet peer on a unix socket",
	 LISTEN TAIL "haproxy: {stats_socket: unix:///h, backend: b}\n"
		     "fleet: {table: t, node: n1, peers: [{name: n1, "
		     "address: 'unix:///p'}]}\n",
	 "t.yaml:5:57: address: HAProxy's peers listen on tcp://HOST:PORT, "
	 "got 'unix:///p'"},
	{"fleet key too long",
	 LISTEN TAIL
	 "haproxy: {stats_socket: unix:///h, backend: b}\n"
	 "fleet: {table: t, node: "
	 "n1234567890123456789012345678901234567890123456789012345678901}"
	 "\n",
	 "t.yaml:5:8: fleet: key a@"
	 "n1234567890123456789012345678901234567890123456789012345678901 is "
	 "64 bytes, the table's keys hold 63: shorten node"},
	{"haproxy bad socket",
	 LISTEN TAIL "haproxy: {stats_socket: /run/h.sock, backend: b}\n",
	 "t.yaml:4:25: stats_socket: expected tcp://HOST:PORT or "
	 "unix:///PATH, got '/run/h.sock'"},
	{"percentage range",
	 LISTEN "backends: [{name: a, circuit_breaker: {failure: "
		"{percentage: 101}}}]\npools: [{name: p, members: [{backend: "
		"a}]}]\n",
	 "t.yaml:2:62: percentage: expected an integer 0..100, got '101'"},
	{"probe_requests range",
	 LISTEN "backends: [{name: a, circuit_breaker: {probe_requests: "
		"0}}]\npools: [{name: p, members: [{backend: a}]}]\n",
	 "t.yaml:2:56: probe_requests: expected an integer 1..16, got '0'"},
	{"probe_requests above the engine's 16",
	 LISTEN "backends: [{name: a, circuit_breaker: {probe_requests: "
		"17}}]\npools: [{name: p, members: [{backend: a}]}]\n",
	 "t.yaml:2:56: probe_requests: expected an integer 1..16, got '17'"},
	{"max_trip below trip",
	 LISTEN "backends: [{name: a, circuit_breaker: {trip_duration: 1m, "
		"max_trip_duration: 30s}}]\npools: [{name: p, members: "
		"[{backend: a}]}]\n",
	 "t.yaml:2:78: max_trip_duration (30s) is shorter than trip_duration "
	 "(1m)"},
	{"trip above max_trip from defaults",
	 LISTEN "defaults: {circuit_breaker: {max_trip_duration: 2m}}\n"
		"backends: [{name: a, circuit_breaker: {trip_duration: "
		"5m}}]\npools: [{name: p, members: [{backend: a}]}]\n",
	 "t.yaml:3:55: max_trip_duration (2m) is shorter than trip_duration "
	 "(5m)"},
	{"max_trip below trip in defaults",
	 LISTEN "defaults: {circuit_breaker: {trip_duration: 1m, "
		"max_trip_duration: 30s}}\n" TAIL,
	 "t.yaml:2:68: max_trip_duration (30s) is shorter than trip_duration "
	 "(1m)"},
	{"minimum_requests without percentage",
	 LISTEN "backends: [{name: a, circuit_breaker: {failure: "
		"{minimum_requests: 5}}}]\npools: [{name: p, members: "
		"[{backend: a}]}]\n",
	 "t.yaml:2:68: minimum_requests needs failure.percentage"},
	{"unknown breaker key",
	 LISTEN "defaults: {circuit_breaker: {tripDuration: 1m}}\n" TAIL,
	 "t.yaml:2:30: circuit_breaker: unknown key 'tripDuration' (valid: "
	 "failure, trip_duration, max_trip_duration, accept_retry_after, "
	 "max_retry_after, throttle_status_codes, probe_requests, "
	 "probe_timeout)"},
	{"headroom range",
	 LISTEN "defaults: {headroom: {min_weight_percent: 0}}\n" TAIL,
	 "t.yaml:2:43: min_weight_percent: expected an integer 1..100, got "
	 "'0'"},
	{"unknown member backend",
	 LISTEN "backends: [{name: a}]\npools: [{name: p, members: "
		"[{backend: a}, {backend: b}]}]\n",
	 "t.yaml:3:53: unknown backend 'b'"},
	{"member twice",
	 LISTEN "backends: [{name: a}]\npools: [{name: p, members: "
		"[{backend: a}, {backend: a, priority: 2}]}]\n",
	 "t.yaml:3:53: backend 'a' is already a member of this pool at 3:29"},
	{"all weights 0",
	 LISTEN "backends: [{name: a}, {name: b}]\npools: [{name: p, "
		"members: [{backend: a, weight: 0}, {backend: b, weight: "
		"0}]}]\n",
	 "t.yaml:3:28: members: every member has weight 0, at least one "
	 "needs a weight above 0"},
	{"weight range",
	 LISTEN "backends: [{name: a}]\npools: [{name: p, members: "
		"[{backend: a, weight: 1001}]}]\n",
	 "t.yaml:3:50: weight: expected an integer 0..1000, got '1001'"},
	{"priority range",
	 LISTEN "backends: [{name: a}]\npools: [{name: p, members: "
		"[{backend: a, priority: 0}]}]\n",
	 "t.yaml:3:52: priority: expected an integer 1..1000, got '0'"},
	{"empty members",
	 LISTEN "backends: [{name: a}]\npools: [{name: p, members: []}]\n",
	 "t.yaml:3:28: members: at least one member is required"},
	{"duplicate pool",
	 LISTEN "backends: [{name: a}]\npools: [{name: p, members: "
		"[{backend: a}]}, {name: p, members: [{backend: a}]}]\n",
	 "t.yaml:3:52: pool 'p' already defined at 3:9"},
	{"member missing backend",
	 LISTEN "backends: [{name: a}]\npools: [{name: p, members: "
		"[{weight: 1}]}]\n",
	 "t.yaml:3:29: members: missing required key 'backend'"},
};

static void test_errors(void)
{
	size_t i;

	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++)
		expect_error(err_cases[i].name, err_cases[i].yaml,
			     err_cases[i].want);
}

/* Cases whose one cause gives more than one error. */
static void test_error_sets(void)
{
	static const char *const scalar[] = {
		"t.yaml:2:19: name: expected a scalar",
		"t.yaml:3:39: unknown backend 'b'",
		NULL,
	};
	static const char *const empty[] = {
		"t.yaml:2:11: backends: at least one backend is required",
		"t.yaml:3:8: pools: at least one pool is required",
		NULL,
	};
	static const char *const nul[] = {
		"t.yaml:2:19: name: NUL byte in value",
		"t.yaml:3:39: unknown backend 'x'",
		NULL,
	};
	static const char *const haproxy[] = {
		"t.yaml:4:9: haproxy: missing required key 'stats_socket'",
		"t.yaml:4:9: haproxy: missing required key 'backend'",
		NULL,
	};
	static const char *const missing_all[] = {
		"t.yaml:1:1: configuration: missing required key 'listen'",
		"t.yaml:1:1: configuration: missing required key 'backends'",
		"t.yaml:1:1: configuration: missing required key 'pools'",
		NULL,
	};

	expect_errors("expected a scalar", Y_SCALAR, scalar);
	expect_errors("empty backends and pools", Y_EMPTY, empty);
	expect_errors("NUL in a value", Y_NUL, nul);
	expect_errors("haproxy: null block", LISTEN TAIL "haproxy:\n", haproxy);
	expect_errors("only an agent block", "agent: {}\n", missing_all);
}

/* Durations, through agent.shutdown_timeout (0s..10m, value at column 27)
 * and agent.idle_timeout (1s..24h, column 23).
 */
static void test_durations(void)
{
	static const struct {
		const char *key;
		const char *value;
		long long want_ms; /* -1: rejected with <msg> */
		const char *msg;
	} cases[] = {
		{"shutdown_timeout", "500ms", 500, NULL},
		{"shutdown_timeout", "10s", 10000, NULL},
		{"shutdown_timeout", "1m", 60000, NULL},
		{"shutdown_timeout", "0s", 0, NULL},
		{"shutdown_timeout", "0ms", 0, NULL},
		{"shutdown_timeout", "10m", 600000, NULL},
		{"shutdown_timeout", "'7s'", 7000, NULL},
		{"idle_timeout", "1h", 3600000, NULL},
		{"idle_timeout", "24h", 86400000, NULL},
		{"idle_timeout", "1440m", 86400000, NULL},
		{"idle_timeout", "1000ms", 1000, NULL},
		{"shutdown_timeout", "601s", -1,
		 "t.yaml:1:27: shutdown_timeout: expected a duration 0s..10m, "
		 "got '601s'"},
		{"idle_timeout", "0s", -1,
		 "t.yaml:1:23: idle_timeout: expected a duration 1s..24h, got "
		 "'0s'"},
		{"idle_timeout", "25h", -1,
		 "t.yaml:1:23: idle_timeout: expected a duration 1s..24h, got "
		 "'25h'"},
		{"shutdown_timeout", "10", -1,
		 "t.yaml:1:27: shutdown_timeout: duration needs a unit: ms, s, "
		 "m or h, got '10'"},
		{"shutdown_timeout", "'10'", -1,
		 "t.yaml:1:27: shutdown_timeout: duration needs a unit: ms, s, "
		 "m or h, got '10'"},
		{"shutdown_timeout", "10x", -1,
		 "t.yaml:1:27: shutdown_timeout: expected a duration: an "
		 "integer and a unit ms, s, m or h (500ms, 10s, 1m, 1h), got "
		 "'10x'"},
		{"shutdown_timeout", "-1s", -1,
		 "t.yaml:1:27: shutdown_timeout: expected a duration: an "
		 "integer and a unit ms, s, m or h (500ms, 10s, 1m, 1h), got "
		 "'-1s'"},
		{"shutdown_timeout", "1.5s", -1,
		 "t.yaml:1:27: shutdown_timeout: expected a duration: an "
		 "integer and a unit ms, s, m or h (500ms, 10s, 1m, 1h), got "
		 "'1.5s'"},
		{"shutdown_timeout", "s", -1,
		 "t.yaml:1:27: shutdown_timeout: expected a duration: an "
		 "integer and a unit ms, s, m or h (500ms, 10s, 1m, 1h), got "
		 "'s'"},
		{"shutdown_timeout", "1 s", -1,
		 "t.yaml:1:27: shutdown_timeout: expected a duration: an "
		 "integer and a unit ms, s, m or h (500ms, 10s, 1m, 1h), got "
		 "'1 s'"},
		{"shutdown_timeout", "''", -1,
		 "t.yaml:1:27: shutdown_timeout: expected a duration: an "
		 "integer and a unit ms, s, m or h (500ms, 10s, 1m, 1h), got "
		 "''"},
		{"shutdown_timeout", "[1s]", -1,
		 "t.yaml:1:27: shutdown_timeout: expected a scalar"},
		{"shutdown_timeout", "99999999999999999999999999h", -1,
		 "t.yaml:1:27: shutdown_timeout: expected a duration 0s..10m, "
		 "got '99999999999999999999999999h'"},
		{"shutdown_timeout", "18446744073709551615ms", -1,
		 "t.yaml:1:27: shutdown_timeout: expected a duration 0s..10m, "
		 "got '18446744073709551615ms'"},
		{"idle_timeout", "4294968s", -1,
		 "t.yaml:1:23: idle_timeout: expected a duration 1s..24h, got "
		 "'4294968s'"},
	};
	char yaml[512], name[128];
	struct cfg *cfg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(yaml, sizeof(yaml), "agent: {%s: %s}\n" LISTEN TAIL,
			 cases[i].key, cases[i].value);
		snprintf(name, sizeof(name), "duration %s: %s", cases[i].key,
			 cases[i].value);
		if (cases[i].want_ms < 0) {
			expect_error(name, yaml, cases[i].msg);
			continue;
		}
		cfg = expect_ok(name, yaml);
		if (cfg)
			tap_is_int(cases[i].key[0] == 's'
					   ? cfg->agent.shutdown_timeout_ms
					   : cfg->agent.idle_timeout_ms,
				   cases[i].want_ms, name);
		cfg_free(cfg);
	}
}

/* Status lists, through defaults.circuit_breaker.throttle_status_codes (the
 * first item at column 54).
 */
static void test_statuses(void)
{
	static const struct {
		const char *list;
		int count, lo, hi; /* count -1: rejected with msg */
		const char *msg;
	} cases[] = {
		{"429", 1, 429, 429, NULL},
		{"500-599", 100, 500, 599, NULL},
		{"'500-599'", 100, 500, 599, NULL},
		{"\"502-504\", 429", 4, 429, 504, NULL},
		{"100, 599", 2, 100, 599, NULL},
		{"100-100", 1, 100, 100, NULL},
		{"429, 429, 429-429", 1, 429, 429, NULL},
		{"", 0, 0, 0, NULL},
		{"99", -1, 0, 0,
		 "t.yaml:1:54: throttle_status_codes: expected a status code "
		 "100..599 or a range such as 500-599, got '99'"},
		{"429, 600", -1, 0, 0,
		 "t.yaml:1:59: throttle_status_codes: expected a status code "
		 "100..599 or a range such as 500-599, got '600'"},
		{"500-600", -1, 0, 0,
		 "t.yaml:1:54: throttle_status_codes: expected a status code "
		 "100..599 or a range such as 500-599, got '500-600'"},
		{"599-500", -1, 0, 0,
		 "t.yaml:1:54: throttle_status_codes: reversed range, write "
		 "500-599, got '599-500'"},
		{"5xx", -1, 0, 0,
		 "t.yaml:1:54: throttle_status_codes: expected a status code "
		 "100..599 or a range such as 500-599, got '5xx'"},
		{"500-", -1, 0, 0,
		 "t.yaml:1:54: throttle_status_codes: expected a status code "
		 "100..599 or a range such as 500-599, got '500-'"},
		{"-500", -1, 0, 0,
		 "t.yaml:1:54: throttle_status_codes: expected a status code "
		 "100..599 or a range such as 500-599, got '-500'"},
		{"500-550-599", -1, 0, 0,
		 "t.yaml:1:54: throttle_status_codes: expected a status code "
		 "100..599 or a range such as 500-599, got '500-550-599'"},
		{"[429]", -1, 0, 0,
		 "t.yaml:1:54: throttle_status_codes: expected a scalar"},
	};
	char yaml[512], name[128];
	struct cfg *cfg;
	int n, lo, hi;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 "defaults: {circuit_breaker: {throttle_status_codes: "
			 "[%s]}}\n" LISTEN TAIL,
			 cases[i].list);
		snprintf(name, sizeof(name), "statuses [%s]", cases[i].list);
		if (cases[i].count < 0) {
			expect_error(name, yaml, cases[i].msg);
			continue;
		}
		cfg = expect_ok(name, yaml);
		if (!cfg)
			continue;
		n = status_count(&cfg->backends[0].breaker.throttle_status, &lo,
				 &hi);
		tap_ok(n == cases[i].count && lo == cases[i].lo &&
			       hi == cases[i].hi,
		       "%s: %d statuses %d..%d", name, n, lo, hi);
		cfg_free(cfg);
	}
	expect_error("statuses: not a list",
		     "defaults: {circuit_breaker: {throttle_status_codes: "
		     "429}}\n" LISTEN TAIL,
		     "t.yaml:1:53: throttle_status_codes: expected a list");

	/* a backend's failure list replaces the default one, no merge */
	cfg = expect_ok("failure list replaces the default", LISTEN
			"backends: [{name: a, circuit_breaker: {failure: "
			"{status_codes: [503]}}}]\n"
			"pools: [{name: p, members: [{backend: a}]}]\n");
	if (cfg) {
		n = status_count(&cfg->backends[0].breaker.failure_status, &lo,
				 &hi);
		tap_ok(n == 1 && lo == 503, "failure list is exactly [503]");
	}
	cfg_free(cfg);
	cfg = expect_ok("empty failure list", LISTEN
			"backends: [{name: a, circuit_breaker: {failure: "
			"{status_codes: []}}}]\n"
			"pools: [{name: p, members: [{backend: a}]}]\n");
	if (cfg)
		tap_is_int(
			status_count(&cfg->backends[0].breaker.failure_status,
				     &lo, &hi),
			0, "empty failure list: no status is a fault");
	cfg_free(cfg);
}

/* Listen addresses (the value at column 10). */
static void test_listen(void)
{
	static const struct {
		const char *addr;
		int kind; /* -1: rejected with msg */
		const char *host_or_path;
		int port;
		const char *msg;
	} cases[] = {
		{"tcp://127.0.0.1:12345", CFG_ADDR_TCP, "127.0.0.1", 12345,
		 NULL},
		{"tcp://0.0.0.0:65535", CFG_ADDR_TCP, "0.0.0.0", 65535, NULL},
		{"'tcp://[::1]:1'", CFG_ADDR_TCP, "::1", 1, NULL},
		{"'tcp://[fe80::1:2]:80'", CFG_ADDR_TCP, "fe80::1:2", 80, NULL},
		{"'tcp://[::]:80'", CFG_ADDR_TCP, "::", 80, NULL},
		{"unix:///tmp/a.sock", CFG_ADDR_UNIX, "/tmp/a.sock", 0, NULL},
		{"tcp://127.0.0.1:0", -1, NULL, 0,
		 "t.yaml:1:10: listen: port must be 1..65535, got "
		 "'tcp://127.0.0.1:0'"},
		{"tcp://127.0.0.1:65536", -1, NULL, 0,
		 "t.yaml:1:10: listen: port must be 1..65535, got "
		 "'tcp://127.0.0.1:65536'"},
		{"tcp://127.0.0.1:8a", -1, NULL, 0,
		 "t.yaml:1:10: listen: port must be 1..65535, got "
		 "'tcp://127.0.0.1:8a'"},
		{"'tcp://127.0.0.1:'", -1, NULL, 0,
		 "t.yaml:1:10: listen: port must be 1..65535, got "
		 "'tcp://127.0.0.1:'"},
		{"tcp://127.0.0.1", -1, NULL, 0,
		 "t.yaml:1:10: listen: expected tcp://HOST:PORT, got "
		 "'tcp://127.0.0.1'"},
		{"'tcp://[::1]'", -1, NULL, 0,
		 "t.yaml:1:10: listen: expected tcp://[IPV6]:PORT, got "
		 "'tcp://[::1]'"},
		{"'tcp://[::1]80'", -1, NULL, 0,
		 "t.yaml:1:10: listen: expected tcp://[IPV6]:PORT, got "
		 "'tcp://[::1]80'"},
		{"'tcp://::1:80'", -1, NULL, 0,
		 "t.yaml:1:10: listen: an IPv6 address needs brackets: "
		 "tcp://[ADDR]:PORT, got 'tcp://::1:80'"},
		{"'tcp://[127.0.0.1]:80'", -1, NULL, 0,
		 "t.yaml:1:10: listen: host must be a numeric IPv4 address or a "
		 "bracketed IPv6 address, got 'tcp://[127.0.0.1]:80'"},
		{"tcp://localhost:80", -1, NULL, 0,
		 "t.yaml:1:10: listen: host must be a numeric IPv4 address or a "
		 "bracketed IPv6 address, got 'tcp://localhost:80'"},
		{"tcp://:80", -1, NULL, 0,
		 "t.yaml:1:10: listen: host must be a numeric IPv4 address or a "
		 "bracketed IPv6 address, got 'tcp://:80'"},
		{"tcp://1.2.3:80", -1, NULL, 0,
		 "t.yaml:1:10: listen: host must be a numeric IPv4 address or a "
		 "bracketed IPv6 address, got 'tcp://1.2.3:80'"},
		{"http://127.0.0.1:80", -1, NULL, 0,
		 "t.yaml:1:10: listen: expected tcp://HOST:PORT or "
		 "unix:///PATH, got 'http://127.0.0.1:80'"},
		{"unix://run/a.sock", -1, NULL, 0,
		 "t.yaml:1:10: listen: expected an absolute path: unix:///PATH, "
		 "got 'unix://run/a.sock'"},
		{"''", -1, NULL, 0,
		 "t.yaml:1:10: listen: expected tcp://HOST:PORT or "
		 "unix:///PATH, got ''"},
	};
	char yaml[512], name[160], path[CFG_PATH_MAX + 8];
	char long_path[CFG_PATH_MAX];
	struct cfg *cfg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(yaml, sizeof(yaml), "listen: [%s]\n" TAIL,
			 cases[i].addr);
		snprintf(name, sizeof(name), "listen %s", cases[i].addr);
		if (cases[i].kind < 0) {
			expect_error(name, yaml, cases[i].msg);
			continue;
		}
		cfg = expect_ok(name, yaml);
		if (!cfg)
			continue;
		tap_is_int(cfg->listen[0].kind, cases[i].kind, name);
		if (cases[i].kind == CFG_ADDR_TCP)
			tap_ok(strcmp(cfg->listen[0].host,
				      cases[i].host_or_path) == 0 &&
				       cfg->listen[0].port == cases[i].port,
			       "%s: host %s port %d", name, cfg->listen[0].host,
			       cfg->listen[0].port);
		else
			tap_ok(strcmp(cfg->listen[0].path,
				      cases[i].host_or_path) == 0,
			       "%s: path %s", name, cfg->listen[0].path);
		cfg_free(cfg);
	}

	/* sun_path holds 107 bytes and the NUL */
	memset(long_path, 'a', sizeof(long_path));
	memcpy(long_path, "/run/", 5);
	memcpy(long_path + sizeof(long_path) - 6, ".sock", 6);
	tap_is_int(strlen(long_path), 107, "long path fixture is 107 bytes");
	snprintf(yaml, sizeof(yaml), "listen: [unix://%s]\n" TAIL, long_path);
	cfg = expect_ok("listen: 107-byte unix path", yaml);
	if (cfg)
		tap_ok(strcmp(cfg->listen[0].path, long_path) == 0,
		       "listen: 107-byte path kept whole");
	cfg_free(cfg);
	snprintf(path, sizeof(path), "%sx", long_path);
	snprintf(yaml, sizeof(yaml), "listen: [unix://%s]\n" TAIL, path);
	expect_error("listen: 108-byte unix path", yaml,
		     "t.yaml:1:10: listen: unix socket path too long: 108 "
		     "bytes, at most 107");
}

/* Too many items in each bounded list. */
static void test_limits(void)
{
	size_t size = 64 * 1024, o;
	char *yaml = malloc(size);
	struct cfg *cfg;
	int i;

	if (!tap_ok(yaml != NULL, "limits: buffer"))
		return;
	o = (size_t)snprintf(yaml, size, "listen:\n");
	for (i = 1; i <= CFG_LISTEN_MAX + 1; i++)
		o += (size_t)snprintf(yaml + o, size - o,
				      "  - tcp://127.0.0.1:%d\n", i);
	snprintf(yaml + o, size - o, TAIL);
	expect_error("listen: 17 addresses", yaml,
		     "t.yaml:18:5: listen: too many addresses, at most 16");

	o = (size_t)snprintf(yaml, size, LISTEN "backends:\n");
	for (i = 0; i < CFG_MEMBERS_MAX + 1; i++)
		o += (size_t)snprintf(yaml + o, size - o, "  - name: b%d\n", i);
	o += (size_t)snprintf(yaml + o, size - o,
			      "pools:\n  - name: p\n    members:\n");
	for (i = 0; i < CFG_MEMBERS_MAX; i++)
		o += (size_t)snprintf(yaml + o, size - o,
				      "      - {backend: b%d, priority: %d}\n",
				      i, 1000 - i % 3);
	cfg = expect_ok("256 members", yaml);
	if (cfg) {
		tap_is_int(cfg->pools[0].n_members, 256, "256 members kept");
		/* priority 998: b2, b5 .. b254; 999: b1 .. b253;
		 * 1000: b0 .. b255 */
		tap_ok(cfg->pools[0].members[0].backend == 2 &&
			       cfg->pools[0].members[1].backend == 5 &&
			       cfg->pools[0].members[84].backend == 254 &&
			       cfg->pools[0].members[85].backend == 1 &&
			       cfg->pools[0].members[169].backend == 253 &&
			       cfg->pools[0].members[170].backend == 0 &&
			       cfg->pools[0].members[255].backend == 255,
		       "256 members: sorted by priority, stable");
	}
	cfg_free(cfg);
	snprintf(yaml + o, size - o, "      - {backend: b256}\n");
	expect_error("257 members", yaml,
		     "t.yaml:519:9: members: too many, at most 256");

	o = (size_t)snprintf(yaml, size, LISTEN "backends:\n");
	for (i = 0; i < CFG_BACKENDS_MAX + 1; i++)
		o += (size_t)snprintf(yaml + o, size - o, "  - name: b%d\n", i);
	snprintf(yaml + o, size - o,
		 "pools: [{name: p, members: [{backend: b0}]}]\n");
	expect_error("1025 backends", yaml,
		     "t.yaml:1027:5: backends: too many, at most 1024");

	o = (size_t)snprintf(yaml, size, LISTEN TAIL "agent:\n");
	for (i = 0; i < 150; i++)
		o += (size_t)snprintf(yaml + o, size - o, "  k%d: 1\n", i);
	parse(yaml);
	tap_is_int(errs.n, 101, "150 errors: 100 shown and a summary");
	tap_ok(errs.n == 101 &&
		       strcmp(errs.msg[100], "t.yaml:1:1: too many errors "
					     "(150), only the first 100 "
					     "shown") == 0,
	       "150 errors: summary line");
	tap_ok(errs.n == 101 && strncmp(errs.msg[99],
					"t.yaml:104:3: agent: unknown "
					"key 'k99' ",
					39) == 0,
	       "150 errors: the first 100 in order");
	free(yaml);
}

/* Control sockets in every form (the value of "control:" at column 10). */
static void test_control(void)
{
	struct cfg *cfg;

	cfg = expect_ok("control: scalar",
			LISTEN "control: unix:///run/c.sock\n" TAIL);
	if (cfg)
		tap_ok(cfg->n_control == 1 && cfg->control[0].mode == 0600 &&
			       cfg->control[0].level == CFG_LEVEL_ADMIN &&
			       strcmp(cfg->control[0].path, "/run/c.sock") == 0,
		       "control: scalar gets mode 0600, level admin");
	cfg_free(cfg);
	cfg = expect_ok("control: mapping",
			LISTEN "control: {address: 'unix:///c', level: "
			       "operator, mode: '0660'}\n" TAIL);
	if (cfg)
		tap_ok(cfg->n_control == 1 && cfg->control[0].mode == 0660 &&
			       cfg->control[0].level == CFG_LEVEL_OPERATOR,
		       "control: mapping with level and mode");
	cfg_free(cfg);
	cfg = expect_ok("control: list",
			LISTEN "control: [unix:///a, {address: "
			       "'tcp://127.8.9.10:9', level: user}, "
			       "'tcp://[::1]:9']\n" TAIL);
	if (cfg)
		tap_ok(cfg->n_control == 3 &&
			       cfg->control[1].kind == CFG_ADDR_TCP &&
			       cfg->control[1].level == CFG_LEVEL_USER &&
			       cfg->control[2].port == 9,
		       "control: list of 3, loopback TCP accepted");
	cfg_free(cfg);
	cfg = expect_ok("metrics: remote, allowed",
			LISTEN "metrics: tcp://0.0.0.0:9101\n"
			       "metrics_allow_remote: true\n" TAIL);
	if (cfg)
		tap_ok(cfg->has_metrics && cfg->metrics_allow_remote &&
			       strcmp(cfg->metrics.host, "0.0.0.0") == 0,
		       "metrics: off loopback with metrics_allow_remote: true "
		       "(the key's place in the file does not matter)");
	cfg_free(cfg);
	cfg = expect_ok("control: null", LISTEN "control:\n" TAIL);
	if (cfg)
		tap_is_int(cfg->n_control, 0, "control: null means none");
	cfg_free(cfg);
	cfg = expect_ok("haproxy: unix stats socket",
			LISTEN TAIL "haproxy: {stats_socket: "
				    "unix:///run/haproxy/admin.sock, backend: "
				    "aoai}\n");
	if (cfg)
		tap_ok(cfg->haproxy.enabled &&
			       cfg->haproxy.stats_socket.kind ==
				       CFG_ADDR_UNIX &&
			       strcmp(cfg->haproxy.stats_socket.path,
				      "/run/haproxy/admin.sock") == 0 &&
			       strcmp(cfg->haproxy.backend, "aoai") == 0 &&
			       cfg->haproxy.poll_interval_ms == 2000 &&
			       !cfg->haproxy.mirror,
		       "haproxy: defaults within the block");
	cfg_free(cfg);
}

/* max_trip_duration when only trip_duration is given: 10x, capped at 1h,
 * never below trip_duration.
 */
static void test_max_trip(void)
{
	static const struct {
		const char *trip;
		long long want;
	} cases[] = {
		{"1s", 10000},	  {"30s", 300000}, {"6m", 3600000},
		{"10m", 3600000}, {"2h", 7200000},
	};
	char yaml[512], name[64];
	struct cfg *cfg;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(yaml, sizeof(yaml),
			 LISTEN "backends: [{name: a, circuit_breaker: "
				"{trip_duration: %s}}]\npools: [{name: p, "
				"members: [{backend: a}]}]\n",
			 cases[i].trip);
		snprintf(name, sizeof(name), "max_trip for trip %s",
			 cases[i].trip);
		cfg = expect_ok(name, yaml);
		if (cfg)
			tap_is_int(
				cfg->backends[0].breaker.max_trip_duration_ms,
				cases[i].want, name);
		cfg_free(cfg);
	}
	cfg = expect_ok("percentage 0 turns off a default percentage",
			LISTEN "defaults: {circuit_breaker: {failure: "
			       "{percentage: 50, minimum_requests: 5}}}\n"
			       "backends: [{name: a}, {name: b, "
			       "circuit_breaker: {failure: {percentage: 0, "
			       "count: 0}}}]\npools: [{name: p, members: "
			       "[{backend: a}]}]\n");
	if (cfg)
		tap_ok(cfg->backends[0].breaker.failure_percentage == 50 &&
			       cfg->backends[0].breaker.minimum_requests == 5 &&
			       cfg->backends[1].breaker.failure_percentage ==
				       0 &&
			       cfg->backends[1].breaker.failure_count == 0,
		       "defaults inherited and overridden");
	cfg_free(cfg);
}

/* Any bytes: no crash, and an answer that is either a cfg or an error. */
static void test_garbage(void)
{
	static const char alphabet[] =
		"{}[]:,-?&*!|>'\"%@` #\n\t\r 0aZ\\\x80\xff";
	unsigned long long seed = 0x9e3779b97f4a7c15ULL;
	char *full = NULL, buf[600];
	size_t full_len = 0, i, len, k;
	unsigned bad = 0, ok = 0, n;
	struct cfg *cfg;
	FILE *f;

	f = fopen("tests/unit/cfg/full.yaml", "rb");
	if (f) {
		full = malloc(8192);
		if (full)
			full_len = fread(full, 1, 8192, f);
		fclose(f);
	}
	if (!tap_ok(full && full_len > 0, "garbage: read full.yaml")) {
		free(full);
		return;
	}
	/* every prefix of a valid document */
	for (len = 0; len <= full_len; len++) {
		memset(&errs, 0, sizeof(errs));
		cfg = cfg_parse("t.yaml", full, len, collect, &errs);
		if ((cfg != NULL) == (errs.n != 0))
			bad++;
		if (cfg)
			ok++;
		cfg_free(cfg);
	}
	tap_is_int(bad, 0, "garbage: every prefix is a cfg xor errors");
	tap_ok(ok >= 1, "garbage: the whole file parses (%u prefixes did)", ok);

	/* random bytes from YAML's special characters, and mutations */
	bad = 0;
	for (n = 0; n < 3000; n++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		len = (size_t)(seed >> 33) % sizeof(buf);
		if (n % 2 && len <= full_len) {
			memcpy(buf, full, len);
			for (k = 0; k < 4; k++) {
				seed = seed * 6364136223846793005ULL + 1;
				if (len)
					buf[(seed >> 33) % len] =
						alphabet[(seed >> 20) %
							 (sizeof(alphabet) -
							  1)];
			}
		} else {
			for (i = 0; i < len; i++) {
				seed = seed * 6364136223846793005ULL + 1;
				buf[i] = n % 4 == 0
						 ? (char)(seed >> 56)
						 : alphabet[(seed >> 33) %
							    (sizeof(alphabet) -
							     1)];
			}
		}
		memset(&errs, 0, sizeof(errs));
		cfg = cfg_parse("t.yaml", buf, len, collect, &errs);
		if ((cfg != NULL) == (errs.n != 0))
			bad++;
		cfg_free(cfg);
	}
	tap_is_int(bad, 0, "garbage: 3000 random inputs, cfg xor errors");
	free(full);

	/* no callback at all is allowed */
	cfg = cfg_parse("t.yaml", "x: [", 4, NULL, NULL);
	tap_ok(cfg == NULL, "garbage: NULL callback");
	cfg = cfg_parse(NULL, NULL, 0, collect, &errs);
	tap_ok(cfg == NULL, "garbage: NULL name and buffer");
}

/* Size limit and file errors. */
static void test_files(void)
{
	size_t big = 1024 * 1024 + 1;
	char *buf = malloc(big);
	struct cfg *cfg;

	if (buf) {
		memset(buf, '#', big);
		memset(&errs, 0, sizeof(errs));
		cfg = cfg_parse("t.yaml", buf, big, collect, &errs);
		tap_ok(cfg == NULL && errs.n == 1 &&
			       strcmp(errs.msg[0],
				      "t.yaml:1:1: file too large: "
				      "1048577 bytes, at most "
				      "1048576") == 0,
		       "file too large");
		memset(&errs, 0, sizeof(errs));
		cfg = cfg_parse("t.yaml", buf, big - 1, collect, &errs);
		tap_ok(cfg == NULL && errs.n == 1 &&
			       strcmp(errs.msg[0], "t.yaml:1:1: no backends: "
						   "the configuration is "
						   "empty") == 0,
		       "1 MiB of comments is read");
		free(buf);
	}
	memset(&errs, 0, sizeof(errs));
	cfg = cfg_load("tests/unit/cfg/no-such-file.yaml", collect, &errs);
	tap_ok(cfg == NULL && errs.n == 1 &&
		       strcmp(errs.msg[0], "tests/unit/cfg/no-such-file.yaml:"
					   "1:1: cannot open: No such file or "
					   "directory") == 0,
	       "missing file");
	memset(&errs, 0, sizeof(errs));
	cfg = cfg_load("tests/unit/cfg", collect, &errs);
	tap_ok(cfg == NULL && errs.n == 1 &&
		       strcmp(errs.msg[0], "tests/unit/cfg:1:1: cannot read: "
					   "Is a directory") == 0,
	       "directory");
}

#define HAPI	  "haproxy: {stats_socket: unix:///run/h.sock, backend: aoai}\n"
#define AUTH_POOL "pools: [{name: p, members: [{backend: a}, {backend: b}]}]\n"

/* Entra ID credentials: inheritance from defaults, a kind that starts
 * afresh, kind none, and each incomplete credential reported where its
 * auth block is.
 */
static void test_auth(void)
{
	struct cfg *cfg;

	cfg = expect_ok(
		"auth: defaults and a backend's own", LISTEN HAPI
		"defaults:\n"
		"  auth: {kind: managed-identity, client_id: c1}\n"
		"backends:\n"
		"  - name: a\n"
		"  - name: b\n"
		"    auth: {imds: 'http://127.0.0.1:9'}\n"
		"  - name: c\n"
		"    auth: {kind: none}\n"
		"  - name: d\n"
		"    auth: {kind: service-principal, tenant: t,\n"
		"           client_id: c2, secret_file: /s}\n" AUTH_POOL);
	if (cfg) {
		const struct cfg_auth *a = &cfg->backends[0].auth;
		const struct cfg_auth *b = &cfg->backends[1].auth;
		const struct cfg_auth *d = &cfg->backends[3].auth;

		tap_ok(a->kind == CFG_AUTH_MANAGED_IDENTITY &&
			       !strcmp(a->client_id, "c1") &&
			       !strcmp(a->token_map,
				       "/var/lib/aoai-spoa/tokens.map") &&
			       !a->imds[0] && !a->map_name[0],
		       "auth: a backend inherits defaults.auth");
		tap_ok(b->kind == CFG_AUTH_MANAGED_IDENTITY &&
			       !strcmp(b->client_id, "c1") &&
			       !strcmp(b->imds, "http://127.0.0.1:9"),
		       "auth: without a kind, a backend refines the default");
		tap_ok(cfg->backends[2].auth.kind == CFG_AUTH_NONE,
		       "auth: kind none is a keyed backend");
		tap_ok(d->kind == CFG_AUTH_SERVICE_PRINCIPAL &&
			       !strcmp(d->client_id, "c2") &&
			       !strcmp(d->secret_file, "/s") &&
			       !strcmp(d->token_map,
				       "/var/lib/aoai-spoa/tokens.map"),
		       "auth: a kind starts afresh, token_map default");
		tap_ok(d->mark.line == 12 && d->mark.col == 11,
		       "auth: the block's position is kept (%u:%u)",
		       d->mark.line, d->mark.col);
	}
	cfg_free(cfg);
	cfg = expect_ok("auth: none anywhere", LISTEN TAIL);
	tap_ok(cfg && cfg->backends[0].auth.kind == CFG_AUTH_NONE,
	       "auth: no block, no credential");
	cfg_free(cfg);
	expect_error("auth: unknown kind",
		     LISTEN HAPI
		     "backends: [{name: a, auth: {kind: key}}]\n"
		     "pools: [{name: p, members: [{backend: a}]}]\n",
		     "t.yaml:3:35: kind: expected none, managed-identity, "
		     "workload-identity or service-principal, got 'key'");
	expect_error("auth: without the haproxy block",
		     LISTEN "backends: [{name: a, auth: {kind: "
			    "managed-identity}}]\n"
			    "pools: [{name: p, members: [{backend: a}]}]\n",
		     "t.yaml:2:28: backend 'a': auth needs the haproxy: block "
		     "(tokens reach HAProxy through its runtime API)");
	expect_error("auth: service principal without a secret",
		     LISTEN HAPI
		     "backends: [{name: a, auth: {kind: service-principal, "
		     "tenant: t, client_id: c}}]\n"
		     "pools: [{name: p, members: [{backend: a}]}]\n",
		     "t.yaml:3:28: backend 'a': service-principal needs one of "
		     "secret_file and certificate_file");
	expect_error("auth: a relative path",
		     LISTEN HAPI
		     "backends: [{name: a, auth: {kind: workload-identity, "
		     "token_file: tok}}]\n"
		     "pools: [{name: p, members: [{backend: a}]}]\n",
		     "t.yaml:3:28: backend 'a': 'tok' is not an absolute path");
	expect_error("auth: two token maps",
		     LISTEN HAPI
		     "backends:\n"
		     "  - {name: a, auth: {kind: managed-identity}}\n"
		     "  - {name: b, auth: {kind: managed-identity, "
		     "token_map: /t.map}}\n" AUTH_POOL,
		     "t.yaml:5:21: backend 'b': every keyless backend shares "
		     "one token_map and map_name");
	expect_error("auth: spaces in a value",
		     LISTEN HAPI
		     "backends: [{name: a, auth: {kind: managed-identity, "
		     "client_id: 'a b'}}]\n"
		     "pools: [{name: p, members: [{backend: a}]}]\n",
		     "t.yaml:3:64: client_id: only printable characters, no "
		     "spaces, got 'a b'");
}

int main(void)
{
	test_full();
	test_defaults();
	test_example();
	test_five_errors();
	test_errors();
	test_error_sets();
	test_durations();
	test_statuses();
	test_listen();
	test_limits();
	test_control();
	test_max_trip();
	test_garbage();
	test_files();
	test_auth();
	return tap_done();
}

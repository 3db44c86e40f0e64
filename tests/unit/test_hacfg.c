/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of haproxy-config (agent/hacfg.c) and of the drift check's
 * comparison (agent/hadrift.c): server lines from the first pool, the
 * per-region sections from the upstream blocks, version blocks resolved
 * or kept, what rendering refuses, and each kind of drift.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "hacfg.h"
#include "hadrift.h"
#include "tap.h"

static const char yaml[] = "listen:\n"
			   "  - tcp://127.0.0.1:9999\n"
			   "haproxy:\n"
			   "  stats_socket: unix:///tmp/hacfg-test.sock\n"
			   "  backend: aoai\n"
			   "backends:\n"
			   "  - name: a\n"
			   "    upstream:\n"
			   "      endpoint: a.example.com\n"
			   "      key: none\n"
			   "      client_deployment: m.1\n"
			   "      deployment: m-a\n"
			   "  - name: b\n"
			   "    upstream: {endpoint: b.example.com}\n"
			   "  - name: c\n"
			   "    upstream: {endpoint: c.example.com, key: map}\n"
			   "pools:\n"
			   "  - name: p1\n"
			   "    members:\n"
			   "      - {backend: b, priority: 2, weight: 2}\n"
			   "      - {backend: a, priority: 1, weight: 5}\n"
			   "  - name: p2\n"
			   "    members:\n"
			   "      - {backend: c}\n";

/* The same, with four things rendering cannot take (lines 2, 5, 13, 20). */
static const char bad_yaml[] =
	"listen:\n"
	"  - unix:///run/agent.sock\n"
	"haproxy:\n"
	"  stats_socket: unix:///tmp/hacfg-test.sock\n"
	"  backend: other\n"
	"backends:\n"
	"  - name: a\n"
	"    upstream:\n"
	"      endpoint: a.example.com\n"
	"      key: none\n"
	"      client_deployment: m.1\n"
	"      deployment: m-a\n"
	"  - name: b\n"
	"    circuit_breaker: {trip_duration: 10s}\n"
	"  - name: c\n"
	"    upstream: {endpoint: c.example.com, key: map}\n"
	"pools:\n"
	"  - name: p1\n"
	"    members:\n"
	"      - {backend: b, priority: 2, weight: 300}\n"
	"      - {backend: a, priority: 1, weight: 5}\n";

static void print_err(void *arg, const char *msg)
{
	(void)arg;
	printf("# %s\n", msg);
}

struct msgs {
	unsigned n;
	char text[8][256];
};

static void collect(void *arg, const char *msg)
{
	struct msgs *m = arg;

	if (m->n < 8)
		snprintf(m->text[m->n], sizeof(m->text[0]), "%s", msg);
	m->n++;
}

static bool has(const struct msgs *m, const char *s)
{
	unsigned i;

	for (i = 0; i < m->n && i < 8; i++)
		if (strstr(m->text[i], s))
			return true;
	return false;
}

/* Occurrences of <needle> in <hay>. */
static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static void test_version(void)
{
	hacfg_version v = 0;

	tap_ok(hacfg_version_parse("2.6", &v) == 0 && v == 206, "2.6 is 206");
	tap_ok(hacfg_version_parse("3.10", &v) == 0 && v == 310, "3.10 is 310");
	tap_ok(hacfg_version_parse("2.4", &v) < 0, "2.4 is refused");
	tap_ok(hacfg_version_parse("3", &v) < 0 &&
		       hacfg_version_parse("3.2x", &v) < 0 &&
		       hacfg_version_parse("", &v) < 0,
	       "3, 3.2x and \"\" are refused");
}

static void test_servers(const struct cfg *cfg)
{
	struct hacfg_server s[3];

	hacfg_servers(cfg, s);
	tap_ok(s[0].weight == 5 && !s[0].backup, "a: weight 5, active");
	tap_ok(s[1].weight == 2 && s[1].backup, "b: priority 2, backup");
	tap_ok(s[2].weight == 0 && !s[2].backup,
	       "c: outside the first pool, weight 0");
}

static void test_render(const struct cfg *cfg)
{
	struct buf b, v26, v32;
	const char *t;

	buf_init(&b, HACFG_OUT_MAX);
	buf_init(&v26, HACFG_OUT_MAX);
	buf_init(&v32, HACFG_OUT_MAX);
	tap_ok(hacfg_render_cfg(cfg, 0, &b) == 0 && b.len > 10000,
	       "rendered (%zu bytes)", b.len);
	t = b.p;
	tap_ok(strstr(t, "\n    server a abns@aoai-region-a weight 5 track "
			 "upstream-a/a\n") &&
		       strstr(t, "\n    server b abns@aoai-region-b weight 2 "
				 "backup track upstream-b/b\n") &&
		       strstr(t, "\n    server c abns@aoai-region-c weight 0 "
				 "track upstream-c/c\n"),
	       "the aoai servers: weights, backup, weight 0");
	tap_ok(strstr(t, "\n    server agent 127.0.0.1:9999 check ") != NULL,
	       "the agent server is listen[0]");
	tap_ok(strstr(t, "\n    stats socket /tmp/hacfg-test.sock mode 660 ") !=
		       NULL,
	       "the agent's stats socket is haproxy.stats_socket");
	tap_ok(count(t, "\nlisten region-") == 3 &&
		       count(t, "\nlisten upstream-") == 3,
	       "a shim and an upstream per backend");
	tap_ok(strstr(t, "\n    http-request set-header Host a.example.com\n"
			 "    # key: none") &&
		       count(t, "set-header api-key") == 2 &&
		       strstr(t, "\"%[str(b),map(/etc/haproxy/aoai-keys.map)]"
				 "\""),
	       "key none: no api-key; map: from the keys map by name");
	tap_ok(strstr(t, "replace-path ^/openai/deployments/m\\.1/(.*)$ "
			 "/openai/deployments/m-a/\\1\n") != NULL,
	       "the deployment rename, '.' escaped");
	tap_ok(strstr(t,
		      "\n    server a a.example.com:443 sni "
		      "str(a.example.com) check-sni a.example.com\n") != NULL,
	       "the upstream server: endpoint, sni, check-sni");
	tap_ok(count(t, "\n.if !version_atleast(3.1)\n") == 3 &&
		       count(t, "\n.if version_atleast(3.1)\n") == 1 &&
		       count(t, "\n.if ") == count(t, "\n.endif\n"),
	       "no version: the .if blocks are kept, balanced");

	tap_ok(hacfg_render_cfg(cfg, 206, &v26) == 0 &&
		       hacfg_render_cfg(cfg, 302, &v32) == 0,
	       "rendered for 2.6 and 3.2");
	tap_ok(!strstr(v26.p, "version_atleast(3.1)\n") &&
		       !strstr(v32.p, "version_atleast(3.1)\n"),
	       "for a version: no version block left");
	tap_ok(count(v26.p, "set-status 503 if { status 429 }") == 3 &&
		       strstr(v26.p, "\n    retry-on 500 ") &&
		       !strstr(v26.p, "\n    retry-on 429"),
	       "2.6: 429 -> 503 in the shims, retry-on without 429");
	tap_ok(count(v32.p, "set-status 503 if { status 429 }") == 0 &&
		       strstr(v32.p, "\n    retry-on 429 ") &&
		       !strstr(v32.p, "\n    retry-on 500 "),
	       "3.2: native retry-on 429, no rewrite");
	tap_ok(count(v26.p, "\n.if defined(AOAI_DEBUG_HEADERS)\n") == 1 &&
		       count(v26.p, "\n.if ") == count(v26.p, "\n.endif\n") &&
		       strstr(v26.p, "x-aoai-backend"),
	       "other .if blocks kept, with their lines");
	buf_free(&b);
	buf_free(&v26);
	buf_free(&v32);
}

static void test_check(void)
{
	struct msgs m = {0};
	struct cfg *cfg = cfg_parse("bad.yaml", bad_yaml, strlen(bad_yaml),
				    print_err, NULL);

	tap_ok(cfg != NULL, "the agent accepts the YAML rendering refuses");
	if (!cfg)
		return;
	tap_is_int(hacfg_check(cfg, collect, &m), 4, "four problems");
	tap_ok(has(&m, "bad.yaml:13:5: backend 'b': no upstream.endpoint"),
	       "a backend without endpoint, at its line");
	tap_ok(has(&m, "bad.yaml:20:9: weight 300: "), "weight over 256");
	tap_ok(has(&m, "bad.yaml:2:5: listen: "),
	       "a unix listen outside the chroot");
	tap_ok(has(&m, "haproxy.backend is 'other'"),
	       "haproxy.backend other than aoai");
	cfg_free(cfg);
}

/* The agent's stats socket as HAProxy binds it: tcp on loopback only. */
static void test_stats_socket(void)
{
	static const char *const addrs[] = {"tcp://127.0.0.1:9876",
					    "tcp://10.0.0.5:9876"};
	char y[1024];
	struct buf b;
	int i;

	for (i = 0; i < 2; i++) {
		struct msgs m = {0};
		struct cfg *cfg;
		const char *p = strstr(yaml, "  backend: aoai\n");

		snprintf(y, sizeof(y),
			 "listen:\n  - tcp://[::1]:9999\nhaproxy:\n"
			 "  stats_socket: %s\n%s",
			 addrs[i], p);
		cfg = cfg_parse("s.yaml", y, strlen(y), print_err, NULL);
		tap_ok(cfg != NULL, "loads with stats_socket %s", addrs[i]);
		if (!cfg)
			continue;
		tap_is_int(hacfg_check(cfg, collect, &m), i,
			   i ? "off loopback: refused" : "loopback: accepted");
		if (!i) {
			buf_init(&b, HACFG_OUT_MAX);
			hacfg_render_cfg(cfg, 0, &b);
			tap_ok(b.p &&
				       strstr(b.p, "\n    stats socket "
						   "ipv4@127.0.0.1:9876 level "
						   "admin\n") &&
				       strstr(b.p, "\n    server agent "
						   "ipv6@::1:9999 check "),
			       "tcp stats socket and an IPv6 agent address");
			buf_free(&b);
		}
		cfg_free(cfg);
	}
}

/* The upstream keys' own errors, from the parser at file:line:col. */
static void test_keys(void)
{
	static const char y[] = "listen: [tcp://127.0.0.1:1]\n"
				"backends:\n"
				"  - name: a\n"
				"    upstream:\n"
				"      endpoint: -a.example.com\n"
				"      key: maybe\n"
				"  - name: b\n"
				"    upstream: {deployment: x}\n"
				"pools: [{name: p, members: [{backend: a}]}]\n";
	struct msgs m = {0};
	struct cfg *cfg = cfg_parse("k.yaml", y, strlen(y), collect, &m);

	tap_ok(cfg == NULL && m.n == 3, "three upstream errors (%u)", m.n);
	tap_ok(has(&m, "k.yaml:5:17: endpoint: expected a host name"),
	       "a host name starting with '-'");
	tap_ok(has(&m, "k.yaml:6:12: key: expected map or none"),
	       "key: map or none");
	tap_ok(has(&m, "k.yaml:8:15: upstream: deployment and "
		       "client_deployment go together"),
	       "a deployment without the clients' name");
	cfg_free(cfg);
}

/* A keyless backend (auth:): its upstream sends the agent's token from the
 * token map, as HAProxy names it, and no api-key.
 */
static void test_keyless(void)
{
	static const char *const maps[] = {
		"",
		"      map_name: /etc/haproxy/tok.map\n",
		"      map_name: /etc/haproxy/a\"b.map\n",
	};
	char y[1024];
	struct buf b;
	int i;

	for (i = 0; i < 3; i++) {
		struct msgs m = {0};
		struct cfg *cfg;

		snprintf(y, sizeof(y),
			 "listen: [tcp://127.0.0.1:1]\n"
			 "haproxy: {stats_socket: unix:///x.sock, backend: "
			 "aoai}\n"
			 "backends:\n"
			 "  - name: k\n"
			 "    upstream: {endpoint: k.example.com}\n"
			 "    auth:\n"
			 "      kind: managed-identity\n"
			 "%s"
			 "  - name: m\n"
			 "    upstream: {endpoint: m.example.com}\n"
			 "pools: [{name: p, members: [{backend: k}, {backend: "
			 "m}]}]\n",
			 maps[i]);
		cfg = cfg_parse("a.yaml", y, strlen(y), print_err, NULL);
		tap_ok(cfg != NULL, "keyless YAML %d loads", i);
		if (!cfg)
			continue;
		if (i == 2) {
			tap_is_int(hacfg_check(cfg, collect, &m), 1,
				   "a token map name with a quote: refused");
			cfg_free(cfg);
			continue;
		}
		tap_is_int(hacfg_check(cfg, collect, &m), 0, "renderable");
		buf_init(&b, HACFG_OUT_MAX);
		hacfg_render_cfg(cfg, 0, &b);
		tap_ok(b.p &&
			       strstr(b.p, "\n    http-request set-header Host "
					   "k.example.com\n    http-request "
					   "set-header Authorization \"Bearer "
					   "%[str(k),map(") &&
			       strstr(b.p, i ? "map(/etc/haproxy/tok.map)]\"\n"
					     : "map(/var/lib/aoai-spoa/"
					       "tokens.map)]\"\n") &&
			       count(b.p, "set-header api-key") == 1 &&
			       strstr(b.p, "\"%[str(m),map(/etc/haproxy/"
					   "aoai-keys.map)]\""),
		       "keyless: Authorization from %s, no api-key; the keyed "
		       "one keeps its api-key",
		       i ? "map_name" : "token_map");
		buf_free(&b);
		cfg_free(cfg);
	}
}

/* "show servers state aoai;show stat aoai 4 -1" as HAProxy answers it
 * (columns cut down to those the parsers read, in HAProxy's order).
 */
static const char state_hdr[] =
	"1\n"
	"# be_id be_name srv_id srv_name srv_addr srv_op_state "
	"srv_admin_state srv_uweight srv_iweight\n";
static const char stat_hdr[] =
	"# pxname,svname,econ,eresp,wretr,wredis,status,weight,bck,\n";

static int drift(const struct cfg *cfg, const char *state, const char *stat,
		 struct msgs *m)
{
	char text[2048], err[160];
	int n;

	memset(m, 0, sizeof(*m));
	snprintf(text, sizeof(text), "%s%s\n%s%s\n", state_hdr, state, stat_hdr,
		 stat);
	n = hadrift_compare(cfg, text, collect, m, err, sizeof(err));
	if (n < 0)
		printf("# %s\n", err);
	return n;
}

static void test_drift(const struct cfg *cfg)
{
	struct msgs m;
	char text[64], err[160];

	tap_is_int(drift(cfg,
			 "3 aoai 1 a abns@x 2 0 5 5\n"
			 "3 aoai 2 b abns@x 2 0 2 2\n"
			 "3 aoai 3 c abns@x 2 0 0 0\n",
			 "aoai,a,0,0,0,0,UP,5,0,\n"
			 "aoai,b,0,0,0,0,UP,2,1,\n"
			 "aoai,c,0,0,0,0,UP,0,0,\n",
			 &m),
		   0, "the rendered servers: no drift");
	tap_is_int(drift(cfg,
			 "3 aoai 1 a abns@x 2 0 4 5\n"
			 "3 aoai 2 b abns@x 2 0 2 2\n"
			 "3 aoai 4 x abns@x 2 0 1 1\n",
			 "aoai,a,0,0,0,0,UP,4,0,\n"
			 "aoai,b,0,0,0,0,UP,2,0,\n"
			 "aoai,x,0,0,0,0,UP,1,0,\n",
			 &m),
		   4, "four differences");
	tap_ok(has(&m, "aoai/a: weight 4 in HAProxy, 5 in the configuration"),
	       "a weight (the one in use)");
	tap_ok(has(&m, "aoai/b: backup in the configuration, not in HAProxy"),
	       "a backup flag");
	tap_ok(has(&m, "aoai/c: missing in HAProxy"), "a server missing");
	tap_ok(has(&m, "aoai/x: in HAProxy, unknown to the configuration"),
	       "a server unknown to the YAML");
	snprintf(text, sizeof(text), "Can't find backend.\n\n");
	tap_ok(hadrift_compare(cfg, text, collect, &m, err, sizeof(err)) < 0 &&
		       strstr(err, "Can't find backend."),
	       "no such backend: an error, with HAProxy's words (%s)", err);
}

/* A fleet: its peers section, the table and aoai-route's arguments; the
 * arguments must fit the SPOE frame.
 */
static void test_fleet(void)
{
	char y[16384], *p = y, *end = y + sizeof(y);
	struct msgs m = {0};
	struct cfg *cfg;
	struct buf out;
	unsigned b, n;

	for (n = 3; n <= 12; n += 9) {
		p = y;
		p += snprintf(p, (size_t)(end - p),
			      "listen: [tcp://127.0.0.1:1]\n"
			      "haproxy: {stats_socket: unix:///h, backend: "
			      "aoai}\n"
			      "fleet:\n  table: aoai-fleet\n  node: n1\n"
			      "  plaintext: true\n  peers:\n");
		for (b = 1; b <= n; b++)
			p += snprintf(p, (size_t)(end - p),
				      "    - {name: n%u, address: "
				      "'tcp://127.0.0.%u:10000'}\n",
				      b, b);
		p += snprintf(p, (size_t)(end - p), "backends:\n");
		for (b = 0; b < 60; b++)
			p += snprintf(p, (size_t)(end - p),
				      "  - {name: region-%02u-abcdefgh, "
				      "upstream: {endpoint: r.example.com}}\n",
				      b);
		snprintf(p, (size_t)(end - p),
			 "pools: [{name: p, members: [{backend: "
			 "region-00-abcdefgh}]}]\n");
		cfg = cfg_parse("f.yaml", y, strlen(y), print_err, NULL);
		tap_ok(cfg != NULL, "a fleet of %u nodes loads", n);
		if (!cfg)
			continue;
		memset(&m, 0, sizeof(m));
		if (n == 3) {
			tap_is_int(hacfg_check(cfg, collect, &m), 0,
				   "3 nodes x 60 backends: renderable");
			buf_init(&out, HACFG_OUT_MAX);
			hacfg_render_spoe(cfg, 0, &out);
			tap_is_int(count(out.p, "    args fleet."), 120,
				   "one argument per backend and other node");
			tap_ok(strstr(out.p,
				      "    args fleet.region-07-abcdefgh@"
				      "n3=str(region-07-abcdefgh@n3),"
				      "table_gpt0(aoai-fleet)\n") &&
				       !strstr(out.p, "@n1="),
			       "each reads the other node's key, never its own");
			buf_truncate(&out, 0);
			hacfg_render_cfg(cfg, 0, &out);
			tap_ok(strstr(out.p,
				      "\npeers aoai-peers\n"
				      "    bind 127.0.0.1:10000\n"
				      "    server n1\n"
				      "    server n2 127.0.0.2:10000\n") &&
				       strstr(out.p, "    localpeer n1\n") &&
				       !strstr(out.p, "# peers aoai-peers"),
			       "plaintext peers section rendered");
			tap_is_int(count(out.p, "    http-response track-sc0 "
						"var(txn.aoai.fleet_key) "
						"table aoai-fleet if "),
				   60, "a response-path rule per region");
			tap_ok(strstr(out.p,
				      "    http-response send-spoe-group "
				      "aoai-result aoai-result-group if { "
				      "nbsrv(aoai-spoa) gt 0 }\n"
				      "    # the fleet: ") &&
				       strstr(out.p,
					      "-m str region-07-abcdefgh@n1 }\n"
					      "    http-response sc-set-gpt0(0) "
					      "var(txn.aoai.fleet_until) if { "
					      "var(txn.aoai.fleet_key) -m str "
					      "region-07-abcdefgh@n1 } { "
					      "sc_get_gpt0(0),neg,add(txn.aoai."
					      "fleet_until) gt 0 }\n"),
			       "after the aoai-result rule, this node's key "
			       "of the region, a later value only");
			buf_free(&out);
		} else {
			tap_is_int(hacfg_check(cfg, collect, &m), 1,
				   "12 nodes x 60 backends: refused");
			tap_ok(has(&m, "fleet arguments (60 backends x 11 "
				       "other nodes)"),
			       "the arguments would not fit the SPOE frame");
		}
		cfg_free(cfg);
	}
}

int main(void)
{
	struct cfg *cfg =
		cfg_parse("t.yaml", yaml, strlen(yaml), print_err, NULL);
	struct msgs m = {0};

	test_version();
	tap_ok(cfg != NULL, "the test YAML loads");
	if (!cfg)
		return tap_done();
	tap_is_int(hacfg_check(cfg, collect, &m), 0,
		   "it has what rendering needs");
	test_servers(cfg);
	test_render(cfg);
	test_check();
	test_keys();
	test_stats_socket();
	test_keyless();
	test_drift(cfg);
	test_fleet();
	cfg_free(cfg);
	return tap_done();
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the configuration schema (agent/cfg-schema.c): the table,
 * the defaults it gives, cfg_schema_walk() round trips, and the two places
 * that restate it: docs/config.md and haproxy-conf/aoai-spoa.yaml.
 *
 *   test_cfg_schema --docs   prints the key table of docs/config.md
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cfg.h"
#include "tap.h"
#include "text.h"

#define DOC_MAX (64 * 1024)

static const char *root_dir(void)
{
	const char *r = getenv("AOAI_ROOT");

	return r && *r ? r : ".";
}

/* Reads <rel> under the repository into a new NUL-terminated buffer. */
static char *slurp(const char *rel, size_t *len)
{
	char path[512];
	size_t n = 0, r;
	char *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root_dir(), rel);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	buf = malloc(1024 * 1024 + 1);
	if (!buf)
		abort();
	while ((r = fread(buf + n, 1, 1024 * 1024 - n, f)) > 0)
		n += r;
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static void print_err(void *arg, const char *msg)
{
	(void)arg;
	printf("# %s\n", msg);
}

/* ---------------------------------------------------------------- */
/* the table                                                         */

static void test_table(void)
{
	union {
		struct cfg c; /* root-level keys (metrics_allow_remote) */
		struct cfg_agent a;
		struct cfg_haproxy h;
		struct cfg_breaker b;
		struct cfg_headroom r;
		struct cfg_member m;
		struct cfg_auth u;
		struct cfg_upstream up;
	} scratch, again;
	const struct cfg_field *fs, *blk[CFG_BLOCK_KEYS_MAX];
	char err[160], back[64];
	size_t n, i, j, k, nb;
	int bad_def = 0, dup = 0, order = 0, rt = 0;

	fs = cfg_schema(&n);
	tap_ok(n > 40, "the schema lists %zu keys", n);
	for (i = 0; i < n; i++) {
		if (i && fs[i].block < fs[i - 1].block)
			order++;
		for (j = 0; j < i; j++)
			if (fs[j].block == fs[i].block &&
			    !strcmp(fs[j].key, fs[i].key))
				dup++;
		if (!fs[i].def || fs[i].off == CFG_OFF_NONE)
			continue;
		memset(&scratch, 0, sizeof(scratch));
		if (cfg_value_set(&fs[i], fs[i].def, &scratch, err,
				  sizeof(err)) < 0) {
			tap_ok(0, "default of %s '%s': %s", fs[i].key,
			       fs[i].def, err);
			bad_def++;
			continue;
		}
		/* written back and read again, it is the same value */
		cfg_value_fmt(&fs[i], &scratch, back, sizeof(back));
		memset(&again, 0, sizeof(again));
		if (cfg_value_set(&fs[i], back, &again, err, sizeof(err)) < 0 ||
		    memcmp(&scratch, &again, sizeof(scratch)) != 0) {
			tap_ok(0, "%s: default '%s' is written '%s'", fs[i].key,
			       fs[i].def, back);
			rt++;
		}
	}
	tap_is_int(bad_def, 0, "every default parses within its range");
	tap_is_int(rt, 0, "every default survives the walker's writing");
	tap_is_int(dup, 0, "no key twice in one block");
	tap_is_int(order, 0, "the table is grouped by block");
	for (k = 0, nb = 0; k < CFG_BLK_COUNT; k++)
		nb += cfg_block_fields((enum cfg_block)k, blk);
	tap_is_int((long long)nb, (long long)n,
		   "every key belongs to a block, none over "
		   "CFG_BLOCK_KEYS_MAX");
}

/* The defaults the table gives are the ones cfg.c used to set by hand. */
static void test_defaults(void)
{
	struct cfg cfg;
	struct cfg_backend b;
	const struct cfg_breaker *br = &b.breaker;
	int c, fail_ok = 1, thr_ok = 1;

	cfg_defaults(&cfg);
	tap_ok(cfg.agent.max_connections == 4096 &&
		       cfg.agent.max_frame_size == 16380 &&
		       cfg.agent.max_inflight == 256 &&
		       cfg.agent.hello_timeout_ms == 5000 &&
		       cfg.agent.idle_timeout_ms == 60000 &&
		       cfg.agent.shutdown_timeout_ms == 5000 &&
		       cfg.agent.log_level == LOG_INFO,
	       "agent defaults");
	tap_ok(!cfg.haproxy.enabled && cfg.haproxy.poll_interval_ms == 2000 &&
		       !cfg.haproxy.mirror && cfg.n_listen == 0 &&
		       cfg.n_backends == 0 && !cfg.state_file[0],
	       "haproxy defaults, nothing else");
	memset(&b, 0xa5, sizeof(b));
	cfg_backend_defaults(&b);
	for (c = CFG_STATUS_MIN; c <= CFG_STATUS_MAX; c++) {
		if (cfg_status_has(&br->failure_status, c) !=
		    (c == 408 || (c >= 500 && c <= 599)))
			fail_ok = 0;
		if (cfg_status_has(&br->throttle_status, c) != (c == 429))
			thr_ok = 0;
	}
	tap_ok(br->failure_count == 5 && br->failure_interval_ms == 10000 &&
		       br->failure_percentage == 0 &&
		       br->minimum_requests == 10 &&
		       br->consecutive_failures == 0 && br->slow_call_ms == 0,
	       "failure defaults");
	tap_ok(fail_ok && thr_ok, "status defaults: 408, 500-599 and 429");
	tap_ok(br->trip_duration_ms == 30000 &&
		       br->max_trip_duration_ms == 300000 &&
		       br->accept_retry_after &&
		       br->max_retry_after_ms == 60000 &&
		       br->probe_requests == 1 && br->probe_timeout_ms == 30000,
	       "breaker defaults");
	tap_ok(b.headroom.min_remaining_requests == 0 &&
		       b.headroom.min_remaining_tokens == 0 &&
		       b.headroom.min_weight_percent == 10 &&
		       b.headroom.max_age_ms == 10000,
	       "headroom defaults");
}

/* ---------------------------------------------------------------- */
/* the walker                                                        */

/* A walk rendered as YAML flow text, plus what a test looks at. */
struct render {
	char out[DOC_MAX];
	size_t len;
	bool comma[64];	   /* per depth: an element was written */
	bool skip_default; /* leave default values out of <out> */
	unsigned depth, opened, closed, values, defaults;
	char lines[DOC_MAX]; /* "path=value default\n" per value */
	size_t llen;
};

static void put(struct render *r, const char *s)
{
	size_t n = strlen(s);

	if (r->len + n < sizeof(r->out)) {
		memcpy(r->out + r->len, s, n + 1);
		r->len += n;
	}
}

/* Writes <v> as a double-quoted YAML scalar (values never hold quotes). */
static void put_q(struct render *r, const char *v, size_t n)
{
	put(r, "\"");
	if (r->len + n < sizeof(r->out)) {
		memcpy(r->out + r->len, v, n);
		r->len += n;
		r->out[r->len] = '\0';
	}
	put(r, "\"");
}

static void sep(struct render *r, const struct cfg_walk_item *it)
{
	if (r->comma[r->depth])
		put(r, ", ");
	r->comma[r->depth] = true;
	if (it->key) {
		put(r, it->key);
		put(r, ": ");
	}
}

static void render_one(void *arg, const struct cfg_walk_item *it)
{
	struct render *r = arg;
	const char *v, *q;
	int w;

	switch (it->event) {
	case CFG_WALK_MAP_BEGIN:
	case CFG_WALK_SEQ_BEGIN:
		sep(r, it);
		put(r, it->event == CFG_WALK_MAP_BEGIN ? "{" : "[");
		r->depth++;
		r->comma[r->depth] = false;
		r->opened++;
		break;
	case CFG_WALK_MAP_END:
	case CFG_WALK_SEQ_END:
		r->depth--;
		put(r, it->event == CFG_WALK_MAP_END ? "}" : "]");
		r->closed++;
		break;
	case CFG_WALK_VALUE:
		r->values++;
		r->defaults += it->is_default;
		if (r->skip_default && it->is_default)
			;
		else if (sep(r, it), it->type == CFG_T_STATUS) {
			put(r, "[");
			for (v = it->value; *v; v = *q ? q + 2 : q) {
				q = strstr(v, ", ");
				if (!q)
					q = v + strlen(v);
				put_q(r, v, (size_t)(q - v));
				if (*q)
					put(r, ", ");
			}
			put(r, "]");
		} else {
			put_q(r, it->value, strlen(it->value));
		}
		w = snprintf(r->lines + r->llen, sizeof(r->lines) - r->llen,
			     "%s=%s%s\n", it->path, it->value,
			     it->is_default ? " (default)" : "");
		if (w > 0 && (size_t)w < sizeof(r->lines) - r->llen)
			r->llen += (size_t)w;
		break;
	}
}

/* Walks <cfg> into <r>, wrapped as a top-level mapping; with
 * <skip_default>, values that are the default are left out of the text.
 */
static void render(const struct cfg *cfg, struct render *r, bool skip_default)
{
	memset(r, 0, sizeof(*r));
	r->skip_default = skip_default;
	put(r, "{");
	r->depth = 1;
	cfg_schema_walk(cfg, render_one, r);
	put(r, "}\n");
}

static bool has_line(const struct render *r, const char *line)
{
	char want[256];

	snprintf(want, sizeof(want), "%s\n", line);
	return strstr(r->lines, want) != NULL;
}

static void test_walk(void)
{
	static struct render r1, r2;
	struct cfg *c1, *c2;
	char *yaml;
	size_t len;

	yaml = slurp("haproxy-conf/aoai-spoa.yaml", &len);
	tap_ok(yaml != NULL, "the shipped YAML is readable");
	if (!yaml)
		return;
	c1 = cfg_parse("aoai-spoa.yaml", yaml, len, print_err, NULL);
	free(yaml);
	tap_ok(c1 != NULL, "the shipped YAML loads");
	if (!c1)
		return;
	render(c1, &r1, false);
	tap_ok(r1.opened == r1.closed && r1.depth == 1,
	       "every mapping and list is closed (%u/%u)", r1.opened,
	       r1.closed);
	tap_ok(has_line(&r1, "agent.max_connections=4096 (default)"),
	       "a default is reported as one");
	tap_ok(has_line(&r1, "haproxy.mirror=true"),
	       "a value that is not the default is not");
	tap_ok(has_line(&r1, "listen[0].address=tcp://127.0.0.1:12345"),
	       "addresses as the file writes them");
	tap_ok(has_line(&r1, "control[0].mode=0600 (default)") &&
		       has_line(&r1, "control[1].level=user"),
	       "control sockets: mode and level");
	tap_ok(has_line(&r1, "backends[0].circuit_breaker.failure.count=3"),
	       "a backend's own value");
	tap_ok(has_line(&r1, "backends[0].circuit_breaker.failure.status_codes="
			     "500-599"),
	       "429 in both lists counts as a throttle only");
	tap_ok(has_line(&r1, "backends[1].circuit_breaker.max_trip_duration="
			     "5m"),
	       "max_trip_duration (a derived default) is never 'default'");
	tap_ok(has_line(&r1, "pools[0].members[2].backend=westus-payg") &&
		       has_line(&r1, "pools[0].members[2].priority=2"),
	       "pool members by backend name");
	tap_ok(!strstr(r1.lines, "defaults."),
	       "the defaults block is merged, not shown");

	/* what the walker says, defaults left out as "show config" may, is a
	 * configuration that loads to the same
	 */
	render(c1, &r1, true);
	c2 = cfg_parse("walked", r1.out, r1.len, print_err, NULL);
	tap_ok(c2 != NULL, "the walk, rendered as YAML, loads");
	if (c2) {
		render(c2, &r2, true);
		tap_ok(r1.llen == r2.llen &&
			       !memcmp(r1.lines, r2.lines, r1.llen),
		       "and walks the same (%u values, %u defaults)", r1.values,
		       r1.defaults);
		cfg_free(c2);
	}
	cfg_free(c1);
}

/* A keyless backend's auth block is walked (a keyed one's is not), and
 * the walk loads back to the same credential.
 */
static void test_walk_auth(void)
{
	static const char yaml[] =
		"listen: [tcp://127.0.0.1:1]\n"
		"haproxy: {stats_socket: unix:///run/h.sock, backend: aoai}\n"
		"backends:\n"
		"  - name: a\n"
		"    auth: {kind: service-principal, tenant: t1, client_id: c1,\n"
		"           certificate_file: /etc/aoai-spoa/sp.pem,\n"
		"           authority: 'https://login.microsoftonline.us'}\n"
		"  - name: b\n"
		"pools: [{name: p, members: [{backend: a}, {backend: b}]}]\n";
	static struct render r1, r2;
	struct cfg *c1, *c2;

	c1 = cfg_parse("auth.yaml", yaml, strlen(yaml), print_err, NULL);
	tap_ok(c1 != NULL, "a configuration with an auth block loads");
	if (!c1)
		return;
	render(c1, &r1, false);
	tap_ok(has_line(&r1, "backends[0].auth.kind=service-principal") &&
		       has_line(&r1, "backends[0].auth.certificate_file="
				     "/etc/aoai-spoa/sp.pem") &&
		       has_line(&r1, "backends[0].auth.token_map="
				     "/var/lib/aoai-spoa/tokens.map (default)"),
	       "the walk shows the credential and its defaults");
	tap_ok(!strstr(r1.lines, "backends[1].auth"),
	       "a keyed backend shows no auth block");
	render(c1, &r1, true);
	c2 = cfg_parse("walked", r1.out, r1.len, print_err, NULL);
	tap_ok(c2 &&
		       !memcmp(&c1->backends[0].auth.kind,
			       &c2->backends[0].auth.kind,
			       offsetof(struct cfg_auth, mark)) &&
		       c2->backends[1].auth.kind == CFG_AUTH_NONE,
	       "the walk, rendered as YAML, loads to the same credentials");
	if (c2) {
		render(c2, &r2, true);
		tap_ok(r1.len == r2.len && !memcmp(r1.out, r2.out, r1.len),
		       "and walks the same");
	}
	cfg_free(c2);
	cfg_free(c1);
}

/* ---------------------------------------------------------------- */
/* docs/config.md                                                    */

#define DOCS_BEGIN "<!-- keys: begin -->\n"
#define DOCS_END   "<!-- keys: end -->\n"

/* Writes the docs' key table, one row per key of the schema. */
static size_t docs_table(char *out, size_t size)
{
	const struct cfg_field *fs;
	char path[128], def[160], range[64], lo[24], hi[24];
	size_t n, i, o = 0;
	int w;

	fs = cfg_schema(&n);
	w = snprintf(out, size,
		     "| key | type | default | range | APIM | meaning |\n"
		     "|---|---|---|---|---|---|\n");
	o = (size_t)w;
	for (i = 0; i < n && o < size; i++) {
		const struct cfg_field *f = &fs[i];
		const char *bp = cfg_block_path(f->block);

		snprintf(path, sizeof(path), "%s%s%s", bp, *bp ? "." : "",
			 f->key);
		if (f->def && f->def[0] && !f->doc_def) /* "": unset */
			snprintf(def, sizeof(def), "`%s`", f->def);
		else if (f->doc_def)
			snprintf(def, sizeof(def), "%s", f->doc_def);
		else
			snprintf(def, sizeof(def), "%s",
				 f->required ? "required" : "");
		range[0] = '\0';
		if (f->type == CFG_T_U32 || f->type == CFG_T_U64)
			snprintf(range, sizeof(range), "%llu..%llu",
				 (unsigned long long)f->min,
				 (unsigned long long)f->max);
		else if (f->type == CFG_T_DURATION)
			snprintf(range, sizeof(range), "%s..%s",
				 text_fmt_duration(lo, sizeof(lo), f->min),
				 text_fmt_duration(hi, sizeof(hi), f->max));
		w = snprintf(out + o, size - o,
			     "| `%s` | %s | %s | %s | %s%s%s | %s |\n", path,
			     cfg_type_str(f->type), def, range,
			     f->apim ? "`" : "", f->apim ? f->apim : "",
			     f->apim ? "`" : "", f->help);
		if (w < 0)
			break;
		o += (size_t)w;
	}
	return o < size ? o : size - 1;
}

static void test_docs(void)
{
	static char want[DOC_MAX];
	const char *b, *e;
	char *doc;
	size_t n;

	doc = slurp("docs/config.md", NULL);
	tap_ok(doc != NULL, "docs/config.md is readable");
	if (!doc)
		return;
	n = docs_table(want, sizeof(want));
	b = strstr(doc, DOCS_BEGIN);
	e = b ? strstr(b, DOCS_END) : NULL;
	tap_ok(b && e, "docs/config.md has the key table markers");
	if (b && e) {
		b += strlen(DOCS_BEGIN);
		tap_ok((size_t)(e - b) == n && !memcmp(b, want, n),
		       "docs/config.md's key table is the schema's (regenerate "
		       "with: build/tests/test_cfg_schema --docs)");
	}
	free(doc);
}

/* ---------------------------------------------------------------- */
/* the shipped YAML's comments                                       */

/* Finds the field at <path> ("defaults.circuit_breaker.failure.count" is
 * circuit_breaker.failure.count) or NULL.
 */
static const struct cfg_field *field_at(const char *path)
{
	const struct cfg_field *fs;
	char full[128];
	size_t n, i;

	if (!strncmp(path, "defaults.", 9) &&
	    (!strncmp(path + 9, "circuit_breaker.", 16) ||
	     !strncmp(path + 9, "headroom.", 9)))
		path += 9;
	fs = cfg_schema(&n);
	for (i = 0; i < n; i++) {
		const char *bp = cfg_block_path(fs[i].block);

		snprintf(full, sizeof(full), "%s%s%s", bp, *bp ? "." : "",
			 fs[i].key);
		if (!strcmp(full, path))
			return &fs[i];
	}
	return NULL;
}

/* Every "key: value  # default D;" line of the shipped YAML (commented out
 * keys included) says the schema's default: D is the table's text, "off"
 * for a 0 that turns a rule off, or the start of the derived wording.
 */
static void test_shipped_yaml(void)
{
	char keys[16][64], path[256], d[64];
	unsigned ind[16], depth = 0, checked = 0, bad = 0, i;
	char *yaml, *line, *next, *p, *k, *dp;
	const struct cfg_field *f;
	size_t pl;
	int w;

	yaml = slurp("haproxy-conf/aoai-spoa.yaml", NULL);
	if (!yaml) {
		tap_ok(0, "the shipped YAML is readable");
		return;
	}
	for (line = yaml; line && *line; line = next) {
		unsigned sp = 0;
		size_t kl;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		for (p = line; *p == ' '; p++)
			sp++;
		if (*p == '#' && p[1] == ' ' && p[2] >= 'a' && p[2] <= 'z')
			p += 2; /* a commented-out key: "# percentage: 50" */
		else if (*p == '#' || *p == '-' || !*p)
			continue;
		for (k = p; (*k >= 'a' && *k <= 'z') || *k == '_'; k++)
			;
		if (*k != ':' || k == p)
			continue;
		kl = (size_t)(k - p);
		while (depth && ind[depth - 1] >= sp)
			depth--;
		if (depth < 16 && kl < 64) {
			memcpy(keys[depth], p, kl);
			keys[depth][kl] = '\0';
			ind[depth++] = sp;
		}
		dp = strstr(k, "# default ");
		if (!dp)
			continue;
		dp += 10;
		for (i = 0; dp[i] && dp[i] != ';' && dp[i] != ',' &&
			    dp[i] != ' ' && i + 1 < sizeof(d);
		     i++)
			d[i] = dp[i];
		d[i] = '\0';
		for (i = 0, pl = 0; i < depth && pl < sizeof(path); i++) {
			w = snprintf(path + pl, sizeof(path) - pl, "%s%s",
				     i ? "." : "", keys[i]);
			pl += w > 0 ? (size_t)w : 0;
		}
		f = field_at(path);
		if (!f) {
			tap_ok(0, "%s: a documented default of no key", path);
			bad++;
			continue;
		}
		checked++;
		if ((f->def && !strcmp(d, f->def)) ||
		    (!strcmp(d, "off") && f->def &&
		     (!strcmp(f->def, "0") || !strcmp(f->def, "0s"))) ||
		    (f->doc_def && !strncmp(f->doc_def, d, strlen(d))))
			continue;
		tap_ok(0, "%s: the YAML says default '%s', the schema '%s'",
		       path, d, f->def ? f->def : f->doc_def);
		bad++;
	}
	free(yaml);
	tap_ok(checked >= 20, "%u documented defaults found", checked);
	tap_is_int(bad, 0, "each is the schema's");
}

int main(int argc, char **argv)
{
	static char table[DOC_MAX];

	if (argc > 1 && !strcmp(argv[1], "--docs")) {
		fwrite(table, 1, docs_table(table, sizeof(table)), stdout);
		return 0;
	}
	test_table();
	test_defaults();
	test_walk();
	test_walk_auth();
	test_docs();
	test_shipped_yaml();
	return tap_done();
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of state snapshots (agent/snapshot.c and the engine's
 * export/import): round trips through a file, deadline arithmetic with
 * injected clocks, and damaged files of every kind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <msgpack.h>

#include "route.h"
#include "snapshot.h"
#include "tap.h"
#include "tcfg.h"

/* Wall clock of the tests: 2023-11-14, in ms. */
#define WALL 1700000000000ULL

/* The shared builder, with what these tests rely on: one fault trips,
 * trips grow to 5 min, server waits are capped at 2 min.
 */
static int snap_backend(struct tcfg *t, const char *name)
{
	int b = add_backend(t, name);

	t->backends[b].breaker.failure_count = 1;
	t->backends[b].breaker.max_trip_duration_ms = 300000;
	t->backends[b].breaker.max_retry_after_ms = 120000;
	return b;
}

/* Backends a..e (c trips for 100 ms, doubling); pool p = a, b, c; pool
 * q = c, d, e.
 */
static struct tcfg *std_cfg(void)
{
	struct tcfg *t = tcfg_new();
	int p, q, i;

	for (i = 0; i < 5; i++) {
		char name[2] = {(char)('a' + i), 0};

		snap_backend(t, name);
	}
	p = add_pool(t, "p");
	q = add_pool(t, "q");
	for (i = 0; i < 3; i++)
		add_member(t, p, i, 1, 1);
	for (i = 2; i < 5; i++)
		add_member(t, q, i, 1, 2);
	t->backends[2].breaker.trip_duration_ms = 100;
	return t;
}

static struct route_engine *engine(const struct tcfg *t, uint64_t now)
{
	struct route_engine *e = route_new(42);

	if (!e || route_apply(e, &t->cfg, now) < 0)
		abort();
	return e;
}

static void learn(struct route_engine *e, const char *backend, int status,
		  int64_t retry_ms, uint64_t now)
{
	struct route_result r = {
		.backend = backend,
		.backend_len = strlen(backend),
		.status = status,
		.retry_after_ms = retry_ms,
		.remaining_requests = -1,
		.remaining_tokens = -1,
		.duration_ms = -1,
	};

	route_learn(e, &r, now);
}

static int bidx(struct route_engine *e, const char *name)
{
	return route_backend_index(e, name, strlen(name));
}

static struct route_backend_info binfo(struct route_engine *e, const char *name,
				       uint64_t now)
{
	struct route_backend_info bi;

	if (route_backend_info(e, bidx(e, name), now, &bi) < 0)
		abort();
	return bi;
}

/* Weight in force of backend <b> in pool <pool>, -1 if not a member;
 * *over tells whether it is an override.
 */
static int member_weight(struct route_engine *e, const char *pool,
			 const char *b, bool *over)
{
	struct route_member_info mi;
	struct route_pool_info pi;
	int p = route_pool_index(e, pool, strlen(pool));
	uint32_t i;

	route_pool_info(e, p, &pi);
	for (i = 0; i < pi.n_members; i++) {
		route_member_info(e, p, i, 0, &mi);
		if (mi.backend == bidx(e, b)) {
			*over = mi.weight_overridden;
			return (int)mi.weight;
		}
	}
	return -1;
}

/* A temporary directory for the files of this program. */
static char tmpdir[64];

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", tmpdir, name);
}

/* The state of engine <e> used by most tests, at monotonic 1000 = WALL:
 * a cooling (429, 60 s), b open by the operator (30 s), c half-open after
 * two fault trips, d disabled, e closed; p/a weight 7, q/d weight 0.
 */
static void std_state(struct route_engine *e)
{
	learn(e, "c", 500, -1, 0);   /* open 100 ms */
	learn(e, "c", 500, -1, 100); /* half-open, the probe fails: 200 ms */
	learn(e, "a", 429, 60000, 1000);
	route_trip(e, bidx(e, "b"), 30000, 1000);
	route_tick(e, 1000); /* c: half-open */
	route_set_disabled(e, bidx(e, "d"), true);
	route_set_weight(e, route_pool_index(e, "p", 1), bidx(e, "a"), 7);
	route_set_weight(e, route_pool_index(e, "q", 1), bidx(e, "d"), 0);
}

/* ---------------------------------------------------------------- */

static void test_round_trip(void)
{
	struct tcfg *t = std_cfg();
	struct route_engine *e1 = engine(t, 0), *e2;
	struct route_backend_info a1, b1, c1, bi;
	struct snapshot_stats st;
	char path[128], err[SNAPSHOT_ERR_MAX], tmp[140];
	struct stat sb;
	bool over = false;
	int rc;

	std_state(e1);
	a1 = binfo(e1, "a", 1000);
	b1 = binfo(e1, "b", 1000);
	c1 = binfo(e1, "c", 1000);
	tap_ok(a1.state == ROUTE_ST_COOLING && b1.state == ROUTE_ST_OPEN &&
		       c1.state == ROUTE_ST_HALF_OPEN &&
		       c1.consecutive_trips == 2 && c1.trip_duration_ms == 400,
	       "setup: a cooling, b open, c half-open after 2 trips (%s, %s, "
	       "%s, %u trips)",
	       route_state_str(a1.state), route_state_str(b1.state),
	       route_state_str(c1.state), c1.consecutive_trips);
	path_of(path, sizeof(path), "state.msgpack");
	rc = snapshot_save(e1, path, 1000, WALL, true, err, sizeof(err));
	tap_ok(rc == 0, "save: %s", rc ? err : "ok");
	memset(&sb, 0, sizeof(sb));
	rc = stat(path, &sb);
	tap_ok(rc == 0 && (sb.st_mode & 07777) == 0600,
	       "the file has mode 0600 (%o)", (unsigned)(sb.st_mode & 07777));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	tap_ok(access(tmp, F_OK) == -1 && errno == ENOENT,
	       "no temporary file left behind");
	c1 = binfo(e1, "c", 1000);

	/* a restart: the monotonic clock starts again at 5, 10 s later */
	e2 = engine(t, 5);
	rc = snapshot_load(e2, path, 5, WALL + 10000, &st, err, sizeof(err));
	tap_ok(rc == 0, "load: %s", rc ? err : "ok");
	tap_is_int(st.backends, 5, "5 backends restored");
	tap_is_int(st.weights, 2, "2 weight overrides restored");
	tap_is_int(st.unknown + st.skipped + st.weights_ignored, 0,
		   "nothing unknown or skipped");
	tap_is_int((long long)st.saved_at_ms, (long long)WALL,
		   "saved_at_ms is the writer's wall clock");
	tap_ok(st.agent[0] && strcmp(st.agent, "?") != 0,
	       "the writer's version is kept: %s", st.agent);

	bi = binfo(e2, "a", 5);
	tap_ok(bi.state == ROUTE_ST_COOLING, "a still cooling");
	tap_is_int((long long)bi.until_ms,
		   (long long)(5 + (a1.until_ms - 1000) - 10000),
		   "a: same wall-clock deadline (jitter included)");
	tap_ok(!strcmp(bi.why, a1.why), "a: why kept (%s)", bi.why);
	bi = binfo(e2, "b", 5);
	tap_ok(bi.state == ROUTE_ST_OPEN && bi.until_ms == 5 + 30000 - 10000,
	       "b: open until 20 s after the restart (%llu)",
	       (unsigned long long)bi.until_ms);
	tap_ok(!strcmp(bi.why, "operator trip 30s"),
	       "b: still an operator trip (%s)", bi.why);
	tap_ok(bi.operator_trip && bi.cause == ROUTE_BY_OPERATOR &&
		       !binfo(e2, "a", 5).operator_trip,
	       "b: the operator_trip flag is restored, a has none");
	bi = binfo(e2, "c", 5);
	tap_ok(bi.state == c1.state &&
		       bi.consecutive_trips == c1.consecutive_trips &&
		       bi.trip_duration_ms == c1.trip_duration_ms,
	       "c: %s, %u trips, next trip %ums (was %s, %u, %u)",
	       route_state_str(bi.state), bi.consecutive_trips,
	       bi.trip_duration_ms, route_state_str(c1.state),
	       c1.consecutive_trips, c1.trip_duration_ms);
	tap_ok(binfo(e2, "d", 5).disabled && !binfo(e2, "e", 5).disabled &&
		       binfo(e2, "e", 5).state == ROUTE_ST_CLOSED,
	       "d disabled, e closed");
	tap_ok(member_weight(e2, "p", "a", &over) == 7 && over,
	       "override p/a = 7 restored");
	tap_ok(member_weight(e2, "q", "d", &over) == 0 && over,
	       "override q/d = 0 restored");
	tap_ok(member_weight(e2, "p", "b", &over) == 1 && !over,
	       "p/b keeps its configured weight");
	tap_is_int((long long)binfo(e2, "a", 5).counters.throttles, 0,
		   "counters are not restored");
	route_free(e2);

	/* written again over the old one */
	rc = snapshot_save(e1, path, 2000, WALL + 1000, false, err,
			   sizeof(err));
	tap_ok(rc == 0, "save over an existing file");
	route_free(e1);
	free(t);
}

/* Deadline arithmetic: passed deadlines, the wall clock going back. */
static void test_deadlines(void)
{
	struct tcfg *t = std_cfg();
	struct route_engine *e1 = engine(t, 0), *e2;
	struct route_backend_info bi;
	char *buf = NULL, err[SNAPSHOT_ERR_MAX];
	size_t len = 0;
	int rc;

	std_state(e1);
	rc = snapshot_encode(e1, 1000, WALL, &buf, &len, err, sizeof(err));
	tap_ok(rc == 0 && len > 0, "encode: %zu bytes", len);

	/* 100 s later: both deadlines passed while the agent was down */
	e2 = engine(t, 7);
	rc = snapshot_decode(e2, buf, len, 7, WALL + 100000, NULL, err,
			     sizeof(err));
	tap_ok(rc == 0, "decode 100 s later");
	bi = binfo(e2, "a", 7);
	tap_ok(bi.state == ROUTE_ST_HALF_OPEN &&
		       !strcmp(bi.why, "cooldown over"),
	       "a: cooldown passed: half-open (%s: %s)",
	       route_state_str(bi.state), bi.why);
	bi = binfo(e2, "b", 7);
	tap_ok(bi.state == ROUTE_ST_HALF_OPEN && !strcmp(bi.why, "trip over"),
	       "b: trip passed: half-open (%s)", bi.why);
	bi = binfo(e2, "c", 7);
	tap_ok(bi.consecutive_trips == 2 && bi.trip_duration_ms == 400,
	       "c: trip growth kept (%u trips, next %ums)",
	       bi.consecutive_trips, bi.trip_duration_ms);
	route_free(e2);

	/* exactly at the deadline: passed */
	e2 = engine(t, 0);
	rc = snapshot_decode(e2, buf, len, 0, WALL + 30000, NULL, err,
			     sizeof(err));
	tap_ok(rc == 0 && binfo(e2, "b", 0).state == ROUTE_ST_HALF_OPEN,
	       "b: deadline reached exactly: half-open");
	route_free(e2);
	e2 = engine(t, 0);
	rc = snapshot_decode(e2, buf, len, 0, WALL + 29999, NULL, err,
			     sizeof(err));
	bi = binfo(e2, "b", 0);
	tap_ok(rc == 0 && bi.state == ROUTE_ST_OPEN && bi.until_ms == 1,
	       "b: 1 ms before: open for 1 ms (%llu)",
	       (unsigned long long)bi.until_ms);
	route_free(e2);

	/* the wall clock went back 10 days: capped at 24 h */
	e2 = engine(t, 50);
	rc = snapshot_decode(e2, buf, len, 50, WALL - 864000000ULL, NULL, err,
			     sizeof(err));
	bi = binfo(e2, "b", 50);
	tap_ok(rc == 0 && bi.state == ROUTE_ST_OPEN &&
		       bi.until_ms == 50 + ROUTE_WAIT_CEIL_MS,
	       "wall clock 10 days back: open at most 24 h (%llu)",
	       (unsigned long long)bi.until_ms);
	route_free(e2);
	free(buf);
	route_free(e1);
	free(t);
}

/* A configuration that changed between the two runs. */
static void test_changed_cfg(void)
{
	struct tcfg *t = std_cfg(), *t2 = tcfg_new();
	struct route_engine *e1 = engine(t, 0), *e2;
	struct snapshot_stats st;
	char *buf = NULL, err[SNAPSHOT_ERR_MAX];
	size_t len = 0;
	bool over = false;
	int p, rc;

	std_state(e1);
	snapshot_encode(e1, 1000, WALL, &buf, &len, err, sizeof(err));
	/* b and d gone, z new, q is z and c */
	snap_backend(t2, "a");
	snap_backend(t2, "c");
	snap_backend(t2, "z");
	p = add_pool(t2, "p");
	add_member(t2, p, 0, 1, 1);
	add_member(t2, p, 1, 1, 1);
	p = add_pool(t2, "q");
	add_member(t2, p, 2, 1, 1);
	add_member(t2, p, 1, 1, 1);
	e2 = engine(t2, 0);
	rc = snapshot_decode(e2, buf, len, 0, WALL, &st, err, sizeof(err));
	tap_ok(rc == 0, "decode into a changed configuration");
	tap_ok(st.backends == 2 && st.unknown == 3,
	       "2 restored, 3 unknown ignored (%u, %u)", st.backends,
	       st.unknown);
	tap_ok(st.weights == 1 && st.weights_ignored == 1,
	       "override p/a restored, q/d ignored (%u, %u)", st.weights,
	       st.weights_ignored);
	tap_ok(binfo(e2, "a", 0).state == ROUTE_ST_COOLING &&
		       binfo(e2, "z", 0).state == ROUTE_ST_CLOSED,
	       "a cooling, the new z closed");
	tap_ok(member_weight(e2, "p", "a", &over) == 7 && over,
	       "p/a = 7 follows the names");
	route_free(e2);
	free(buf);
	route_free(e1);
	free(t);
	free(t2);
}

/* The engine side: restore preconditions and the saved generation. */
static void test_engine_api(void)
{
	struct tcfg *t = std_cfg();
	struct route_engine *e = engine(t, 0);
	struct route_saved s;
	struct route_decision d;
	uint64_t g;

	memset(&s, 0, sizeof(s));
	s.state = ROUTE_ST_OPEN;
	s.until_wall_ms = WALL + 5000;
	snprintf(s.why, sizeof(s.why), "5 faults in 10s, open 5s");
	tap_is_int(route_restore_backend(e, "nope", 4, &s, 0, WALL), -1,
		   "restore: unknown name refused");
	s.state = (enum route_state)42;
	tap_is_int(route_restore_backend(e, "a", 1, &s, 0, WALL), -1,
		   "restore: invalid state refused");
	s.state = ROUTE_ST_OPEN;
	s.consecutive_trips = 4000000000u;
	tap_is_int(route_restore_backend(e, "a", 1, &s, 0, WALL), 0,
		   "restore: open");
	tap_ok(binfo(e, "a", 0).consecutive_trips == ROUTE_TRIPS_RESTORE_MAX,
	       "restore: trip growth capped at %u", ROUTE_TRIPS_RESTORE_MAX);
	tap_is_int(route_restore_backend(e, "a", 1, &s, 0, WALL), -1,
		   "restore: a backend that is not closed keeps its state");
	s.state = ROUTE_ST_HALF_OPEN;
	s.consecutive_trips = 1;
	tap_is_int(route_restore_backend(e, "b", 1, &s, 0, WALL), 0,
		   "restore: closed -> half-open");
	route_decide(e, "p", 1, NULL, 0, 1, &d);
	tap_ok(d.reason == ROUTE_PROBE && d.backend == bidx(e, "b"),
	       "restored half-open backend takes a probe");

	g = route_saved_gen(e);
	learn(e, "e", 200, -1, 2);
	route_decide(e, "q", 1, NULL, 0, 2, &d);
	route_decide(e, "q", 1, "k", 1, 2, &d);
	tap_ok(route_saved_gen(e) == g,
	       "saved generation: still after results and decisions");
	route_set_disabled(e, bidx(e, "e"), true);
	tap_ok(route_saved_gen(e) > g, "saved generation moves: disabled");
	g = route_saved_gen(e);
	route_set_weight(e, 0, bidx(e, "a"), 3);
	tap_ok(route_saved_gen(e) > g, "saved generation moves: weight");
	g = route_saved_gen(e);
	learn(e, "c", 429, 1000, 3);
	tap_ok(route_saved_gen(e) > g, "saved generation moves: cooldown");
	g = route_saved_gen(e);
	route_tick(e, 5000);
	tap_ok(route_saved_gen(e) > g,
	       "saved generation moves: a deadline passes");
	route_free(e);
	free(t);
}

/* ---------------------------------------------------------------- */
/* damaged files                                                     */

/* Decodes <len> bytes into a fresh engine; returns the result and checks
 * that a failure left the engine untouched.
 */
static int try_decode(const struct tcfg *t, const char *buf, size_t len,
		      char *err, size_t err_len, int *touched)
{
	struct route_engine *e = engine(t, 0);
	uint64_t g = route_saved_gen(e);
	int rc;

	rc = snapshot_decode(e, buf, len, 0, WALL, NULL, err, err_len);
	if (rc < 0 && route_saved_gen(e) != g)
		(*touched)++;
	route_free(e);
	return rc;
}

static uint64_t rnd_state = 0x5eed;

static uint64_t rnd(void)
{
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void test_truncated_and_flipped(void)
{
	struct tcfg *t = std_cfg();
	struct route_engine *e1 = engine(t, 0);
	char *buf = NULL, *copy, err[SNAPSHOT_ERR_MAX];
	size_t len = 0, i;
	int accepted = 0, touched = 0, no_reason = 0;

	std_state(e1);
	snapshot_encode(e1, 1000, WALL, &buf, &len, err, sizeof(err));
	for (i = 0; i < len; i++) {
		err[0] = '\0';
		accepted +=
			try_decode(t, buf, i, err, sizeof(err), &touched) == 0;
		no_reason += !err[0];
	}
	tap_ok(accepted == 0 && no_reason == 0,
	       "truncated at each of %zu offsets: rejected with a reason (%d "
	       "accepted)",
	       len, accepted);
	copy = malloc(len);
	if (!copy)
		abort();
	accepted = 0;
	for (i = 0; i < len; i++) {
		memcpy(copy, buf, len);
		copy[i] ^= (char)(1u << (rnd() % 8));
		accepted += try_decode(t, copy, len, err, sizeof(err),
				       &touched) == 0;
	}
	tap_ok(accepted == 0,
	       "one bit flipped at each offset: rejected (%d "
	       "accepted)",
	       accepted);
	tap_is_int(touched, 0, "a rejected file changes nothing");
	tap_ok(try_decode(t, buf, len, err, sizeof(err), &touched) == 0,
	       "the intact file is accepted");
	free(copy);
	free(buf);
	route_free(e1);
	free(t);
}

static void test_random_bytes(void)
{
	struct tcfg *t = std_cfg();
	char buf[600], err[SNAPSHOT_ERR_MAX];
	int i, accepted = 0, touched = 0;
	size_t len, j;

	for (i = 0; i < 20000; i++) {
		len = rnd() % sizeof(buf);
		for (j = 0; j < len; j++)
			buf[j] = (char)rnd();
		/* half of them start like a map, to get further in */
		if (len && i % 2)
			buf[0] = (char)(0x80 | (rnd() % 16));
		accepted += try_decode(t, buf, len, err, sizeof(err),
				       &touched) == 0;
	}
	tap_ok(accepted == 0 && touched == 0,
	       "20000 random buffers rejected, nothing changed");
	free(t);
}

/* A msgpack writer for hand-made files. */
struct mk {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void mk_init(struct mk *m)
{
	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static void mk_str(struct mk *m, const char *s)
{
	msgpack_pack_str(&m->pk, strlen(s));
	msgpack_pack_str_body(&m->pk, s, strlen(s));
}

static void mk_kv_str(struct mk *m, const char *k, const char *v)
{
	mk_str(m, k);
	mk_str(m, v);
}

static void mk_kv_u64(struct mk *m, const char *k, uint64_t v)
{
	mk_str(m, k);
	msgpack_pack_uint64(&m->pk, v);
}

static void mk_header(struct mk *m, uint64_t version, uint64_t nb, uint64_t nw)
{
	msgpack_pack_map(&m->pk, 6);
	mk_kv_str(m, "format", "aoai-spoa-state");
	mk_kv_u64(m, "version", version);
	mk_kv_str(m, "agent", "9.9-test");
	mk_kv_u64(m, "saved_at_ms", WALL);
	mk_kv_u64(m, "backends", nb);
	mk_kv_u64(m, "weights", nw);
}

/* A backend entry; <state> NULL leaves the key out. */
static void mk_backend(struct mk *m, const char *name, const char *state,
		       uint64_t until)
{
	msgpack_pack_map(&m->pk, state ? 5 : 4);
	mk_kv_str(m, "name", name);
	if (state)
		mk_kv_str(m, "state", state);
	mk_kv_u64(m, "until_ms", until);
	mk_kv_u64(m, "trips", 0);
	mk_str(m, "disabled");
	msgpack_pack_false(&m->pk);
}

static void mk_trailer(struct mk *m)
{
	msgpack_pack_fix_uint64(&m->pk,
				snapshot_checksum(m->sb.data, m->sb.size));
}

/* Decodes what <m> holds; returns the result, the reason in <err>. */
static int mk_decode(const struct tcfg *t, struct mk *m, char *err,
		     size_t err_len, int *touched)
{
	int rc = try_decode(t, m->sb.data, m->sb.size, err, err_len, touched);

	msgpack_sbuffer_destroy(&m->sb);
	return rc;
}

static void test_crafted(void)
{
	struct tcfg *t = std_cfg();
	char err[SNAPSHOT_ERR_MAX], *big;
	struct snapshot_stats st;
	struct route_engine *e;
	int touched = 0, rc;
	struct mk m;

	mk_init(&m);
	mk_header(&m, 1, 1, 0);
	mk_backend(&m, "a", "cooling", WALL + 5000);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc == 0, "hand-made file accepted: %s", rc ? err : "ok");

	mk_init(&m);
	mk_header(&m, 1, 3, 0);
	mk_backend(&m, "a", "closed", 0);
	mk_backend(&m, "a", "open", WALL + 5000);
	mk_backend(&m, "b", "open", WALL + 5000);
	mk_trailer(&m);
	e = engine(t, 0);
	rc = snapshot_decode(e, m.sb.data, m.sb.size, 0, WALL, &st, err,
			     sizeof(err));
	tap_ok(rc == 0 && st.backends == 2 && st.skipped == 1 &&
		       binfo(e, "a", 0).state == ROUTE_ST_CLOSED &&
		       binfo(e, "b", 0).state == ROUTE_ST_OPEN,
	       "a name listed twice: the first entry wins (%u restored, %u "
	       "skipped)",
	       st.backends, st.skipped);
	route_free(e);
	msgpack_sbuffer_destroy(&m.sb);

	/* "by" absent (files written before it): the reason text decides */
	mk_init(&m);
	mk_header(&m, 1, 2, 0);
	msgpack_pack_map(&m.pk, 6);
	mk_kv_str(&m, "name", "a");
	mk_kv_str(&m, "state", "open");
	mk_kv_u64(&m, "until_ms", WALL + 5000);
	mk_kv_u64(&m, "trips", 0);
	mk_str(&m, "disabled");
	msgpack_pack_false(&m.pk);
	mk_kv_str(&m, "why", "operator trip 30s");
	msgpack_pack_map(&m.pk, 7);
	mk_kv_str(&m, "name", "b");
	mk_kv_str(&m, "state", "open");
	mk_kv_str(&m, "by", "breaker");
	mk_kv_u64(&m, "until_ms", WALL + 5000);
	mk_kv_u64(&m, "trips", 0);
	mk_str(&m, "disabled");
	msgpack_pack_false(&m.pk);
	mk_kv_str(&m, "why", "operator trip 30s");
	mk_trailer(&m);
	e = engine(t, 0);
	rc = snapshot_decode(e, m.sb.data, m.sb.size, 0, WALL, &st, err,
			     sizeof(err));
	tap_ok(rc == 0 && binfo(e, "a", 0).operator_trip &&
		       !binfo(e, "b", 0).operator_trip,
	       "no 'by': an operator's reason is an operator trip; 'by' "
	       "wins over the text (%s)",
	       rc ? err : "ok");
	route_free(e);
	msgpack_sbuffer_destroy(&m.sb);

	mk_init(&m);
	mk_header(&m, 2, 1, 0);
	mk_backend(&m, "a", "cooling", WALL + 5000);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "unsupported version 2") &&
		       strstr(err, "9.9-test"),
	       "wrong version: %s", err);

	mk_init(&m);
	msgpack_pack_map(&m.pk, 1);
	mk_kv_str(&m, "format", "something-else");
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "not an aoai-spoa state file"),
	       "another format: %s", err);

	mk_init(&m);
	mk_header(&m, 1, 1, 0);
	mk_backend(&m, "a", "melting", 0);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "unknown state"), "bad state: %s", err);

	mk_init(&m);
	mk_header(&m, 1, 1, 0);
	mk_backend(&m, "a", NULL, 0);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "'state' missing"), "missing key: %s",
	       err);

	mk_init(&m);
	mk_header(&m, 1, 2, 0);
	mk_backend(&m, "a", "open", WALL + 5000);
	mk_backend(&m,
		   "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		   "bbbbbbbb",
		   "open", 0);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "backend entry 2"),
	       "name too long, in the second entry: %s", err);

	mk_init(&m);
	mk_header(&m, 1, 0, 1);
	msgpack_pack_map(&m.pk, 3);
	mk_kv_str(&m, "pool", "p");
	mk_kv_str(&m, "backend", "a");
	mk_kv_u64(&m, "weight", 5000);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "weight entry 1"), "weight 5000: %s", err);

	mk_init(&m);
	mk_header(&m, 1, 2, 0);
	mk_backend(&m, "a", "open", WALL + 5000);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0, "fewer entries than announced: %s", err);

	mk_init(&m);
	mk_header(&m, 1, 0, 0);
	mk_backend(&m, "a", "open", WALL + 5000);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "after the last entry"),
	       "more entries than announced: %s", err);

	mk_init(&m);
	mk_header(&m, 1, 1000, 0);
	mk_backend(&m, "a", "open", WALL + 5000);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "announces"),
	       "1000 entries announced in a few bytes: %s", err);

	mk_init(&m);
	mk_header(&m, 1, 5000, 0);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "'backends' invalid"),
	       "more backends than a configuration may have: %s", err);

	/* huge containers claimed: an array32 / map32 of 2^32 - 1 items */
	mk_init(&m);
	mk_header(&m, 1, 1, 0);
	msgpack_sbuffer_write(&m.sb, "\xdd\xff\xff\xff\xff", 5);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "more than"),
	       "an entry claiming a 4-billion-item array: %s", err);
	mk_init(&m);
	msgpack_sbuffer_write(&m.sb, "\xdf\x7f\xff\xff\xff", 5);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "more than"),
	       "a header claiming a 2-billion-pair map: %s", err);
	mk_init(&m);
	msgpack_pack_map(&m.pk, 2);
	mk_kv_str(&m, "format", "aoai-spoa-state");
	mk_str(&m, "x");
	msgpack_sbuffer_write(&m.sb, "\xdb\xff\xff\xff\xf0", 5);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0 && strstr(err, "truncated"),
	       "a 4 GiB string claimed in the header: %s", err);
	mk_init(&m);
	mk_header(&m, 1, 1, 0);
	/* 60 nested arrays: within the item limit, deeper than msgpack-c */
	msgpack_sbuffer_write(&m.sb,
			      "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
			      "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
			      "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
			      "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
			      "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91"
			      "\x91\x91\x91\x91\x91\x91\x91\x91\x91\xc0",
			      60);
	mk_trailer(&m);
	rc = mk_decode(t, &m, err, sizeof(err), &touched);
	tap_ok(rc < 0, "60 nested arrays: rejected (%s)", err);
	tap_is_int(touched, 0, "hand-made bad files change nothing");

	big = calloc(1, SNAPSHOT_FILE_MAX + 1);
	if (!big)
		abort();
	rc = try_decode(t, big, SNAPSHOT_FILE_MAX + 1, err, sizeof(err),
			&touched);
	tap_ok(rc < 0 && strstr(err, "too large"), "4 MiB + 1: %s", err);
	free(big);
	free(t);
}

static void test_files(void)
{
	struct tcfg *t = std_cfg();
	struct route_engine *e = engine(t, 0);
	char path[128], err[SNAPSHOT_ERR_MAX];
	int fd, rc;

	path_of(path, sizeof(path), "none.msgpack");
	rc = snapshot_load(e, path, 0, WALL, NULL, err, sizeof(err));
	tap_is_int(rc, 1, "load: a missing file is not an error");
	rc = snapshot_load(e, tmpdir, 0, WALL, NULL, err, sizeof(err));
	tap_ok(rc < 0 && strstr(err, "not a regular file"), "load: %s", err);
	path_of(path, sizeof(path), "huge.msgpack");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = fd >= 0 && ftruncate(fd, 5 * 1024 * 1024) == 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	rc = rc ? rc : snapshot_load(e, path, 0, WALL, NULL, err, sizeof(err));
	tap_ok(rc < 0 && strstr(err, "too large"), "load 5 MiB: %s", err);
	path_of(path, sizeof(path), "garbage.msgpack");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = fd >= 0 && write(fd, "garbage\n", 8) == 8 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	rc = rc ? rc : snapshot_load(e, path, 0, WALL, NULL, err, sizeof(err));
	tap_ok(rc < 0 && err[0], "load garbage: %s", err);
	path_of(path, sizeof(path), "no-such-dir/state.msgpack");
	rc = snapshot_save(e, path, 0, WALL, true, err, sizeof(err));
	tap_ok(rc < 0 && strstr(err, "cannot create"), "save: %s", err);
	route_free(e);
	free(t);
}

/* Removes the files of this program and its directory. */
static void cleanup(void)
{
	static const char *const names[] = {"state.msgpack",
					    "state.msgpack.tmp", "huge.msgpack",
					    "garbage.msgpack"};
	char path[128];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_of(path, sizeof(path), names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_snapshot.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_round_trip();
	test_deadlines();
	test_changed_cfg();
	test_engine_api();
	test_truncated_and_flipped();
	test_random_bytes();
	test_crafted();
	test_files();
	cleanup();
	return tap_done();
}

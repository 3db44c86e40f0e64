/* SPDX-License-Identifier: Apache-2.0 */
/* Per-decision cost of the hot path, without I/O (bench.py).
 *
 *   decide-bench [-m full|codec] [-s POOL_SIZE] [-k] [-t] ITERATIONS
 *
 * Does ITERATIONS times what conn.c does for one NOTIFY, on frames built
 * once in memory (64 of them, frame-ids 1..64, keys differing):
 *
 *   full   spop_frame_extract(), then spop_frame_begin() of the ACK,
 *          spoa_notify() (decode the aoai-route message, route_decide() in
 *          a pool of POOL_SIZE members, encode the set-var actions) and
 *          spop_frame_end(): the agent's whole per-request work.
 *   codec  the codec alone: extract the frame, read the three arguments of
 *          the message as spoa.c does, and encode an ACK with two set-var
 *          actions (backend, reason); no routing.
 *
 * -k: the message carries a session key (affinity); without, key is NULL
 *     (weighted round-robin). Members have weights 3, 1, 2, 3, 1, 2...
 * -t: times the loop (CLOCK_MONOTONIC) and prints ns per decision.
 *
 * bench.py runs it under callgrind with two iteration counts and divides
 * the difference of instructions by the difference of iterations, so the
 * start-up (YAML parsing, engine set-up) cancels out. Prints one line
 * "RESULT ..." and exits 0, or 1 when a decision is not the expected one.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core-t.h"
#include "cfg.h"
#include "clock.h"
#include "log.h"
#include "route.h"
#include "spoa.h"
#include "spop.h"

#define BENCH_FRAMES   64
#define BENCH_FRAME_SZ 256
#define BENCH_OUT_SZ   1024

enum bench_mode {
	BENCH_FULL,
	BENCH_CODEC,
};

static char frames[BENCH_FRAMES][BENCH_FRAME_SZ];
static size_t frame_len[BENCH_FRAMES];
/* Output buffer; volatile sink so the compiler keeps every encoding. */
static char out[BENCH_OUT_SZ];
static volatile size_t sink;

static void bench_cfg_err(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "decide-bench: %s\n", msg);
}

static void die(const char *what)
{
	fprintf(stderr, "decide-bench: %s\n", what);
	exit(1);
}

/* A configuration with one pool "chat" of <n> members b0..b<n-1>. */
static struct cfg *bench_cfg(unsigned n)
{
	size_t size = 256 + (size_t)n * 96, len = 0;
	char *buf = malloc(size);
	struct cfg *cfg;
	unsigned i;
	int w;

	if (!buf)
		die("out of memory");
	w = snprintf(buf, size,
		     "agent: {log_level: err}\n"
		     "listen: [tcp://127.0.0.1:1]\nbackends:\n");
	len += (size_t)w;
	for (i = 0; i < n; i++) {
		w = snprintf(buf + len, size - len, "  - name: region-%u\n", i);
		len += (size_t)w;
	}
	w = snprintf(buf + len, size - len,
		     "pools:\n  - name: chat\n"
		     "    members:\n");
	len += (size_t)w;
	for (i = 0; i < n; i++) {
		w = snprintf(buf + len, size - len,
			     "      - {backend: region-%u, weight: %u}\n", i,
			     (unsigned[]){3, 1, 2}[i % 3]);
		len += (size_t)w;
	}
	if (len >= size)
		die("configuration buffer too small");
	cfg = cfg_parse("decide-bench.yaml", buf, len, bench_cfg_err, NULL);
	free(buf);
	if (!cfg)
		die("configuration rejected");
	return cfg;
}

static int put_str(char **p, char *end, const char *name, const char *v)
{
	struct spop_data d = {.type = SPOP_DATA_STR};

	d.u.str.ptr = v;
	d.u.str.len = strlen(v);
	return spop_encode_kv(p, end, name, &d);
}

/* The NOTIFYs HAProxy would send: aoai-route with pool, key, model. */
static void bench_frames(bool with_key)
{
	static const struct spop_data null = {.type = SPOP_DATA_NULL};
	unsigned i;

	for (i = 0; i < BENCH_FRAMES; i++) {
		char *p = frames[i], *end = frames[i] + BENCH_FRAME_SZ;
		char *start, key[32];

		snprintf(key, sizeof(key), "sess-%08x", i * 2654435761u);
		start = spop_frame_begin(&p, end, SPOP_FRM_NOTIFY, SPOP_FL_FIN,
					 i / 8, i + 1);
		if (!start || spop_encode_bytes(&p, end, "aoai-route", 10) < 0)
			die("frame too small");
		*p++ = 3;
		if (put_str(&p, end, "pool", "chat") < 0 ||
		    (with_key ? put_str(&p, end, "key", key)
			      : spop_encode_kv(&p, end, "key", &null)) < 0 ||
		    put_str(&p, end, "model", "gpt-4o") < 0)
			die("frame too small");
		frame_len[i] = spop_frame_end(start, p);
	}
}

/* conn_notify() without the connection: one NOTIFY in, one ACK out. */
static size_t bench_full(struct core *a, const char *buf, size_t len)
{
	struct spop_frame f;
	char *p = out, *end = out + sizeof(out), *start;

	if (spop_frame_extract(buf, len, SPOP_DEFAULT_FRAME_SIZE, &f) <= 0)
		die("frame not extracted");
	start = spop_frame_begin(&p, end, SPOP_FRM_ACK, SPOP_FL_FIN,
				 f.stream_id, f.frame_id);
	if (!start || spoa_notify(&a->spoa, f.payload, f.len, &p, end) < 0)
		die("spoa_notify failed");
	return spop_frame_end(start, p);
}

/* As spoa.c encodes its string variables. */
static inline int set_var_str(char **p, char *end, const char *name,
			      size_t nlen, const char *v, size_t vlen)
{
	return spop_encode_set_var_str(p, end, SPOP_SCOPE_TXN, name, nlen, v,
				       vlen);
}

/* The codec's share: what spoa.c does minus route_decide(). */
static size_t bench_codec(const char *buf, size_t len)
{
	const char *pool = "", *key = NULL;
	size_t pool_len = 0, key_len = 0;
	struct spop_msg_iter it;
	struct spop_frame f;
	struct spop_msg m;
	struct spop_kv kv;
	char *p = out, *end = out + sizeof(out), *start;
	int r;

	if (spop_frame_extract(buf, len, SPOP_DEFAULT_FRAME_SIZE, &f) <= 0)
		die("frame not extracted");
	start = spop_frame_begin(&p, end, SPOP_FRM_ACK, SPOP_FL_FIN,
				 f.stream_id, f.frame_id);
	if (!start)
		die("no room for the ACK");
	spop_msg_iter_init(&it, f.payload, f.len);
	while ((r = spop_msg_next(&it, &m)) == 1) {
		if (!spop_name_eq(m.name, m.name_len, "aoai-route"))
			continue;
		while ((r = spop_arg_next(&it, &kv)) == 1) {
			bool text = kv.val.type == SPOP_DATA_STR ||
				    kv.val.type == SPOP_DATA_BIN;

			if (spop_name_eq(kv.name, kv.name_len, "pool") &&
			    text) {
				pool = kv.val.u.str.ptr;
				pool_len = kv.val.u.str.len;
			} else if (spop_name_eq(kv.name, kv.name_len, "key") &&
				   text) {
				key = kv.val.u.str.ptr;
				key_len = kv.val.u.str.len;
			}
		}
		if (r < 0)
			die("malformed message");
	}
	if (r < 0 || !pool_len)
		die("malformed NOTIFY");
	sink = (size_t)(unsigned char)pool[0] + (key ? key_len : 0);
	if (set_var_str(&p, end, "backend", 7, "eastus", 6) < 0 ||
	    set_var_str(&p, end, "reason", 6, "weighted", 8) < 0)
		die("no room for the actions");
	return spop_frame_end(start, p);
}

/* The last ACK must name a backend: the decision was a real one. */
static void bench_check_ack(size_t len)
{
	struct spop_frame f;

	if (spop_frame_extract(out, len, SPOP_DEFAULT_FRAME_SIZE, &f) <= 0 ||
	    f.type != SPOP_FRM_ACK)
		die("the ACK does not decode");
	if (!memmem(f.payload, f.len,
		    "\x07"
		    "backend",
		    8))
		die("the ACK sets no backend");
}

static void usage(void)
{
	fprintf(stderr, "usage: decide-bench [-m full|codec] [-s POOL_SIZE] "
			"[-k] [-t] ITERATIONS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	enum bench_mode mode = BENCH_FULL;
	struct timespec t0, t1;
	struct core a;
	unsigned long n_members = 3;
	unsigned long long iters, i;
	bool with_key = false, timed = false;
	size_t len = 0;
	char *end;
	int o;

	while ((o = getopt(argc, argv, "m:s:kt")) != -1) {
		switch (o) {
		case 'm':
			if (strcmp(optarg, "full") == 0)
				mode = BENCH_FULL;
			else if (strcmp(optarg, "codec") == 0)
				mode = BENCH_CODEC;
			else
				usage();
			break;
		case 's':
			n_members = strtoul(optarg, &end, 10);
			if (*end || !n_members || n_members > CFG_MEMBERS_MAX)
				usage();
			break;
		case 'k':
			with_key = true;
			break;
		case 't':
			timed = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	iters = strtoull(argv[optind], &end, 10);
	if (*end)
		usage();

	log_init(LOG_ERR);
	memset(&a, 0, sizeof(a));
	clock_now.ms = 1000000;
	clock_now.wall_s = 1700000000;
	if (mode == BENCH_FULL) {
		a.cfg = bench_cfg((unsigned)n_members);
		a.route = a.spoa.route = route_new(1);
		if (!a.route || route_apply(a.route, a.cfg, clock_now.ms) < 0)
			die("routing engine set-up failed");
	}
	bench_frames(with_key);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < iters; i++) {
		unsigned k = (unsigned)(i % BENCH_FRAMES);

		if (mode == BENCH_FULL)
			len = bench_full(&a, frames[k], frame_len[k]);
		else
			len = bench_codec(frames[k], frame_len[k]);
		sink = len;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (iters)
		bench_check_ack(len);

	printf("RESULT mode=%s pool=%lu keys=%d iterations=%llu",
	       mode == BENCH_FULL ? "full" : "codec",
	       mode == BENCH_FULL ? n_members : 0, with_key ? 1 : 0, iters);
	if (timed && iters) {
		double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 +
			    (double)(t1.tv_nsec - t0.tv_nsec);

		printf(" ns_per_op=%.1f ops_per_s=%.0f", ns / (double)iters,
		       (double)iters * 1e9 / ns);
	}
	printf("\n");
	if (mode == BENCH_FULL) {
		route_free(a.route);
		cfg_free(a.cfg);
	}
	return 0;
}

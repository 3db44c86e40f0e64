/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the LIST-OF-MESSAGES iterator of a NOTIFY payload.
 *
 * Input layout: byte 0 drives how many arguments of each message the
 * second pass reads before moving on (the iterator must skip the rest);
 * the rest is the payload.
 *
 * Invariants checked:
 *  - every pointer handed out lies inside the payload (ASan: the payload
 *    is an exact-size heap copy);
 *  - round trip: the complete messages decoded are re-encoded, and decoding
 *    that gives the same messages and arguments; the re-encoding has the
 *    same length as the bytes it came from (varints are canonical) and
 *    encoding it again gives the same bytes;
 *  - skipping arguments finds the same messages as reading them all;
 *  - spoa_notify() (the agent's handler, with a real routing engine)
 *    either fails or writes a well-formed, non-empty LIST-OF-ACTIONS.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "clock.h"
#include "log.h"
#include "route.h"
#include "spoa.h"
#include "spop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One decoded message: its name and a slice of the argument array. */
struct rec_msg {
	const char *name;
	size_t name_len;
	unsigned nb_args;
	size_t first_arg; /* index into the argument array */
};

struct rec {
	struct rec_msg *msgs;
	size_t n_msgs;
	struct spop_kv *args;
	size_t n_args;
	size_t used; /* payload bytes of the complete messages */
	bool failed; /* the iterator answered -1 */
};

/* Decodes every complete message of <p, len> into <r> (arrays sized by
 * the caller: a message takes at least 2 bytes, an argument at least 2).
 */
static void rec_decode(struct rec *r, const char *p, size_t len)
{
	struct spop_msg_iter it;
	struct spop_msg m;
	struct spop_kv kv;
	int ret;

	r->n_msgs = r->n_args = r->used = 0;
	r->failed = false;
	spop_msg_iter_init(&it, p, len);
	while ((ret = spop_msg_next(&it, &m)) == 1) {
		struct rec_msg *rm = &r->msgs[r->n_msgs];
		size_t first = r->n_args;
		unsigned got = 0;

		assert(m.name >= p && m.name + m.name_len <= p + len);
		assert(m.nb_args <= 255);
		rm->name = m.name;
		rm->name_len = m.name_len;
		rm->nb_args = m.nb_args;
		rm->first_arg = first;
		while ((ret = spop_arg_next(&it, &kv)) == 1) {
			assert(kv.name >= p && kv.name + kv.name_len <= it.end);
			if (kv.val.type == SPOP_DATA_STR ||
			    kv.val.type == SPOP_DATA_BIN)
				assert(kv.val.u.str.ptr >= p &&
				       kv.val.u.str.ptr + kv.val.u.str.len <=
					       p + len);
			r->args[r->n_args++] = kv;
			got++;
		}
		if (ret < 0) {
			r->n_args = first; /* drop the partial message */
			r->failed = true;
			return;
		}
		assert(got == m.nb_args);
		assert(it.args_left == 0);
		r->n_msgs++;
		r->used = (size_t)(it.p - p);
	}
	assert(ret == 0 || ret == -1);
	if (ret < 0)
		r->failed = true;
	else
		assert(it.p == it.end && r->used == len);
}

static void encode_rec(const struct rec *r, char **p, char *end)
{
	size_t i, j;

	for (i = 0; i < r->n_msgs; i++) {
		const struct rec_msg *m = &r->msgs[i];

		assert(spop_encode_bytes(p, end, m->name, m->name_len) >= 0);
		assert(*p < end);
		*(*p)++ = (char)m->nb_args;
		for (j = 0; j < m->nb_args; j++) {
			const struct spop_kv *kv = &r->args[m->first_arg + j];

			assert(spop_encode_bytes(p, end, kv->name,
						 kv->name_len) >= 0);
			assert(spop_encode_data(p, end, &kv->val) >= 0);
		}
	}
}

static bool data_eq(const struct spop_data *a, const struct spop_data *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case SPOP_DATA_NULL:
		return true;
	case SPOP_DATA_BOOL:
		return a->u.b == b->u.b;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		return a->u.sint == b->u.sint;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		return a->u.uint == b->u.uint;
	case SPOP_DATA_IPV4:
		return memcmp(a->u.ipv4, b->u.ipv4, 4) == 0;
	case SPOP_DATA_IPV6:
		return memcmp(a->u.ipv6, b->u.ipv6, 16) == 0;
	case SPOP_DATA_STR:
	case SPOP_DATA_BIN:
		return a->u.str.len == b->u.str.len &&
		       memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0;
	}
	return false;
}

static void rec_assert_eq(const struct rec *a, const struct rec *b)
{
	size_t i;

	assert(a->n_msgs == b->n_msgs && a->n_args == b->n_args);
	for (i = 0; i < a->n_msgs; i++) {
		const struct rec_msg *x = &a->msgs[i], *y = &b->msgs[i];

		assert(x->name_len == y->name_len);
		assert(memcmp(x->name, y->name, x->name_len) == 0);
		assert(x->nb_args == y->nb_args);
		assert(x->first_arg == y->first_arg);
	}
	for (i = 0; i < a->n_args; i++) {
		const struct spop_kv *x = &a->args[i], *y = &b->args[i];

		assert(x->name_len == y->name_len);
		assert(memcmp(x->name, y->name, x->name_len) == 0);
		assert(data_eq(&x->val, &y->val));
	}
}

/* Second pass: reads only some arguments of each message. The messages
 * found must be the first ones of <full>.
 */
static void skip_pass(const struct rec *full, const char *p, size_t len,
		      uint8_t pattern)
{
	struct spop_msg_iter it;
	struct spop_msg m;
	struct spop_kv kv;
	size_t i = 0;
	int ret;

	spop_msg_iter_init(&it, p, len);
	while ((ret = spop_msg_next(&it, &m)) == 1) {
		unsigned want = (pattern >> (i % 8)) & 1 ? m.nb_args / 2 : 0;
		unsigned k;

		if (i < full->n_msgs) {
			assert(m.name_len == full->msgs[i].name_len);
			assert(memcmp(m.name, full->msgs[i].name, m.name_len) ==
			       0);
		}
		for (k = 0; k < want; k++)
			if (spop_arg_next(&it, &kv) != 1)
				break;
		i++;
	}
	/* an error while skipping is an error while reading, and back */
	if (ret == 0) {
		assert(!full->failed && i == full->n_msgs);
	} else {
		assert(full->failed);
		assert(i == full->n_msgs || i == full->n_msgs + 1);
	}
}

/* ---- the agent's handler over the same payload ---- */

static const char fuzz_cfg[] =
	"agent: {log_level: err}\n"
	"listen: [tcp://127.0.0.1:1]\n"
	"backends:\n"
	"  - name: eastus\n"
	"    circuit_breaker:\n"
	"      failure:\n"
	"        {count: 1, interval: 10s, status_codes: [\"500-599\"]}\n"
	"      trip_duration: 1s\n"
	"  - name: swedencentral\n"
	"    headroom:\n"
	"      {min_remaining_tokens: 1000, min_remaining_requests: 5}\n"
	"  - name: westus-payg\n"
	"pools:\n"
	"  - name: chat\n"
	"    members:\n"
	"      - {backend: eastus, priority: 1, weight: 3}\n"
	"      - {backend: swedencentral, priority: 1, weight: 1}\n"
	"      - {backend: westus-payg, priority: 2, weight: 1}\n"
	"  - name: one\n"
	"    members: [{backend: eastus}]\n";

static struct cfg *the_cfg;

static void cfg_err(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Checks <p, len> is a LIST-OF-ACTIONS of set-var/unset-var (§3.4). */
static void check_actions(const char *p, size_t len)
{
	const char *end = p + len;
	size_t n = 0;

	while (p < end) {
		const char *name;
		size_t name_len;
		struct spop_data d;
		uint8_t type, nb;

		assert(end - p >= 3);
		type = (uint8_t)*p++;
		nb = (uint8_t)*p++;
		assert(*p++ == SPOP_SCOPE_TXN);
		assert(spop_decode_bytes(&p, end, &name, &name_len) > 0);
		if (type == SPOP_ACT_SET_VAR) {
			assert(nb == 3);
			assert(spop_decode_data(&p, end, &d) > 0);
		} else {
			assert(type == SPOP_ACT_UNSET_VAR && nb == 2);
		}
		n++;
	}
	assert(n >= 1); /* HAProxy 3.1 stalls on an empty ACK */
}

static void agent_pass(const char *payload, size_t len, uint8_t pattern)
{
	static char out[16384];
	struct spoa sp;
	char *p = out;
	char *end = out + sizeof(out) - 128;

	memset(&sp, 0, sizeof(sp));
	clock_now.ms = 1000000 + (uint64_t)pattern * 997;
	clock_now.wall_s = 1700000000;
	sp.route = route_new(pattern);
	assert(sp.route);
	assert(route_apply(sp.route, the_cfg, clock_now.ms) == 0);
	if (spoa_notify(&sp, payload, len, &p, end) == 0) {
		assert(p > out && p <= end);
		check_actions(out, (size_t)(p - out));
	}
	/* a second request after whatever the first one taught the engine */
	clock_now.ms += 1500;
	p = out;
	if (spoa_notify(&sp, payload, len, &p, end) == 0)
		check_actions(out, (size_t)(p - out));
	route_free(sp.route);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rec r1, r2, r3;
	char *payload, *enc, *enc2, *q;
	size_t len, n, enc_len;
	uint8_t pattern;

	if (!the_cfg) {
		log_init(LOG_CRIT);
		the_cfg = cfg_parse("fuzz.yaml", fuzz_cfg, sizeof(fuzz_cfg) - 1,
				    cfg_err, NULL);
		assert(the_cfg);
	}
	if (size < 1)
		return 0;
	pattern = data[0];
	len = size - 1;
	payload = malloc(len ? len : 1);
	assert(payload);
	memcpy(payload, data + 1, len);

	n = len / 2 + 1;
	r1.msgs = calloc(n, sizeof(*r1.msgs));
	r1.args = calloc(n, sizeof(*r1.args));
	r2.msgs = calloc(n, sizeof(*r2.msgs));
	r2.args = calloc(n, sizeof(*r2.args));
	r3.msgs = calloc(n, sizeof(*r3.msgs));
	r3.args = calloc(n, sizeof(*r3.args));
	enc = malloc(len + 1);
	enc2 = malloc(len + 1);
	assert(r1.msgs && r1.args && r2.msgs && r2.args && r3.msgs && r3.args &&
	       enc && enc2);

	rec_decode(&r1, payload, len);
	skip_pass(&r1, payload, len, pattern);

	/* re-encode what decoded: exactly as long as its source */
	q = enc;
	encode_rec(&r1, &q, enc + len);
	enc_len = (size_t)(q - enc);
	assert(enc_len == r1.used);
	rec_decode(&r2, enc, enc_len);
	assert(!r2.failed && r2.used == enc_len);
	rec_assert_eq(&r1, &r2);
	/* the canonical form is a fixed point */
	q = enc2;
	encode_rec(&r2, &q, enc2 + len);
	assert((size_t)(q - enc2) == enc_len);
	assert(memcmp(enc, enc2, enc_len) == 0);
	rec_decode(&r3, enc2, enc_len);
	rec_assert_eq(&r2, &r3);

	agent_pass(payload, len, pattern);

	free(enc2);
	free(enc);
	free(r3.args);
	free(r3.msgs);
	free(r2.args);
	free(r2.msgs);
	free(r1.args);
	free(r1.msgs);
	free(payload);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Unit and conformance tests of the SPOP codec (protocol/), including the
 * golden frames captured from HAProxy 2.6, 3.0 and 3.2 (tests/golden/).
 */
#include <stdio.h>
#include <stdlib.h>

#include "spop.h"
#include "tap.h"

#define GOLDEN_DIR "tests/golden/"

/* ---- varints: SPOE.txt §3.1 boundaries with their exact bytes ---- */

struct varint_case {
	uint64_t v;
	const char *bytes;
	size_t len;
};

static const struct varint_case varints[] = {
	{0, "\x00", 1},
	{239, "\xef", 1},
	{240, "\xf0\x00", 2},
	{2287, "\xff\x7f", 2},
	{2288, "\xf0\x80\x00", 3},
	{264431, "\xff\xff\x7f", 3},
	{264432, "\xf0\x80\x80\x00", 4},
	{33818863, "\xff\xff\xff\x7f", 4},
	{33818864, "\xf0\x80\x80\x80\x00", 5},
	{4294967295u, "\xff\xf0\xfe\xfe\x7e", 5},
	{UINT64_MAX, "\xff\xf0\xfe\xfe\xfe\xfe\xfe\xfe\xfe\x0e", 10},
};

static void test_varints(void)
{
	char buf[16], *p;
	const char *c;
	uint64_t v;
	size_t i, cut;
	int n;

	for (i = 0; i < sizeof(varints) / sizeof(varints[0]); i++) {
		const struct varint_case *t = &varints[i];
		int bad = 0;

		p = buf;
		n = spop_encode_varint(&p, buf + sizeof(buf), t->v);
		tap_is_mem(buf, n < 0 ? 0 : (size_t)n, t->bytes, t->len,
			   "varint encode exact bytes");
		c = t->bytes;
		n = spop_decode_varint(&c, t->bytes + t->len, &v);
		tap_ok(n == (int)t->len && v == t->v && c == t->bytes + t->len,
		       "varint decode %" PRIu64 " (%zu bytes)", t->v, t->len);
		/* every truncation fails and leaves the cursor alone */
		for (cut = 0; cut < t->len; cut++) {
			c = t->bytes;
			if (spop_decode_varint(&c, t->bytes + cut, &v) != -1 ||
			    c != t->bytes)
				bad++;
		}
		tap_ok(!bad, "varint %" PRIu64 " truncated: need-more/error",
		       t->v);
		/* an encoder short of room fails and does not advance */
		p = buf;
		n = spop_encode_varint(&p, buf + t->len - 1, t->v);
		tap_ok(n == -1 && p == buf, "varint %" PRIu64 " no room", t->v);
	}

	/* eleven bytes: longer than any 64-bit value needs */
	c = "\xff\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00";
	tap_is_int(spop_decode_varint(&c, c + 11, &v), -1,
		   "varint longer than 10 bytes rejected");
	/* ten bytes whose last one carries bits beyond 64 */
	c = "\xff\xf0\xfe\xfe\xfe\xfe\xfe\xfe\xfe\x1f";
	tap_is_int(spop_decode_varint(&c, c + 10, &v), -1,
		   "varint overflowing 64 bits rejected");
	c = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
	tap_is_int(spop_decode_varint(&c, c + 12, &v), -1,
		   "varint that never ends rejected");
}

/* ---- typed data, every type both directions ---- */

static int data_eq(const struct spop_data *a, const struct spop_data *b)
{
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case SPOP_DATA_NULL:
		return 1;
	case SPOP_DATA_BOOL:
		return a->u.b == b->u.b;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		return a->u.sint == b->u.sint;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		return a->u.uint == b->u.uint;
	case SPOP_DATA_IPV4:
		return !memcmp(a->u.ipv4, b->u.ipv4, 4);
	case SPOP_DATA_IPV6:
		return !memcmp(a->u.ipv6, b->u.ipv6, 16);
	case SPOP_DATA_STR:
	case SPOP_DATA_BIN:
		return a->u.str.len == b->u.str.len &&
		       !memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len);
	}
	return 0;
}

static void test_data(void)
{
	struct spop_data in[16], out;
	char buf[64], *p;
	const char *c;
	size_t i, n = 0;
	int len, bad;

	in[n++] = (struct spop_data){.type = SPOP_DATA_NULL};
	in[n++] = (struct spop_data){.type = SPOP_DATA_BOOL, .u.b = true};
	in[n++] = (struct spop_data){.type = SPOP_DATA_BOOL, .u.b = false};
	in[n++] = (struct spop_data){.type = SPOP_DATA_INT32,
				     .u.sint = INT32_MIN};
	in[n++] = (struct spop_data){.type = SPOP_DATA_INT32,
				     .u.sint = INT32_MAX};
	in[n++] = (struct spop_data){.type = SPOP_DATA_UINT32,
				     .u.uint = UINT32_MAX};
	in[n++] = (struct spop_data){.type = SPOP_DATA_INT64, .u.sint = -7};
	in[n++] = (struct spop_data){.type = SPOP_DATA_INT64,
				     .u.sint = INT64_MIN};
	in[n++] = (struct spop_data){.type = SPOP_DATA_UINT64,
				     .u.uint = UINT64_MAX};
	in[n] = (struct spop_data){.type = SPOP_DATA_IPV4};
	memcpy(in[n++].u.ipv4, "\x7f\x00\x00\x01", 4);
	in[n] = (struct spop_data){.type = SPOP_DATA_IPV6};
	memcpy(in[n++].u.ipv6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	in[n] = (struct spop_data){.type = SPOP_DATA_STR};
	in[n].u.str.ptr = "eastus";
	in[n++].u.str.len = 6;
	in[n] = (struct spop_data){.type = SPOP_DATA_STR};
	in[n].u.str.ptr = "";
	in[n++].u.str.len = 0;
	in[n] = (struct spop_data){.type = SPOP_DATA_BIN};
	in[n].u.str.ptr = "\x00\xff\x10";
	in[n++].u.str.len = 3;

	for (i = 0; i < n; i++) {
		size_t cut;

		p = buf;
		len = spop_encode_data(&p, buf + sizeof(buf), &in[i]);
		c = buf;
		tap_ok(len > 0 &&
			       spop_decode_data(&c, buf + len, &out) == len &&
			       data_eq(&in[i], &out),
		       "typed data round trip, type %d case %zu", in[i].type,
		       i);
		for (bad = 0, cut = 0; len > 0 && cut < (size_t)len; cut++) {
			c = buf;
			if (spop_decode_data(&c, buf + cut, &out) != -1 ||
			    c != buf)
				bad++;
		}
		tap_ok(!bad, "typed data type %d truncated: error", in[i].type);
	}

	/* exact bytes HAProxy uses: BOOL true is 0x11, NULL is 0x00 */
	p = buf;
	spop_encode_data(&p, buf + sizeof(buf), &in[1]);
	tap_is_int((uint8_t)buf[0], 0x11, "BOOL true is 0x11");

	for (bad = 0, i = 10; i <= 15; i++) {
		char b[4] = {(char)i, 0, 0, 0};

		c = b;
		if (spop_decode_data(&c, b + sizeof(b), &out) != -1)
			bad++;
	}
	tap_ok(!bad, "types 10-15 are errors");

	c = "\x02\xf0\xf1\xfe\xfe\x3e"; /* INT32 holding 2^31 */
	tap_is_int(spop_decode_data(&c, c + 6, &out), -1,
		   "INT32 out of range rejected");
	c = "\x08\x05"
	    "abc"; /* STRING longer than what is left */
	tap_is_int(spop_decode_data(&c, c + 5, &out), -1,
		   "STRING length beyond the buffer rejected");
	out = (struct spop_data){.type = SPOP_DATA_INT32, .u.sint = 1LL << 40};
	p = buf;
	tap_is_int(spop_encode_data(&p, buf + sizeof(buf), &out), -1,
		   "INT32 encoder refuses out-of-range values");
}

/* ---- actions ---- */

static void test_actions(void)
{
	struct spop_data v = {.type = SPOP_DATA_STR};
	char buf[64], want[64], *p;
	int s, n;

	v.u.str.ptr = "eastus";
	v.u.str.len = 6;
	for (s = SPOP_SCOPE_PROC; s <= SPOP_SCOPE_RES; s++) {
		p = buf;
		n = spop_encode_set_var(&p, buf + sizeof(buf),
					(enum spop_scope)s, "backend", 7, &v);
		memcpy(want, "\x01\x03", 2);
		want[2] = (char)s;
		memcpy(want + 3,
		       "\x07"
		       "backend"
		       "\x08\x06"
		       "eastus",
		       16);
		tap_is_mem(buf, n < 0 ? 0 : (size_t)n, want, 19,
			   "set-var bytes");
		p = buf;
		n = spop_encode_unset_var(&p, buf + sizeof(buf),
					  (enum spop_scope)s, "reason", 6);
		memcpy(want, "\x02\x02", 2);
		want[2] = (char)s;
		memcpy(want + 3,
		       "\x06"
		       "reason",
		       7);
		tap_is_mem(buf, n < 0 ? 0 : (size_t)n, want, 10,
			   "unset-var bytes");
	}
	/* the STRING fast path writes the generic encoder's bytes */
	{
		static char big[600], fast[700], slow[700];
		size_t lens[] = {0, 1, 239, 240, 500};
		size_t i, j;
		int bad = 0;

		memset(big, 'x', sizeof(big));
		for (i = 0; i < 5; i++)
			for (j = 0; j < 5; j++) {
				char *f = fast, *g = slow;
				int nf, ng;

				v.u.str.ptr = big;
				v.u.str.len = lens[j];
				nf = spop_encode_set_var_str(
					&f, fast + sizeof(fast), SPOP_SCOPE_TXN,
					big, lens[i], big, lens[j]);
				ng = spop_encode_set_var(
					&g, slow + sizeof(slow), SPOP_SCOPE_TXN,
					big, lens[i], &v);
				if (nf != ng ||
				    (nf > 0 && memcmp(fast, slow, (size_t)nf)))
					bad++;
				/* one byte short: both refuse */
				f = fast;
				if (ng > 0 &&
				    spop_encode_set_var_str(
					    &f, fast + ng - 1, SPOP_SCOPE_TXN,
					    big, lens[i], big, lens[j]) != -1)
					bad++;
			}
		tap_ok(!bad, "set-var STRING fast path == generic encoder");
		v.u.str.ptr = "eastus";
		v.u.str.len = 6;
	}
	p = buf;
	tap_is_int(spop_encode_set_var(&p, buf + 10, SPOP_SCOPE_TXN, "backend",
				       7, &v),
		   -1, "set-var without room fails");
	tap_ok(p == buf, "set-var without room does not advance");
}

/* ---- HELLO validation: every DISCONNECT status path of §3.5 ---- */

struct hello_case {
	const char *name;
	const char *versions;	/* NULL: absent */
	int64_t max_frame_size; /* -1: absent */
	const char *caps;	/* NULL: absent */
	int want;		/* spop_hello_check() result */
	uint32_t want_size;
};

static const struct hello_case hellos[] = {
	{"valid", "2.0", 16380, "pipelining,async", SPOP_ERR_NONE, 16380},
	{"version list with spaces", " 3.0 , 2.1 ", 16380, "", SPOP_ERR_NONE,
	 16380},
	{"2.0, 1.5 as in the spec", "2.0, 1.5", 4096, "pipelining",
	 SPOP_ERR_NONE, 4096},
	{"version missing", NULL, 16380, "pipelining", SPOP_ERR_NO_VSN, 0},
	{"version unsupported", "1.0", 16380, "pipelining", SPOP_ERR_BAD_VSN,
	 0},
	{"version garbage", "2.x, banana, .0", 16380, "", SPOP_ERR_BAD_VSN, 0},
	{"version empty", "", 16380, "", SPOP_ERR_BAD_VSN, 0},
	{"max-frame-size missing", "2.0", -1, "pipelining",
	 SPOP_ERR_NO_FRAME_SIZE, 0},
	{"max-frame-size below 256", "2.0", 255, "pipelining",
	 SPOP_ERR_BAD_FRAME_SIZE, 0},
	{"max-frame-size 256 accepted", "2.0", 256, "pipelining", SPOP_ERR_NONE,
	 256},
	{"max-frame-size above ours: ours", "2.0", 1 << 20, "pipelining",
	 SPOP_ERR_NONE, 16380},
	{"capabilities missing", "2.0", 16380, NULL, SPOP_ERR_NO_CAP, 0},
};

static size_t build_hello(char *buf, size_t size, const struct hello_case *t,
			  bool healthcheck)
{
	char *p = buf, *end = buf + size;
	struct spop_data v;

	if (t->versions) {
		v = (struct spop_data){.type = SPOP_DATA_STR};
		v.u.str.ptr = t->versions;
		v.u.str.len = strlen(t->versions);
		spop_encode_kv(&p, end, "supported-versions", &v);
	}
	if (t->max_frame_size >= 0) {
		v = (struct spop_data){.type = SPOP_DATA_UINT32};
		v.u.uint = (uint64_t)t->max_frame_size;
		spop_encode_kv(&p, end, "max-frame-size", &v);
	}
	if (t->caps) {
		v = (struct spop_data){.type = SPOP_DATA_STR};
		v.u.str.ptr = t->caps;
		v.u.str.len = strlen(t->caps);
		spop_encode_kv(&p, end, "capabilities", &v);
	}
	v = (struct spop_data){.type = SPOP_DATA_BOOL, .u.b = healthcheck};
	spop_encode_kv(&p, end, "healthcheck", &v);
	v = (struct spop_data){.type = SPOP_DATA_INT64, .u.sint = 5};
	spop_encode_kv(&p, end, "some-future-key", &v);
	return (size_t)(p - buf);
}

static void test_hello(void)
{
	struct spop_hello h;
	char buf[256];
	uint32_t size;
	size_t i, len;

	for (i = 0; i < sizeof(hellos) / sizeof(hellos[0]); i++) {
		const struct hello_case *t = &hellos[i];
		int st;

		len = build_hello(buf, sizeof(buf), t, i == 1);
		size = 0;
		st = spop_hello_parse(buf, len, &h);
		if (st == 0)
			st = (int)spop_hello_check(&h, 16380, &size);
		tap_ok(st == t->want && size == t->want_size,
		       "HELLO %s: status %d (%s), size %u", t->name, st,
		       spop_status_str((uint32_t)st), size);
	}
	len = build_hello(buf, sizeof(buf), &hellos[1], true);
	tap_ok(spop_hello_parse(buf, len, &h) == 0 && h.healthcheck &&
		       !h.cap_pipelining,
	       "HELLO healthcheck flag read");
	len = build_hello(buf, sizeof(buf), &hellos[0], false);
	tap_ok(spop_hello_parse(buf, len, &h) == 0 && h.cap_pipelining &&
		       h.cap_async && !h.cap_fragmentation && !h.healthcheck,
	       "HELLO capabilities read");
	/* wrong type for a known key: an invalid frame (status 4) */
	memcpy(buf, "\x0emax-frame-size\x08\x02hi", 19);
	tap_is_int(spop_hello_parse(buf, 19, &h), -1,
		   "HELLO max-frame-size as a string is malformed");
	/* a cut inside an item is malformed; a cut on an item boundary is a
	 * shorter, valid list; ASan watches for reads past the copy
	 */
	len = build_hello(buf, sizeof(buf), &hellos[0], false);
	{
		size_t cut, bad = 0, boundaries = 0;

		for (cut = 0; cut < len; cut++) {
			const char *c = buf, *e = buf + cut;
			struct spop_kv kv;
			char *copy = malloc(cut ? cut : 1);
			bool boundary = true;

			while (c < e)
				if (spop_decode_kv(&c, e, &kv) < 0) {
					boundary = false;
					break;
				}
			memcpy(copy, buf, cut);
			if (spop_hello_parse(copy, cut, &h) !=
			    (boundary ? 0 : -1))
				bad++;
			boundaries += boundary;
			free(copy);
		}
		tap_ok(!bad && boundaries == 5,
		       "HELLO truncated at every offset: error unless on one of "
		       "the %zu item boundaries",
		       boundaries);
	}
}

/* ---- frames ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long sz;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)sz + 1);
	if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)sz;
	return buf;
}

static void test_frames(void)
{
	struct spop_frame f;
	char buf[64], *p, *start;
	size_t len, cut;
	char *g;
	int n, bad;

	p = buf;
	start = spop_frame_begin(&p, buf + sizeof(buf), SPOP_FRM_ACK,
				 SPOP_FL_FIN, 0, 1);
	len = spop_frame_end(start, p);
	tap_is_mem(buf, len, "\x00\x00\x00\x07\x67\x00\x00\x00\x01\x00\x01", 11,
		   "empty ACK frame bytes (stream-id 0, frame-id 1)");

	tap_is_int(spop_frame_extract("\x00\x00\x40\x01", 4, 16380, &f),
		   -SPOP_ERR_TOO_BIG,
		   "length above max rejected from the prefix alone");
	tap_is_int(spop_frame_extract("\x00\x00\x00\x06", 4, 16380, &f),
		   -SPOP_ERR_INVALID, "length below 7 rejected");
	tap_is_int(spop_frame_extract("\x00\x00\x00\x00", 4, 16380, &f),
		   -SPOP_ERR_INVALID, "zero length rejected");
	tap_is_int(spop_frame_extract("\x00\x00\x00\x07\x03\x00\x00\x00\x01"
				      "\xff\xff",
				      11, 16380, &f),
		   -SPOP_ERR_INVALID, "stream-id varint that never ends");
	tap_is_int(spop_frame_extract("\x00\x00", 2, 16380, &f), 0,
		   "two bytes: need more");

	g = read_file(GOLDEN_DIR "notify-route.bin", &len);
	if (!tap_ok(g != NULL, "golden notify-route.bin readable"))
		return;
	for (bad = 0, cut = 0; cut < len; cut++) {
		/* a private copy of exactly <cut> bytes: ASan sees any
		 * read past it
		 */
		char *c = malloc(cut ? cut : 1);

		memcpy(c, g, cut);
		n = spop_frame_extract(c, cut, 16380, &f);
		if (n != 0)
			bad++;
		free(c);
	}
	tap_ok(!bad, "NOTIFY truncated at each of %zu offsets: need more", len);
	n = spop_frame_extract(g, len, 16380, &f);
	tap_ok(n == (int)len && f.type == SPOP_FRM_NOTIFY &&
		       f.flags == SPOP_FL_FIN && f.stream_id == 0 &&
		       f.frame_id == 1,
	       "golden NOTIFY: type 3, FIN, stream-id 0, frame-id 1");
	tap_is_int(spop_frame_extract(g, len, (uint32_t)len - 5, &f),
		   -SPOP_ERR_TOO_BIG, "golden NOTIFY above a smaller max");
	free(g);
}

/* ---- messages: the golden aoai-route NOTIFY, argument by argument ---- */

static void test_messages(void)
{
	struct spop_msg_iter it;
	struct spop_frame f;
	struct spop_msg m;
	struct spop_kv kv;
	size_t len, cut;
	char *g;
	int r, bad, nargs = 0, types = 0;

	g = read_file(GOLDEN_DIR "notify-route.bin", &len);
	if (!g || spop_frame_extract(g, len, 16380, &f) <= 0) {
		tap_ok(0, "golden notify-route.bin");
		free(g);
		return;
	}
	spop_msg_iter_init(&it, f.payload, f.len);
	r = spop_msg_next(&it, &m);
	tap_ok(r == 1 && spop_name_eq(m.name, m.name_len, "aoai-route"),
	       "first message is aoai-route");
	while ((r = spop_arg_next(&it, &kv)) == 1) {
		nargs++;
		types |= 1 << kv.val.type;
		if (spop_name_eq(kv.name, kv.name_len, "pool"))
			tap_ok(kv.val.type == SPOP_DATA_STR &&
				       kv.val.u.str.len == 4 &&
				       !memcmp(kv.val.u.str.ptr, "chat", 4),
			       "arg pool = \"chat\" (STRING)");
		else if (spop_name_eq(kv.name, kv.name_len, "missing"))
			tap_is_int(kv.val.type, SPOP_DATA_NULL,
				   "absent header arrives as NULL");
		else if (spop_name_eq(kv.name, kv.name_len, "neg"))
			tap_ok(kv.val.type == SPOP_DATA_INT64 &&
				       kv.val.u.sint == -7,
			       "int(-7) arrives as INT64 -7");
		else if (spop_name_eq(kv.name, kv.name_len, "src"))
			tap_ok(kv.val.type == SPOP_DATA_IPV4 &&
				       !memcmp(kv.val.u.ipv4, "\x7f\0\0\1", 4),
			       "src arrives as IPV4 127.0.0.1");
		else if (spop_name_eq(kv.name, kv.name_len, "b"))
			tap_ok(kv.val.type == SPOP_DATA_BOOL && kv.val.u.b,
			       "bool(1) arrives as BOOL true");
	}
	tap_ok(r == 0 && nargs == (int)m.nb_args, "%d arguments walked", nargs);
	tap_ok((types & (1 << SPOP_DATA_IPV6)) &&
		       (types & (1 << SPOP_DATA_BIN)),
	       "golden NOTIFY carries IPV6 and BINARY too");
	tap_is_int(spop_msg_next(&it, &m), 0, "no second message");

	/* skipping: read no argument, the iterator still finds the end */
	spop_msg_iter_init(&it, f.payload, f.len);
	r = spop_msg_next(&it, &m);
	tap_ok(r == 1 && spop_msg_next(&it, &m) == 0,
	       "unread arguments are skipped");

	/* every truncation of the payload is an error or a shorter list,
	 * never a read out of bounds (ASan)
	 */
	for (bad = 0, cut = 0; cut < f.len; cut++) {
		char *c = malloc(cut ? cut : 1);

		memcpy(c, f.payload, cut);
		spop_msg_iter_init(&it, c, cut);
		while ((r = spop_msg_next(&it, &m)) == 1)
			while ((r = spop_arg_next(&it, &kv)) == 1)
				;
		if (r != -1 && cut != 0)
			bad++;
		free(c);
	}
	tap_ok(!bad, "message list truncated at each offset: error");
	free(g);
}

/* ---- golden frames: decode, re-encode, byte-exact ---- */

/* Re-encodes a KV-LIST payload item by item. */
static int reencode_kvlist(const char *pl, size_t len, char **p, char *end)
{
	const char *c = pl, *e = pl + len;
	struct spop_kv kv;

	while (c < e) {
		if (spop_decode_kv(&c, e, &kv) < 0 ||
		    spop_encode_bytes(p, end, kv.name, kv.name_len) < 0 ||
		    spop_encode_data(p, end, &kv.val) < 0)
			return -1;
	}
	return 0;
}

/* Re-encodes a LIST-OF-MESSAGES payload. */
static int reencode_messages(const char *pl, size_t len, char **p, char *end)
{
	struct spop_msg_iter it;
	struct spop_msg m;
	struct spop_kv kv;
	int r;

	spop_msg_iter_init(&it, pl, len);
	while ((r = spop_msg_next(&it, &m)) == 1) {
		if (spop_encode_bytes(p, end, m.name, m.name_len) < 0 ||
		    *p >= end)
			return -1;
		*(*p)++ = (char)m.nb_args;
		while ((r = spop_arg_next(&it, &kv)) == 1)
			if (spop_encode_bytes(p, end, kv.name, kv.name_len) <
				    0 ||
			    spop_encode_data(p, end, &kv.val) < 0)
				return -1;
		if (r < 0)
			return -1;
	}
	return r;
}

/* Re-encodes a LIST-OF-ACTIONS payload (set-var / unset-var). */
static int reencode_actions(const char *pl, size_t len, char **p, char *end)
{
	const char *c = pl, *e = pl + len, *name;
	struct spop_data val;
	size_t name_len;
	int type, nb, scope;

	while (c < e) {
		if (e - c < 3)
			return -1;
		type = (uint8_t)*c++;
		nb = (uint8_t)*c++;
		scope = (uint8_t)*c++;
		if (spop_decode_bytes(&c, e, &name, &name_len) < 0)
			return -1;
		if (type == SPOP_ACT_SET_VAR && nb == 3) {
			if (spop_decode_data(&c, e, &val) < 0 ||
			    spop_encode_set_var(p, end, (enum spop_scope)scope,
						name, name_len, &val) < 0)
				return -1;
		} else if (type == SPOP_ACT_UNSET_VAR && nb == 2) {
			if (spop_encode_unset_var(p, end,
						  (enum spop_scope)scope, name,
						  name_len) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/*
 * Every frame captured from one HAProxy version (dir under tests/golden/,
 * "" for 2.6) decodes and re-encodes byte for byte. 3.2 sends no
 * HAPROXY-DISCONNECT on soft stop, so its capture has none.
 */
static void test_golden_version(const char *dir, const char *ver,
				int has_disconnect)
{
	static const char *const files[] = {
		"haproxy-hello.bin",	  "haproxy-hello-healthcheck.bin",
		"notify-route.bin",	  "notify-result.bin",
		"agent-hello.bin",	  "ack.bin",
		"haproxy-disconnect.bin",
	};
	struct spop_frame f;
	char out[1024], *p, *start;
	size_t i, n, len;
	char *g;
	int r;

	n = sizeof(files) / sizeof(files[0]) - !has_disconnect;
	for (i = 0; i < n; i++) {
		char path[256];

		snprintf(path, sizeof(path), GOLDEN_DIR "%s%s", dir, files[i]);
		g = read_file(path, &len);
		if (!tap_ok(g && spop_frame_extract(g, len, 16380, &f) ==
					    (int)len,
			    "golden %s %s: one whole frame", ver, files[i])) {
			free(g);
			continue;
		}
		p = out;
		start = spop_frame_begin(&p, out + sizeof(out), f.type, f.flags,
					 f.stream_id, f.frame_id);
		switch (f.type) {
		case SPOP_FRM_NOTIFY:
			r = reencode_messages(f.payload, f.len, &p,
					      out + sizeof(out));
			break;
		case SPOP_FRM_ACK:
			r = reencode_actions(f.payload, f.len, &p,
					     out + sizeof(out));
			break;
		default:
			r = reencode_kvlist(f.payload, f.len, &p,
					    out + sizeof(out));
			break;
		}
		tap_ok(start && r == 0, "golden %s %s decodes", ver, files[i]);
		snprintf(path, sizeof(path), "%s %s", ver, files[i]);
		tap_is_mem(out, start ? spop_frame_end(start, p) : 0, g, len,
			   path);
		free(g);
	}
}

static void test_golden(void)
{
	struct spop_disconnect d;
	struct spop_hello h;
	struct spop_frame f;
	char out[1024], *p;
	size_t len;
	uint32_t size;
	char *g;
	int r;

	test_golden_version("", "2.6", 1);
	test_golden_version("3.0/", "3.0", 1);
	test_golden_version("3.2/", "3.2", 0);

	/* 3.2 announces "pipelining" only (2.6, 3.0: "pipelining,async") */
	g = read_file(GOLDEN_DIR "3.2/haproxy-hello.bin", &len);
	tap_ok(g && spop_frame_extract(g, len, 16380, &f) > 0 &&
		       spop_hello_parse(f.payload, f.len, &h) == 0 &&
		       spop_hello_check(&h, 16380, &size) == SPOP_ERR_NONE &&
		       size == 16380 && h.cap_pipelining && !h.cap_async,
	       "golden 3.2 HAPROXY-HELLO accepted, pipelining without async");
	free(g);
	g = read_file(GOLDEN_DIR "3.2/notify-result.bin", &len);
	tap_ok(g && spop_frame_extract(g, len, 16380, &f) > 0 &&
		       f.stream_id != 0 && f.frame_id == 1,
	       "golden 3.2 NOTIFY: stream-id not 0, frame-id 1 per stream");
	free(g);

	g = read_file(GOLDEN_DIR "haproxy-hello.bin", &len);
	if (g && spop_frame_extract(g, len, 16380, &f) > 0) {
		r = spop_hello_parse(f.payload, f.len, &h);
		tap_ok(r == 0 &&
			       spop_hello_check(&h, 16380, &size) ==
				       SPOP_ERR_NONE &&
			       size == 16380 && h.cap_pipelining &&
			       h.engine_id_len == 36 && !h.healthcheck,
		       "golden HAPROXY-HELLO accepted, 16380, pipelining");
	}
	free(g);
	g = read_file(GOLDEN_DIR "haproxy-hello-healthcheck.bin", &len);
	if (g && spop_frame_extract(g, len, 16380, &f) > 0) {
		r = spop_hello_parse(f.payload, f.len, &h);
		tap_ok(r == 0 &&
			       spop_hello_check(&h, 16380, &size) ==
				       SPOP_ERR_NONE &&
			       h.healthcheck && !h.engine_id,
		       "golden health-check HELLO: empty capabilities ok");
	}
	free(g);
	g = read_file(GOLDEN_DIR "haproxy-disconnect.bin", &len);
	if (g && spop_frame_extract(g, len, 16380, &f) > 0) {
		r = spop_disconnect_parse(f.payload, f.len, &d);
		tap_ok(r == 0 && f.type == SPOP_FRM_HAPROXY_DISCONNECT &&
			       d.has_status && d.status == 0 &&
			       spop_name_eq(d.message, d.message_len, "normal"),
		       "golden HAPROXY-DISCONNECT: status 0 \"normal\"");
	}
	free(g);

	/* our encoders produce what the capture's agent sent */
	g = read_file(GOLDEN_DIR "agent-hello.bin", &len);
	p = out;
	r = spop_encode_agent_hello(&p, out + sizeof(out), 16380, "pipelining");
	tap_is_mem(out, r < 0 ? 0 : (size_t)r, g, g ? len : 0,
		   "AGENT-HELLO encoder matches agent-hello.bin");
	free(g);

	p = out;
	r = spop_encode_agent_disconnect(&p, out + sizeof(out), 3,
					 "frame is too big");
	tap_ok(r > 0 && spop_frame_extract(out, (size_t)r, 16380, &f) == r &&
		       f.type == SPOP_FRM_AGENT_DISCONNECT &&
		       spop_disconnect_parse(f.payload, f.len, &d) == 0 &&
		       d.status == 3 && d.message_len == 16,
	       "AGENT-DISCONNECT round trip");
}

/* ---- fragment reassembly ---- */

static struct spop_frame frag(uint8_t type, uint32_t flags, uint64_t sid,
			      uint64_t fid, const char *s)
{
	struct spop_frame f = {.type = type,
			       .flags = flags,
			       .stream_id = sid,
			       .frame_id = fid,
			       .payload = s,
			       .len = strlen(s)};
	return f;
}

static void test_reasm(void)
{
	struct spop_reasm r;
	struct spop_frame f;
	char buf[16];

	spop_reasm_init(&r, buf, sizeof(buf));
	f = frag(SPOP_FRM_NOTIFY, 0, 5, 9, "abc");
	tap_is_int(spop_reasm_feed(&r, &f), SPOP_REASM_MORE, "first fragment");
	f = frag(SPOP_FRM_UNSET, 0, 5, 9, "def");
	tap_is_int(spop_reasm_feed(&r, &f), SPOP_REASM_MORE, "middle");
	f = frag(SPOP_FRM_UNSET, SPOP_FL_FIN, 5, 9, "gh");
	tap_ok(spop_reasm_feed(&r, &f) == SPOP_REASM_DONE && r.len == 8 &&
		       !memcmp(buf, "abcdefgh", 8) && r.type == SPOP_FRM_NOTIFY,
	       "last fragment completes the payload");

	f = frag(SPOP_FRM_UNSET, SPOP_FL_FIN, 5, 9, "x");
	tap_is_int(spop_reasm_feed(&r, &f), -SPOP_ERR_INTERLACED_FRAMES,
		   "UNSET with nothing in progress");
	f = frag(SPOP_FRM_NOTIFY, 0, 5, 9, "abc");
	spop_reasm_feed(&r, &f);
	f = frag(SPOP_FRM_UNSET, 0, 5, 10, "abc");
	tap_is_int(spop_reasm_feed(&r, &f), -SPOP_ERR_INTERLACED_FRAMES,
		   "fragment with another frame-id");

	spop_reasm_init(&r, buf, sizeof(buf));
	f = frag(SPOP_FRM_NOTIFY, 0, 1, 1, "abc");
	spop_reasm_feed(&r, &f);
	f = frag(SPOP_FRM_UNSET, SPOP_FL_FIN | SPOP_FL_ABORT, 1, 1, "");
	tap_ok(spop_reasm_feed(&r, &f) == SPOP_REASM_ABORTED && !r.active,
	       "ABORT resets");

	spop_reasm_init(&r, buf, sizeof(buf));
	f = frag(SPOP_FRM_NOTIFY, 0, 1, 1, "0123456789");
	spop_reasm_feed(&r, &f);
	f = frag(SPOP_FRM_UNSET, SPOP_FL_FIN, 1, 1, "0123456789");
	tap_is_int(spop_reasm_feed(&r, &f), -SPOP_ERR_TOO_BIG,
		   "payload beyond the buffer");
	f = frag(SPOP_FRM_NOTIFY, SPOP_FL_FIN, 2, 1, "hello");
	spop_reasm_init(&r, buf, sizeof(buf));
	tap_is_int(spop_reasm_feed(&r, &f), SPOP_REASM_DONE,
		   "unfragmented frame is complete at once");
}

int main(void)
{
	test_varints();
	test_data();
	test_actions();
	test_hello();
	test_frames();
	test_messages();
	test_golden();
	test_reasm();
	return tap_done();
}

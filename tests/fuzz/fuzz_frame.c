/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: SPOP frame extraction over fuzzer-chosen read splits.
 *
 * Input layout: byte 0 picks the number of split bytes (low nibble, 1..16)
 * and the max-frame-size (high nibble, from a table); the split bytes give
 * the size of each read (cycled); the rest is the byte stream HAProxy would
 * send. The stream is fed into a buffer of max-frame-size + 4 bytes, like
 * conn.c, one read at a time; after each read every complete frame is
 * extracted, decoded by type and consumed, and the buffer compacted.
 *
 * Every frame and payload is also decoded from an exact-size heap copy so
 * ASan catches a read one byte past what the parser was given.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* max-frame-size by the high nibble of byte 0: the minimum, odd sizes,
 * HAProxy's default, and more than the agent's cap.
 */
static const uint32_t frame_sizes[16] = {
	256,  257,  300,   384,	  512, 1000, 1024,  2048,
	4096, 8192, 16380, 16384, 256, 512,  16380, 65536,
};

/* A heap copy of exactly <len> bytes (at least one allocated). */
static char *dup_exact(const char *s, size_t len)
{
	char *d = malloc(len ? len : 1);

	assert(d);
	if (len)
		memcpy(d, s, len);
	return d;
}

/* Walks a KV-LIST; checks the cursor only moves forward inside it. */
static void decode_kv_list(const char *payload, size_t len)
{
	const char *p = payload, *end = payload + len;
	struct spop_kv kv;
	int n;

	while (p < end) {
		const char *before = p;

		n = spop_decode_kv(&p, end, &kv);
		if (n < 0) {
			assert(p == before);
			return;
		}
		assert(n > 0 && p == before + n && p <= end);
		assert(kv.name >= payload && kv.name + kv.name_len <= end);
		if (kv.val.type == SPOP_DATA_STR ||
		    kv.val.type == SPOP_DATA_BIN)
			assert(kv.val.u.str.ptr >= payload &&
			       kv.val.u.str.ptr + kv.val.u.str.len <= end);
	}
}

/* Walks a LIST-OF-MESSAGES, reading every argument. */
static void decode_messages(const char *payload, size_t len)
{
	struct spop_msg_iter it;
	struct spop_msg m;
	struct spop_kv kv;
	int r;

	spop_msg_iter_init(&it, payload, len);
	while ((r = spop_msg_next(&it, &m)) == 1) {
		assert(m.name >= payload && m.name + m.name_len <= it.end);
		while ((r = spop_arg_next(&it, &kv)) == 1)
			assert(it.p <= it.end);
		if (r < 0)
			return;
	}
	assert(r == 0 || r == -1);
}

static void decode_payload(const struct spop_frame *f, uint32_t max)
{
	char *pl = dup_exact(f->payload, f->len);
	struct spop_hello h;
	struct spop_disconnect d;
	uint32_t size = 0;
	enum spop_status st;

	decode_kv_list(pl, f->len);
	decode_messages(pl, f->len);
	if (spop_hello_parse(pl, f->len, &h) == 0) {
		st = spop_hello_check(&h, max, &size);
		if (st == SPOP_ERR_NONE)
			assert(size >= SPOP_MIN_FRAME_SIZE && size <= max);
	}
	if (spop_disconnect_parse(pl, f->len, &d) == 0 && d.message)
		assert(d.message >= pl &&
		       d.message + d.message_len <= pl + f->len);
	free(pl);
}

/* Checks one spop_frame_extract() answer against the bytes it was given. */
static void check_extract(const char *buf, size_t len, uint32_t max, int n,
			  const struct spop_frame *f)
{
	uint32_t flen;

	if (len < SPOP_FRAME_PREFIX) {
		assert(n == 0);
		return;
	}
	flen = spop_frame_peek_len(buf);
	if (flen > max) {
		assert(n == -SPOP_ERR_TOO_BIG);
		return;
	}
	if (flen < SPOP_FRAME_MIN_LEN) {
		assert(n == -SPOP_ERR_INVALID);
		return;
	}
	if (n == 0) {
		/* need more only when the frame is not all there */
		assert(len - SPOP_FRAME_PREFIX < flen);
		return;
	}
	if (n < 0) {
		/* a complete frame whose ids are not valid varints */
		assert(n == -SPOP_ERR_INVALID);
		assert(len - SPOP_FRAME_PREFIX >= flen);
		return;
	}
	assert((size_t)n <= len);
	assert((size_t)n == SPOP_FRAME_PREFIX + flen);
	assert(f->payload >= buf + SPOP_FRAME_PREFIX + 5 + 2);
	assert(f->payload + f->len == buf + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char reasm_buf[65536];
	struct spop_reasm reasm;
	size_t nsplit, split_i = 0, rsize, rlen = 0, in = 0;
	const uint8_t *splits;
	uint32_t max;
	char *buf;

	if (size < 2)
		return 0;
	nsplit = (size_t)(data[0] & 0x0f) + 1;
	max = frame_sizes[data[0] >> 4];
	if (size < 1 + nsplit)
		return 0;
	splits = data + 1;
	data += 1 + nsplit;
	size -= 1 + nsplit;

	rsize = (size_t)max + SPOP_FRAME_PREFIX;
	buf = malloc(rsize);
	assert(buf);
	spop_reasm_init(&reasm, reasm_buf,
			max < sizeof(reasm_buf) ? max : sizeof(reasm_buf));
	while (in < size) {
		/* one read(): 1..256 bytes, never more than the room left */
		size_t chunk = (size_t)splits[split_i++ % nsplit] + 1;
		size_t off = 0;
		int n;

		if (chunk > size - in)
			chunk = size - in;
		if (chunk > rsize - rlen)
			chunk = rsize - rlen;
		/* conn.c's invariant: a whole frame always fits */
		assert(chunk > 0);
		memcpy(buf + rlen, data + in, chunk);
		rlen += chunk;
		in += chunk;
		for (;;) {
			struct spop_frame f, g;
			size_t avail = rlen - off;
			char *exact = dup_exact(buf + off, avail);
			int m;

			memset(&f, 0, sizeof(f));
			n = spop_frame_extract(buf + off, avail, max, &f);
			check_extract(buf + off, avail, max, n, &f);
			/* the same answer from exactly the bytes available */
			m = spop_frame_extract(exact, avail, max, &g);
			assert(m == n);
			if (n > 0) {
				assert(g.type == f.type && g.flags == f.flags);
				assert(g.stream_id == f.stream_id);
				assert(g.frame_id == f.frame_id);
				assert(g.len == f.len);
				assert(memcmp(g.payload, f.payload, f.len) ==
				       0);
			}
			free(exact);
			if (n <= 0)
				break;
			decode_payload(&f, max);
			if (spop_reasm_feed(&reasm, &f) < 0)
				spop_reasm_init(&reasm, reasm_buf, reasm.size);
			assert(reasm.len <= reasm.size);
			off += (size_t)n;
		}
		if (n < 0)
			break; /* the agent disconnects */
		memmove(buf, buf + off, rlen - off);
		rlen -= off;
		/* an incomplete frame never fills the buffer */
		assert(rlen < rsize);
	}
	free(buf);
	return 0;
}

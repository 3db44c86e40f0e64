/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: HAPROXY-HELLO parsing and negotiation (SPOE.txt §3.2.4).
 *
 * Input layout: bytes 0-1 pick the agent's own max-frame-size (big endian,
 * scaled so both sides of 256 and of HAProxy's 16380 are reached); the
 * rest is the KV-LIST payload of a HAPROXY-HELLO.
 *
 * Invariants checked:
 *  - status 0 implies 256 <= negotiated <= ours and negotiated <= HAProxy's;
 *  - the status follows the documented order (version, frame size, caps);
 *  - pointers handed out (engine-id) lie inside the payload (ASan: the
 *    payload is an exact-size heap copy);
 *  - the AGENT-HELLO answered for the negotiated size parses back to the
 *    same size, and the DISCONNECT for a refusal parses back to its status.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses our own AGENT-HELLO frame back: "version" 2.0, max-frame-size. */
static void check_agent_hello(const char *buf, size_t len, uint32_t size)
{
	struct spop_frame f;
	struct spop_kv kv;
	const char *p, *end;
	bool has_version = false, has_size = false, has_caps = false;
	int n;

	n = spop_frame_extract(buf, len, SPOP_DEFAULT_FRAME_SIZE, &f);
	assert(n > 0 && (size_t)n == len);
	assert(f.type == SPOP_FRM_AGENT_HELLO && (f.flags & SPOP_FL_FIN));
	assert(f.stream_id == 0 && f.frame_id == 0);
	p = f.payload;
	end = f.payload + f.len;
	while (p < end) {
		assert(spop_decode_kv(&p, end, &kv) > 0);
		if (spop_name_eq(kv.name, kv.name_len, "version")) {
			assert(kv.val.type == SPOP_DATA_STR);
			assert(spop_name_eq(kv.val.u.str.ptr, kv.val.u.str.len,
					    SPOP_VERSION_STR));
			has_version = true;
		} else if (spop_name_eq(kv.name, kv.name_len,
					"max-frame-size")) {
			assert(kv.val.type == SPOP_DATA_UINT32);
			assert(kv.val.u.uint == size);
			has_size = true;
		} else if (spop_name_eq(kv.name, kv.name_len, "capabilities")) {
			assert(kv.val.type == SPOP_DATA_STR);
			has_caps = true;
		}
	}
	assert(has_version && has_size && has_caps);
}

static void check_disconnect(enum spop_status st)
{
	char buf[512], *p = buf;
	struct spop_frame f;
	struct spop_disconnect d;
	int n;

	n = spop_encode_agent_disconnect(&p, buf + sizeof(buf), st,
					 spop_status_str(st));
	assert(n > 0 && p == buf + n);
	assert(spop_frame_extract(buf, (size_t)n, 256, &f) == n);
	assert(f.type == SPOP_FRM_AGENT_DISCONNECT);
	assert(spop_disconnect_parse(f.payload, f.len, &d) == 0);
	assert(d.has_status && d.status == (uint32_t)st);
	assert(d.message && d.message_len == strlen(spop_status_str(st)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spop_hello h;
	enum spop_status st;
	uint32_t ours, negotiated = 0;
	char *payload;
	size_t len;

	if (size < 2)
		return 0;
	/* 0..65535, the top stretched: 0, 255, 256, 16380, 1 MiB... */
	ours = (uint32_t)data[0] << 8 | data[1];
	if (ours >= 0xf000)
		ours = (ours - 0xf000) * 256u + 16380u;
	len = size - 2;
	payload = malloc(len ? len : 1);
	assert(payload);
	memcpy(payload, data + 2, len);

	if (spop_hello_parse(payload, len, &h) < 0)
		goto out;
	if (h.engine_id)
		assert(h.engine_id >= payload &&
		       h.engine_id + h.engine_id_len <= payload + len);
	assert(!h.version_ok || h.has_version);
	assert(!(h.cap_pipelining || h.cap_async || h.cap_fragmentation) ||
	       h.has_capabilities);

	st = spop_hello_check(&h, ours, &negotiated);
	if (st == SPOP_ERR_NONE) {
		char buf[256], *p = buf;
		int n;

		assert(negotiated >= SPOP_MIN_FRAME_SIZE);
		assert(negotiated <= ours);
		assert(negotiated <= h.max_frame_size);
		assert(negotiated == ours || negotiated == h.max_frame_size);
		assert(h.has_version && h.version_ok && h.has_max_frame_size &&
		       h.has_capabilities);
		n = spop_encode_agent_hello(&p, buf + sizeof(buf), negotiated,
					    "pipelining");
		assert(n > 0 && p == buf + n);
		check_agent_hello(buf, (size_t)n, negotiated);
		goto out;
	}
	/* the order of §3.5's checks, as documented in spop.h */
	if (!h.has_version)
		assert(st == SPOP_ERR_NO_VSN);
	else if (!h.version_ok)
		assert(st == SPOP_ERR_BAD_VSN);
	else if (!h.has_max_frame_size)
		assert(st == SPOP_ERR_NO_FRAME_SIZE);
	else if (h.max_frame_size < SPOP_MIN_FRAME_SIZE ||
		 ours < SPOP_MIN_FRAME_SIZE)
		assert(st == SPOP_ERR_BAD_FRAME_SIZE);
	else
		assert(st == SPOP_ERR_NO_CAP);
	check_disconnect(st);
out:
	free(payload);
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* SPOP 2.0 codec: pure functions over byte buffers (SPOE.txt §3).
 *
 * Every decoder takes a cursor and an end, (const char **p, const char *end),
 * returns the number of bytes consumed or -1, and advances *p only on
 * success. Every encoder takes (char **p, char *end) and behaves the same
 * way. Nothing here allocates, logs or does I/O. The hot primitives are
 * inline; frames, messages and handshakes live in spop.c.
 */
#ifndef AOAI_SPOP_H
#define AOAI_SPOP_H

#include <string.h>

#include "spop-t.h"

/* Encodes <v> in the Peers varint encoding (§3.1). */
static inline int spop_encode_varint(char **p, char *end, uint64_t v)
{
	char *q = *p;

	if (q >= end)
		return -1;
	if (v < 240) {
		*q++ = (char)v;
		goto out;
	}
	*q++ = (char)((uint8_t)v | 240);
	v = (v - 240) >> 4;
	while (v >= 128) {
		if (q >= end)
			return -1;
		*q++ = (char)((uint8_t)v | 128);
		v = (v - 128) >> 7;
	}
	if (q >= end)
		return -1;
	*q++ = (char)v;
out:
	v = (uint64_t)(q - *p);
	*p = q;
	return (int)v;
}

/* Decodes a Peers varint. Rejects encodings longer than ten bytes and
 * values that do not fit in 64 bits.
 */
static inline int spop_decode_varint(const char **p, const char *end,
				     uint64_t *v)
{
	const uint8_t *q = (const uint8_t *)*p;
	const uint8_t *e = (const uint8_t *)end;
	uint64_t val, add;
	unsigned shift = 4;
	uint8_t b;

	if (q >= e)
		return -1;
	val = *q++;
	if (val < 240)
		goto out;
	do {
		if (q >= e || shift > 4 + 7 * (SPOP_VARINT_MAX_LEN - 2))
			return -1;
		b = *q++;
		/* bits shifted out of 64 would be lost: overflow */
		if (shift > 57 && ((uint64_t)b >> (64 - shift)) != 0)
			return -1;
		add = (uint64_t)b << shift;
		if (__builtin_add_overflow(val, add, &val))
			return -1;
		shift += 7;
	} while (b >= 128);
out:
	*v = val;
	add = (uint64_t)(q - (const uint8_t *)*p);
	*p = (const char *)q;
	return (int)add;
}

/* Decodes <LENGTH:varint><BYTES>, the form of names (§3.2) and of the body
 * of STRING/BINARY data. <s> points into the input.
 */
static inline int spop_decode_bytes(const char **p, const char *end,
				    const char **s, size_t *len)
{
	const char *q = *p;
	uint64_t n;

	if (spop_decode_varint(&q, end, &n) < 0 || n > (uint64_t)(end - q))
		return -1;
	*s = q;
	*len = (size_t)n;
	q += n;
	n = (uint64_t)(q - *p);
	*p = q;
	return (int)n;
}

static inline int spop_encode_bytes(char **p, char *end, const char *s,
				    size_t len)
{
	char *q = *p;
	int n;

	if (spop_encode_varint(&q, end, len) < 0 || len > (size_t)(end - q))
		return -1;
	if (len)
		memcpy(q, s, len);
	q += len;
	n = (int)(q - *p);
	*p = q;
	return n;
}

/* Decodes one TYPED-DATA (§3.1). Types 10-15 and INT32/UINT32 values out
 * of their range are errors.
 */
static inline int spop_decode_data(const char **p, const char *end,
				   struct spop_data *d)
{
	const char *q = *p;
	uint64_t u;
	uint8_t t;
	int n;

	if (q >= end)
		return -1;
	t = (uint8_t)*q++;
	d->type = (enum spop_data_type)(t & SPOP_DATA_TYPE_MASK);
	switch (d->type) {
	case SPOP_DATA_NULL:
		break;
	case SPOP_DATA_BOOL:
		d->u.b = (t & SPOP_DATA_FL_TRUE) != 0;
		break;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		if (spop_decode_varint(&q, end, &u) < 0)
			return -1;
		d->u.sint = (int64_t)u;
		if (d->type == SPOP_DATA_INT32 &&
		    (d->u.sint < INT32_MIN || d->u.sint > INT32_MAX))
			return -1;
		break;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		if (spop_decode_varint(&q, end, &d->u.uint) < 0)
			return -1;
		if (d->type == SPOP_DATA_UINT32 && d->u.uint > UINT32_MAX)
			return -1;
		break;
	case SPOP_DATA_IPV4:
		if (end - q < 4)
			return -1;
		memcpy(d->u.ipv4, q, 4);
		q += 4;
		break;
	case SPOP_DATA_IPV6:
		if (end - q < 16)
			return -1;
		memcpy(d->u.ipv6, q, 16);
		q += 16;
		break;
	case SPOP_DATA_STR:
	case SPOP_DATA_BIN:
		if (spop_decode_bytes(&q, end, &d->u.str.ptr, &d->u.str.len) <
		    0)
			return -1;
		break;
	default:
		return -1;
	}
	n = (int)(q - *p);
	*p = q;
	return n;
}

/* Encodes one TYPED-DATA; the inverse of spop_decode_data(). */
static inline int spop_encode_data(char **p, char *end,
				   const struct spop_data *d)
{
	char *q = *p;
	uint8_t t = (uint8_t)d->type;
	int n;

	if (q >= end)
		return -1;
	switch (d->type) {
	case SPOP_DATA_NULL:
		*q++ = (char)t;
		break;
	case SPOP_DATA_BOOL:
		*q++ = (char)(t | (d->u.b ? SPOP_DATA_FL_TRUE : 0));
		break;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		if (d->type == SPOP_DATA_INT32 &&
		    (d->u.sint < INT32_MIN || d->u.sint > INT32_MAX))
			return -1;
		*q++ = (char)t;
		if (spop_encode_varint(&q, end, (uint64_t)d->u.sint) < 0)
			return -1;
		break;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		if (d->type == SPOP_DATA_UINT32 && d->u.uint > UINT32_MAX)
			return -1;
		*q++ = (char)t;
		if (spop_encode_varint(&q, end, d->u.uint) < 0)
			return -1;
		break;
	case SPOP_DATA_IPV4:
		if (end - q < 5)
			return -1;
		*q++ = (char)t;
		memcpy(q, d->u.ipv4, 4);
		q += 4;
		break;
	case SPOP_DATA_IPV6:
		if (end - q < 17)
			return -1;
		*q++ = (char)t;
		memcpy(q, d->u.ipv6, 16);
		q += 16;
		break;
	case SPOP_DATA_STR:
	case SPOP_DATA_BIN:
		*q++ = (char)t;
		if (spop_encode_bytes(&q, end, d->u.str.ptr, d->u.str.len) < 0)
			return -1;
		break;
	default:
		return -1;
	}
	n = (int)(q - *p);
	*p = q;
	return n;
}

/* Decodes one KV-LIST item: <NAME:bytes><VALUE:typed-data>. */
static inline int spop_decode_kv(const char **p, const char *end,
				 struct spop_kv *kv)
{
	const char *q = *p;
	int n;

	if (spop_decode_bytes(&q, end, &kv->name, &kv->name_len) < 0 ||
	    spop_decode_data(&q, end, &kv->val) < 0)
		return -1;
	n = (int)(q - *p);
	*p = q;
	return n;
}

static inline int spop_encode_kv(char **p, char *end, const char *name,
				 const struct spop_data *val)
{
	char *q = *p;
	int n;

	if (spop_encode_bytes(&q, end, name, strlen(name)) < 0 ||
	    spop_encode_data(&q, end, val) < 0)
		return -1;
	n = (int)(q - *p);
	*p = q;
	return n;
}

/* True when <name, len> equals the NUL-terminated <lit>. */
static inline bool spop_name_eq(const char *name, size_t len, const char *lit)
{
	size_t l = strlen(lit);

	return l == len && memcmp(name, lit, len) == 0;
}

/* Frame extraction from a byte stream. <buf, len> are the bytes received so
 * far. Checks the length prefix against <max_frame_size> (at most
 * SPOP_MAX_FRAME_SIZE) as soon as the four bytes are there, before anything
 * else is buffered. Returns the total
 * bytes of the frame (prefix included) when it is complete and its metadata
 * is valid, 0 when more bytes are needed, or -SPOP_ERR_TOO_BIG /
 * -SPOP_ERR_INVALID.
 */
int spop_frame_extract(const char *buf, size_t len, uint32_t max_frame_size,
		       struct spop_frame *f);

/* Length announced by the prefix at <buf> (at least four bytes). */
static inline uint32_t spop_frame_peek_len(const char *buf)
{
	const uint8_t *b = (const uint8_t *)buf;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Writes a frame's length prefix and metadata at *p and advances; returns
 * the start of the frame, to be passed to spop_frame_end(), or NULL when
 * <end> leaves no room.
 */
char *spop_frame_begin(char **p, char *end, uint8_t type, uint32_t flags,
		       uint64_t stream_id, uint64_t frame_id);

/* Patches the length prefix of the frame started at <start> now that its
 * payload ends at <p>. Returns the whole frame's size (prefix included).
 */
size_t spop_frame_end(char *start, const char *p);

/* LIST-OF-MESSAGES iteration in place (§3.2.6). */
static inline void spop_msg_iter_init(struct spop_msg_iter *it,
				      const char *payload, size_t len)
{
	it->p = payload;
	it->end = payload + len;
	it->args_left = 0;
}

/* Moves to the next message, skipping arguments of the current one that
 * were not read. Returns 1 with <m> filled, 0 at the end, -1 if malformed.
 */
int spop_msg_next(struct spop_msg_iter *it, struct spop_msg *m);

/* Reads the next argument of the current message. Returns 1 with <kv>
 * filled, 0 when the message has no more, -1 if malformed.
 */
static inline int spop_arg_next(struct spop_msg_iter *it, struct spop_kv *kv)
{
	if (!it->args_left)
		return 0;
	if (spop_decode_kv(&it->p, it->end, kv) < 0)
		return -1;
	it->args_left--;
	return 1;
}

/* Encodes a set-var action (§3.4). */
static inline int spop_encode_set_var(char **p, char *end,
				      enum spop_scope scope, const char *name,
				      size_t name_len,
				      const struct spop_data *val)
{
	char *q = *p;
	int n;

	if (end - q < 3)
		return -1;
	*q++ = SPOP_ACT_SET_VAR;
	*q++ = 3;
	*q++ = (char)scope;
	if (spop_encode_bytes(&q, end, name, name_len) < 0 ||
	    spop_encode_data(&q, end, val) < 0)
		return -1;
	n = (int)(q - *p);
	*p = q;
	return n;
}

/* Encodes a set-var action whose value is a STRING: the same bytes as
 * spop_encode_set_var(), with one bounds check and no type dispatch, for
 * the hot path of every ACK.
 */
static inline int spop_encode_set_var_str(char **p, char *end,
					  enum spop_scope scope,
					  const char *name, size_t name_len,
					  const char *v, size_t vlen)
{
	struct spop_data d = {.type = SPOP_DATA_STR};
	char *q = *p;
	int n;

	if (name_len >= 240 || vlen >= 240) {
		d.u.str.ptr = v;
		d.u.str.len = vlen;
		return spop_encode_set_var(p, end, scope, name, name_len, &d);
	}
	/* action, nb-args, scope, name length, type, value length */
	if ((size_t)(end - q) < 6 + name_len + vlen)
		return -1;
	*q++ = SPOP_ACT_SET_VAR;
	*q++ = 3;
	*q++ = (char)scope;
	*q++ = (char)name_len;
	memcpy(q, name, name_len);
	q += name_len;
	*q++ = SPOP_DATA_STR;
	*q++ = (char)vlen;
	memcpy(q, v, vlen);
	q += vlen;
	n = (int)(q - *p);
	*p = q;
	return n;
}

/* Encodes an unset-var action (§3.4). */
static inline int spop_encode_unset_var(char **p, char *end,
					enum spop_scope scope, const char *name,
					size_t name_len)
{
	char *q = *p;
	int n;

	if (end - q < 3)
		return -1;
	*q++ = SPOP_ACT_UNSET_VAR;
	*q++ = 2;
	*q++ = (char)scope;
	if (spop_encode_bytes(&q, end, name, name_len) < 0)
		return -1;
	n = (int)(q - *p);
	*p = q;
	return n;
}

/* Parses the KV-LIST of a HAPROXY-HELLO. Unknown keys are skipped. Returns
 * 0, or -1 when the list is malformed (status 4).
 */
int spop_hello_parse(const char *payload, size_t len, struct spop_hello *h);

/* Decides the answer to a parsed HAPROXY-HELLO: returns SPOP_ERR_NONE with
 * the negotiated size in <*frame_size> (the smaller of <ours> and HAProxy's),
 * or the DISCONNECT status of §3.5: 5 version missing, 8 unsupported, 6
 * max-frame-size missing, 9 out of range, 7 capabilities missing.
 */
enum spop_status spop_hello_check(const struct spop_hello *h, uint32_t ours,
				  uint32_t *frame_size);

/* Encodes a whole AGENT-HELLO frame (prefix included) at *p. */
int spop_encode_agent_hello(char **p, char *end, uint32_t max_frame_size,
			    const char *capabilities);

/* Encodes a whole AGENT-DISCONNECT frame (prefix included) at *p. */
int spop_encode_agent_disconnect(char **p, char *end, uint32_t status,
				 const char *message);

/* Parses the KV-LIST of a HAPROXY-DISCONNECT. Returns 0 or -1. */
int spop_disconnect_parse(const char *payload, size_t len,
			  struct spop_disconnect *d);

/* Text for a DISCONNECT status code (§3.5). */
const char *spop_status_str(uint32_t status);

/* Fragment reassembly (§3.2): <buf, size> is the caller's buffer. */
static inline void spop_reasm_init(struct spop_reasm *r, char *buf, size_t size)
{
	r->buf = buf;
	r->size = size;
	r->len = 0;
	r->active = false;
	r->type = 0;
	r->stream_id = r->frame_id = 0;
}

/* Feeds one frame: a first fragment (type set, FIN clear) or a following
 * one (type UNSET, same ids). Returns enum spop_reasm_result, or
 * -SPOP_ERR_INTERLACED_FRAMES (ids differ, or an UNSET frame with nothing
 * in progress, or a new typed frame in the middle), -SPOP_ERR_TOO_BIG (the
 * buffer would overflow). An unfragmented frame (FIN, nothing in progress)
 * is copied and returns SPOP_REASM_DONE.
 */
int spop_reasm_feed(struct spop_reasm *r, const struct spop_frame *f);

#endif /* AOAI_SPOP_H */

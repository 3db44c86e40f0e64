/* SPDX-License-Identifier: Apache-2.0 */
/* SPOP 2.0 codec: frames, messages, handshakes and reassembly. */
#include "spop.h"

static inline uint32_t read_be32(const char *s)
{
	return spop_frame_peek_len(s);
}

static inline void write_be32(char *s, uint32_t v)
{
	s[0] = (char)(v >> 24);
	s[1] = (char)(v >> 16);
	s[2] = (char)(v >> 8);
	s[3] = (char)v;
}

int spop_frame_extract(const char *buf, size_t len, uint32_t max_frame_size,
		       struct spop_frame *f)
{
	const char *p, *end;
	uint32_t flen;

	if (len < SPOP_FRAME_PREFIX)
		return 0;
	if (max_frame_size > SPOP_MAX_FRAME_SIZE)
		max_frame_size = SPOP_MAX_FRAME_SIZE;
	flen = spop_frame_peek_len(buf);
	/* Decided on the prefix alone, so an oversized frame is never
	 * buffered (SPOE.txt §3.2: frames cannot exceed the maximum).
	 */
	if (flen > max_frame_size)
		return -SPOP_ERR_TOO_BIG;
	if (flen < SPOP_FRAME_MIN_LEN)
		return -SPOP_ERR_INVALID;
	if (len - SPOP_FRAME_PREFIX < flen)
		return 0;
	p = buf + SPOP_FRAME_PREFIX;
	end = p + flen;
	f->type = (uint8_t)*p++;
	f->flags = read_be32(p);
	p += 4;
	if (spop_decode_varint(&p, end, &f->stream_id) < 0 ||
	    spop_decode_varint(&p, end, &f->frame_id) < 0)
		return -SPOP_ERR_INVALID;
	f->payload = p;
	f->len = (size_t)(end - p);
	return (int)(SPOP_FRAME_PREFIX + flen);
}

char *spop_frame_begin(char **p, char *end, uint8_t type, uint32_t flags,
		       uint64_t stream_id, uint64_t frame_id)
{
	char *start = *p;
	char *q = start;

	if (end - q < SPOP_FRAME_PREFIX + 5)
		return NULL;
	q += SPOP_FRAME_PREFIX;
	*q++ = (char)type;
	write_be32(q, flags);
	q += 4;
	if (spop_encode_varint(&q, end, stream_id) < 0 ||
	    spop_encode_varint(&q, end, frame_id) < 0)
		return NULL;
	*p = q;
	return start;
}

size_t spop_frame_end(char *start, const char *p)
{
	size_t total = (size_t)(p - start);

	write_be32(start, (uint32_t)(total - SPOP_FRAME_PREFIX));
	return total;
}

int spop_msg_next(struct spop_msg_iter *it, struct spop_msg *m)
{
	struct spop_kv kv;

	while (it->args_left) {
		if (spop_decode_kv(&it->p, it->end, &kv) < 0)
			return -1;
		it->args_left--;
	}
	if (it->p >= it->end)
		return 0;
	if (spop_decode_bytes(&it->p, it->end, &m->name, &m->name_len) < 0 ||
	    it->p >= it->end)
		return -1;
	m->nb_args = (uint8_t)*it->p++;
	it->args_left = m->nb_args;
	return 1;
}

/* Calls <fn> for each item of a comma-separated list, spaces ignored
 * (§3.2.4). Stops early and returns true when <fn> does.
 */
static bool list_any(const char *s, size_t len,
		     bool (*fn)(const char *item, size_t len))
{
	const char *end = s + len;

	while (s < end) {
		const char *item, *stop;

		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		item = s;
		while (s < end && *s != ',')
			s++;
		stop = s;
		while (stop > item && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		if (stop > item && fn(item, (size_t)(stop - item)))
			return true;
		if (s < end)
			s++;
	}
	return false;
}

/* "Major.Minor" with Major == 2: we speak 2.0, and announcing 2.x means
 * every 2.y with y <= x is supported (§3.2.4).
 */
static bool version_is_ours(const char *s, size_t len)
{
	size_t i = 0, major_len, minor_len;
	unsigned long major = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9' && major < 1000)
		major = major * 10 + (unsigned long)(s[i++] - '0');
	major_len = i;
	if (!major_len || i >= len || s[i] != '.')
		return false;
	i++;
	minor_len = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	minor_len = i - minor_len;
	return minor_len && i == len && major == SPOP_VERSION_MAJOR;
}

static bool cap_is_pipelining(const char *s, size_t len)
{
	return spop_name_eq(s, len, "pipelining");
}

static bool cap_is_async(const char *s, size_t len)
{
	return spop_name_eq(s, len, "async");
}

static bool cap_is_fragmentation(const char *s, size_t len)
{
	return spop_name_eq(s, len, "fragmentation");
}

/* Reads any integer type as an unsigned value; negative is an error. */
static int data_to_uint(const struct spop_data *d, uint64_t *v)
{
	switch (d->type) {
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		*v = d->u.uint;
		return 0;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		if (d->u.sint < 0)
			return -1;
		*v = (uint64_t)d->u.sint;
		return 0;
	default:
		return -1;
	}
}

int spop_hello_parse(const char *payload, size_t len, struct spop_hello *h)
{
	const char *p = payload, *end = payload + len;
	struct spop_kv kv;

	memset(h, 0, sizeof(*h));
	while (p < end) {
		if (spop_decode_kv(&p, end, &kv) < 0)
			return -1;
		if (spop_name_eq(kv.name, kv.name_len, "supported-versions")) {
			if (kv.val.type != SPOP_DATA_STR)
				return -1;
			h->has_version = true;
			h->version_ok =
				list_any(kv.val.u.str.ptr, kv.val.u.str.len,
					 version_is_ours);
		} else if (spop_name_eq(kv.name, kv.name_len,
					"max-frame-size")) {
			if (data_to_uint(&kv.val, &h->max_frame_size) < 0)
				return -1;
			h->has_max_frame_size = true;
		} else if (spop_name_eq(kv.name, kv.name_len, "capabilities")) {
			const char *s;
			size_t l;

			if (kv.val.type != SPOP_DATA_STR)
				return -1;
			s = kv.val.u.str.ptr;
			l = kv.val.u.str.len;
			h->has_capabilities = true;
			h->cap_pipelining = list_any(s, l, cap_is_pipelining);
			h->cap_async = list_any(s, l, cap_is_async);
			h->cap_fragmentation =
				list_any(s, l, cap_is_fragmentation);
		} else if (spop_name_eq(kv.name, kv.name_len, "healthcheck")) {
			if (kv.val.type != SPOP_DATA_BOOL)
				return -1;
			h->healthcheck = kv.val.u.b;
		} else if (spop_name_eq(kv.name, kv.name_len, "engine-id")) {
			if (kv.val.type != SPOP_DATA_STR)
				return -1;
			h->engine_id = kv.val.u.str.ptr;
			h->engine_id_len = kv.val.u.str.len;
		}
		/* unknown keys are skipped (§3.2.1: silently ignored) */
	}
	return 0;
}

enum spop_status spop_hello_check(const struct spop_hello *h, uint32_t ours,
				  uint32_t *frame_size)
{
	if (!h->has_version)
		return SPOP_ERR_NO_VSN;
	if (!h->version_ok)
		return SPOP_ERR_BAD_VSN;
	if (!h->has_max_frame_size)
		return SPOP_ERR_NO_FRAME_SIZE;
	if (h->max_frame_size < SPOP_MIN_FRAME_SIZE ||
	    ours < SPOP_MIN_FRAME_SIZE)
		return SPOP_ERR_BAD_FRAME_SIZE;
	if (!h->has_capabilities)
		return SPOP_ERR_NO_CAP;
	*frame_size =
		h->max_frame_size < ours ? (uint32_t)h->max_frame_size : ours;
	return SPOP_ERR_NONE;
}

static struct spop_data data_str(const char *s)
{
	struct spop_data d = {.type = SPOP_DATA_STR};

	d.u.str.ptr = s;
	d.u.str.len = strlen(s);
	return d;
}

static struct spop_data data_u32(uint32_t v)
{
	struct spop_data d = {.type = SPOP_DATA_UINT32};

	d.u.uint = v;
	return d;
}

int spop_encode_agent_hello(char **p, char *end, uint32_t max_frame_size,
			    const char *capabilities)
{
	char *q = *p, *start;
	struct spop_data v;

	start = spop_frame_begin(&q, end, SPOP_FRM_AGENT_HELLO, SPOP_FL_FIN, 0,
				 0);
	if (!start)
		return -1;
	v = data_str(SPOP_VERSION_STR);
	if (spop_encode_kv(&q, end, "version", &v) < 0)
		return -1;
	v = data_u32(max_frame_size);
	if (spop_encode_kv(&q, end, "max-frame-size", &v) < 0)
		return -1;
	v = data_str(capabilities);
	if (spop_encode_kv(&q, end, "capabilities", &v) < 0)
		return -1;
	*p = q;
	return (int)spop_frame_end(start, q);
}

int spop_encode_agent_disconnect(char **p, char *end, uint32_t status,
				 const char *message)
{
	char *q = *p, *start;
	struct spop_data v;

	start = spop_frame_begin(&q, end, SPOP_FRM_AGENT_DISCONNECT,
				 SPOP_FL_FIN, 0, 0);
	if (!start)
		return -1;
	v = data_u32(status);
	if (spop_encode_kv(&q, end, "status-code", &v) < 0)
		return -1;
	v = data_str(message);
	if (spop_encode_kv(&q, end, "message", &v) < 0)
		return -1;
	*p = q;
	return (int)spop_frame_end(start, q);
}

int spop_disconnect_parse(const char *payload, size_t len,
			  struct spop_disconnect *d)
{
	const char *p = payload, *end = payload + len;
	struct spop_kv kv;
	uint64_t v;

	memset(d, 0, sizeof(*d));
	while (p < end) {
		if (spop_decode_kv(&p, end, &kv) < 0)
			return -1;
		if (spop_name_eq(kv.name, kv.name_len, "status-code")) {
			if (data_to_uint(&kv.val, &v) < 0 || v > UINT32_MAX)
				return -1;
			d->has_status = true;
			d->status = (uint32_t)v;
		} else if (spop_name_eq(kv.name, kv.name_len, "message")) {
			if (kv.val.type != SPOP_DATA_STR)
				return -1;
			d->message = kv.val.u.str.ptr;
			d->message_len = kv.val.u.str.len;
		}
	}
	return 0;
}

const char *spop_status_str(uint32_t status)
{
	static const char *const str[] = {
		[SPOP_ERR_NONE] = "normal",
		[SPOP_ERR_IO] = "I/O error",
		[SPOP_ERR_TIMEOUT] = "a timeout occurred",
		[SPOP_ERR_TOO_BIG] = "frame is too big",
		[SPOP_ERR_INVALID] = "invalid frame received",
		[SPOP_ERR_NO_VSN] = "version value not found",
		[SPOP_ERR_NO_FRAME_SIZE] = "max-frame-size value not found",
		[SPOP_ERR_NO_CAP] = "capabilities value not found",
		[SPOP_ERR_BAD_VSN] = "unsupported version",
		[SPOP_ERR_BAD_FRAME_SIZE] =
			"max-frame-size too big or too small",
		[SPOP_ERR_FRAG_NOT_SUPPORTED] =
			"payload fragmentation is not supported",
		[SPOP_ERR_INTERLACED_FRAMES] = "invalid interlaced frames",
		[SPOP_ERR_FRAMEID_NOTFOUND] = "frame-id not found",
		[SPOP_ERR_RES] = "resource allocation error",
	};

	if (status < sizeof(str) / sizeof(str[0]) && str[status])
		return str[status];
	return "unknown error";
}

int spop_reasm_feed(struct spop_reasm *r, const struct spop_frame *f)
{
	if (!r->active) {
		if (f->type == SPOP_FRM_UNSET)
			return -SPOP_ERR_INTERLACED_FRAMES;
		if (f->len > r->size)
			return -SPOP_ERR_TOO_BIG;
		memcpy(r->buf, f->payload, f->len);
		r->len = f->len;
		r->type = f->type;
		r->stream_id = f->stream_id;
		r->frame_id = f->frame_id;
		if (f->flags & SPOP_FL_FIN)
			return SPOP_REASM_DONE;
		r->active = true;
		return SPOP_REASM_MORE;
	}
	if (f->type != SPOP_FRM_UNSET || f->stream_id != r->stream_id ||
	    f->frame_id != r->frame_id)
		return -SPOP_ERR_INTERLACED_FRAMES;
	if (f->flags & SPOP_FL_ABORT) {
		r->active = false;
		r->len = 0;
		return SPOP_REASM_ABORTED;
	}
	if (f->len > r->size - r->len)
		return -SPOP_ERR_TOO_BIG;
	memcpy(r->buf + r->len, f->payload, f->len);
	r->len += f->len;
	if (!(f->flags & SPOP_FL_FIN))
		return SPOP_REASM_MORE;
	r->active = false;
	return SPOP_REASM_DONE;
}

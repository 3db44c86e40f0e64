/* SPDX-License-Identifier: Apache-2.0 */
/* State snapshots: the routing engine's breaker state in a msgpack file. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <msgpack.h>

#include "cfg-t.h"
#include "route.h"
#include "snapshot.h"

#ifndef AOAI_VERSION
#define AOAI_VERSION "unknown"
#endif

#define SNAP_FORMAT	 "aoai-spoa-state" /* the header's "format" */
#define SNAP_TRAILER_LEN 9		   /* 0xcf and a big-endian uint64 */
#define SNAP_FNV_BASIS	 0xcbf29ce484222325ULL
#define SNAP_FNV_PRIME	 0x100000001b3ULL
#define SNAP_TMP_SUFFIX	 ".tmp"
/* overrides a file may list: every member of every pool at most */
#define SNAP_WEIGHTS_MAX ((uint64_t)CFG_POOLS_MAX * CFG_MEMBERS_MAX)

static void snap_err(char *err, size_t err_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Formats the reason of a failure into <err> (NULL: not wanted). */
static void snap_err(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !err_len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

uint64_t snapshot_checksum(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = SNAP_FNV_BASIS;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ p[i]) * SNAP_FNV_PRIME;
	return h;
}

/* ---------------------------------------------------------------- */
/* encoding                                                          */

/* The packer and whether every write into its buffer succeeded. */
struct snap_enc {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	uint64_t now_ms;
	uint64_t now_wall_ms;
	uint32_t n_weights;
	bool failed; /* a write failed: out of memory */
};

static void snap_pack_str(struct snap_enc *en, const char *s, size_t len)
{
	if (msgpack_pack_str(&en->pk, len) < 0 ||
	    msgpack_pack_str_body(&en->pk, s, len) < 0)
		en->failed = true;
}

static void snap_pack_key(struct snap_enc *en, const char *key)
{
	snap_pack_str(en, key, strlen(key));
}

static void snap_pack_kv_u64(struct snap_enc *en, const char *key, uint64_t v)
{
	snap_pack_key(en, key);
	if (msgpack_pack_uint64(&en->pk, v) < 0)
		en->failed = true;
}

static void snap_pack_kv_str(struct snap_enc *en, const char *key,
			     const char *s, size_t len)
{
	snap_pack_key(en, key);
	snap_pack_str(en, s, len);
}

static void snap_pack_kv_bool(struct snap_enc *en, const char *key, bool v)
{
	snap_pack_key(en, key);
	if ((v ? msgpack_pack_true(&en->pk) : msgpack_pack_false(&en->pk)) < 0)
		en->failed = true;
}

static void snap_count_weight(void *arg, const struct route_saved_weight *w)
{
	struct snap_enc *en = arg;

	(void)w;
	en->n_weights++;
}

static void snap_put_backend(void *arg, const char *name, size_t len,
			     const struct route_saved *s)
{
	struct snap_enc *en = arg;
	const char *state = route_state_str(s->state);

	const char *by = s->cause == ROUTE_BY_OPERATOR ? "operator"
			 : s->cause == ROUTE_BY_FLEET  ? "fleet"
						       : "breaker";

	if (msgpack_pack_map(&en->pk, 8) < 0)
		en->failed = true;
	snap_pack_kv_str(en, "name", name, len);
	snap_pack_kv_str(en, "state", state, strlen(state));
	snap_pack_kv_str(en, "by", by, strlen(by));
	snap_pack_kv_u64(en, "until_ms", s->until_wall_ms);
	snap_pack_kv_u64(en, "trips", s->consecutive_trips);
	snap_pack_kv_u64(en, "trip_duration_ms", s->trip_duration_ms);
	snap_pack_kv_bool(en, "disabled", s->disabled);
	snap_pack_kv_str(en, "why", s->why, strnlen(s->why, sizeof(s->why)));
}

static void snap_put_weight(void *arg, const struct route_saved_weight *w)
{
	struct snap_enc *en = arg;

	if (msgpack_pack_map(&en->pk, 3) < 0)
		en->failed = true;
	snap_pack_kv_str(en, "pool", w->pool, w->pool_len);
	snap_pack_kv_str(en, "backend", w->backend, w->backend_len);
	snap_pack_kv_u64(en, "weight", w->weight);
}

int snapshot_encode(struct route_engine *e, uint64_t now_ms,
		    uint64_t now_wall_ms, char **out, size_t *len, char *err,
		    size_t err_len)
{
	struct snap_enc en = {.now_ms = now_ms, .now_wall_ms = now_wall_ms};

	*out = NULL;
	*len = 0;
	msgpack_sbuffer_init(&en.sb);
	msgpack_packer_init(&en.pk, &en.sb, msgpack_sbuffer_write);
	route_snapshot_weights(e, snap_count_weight, &en);
	if (msgpack_pack_map(&en.pk, 6) < 0)
		en.failed = true;
	snap_pack_kv_str(&en, "format", SNAP_FORMAT, strlen(SNAP_FORMAT));
	snap_pack_kv_u64(&en, "version", SNAPSHOT_VERSION);
	snap_pack_kv_str(&en, "agent", AOAI_VERSION, strlen(AOAI_VERSION));
	snap_pack_kv_u64(&en, "saved_at_ms", now_wall_ms);
	snap_pack_kv_u64(&en, "backends", route_backend_count(e));
	snap_pack_kv_u64(&en, "weights", en.n_weights);
	route_snapshot_backends(e, now_ms, now_wall_ms, snap_put_backend, &en);
	route_snapshot_weights(e, snap_put_weight, &en);
	/* fixed 9-byte form, so a reader finds it from the end */
	if (!en.failed &&
	    msgpack_pack_fix_uint64(
		    &en.pk, snapshot_checksum(en.sb.data, en.sb.size)) < 0)
		en.failed = true;
	if (en.failed) {
		snap_err(err, err_len, "out of memory");
		goto fail;
	}
	if (en.sb.size > SNAPSHOT_FILE_MAX) {
		snap_err(err, err_len,
			 "snapshot too large: %zu bytes, at most %u",
			 en.sb.size, SNAPSHOT_FILE_MAX);
		goto fail;
	}
	*len = en.sb.size;
	*out = msgpack_sbuffer_release(&en.sb);
	return 0;

fail:
	msgpack_sbuffer_destroy(&en.sb);
	return -1;
}

/* ---------------------------------------------------------------- */
/* decoding                                                          */

/* Reads the <n>-byte big-endian length at p[*off] into *v. */
static bool snap_be(const unsigned char *p, size_t len, size_t *off, size_t n,
		    uint64_t *v)
{
	size_t i;

	if (n > len - *off)
		return false;
	*v = 0;
	for (i = 0; i < n; i++)
		*v = *v << 8 | p[(*off)++];
	return true;
}

/*
 * Measures the msgpack object at the start of the <len> bytes at <p>
 * without building it: *objlen is its length. Returns 0, -1 when it is
 * malformed or runs past <len>, -2 when it holds more than
 * SNAPSHOT_ITEMS_MAX items. msgpack-c's unpacker allocates an array's or
 * map's claimed size before reading a single item, with no limit of its
 * own, so every object is measured here before msgpack_unpack_next() sees
 * it: allocation stays within SNAPSHOT_ITEMS_MAX objects.
 */
static int snap_scan(const unsigned char *p, size_t len, size_t *objlen)
{
	/* msgpack's 0xc0..0xdf headers (spec "formats"): a length of
	 * <lenb> big-endian bytes follows (0: none), then <fixed> bytes of
	 * data, or the length plus <extra> bytes of data (mult 0), or
	 * length x <mult> more items (array 1, map 2); lenb 9: never used
	 */
	static const struct {
		uint8_t lenb, fixed, extra, mult;
	} hdr[32] = {
		[0x00] = {0, 0, 0, 0},	/* nil */
		[0x01] = {9, 0, 0, 0},	/* never used */
		[0x02] = {0, 0, 0, 0},	/* false */
		[0x03] = {0, 0, 0, 0},	/* true */
		[0x04] = {1, 0, 0, 0},	/* bin 8 */
		[0x05] = {2, 0, 0, 0},	/* bin 16 */
		[0x06] = {4, 0, 0, 0},	/* bin 32 */
		[0x07] = {1, 0, 1, 0},	/* ext 8: length, type, data */
		[0x08] = {2, 0, 1, 0},	/* ext 16 */
		[0x09] = {4, 0, 1, 0},	/* ext 32 */
		[0x0a] = {0, 4, 0, 0},	/* float 32 */
		[0x0b] = {0, 8, 0, 0},	/* float 64 */
		[0x0c] = {0, 1, 0, 0},	/* uint 8 */
		[0x0d] = {0, 2, 0, 0},	/* uint 16 */
		[0x0e] = {0, 4, 0, 0},	/* uint 32 */
		[0x0f] = {0, 8, 0, 0},	/* uint 64 */
		[0x10] = {0, 1, 0, 0},	/* int 8 */
		[0x11] = {0, 2, 0, 0},	/* int 16 */
		[0x12] = {0, 4, 0, 0},	/* int 32 */
		[0x13] = {0, 8, 0, 0},	/* int 64 */
		[0x14] = {0, 2, 0, 0},	/* fixext 1: type, data */
		[0x15] = {0, 3, 0, 0},	/* fixext 2 */
		[0x16] = {0, 5, 0, 0},	/* fixext 4 */
		[0x17] = {0, 9, 0, 0},	/* fixext 8 */
		[0x18] = {0, 17, 0, 0}, /* fixext 16 */
		[0x19] = {1, 0, 0, 0},	/* str 8 */
		[0x1a] = {2, 0, 0, 0},	/* str 16 */
		[0x1b] = {4, 0, 0, 0},	/* str 32 */
		[0x1c] = {2, 0, 0, 1},	/* array 16 */
		[0x1d] = {4, 0, 0, 1},	/* array 32 */
		[0x1e] = {2, 0, 0, 2},	/* map 16 */
		[0x1f] = {4, 0, 0, 2},	/* map 32 */
	};
	uint64_t pending = 1, items = 0, add, skip, v;
	size_t off = 0;
	unsigned c;

	while (pending) {
		if (off >= len)
			return -1;
		c = p[off++];
		pending--;
		if (++items > SNAPSHOT_ITEMS_MAX)
			return -2;
		add = 0;
		skip = 0;
		v = 0;
		if (c <= 0x7f || c >= 0xe0) /* fixint */
			;
		else if (c <= 0x8f) /* fixmap */
			add = 2 * (uint64_t)(c & 0x0f);
		else if (c <= 0x9f) /* fixarray */
			add = c & 0x0f;
		else if (c <= 0xbf) /* fixstr */
			skip = c & 0x1f;
		else if (hdr[c - 0xc0].lenb == 9)
			return -1;
		else if (!snap_be(p, len, &off, hdr[c - 0xc0].lenb, &v))
			return -1;
		else if (hdr[c - 0xc0].mult)
			add = v * hdr[c - 0xc0].mult;
		else
			skip = hdr[c - 0xc0].lenb ? v + hdr[c - 0xc0].extra
						  : hdr[c - 0xc0].fixed;
		if (add > SNAPSHOT_ITEMS_MAX)
			return -2;
		pending += add;
		if (skip > len - off)
			return -1;
		off += (size_t)skip;
	}
	*objlen = off;
	return 0;
}

/* A pass over the objects of a file: cursor, the object read last. */
struct snap_rd {
	const char *buf;
	size_t end; /* where objects end: the trailer's offset */
	size_t off; /* next object */
	msgpack_unpacked u;
	char *err;
	size_t err_len;
};

/* Reads the object at rd->off into rd->u.data, <what> naming it in
 * errors. Returns 0 or -1 (reported).
 */
static int snap_next(struct snap_rd *rd, const char *what)
{
	size_t n = 0, off = rd->off;
	int r;

	r = snap_scan((const unsigned char *)rd->buf + rd->off,
		      rd->end - rd->off, &n);
	if (r == -2) {
		snap_err(rd->err, rd->err_len,
			 "%s at byte %zu: more than %d items", what, rd->off,
			 SNAPSHOT_ITEMS_MAX);
		return -1;
	}
	if (r < 0 ||
	    msgpack_unpack_next(&rd->u, rd->buf, rd->off + n, &off) !=
		    MSGPACK_UNPACK_SUCCESS ||
	    off != rd->off + n) {
		snap_err(rd->err, rd->err_len, "%s at byte %zu: %s", what,
			 rd->off,
			 r < 0 ? "truncated or malformed" : "malformed");
		return -1;
	}
	rd->off = off;
	return 0;
}

/* Value of key <key> in map <m>, or NULL (first one if repeated). */
static const msgpack_object *snap_get(const msgpack_object *m, const char *key)
{
	size_t klen = strlen(key);
	uint32_t i;

	for (i = 0; i < m->via.map.size; i++) {
		const msgpack_object *k = &m->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    memcmp(k->via.str.ptr, key, klen) == 0)
			return &m->via.map.ptr[i].val;
	}
	return NULL;
}

/* Typed reads of key <key> of map <m>, for object <what>; each returns 0
 * or -1 (reported). A missing key is an error when <required>, else it
 * leaves the output alone.
 */
static int snap_u64(struct snap_rd *rd, const msgpack_object *m,
		    const char *what, const char *key, bool required,
		    uint64_t max, uint64_t *out)
{
	const msgpack_object *v = snap_get(m, key);

	if (!v && !required)
		return 0;
	if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    v->via.u64 > max) {
		snap_err(rd->err, rd->err_len,
			 "%s: '%s' %s (an integer, at most %llu)", what, key,
			 v ? "invalid" : "missing", (unsigned long long)max);
		return -1;
	}
	*out = v->via.u64;
	return 0;
}

static int snap_str(struct snap_rd *rd, const msgpack_object *m,
		    const char *what, const char *key, bool required,
		    size_t max, const char **out, size_t *len)
{
	const msgpack_object *v = snap_get(m, key);

	if (!v && !required)
		return 0;
	if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size > max ||
	    (required && v->via.str.size == 0)) {
		snap_err(rd->err, rd->err_len,
			 "%s: '%s' %s (a string of at most %zu bytes)", what,
			 key, v ? "invalid" : "missing", max);
		return -1;
	}
	*out = v->via.str.ptr;
	*len = v->via.str.size;
	return 0;
}

static int snap_bool(struct snap_rd *rd, const msgpack_object *m,
		     const char *what, const char *key, bool *out)
{
	const msgpack_object *v = snap_get(m, key);

	if (!v || v->type != MSGPACK_OBJECT_BOOLEAN) {
		snap_err(rd->err, rd->err_len, "%s: '%s' %s (a boolean)", what,
			 key, v ? "invalid" : "missing");
		return -1;
	}
	*out = v->via.boolean;
	return 0;
}

/* Copies at most <size> - 1 bytes of the <len> at <src> into <dst>, NUL
 * terminated, anything but printable ASCII as '?': text from a file is
 * logged and shown by "show backends" (JSON too).
 */
static void snap_printable(char *dst, size_t size, const char *src, size_t len)
{
	size_t i;

	if (len > size - 1)
		len = size - 1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c < 0x20 || c > 0x7e ? '?' : (char)c;
	}
	dst[len] = '\0';
}

static bool snap_is_map(struct snap_rd *rd, const char *what)
{
	if (rd->u.data.type == MSGPACK_OBJECT_MAP)
		return true;
	snap_err(rd->err, rd->err_len, "%s: expected a map", what);
	return false;
}

/* Reads one backend entry into <name>/<len> and <s>. Returns 0 or -1. */
static int snap_backend(struct snap_rd *rd, uint64_t i, const char **name,
			size_t *len, struct route_saved *s)
{
	static const enum route_state states[] = {
		ROUTE_ST_CLOSED, ROUTE_ST_OPEN, ROUTE_ST_COOLING,
		ROUTE_ST_HALF_OPEN};
	const msgpack_object *m = &rd->u.data;
	const char *st = NULL, *why = NULL, *by = NULL;
	size_t st_len = 0, why_len = 0, by_len = 0, j;
	uint64_t until = 0, trips = 0, dur = 0;
	char what[40];

	snprintf(what, sizeof(what), "backend entry %llu",
		 (unsigned long long)i + 1);
	if (snap_next(rd, what) < 0 || !snap_is_map(rd, what))
		return -1;
	if (snap_str(rd, m, what, "name", true, CFG_NAME_MAX - 1, name, len) <
		    0 ||
	    snap_str(rd, m, what, "state", true, 16, &st, &st_len) < 0 ||
	    snap_u64(rd, m, what, "until_ms", true, UINT64_MAX, &until) < 0 ||
	    snap_u64(rd, m, what, "trips", true, UINT32_MAX, &trips) < 0 ||
	    snap_u64(rd, m, what, "trip_duration_ms", false, UINT32_MAX, &dur) <
		    0 ||
	    snap_bool(rd, m, what, "disabled", &s->disabled) < 0 ||
	    snap_str(rd, m, what, "why", false, 1024, &why, &why_len) < 0 ||
	    snap_str(rd, m, what, "by", false, 16, &by, &by_len) < 0)
		return -1;
	for (j = 0; j < sizeof(states) / sizeof(states[0]); j++) {
		const char *sn = route_state_str(states[j]);

		if (strlen(sn) == st_len && memcmp(sn, st, st_len) == 0)
			break;
	}
	if (j == sizeof(states) / sizeof(states[0])) {
		snap_err(rd->err, rd->err_len, "%s: unknown state '%.*s'", what,
			 (int)st_len, st);
		return -1;
	}
	s->state = states[j];
	/* "by" came after version 1's first files: without it, the reason
	 * text is the only record of an operator's trip or reset
	 */
	if (by)
		s->cause = by_len == 8 && memcmp(by, "operator", 8) == 0
				   ? ROUTE_BY_OPERATOR
			   : by_len == 5 && memcmp(by, "fleet", 5) == 0
				   ? ROUTE_BY_FLEET
				   : ROUTE_BY_BREAKER;
	else
		s->cause = why_len >= 9 && memcmp(why, "operator ", 9) == 0
				   ? ROUTE_BY_OPERATOR
				   : ROUTE_BY_BREAKER;
	s->until_wall_ms = until;
	s->consecutive_trips = (uint32_t)trips;
	s->trip_duration_ms = (uint32_t)dur;
	snap_printable(s->why, sizeof(s->why), why, why_len);
	return 0;
}

/* Reads one weight entry. Returns 0 or -1. */
static int snap_weight(struct snap_rd *rd, uint64_t i,
		       struct route_saved_weight *w)
{
	const msgpack_object *m = &rd->u.data;
	uint64_t weight = 0;
	char what[40];

	snprintf(what, sizeof(what), "weight entry %llu",
		 (unsigned long long)i + 1);
	if (snap_next(rd, what) < 0 || !snap_is_map(rd, what))
		return -1;
	if (snap_str(rd, m, what, "pool", true, CFG_NAME_MAX - 1, &w->pool,
		     &w->pool_len) < 0 ||
	    snap_str(rd, m, what, "backend", true, CFG_NAME_MAX - 1,
		     &w->backend, &w->backend_len) < 0 ||
	    snap_u64(rd, m, what, "weight", true, CFG_WEIGHT_MAX, &weight) < 0)
		return -1;
	w->weight = (uint32_t)weight;
	return 0;
}

/* One pass over the entries: checks them all (<e> NULL) or restores them
 * onto <e>, the first entry of a backend name winning. Returns 0 or -1
 * (reported).
 */
static int snap_entries(struct snap_rd *rd, uint64_t n_backends,
			uint64_t n_weights, struct route_engine *e,
			uint64_t now_ms, uint64_t now_wall_ms,
			struct snapshot_stats *st)
{
	uint64_t seen[CFG_BACKENDS_MAX / 64] = {0}; /* backends restored */
	struct route_saved_weight w;
	struct route_saved s;
	const char *name = NULL;
	size_t len = 0;
	uint64_t i;
	int p, b;

	for (i = 0; i < n_backends; i++) {
		memset(&s, 0, sizeof(s));
		if (snap_backend(rd, i, &name, &len, &s) < 0)
			return -1;
		if (!e)
			continue;
		b = route_backend_index(e, name, len);
		if (b < 0) {
			st->unknown++;
			continue;
		}
		if ((unsigned)b < CFG_BACKENDS_MAX) {
			if (seen[b / 64] >> (b % 64) & 1) {
				st->skipped++;
				continue;
			}
			seen[b / 64] |= 1ULL << (b % 64);
		}
		if (route_restore_backend(e, name, len, &s, now_ms,
					  now_wall_ms) == 0)
			st->backends++;
		else
			st->skipped++;
	}
	for (i = 0; i < n_weights; i++) {
		memset(&w, 0, sizeof(w));
		if (snap_weight(rd, i, &w) < 0)
			return -1;
		if (!e)
			continue;
		p = route_pool_index(e, w.pool, w.pool_len);
		b = route_backend_index(e, w.backend, w.backend_len);
		if (p >= 0 && b >= 0 &&
		    route_set_weight(e, p, b, w.weight) == 0)
			st->weights++;
		else
			st->weights_ignored++;
	}
	if (rd->off != rd->end) {
		snap_err(rd->err, rd->err_len, "%zu bytes after the last entry",
			 rd->end - rd->off);
		return -1;
	}
	return 0;
}

int snapshot_decode(struct route_engine *e, const char *buf, size_t len,
		    uint64_t now_ms, uint64_t now_wall_ms,
		    struct snapshot_stats *st, char *err, size_t err_len)
{
	struct snap_rd rd = {
		.buf = buf, .end = len, .err = err, .err_len = err_len};
	struct snapshot_stats local;
	const msgpack_object *m = &rd.u.data;
	const char *fmt = NULL, *agent = NULL;
	size_t fmt_len = 0, agent_len = 0, body;
	uint64_t version = 0, n_backends = 0, n_weights = 0, sum = 0, tr;
	int rc = -1;

	if (!st)
		st = &local;
	memset(st, 0, sizeof(*st));
	msgpack_unpacked_init(&rd.u);
	if (len > SNAPSHOT_FILE_MAX) {
		snap_err(err, err_len, "too large: %zu bytes, at most %u", len,
			 SNAPSHOT_FILE_MAX);
		goto out;
	}
	if (len == 0) {
		snap_err(err, err_len, "empty file");
		goto out;
	}
	/* the header first: a newer version may lay out the rest otherwise */
	if (snap_next(&rd, "header") < 0)
		goto out;
	if (m->type != MSGPACK_OBJECT_MAP ||
	    snap_str(&rd, m, "header", "format", true, 64, &fmt, &fmt_len) <
		    0 ||
	    fmt_len != strlen(SNAP_FORMAT) ||
	    memcmp(fmt, SNAP_FORMAT, fmt_len) != 0) {
		snap_err(err, err_len, "not an aoai-spoa state file");
		goto out;
	}
	if (snap_str(&rd, m, "header", "agent", false, sizeof(st->agent) - 1,
		     &agent, &agent_len) < 0 ||
	    snap_u64(&rd, m, "header", "version", true, UINT64_MAX, &version) <
		    0)
		goto out;
	snap_printable(st->agent, sizeof(st->agent), agent ? agent : "",
		       agent_len);
	if (version != SNAPSHOT_VERSION) {
		snap_err(err, err_len,
			 "unsupported version %llu (written by aoai-spoa %s), "
			 "expected %d",
			 (unsigned long long)version,
			 st->agent[0] ? st->agent : "?", SNAPSHOT_VERSION);
		goto out;
	}
	body = rd.off;
	if (snap_u64(&rd, m, "header", "saved_at_ms", true, UINT64_MAX,
		     &st->saved_at_ms) < 0 ||
	    snap_u64(&rd, m, "header", "backends", true, CFG_BACKENDS_MAX,
		     &n_backends) < 0 ||
	    snap_u64(&rd, m, "header", "weights", true, SNAP_WEIGHTS_MAX,
		     &n_weights) < 0)
		goto out;
	/* checked before any entry: a torn or damaged file goes no further */
	if (len - body < SNAP_TRAILER_LEN ||
	    (unsigned char)buf[len - SNAP_TRAILER_LEN] != 0xcf) {
		snap_err(err, err_len, "truncated: no checksum at the end");
		goto out;
	}
	rd.end = len - SNAP_TRAILER_LEN;
	tr = rd.end + 1;
	if (!snap_be((const unsigned char *)buf, len, &tr, 8, &sum) ||
	    sum != snapshot_checksum(buf, rd.end)) {
		snap_err(err, err_len,
			 "checksum mismatch: corrupt or truncated");
		goto out;
	}
	if (n_backends + n_weights > rd.end - body) {
		snap_err(err, err_len,
			 "header announces %llu entries in %zu bytes",
			 (unsigned long long)(n_backends + n_weights),
			 rd.end - body);
		goto out;
	}
	if (snap_entries(&rd, n_backends, n_weights, NULL, 0, 0, st) < 0)
		goto out;
	rd.off = body;
	rc = snap_entries(&rd, n_backends, n_weights, e, now_ms, now_wall_ms,
			  st);
out:
	msgpack_unpacked_destroy(&rd.u);
	return rc;
}

/* ---------------------------------------------------------------- */
/* files                                                             */

/* Writes <len> bytes of <buf> to <fd>. Returns 0 or -1 (errno). */
static int snap_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsyncs the directory holding <path>, so a rename in it is durable.
 * Returns 0 or -1 (errno).
 */
static int snap_sync_dir(const char *path)
{
	char dir[CFG_STATE_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd, rc, saved;

	if (!slash) {
		memcpy(dir, ".", 2);
	} else {
		/* a file at the root: its directory is "/" */
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int snapshot_save(struct route_engine *e, const char *path, uint64_t now_ms,
		  uint64_t now_wall_ms, bool durable, char *err, size_t err_len)
{
	char tmp[CFG_STATE_MAX + sizeof(SNAP_TMP_SUFFIX)];
	char *buf = NULL;
	size_t len;
	int fd, rc = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s" SNAP_TMP_SUFFIX, path) >=
	    sizeof(tmp)) {
		snap_err(err, err_len, "path too long");
		return -1;
	}
	if (snapshot_encode(e, now_ms, now_wall_ms, &buf, &len, err, err_len) <
	    0)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd == -1) {
		snap_err(err, err_len, "cannot create %s: %s", tmp,
			 strerror(errno));
		goto free_buf;
	}
	/* exactly 0600 whatever the umask, even for a stale temporary file */
	if (fchmod(fd, 0600) == -1 || snap_write_all(fd, buf, len) == -1 ||
	    (durable && fsync(fd) == -1)) {
		snap_err(err, err_len, "cannot write %s: %s", tmp,
			 strerror(errno));
		close(fd);
		goto unlink_tmp;
	}
	if (close(fd) == -1) {
		snap_err(err, err_len, "cannot write %s: %s", tmp,
			 strerror(errno));
		goto unlink_tmp;
	}
	if (rename(tmp, path) == -1) {
		snap_err(err, err_len, "cannot rename %s to %s: %s", tmp, path,
			 strerror(errno));
		goto unlink_tmp;
	}
	if (durable && snap_sync_dir(path) == -1) {
		snap_err(err, err_len,
			 "written, but fsync of its directory "
			 "failed: %s",
			 strerror(errno));
		goto free_buf;
	}
	rc = 0;
	goto free_buf;

unlink_tmp:
	unlink(tmp);
free_buf:
	free(buf);
	return rc;
}

int snapshot_load(struct route_engine *e, const char *path, uint64_t now_ms,
		  uint64_t now_wall_ms, struct snapshot_stats *st, char *err,
		  size_t err_len)
{
	struct stat sb;
	size_t cap, got = 0;
	char *buf;
	ssize_t n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 1;
		snap_err(err, err_len, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		snap_err(err, err_len, "cannot stat: %s", strerror(errno));
		goto close_fd;
	}
	if (!S_ISREG(sb.st_mode)) {
		snap_err(err, err_len, "not a regular file");
		goto close_fd;
	}
	if (sb.st_size > (off_t)SNAPSHOT_FILE_MAX) {
		snap_err(err, err_len, "too large: %lld bytes, at most %u",
			 (long long)sb.st_size, SNAPSHOT_FILE_MAX);
		goto close_fd;
	}
	/* one byte more than announced: a file that grew is seen as such */
	cap = (size_t)sb.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		snap_err(err, err_len, "out of memory");
		goto close_fd;
	}
	while (got < cap) {
		n = read(fd, buf + got, cap - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snap_err(err, err_len, "cannot read: %s",
				 strerror(errno));
			goto free_buf;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == cap) {
		snap_err(err, err_len, "changed while being read");
		goto free_buf;
	}
	rc = snapshot_decode(e, buf, got, now_ms, now_wall_ms, st, err,
			     err_len);
free_buf:
	free(buf);
close_fd:
	close(fd);
	return rc;
}

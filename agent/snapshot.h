/* SPDX-License-Identifier: Apache-2.0 */
/* State snapshots: the routing engine's breaker state in a msgpack file. */
#ifndef AOAI_SNAPSHOT_H
#define AOAI_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "route-t.h"

/*
 * A snapshot keeps what must survive a restart (struct route_saved per
 * backend, and the weight overrides), so a restarted agent still avoids a
 * backend that is throttled or tripped. The file is a sequence of msgpack
 * objects, version SNAPSHOT_VERSION:
 *
 *   header   map: format "aoai-spoa-state", version 1, agent (the
 *            writer's version string), saved_at_ms (wall clock),
 *            backends N, weights M
 *   N maps   name, state ("closed", "open", "cooling", "half-open"),
 *            by (who set the state: "breaker" or "operator"; optional,
 *            an entry without it counts as the operator's when why
 *            starts with "operator "), until_ms (wall-clock deadline, 0
 *            none), trips (consecutive), trip_duration_ms, disabled, why
 *   M maps   pool, backend, weight
 *   trailer  uint64 in its 9-byte form (0xcf, big-endian): FNV-1a 64 of
 *            every byte before it
 *
 * Unknown map keys are ignored, so version 1 may grow fields. Nothing is
 * applied unless the whole file is valid. This module does no logging: it
 * returns the reason as text.
 */

#define SNAPSHOT_VERSION   1
#define SNAPSHOT_FILE_MAX  (4u * 1024 * 1024) /* bytes read or written */
#define SNAPSHOT_ITEMS_MAX 64  /* msgpack items in one top-level object */
#define SNAPSHOT_ERR_MAX   160 /* error text, with the NUL */

struct route_engine;

/* What a restore did. */
struct snapshot_stats {
	uint32_t backends;	  /* entries restored onto a backend */
	uint32_t unknown;	  /* entries naming no configured backend */
	uint32_t skipped;	  /* a backend's second entry, or a backend
				   * with live state (not closed) */
	uint32_t weights;	  /* weight overrides restored */
	uint32_t weights_ignored; /* overrides of no configured member */
	uint64_t saved_at_ms;	  /* when it was written (wall clock) */
	char agent[64];		  /* version of the agent that wrote it */
};

/* Encodes the state of <e> at <now_ms> (monotonic) = <now_wall_ms> (ms
 * since the Unix epoch) into a new malloc'ed buffer, *out of *len bytes,
 * owned by the caller. May run the route hook (passed deadlines). Returns
 * 0, or -1 with <err> filled (out of memory, larger than
 * SNAPSHOT_FILE_MAX).
 */
int snapshot_encode(struct route_engine *e, uint64_t now_ms,
		    uint64_t now_wall_ms, char **out, size_t *len, char *err,
		    size_t err_len);

/* Checks the <len> bytes at <buf> completely, then restores them onto <e>
 * (route_restore_backend(), route_set_weight()): all or nothing. Fills
 * <st> (may be NULL). Returns 0, or -1 with <err> filled and <e> untouched
 * (not a snapshot, wrong version, truncated, checksum mismatch, a bad
 * entry). Allocation is bounded by SNAPSHOT_ITEMS_MAX per object.
 */
int snapshot_decode(struct route_engine *e, const char *buf, size_t len,
		    uint64_t now_ms, uint64_t now_wall_ms,
		    struct snapshot_stats *st, char *err, size_t err_len);

/* snapshot_encode() written to <path> atomically: a temporary file beside
 * it (<path>.tmp, mode 0600), renamed over <path>. With <durable>, the file
 * and then its directory are fsynced too (the exit save); periodic saves
 * skip that so the event loop never waits on the disk, and a file torn by
 * a crash is caught by the checksum at load and ignored. Returns 0, or -1
 * with <err> filled and <path> untouched.
 */
int snapshot_save(struct route_engine *e, const char *path, uint64_t now_ms,
		  uint64_t now_wall_ms, bool durable, char *err,
		  size_t err_len);

/* Reads <path> (a regular file of at most SNAPSHOT_FILE_MAX bytes) and
 * snapshot_decode()s it. Returns 0, 1 when <path> does not exist (nothing
 * done, no error), or -1 with <err> filled and <e> untouched.
 */
int snapshot_load(struct route_engine *e, const char *path, uint64_t now_ms,
		  uint64_t now_wall_ms, struct snapshot_stats *st, char *err,
		  size_t err_len);

/* FNV-1a 64 of <len> bytes at <buf>: the trailer's checksum (exported for
 * the tests and the fuzz target, which build valid files by hand).
 */
uint64_t snapshot_checksum(const void *buf, size_t len);

#endif /* AOAI_SNAPSHOT_H */

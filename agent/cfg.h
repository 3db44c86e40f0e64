/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration loading: YAML (libyaml) into struct cfg, fully validated. */
#ifndef AOAI_CFG_H
#define AOAI_CFG_H

#include <stddef.h>

#include "cfg-t.h"

/* Parses and validates the file at <path>. Every problem found is passed to
 * <err> as "FILE:LINE:COL: message"; all of them are reported, not only the
 * first. Returns a new configuration owned by the caller (cfg_free()), or
 * NULL when there was at least one error.
 */
struct cfg *cfg_load(const char *path, cfg_error_fn err, void *arg);

/* Same as cfg_load() over an in-memory document; <name> is used in messages
 * and as cfg->file.
 */
struct cfg *cfg_parse(const char *name, const char *buf, size_t len,
		      cfg_error_fn err, void *arg);

/* Fills <cfg> with every default (no listeners, no backends, no pools). */
void cfg_defaults(struct cfg *cfg);

/* Defaults of a backend's breaker and headroom when the file says nothing. */
void cfg_backend_defaults(struct cfg_backend *b);

/* Returns the index of backend <name> or -1. */
int cfg_backend_index(const struct cfg *cfg, const char *name);

void cfg_free(struct cfg *cfg);

/* Writes listener <l>'s address as the file says it: "tcp://HOST:PORT",
 * "tcp://[V6]:PORT" or "unix:///PATH". Returns <buf>.
 */
const char *cfg_listener_str(const struct cfg_listener *l, char *buf,
			     size_t size);

/* True when listeners <a> and <b> would bind the same socket. */
bool cfg_listener_same(const struct cfg_listener *a,
		       const struct cfg_listener *b);

/* A control socket's level as the file says it: "user", "operator",
 * "admin".
 */
const char *cfg_level_str(enum cfg_level level);

/* The schema: every key of the file, in file order, block by block. Sets
 * *<n> to the count. The table is static and never changes.
 */
const struct cfg_field *cfg_schema(size_t *n);

/* "map", "list", "integer", "duration", "boolean", "status list",
 * "log level", "name", "address", "socket", "file mode", "level", "path".
 */
const char *cfg_type_str(enum cfg_type t);

/* Where the keys of block <b> sit in the file: "" (top level), "agent",
 * "listen[]", "haproxy", "defaults", "circuit_breaker",
 * "circuit_breaker.failure", "headroom", "backends[]", "pools[]",
 * "pools[].members[]". circuit_breaker and headroom sit both in defaults
 * and in each backend.
 */
const char *cfg_block_path(enum cfg_block b);

/* Walks <cfg> in file order and calls <fn> for every mapping, list and
 * value, each with its schema entry, its value as the file would say it
 * and whether that is the built-in default: what "show config" renders, in
 * YAML or JSON. A default derived from other keys (max_trip_duration) is
 * never reported as the default, so a rendering that leaves defaults out
 * still loads to the same configuration. Backends show their effective breaker and headroom (the
 * defaults block is merged into them at load). Optional blocks that are
 * absent (metrics, haproxy, state_file) are left out. No allocation.
 */
void cfg_schema_walk(const struct cfg *cfg, cfg_visit_fn fn, void *arg);

/* The schema's helpers for the parser (cfg.c), implemented beside the
 * table in cfg-schema.c: values from text, defaults, the keys of one block.
 */
#define CFG_BLOCK_KEYS_MAX 16 /* keys of the largest block */

/* The fields of block <b> in file order: stores at most CFG_BLOCK_KEYS_MAX
 * pointers in <out> and returns their count.
 */
size_t cfg_block_fields(enum cfg_block b, const struct cfg_field **out);

/* Sets field <f> of the struct at <base> from text <s> (a scalar as the
 * file holds it; for CFG_T_STATUS a list "408, 500-599" that replaces the
 * set). Returns 0, or -1 with the reason, without the key, in <err> of
 * <len> bytes ("expected an integer 1..100"). Types the schema cannot set
 * alone (CFG_OFF_NONE) are an error.
 */
int cfg_value_set(const struct cfg_field *f, const char *s, void *base,
		  char *err, size_t len);

/* Writes field <f> of the struct at <base> as the file would say it.
 * Returns <buf>.
 */
const char *cfg_value_fmt(const struct cfg_field *f, const void *base,
			  char *buf, size_t size);

/* Sets every field of block <b> that has a default, in the struct at
 * <base>, to that default.
 */
void cfg_block_defaults(enum cfg_block b, void *base);

#endif /* AOAI_CFG_H */

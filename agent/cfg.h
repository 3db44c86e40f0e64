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

#endif /* AOAI_CFG_H */

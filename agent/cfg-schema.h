/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration schema's helpers for the parser (cfg.c): values from
 * text, defaults, the keys of one block.
 */
#ifndef AOAI_CFG_SCHEMA_H
#define AOAI_CFG_SCHEMA_H

#include <stddef.h>

#include "cfg-t.h"

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

#endif /* AOAI_CFG_SCHEMA_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Delivery of access tokens to HAProxy: the map file HAProxy loads at
 * start (written atomically, mode 0640) and the runtime API "set map"
 * line that updates a running HAProxy. Tokens go nowhere else.
 */
#ifndef AOAI_TOKMAP_H
#define AOAI_TOKMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "secret-t.h"

/* Value of a key whose credential has no usable token: HAProxy's
 * configuration sends no Authorization header for it (and routing keeps
 * traffic away from that backend).
 */
#define TOKMAP_NONE "-"
#define TOKMAP_MODE 0640
#define TOKMAP_MAX  (1 << 20) /* bytes of one map file */

/* One line of the map: <key> is the backend's name. */
struct tokmap_entry {
	const char *key;	     /* map key */
	const struct sec_buf *token; /* NULL: TOKMAP_NONE */
};

/* True when <s> can be a map key or a map path on the runtime API: not
 * empty, printable ASCII without spaces, '#', ';' or '\'.
 */
bool tokmap_word_ok(const char *s);

/* Replaces <path> with a map of the <n> entries: written to a temporary
 * file in the same folder (mode TOKMAP_MODE, group inherited from a
 * setgid folder), fsync'd, renamed over <path>, folder fsync'd; a reader
 * sees the old file or the new one. Returns 0, or -1 with the reason in
 * <err>.
 */
int tokmap_write(const char *path, const struct tokmap_entry *e, size_t n,
		 char *err, size_t errlen);

/* Fills <out> with the runtime API command "set map <map> <key> <token>\n"
 * (TOKMAP_NONE when <token> is NULL). Returns 0, or -1 with the reason in
 * <err> (a word that would need quoting, a token with characters a bearer
 * token cannot hold, or no room).
 */
int tokmap_set_cmd(struct sec_buf *out, const char *map, const char *key,
		   const struct sec_buf *token, char *err, size_t errlen);

#endif /* AOAI_TOKMAP_H */

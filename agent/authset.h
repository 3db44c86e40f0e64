/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's Entra ID credentials as a set: one per keyless backend, one
 * token map file shared by all, a "set map" line to HAProxy on every
 * change, and an availability hook for routing. Knows nothing of the
 * configuration format, the control socket or the runtime API client: the
 * owner passes settings in and gets callbacks out.
 */
#ifndef AOAI_AUTHSET_H
#define AOAI_AUTHSET_H

#include <stddef.h>

#include "authset-t.h"

/* Prepares an empty set for at most <max> credentials sharing the map
 * <map_path>, which HAProxy knows as <map_name> (NULL: the same path).
 * Returns 0, or -1 with the reason in <err>.
 */
int authset_init(struct authset *s, struct ev_loop *loop, size_t max,
		 const char *map_path, const char *map_name, cred_clock_fn now,
		 void *now_arg, char *err, size_t errlen);

/* Sets the hooks (either may be NULL). A "set map" the sender could not
 * hand over is sent again, with the token current by then, after 1 s,
 * doubling up to 30 s, until it is.
 */
void authset_hooks(struct authset *s, authset_send_fn send, void *send_arg,
		   authset_avail_fn avail, void *avail_arg);

/* Adds a credential for backend cc->name (secret files read now). Returns
 * 0, or -1 with the reason in <err> ("name: reason").
 */
int authset_add(struct authset *s, const struct cred_conf *cc, uint64_t seed,
		char *err, size_t errlen);

/* Before authset_start() of <s>: each credential of <s> takes over the
 * token of <old>'s credential of the same backend when it is the same
 * identity (cred_adopt()). Returns how many did.
 */
size_t authset_adopt(struct authset *s, const struct authset *old);

/* Writes the map when it does not exist yet (every key "-", so HAProxy
 * can load it and "set map" finds the keys), then starts every credential.
 * An existing map is left alone: it may hold tokens still valid that a
 * reload of HAProxy would need. Returns 0, or -1 with the reason in <err>.
 */
int authset_start(struct authset *s, char *err, size_t errlen);

/* After a reload (authset_adopt(), authset_start()): rewrites the map from
 * the tokens now held (a backend added gets its key, one removed loses
 * it) and sends the "set map" of each usable one. Returns 0, or -1 when
 * the map could not be written (logged).
 */
int authset_sync(struct authset *s);

/* Stops every credential; wipes and frees everything. */
void authset_free(struct authset *s);

/* Output sink of authset_metrics(): printf-like, e.g. around the metrics
 * module's buffer.
 */
typedef void (*authset_out_fn)(void *arg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Renders the credentials' metric families (Prometheus text format,
 * <prefix> before each name, HELP and TYPE once per family, samples
 * grouped): auth_token_refreshes_total{backend,kind},
 * auth_token_failures_total{backend,cause}, auth_token_expiry_seconds and
 * auth_token_usable{backend}. Backend names are map keys: nothing in them
 * needs escaping. Nothing rendered is secret.
 */
void authset_metrics(const struct authset *s, const char *prefix,
		     authset_out_fn out, void *arg);

/* The credential of backend <name>, or NULL. */
const struct cred *authset_find(const struct authset *s, const char *name);

#endif /* AOAI_AUTHSET_H */

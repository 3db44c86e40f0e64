/* SPDX-License-Identifier: Apache-2.0 */
/* Entra ID credentials: fetch an access token (managed identity, workload
 * identity, client secret or certificate), refresh it ahead of expiry with
 * jittered back-off, keep it while valid, report when it is gone. Knows
 * nothing of HAProxy or routing: the owner is told through a callback.
 */
#ifndef AOAI_CRED_H
#define AOAI_CRED_H

#include <stddef.h>

#include "cred-t.h"

/* "managed-identity", "workload-identity", "client-secret",
 * "client-certificate"; cred_kind_parse() returns -1 for anything else.
 */
const char *cred_kind_name(enum cred_kind k);
int cred_kind_parse(const char *s);
const char *cred_cause_name(enum cred_cause f);

/* Fills the defaults: IMDS address, authority, resource, 10 s timeout,
 * back-off 1 s to 60 s; the workload identity's token file, client and
 * tenant from AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID and
 * AZURE_TENANT_ID when set.
 */
void cred_conf_defaults(struct cred_conf *cc, enum cred_kind kind);

/* Checks <cc> is complete for its kind. Returns 0, or -1 with the reason
 * in <err>.
 */
int cred_conf_check(const struct cred_conf *cc, char *err, size_t errlen);

/* When to refresh a token that arrived at <acquired> and expires at
 * <expires> (ms): at half-life, or 5 minutes before expiry when that is
 * earlier and still after <acquired>.
 */
int64_t cred_refresh_at(int64_t acquired, int64_t expires);

/* Delay before retry number <failures> (>= 1): doubling from <min_ms>,
 * capped at <max_ms>, then jittered down by up to a fifth from <rng>.
 */
uint32_t cred_backoff_ms(uint32_t failures, uint32_t min_ms, uint32_t max_ms,
			 uint64_t *rng);

/* Prepares <c> from <cc>: reads the client secret or the certificate now
 * (files checked), sets up TLS. <seed> seeds the jitter. Returns 0, or -1
 * with the reason in <err>; nothing to free then.
 */
int cred_init(struct cred *c, const struct cred_conf *cc, struct ev_loop *loop,
	      cred_clock_fn now, void *now_arg, cred_change_fn change,
	      void *change_arg, uint64_t seed, char *err, size_t errlen);

/* Starts: the first request goes out from the loop, or, with a token
 * adopted by cred_adopt(), at that token's refresh time.
 */
void cred_start(struct cred *c);

/* Before cred_start(): takes over <src>'s usable token (and counters) when
 * both name the same identity at the same endpoint, so a reload of the
 * configuration neither refetches nor leaves a gap. Returns true when it
 * did.
 */
bool cred_adopt(struct cred *dst, const struct cred *src);

/* Stops timers and the request in flight, wipes and frees everything. */
void cred_free(struct cred *c);

/* True while the current token may be sent. */
bool cred_usable(const struct cred *c);

/* Seconds until the current token's expires_on (0 when none): the gauge
 * of the metrics.
 */
int64_t cred_seconds_left(const struct cred *c);

/* The token HAProxy should hold: the current one until its expires_on,
 * also after cred_usable() turned false (requests already routed to the
 * backend still go out with it); NULL when none.
 */
const struct sec_buf *cred_token(const struct cred *c);

/* One line for `show backends`: kind, state, seconds to expiry, last
 * error; never the token or the secret.
 */
void cred_describe(const struct cred *c, char *buf, size_t size);

#endif /* AOAI_CRED_H */

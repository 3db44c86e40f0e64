/* SPDX-License-Identifier: Apache-2.0 */
/* Client assertions for Entra ID (a JWT signed RS256 with a certificate's
 * private key, "x5t#S256" header), built with OpenSSL.
 */
#ifndef AOAI_JWT_H
#define AOAI_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "jwt-t.h"
#include "secret-t.h"

#define JWT_LIFETIME 600 /* s between nbf and exp */
#define JWT_PEM_MAX  65536

/* Loads the first certificate and the private key of <path> (mode checked
 * like any secret file) into <jc>, which holds no key yet. Returns 0, or -1 with the reason in <err>.
 */
int jwt_cert_load(struct jwt_cert *jc, const char *path, char *err,
		  size_t errlen);
void jwt_cert_free(struct jwt_cert *jc);

/* Writes into <out> the compact JWT "header.claims.signature" with aud
 * <aud>, iss and sub <client_id>, jti from the 16 bytes <jti>, nbf and iat
 * <now>, exp <now> + JWT_LIFETIME. Returns 0, or -1 with the reason in
 * <err>.
 */
int jwt_client_assertion(const struct jwt_cert *jc, const char *aud,
			 const char *client_id, int64_t now,
			 const unsigned char jti[16], struct sec_buf *out,
			 char *err, size_t errlen);

/* base64url without padding of <n> bytes into <out> (size >= 4n/3 + 4);
 * returns the length written.
 */
size_t jwt_b64url(const unsigned char *in, size_t n, char *out);

#endif /* AOAI_JWT_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Access-token responses of the instance metadata service and of Entra
 * ID's v2.0 token endpoint, read with jansson. Error texts never contain
 * bytes of the response that could be a token.
 */
#ifndef AOAI_TOKEN_H
#define AOAI_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret-t.h"

#define TOKEN_MAX 16384 /* bytes of one access token */

/* Makes jansson wipe every block it frees, so token strings it copied do
 * not linger in the heap. Process-wide; idempotent.
 */
void token_json_init(void);

/* Reads a successful token response: "access_token" into <token>, and
 * the absolute expiry (s since the epoch) from "expires_on" (IMDS, a
 * string or a number) or else "expires_in" counted from <now>. Returns
 * 0, or -1 with the reason in <err>.
 */
int token_parse(const char *body, size_t len, int64_t now,
		struct sec_buf *token, int64_t *expires_on, char *err,
		size_t errlen);

/* The "error" code (and the AADSTS number of "error_description" when
 * there is one) of an error response, printable ASCII only, for logs and
 * `show backends`. Writes "" when the body says nothing usable.
 */
void token_error_summary(const char *body, size_t len, char *out,
			 size_t outlen);

/* True when <s> (<n> bytes) is made only of the characters an OAuth
 * bearer token may hold (RFC 6750 b64token), so it can go into a map file
 * or a runtime API command unescaped.
 */
bool token_chars_ok(const char *s, size_t n);

#endif /* AOAI_TOKEN_H */

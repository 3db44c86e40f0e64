/* SPDX-License-Identifier: Apache-2.0 */
/* Bearer tokens checked offline as Azure checks Entra ID access tokens:
 * a JWT whose signature verifies, for the Cognitive Services audience,
 * not expired. The tests' token endpoint (tests/mock/mock_token.py) signs
 * HS256 with a key both are given at test time; Azure's RS256 keys are
 * out of reach here, the checks made are the same.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mock.h"

#define JWT_PAYLOAD_MAX 2048
#define JWT_AUDIENCE	"https://cognitiveservices.azure.com"

/* base64url digit value, or -1. */
static int jwt_b64v(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decodes unpadded base64url <s> of <n> bytes into <out>; returns the
 * length, or -1.
 */
static long jwt_b64dec(const char *s, size_t n, unsigned char *out, size_t size)
{
	size_t o = 0, i;
	unsigned acc = 0, bits = 0;
	int v;

	for (i = 0; i < n; i++) {
		v = jwt_b64v(s[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == size)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)o;
}

bool mock_jwt_ok(const struct mock_srv *srv, const char *tok, size_t len,
		 double now)
{
	unsigned char mac[EVP_MAX_MD_SIZE], sig[64];
	unsigned char payload[JWT_PAYLOAD_MAX + 1];
	const char *d1, *d2, *exp;
	unsigned int mlen = 0;
	long plen, slen;
	double e;

	d1 = memchr(tok, '.', len);
	d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d1 || !d2)
		return false;
	if (!HMAC(EVP_sha256(), srv->jwt_key, (int)srv->jwt_key_len,
		  (const unsigned char *)tok, (size_t)(d2 - tok), mac, &mlen))
		return false;
	slen = jwt_b64dec(d2 + 1, len - (size_t)(d2 + 1 - tok), sig,
			  sizeof(sig));
	if (slen != (long)mlen || CRYPTO_memcmp(sig, mac, mlen) != 0)
		return false;
	plen = jwt_b64dec(d1 + 1, (size_t)(d2 - d1 - 1), payload,
			  JWT_PAYLOAD_MAX);
	if (plen < 0)
		return false;
	payload[plen] = '\0';
	if (!strstr((char *)payload, "\"aud\": \"" JWT_AUDIENCE "\"") &&
	    !strstr((char *)payload, "\"aud\":\"" JWT_AUDIENCE "\""))
		return false;
	exp = strstr((char *)payload, "\"exp\":");
	if (!exp)
		return false;
	e = strtod(exp + 6, NULL);
	return e > now;
}

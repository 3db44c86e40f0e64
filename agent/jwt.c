/* SPDX-License-Identifier: Apache-2.0 */
/* RS256 client assertions (RFC 7523) with OpenSSL. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "jwt.h"
#include "secret.h"
#include "token.h"

size_t jwt_b64url(const unsigned char *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i = 0;

	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
			     in[i + 2];

		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = tab[(v >> 6) & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = tab[v >> 18];
		out[o++] = tab[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = tab[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

int jwt_cert_load(struct jwt_cert *jc, const char *path, char *err,
		  size_t errlen)
{
	unsigned char der_hash[32];
	unsigned char *der = NULL;
	struct sec_buf pem = {0};
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *bio = NULL;
	unsigned hl = 0;
	int dl, rc = -1;

	memset(jc, 0, sizeof(*jc));
	if (sec_buf_init(&pem, JWT_PEM_MAX) == -1) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	if (sec_file_read(path, SEC_FILE_PRIVATE, &pem, err, errlen) == -1)
		goto free_pem;
	bio = BIO_new_mem_buf(pem.p, (int)pem.len);
	if (!bio || !(cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		snprintf(err, errlen, "%s: no PEM certificate", path);
		goto free_bio;
	}
	BIO_free(bio);
	bio = BIO_new_mem_buf(pem.p, (int)pem.len);
	if (!bio ||
	    !(key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)""))) {
		snprintf(err, errlen, "%s: no unencrypted PEM private key",
			 path);
		goto free_cert;
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "%s: the key must be RSA (RS256)", path);
		goto free_key;
	}
	if (X509_check_private_key(cert, key) != 1) {
		snprintf(err, errlen,
			 "%s: the private key does not match the certificate",
			 path);
		goto free_key;
	}
	dl = i2d_X509(cert, &der);
	if (dl <= 0 || EVP_Digest(der, (size_t)dl, der_hash, &hl, EVP_sha256(),
				  NULL) != 1) {
		snprintf(err, errlen, "%s: cannot hash the certificate", path);
		goto free_key;
	}
	jwt_b64url(der_hash, hl, jc->x5t_s256);
	jc->key = key;
	key = NULL;
	rc = 0;
free_key:
	EVP_PKEY_free(key);
free_cert:
	OPENSSL_free(der);
	X509_free(cert);
free_bio:
	BIO_free(bio);
	ERR_clear_error();
free_pem:
	sec_buf_free(&pem);
	return rc;
}

void jwt_cert_free(struct jwt_cert *jc)
{
	EVP_PKEY_free(jc->key);
	jc->key = NULL;
}

/* Appends base64url(<s>) to <out>; -1 if it does not fit. */
static int jwt_append_b64(struct sec_buf *out, const void *s, size_t n)
{
	char *tmp = malloc(n * 4 / 3 + 4);
	size_t l;
	int rc;

	if (!tmp)
		return -1;
	l = jwt_b64url(s, n, tmp);
	rc = sec_buf_append(out, tmp, l);
	/* part of a credential valid for JWT_LIFETIME */
	sec_wipe(tmp, l);
	free(tmp);
	return rc;
}

int jwt_client_assertion(const struct jwt_cert *jc, const char *aud,
			 const char *client_id, int64_t now,
			 const unsigned char jti[16], struct sec_buf *out,
			 char *err, size_t errlen)
{
	unsigned char sig[1024];
	char uuid[37];
	char *hdr = NULL, *claims = NULL;
	json_t *h = NULL, *c = NULL;
	EVP_MD_CTX *md = NULL;
	size_t sl = sizeof(sig);
	int rc = -1;

	snprintf(uuid, sizeof(uuid),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 jti[0], jti[1], jti[2], jti[3], jti[4], jti[5],
		 (jti[6] & 0x0f) | 0x40, jti[7], (jti[8] & 0x3f) | 0x80, jti[9],
		 jti[10], jti[11], jti[12], jti[13], jti[14], jti[15]);
	token_json_init();
	h = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT",
		      "x5t#S256", jc->x5t_s256);
	c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "aud", aud, "iss",
		      client_id, "sub", client_id, "jti", uuid, "nbf",
		      (json_int_t)now, "iat", (json_int_t)now, "exp",
		      (json_int_t)(now + JWT_LIFETIME));
	if (!h || !c)
		goto fail;
	hdr = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
	claims = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!hdr || !claims)
		goto fail;
	sec_buf_clear(out);
	if (jwt_append_b64(out, hdr, strlen(hdr)) == -1 ||
	    sec_buf_append(out, ".", 1) == -1 ||
	    jwt_append_b64(out, claims, strlen(claims)) == -1)
		goto fail;
	md = EVP_MD_CTX_new();
	/* RS256 is RSASSA-PKCS1-v1_5 with SHA-256, OpenSSL's RSA default */
	if (!md ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, jc->key) != 1 ||
	    EVP_DigestSign(md, sig, &sl, (const unsigned char *)out->p,
			   out->len) != 1)
		goto fail;
	if (sec_buf_append(out, ".", 1) == -1 ||
	    jwt_append_b64(out, sig, sl) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "client assertion: cannot build or sign");
	sec_buf_clear(out);
out:
	EVP_MD_CTX_free(md);
	free(hdr);
	free(claims);
	json_decref(h);
	json_decref(c);
	ERR_clear_error();
	return rc;
}

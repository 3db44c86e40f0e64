/* SPDX-License-Identifier: Apache-2.0 */
/* Types of the client assertions: the certificate that signs them. */
#ifndef AOAI_JWT_T_H
#define AOAI_JWT_T_H

/* A certificate and its private key, loaded from one PEM file. */
struct jwt_cert {
	void *key;	   /* EVP_PKEY * (RSA), NULL when not loaded */
	char x5t_s256[48]; /* base64url SHA-256 of the DER certificate */
};

#endif /* AOAI_JWT_T_H */

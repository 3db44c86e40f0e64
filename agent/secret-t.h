/* SPDX-License-Identifier: Apache-2.0 */
/* Types of the secret buffers: tokens, client secrets, private keys. */
#ifndef AOAI_SECRET_T_H
#define AOAI_SECRET_T_H

#include <stddef.h>

/* A buffer for secret bytes: its own pages, excluded from core dumps,
 * wiped before they are returned to the system. Holds a NUL after the
 * data so it can be handed to string APIs.
 */
struct sec_buf {
	char *p;    /* mapping of <cap> + 1 bytes, NULL when not allocated */
	size_t len; /* bytes in use */
	size_t cap; /* hard cap, fixed at allocation */
};

/* What a file holding a secret may look like (sec_file_read()). */
enum sec_file_policy {
	/* client secret, private key: owner (or root) only, no group or
	 * other access except group read
	 */
	SEC_FILE_PRIVATE,
	/* federated token file projected by Kubernetes: short-lived, may be
	 * world-readable, but nobody but the owner may write it
	 */
	SEC_FILE_SHORT_LIVED,
};

#endif /* AOAI_SECRET_T_H */

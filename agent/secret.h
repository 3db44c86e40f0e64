/* SPDX-License-Identifier: Apache-2.0 */
/* Secret buffers and secret files. Nothing here logs; errors come back as
 * text that never contains secret bytes.
 */
#ifndef AOAI_SECRET_H
#define AOAI_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "secret-t.h"

/* Allocates <b> with room for <cap> bytes: anonymous pages marked
 * MADV_DONTDUMP (and MADV_WIPEONFORK). Returns 0, or -1 (errno set).
 */
int sec_buf_init(struct sec_buf *b, size_t cap);

/* Wipes and unmaps <b>; safe on a zeroed or already freed buffer. */
void sec_buf_free(struct sec_buf *b);

/* Wipes the contents, keeps the mapping. */
void sec_buf_clear(struct sec_buf *b);

/* Appends <n> bytes; -1 if they do not fit under the cap (nothing added). */
int sec_buf_append(struct sec_buf *b, const void *data, size_t n);

/* Replaces the contents of <dst> with <src>'s; -1 if too large. */
int sec_buf_copy(struct sec_buf *dst, const struct sec_buf *src);

/* Reads the whole of <path> into <b> after checking it is a regular file
 * whose owner and mode fit <policy>. Symbolic links are followed (Kubernetes
 * projects files through them); what is checked is the final file. Returns
 * 0, or -1 with the reason in <err> ("path: reason") and <b> empty.
 */
int sec_file_read(const char *path, enum sec_file_policy policy,
		  struct sec_buf *b, char *err, size_t errlen);

/* Wipes <n> bytes at <p> in a way the compiler keeps. */
void sec_wipe(void *p, size_t n);

/* Constant-time comparison of two byte strings of equal length. */
bool sec_equal(const void *a, const void *b, size_t n);

#endif /* AOAI_SECRET_H */

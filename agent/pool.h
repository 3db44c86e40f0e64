/* SPDX-License-Identifier: Apache-2.0 */
/* Buffer pool: get and put are a list pop and push once warm; memory goes
 * back to the system only from pool_trim(), called off the hot path.
 */
#ifndef AOAI_POOL_H
#define AOAI_POOL_H

#include <stdbool.h>

#include "pool-t.h"

/* An empty pool of <size>-byte buffers keeping at most <max_free> free. */
void pool_init(struct pool *p, size_t size, uint32_t max_free);

/* Changes the buffer size (a reload changed the frame size): the free
 * buffers of the old size are freed. Buffers of the old size handed out
 * are freed when they are put back.
 */
void pool_set_size(struct pool *p, size_t size);

/* A buffer of <size> bytes (contents undefined): from the free list when
 * <size> is the pool's, else from malloc. NULL when memory is short.
 */
void *pool_get(struct pool *p, size_t size);

/* Gives back <buf> (NULL is ignored), a buffer of <size> bytes obtained
 * from pool_get(): kept when it has the pool's size and there is room.
 */
void pool_put(struct pool *p, void *buf, size_t size);

/* Frees the free buffers that stayed unused since the previous trim,
 * keeping at least <keep>. Returns the number freed.
 */
uint32_t pool_trim(struct pool *p, uint32_t keep);

/* Frees every free buffer (at exit); handed-out ones are the caller's. */
void pool_free(struct pool *p);

#endif /* AOAI_POOL_H */

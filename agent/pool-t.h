/* SPDX-License-Identifier: Apache-2.0 */
/* Buffer pool types: fixed-size buffers handed out while a frame is in
 * flight and kept for reuse, so steady traffic allocates nothing.
 */
#ifndef AOAI_POOL_T_H
#define AOAI_POOL_T_H

#include <stddef.h>
#include <stdint.h>

/* A free buffer's first bytes link it to the next free one. */
struct pool_item {
	struct pool_item *next;
};

struct pool {
	size_t size;		/* bytes per buffer */
	struct pool_item *free; /* buffers kept for reuse; owned */
	uint32_t nfree;		/* buffers on the free list */
	uint32_t max_free;	/* free buffers kept at most */
	uint32_t min_free;	/* low-water of nfree since the last trim */
	uint32_t used;		/* buffers handed out, of any size */
	uint64_t allocs;	/* buffers obtained from malloc */
};

#endif /* AOAI_POOL_T_H */

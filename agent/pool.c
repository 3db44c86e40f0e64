/* SPDX-License-Identifier: Apache-2.0 */
/* Buffer pool: a free list per buffer size, trimmed by low-water mark. */
#include <stdlib.h>

#include "pool.h"

void pool_init(struct pool *p, size_t size, uint32_t max_free)
{
	p->size = size < sizeof(struct pool_item) ? sizeof(struct pool_item)
						  : size;
	p->free = NULL;
	p->nfree = p->min_free = p->used = 0;
	p->max_free = max_free;
	p->allocs = 0;
}

static void pool_drop_free(struct pool *p)
{
	struct pool_item *it;

	while ((it = p->free) != NULL) {
		p->free = it->next;
		free(it);
	}
	p->nfree = p->min_free = 0;
}

void pool_set_size(struct pool *p, size_t size)
{
	if (size < sizeof(struct pool_item))
		size = sizeof(struct pool_item);
	if (size == p->size)
		return;
	pool_drop_free(p);
	p->size = size;
}

void *pool_get(struct pool *p, size_t size)
{
	struct pool_item *it;

	if (size == p->size && p->free) {
		it = p->free;
		p->free = it->next;
		if (--p->nfree < p->min_free)
			p->min_free = p->nfree;
		p->used++;
		return it;
	}
	it = malloc(size < sizeof(*it) ? sizeof(*it) : size);
	if (!it)
		return NULL;
	p->allocs++;
	p->used++;
	return it;
}

void pool_put(struct pool *p, void *buf, size_t size)
{
	struct pool_item *it = buf;

	if (!buf)
		return;
	p->used--;
	if (size != p->size || p->nfree >= p->max_free) {
		free(buf);
		return;
	}
	it->next = p->free;
	p->free = it;
	p->nfree++;
}

uint32_t pool_trim(struct pool *p, uint32_t keep)
{
	uint32_t n = p->min_free > keep ? p->min_free - keep : 0;
	uint32_t i;
	struct pool_item *it;

	for (i = 0; i < n && (it = p->free) != NULL; i++) {
		p->free = it->next;
		p->nfree--;
		free(it);
	}
	p->min_free = p->nfree;
	return i;
}

void pool_free(struct pool *p)
{
	pool_drop_free(p);
}

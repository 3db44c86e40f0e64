/* SPDX-License-Identifier: Apache-2.0 */
/* Buffer pool: reuse without malloc once warm, the cap on free buffers,
 * the low-water trim, and a size change across a reload.
 */
#include <stdint.h>

#include "pool.h"
#include "tap.h"

static void test_reuse(void)
{
	struct pool p;
	void *a, *b, *c;
	int i;

	pool_init(&p, 1000, 2);
	a = pool_get(&p, 1000);
	b = pool_get(&p, 1000);
	tap_ok(a && b && p.allocs == 2 && p.used == 2,
	       "two buffers from malloc");
	pool_put(&p, a, 1000);
	pool_put(&p, b, 1000);
	tap_ok(p.nfree == 2 && p.used == 0, "both kept");
	for (i = 0; i < 1000; i++) {
		c = pool_get(&p, 1000);
		pool_put(&p, c, 1000);
	}
	tap_is_int((long long)p.allocs, 2, "1000 get/put: no more malloc");
	a = pool_get(&p, 1000);
	b = pool_get(&p, 1000);
	c = pool_get(&p, 1000);
	pool_put(&p, a, 1000);
	pool_put(&p, b, 1000);
	pool_put(&p, c, 1000);
	tap_is_int(p.nfree, 2, "free buffers capped at max_free");
	pool_free(&p);
	tap_is_int(p.nfree, 0, "pool_free empties it");
}

static void test_trim(void)
{
	struct pool p;
	void *v[10];
	int i;

	pool_init(&p, 64, 100);
	for (i = 0; i < 10; i++)
		v[i] = pool_get(&p, 64);
	for (i = 0; i < 10; i++)
		pool_put(&p, v[i], 64);
	/* a burst: the low-water mark since the last trim was 0 */
	tap_is_int(pool_trim(&p, 2), 0, "just used: nothing trimmed");
	tap_is_int(pool_trim(&p, 2), 8,
		   "unused for a whole period: trimmed "
		   "down to keep");
	tap_is_int(p.nfree, 2, "keep left");
	v[0] = pool_get(&p, 64);
	pool_put(&p, v[0], 64);
	tap_is_int(pool_trim(&p, 0), 1, "low-water 1: one freed");
	pool_free(&p);
}

static void test_resize(void)
{
	struct pool p;
	void *a, *b;

	pool_init(&p, 100, 10);
	a = pool_get(&p, 100);
	b = pool_get(&p, 100);
	pool_put(&p, a, 100);
	pool_set_size(&p, 200);
	tap_ok(p.nfree == 0 && p.size == 200,
	       "size change drops the free list");
	pool_put(&p, b, 100);
	tap_ok(p.nfree == 0 && p.used == 0,
	       "an old-size buffer put back is freed, not kept");
	a = pool_get(&p, 50);
	pool_put(&p, a, 50);
	tap_ok(p.nfree == 0, "a buffer of another size is never kept");
	pool_free(&p);
}

int main(void)
{
	test_reuse();
	test_trim();
	test_resize();
	return tap_done();
}

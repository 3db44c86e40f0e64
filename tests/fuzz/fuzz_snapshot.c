/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: snapshot_decode() on any bytes must not crash, leak or
 * allocate without bound; a rejected file changes nothing; an accepted one
 * leaves a sane engine whose snapshot decodes again.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW  1000ULL
#define FUZZ_WALL 1700000000000ULL

static struct cfg fuzz_cfg;
static struct cfg_backend fuzz_backends[3];
static struct cfg_pool fuzz_pool;
static struct cfg_member fuzz_members[3];

/* The names of the seeds: eastus, swedencentral, westus-payg in "chat". */
static void fuzz_cfg_init(void)
{
	static const char *const names[] = {"eastus", "swedencentral",
					    "westus-payg"};
	uint32_t i;

	if (fuzz_cfg.n_backends)
		return;
	for (i = 0; i < 3; i++) {
		struct cfg_backend *b = &fuzz_backends[i];

		snprintf(b->name, sizeof(b->name), "%s", names[i]);
		b->breaker.failure_count = 1;
		b->breaker.failure_interval_ms = 10000;
		b->breaker.trip_duration_ms = 1000;
		b->breaker.max_trip_duration_ms = 60000;
		b->breaker.probe_requests = 1;
		fuzz_members[i].backend = i;
		fuzz_members[i].priority = 1 + i / 2;
		fuzz_members[i].weight = 1 + i;
	}
	snprintf(fuzz_pool.name, sizeof(fuzz_pool.name), "chat");
	fuzz_pool.n_members = 3;
	fuzz_pool.members = fuzz_members;
	fuzz_cfg.backends = fuzz_backends;
	fuzz_cfg.n_backends = 3;
	fuzz_cfg.pools = &fuzz_pool;
	fuzz_cfg.n_pools = 1;
}

static struct route_engine *fuzz_engine(void)
{
	struct route_engine *e = route_new(1);

	if (!e || route_apply(e, &fuzz_cfg, FUZZ_NOW) < 0)
		abort();
	return e;
}

/* What a restore may leave: valid states, bounded deadlines and growth,
 * a printable why.
 */
static void fuzz_check(struct route_engine *e)
{
	struct route_backend_info bi;
	const char *c;
	int b;

	for (b = 0; b < 3; b++) {
		if (route_backend_info(e, b, FUZZ_NOW, &bi) < 0)
			abort();
		if (bi.state > ROUTE_ST_HALF_OPEN ||
		    bi.consecutive_trips > ROUTE_TRIPS_RESTORE_MAX ||
		    bi.until_ms > FUZZ_NOW + ROUTE_WAIT_CEIL_MS ||
		    strlen(bi.why) >= ROUTE_WHY_MAX)
			abort();
		if ((bi.state == ROUTE_ST_OPEN ||
		     bi.state == ROUTE_ST_COOLING) &&
		    bi.until_ms <= FUZZ_NOW)
			abort();
		for (c = bi.why; *c; c++)
			if ((unsigned char)*c < 0x20 ||
			    (unsigned char)*c > 0x7e)
				abort();
	}
}

/* Decodes <len> bytes; checks the outcome either way. */
static void fuzz_one(const char *buf, size_t len)
{
	struct route_engine *e = fuzz_engine(), *e2;
	char err[SNAPSHOT_ERR_MAX], *out = NULL;
	uint64_t gen = route_saved_gen(e);
	size_t out_len = 0;

	err[0] = '\0';
	if (snapshot_decode(e, buf, len, FUZZ_NOW, FUZZ_WALL, NULL, err,
			    sizeof(err)) < 0) {
		/* rejected: a reason, and nothing changed */
		if (!err[0] || route_saved_gen(e) != gen)
			abort();
		route_free(e);
		return;
	}
	fuzz_check(e);
	/* what was accepted is written and read back */
	if (snapshot_encode(e, FUZZ_NOW, FUZZ_WALL, &out, &out_len, err,
			    sizeof(err)) < 0)
		abort();
	e2 = fuzz_engine();
	if (snapshot_decode(e2, out, out_len, FUZZ_NOW, FUZZ_WALL, NULL, err,
			    sizeof(err)) < 0)
		abort();
	fuzz_check(e2);
	free(out);
	route_free(e2);
	route_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t sum;
	char *copy;
	int i;

	fuzz_cfg_init();
	fuzz_one((const char *)data, size);
	/* again with a valid checksum, to reach the entries */
	if (size < 9 || size > SNAPSHOT_FILE_MAX)
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	sum = snapshot_checksum(copy, size - 9);
	copy[size - 9] = (char)0xcf;
	for (i = 0; i < 8; i++)
		copy[size - 8 + i] = (char)(sum >> (56 - 8 * i));
	fuzz_one(copy, size);
	free(copy);
	return 0;
}

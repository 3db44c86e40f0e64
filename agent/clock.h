/* SPDX-License-Identifier: Apache-2.0 */
/* The cached clocks: read once per wake-up of the event loop (two vDSO
 * calls, no system call), then read by every module from here.
 */
#ifndef AOAI_CLOCK_H
#define AOAI_CLOCK_H

#include <stdint.h>
#include <time.h>

struct clock_now {
	uint64_t ms;	/* monotonic milliseconds: deadlines, rate limits */
	int64_t wall_s; /* wall clock seconds: HTTP-dates, "show info" */
};

/* The values of the last clock_update(); tests and benchmarks set them. */
extern struct clock_now clock_now;

/* Refreshes clock_now. */
static inline void clock_update(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	clock_now.ms =
		(uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	clock_gettime(CLOCK_REALTIME, &ts);
	clock_now.wall_s = ts.tv_sec;
}

/* Wall clock in milliseconds, read now (snapshots record it). */
static inline uint64_t clock_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif /* AOAI_CLOCK_H */

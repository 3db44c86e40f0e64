/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's counters as one list in one order: "show info" and the
 * metrics walk the same list, so they cannot drift.
 */
#ifndef AOAI_STATS_H
#define AOAI_STATS_H

#include <stdint.h>

#include "core-t.h"

/* One counter: <name> (a metric name without "_total"), <help>. */
typedef void (*stats_counter_fn)(void *arg, const char *name, const char *help,
				 uint64_t value);

/* Calls <fn> for each counter of the SPOP connections, the messages, the
 * SPOP listeners and the agent, in that order.
 */
void stats_counters_each(const struct core *a, stats_counter_fn fn, void *arg);

/* Zeroes those counters and the decision latency histogram, except the
 * reload counters, which say what configuration is in force.
 */
void stats_reset(struct core *a);

#endif /* AOAI_STATS_H */

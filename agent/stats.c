/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's counters as one list. */
#include "conn.h"
#include "spoa.h"
#include "stats.h"

void stats_counters_each(const struct core *a, stats_counter_fn fn, void *arg)
{
#define X(name, help) fn(arg, #name, help, a->conns.cnt.name);
	CONN_COUNTERS(X)
#undef X
#define X(name, help) fn(arg, #name, help, a->spoa.cnt.name);
	SPOA_COUNTERS(X)
#undef X
	fn(arg, "accept_paused",
	   "times accepting paused for lack of descriptors", a->spop.paused);
#define X(name, help) fn(arg, #name, help, a->cnt.name);
	AGENT_COUNTERS(X)
#undef X
}

void stats_reset(struct core *a)
{
	conn_reset_counters(&a->conns);
	spoa_reset_counters(&a->spoa);
	a->spop.paused = 0;
}

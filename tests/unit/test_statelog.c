/* SPDX-License-Identifier: Apache-2.0 */
/* Breaker state-change logs (agent/statelog.c): nothing is written while
 * changes are queued; a burst of transitions writes the first
 * LOG_RL_BURST lines of each kind per backend, then one "N similar
 * messages suppressed" line per kind once the window is over; other
 * backends are not held back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "statelog.h"
#include "tap.h"

static FILE *cap;
static int saved_stderr;

/* Sends stderr (the log) to a temporary file. */
static void capture(void)
{
	fflush(stderr);
	saved_stderr = dup(2);
	cap = tmpfile();
	if (!cap || saved_stderr < 0 || dup2(fileno(cap), 2) < 0)
		abort();
}

/* Restores stderr; returns the log lines written meanwhile (malloc'd). */
static char *captured(void)
{
	long n;
	char *s;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	n = ftell(cap);
	s = calloc(1, (size_t)n + 1);
	rewind(cap);
	if (!s || fread(s, 1, (size_t)n, cap) != (size_t)n)
		abort();
	fclose(cap);
	return s;
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

static int lines(const char *s)
{
	return count(s, "\n");
}

int main(void)
{
	struct statelog sl;
	uint64_t now = 1000000;
	char *out;
	int i;

	memset(&sl, 0, sizeof(sl));
	log_init(LOG_INFO);
	tap_ok(statelog_resize(&sl, 2) == 0, "limiters for two backends");

	/* 50 trips and 50 recoveries of eastus within one window, and one
	 * trip of westus among them
	 */
	capture();
	for (i = 0; i < 50; i++) {
		statelog_push(&sl, now + (uint64_t)i, LOG_WARNING, 0, "eastus",
			      1, "closed -> open: 5 faults in 10s");
		statelog_push(&sl, now + (uint64_t)i, LOG_NOTICE, 0, "eastus",
			      0, "half-open -> closed: probe succeeded");
		if (i == 25)
			statelog_push(&sl, now + (uint64_t)i, LOG_WARNING, 1,
				      "westus", 1, "closed -> open: trip");
		if (i == 30) {
			/* flushes come from the loop, between callbacks */
			out = captured();
			tap_is_int(lines(out), 0,
				   "nothing written while queued");
			free(out);
			capture();
			statelog_flush(&sl);
		}
	}
	statelog_flush(&sl);
	out = captured();
	tap_is_int(lines(out), 2 * LOG_RL_BURST + 1,
		   "a burst writes the first lines of each kind per backend");
	tap_is_int(count(out, "backend eastus: closed -> open"), LOG_RL_BURST,
		   "LOG_RL_BURST eastus trip lines");
	tap_is_int(count(out, "backend eastus: half-open -> closed"),
		   LOG_RL_BURST, "LOG_RL_BURST eastus recovery lines");
	tap_is_int(count(out, "backend westus: closed -> open"), 1,
		   "westus not held back by eastus");
	free(out);

	/* the window ends: one count per suppressed kind */
	capture();
	log_rl_flush(now + LOG_RL_WINDOW_MS + 100);
	out = captured();
	tap_is_int(lines(out), 2, "one report per kind after the window");
	tap_is_int(count(out, "45 similar messages suppressed"), 2,
		   "each says 50 - LOG_RL_BURST suppressed");
	free(out);

	/* the next window starts with a line again */
	capture();
	statelog_push(&sl, now + 2 * LOG_RL_WINDOW_MS, LOG_WARNING, 0, "eastus",
		      1, "closed -> open: again");
	statelog_flush(&sl);
	out = captured();
	tap_is_int(count(out, "backend eastus: closed -> open: again"), 1,
		   "a new window logs the first line again");
	free(out);

	/* more changes in one iteration than the queue holds */
	capture();
	for (i = 0; i < STATELOG_QUEUE + 10; i++)
		statelog_push(&sl, now + 3 * LOG_RL_WINDOW_MS, LOG_WARNING, 1,
			      "westus", 2, "closed -> cooling: 429");
	statelog_flush(&sl);
	out = captured();
	tap_is_int(count(out, "10 breaker state changes not logged"), 1,
		   "a full queue counts what it lost");
	free(out);

	statelog_free(&sl);
	return tap_done();
}

/* SPDX-License-Identifier: Apache-2.0 */
/* Logging: one line per event on stderr, journald-friendly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Suppressed messages not yet reported, by rate limit. The rate limit's
 * address is only a key, never read through: its owner may be gone.
 */
#define LOG_PENDING_MAX 16
#define LOG_PENDING_MSG 160

struct log_pending {
	const struct log_rl *key; /* NULL: a free slot */
	uint64_t window_end;	  /* ms: reported once this is past */
	uint32_t dropped;
	int prio;
	char msg[LOG_PENDING_MSG]; /* the last message suppressed */
};

static struct log_pending log_pending[LOG_PENDING_MAX];
static uint32_t log_pending_lost; /* suppressed with no slot free */

static int log_level = LOG_INFO;
static bool log_journal; /* stderr is journald's: "<N>" prefixes */

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg",	   [LOG_ALERT] = "alert",
	[LOG_CRIT] = "crit",	   [LOG_ERR] = "err",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",	   [LOG_DEBUG] = "debug",
};

void log_init(int level)
{
	/* systemd sets JOURNAL_STREAM when stderr is connected to journald;
	 * it reads a "<N>" prefix as the priority (sd-daemon(3)).
	 */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	log_level = level;
}

void log_set_level(int level)
{
	log_level = level;
}

bool log_enabled(int prio)
{
	return prio <= log_level;
}

int log_level_parse(const char *name)
{
	int i;

	for (i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

const char *log_level_name(int level)
{
	if (level < LOG_EMERG || level > LOG_DEBUG)
		return "unknown";
	return level_names[level];
}

static void log_vmsg(int prio, const char *fmt, va_list ap)
{
	char line[1024], stamp[32];
	struct timespec ts;
	struct tm tm;
	int n;

	if (!log_enabled(prio))
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", prio, line);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ aoai-spoa[%s]: %s\n", stamp,
		ts.tv_nsec / 1000000, log_level_name(prio), line);
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(prio, fmt, ap);
	va_end(ap);
}

void log_errno(int prio, const char *fmt, ...)
{
	char msg[768];
	int saved = errno;
	va_list ap;

	if (!log_enabled(prio))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(prio, "%s: %s", msg, strerror(saved));
	errno = saved;
}

static struct log_pending *log_pending_find(const struct log_rl *rl, bool add)
{
	struct log_pending *free_slot = NULL;
	int i;

	for (i = 0; i < LOG_PENDING_MAX; i++) {
		if (log_pending[i].key == rl)
			return &log_pending[i];
		if (!log_pending[i].key && !free_slot)
			free_slot = &log_pending[i];
	}
	if (add && free_slot)
		free_slot->key = rl;
	return add ? free_slot : NULL;
}

/* A message over the rate: counted, and remembered for its report. */
static void log_rl_suppress(struct log_rl *rl, int prio, const char *fmt,
			    va_list ap)
{
	struct log_pending *p = log_pending_find(rl, true);

	rl->dropped++;
	if (!p) {
		log_pending_lost++;
		return;
	}
	p->window_end = rl->window_start + LOG_RL_WINDOW_MS;
	p->dropped = rl->dropped;
	p->prio = prio;
	vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
}

void log_rl(struct log_rl *rl, uint64_t now_ms, int prio, const char *fmt, ...)
{
	char msg[768];
	struct log_pending *p;
	va_list ap;

	if (!log_enabled(prio))
		return;
	if (now_ms - rl->window_start >= LOG_RL_WINDOW_MS) {
		rl->window_start = now_ms;
		rl->count = 0;
		/* no report pending: log_rl_flush() made it already */
		if (!log_pending_find(rl, false))
			rl->dropped = 0;
	}
	va_start(ap, fmt);
	if (rl->count >= LOG_RL_BURST) {
		log_rl_suppress(rl, prio, fmt, ap);
		va_end(ap);
		return;
	}
	rl->count++;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p = rl->dropped ? log_pending_find(rl, false) : NULL;
	if (p)
		p->key = NULL;
	if (rl->dropped) {
		log_msg(prio, "%s (%u similar messages suppressed)", msg,
			rl->dropped);
		rl->dropped = 0;
	} else {
		log_msg(prio, "%s", msg);
	}
}

void log_rl_flush(uint64_t now_ms)
{
	struct log_pending *p;
	int i;

	for (i = 0; i < LOG_PENDING_MAX; i++) {
		p = &log_pending[i];
		if (!p->key || now_ms < p->window_end)
			continue;
		log_msg(p->prio,
			"%u similar messages suppressed in %u s, the last: %s",
			p->dropped, LOG_RL_WINDOW_MS / 1000, p->msg);
		/* freed: log_rl() then knows the count was reported */
		p->key = NULL;
	}
	if (log_pending_lost) {
		log_msg(LOG_WARNING, "%u more messages suppressed",
			log_pending_lost);
		log_pending_lost = 0;
	}
}

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Logging: one line per event on stderr, journald-friendly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

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

void log_rl(struct log_rl *rl, uint64_t now_ms, int prio, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (!log_enabled(prio))
		return;
	if (now_ms - rl->window_start >= LOG_RL_WINDOW_MS) {
		rl->window_start = now_ms;
		rl->count = 0;
	}
	if (rl->count >= LOG_RL_BURST) {
		rl->dropped++;
		return;
	}
	rl->count++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rl->dropped) {
		log_msg(prio, "%s (%u similar messages suppressed)", msg,
			rl->dropped);
		rl->dropped = 0;
	} else {
		log_msg(prio, "%s", msg);
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

/* SPDX-License-Identifier: Apache-2.0 */
/* Logging to stderr, in journald's "<N>" form under systemd, with levels
 * and rate limiting. Never pass a header value, a key or a body here.
 */
#ifndef AOAI_LOG_H
#define AOAI_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* Rate limit of one kind of message: at most LOG_RL_BURST per
 * LOG_RL_WINDOW_MS; the number dropped is reported by log_rl_flush() once
 * the window is over, or with the next message if that comes first.
 */
#define LOG_RL_BURST	 5
#define LOG_RL_WINDOW_MS 10000

struct log_rl {
	uint64_t window_start; /* ms, monotonic */
	uint32_t count;	       /* messages in this window */
	uint32_t dropped;      /* suppressed since the last one logged */
};

void log_init(int level);
void log_set_level(int level);
bool log_enabled(int prio);
/* "err", "warning", "notice", "info", "debug" to LOG_*; -1 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(int level);

void log_msg(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Like log_msg() with ": strerror(errno)" appended. */
void log_errno(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Logs unless <rl> says this kind of message was logged too often. */
void log_rl(struct log_rl *rl, uint64_t now_ms, int prio, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Reports the messages suppressed in windows that ended by <now_ms>:
 * called from a timer, about once a second.
 */
void log_rl_flush(uint64_t now_ms);
/* Logs at LOG_CRIT and exits 1. */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif /* AOAI_LOG_H */

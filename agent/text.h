/* Numbers, durations and times as text: the one place they are parsed and
 * formatted for the control socket, the metrics and the runtime API.
 */
#ifndef AOAI_TEXT_H
#define AOAI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Strict unsigned decimal: digits only, no sign, at most <max> (overflow
 * checked). Returns 0 or -1 (<out> untouched).
 */
int text_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* Parses a duration "500ms", "10s", "1m", "1h" (or bare seconds when
 * <bare_s>) into milliseconds, at most <max_ms>. Returns 0 or -1.
 */
int text_parse_duration(const char *s, bool bare_s, uint64_t max_ms,
			uint64_t *out_ms);

/* "1h", "2m", "30s", "1500ms": the largest exact unit. Returns <buf>. */
const char *text_fmt_duration(char *buf, size_t size, uint64_t ms);

/* Remaining time for people: "950ms", "12.3s", "4m05s", "2h10m". */
const char *text_fmt_left(char *buf, size_t size, uint64_t ms);

/* UTC ISO 8601 of a wall-clock time. Returns <buf>. */
const char *text_fmt_time(char *buf, size_t size, time_t t);

/* Copies <s, len> into <buf> for a log line: printable ASCII only, others
 * as '?', cut at <size> - 1 bytes. Returns <buf>.
 */
char *text_printable(char *buf, size_t size, const char *s, size_t len);

#endif /* AOAI_TEXT_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Text and number helpers shared by every layer: strict unsigned integers,
 * durations ("150ms", "2s", "1m", "1h") parsed and formatted one way.
 */
#ifndef AOAI_TEXT_H
#define AOAI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds in each duration unit. */
#define TEXT_MS_SEC  UINT64_C(1000)
#define TEXT_MS_MIN  UINT64_C(60000)
#define TEXT_MS_HOUR UINT64_C(3600000)

/* Room for any text_fmt_u64() / text_fmt_duration() result with its NUL. */
#define TEXT_U64_LEN	  21
#define TEXT_DURATION_LEN 24

/* Results of the parsers: 0 or a negative reason, so "< 0" is an error. */
enum text_rc {
	TEXT_OK = 0,
	TEXT_EINVAL = -1, /* not the expected syntax */
	TEXT_ERANGE = -2, /* well formed, but above the maximum */
	TEXT_ENOUNIT = -3 /* a duration of bare digits where a unit is due */
};

/* text_parse_duration() flags. */
#define TEXT_DUR_BARE_S 0x1u /* bare digits are seconds ("30" = 30s) */

/* None of the parsers needs NUL-terminated input, reads outside
 * <s>[0..len), allocates, trims, or depends on the locale. On success they
 * return TEXT_OK and fill *out; on error they leave *out untouched.
 */

/* Parses 1*DIGIT (no sign, no space, leading zeros allowed) into *<out>.
 * TEXT_EINVAL for no digit or any other byte, TEXT_ERANGE for a value above
 * <max> (including one above UINT64_MAX).
 */
int text_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);

/* Same as text_parse_u64() on the NUL-terminated string <s>. */
int text_parse_u64z(const char *s, uint64_t max, uint64_t *out);

/* Parses a duration 1*DIGIT unit, unit one of "ms", "s", "m", "h", into
 * milliseconds. Bare digits are TEXT_ENOUNIT unless <flags> has
 * TEXT_DUR_BARE_S (then seconds). A bad unit or no digit is TEXT_EINVAL
 * (checked before the range), more than <max_ms> TEXT_ERANGE.
 */
int text_parse_duration(const char *s, size_t len, unsigned flags,
			uint64_t max_ms, uint64_t *out_ms);

/* Same as text_parse_duration() on the NUL-terminated string <s>. */
int text_parse_durationz(const char *s, unsigned flags, uint64_t max_ms,
			 uint64_t *out_ms);

/* Writes <ms> with the largest unit that divides it exactly ("1h", "5m",
 * "90s", "250ms"; 0 is "0s") into <buf> of <size> bytes (truncated, always
 * NUL-terminated when <size> > 0). Returns <buf>. The result parses back to
 * <ms> with text_parse_duration().
 */
const char *text_fmt_duration(char *buf, size_t size, uint64_t ms);

/* Writes <v> in decimal into <buf> as text_fmt_duration() does. Returns
 * <buf>.
 */
const char *text_fmt_u64(char *buf, size_t size, uint64_t v);

/* Remaining time for people: "950ms", "12.3s", "4m05s", "2h10m". Returns
 * <buf>.
 */
const char *text_fmt_left(char *buf, size_t size, uint64_t ms);

/* UTC ISO 8601 of a wall-clock time. Returns <buf>. */
const char *text_fmt_time(char *buf, size_t size, time_t t);

/* Copies <s, len> into <buf> for a log line: printable ASCII only, others
 * as '?', cut at <size> - 1 bytes. Returns <buf>.
 */
char *text_printable(char *buf, size_t size, const char *s, size_t len);

#endif /* AOAI_TEXT_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Header value parsers: numbers and Retry-After from HAProxy samples. */
#ifndef AOAI_HDR_H
#define AOAI_HDR_H

#include <stddef.h>
#include <stdint.h>

/* None of these functions needs NUL-terminated input, reads a byte outside
 * <s>[0..len), allocates, or depends on the locale or the time zone. Each
 * returns 0 and fills its output on success, or returns -1 and leaves the
 * output untouched. "OWS" below is any run of spaces and horizontal tabs
 * (RFC 9110 §5.6.3); nothing else is trimmed.
 */

/* Parses OWS 1*DIGIT OWS: a strict decimal without sign, exponent, fraction
 * or digit separators. A value above UINT64_MAX is an error (-1).
 */
int hdr_parse_uint(const char *s, size_t len, uint64_t *out);

/* Parses a Retry-After field value (RFC 9110 §10.2.3): delta-seconds or an
 * HTTP-date in any of the three forms of §5.6.7 (IMF-fixdate, obsolete
 * RFC 850 with a two-digit year, asctime). <now_wall_s> is the current Unix
 * time in seconds. Stores the wait in milliseconds: delta-seconds × 1000
 * saturated at UINT64_MAX, or the time from now until the date (0 when the
 * date is not in the future). Signs, fractions, exponents, unknown day or
 * month names, impossible dates (Feb 29 of a common year, hour 24, ...) and
 * trailing garbage are errors. The day name is checked to be a day name but
 * not checked against the date.
 */
int hdr_parse_retry_after(const char *s, size_t len, int64_t now_wall_s,
			  uint64_t *ms_out);

/* Parses retry-after-ms / x-ms-retry-after-ms: OWS 1*DIGIT ["." 1*DIGIT]
 * OWS, in milliseconds. A fraction is rounded up to the next whole
 * millisecond (never wait less than asked): "1500.5" gives 1501, "1500.0"
 * gives 1500. Huge values saturate at UINT64_MAX.
 */
int hdr_parse_retry_after_ms(const char *s, size_t len, uint64_t *ms_out);

#endif /* AOAI_HDR_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the header value parsers of agent/hdr.c. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aULL
#define NOW	 1700000000 /* Tue, 14 Nov 2023 22:13:20 GMT */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Civil date of Unix day <z> (H. Hinnant's civil_from_days). */
static void civil(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Formats Unix time <t> as an IMF-fixdate into <buf>; returns its length. */
static int imf_fixdate(char *buf, size_t size, int64_t t)
{
	static const char *const day[] = {"Thu", "Fri", "Sat", "Sun",
					  "Mon", "Tue", "Wed"};
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec"};
	int64_t days = t / 86400, secs = t % 86400, y;
	int m, d;

	civil(days, &y, &m, &d);
	return snprintf(buf, size,
			"%s, %02d %s %04" PRId64 " %02d:%02d:%02d GMT",
			day[days % 7], d, mon[m - 1], y, (int)(secs / 3600),
			(int)(secs / 60 % 60), (int)(secs % 60));
}

static void check_uint(const char *s, size_t len)
{
	uint64_t v = SENTINEL, w = SENTINEL, ms = SENTINEL, ra = SENTINEL;
	char buf[32];
	int n;

	if (hdr_parse_uint(s, len, &v) < 0) {
		if (v != SENTINEL)
			abort();
		return;
	}
	/* round trip through the canonical form */
	n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
	if (hdr_parse_uint(buf, (size_t)n, &w) < 0 || w != v)
		abort();
	/* an integer is valid milliseconds and valid delta-seconds */
	if (hdr_parse_retry_after_ms(s, len, &ms) < 0 || ms != v)
		abort();
	if (hdr_parse_retry_after(s, len, NOW, &ra) < 0)
		abort();
	if (ra != (v > UINT64_MAX / 1000 ? UINT64_MAX : v * 1000))
		abort();
}

static void check_retry_after(const char *s, size_t len, int64_t now)
{
	uint64_t ms = SENTINEL, again = SENTINEL;
	char buf[64];
	int n;

	if (hdr_parse_retry_after(s, len, now, &ms) < 0) {
		if (ms != SENTINEL)
			abort();
		return;
	}
	/* a date in the future re-formatted as IMF-fixdate gives the same
	 * wait (dates are whole seconds)
	 */
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	if (!len || (*s >= '0' && *s <= '9') || ms == 0)
		return;
	/* the last instant a date can name: 9999-12-31 23:59:60 */
	if (ms % 1000 || now < 0 || ms / 1000 > 253402300800 - (uint64_t)now)
		abort();
	if (ms / 1000 == 253402300800 - (uint64_t)now)
		return; /* year 10000 has no IMF-fixdate */
	n = imf_fixdate(buf, sizeof(buf), now + (int64_t)(ms / 1000));
	if (hdr_parse_retry_after(buf, (size_t)n, now, &again) < 0 ||
	    again != ms)
		abort();
}

static void check_retry_after_ms(const char *s, size_t len)
{
	uint64_t ms = SENTINEL;

	if (hdr_parse_retry_after_ms(s, len, &ms) < 0 && ms != SENTINEL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	int64_t now;
	char *copy;

	/* an exact-size heap copy so ASan sees any read past the end */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, s, size);
	check_uint(copy, size);
	check_retry_after(copy, size, NOW);
	check_retry_after_ms(copy, size);
	/* the first 8 bytes as the clock, the rest as the value */
	if (size >= 8) {
		memcpy(&now, copy, sizeof(now));
		now %= 400000000000; /* within the years parsers accept */
		if (now < 0)
			now = -now;
		check_retry_after(copy + 8, size - 8, now);
	}
	free(copy);
	return 0;
}

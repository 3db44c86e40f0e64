/* SPDX-License-Identifier: Apache-2.0 */
/* Header value parsers: numbers and Retry-After from HAProxy samples. */
#include <stdbool.h>
#include <string.h>

#include "hdr.h"
#include "text.h"

/* RFC 9110 §5.6.7: day-name, day-name-l and month are case-sensitive. */
static const char hdr_day_short[7][4] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
};
static const char *const hdr_day_long[7] = {
	"Monday", "Tuesday",  "Wednesday", "Thursday",
	"Friday", "Saturday", "Sunday",
};
static const char hdr_month[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* A broken-down UTC date and time, already range-checked. */
struct hdr_tm {
	int64_t year; /* 0..9999 */
	int mon;      /* 1..12 */
	int mday;     /* 1..31 */
	int hour;     /* 0..23 */
	int min;      /* 0..59 */
	int sec;      /* 0..60 (a leap second counts as the next second) */
};

static inline bool hdr_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool hdr_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static inline bool hdr_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Removes OWS on both ends of [*s, *s + *len). */
static void hdr_trim(const char **s, size_t *len)
{
	while (*len > 0 && hdr_is_ows(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && hdr_is_ows((*s)[*len - 1]))
		(*len)--;
}

static inline uint64_t hdr_sat_add(uint64_t a, uint64_t b)
{
	uint64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return UINT64_MAX;
	return r;
}

static inline uint64_t hdr_sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return UINT64_MAX;
	return r;
}

/* Reads 1*DIGIT at *p into *out, saturating at UINT64_MAX. Returns 0, or
 * -1 when there is no digit. Advances *p on success only.
 */
static int hdr_take_uint(const char **p, const char *end, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;
	bool over = false;

	if (q == end || !hdr_is_digit(*q))
		return -1;
	for (; q < end && hdr_is_digit(*q); q++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*q - '0'), &v))
			over = true;
	}
	*out = over ? UINT64_MAX : v;
	*p = q;
	return 0;
}

/* Reads exactly <n> digits at *p. Returns 0 or -1; advances on success. */
static int hdr_take_fixed(const char **p, const char *end, int n, int *out)
{
	const char *q = *p;
	int v = 0;

	if (end - q < n)
		return -1;
	for (; n > 0; n--, q++) {
		if (!hdr_is_digit(*q))
			return -1;
		v = v * 10 + (*q - '0');
	}
	*out = v;
	*p = q;
	return 0;
}

/* Reads the literal <lit> at *p. Returns 0 or -1; advances on success. */
static int hdr_take_lit(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return -1;
	*p += n;
	return 0;
}

/* Reads a month name; stores 1..12. Returns 0 or -1. */
static int hdr_take_month(const char **p, const char *end, int *mon)
{
	int i;

	if (end - *p < 3)
		return -1;
	for (i = 0; i < 12; i++) {
		if (memcmp(*p, hdr_month[i], 3) == 0) {
			*mon = i + 1;
			*p += 3;
			return 0;
		}
	}
	return -1;
}

/* Reads time-of-day "HH:MM:SS" into <tm>. Returns 0 or -1. */
static int hdr_take_time(const char **p, const char *end, struct hdr_tm *tm)
{
	if (hdr_take_fixed(p, end, 2, &tm->hour) < 0 ||
	    hdr_take_lit(p, end, ":") < 0 ||
	    hdr_take_fixed(p, end, 2, &tm->min) < 0 ||
	    hdr_take_lit(p, end, ":") < 0 ||
	    hdr_take_fixed(p, end, 2, &tm->sec) < 0)
		return -1;
	return 0;
}

static bool hdr_is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int hdr_days_in_month(int64_t y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31};

	return m == 2 && hdr_is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to <y>-<m>-<d> in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil); valid for any year used here.
 */
static int64_t hdr_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Year of the Unix day <z> (inverse of hdr_days_from_civil, year only). */
static int64_t hdr_year_from_days(int64_t z)
{
	int64_t era, doe, yoe, doy, mp, y;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	return mp >= 10 ? y + 1 : y;
}

/* Checks the ranges of <tm>; returns true when it names a real instant. */
static bool hdr_tm_valid(const struct hdr_tm *tm)
{
	if (tm->year < 0 || tm->year > 9999 || tm->mon < 1 || tm->mon > 12)
		return false;
	if (tm->mday < 1 || tm->mday > hdr_days_in_month(tm->year, tm->mon))
		return false;
	return tm->hour <= 23 && tm->min <= 59 && tm->sec <= 60;
}

/* IMF-fixdate after the day name: ", 06 Nov 1994 08:49:37 GMT". */
static int hdr_imf_fixdate(const char *p, const char *end, struct hdr_tm *tm)
{
	int year;

	if (hdr_take_lit(&p, end, ", ") < 0 ||
	    hdr_take_fixed(&p, end, 2, &tm->mday) < 0 ||
	    hdr_take_lit(&p, end, " ") < 0 ||
	    hdr_take_month(&p, end, &tm->mon) < 0 ||
	    hdr_take_lit(&p, end, " ") < 0 ||
	    hdr_take_fixed(&p, end, 4, &year) < 0 ||
	    hdr_take_lit(&p, end, " ") < 0 || hdr_take_time(&p, end, tm) < 0 ||
	    hdr_take_lit(&p, end, " GMT") < 0 || p != end)
		return -1;
	tm->year = year;
	return 0;
}

/* rfc850-date after the day name: ", 06-Nov-94 08:49:37 GMT". A two-digit
 * year more than 50 years in the future of <now_wall_s> is taken in the
 * past century (RFC 9110 §5.6.7).
 */
static int hdr_rfc850(const char *p, const char *end, int64_t now_wall_s,
		      struct hdr_tm *tm)
{
	int64_t now_year;
	int yy;

	if (hdr_take_lit(&p, end, ", ") < 0 ||
	    hdr_take_fixed(&p, end, 2, &tm->mday) < 0 ||
	    hdr_take_lit(&p, end, "-") < 0 ||
	    hdr_take_month(&p, end, &tm->mon) < 0 ||
	    hdr_take_lit(&p, end, "-") < 0 ||
	    hdr_take_fixed(&p, end, 2, &yy) < 0 ||
	    hdr_take_lit(&p, end, " ") < 0 || hdr_take_time(&p, end, tm) < 0 ||
	    hdr_take_lit(&p, end, " GMT") < 0 || p != end)
		return -1;
	now_year = hdr_year_from_days(now_wall_s / 86400 -
				      (now_wall_s % 86400 < 0));
	tm->year = now_year - now_year % 100 + yy;
	if (tm->year > now_year + 50)
		tm->year -= 100;
	return 0;
}

/* asctime-date after the day name: " Nov  6 08:49:37 1994" (the day of the
 * month is 2DIGIT or SP DIGIT).
 */
static int hdr_asctime(const char *p, const char *end, struct hdr_tm *tm)
{
	int year;

	if (hdr_take_lit(&p, end, " ") < 0 ||
	    hdr_take_month(&p, end, &tm->mon) < 0 ||
	    hdr_take_lit(&p, end, " ") < 0)
		return -1;
	if (hdr_take_lit(&p, end, " ") == 0) {
		if (hdr_take_fixed(&p, end, 1, &tm->mday) < 0)
			return -1;
	} else if (hdr_take_fixed(&p, end, 2, &tm->mday) < 0) {
		return -1;
	}
	if (hdr_take_lit(&p, end, " ") < 0 || hdr_take_time(&p, end, tm) < 0 ||
	    hdr_take_lit(&p, end, " ") < 0 ||
	    hdr_take_fixed(&p, end, 4, &year) < 0 || p != end)
		return -1;
	tm->year = year;
	return 0;
}

/* Parses an HTTP-date in [p, end) into <tm>. Returns 0 or -1. */
static int hdr_http_date(const char *p, const char *end, int64_t now_wall_s,
			 struct hdr_tm *tm)
{
	const char *q = p;
	size_t n;
	int i;

	while (q < end && hdr_is_alpha(*q))
		q++;
	n = (size_t)(q - p);
	if (n == 3) {
		for (i = 0; i < 7; i++)
			if (memcmp(p, hdr_day_short[i], 3) == 0)
				break;
		if (i == 7)
			return -1;
		if (q < end && *q == ',')
			return hdr_imf_fixdate(q, end, tm);
		return hdr_asctime(q, end, tm);
	}
	for (i = 0; i < 7; i++)
		if (n == strlen(hdr_day_long[i]) &&
		    memcmp(p, hdr_day_long[i], n) == 0)
			return hdr_rfc850(q, end, now_wall_s, tm);
	return -1;
}

int hdr_parse_uint(const char *s, size_t len, uint64_t *out)
{
	hdr_trim(&s, &len);
	return text_parse_u64(s, len, UINT64_MAX, out) < 0 ? -1 : 0;
}

int hdr_parse_retry_after(const char *s, size_t len, int64_t now_wall_s,
			  uint64_t *ms_out)
{
	struct hdr_tm tm;
	const char *p, *end;
	int64_t when, delta;
	uint64_t v;

	hdr_trim(&s, &len);
	p = s;
	end = s + len;
	if (p < end && hdr_is_digit(*p)) {
		/* delta-seconds = 1*DIGIT (RFC 9110 §10.2.3) */
		if (hdr_take_uint(&p, end, &v) < 0 || p != end)
			return -1;
		*ms_out = hdr_sat_mul(v, 1000);
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (hdr_http_date(p, end, now_wall_s, &tm) < 0 || !hdr_tm_valid(&tm))
		return -1;
	when = hdr_days_from_civil(tm.year, tm.mon, tm.mday) * 86400 +
	       tm.hour * 3600 + tm.min * 60 + tm.sec;
	if (when <= now_wall_s) {
		*ms_out = 0;
		return 0;
	}
	if (__builtin_sub_overflow(when, now_wall_s, &delta))
		*ms_out = UINT64_MAX;
	else
		*ms_out = hdr_sat_mul((uint64_t)delta, 1000);
	return 0;
}

int hdr_parse_retry_after_ms(const char *s, size_t len, uint64_t *ms_out)
{
	const char *p, *end;
	bool round_up = false;
	uint64_t v;

	hdr_trim(&s, &len);
	p = s;
	end = s + len;
	if (hdr_take_uint(&p, end, &v) < 0)
		return -1;
	if (p < end && *p == '.') {
		p++;
		if (p == end || !hdr_is_digit(*p))
			return -1;
		for (; p < end && hdr_is_digit(*p); p++)
			if (*p != '0')
				round_up = true;
	}
	if (p != end)
		return -1;
	*ms_out = round_up ? hdr_sat_add(v, 1) : v;
	return 0;
}

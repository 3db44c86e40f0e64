/* SPDX-License-Identifier: Apache-2.0 */
/* Parsers of HAProxy's runtime API answers: pure text in, rows out. */
#include <stdio.h>
#include <string.h>

#include "hapi-parse.h"
#include "text.h"

#define HAPI_COLS_MAX 512 /* columns of a row we look at */

/* Splits <line> in place on <sep> into at most <max> fields. */
static int hapi_fields(char *line, char sep, char **f, int max)
{
	int n = 0;

	while (n < max) {
		f[n++] = line;
		line = strchr(line, sep);
		if (!line)
			break;
		*line++ = '\0';
		if (sep == ' ')
			while (*line == ' ')
				line++;
	}
	return n;
}

static int hapi_col(char **hdr, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(hdr[i], name) == 0)
			return i;
	return -1;
}

/* A counter or state field; empty or not a number (never seen) is 0. */
static uint64_t hapi_u64(const char *s)
{
	uint64_t v;

	return text_parse_u64z(s, UINT64_MAX, &v) == 0 ? v : 0;
}

char *hapi_parse_line(char **p)
{
	char *s = *p, *nl;

	if (!s || !*s || *s == '\n') {
		if (s && *s == '\n')
			*p = s + 1;
		else
			*p = NULL;
		return NULL;
	}
	nl = strchr(s, '\n');
	if (nl) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

/* "show info": only Pid matters (a restart resets the counters). */
int hapi_parse_info(char **p, long long *pid, char *err, size_t errlen)
{
	char *line;
	int n = 0;

	*pid = -1;
	while ((line = hapi_parse_line(p)) != NULL) {
		n++;
		if (strncmp(line, "Pid: ", 5) == 0)
			*pid = (long long)hapi_u64(line + 5);
	}
	if (*pid < 0) {
		snprintf(err, errlen, "show info: unexpected answer (%d lines)",
			 n);
		return -1;
	}
	return 0;
}

int hapi_parse_state(char **p, const char *backend, hapi_state_fn fn, void *arg,
		     char *err, size_t errlen)
{
	char *line, *hdr[HAPI_COLS_MAX], *f[HAPI_COLS_MAX];
	int nh, nf, c_name, c_op, c_adm, c_uw;
	struct hapi_row_state row;

	line = hapi_parse_line(p);
	if (!line || line[0] < '0' || line[0] > '9') {
		snprintf(err, errlen, "show servers state %s: %.80s", backend,
			 line ? line : "no answer");
		while (hapi_parse_line(p))
			;
		return -1;
	}
	line = hapi_parse_line(p);
	if (!line || line[0] != '#') {
		snprintf(err, errlen, "show servers state: no header");
		return -1;
	}
	nh = hapi_fields(line + 2, ' ', hdr, HAPI_COLS_MAX);
	c_name = hapi_col(hdr, nh, "srv_name");
	c_op = hapi_col(hdr, nh, "srv_op_state");
	c_adm = hapi_col(hdr, nh, "srv_admin_state");
	c_uw = hapi_col(hdr, nh, "srv_uweight");
	if (c_name < 0 || c_op < 0 || c_adm < 0) {
		snprintf(err, errlen, "show servers state: unknown header");
		return -1;
	}
	while ((line = hapi_parse_line(p)) != NULL) {
		nf = hapi_fields(line, ' ', f, HAPI_COLS_MAX);
		if (nf <= c_name || nf <= c_op || nf <= c_adm)
			continue;
		row.name = f[c_name];
		row.op_state = (int)hapi_u64(f[c_op]);
		row.admin = (int)hapi_u64(f[c_adm]);
		row.uweight =
			c_uw >= 0 && c_uw < nf ? (int)hapi_u64(f[c_uw]) : -1;
		fn(arg, &row);
	}
	return 0;
}

int hapi_parse_stat(char **p, const char *backend, hapi_stat_fn fn, void *arg,
		    char *err, size_t errlen)
{
	char *line, *hdr[HAPI_COLS_MAX], *f[HAPI_COLS_MAX];
	int nh, nf, c_sv, c_econ, c_eresp, c_wretr, c_wredis, c_status, c_bck;
	struct hapi_row_stat row;

	line = hapi_parse_line(p);
	if (!line || strncmp(line, "# ", 2) != 0) {
		snprintf(err, errlen, "show stat %s: %.80s", backend,
			 line ? line : "no answer");
		return -1;
	}
	nh = hapi_fields(line + 2, ',', hdr, HAPI_COLS_MAX);
	c_sv = hapi_col(hdr, nh, "svname");
	c_econ = hapi_col(hdr, nh, "econ");
	c_eresp = hapi_col(hdr, nh, "eresp");
	c_wretr = hapi_col(hdr, nh, "wretr");
	c_wredis = hapi_col(hdr, nh, "wredis");
	c_status = hapi_col(hdr, nh, "status");
	c_bck = hapi_col(hdr, nh, "bck");
	if (c_sv < 0 || c_econ < 0 || c_eresp < 0 || c_wretr < 0 ||
	    c_wredis < 0 || c_status < 0) {
		snprintf(err, errlen, "show stat: unknown CSV header");
		return -1;
	}
	while ((line = hapi_parse_line(p)) != NULL) {
		nf = hapi_fields(line, ',', f, HAPI_COLS_MAX);
		if (nf < nh)
			continue;
		row.name = f[c_sv];
		row.status = f[c_status];
		row.econ = hapi_u64(f[c_econ]);
		row.eresp = hapi_u64(f[c_eresp]);
		row.wretr = hapi_u64(f[c_wretr]);
		row.wredis = hapi_u64(f[c_wredis]);
		row.backup =
			c_bck >= 0 && *f[c_bck] ? (int)hapi_u64(f[c_bck]) : -1;
		fn(arg, &row);
	}
	return 0;
}

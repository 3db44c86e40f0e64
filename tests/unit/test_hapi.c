/* SPDX-License-Identifier: Apache-2.0 */
/* Parsers of HAProxy's runtime API answers (agent/hapi-parse.c), on
 * answers in the form HAProxy 2.6 to 3.2 give.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hapi-parse.h"
#include "tap.h"

#define ROWS_MAX 8

struct rows {
	int n;
	struct hapi_row_state st[ROWS_MAX];
	struct hapi_row_stat sv[ROWS_MAX];
	char names[ROWS_MAX][32];
	char status[ROWS_MAX][32];
};

static void on_state(void *arg, const struct hapi_row_state *row)
{
	struct rows *r = arg;

	if (r->n == ROWS_MAX)
		return;
	r->st[r->n] = *row;
	snprintf(r->names[r->n], sizeof(r->names[0]), "%s", row->name);
	r->n++;
}

static void on_stat(void *arg, const struct hapi_row_stat *row)
{
	struct rows *r = arg;

	if (r->n == ROWS_MAX)
		return;
	r->sv[r->n] = *row;
	snprintf(r->names[r->n], sizeof(r->names[0]), "%s", row->name);
	snprintf(r->status[r->n], sizeof(r->status[0]), "%s", row->status);
	r->n++;
}

/* A writable copy of <s>: the parsers cut the text in place. */
static char *dup_text(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

static void test_lines(void)
{
	char *t = dup_text("a\nb\n\nc"), *p = t, *l;

	l = hapi_parse_line(&p);
	tap_ok(l && strcmp(l, "a") == 0, "line: first");
	l = hapi_parse_line(&p);
	tap_ok(l && strcmp(l, "b") == 0, "line: second");
	tap_ok(hapi_parse_line(&p) == NULL, "line: empty line ends a section");
	l = hapi_parse_line(&p);
	tap_ok(l && strcmp(l, "c") == 0, "line: next section, no newline");
	tap_ok(hapi_parse_line(&p) == NULL && p == NULL,
	       "line: end of the text");
	free(t);
}

static void test_info(void)
{
	char err[128] = "", *t, *p;
	long long pid = 0;

	t = p = dup_text("Name: HAProxy\nVersion: 2.6.12\nPid: 4242\n"
			 "Uptime: 0d 0h01m\n\nnext");
	tap_is_int(hapi_parse_info(&p, &pid, err, sizeof(err)), 0,
		   "info: parsed");
	tap_is_int(pid, 4242, "info: Pid");
	tap_ok(p && strcmp(p, "next") == 0, "info: stops at its section end");
	free(t);

	t = p = dup_text("Unknown command\n\n");
	tap_is_int(hapi_parse_info(&p, &pid, err, sizeof(err)), -1,
		   "info: no Pid is an error");
	tap_ok(strstr(err, "unexpected answer (1 lines)") != NULL,
	       "info: the error says what came: %s", err);
	free(t);

	t = p = dup_text("Pid: 99999999999999999999999\n\n");
	tap_is_int(hapi_parse_info(&p, &pid, err, sizeof(err)), 0,
		   "info: an overflowing Pid parses as 0, not wrapped");
	tap_is_int(pid, 0, "info: overflow gives 0");
	free(t);
}

static const char state_26[] =
	"1\n"
	"# be_id be_name srv_id srv_name srv_addr srv_op_state "
	"srv_admin_state srv_uweight\n"
	"3 aoai 1 eastus 10.0.0.1 2 0 1\n"
	"3 aoai 2 westus 10.0.0.2 0 1 1\n"
	"3 aoai 3 short\n"
	"\n";

static void test_state(void)
{
	struct rows r = {0};
	char err[128] = "", *t, *p;

	t = p = dup_text(state_26);
	tap_is_int(hapi_parse_state(&p, "aoai", on_state, &r, err, sizeof(err)),
		   0, "state: parsed");
	tap_is_int(r.n, 2, "state: two rows, the short one skipped");
	tap_ok(strcmp(r.names[0], "eastus") == 0 && r.st[0].op_state == 2 &&
		       r.st[0].admin == 0,
	       "state: eastus running, not in maintenance");
	tap_ok(strcmp(r.names[1], "westus") == 0 && r.st[1].op_state == 0 &&
		       r.st[1].admin == 1,
	       "state: westus stopped, forced maintenance");
	free(t);

	memset(&r, 0, sizeof(r));
	t = p = dup_text("Can't find backend.\n\nPid: 1\n");
	tap_is_int(hapi_parse_state(&p, "nope", on_state, &r, err, sizeof(err)),
		   -1, "state: an error text is an error");
	tap_ok(strcmp(err, "show servers state nope: Can't find backend.") == 0,
	       "state: the error quotes HAProxy: %s", err);
	tap_ok(p && strcmp(p, "Pid: 1\n") == 0,
	       "state: the failed section is skipped whole");
	free(t);

	t = p = dup_text("1\nno header\n\n");
	tap_is_int(hapi_parse_state(&p, "aoai", on_state, &r, err, sizeof(err)),
		   -1, "state: a missing header is an error");
	tap_ok(strcmp(err, "show servers state: no header") == 0,
	       "state: says so");
	free(t);

	t = p = dup_text("1\n# be_id be_name srv_id name\n\n");
	tap_is_int(hapi_parse_state(&p, "aoai", on_state, &r, err, sizeof(err)),
		   -1, "state: a header without our columns is an error");
	tap_ok(strcmp(err, "show servers state: unknown header") == 0,
	       "state: unknown header");
	free(t);
	tap_is_int(r.n, 0, "state: no row from a failed answer");
}

static const char stat_csv[] =
	"# pxname,svname,qcur,econ,eresp,wretr,wredis,status,\n"
	"aoai,eastus,0,3,4,1,2,UP,\n"
	"aoai,westus,0,,,,,MAINT,\n"
	"aoai,cut,0\n"
	"aoai,BACKEND,0,7,8,0,0,UP,\n"
	"\n";

static void test_stat(void)
{
	struct rows r = {0};
	char err[128] = "", *t, *p;

	t = p = dup_text(stat_csv);
	tap_is_int(hapi_parse_stat(&p, "aoai", on_stat, &r, err, sizeof(err)),
		   0, "stat: parsed");
	tap_is_int(r.n, 3, "stat: three rows, the cut one skipped");
	tap_ok(strcmp(r.names[0], "eastus") == 0 && r.sv[0].econ == 3 &&
		       r.sv[0].eresp == 4 && r.sv[0].wretr == 1 &&
		       r.sv[0].wredis == 2 && strcmp(r.status[0], "UP") == 0,
	       "stat: eastus counters and status");
	tap_ok(strcmp(r.names[1], "westus") == 0 && r.sv[1].econ == 0 &&
		       r.sv[1].eresp == 0 && strcmp(r.status[1], "MAINT") == 0,
	       "stat: empty counters are 0");
	tap_ok(strcmp(r.names[2], "BACKEND") == 0,
	       "stat: the BACKEND row is passed on (no server has that "
	       "name)");
	free(t);

	memset(&r, 0, sizeof(r));
	t = p = dup_text("Unknown command.\n\n");
	tap_is_int(hapi_parse_stat(&p, "aoai", on_stat, &r, err, sizeof(err)),
		   -1, "stat: an error text is an error");
	tap_ok(strcmp(err, "show stat aoai: Unknown command.") == 0,
	       "stat: the error quotes HAProxy: %s", err);
	free(t);

	t = p = dup_text("# pxname,svname,status\n\n");
	tap_is_int(hapi_parse_stat(&p, "aoai", on_stat, &r, err, sizeof(err)),
		   -1, "stat: a header without our columns is an error");
	tap_ok(strcmp(err, "show stat: unknown CSV header") == 0,
	       "stat: unknown CSV header");
	free(t);

	t = p = dup_text("# pxname,svname,econ,eresp,wretr,wredis,status\n"
			 "aoai,eastus,18446744073709551616,1,0,0,UP\n\n");
	tap_is_int(hapi_parse_stat(&p, "aoai", on_stat, &r, err, sizeof(err)),
		   0, "stat: an overflowing counter parses");
	tap_ok(r.n == 1 && r.sv[0].econ == 0 && r.sv[0].eresp == 1,
	       "stat: an overflowing counter is 0, not wrapped");
	free(t);
}

static void test_whole_poll(void)
{
	/* the three answers of one poll, as the link reads them */
	char buf[1024], err[128] = "", *p = buf;
	struct rows st = {0}, sv = {0};
	long long pid = -1;

	snprintf(buf, sizeof(buf), "Pid: 7\n\n%s%s", state_26, stat_csv);
	tap_ok(hapi_parse_info(&p, &pid, err, sizeof(err)) == 0 &&
		       hapi_parse_state(&p, "aoai", on_state, &st, err,
					sizeof(err)) == 0 &&
		       hapi_parse_stat(&p, "aoai", on_stat, &sv, err,
				       sizeof(err)) == 0,
	       "poll: three sections in a row");
	tap_ok(pid == 7 && st.n == 2 && sv.n == 3,
	       "poll: each section read its own rows");
}

int main(void)
{
	test_lines();
	test_info();
	test_state();
	test_stat();
	test_whole_poll();
	return tap_done();
}

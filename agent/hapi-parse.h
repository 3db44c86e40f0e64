/* SPDX-License-Identifier: Apache-2.0 */
/* Parsers of HAProxy's runtime API answers (2.6 to 3.x): "show info",
 * "show servers state B" and "show stat B 4 -1". Pure: the text is cut in
 * place (NUL bytes written) and rows are handed to a callback; nothing is
 * logged, errors go to <err>.
 */
#ifndef AOAI_HAPI_PARSE_H
#define AOAI_HAPI_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* A server row of "show servers state". Strings point into the text. */
struct hapi_row_state {
	const char *name; /* srv_name */
	int op_state;	  /* srv_op_state (0 is stopped) */
	int admin;	  /* srv_admin_state bits */
	int uweight;	  /* srv_uweight, the weight in use; -1 absent */
};

/* A server row of "show stat" (CSV). Numbers absent or garbled are 0. */
struct hapi_row_stat {
	const char *name;   /* svname */
	const char *status; /* "UP", "DOWN", "MAINT", "no check"... */
	uint64_t econ;	    /* connection errors */
	uint64_t eresp;	    /* response errors */
	uint64_t wretr;	    /* retries */
	uint64_t wredis;    /* redispatches */
	int backup;	    /* bck: 1 a backup server, 0 not, -1 absent */
};

typedef void (*hapi_state_fn)(void *arg, const struct hapi_row_state *row);
typedef void (*hapi_stat_fn)(void *arg, const struct hapi_row_stat *row);

/* Next line of <*p> (NUL-terminated in place), or NULL at a section end
 * (an empty line, consumed) or the end of the text.
 */
char *hapi_parse_line(char **p);

/* One section of "show info": sets <pid> from its "Pid:" line. Returns 0,
 * or -1 with the reason in <err> when there is no Pid.
 */
int hapi_parse_info(char **p, long long *pid, char *err, size_t errlen);

/* One section of "show servers state <backend>" (a version line, a "#"
 * header, rows): <fn> per row with the three columns. Returns 0, or -1
 * with the reason in <err> (no answer, an error text, unknown header).
 */
int hapi_parse_state(char **p, const char *backend, hapi_state_fn fn, void *arg,
		     char *err, size_t errlen);

/* One section of "show stat <backend> 4 -1" (a "# " CSV header, rows):
 * <fn> per row with as many fields as the header. Returns 0, or -1 with
 * the reason in <err>.
 */
int hapi_parse_stat(char **p, const char *backend, hapi_stat_fn fn, void *arg,
		    char *err, size_t errlen);

#endif /* AOAI_HAPI_PARSE_H */

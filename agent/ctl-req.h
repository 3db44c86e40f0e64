/* SPDX-License-Identifier: Apache-2.0 */
/* One control command being run: what its handler receives, and the
 * helpers every handler uses to answer.
 */
#ifndef AOAI_CTL_REQ_H
#define AOAI_CTL_REQ_H

#include <stdbool.h>

#include "buf.h"
#include "core-t.h"
#include "ctl-t.h"

struct ctl_req;

/* One command of a table (ctl-cmd.c): keywords, checks, handler. */
struct ctl_cmd {
	const char *words[3]; /* keywords, e.g. {"show", "backends"} */
	const char *args;     /* arguments, for help */
	const char *help;     /* one line, for help */
	enum cfg_level level; /* lowest level allowed */
	bool json;	      /* accepts a trailing "json" / "-json" */
	bool change;	      /* changes routing state: logged */
	int min_args;	      /* arguments after the keywords */
	int max_args;
	int (*fn)(struct ctl_req *r); /* 0, or -1 after ctl_err() */
};

/* One command being run. */
struct ctl_req {
	struct ctl_session *s;	  /* the session that sent it */
	struct core *a;		  /* what the command reads and changes */
	struct ctl_counters *cnt; /* the control socket's */
	const struct ctl_cmd *cmd;
	int argc; /* arguments after the keywords */
	char **argv;
	bool json;
	struct buf *out;
};

/* Answers <r> with one error line (a JSON object in json mode), counted. */
void ctl_err(struct ctl_req *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Backend named argv[i], or -1 after answering the error. */
int ctl_backend_arg(struct ctl_req *r, int i);

#endif /* AOAI_CTL_REQ_H */

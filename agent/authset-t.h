/* SPDX-License-Identifier: Apache-2.0 */
/* Types of the set of Entra ID credentials of an agent, one per keyless
 * backend, and their delivery to HAProxy.
 */
#ifndef AOAI_AUTHSET_T_H
#define AOAI_AUTHSET_T_H

#include <stdbool.h>
#include <stddef.h>

#include "cred-t.h"
#include "secret-t.h"

#define AUTHSET_PATH_MAX 1024

struct authset;

/* Sends one runtime API command line, the "set map" of backend <name>'s
 * token (or of "-"), to HAProxy. <line> holds a token: the callee neither
 * logs nor keeps it beyond the write, and wipes any copy. Returns 0 when
 * handed over.
 */
typedef int (*authset_send_fn)(struct authset *s, const char *name,
			       const struct sec_buf *line, void *arg);

/* Told when backend <name> gains or loses a usable token. */
typedef void (*authset_avail_fn)(struct authset *s, const char *name,
				 bool usable, void *arg);

/* One credential of the set. */
struct authset_entry {
	struct cred cred;    /* its credential (name = backend name) */
	struct authset *set; /* the set it belongs to */
	bool usable;	     /* as last reported to avail() */
	bool unsent;	     /* its last change did not reach HAProxy */
};

/* Every credential, the token map they share, and the owner's hooks. */
struct authset {
	struct ev_loop *loop;		 /* loop of every credential */
	struct authset_entry *v;	 /* credentials, fixed array */
	size_t n;			 /* in use */
	size_t max;			 /* capacity, fixed at init */
	char map_path[AUTHSET_PATH_MAX]; /* token map file */
	char map_name[AUTHSET_PATH_MAX]; /* the map as HAProxy names it */
	struct sec_buf cmd;		 /* the "set map" line */
	cred_clock_fn now;		 /* wall clock */
	void *now_arg;			 /* its argument */
	authset_send_fn send;		 /* runtime API, may be NULL */
	void *send_arg;			 /* its argument */
	authset_avail_fn avail;		 /* availability, may be NULL */
	void *avail_arg;		 /* its argument */
	ev_timer resend;		 /* retries unsent set map lines */
	uint32_t resend_ms;		 /* current retry delay */
	uint64_t map_failures;		 /* map writes that failed */
	uint64_t send_failures;		 /* set map lines not handed over */
	char last_error[256];		 /* last map or send failure */
};

#endif /* AOAI_AUTHSET_T_H */

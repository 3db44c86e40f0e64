/* SPDX-License-Identifier: Apache-2.0 */
/* The routing engine's backends and pools as views: "show backends" and
 * "show pools" (text and JSON) and the metrics render the same rows.
 */
#ifndef AOAI_VIEW_ROUTE_H
#define AOAI_VIEW_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "http-t.h"
#include "route-t.h"
#include "view-t.h"

struct authset;
struct cred;
struct route_engine;

/* One backend's row: the engine's copy and the text cells derived from
 * it (the cells point into here).
 */
struct view_backend_row {
	struct route_backend_info bi;
	bool weight_set; /* a pool's weight for it was set at run time */
	char left[32];	 /* UNTIL: time left, or probes in flight */
	char flags[56];	 /* FLAGS, comma-separated, "" for none */
	char weight[16]; /* WEIGHT: share of its weight it gets, "40%" */
	char head[48];	 /* HEADROOM: factor and the last remaining-* */
	const struct cred *cred;    /* keyless: its credential, else NULL */
	char auth[64];		    /* AUTH: "-", or kind,token state,expiry */
	char why[HTTP_ERR_MAX + 8]; /* REASON: the last transition's, or
				     * why a keyless one has no token */
};

/* The backends view being rendered. */
struct view_backends {
	struct view_rows rows;
	struct view_backend_row *r; /* rows.n of them; owned */
	bool any_runtime;	    /* a row shows a flag set at run time */
};

/* Fills <vb> with the backends of <e> at <now_ms>, or only backend <only>
 * when >= 0; <auth> (may be NULL) has the keyless ones' credentials.
 * Returns 0, or -1 out of memory (<vb> then needs no free).
 */
int view_backends_fill(struct view_backends *vb, struct route_engine *e,
		       const struct authset *auth, uint64_t now_ms, int only);

void view_backends_free(struct view_backends *vb);

/* One pool member's row, and its text cells. */
struct view_member_row {
	const char *pool;	     /* its pool's name */
	const char *backend;	     /* its backend's name */
	struct route_member_info mi; /* the engine's copy */
	enum route_state state;	     /* its backend's */
	char weight[16];	     /* WEIGHT: "3", "7*" set at run time */
	char eff[24];		     /* EFFECTIVE: "2.500" */
	char st[48];		     /* STATE: "open,disabled*,down" */
};

/* The pools view: a row per pool, and the members of every pool, pool by
 * pool, as rows of a second view.
 */
struct view_pools {
	struct view_rows pools;
	struct view_rows members;
	struct route_pool_info *pi; /* pools.n of them; owned */
	uint32_t *first;	    /* pools.n + 1: pool k's members are rows
				     * first[k] .. first[k + 1] - 1; owned */
	struct view_member_row *m;  /* members.n of them; owned */
	bool any_runtime;	    /* a member's weight was set at run time */
};

/* Fills <vp> with the pools of <e> at <now_ms>, or only pool <only> when
 * >= 0. Returns 0, or -1 out of memory (<vp> then needs no free).
 */
int view_pools_fill(struct view_pools *vp, struct route_engine *e,
		    uint64_t now_ms, int only);

void view_pools_free(struct view_pools *vp);

#endif /* AOAI_VIEW_ROUTE_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* The routing engine's backends as one view: "show backends" (text and
 * JSON) and the backend families of the metrics render the same rows.
 */
#ifndef AOAI_VIEW_ROUTE_H
#define AOAI_VIEW_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "route-t.h"
#include "view-t.h"

struct route_engine;

/* One backend's row: the engine's copy and the text cells derived from
 * it (the cells point into here).
 */
struct view_backend_row {
	struct route_backend_info bi;
	bool weight_set; /* a pool's weight for it was set at run time */
	char left[32];	 /* UNTIL: time left, or probes in flight */
	char flags[48];	 /* FLAGS, comma-separated, "" for none */
	char weight[16]; /* WEIGHT: share of its weight it gets, "40%" */
	char head[48];	 /* HEADROOM: factor and the last remaining-* */
};

/* The backends view being rendered. */
struct view_backends {
	struct view_rows rows;
	struct view_backend_row *r; /* rows.n of them; owned */
	bool any_runtime;	    /* a row shows a flag set at run time */
};

/* Fills <vb> with the backends of <e> at <now_ms>, or only backend <only>
 * when >= 0. Returns 0, or -1 out of memory (<vb> then needs no free).
 */
int view_backends_fill(struct view_backends *vb, struct route_engine *e,
		       uint64_t now_ms, int only);

void view_backends_free(struct view_backends *vb);

#endif /* AOAI_VIEW_ROUTE_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Control socket views: the handlers of the "show" commands. Each
 * renders into r->out, in JSON when r->json, and returns 0 or -1 (after
 * ctl_err()).
 */
#ifndef AOAI_CTL_SHOW_H
#define AOAI_CTL_SHOW_H

#include "ctl-req.h"

/* Flat key/value pairs: process, counters, latency. */
int ctl_show_info(struct ctl_req *r);
/* One row per backend: breaker state, weights, counters. */
int ctl_show_backends(struct ctl_req *r);
/* One block per pool: members, priorities, effective weights. */
int ctl_show_pools(struct ctl_req *r);
/* The configuration in force, defaults expanded. */
int ctl_show_config(struct ctl_req *r);
/* The Prometheus exposition, as the metrics listener serves it. */
int ctl_show_metrics(struct ctl_req *r);
/* The HAProxy runtime API link and its servers. */
int ctl_show_haproxy(struct ctl_req *r);
/* The fleet link: own and other nodes' deadlines. */
int ctl_show_fleet(struct ctl_req *r);

#endif /* AOAI_CTL_SHOW_H */

/* SPDX-License-Identifier: Apache-2.0 */
/* Control commands: HAProxy-style text commands run against the agent. */
#ifndef AOAI_CTL_CMD_H
#define AOAI_CTL_CMD_H

#include "core-t.h"
#include "buf.h"
#include "ctl-t.h"

/* Runs <line> (NUL-terminated, changed in place): its ';'-separated
 * commands in order, stopping after "quit". Each command's answer, and the
 * empty line that ends it, is appended to <out> (capped: an answer that
 * does not fit is replaced by an error). Commands are checked against
 * <s>'s level and may change <s>; <cnt> counts them.
 */
void ctl_cmd_run_line(struct core *a, struct ctl_counters *cnt,
		      struct ctl_session *s, char *line, struct buf *out);

#endif /* AOAI_CTL_CMD_H */

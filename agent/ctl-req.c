/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers of the control command handlers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl-req.h"
#include "route.h"

void ctl_err(struct ctl_req *r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* errors may quote the input: no escape sequence reaches the
	 * operator's terminal
	 */
	for (i = 0; msg[i]; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	r->cnt->errors++;
	if (r->json) {
		buf_add(r->out, "{\"error\":", 9);
		buf_json_str(r->out, msg);
		buf_add(r->out, "}\n", 2);
	} else {
		buf_printf(r->out, "error: %s\n", msg);
	}
}

int ctl_backend_arg(struct ctl_req *r, int i)
{
	const char *name = r->argv[i];
	int b = route_backend_index(r->a->route, name, strlen(name));

	if (b < 0)
		ctl_err(r, "no backend '%.64s'", name);
	return b;
}

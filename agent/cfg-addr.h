/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration of a socket, read from the YAML layer (yconf) into struct
 * cfg_listener. The keys of a socket mapping come from the caller (the
 * schema), so this module knows nothing of struct cfg.
 */
#ifndef AOAI_CFG_ADDR_H
#define AOAI_CFG_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg-addr-t.h"
#include "yconf.h"

/* Where node <n> starts, 1-based, as kept in the cfg. */
struct cfg_mark cfg_mark_node(const yaml_node_t *n);

/* True when TCP listener <l> is on 127.0.0.0/8 or ::1. */
bool cfg_is_loopback(const struct cfg_listener *l);

/* Parses address <n>, "tcp://HOST:PORT" (HOST a numeric IPv4 address or a
 * bracketed IPv6 one) or "unix:///PATH", into the kind, host, port, path and
 * mark of <l>; errors name <what>. Returns 0 or -1 (reported in <y>).
 */
int cfg_addr_parse(struct yconf *y, const yaml_node_t *n, const char *what,
		   struct cfg_listener *l);

/* Parses socket <n> into <l> (reset first, mode 0600 for a control socket,
 * 0660 otherwise, level admin): an address, or a mapping {address, mode}
 * and, when <control>, level. <keys> are the <nk> keys of a socket mapping
 * in the schema's order (address, mode, level). Returns 0 or -1 (reported
 * in <y>).
 */
int cfg_socket_parse(struct yconf *y, yaml_node_t *n, const char *what,
		     bool control, struct yconf_key *keys, size_t nk,
		     struct cfg_listener *l);

#endif /* AOAI_CFG_ADDR_H */

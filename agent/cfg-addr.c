/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration of a socket: the address grammar (tcp://HOST:PORT,
 * tcp://[V6]:PORT, unix:///PATH), a unix socket's file mode and a control
 * socket's level, read from YAML nodes into struct cfg_listener with every
 * error at its file:line:col.
 */

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cfg-addr.h"
#include "text.h"

struct cfg_mark cfg_mark_node(const yaml_node_t *n)
{
	struct yconf_mark m = yconf_mark_of(n->start_mark);

	return (struct cfg_mark){m.line, m.col};
}

bool cfg_is_loopback(const struct cfg_listener *l)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (l->kind != CFG_ADDR_TCP)
		return false;
	if (inet_pton(AF_INET, l->host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, l->host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* The unix:// part of cfg_addr_parse(): <path> after the scheme. */
static int cfg_addr_unix(struct yconf *y, const yaml_node_t *n,
			 const char *what, const char *path,
			 struct cfg_listener *l)
{
	size_t len = strlen(path);

	if (path[0] != '/') {
		yconf_bad(y, n, "%s: expected an absolute path: unix:///PATH",
			  what);
		return -1;
	}
	if (len >= CFG_PATH_MAX) {
		yconf_err(y, n,
			  "%s: unix socket path too long: %zu bytes, at most "
			  "%d",
			  what, len, CFG_PATH_MAX - 1);
		return -1;
	}
	l->kind = CFG_ADDR_UNIX;
	memcpy(l->path, path, len + 1);
	return 0;
}

/* Splits "HOST:PORT" or "[V6]:PORT" at <h>: the host at *<host> of
 * *<hlen> bytes, the port text at *<port>, the family. Returns 0 or -1
 * (reported).
 */
static int cfg_addr_split(struct yconf *y, const yaml_node_t *n,
			  const char *what, const char *h, const char **host,
			  size_t *hlen, const char **port, int *family)
{
	const char *end;

	if (h[0] == '[') {
		end = strchr(h, ']');
		if (!end || end[1] != ':') {
			yconf_bad(y, n, "%s: expected tcp://[IPV6]:PORT", what);
			return -1;
		}
		*host = h + 1;
		*hlen = (size_t)(end - h - 1);
		*port = end + 2;
		*family = AF_INET6;
		return 0;
	}
	end = strrchr(h, ':');
	if (!end) {
		yconf_bad(y, n, "%s: expected tcp://HOST:PORT", what);
		return -1;
	}
	if (memchr(h, ':', (size_t)(end - h))) {
		yconf_bad(y, n,
			  "%s: an IPv6 address needs brackets: "
			  "tcp://[ADDR]:PORT",
			  what);
		return -1;
	}
	*host = h;
	*hlen = (size_t)(end - h);
	*port = end + 1;
	*family = AF_INET;
	return 0;
}

int cfg_addr_parse(struct yconf *y, const yaml_node_t *n, const char *what,
		   struct cfg_listener *l)
{
	const char *s = yconf_scalar(y, n, what), *h, *port;
	char host[CFG_HOST_MAX];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t hlen;
	uint64_t v;
	int family;

	if (!s)
		return -1;
	l->mark = cfg_mark_node(n);
	if (strncmp(s, "unix://", 7) == 0)
		return cfg_addr_unix(y, n, what, s + 7, l);
	if (strncmp(s, "tcp://", 6) != 0) {
		yconf_bad(y, n, "%s: expected tcp://HOST:PORT or unix:///PATH",
			  what);
		return -1;
	}
	if (cfg_addr_split(y, n, what, s + 6, &h, &hlen, &port, &family) < 0)
		return -1;
	if (hlen >= sizeof(host)) {
		yconf_bad(y, n, "%s: host too long", what);
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (inet_pton(family, host, bin) != 1) {
		yconf_bad(y, n,
			  "%s: host must be a numeric IPv4 address or a "
			  "bracketed IPv6 address",
			  what);
		return -1;
	}
	if (text_parse_u64z(port, 65535, &v) < 0 || v < 1) {
		yconf_bad(y, n, "%s: port must be 1..65535", what);
		return -1;
	}
	l->kind = CFG_ADDR_TCP;
	memcpy(l->host, host, hlen + 1);
	l->port = (uint16_t)v;
	return 0;
}

/* Parses file mode <n>: octal digits, optionally after "0o", at most 0777.
 * Returns 0 or -1 (reported).
 */
static int cfg_mode(struct yconf *y, const yaml_node_t *n, const char *what,
		    uint32_t *out)
{
	const char *s = yconf_scalar(y, n, what);
	uint32_t v = 0;
	size_t i;

	if (!s)
		return -1;
	if (s[0] == '0' && s[1] == 'o')
		s += 2;
	for (i = 0; s[i] >= '0' && s[i] <= '7' && v <= 0777; i++)
		v = v * 8 + (uint32_t)(s[i] - '0');
	if (i == 0 || s[i] != '\0' || v > 0777) {
		yconf_bad(y, n,
			  "%s: mode: expected an octal file mode such as 0660, "
			  "at most 0777",
			  what);
		return -1;
	}
	*out = v;
	return 0;
}

int cfg_socket_parse(struct yconf *y, yaml_node_t *n, const char *what,
		     bool control, struct yconf_key *keys, size_t nk,
		     struct cfg_listener *l)
{
	struct yconf_key *addr = yconf_key_get(keys, nk, "address");
	struct yconf_key *mode = yconf_key_get(keys, nk, "mode");
	struct yconf_key *level = yconf_key_get(keys, nk, "level");
	const char *s;
	int rc = 0;

	memset(l, 0, sizeof(*l));
	l->mode = control ? 0600 : 0660;
	l->level = CFG_LEVEL_ADMIN;
	if (n->type == YAML_SCALAR_NODE)
		return cfg_addr_parse(y, n, what, l);
	if (n->type != YAML_MAPPING_NODE) {
		yconf_err(y, n, "%s: expected an address or a mapping", what);
		return -1;
	}
	if (yconf_map(y, n, what, keys, control ? 3 : 2) < 0)
		return -1;
	if (!addr->val || cfg_addr_parse(y, addr->val, what, l) < 0)
		rc = -1;
	if (mode->val) {
		if (cfg_mode(y, mode->val, what, &l->mode) < 0) {
			rc = -1;
		} else if (rc == 0 && l->kind != CFG_ADDR_UNIX) {
			yconf_err(y, mode->key,
				  "%s: mode applies to unix sockets only",
				  what);
			rc = -1;
		}
	}
	if (control && level->val) {
		s = yconf_scalar(y, level->val, "level");
		if (!s)
			rc = -1;
		else if (strcmp(s, "user") == 0)
			l->level = CFG_LEVEL_USER;
		else if (strcmp(s, "operator") == 0)
			l->level = CFG_LEVEL_OPERATOR;
		else if (strcmp(s, "admin") == 0)
			l->level = CFG_LEVEL_ADMIN;
		else {
			yconf_bad(y, level->val,
				  "%s: level: expected user, operator or admin",
				  what);
			rc = -1;
		}
	}
	return rc;
}

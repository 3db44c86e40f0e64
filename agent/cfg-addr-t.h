/* SPDX-License-Identifier: Apache-2.0 */
/* Configuration types of a socket address: where a value was written, and
 * one socket to listen on or to connect to.
 */
#ifndef AOAI_CFG_ADDR_T_H
#define AOAI_CFG_ADDR_T_H

#include <stdint.h>

#define CFG_PATH_MAX 108 /* sizeof(sun_path) */
#define CFG_HOST_MAX 64

/* Where a node starts in the file, 1-based (libyaml marks are 0-based). */
struct cfg_mark {
	uint32_t line;
	uint32_t col;
};

enum cfg_addr_kind {
	CFG_ADDR_TCP,  /* host:port, IPv4 or IPv6 literal */
	CFG_ADDR_UNIX, /* filesystem path */
};

/* Access level of a control socket, as HAProxy's "level" on stats sockets. */
enum cfg_level {
	CFG_LEVEL_USER,	    /* read-only commands */
	CFG_LEVEL_OPERATOR, /* plus enable/disable/trip/reset/set weight */
	CFG_LEVEL_ADMIN,    /* plus reload */
};

/* One socket to listen on: "tcp://HOST:PORT" or "unix:///PATH". */
struct cfg_listener {
	enum cfg_addr_kind kind;
	char host[CFG_HOST_MAX]; /* tcp: numeric address, no brackets */
	uint16_t port;		 /* tcp */
	char path[CFG_PATH_MAX]; /* unix */
	uint32_t mode;		 /* unix: file mode of the socket */
	enum cfg_level level;	 /* control sockets only */
	struct cfg_mark mark;
};

#endif /* AOAI_CFG_ADDR_T_H */

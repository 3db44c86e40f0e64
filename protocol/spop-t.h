/* SPDX-License-Identifier: Apache-2.0 */
/* SPOP 2.0 wire types and constants (SPOE.txt §3). Types only. */
#ifndef AOAI_SPOP_T_H
#define AOAI_SPOP_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOP_VERSION_MAJOR 2
#define SPOP_VERSION_STR   "2.0"

/* SPOE.txt §3.2: "must be greater than or equal to 256 bytes". */
#define SPOP_MIN_FRAME_SIZE 256
/* HAProxy's default max-frame-size (tune.bufsize 16384 minus the prefix). */
#define SPOP_DEFAULT_FRAME_SIZE 16380
/* Largest max-frame-size the codec accepts: a frame's size must fit the
 * int that spop_frame_extract() returns.
 */
#define SPOP_MAX_FRAME_SIZE (16u * 1024 * 1024)
/* Length prefix of every frame, network byte order (§3.2). */
#define SPOP_FRAME_PREFIX 4
/* Smallest frame: type(1) + flags(4) + stream-id(1) + frame-id(1). */
#define SPOP_FRAME_MIN_LEN 7
/* 2^64-1 takes ten bytes in the Peers encoding; more is an error. */
#define SPOP_VARINT_MAX_LEN 10

enum spop_frame_type {
	SPOP_FRM_UNSET = 0,
	SPOP_FRM_HAPROXY_HELLO = 1,
	SPOP_FRM_HAPROXY_DISCONNECT = 2,
	SPOP_FRM_NOTIFY = 3,
	SPOP_FRM_AGENT_HELLO = 101,
	SPOP_FRM_AGENT_DISCONNECT = 102,
	SPOP_FRM_ACK = 103,
};

/* Frame flags, bit 0 is the LSB of the 32-bit field (§3.2). */
#define SPOP_FL_FIN   0x00000001u
#define SPOP_FL_ABORT 0x00000002u

/* Typed data: <TYPE:4 bits><FLAGS:4 bits> in one byte, type in the low
 * nibble (§3.1).
 */
enum spop_data_type {
	SPOP_DATA_NULL = 0,
	SPOP_DATA_BOOL = 1,
	SPOP_DATA_INT32 = 2,
	SPOP_DATA_UINT32 = 3,
	SPOP_DATA_INT64 = 4,
	SPOP_DATA_UINT64 = 5,
	SPOP_DATA_IPV4 = 6,
	SPOP_DATA_IPV6 = 7,
	SPOP_DATA_STR = 8,
	SPOP_DATA_BIN = 9,
};

#define SPOP_DATA_TYPE_MASK 0x0f
#define SPOP_DATA_FL_TRUE   0x10 /* BOOL: first bit of the flags */

/* Status codes of DISCONNECT frames (§3.5). */
enum spop_status {
	SPOP_ERR_NONE = 0,
	SPOP_ERR_IO = 1,
	SPOP_ERR_TIMEOUT = 2,
	SPOP_ERR_TOO_BIG = 3,
	SPOP_ERR_INVALID = 4,
	SPOP_ERR_NO_VSN = 5,
	SPOP_ERR_NO_FRAME_SIZE = 6,
	SPOP_ERR_NO_CAP = 7,
	SPOP_ERR_BAD_VSN = 8,
	SPOP_ERR_BAD_FRAME_SIZE = 9,
	SPOP_ERR_FRAG_NOT_SUPPORTED = 10,
	SPOP_ERR_INTERLACED_FRAMES = 11,
	SPOP_ERR_FRAMEID_NOTFOUND = 12,
	SPOP_ERR_RES = 13,
	SPOP_ERR_UNKNOWN = 99,
};

/* Variable scopes of set-var/unset-var (§3.4). */
enum spop_scope {
	SPOP_SCOPE_PROC = 0,
	SPOP_SCOPE_SESS = 1,
	SPOP_SCOPE_TXN = 2,
	SPOP_SCOPE_REQ = 3,
	SPOP_SCOPE_RES = 4,
};

enum spop_action_type {
	SPOP_ACT_SET_VAR = 1,
	SPOP_ACT_UNSET_VAR = 2,
};

/* A decoded typed value. Strings and binaries point into the frame. */
struct spop_data {
	enum spop_data_type type;
	union {
		bool b;		  /* BOOL */
		int64_t sint;	  /* INT32, INT64 */
		uint64_t uint;	  /* UINT32, UINT64 */
		uint8_t ipv4[4];  /* IPV4, network order */
		uint8_t ipv6[16]; /* IPV6, network order */
		struct {
			const char *ptr;
			size_t len;
		} str; /* STR, BIN: not NUL-terminated */
	} u;
};

/* One frame as found in a byte stream; payload points into that stream. */
struct spop_frame {
	uint8_t type;	     /* enum spop_frame_type, or unknown */
	uint32_t flags;	     /* SPOP_FL_* */
	uint64_t stream_id;  /* opaque, echoed back; may be 0 */
	uint64_t frame_id;   /* opaque, echoed back */
	const char *payload; /* after the metadata */
	size_t len;	     /* payload length */
};

/* A KV-LIST item or a message argument. */
struct spop_kv {
	const char *name; /* not NUL-terminated */
	size_t name_len;
	struct spop_data val;
};

/* Walks a LIST-OF-MESSAGES in place. Initialise with spop_msg_iter_init()
 * and call spop_msg_next(); within a message, spop_arg_next().
 */
struct spop_msg_iter {
	const char *p;	    /* next unread byte */
	const char *end;    /* end of the payload */
	unsigned args_left; /* arguments of the current message not read yet */
};

/* A message of a NOTIFY frame. */
struct spop_msg {
	const char *name; /* not NUL-terminated */
	size_t name_len;
	unsigned nb_args;
};

/* What a HAPROXY-HELLO says (§3.2.4). Strings point into the frame. */
struct spop_hello {
	bool has_version;	 /* "supported-versions" present */
	bool version_ok;	 /* it lists a 2.x version */
	bool has_max_frame_size; /* "max-frame-size" present */
	uint64_t max_frame_size;
	bool has_capabilities; /* "capabilities" present */
	bool cap_pipelining;
	bool cap_async;
	bool cap_fragmentation;
	bool healthcheck;      /* "healthcheck" is true */
	const char *engine_id; /* NULL if absent */
	size_t engine_id_len;
};

/* What a HAPROXY-DISCONNECT says (§3.2.8). */
struct spop_disconnect {
	bool has_status;
	uint32_t status;     /* enum spop_status, or the peer's own code */
	const char *message; /* NULL if absent; not NUL-terminated */
	size_t message_len;
};

/* Reassembles a fragmented NOTIFY (§3.2) into a buffer the caller owns. */
struct spop_reasm {
	char *buf;	    /* caller's buffer */
	size_t size;	    /* its capacity: the cap on a payload */
	size_t len;	    /* bytes gathered so far */
	bool active;	    /* a fragmented payload is in progress */
	uint8_t type;	    /* frame type of the first fragment */
	uint64_t stream_id; /* ids every fragment must share */
	uint64_t frame_id;
};

/* Results of spop_reasm_feed() besides negative status codes. */
enum spop_reasm_result {
	SPOP_REASM_MORE = 0,	/* fragment stored, more to come */
	SPOP_REASM_DONE = 1,	/* payload complete in buf[0..len) */
	SPOP_REASM_ABORTED = 2, /* peer aborted; state reset */
};

#endif /* AOAI_SPOP_T_H */

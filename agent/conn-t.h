/* SPOP connection types: one state machine per connection (SPOE.txt §3.2). */
#ifndef AOAI_CONN_T_H
#define AOAI_CONN_T_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conn_state {
	CONN_ST_HELLO,	 /* waiting for HAPROXY-HELLO */
	CONN_ST_ACTIVE,	 /* NOTIFY -> ACK */
	CONN_ST_CLOSING, /* last frame queued: flush, then close */
	CONN_ST_CLOSED,	 /* fd closed; freed at the loop's safe point */
};

struct agent;

struct conn {
	struct agent *agent; /* owner */
	struct conn *next;   /* agent's list of connections */
	struct conn *prev;
	int fd;
	enum conn_state state;
	uint64_t id;	    /* "conn #N" in logs */
	char peer[64];	    /* address for logs */
	ev_io rio;	    /* readable */
	ev_io wio;	    /* writable, only while output is pending */
	ev_timer timer;	    /* hello, then idle timeout (ev_timer_again) */
	uint32_t frame_max; /* our max before HELLO, negotiated after */
	bool healthcheck;   /* HELLO said healthcheck: close after it */
	bool reading;	    /* rio started */
	char *rbuf;	    /* received bytes not yet consumed */
	size_t rlen;
	size_t rsize; /* our max frame + prefix: a frame fits */
	char *wbuf;   /* frames to send */
	size_t wlen;  /* bytes queued */
	size_t woff;  /* bytes of wbuf already sent */
	size_t wsize;
	uint64_t notifies; /* NOTIFYs handled on this connection */
};

#endif /* AOAI_CONN_T_H */

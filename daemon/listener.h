/*
 * listener.h - the listening sockets: a Unix socket for local clients and
 * TCP. Accepted sockets become connections (conn.h); past max_connections a
 * client gets an UNAVAILABLE error frame and is disconnected.
 */
#ifndef CUSTODY_LISTENER_H
#define CUSTODY_LISTENER_H

#include <stddef.h>

#include <event2/event.h>

#include "cu_err.h"

struct listener_options {
	const char *unix_path; /* "" = none */
	int unix_mode;
	const char *tcp_address; /* "HOST:PORT" or "[V6]:PORT"; "" = none */
	int max_connections;
};

/* Opens the sockets; on failure err says which and why. */
CU_MUST_USE int listener_start(struct event_base *base, const struct listener_options *opt,
			       char *err, size_t err_size);

/*
 * Changes max_connections (SIGHUP): it applies to the next accepted
 * socket; connections already open above a lowered limit stay.
 */
void listener_set_max_connections(int n);

/* Closes the sockets and removes the Unix socket file. */
void listener_stop(void);

#endif

/*
 * peer.h - who may connect, and how much each key may use.
 *
 * Unix-socket clients are admitted by their peer credentials (SO_PEERCRED):
 * root, custodyd's own user, and the uids and gids of the config. TCP
 * clients are admitted by the Ed25519 key they proved in the Noise
 * handshake: the bootstrap admin key or a registered key usable now. Each
 * key may hold at most max_connections_per_key connections and send
 * key_rate_per_s requests a second (a token bucket of key_rate_burst), so
 * one key cannot starve the others. Accounting is per key, over all its
 * connections.
 */
#ifndef CUSTODY_PEER_H
#define CUSTODY_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cu_err.h"
#include "custody.pb-c.h"
#include "principal.h"

#define PEER_MAX_IDS 32

struct peer_limits {
	int max_connections_per_key; /* 0 = no limit */
	int key_rate_per_s;	     /* requests per second per key; 0 = no limit */
	int key_rate_burst;	     /* bucket size */
	uid_t uids[PEER_MAX_IDS];    /* Unix peers allowed besides root and ourselves */
	size_t n_uids;
	gid_t gids[PEER_MAX_IDS];
	size_t n_gids;
};

/*
 * Parses "1000,postgres" style lists of user (want_group false) or group
 * names and numbers into limits (uids or gids). Unknown names fail with a
 * message in err.
 */
CU_MUST_USE int peer_parse_ids(const char *text, bool want_group, struct peer_limits *limits,
			       char *err, size_t err_size);

/* Sets the limits (copied) for admissions from now on. */
void peer_configure(const struct peer_limits *limits);

/* May a Unix peer with these credentials connect? */
bool peer_unix_allowed(uid_t uid, gid_t gid);

/*
 * Admits a TCP client that proved key pk: fills *out and counts the
 * connection. Otherwise returns CU_ERR_PERM with *code (UNAUTHENTICATED:
 * unknown or unusable key; UNAVAILABLE: registry not loaded, or the key's
 * connection limit) and a reason in why.
 */
CU_MUST_USE int peer_admit(const uint8_t pk[32], struct principal *out, Custody__ErrorCode *code,
			   char *why, size_t why_size);

/* The connection of an admitted principal closed. */
void peer_release(const struct principal *p);

/*
 * Takes one request token for p (always granted for LOCAL). false: the
 * key is over its rate; the request is to be refused UNAVAILABLE.
 */
bool peer_take_token(const struct principal *p);

/* Frees the accounting (at exit). */
void peer_shutdown(void);

#endif

/*
 * principal.h - who is on the other end of a connection.
 *
 * A Unix-socket client whose peer credentials are allowed is the local
 * administrator (PRINCIPAL_LOCAL): it may send every request, and what it
 * submits is still judged by the signatures it carries. A TCP client is
 * the Ed25519 key it proved in the Noise handshake (PRINCIPAL_KEY): the
 * bootstrap admin key or a registered key, whose party and role decide
 * what it may ask (auth.h). The key's registration is looked up again for
 * every request, so a key revoked or expired while connected loses its
 * rights at once.
 */
#ifndef CUSTODY_PRINCIPAL_H
#define CUSTODY_PRINCIPAL_H

#include <stdbool.h>
#include <stdint.h>

enum principal_kind {
	PRINCIPAL_NONE,	 /* not (yet) authenticated: may send nothing */
	PRINCIPAL_LOCAL, /* allowed Unix peer: everything */
	PRINCIPAL_KEY,	 /* TCP: the Noise static key */
};

struct principal {
	enum principal_kind kind;
	uint8_t pubkey[32]; /* PRINCIPAL_KEY: the Ed25519 identity key */
};

#endif

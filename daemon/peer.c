/*
 * peer.c - admission and per-key accounting (see peer.h).
 *
 * One usage record per key with open connections, in a hash map keyed by
 * the public key. When its last connection closes the record is freed if
 * the key's request budget is full again; a key that spent it keeps its
 * record (no connections) until the clock has refilled it, so closing and
 * reopening a connection does not reset the budget. Only registered keys
 * are admitted, so the map holds at most a record per connection plus one
 * per registered key that spent its budget in the last burst / rate
 * seconds; such records are dropped as others are released.
 */
#include "peer.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "codec.h"
#include "hmap.h"
#include "sequencer.h"

struct usage {
	int connections;
	double tokens;
	int64_t refilled_us; /* monotonic */
};

static struct peer_limits limits = {64, 5000, 10000, {0}, 0, {0}, 0};
static struct hmap *usage_by_key;

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One name or number of a user or group. */
static int parse_id(const char *name, bool want_group, unsigned long *id)
{
	char *end;

	*id = strtoul(name, &end, 10);
	if (*name != '\0' && *end == '\0')
		return CU_OK;
	if (want_group) {
		const struct group *g = getgrnam(name);

		if (g == NULL)
			return CU_ERR_NOT_FOUND;
		*id = g->gr_gid;
	} else {
		const struct passwd *pw = getpwnam(name);

		if (pw == NULL)
			return CU_ERR_NOT_FOUND;
		*id = pw->pw_uid;
	}
	return CU_OK;
}

int peer_parse_ids(const char *text, bool want_group, struct peer_limits *l, char *err,
		   size_t err_size)
{
	char buf[1024], *save = NULL, *tok;
	size_t *n = want_group ? &l->n_gids : &l->n_uids;
	unsigned long id;

	*n = 0;
	if (strlen(text) >= sizeof(buf))
		return cu_fail(err, err_size, "list too long");
	memcpy(buf, text, strlen(text) + 1);
	for (tok = strtok_r(buf, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		if (*n == PEER_MAX_IDS)
			return cu_fail(err, err_size, "more than %d entries", PEER_MAX_IDS);
		if (parse_id(tok, want_group, &id) != CU_OK)
			return cu_fail(err, err_size, "no such %s: %s",
				       want_group ? "group" : "user", tok);
		if (want_group)
			l->gids[(*n)++] = (gid_t)id;
		else
			l->uids[(*n)++] = (uid_t)id;
	}
	return CU_OK;
}

void peer_configure(const struct peer_limits *l)
{
	limits = *l;
}

bool peer_unix_allowed(uid_t uid, gid_t gid)
{
	if (uid == 0 || uid == geteuid())
		return true;
	for (size_t i = 0; i < limits.n_uids; i++) {
		if (limits.uids[i] == uid)
			return true;
	}
	for (size_t i = 0; i < limits.n_gids; i++) {
		if (limits.gids[i] == gid)
			return true;
	}
	return false;
}

/* The usage record of pk, made if absent; NULL when out of memory. */
static struct usage *usage_of(const uint8_t pk[32], bool create)
{
	struct usage *u;

	if (usage_by_key == NULL && (!create || (usage_by_key = hmap_new()) == NULL))
		return NULL;
	u = hmap_get(usage_by_key, pk, 32);
	if (u != NULL || !create)
		return u;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return NULL;
	u->tokens = limits.key_rate_burst;
	u->refilled_us = mono_us();
	if (hmap_put(usage_by_key, pk, 32, u, NULL) != CU_OK) {
		free(u);
		return NULL;
	}
	return u;
}

/* Is pk a key that may talk to us now (auth_resolve)? Refusal in code and why. */
static bool key_usable(const uint8_t pk[32], Custody__ErrorCode *code, char *why, size_t n)
{
	struct principal p = {.kind = PRINCIPAL_KEY};
	struct auth_id id;
	struct auth_verdict v;

	memcpy(p.pubkey, pk, 32);
	if (auth_resolve(&p, sequencer_registry(), sequencer_is_bootstrap_admin(pk), codec_now_ms(),
			 &id, &v) == CU_OK)
		return true;
	*code = v.code;
	snprintf(why, n, "%s", v.why);
	return false;
}

int peer_admit(const uint8_t pk[32], struct principal *out, Custody__ErrorCode *code, char *why,
	       size_t why_size)
{
	struct usage *u;

	if (!key_usable(pk, code, why, why_size))
		return CU_ERR_PERM;
	u = usage_of(pk, true);
	*code = CUSTODY__ERROR_CODE__UNAVAILABLE;
	if (u == NULL) {
		snprintf(why, why_size, "out of memory");
		return CU_ERR_PERM;
	}
	if (limits.max_connections_per_key > 0 &&
	    u->connections >= limits.max_connections_per_key) {
		snprintf(why, why_size,
			 "this key already has %d connections (max_connections_per_key)",
			 u->connections);
		return CU_ERR_PERM;
	}
	u->connections++;
	out->kind = PRINCIPAL_KEY;
	memcpy(out->pubkey, pk, 32);
	return CU_OK;
}

/* Adds the tokens earned since the last refill, up to the burst. */
static void refill(struct usage *u, int64_t now)
{
	if (limits.key_rate_per_s <= 0) {
		u->tokens = limits.key_rate_burst;
	} else {
		u->tokens += (double)(now - u->refilled_us) * limits.key_rate_per_s / 1e6;
		if (u->tokens > limits.key_rate_burst)
			u->tokens = limits.key_rate_burst;
	}
	u->refilled_us = now;
}

/* Frees up to 64 records of keys without connections whose budget is full again. */
static void drop_refilled(int64_t now)
{
	uint8_t drop[64][32];
	size_t pos = 0, n = 0, len;
	const void *key;
	struct usage *u;

	while (n < 64 && (u = hmap_next(usage_by_key, &pos, &key, &len)) != NULL) {
		if (u->connections > 0 || len != 32)
			continue;
		refill(u, now);
		if (u->tokens >= limits.key_rate_burst)
			memcpy(drop[n++], key, 32);
	}
	for (size_t i = 0; i < n; i++)
		free(hmap_remove(usage_by_key, drop[i], 32));
}

void peer_release(const struct principal *p)
{
	struct usage *u;
	int64_t now = mono_us();

	if (p->kind != PRINCIPAL_KEY || (u = usage_of(p->pubkey, false)) == NULL)
		return;
	if (--u->connections > 0)
		return;
	u->connections = 0;
	refill(u, now);
	if (u->tokens >= limits.key_rate_burst)
		free(hmap_remove(usage_by_key, p->pubkey, 32));
	else
		drop_refilled(now); /* this one stays: its budget is spent */
}

bool peer_take_token(const struct principal *p)
{
	struct usage *u;

	if (p->kind != PRINCIPAL_KEY || limits.key_rate_per_s <= 0)
		return true;
	u = usage_of(p->pubkey, false);
	if (u == NULL)
		return false;
	refill(u, mono_us());
	if (u->tokens < 1.0)
		return false;
	u->tokens -= 1.0;
	return true;
}

void peer_shutdown(void)
{
	hmap_free(usage_by_key, free);
	usage_by_key = NULL;
}

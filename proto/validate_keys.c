/*
 * validate_keys.c - structural checks of the key lifecycle's admin
 * actions, rotate_key and revoke_key (see validate.h). What they refer to
 * (is the key registered, usable, of which party) is custodyd's to check
 * against its registry; here only what the message alone can tell.
 */
#include <string.h>

#include "key.h"
#include "validate.h"

int validate_key_rotation(const Custody__KeyRotation *r, char *err, size_t err_size)
{
	char inner[VALIDATE_ERR_MAX];

	if (r == NULL)
		return cu_fail(err, err_size, "rotate_key: missing");
	if (r->old_pubkey.len != KEY_PUBLIC_BYTES)
		return cu_fail(err, err_size,
			       "rotate_key.old_pubkey: 32-byte Ed25519 public key required");
	if (validate_key_record(r->new_key, inner, sizeof(inner)) != CU_OK)
		return cu_fail(err, err_size, "rotate_key.new_%s", inner);
	if (memcmp(r->new_key->pubkey.data, r->old_pubkey.data, KEY_PUBLIC_BYTES) == 0)
		return cu_fail(err, err_size, "rotate_key: the new key is the old key");
	if (r->old_valid_until_ms < 0)
		return cu_fail(err, err_size,
			       "rotate_key.old_valid_until_ms: must not be negative");
	return CU_OK;
}

int validate_key_revocation(const Custody__KeyRevocation *r, int64_t now_ms, int64_t max_skew_ms,
			    char *err, size_t err_size)
{
	if (r == NULL)
		return cu_fail(err, err_size, "revoke_key: missing");
	if (r->pubkey.len != KEY_PUBLIC_BYTES)
		return cu_fail(err, err_size,
			       "revoke_key.pubkey: 32-byte Ed25519 public key required");
	if (r->revoked_at_ms < 0)
		return cu_fail(err, err_size, "revoke_key.revoked_at_ms: must not be negative");
	if (r->revoked_at_ms > now_ms + max_skew_ms)
		return cu_fail(err, err_size,
			       "revoke_key.revoked_at_ms is %lld ms in the future (allowed clock "
			       "skew %lld ms): a revocation takes effect now or earlier",
			       (long long)(r->revoked_at_ms - now_ms), (long long)max_skew_ms);
	if (r->reason != NULL && !validate_text(r->reason, VALIDATE_NOTE_MAX))
		return cu_fail(err, err_size,
			       "revoke_key.reason: at most %d bytes of text, no control characters",
			       VALIDATE_NOTE_MAX);
	return CU_OK;
}

/*
 * fuzz_request.c - libFuzzer target for every decoding path a request
 * body takes in custodyd before any SQL: the Request itself (as
 * dispatch_frame unpacks it), the authorization table (auth_access), the
 * SignedEnvelope check (envelope_verify) and, for submit and admin, the
 * signed body unpacked as an Event or AdminAction and checked by
 * validate_event / validate_admin (which covers policy loads, licenses,
 * screening entries, key records, rotations and revocations), the
 * identifier checks of the query handlers, and a cosign request's line
 * verified by note_cosig_verify as on_cosign_checked does.
 *
 * The body is decoded whatever the signature says: an authenticated but
 * hostile client can sign anything, so the validators must hold on any
 * bytes. The clock is fixed so that every run of an input does the same.
 *
 * Invariants: auth_access answers one of its three values for every role;
 * a Request, Event or AdminAction that unpacks and that custodyd takes
 * (pb_fields_valid, pb.h) repacks idempotently; a
 * body that validates still validates after that round trip; a cosign
 * line never verifies (the fuzzer does not hold the witness key).
 */
#include <string.h>

#include <sodium.h>

#include "auth.h"
#include "envelope.h"
#include "fuzz.h"
#include "note.h"
#include "pb.h"
#include "validate.h"

#define NOW_MS	   1790000000000LL /* 2026-09-21 */
#define SKEW_MS	   300000LL
#define CHECKPOINT "fuzz.example/log\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"

/* Packs msg, unpacks it again with desc, packs that: the bytes must agree. */
static ProtobufCMessage *repack(const ProtobufCMessage *msg)
{
	size_t n1 = protobuf_c_message_get_packed_size(msg), n2;
	uint8_t *b1 = malloc(n1 + 1), *b2;
	ProtobufCMessage *again;

	FUZZ_CHECK(b1 != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(msg, b1) == n1);
	again = protobuf_c_message_unpack(msg->descriptor, NULL, n1, b1);
	FUZZ_CHECK(again != NULL);
	n2 = protobuf_c_message_get_packed_size(again);
	FUZZ_CHECK(n2 == n1);
	b2 = malloc(n2 + 1);
	FUZZ_CHECK(b2 != NULL);
	FUZZ_CHECK(protobuf_c_message_pack(again, b2) == n2);
	FUZZ_CHECK(memcmp(b1, b2, n1) == 0);
	free(b1);
	free(b2);
	return again;
}

/* The body of a submit (event) or admin envelope, as h_submit decodes it. */
static void check_envelope(const Custody__SignedEnvelope *env, enum envelope_kind kind)
{
	char err[VALIDATE_ERR_MAX];
	uint8_t id[ENVELOPE_ID_BYTES];
	ProtobufCMessage *msg, *again;
	int rc = envelope_verify(kind, env), rc2;

	FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_INVALID || rc == CU_ERR_SIGNATURE);
	if (env->body.data == NULL && env->body.len != 0)
		return;
	envelope_id(env->body.data, env->body.len, id);
	if (kind == ENVELOPE_EVENT)
		msg =
		    (ProtobufCMessage *)custody__event__unpack(NULL, env->body.len, env->body.data);
	else
		msg = (ProtobufCMessage *)custody__admin_action__unpack(NULL, env->body.len,
									env->body.data);
	if (msg == NULL)
		return;
	if (!pb_fields_valid(msg)) {
		/* h_submit refuses it (pb.h). */
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	if (kind == ENVELOPE_EVENT)
		rc = validate_event((Custody__Event *)msg, NOW_MS, SKEW_MS, err, sizeof(err));
	else
		rc = validate_admin((Custody__AdminAction *)msg, NOW_MS, SKEW_MS, err, sizeof(err));
	FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_INVALID);
	FUZZ_CHECK(rc == CU_OK || (err[0] != '\0' && strlen(err) < sizeof(err)));
	again = repack(msg);
	if (kind == ENVELOPE_EVENT)
		rc2 = validate_event((Custody__Event *)again, NOW_MS, SKEW_MS, err, sizeof(err));
	else
		rc2 = validate_admin((Custody__AdminAction *)again, NOW_MS, SKEW_MS, err,
				     sizeof(err));
	FUZZ_CHECK(rc2 == rc);
	protobuf_c_message_free_unpacked(again, NULL);
	protobuf_c_message_free_unpacked(msg, NULL);
}

/* A cosign request, checked against a fixed checkpoint. */
static void check_cosign(const Custody__CosignRequest *in)
{
	struct note_verifier v;
	uint64_t ts = 0;
	char err[256];
	int rc;

	if (in->witness_key.len != KEY_PUBLIC_BYTES || in->signature == NULL)
		return;
	if (note_verifier_init(&v, "fuzz-witness", NOTE_TYPE_COSIG_V1, in->witness_key.data) !=
	    CU_OK)
		return;
	rc = note_cosig_verify(CHECKPOINT, strlen(CHECKPOINT), &v, in->signature,
			       strlen(in->signature), &ts, err, sizeof(err));
	FUZZ_CHECK(rc == CU_ERR_INVALID || rc == CU_ERR_SIGNATURE || rc == CU_ERR_NOMEM);
}

/* The string checks the query handlers make first. */
static void check_idents(const Custody__Request *msg)
{
	const char *s = NULL;

	if (msg->body_case == CUSTODY__REQUEST__BODY_WHERE)
		s = msg->where->serial;
	else if (msg->body_case == CUSTODY__REQUEST__BODY_HISTORY)
		s = msg->history->serial;
	else if (msg->body_case == CUSTODY__REQUEST__BODY_INVENTORY)
		s = msg->inventory->facility;
	if (s == NULL)
		return;
	(void)validate_serial(s);
	(void)validate_ident(s);
	(void)validate_country(s);
	(void)validate_text(s, VALIDATE_NOTE_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Custody__Request *msg = custody__request__unpack(NULL, size, data);
	ProtobufCMessage *again;

	if (sodium_init() < 0)
		abort();
	if (msg == NULL)
		return 0;
	if (!pb_fields_valid(&msg->base)) {
		/* dispatch_frame refuses it (pb.h). */
		custody__request__free_unpacked(msg, NULL);
		return 0;
	}
	for (int role = 0; role <= 9; role++) {
		enum auth_access a = auth_access(msg->body_case, (Custody__Role)role);

		FUZZ_CHECK(a == AUTH_DENIED || a == AUTH_ALLOWED || a == AUTH_SCOPED);
		FUZZ_CHECK(auth_request_name(msg->body_case) != NULL || a == AUTH_DENIED);
	}
	again = repack(&msg->base);
	protobuf_c_message_free_unpacked(again, NULL);
	if (msg->body_case == CUSTODY__REQUEST__BODY_SUBMIT)
		check_envelope(msg->submit, ENVELOPE_EVENT);
	else if (msg->body_case == CUSTODY__REQUEST__BODY_ADMIN)
		check_envelope(msg->admin, ENVELOPE_ADMIN);
	else if (msg->body_case == CUSTODY__REQUEST__BODY_COSIGN)
		check_cosign(msg->cosign);
	check_idents(msg);
	custody__request__free_unpacked(msg, NULL);
	return 0;
}

/*
 * fuzz_frame.c - libFuzzer target for the wire framing (proto/frame.c) as
 * custodyd reads a plaintext connection: the input is the byte stream, cut
 * into 4-byte big-endian length + body frames, each body unpacked as a
 * Request the way dispatch_frame does.
 *
 * Invariants: a header is accepted exactly when its length is 1..max, and
 * encoding that length gives the same 4 bytes back; a body that unpacks
 * and that custodyd takes (pb_fields_valid, pb.h) repacks (frame_pack) to
 * a frame whose header states the body's size, and repacking is
 * idempotent: unpack(pack(m)) packs to the same bytes. The body is
 * unpacked into one block (pb_block_unpack) as custodyd does, and that
 * agrees with protobuf-c's own unpack: both fail, or both give messages
 * that pack to the same bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "custody.pb-c.h"
#include "frame.h"
#include "fuzz.h"
#include "pb.h"

/* A small limit too, so that the TOO_BIG path is reached by short inputs. */
#define SMALL_MAX 4096u

/* Checks one header against both limits; returns the body length or 0. */
static uint32_t check_header(const uint8_t hdr[FRAME_HEADER_BYTES])
{
	uint32_t want =
	    (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	uint32_t len = 0, small = 0;
	uint8_t again[FRAME_HEADER_BYTES];
	int rc = frame_decode_header(hdr, FRAME_DEFAULT_MAX_BYTES, &len);
	int rc_small = frame_decode_header(hdr, SMALL_MAX, &small);

	FUZZ_CHECK(rc == (want == 0			   ? CU_ERR_INVALID
			  : want > FRAME_DEFAULT_MAX_BYTES ? CU_ERR_TOO_BIG
							   : CU_OK));
	FUZZ_CHECK(rc_small == (want == 0	   ? CU_ERR_INVALID
				: want > SMALL_MAX ? CU_ERR_TOO_BIG
						   : CU_OK));
	if (rc != CU_OK)
		return 0;
	FUZZ_CHECK(len == want);
	frame_encode_header(again, len);
	FUZZ_CHECK(memcmp(again, hdr, FRAME_HEADER_BYTES) == 0);
	return len;
}

/* The block unpack and protobuf-c's own agree on one body. */
static void check_same_unpack(const Custody__Request *msg, const uint8_t *body, size_t len)
{
	Custody__Request *plain = custody__request__unpack(NULL, len, body);
	size_t n;
	uint8_t *a, *b;

	FUZZ_CHECK((msg == NULL) == (plain == NULL));
	if (plain == NULL)
		return;
	n = custody__request__get_packed_size(plain);
	FUZZ_CHECK(custody__request__get_packed_size(msg) == n);
	a = malloc(n + 1);
	b = malloc(n + 1);
	FUZZ_CHECK(a != NULL && b != NULL);
	FUZZ_CHECK(custody__request__pack(plain, a) == n && custody__request__pack(msg, b) == n);
	FUZZ_CHECK(memcmp(a, b, n) == 0);
	free(a);
	free(b);
	custody__request__free_unpacked(plain, NULL);
}

/* Repacks msg into a frame and checks the round trip. */
static void check_repack(const Custody__Request *msg)
{
	uint8_t *f1 = NULL, *f2 = NULL;
	size_t n1 = 0, n2 = 0;
	uint32_t body_len = 0;
	Custody__Request *again;
	int rc = frame_pack(&msg->base, FRAME_DEFAULT_MAX_BYTES, &f1, &n1);

	if (rc == CU_ERR_INVALID) {
		/* Only a Request that packs to nothing (all fields default). */
		FUZZ_CHECK(custody__request__get_packed_size(msg) == 0);
		return;
	}
	FUZZ_CHECK(rc == CU_OK || rc == CU_ERR_TOO_BIG);
	if (rc != CU_OK)
		return;
	FUZZ_CHECK(n1 > FRAME_HEADER_BYTES);
	FUZZ_CHECK(frame_decode_header(f1, FRAME_DEFAULT_MAX_BYTES, &body_len) == CU_OK);
	FUZZ_CHECK(body_len == n1 - FRAME_HEADER_BYTES);
	again = custody__request__unpack(NULL, body_len, f1 + FRAME_HEADER_BYTES);
	FUZZ_CHECK(again != NULL);
	FUZZ_CHECK(again->id == msg->id && again->body_case == msg->body_case);
	FUZZ_CHECK(frame_pack(&again->base, FRAME_DEFAULT_MAX_BYTES, &f2, &n2) == CU_OK);
	FUZZ_CHECK(n2 == n1 && memcmp(f1, f2, n1) == 0);
	custody__request__free_unpacked(again, NULL);
	free(f1);
	free(f2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (size - off >= FRAME_HEADER_BYTES) {
		uint32_t len = check_header(data + off);
		Custody__Request *msg;

		if (len == 0 || len > size - off - FRAME_HEADER_BYTES)
			break; /* custodyd closes the connection, or waits for more */
		off += FRAME_HEADER_BYTES;
		msg = (Custody__Request *)pb_block_unpack(&custody__request__descriptor, len,
							  data + off);
		check_same_unpack(msg, data + off, len);
		off += len;
		if (msg == NULL)
			continue; /* BAD_REQUEST, and the next frame is read */
		if (pb_fields_valid(&msg->base))
			check_repack(msg); /* else BAD_REQUEST too (pb.h) */
		pb_block_free(msg);
	}
	return 0;
}

/* Unit tests for proto/frame.c: header limits and packing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "custody.pb-c.h"
#include "frame.h"
#include "pb.h"

static void test_header_roundtrip(void **state)
{
	uint8_t hdr[FRAME_HEADER_BYTES];
	uint32_t len = 0;

	(void)state;
	frame_encode_header(hdr, 0x01020304);
	assert_memory_equal(hdr, "\x01\x02\x03\x04", 4);
	assert_int_equal(frame_decode_header(hdr, UINT32_MAX, &len), CU_OK);
	assert_int_equal(len, 0x01020304);
}

static void test_header_limits(void **state)
{
	uint8_t hdr[FRAME_HEADER_BYTES];
	uint32_t len = 7;

	(void)state;
	frame_encode_header(hdr, 0);
	assert_int_equal(frame_decode_header(hdr, 1024, &len), CU_ERR_INVALID);
	assert_int_equal(len, 7); /* untouched on error */
	frame_encode_header(hdr, 1025);
	assert_int_equal(frame_decode_header(hdr, 1024, &len), CU_ERR_TOO_BIG);
	frame_encode_header(hdr, 1024);
	assert_int_equal(frame_decode_header(hdr, 1024, &len), CU_OK);
	assert_int_equal(len, 1024);
	frame_encode_header(hdr, 1);
	assert_int_equal(frame_decode_header(hdr, 1024, &len), CU_OK);
	assert_int_equal(len, 1);
}

static void test_pack_unpack(void **state)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest where = CUSTODY__WHERE_REQUEST__INIT;
	Custody__Request *back;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint32_t body_len = 0;

	(void)state;
	req.id = 42;
	where.serial = "GPU-1";
	req.body_case = CUSTODY__REQUEST__BODY_WHERE;
	req.where = &where;
	assert_int_equal(frame_pack(&req.base, 1024, &buf, &len), CU_OK);
	assert_int_equal(frame_decode_header(buf, 1024, &body_len), CU_OK);
	assert_int_equal(body_len + FRAME_HEADER_BYTES, len);
	back = custody__request__unpack(NULL, body_len, buf + FRAME_HEADER_BYTES);
	assert_non_null(back);
	assert_int_equal(back->id, 42);
	assert_int_equal(back->body_case, CUSTODY__REQUEST__BODY_WHERE);
	assert_string_equal(back->where->serial, "GPU-1");
	custody__request__free_unpacked(back, NULL);
	free(buf);
}

static void test_pack_limits(void **state)
{
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__WhereRequest where = CUSTODY__WHERE_REQUEST__INIT;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	/* An all-default message packs to zero bytes, which framing forbids. */
	assert_int_equal(frame_pack(&req.base, 1024, &buf, &len), CU_ERR_INVALID);
	req.id = 1;
	where.serial = "A-VERY-LONG-SERIAL-NUMBER-THAT-DOES-NOT-FIT";
	req.body_case = CUSTODY__REQUEST__BODY_WHERE;
	req.where = &where;
	assert_int_equal(frame_pack(&req.base, 16, &buf, &len), CU_ERR_TOO_BIG);
	assert_null(buf);
}

/*
 * Found by tests/fuzz/fuzz_frame.c: protobuf-c unpacks a field number 0
 * written as the two-byte tag "80 00", packs it back as "00" and refuses
 * that. pb_fields_valid (pb.h), which custodyd applies to every Request
 * and signed body, refuses it at any depth, and lets other unknown
 * fields through.
 */
static void test_field_zero(void **state)
{
	static const uint8_t top[] = {0x08, 0x01, 0x80, 0x00, 0x00};
	/* id 1, where { serial "A", field 0 } */
	static const uint8_t nested[] = {0x08, 0x01, 0x62, 0x06, 0x0a, 0x01, 'A', 0x80, 0x00, 0x00};
	/* id 1, where { serial "A" }, field 100 = 1 */
	static const uint8_t unknown[] = {0x08, 0x01, 0x62, 0x03, 0x0a,
					  0x01, 'A',  0xa0, 0x06, 0x01};
	uint8_t out[32];
	Custody__Request *m;

	(void)state;
	m = custody__request__unpack(NULL, sizeof(top), top);
	assert_non_null(m); /* protobuf-c takes it ... */
	assert_int_equal(custody__request__pack(m, out), 4);
	assert_null(custody__request__unpack(NULL, 4, out)); /* ... but not its own packing */
	assert_false(pb_fields_valid(&m->base));
	custody__request__free_unpacked(m, NULL);
	m = custody__request__unpack(NULL, sizeof(nested), nested);
	assert_non_null(m);
	assert_int_equal(m->body_case, CUSTODY__REQUEST__BODY_WHERE);
	assert_false(pb_fields_valid(&m->base));
	custody__request__free_unpacked(m, NULL);
	m = custody__request__unpack(NULL, sizeof(unknown), unknown);
	assert_non_null(m);
	assert_true(pb_fields_valid(&m->base));
	custody__request__free_unpacked(m, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_roundtrip), cmocka_unit_test(test_header_limits),
	    cmocka_unit_test(test_pack_unpack),	     cmocka_unit_test(test_pack_limits),
	    cmocka_unit_test(test_field_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

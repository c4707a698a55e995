/* Unit tests for proto/frame.c: header limits and packing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* A packed Event naming n devices and n_seen one-letter contents, every string field set. */
static uint8_t *packed_event(size_t n, size_t n_seen, size_t *len)
{
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef *refs = calloc(n + 1, sizeof(*refs));
	Custody__DeviceRef **ptrs = calloc(n, sizeof(*ptrs));
	char(*serials)[32] = calloc(n + 1, sizeof(*serials));
	char **seen = calloc(n_seen, sizeof(*seen));
	uint8_t *buf;

	assert_non_null(refs);
	assert_non_null(ptrs);
	assert_non_null(serials);
	assert_true(n_seen == 0 || seen != NULL);
	for (size_t i = 0; i < n_seen; i++)
		seen[i] = i % 2 ? "A" : "B";
	for (size_t i = 0; i <= n; i++) {
		custody__device_ref__init(&refs[i]);
		snprintf(serials[i], sizeof(serials[i]), "NV-H100-%08zu", i);
		refs[i].serial = serials[i];
		if (i < n)
			ptrs[i] = &refs[i];
	}
	ev.type = CUSTODY__EVENT_TYPE__SHIP;
	ev.actor = "exporter-us";
	ev.occurred_at_ms = 1765000000000;
	ev.facility = "us-fab-1";
	ev.n_devices = n;
	ev.devices = ptrs;
	ev.container = &refs[n];
	ev.to_facility = "ae-dc-7";
	ev.consignee = "operator-ae";
	ev.carrier = "carrier-1";
	ev.deadline_ms = 1765600000000;
	ev.location = "hall 2, rack 14";
	ev.note = "a note";
	ev.n_reported_contents = n_seen;
	ev.reported_contents = seen;
	ev.license = "D123456";
	*len = custody__event__get_packed_size(&ev);
	buf = malloc(*len);
	assert_non_null(buf);
	custody__event__pack(&ev, buf);
	free(seen);
	free(serials);
	free(ptrs);
	free(refs);
	return buf;
}

/*
 * pb_block_unpack: the message unpacked into one block is the one
 * protobuf-c unpacks the usual way (same fields, packs to the same
 * bytes). A single-device event fits the first block; larger ones, up to
 * the 4096 devices an event may name, take a few chunks of a quarter of
 * it (protobuf-c's scratch lists of the fields it saw, past 16: 1 for 8
 * devices, 6 for 4096), as does one whose pieces are far smaller than
 * their pointers and padding (a thousand one-letter contents: 7), and
 * each is still whole. Bad input gives NULL, as
 * protobuf-c's own unpack does; ASan in tests/run checks that nothing
 * leaks either way.
 */
static void test_block_unpack(void **state)
{
	static const size_t sizes[][2] = {{0, 0}, {1, 2}, {8, 2}, {300, 0}, {4096, 0}, {1, 1000}};
	static const uint8_t bad[] = {0x0a, 0x05, 'x'}; /* a string longer than the message */

	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len, len2;
		uint8_t *buf = packed_event(sizes[k][0], sizes[k][1], &len), *again;
		Custody__Event *plain = custody__event__unpack(NULL, len, buf);
		Custody__Event *ev =
		    (Custody__Event *)pb_block_unpack(&custody__event__descriptor, len, buf);

		assert_non_null(plain);
		assert_non_null(ev);
		assert_true(pb_fields_valid(&ev->base));
		assert_int_equal(ev->n_devices, sizes[k][0]);
		assert_int_equal(ev->n_reported_contents, sizes[k][1]);
		assert_string_equal(ev->license, plain->license);
		assert_string_equal(ev->container->serial, plain->container->serial);
		if (sizes[k][0] > 0)
			assert_string_equal(ev->devices[sizes[k][0] - 1]->serial,
					    plain->devices[sizes[k][0] - 1]->serial);
		len2 = custody__event__get_packed_size(ev);
		assert_int_equal(len2, len);
		again = malloc(len2);
		assert_non_null(again);
		custody__event__pack(ev, again);
		assert_memory_equal(again, buf, len);
		if (sizes[k][0] <= 1 && sizes[k][1] < 1000)
			assert_int_equal(pb_block_spills(ev), 0);
		else
			assert_true(pb_block_spills(ev) >= 1 && pb_block_spills(ev) <= 8);
		free(again);
		pb_block_free(ev);
		custody__event__free_unpacked(plain, NULL);
		free(buf);
	}
	assert_null(pb_block_unpack(&custody__event__descriptor, sizeof(bad), bad));
	assert_null(pb_block_unpack(&custody__request__descriptor, sizeof(bad), bad));
	pb_block_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_roundtrip), cmocka_unit_test(test_header_limits),
	    cmocka_unit_test(test_pack_unpack),	     cmocka_unit_test(test_pack_limits),
	    cmocka_unit_test(test_field_zero),	     cmocka_unit_test(test_block_unpack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

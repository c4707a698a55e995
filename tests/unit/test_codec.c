/* Unit tests for proto/codec.c: hex, base64 and RFC 3339 times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"

static void test_hex(void **state)
{
	uint8_t bin[3] = {0x00, 0xab, 0xff};
	uint8_t back[3];
	char text[7];

	(void)state;
	codec_hex_encode(bin, 3, text, sizeof(text));
	assert_string_equal(text, "00abff");
	assert_int_equal(codec_hex_decode("00ABff", back, 3), CU_OK);
	assert_memory_equal(back, bin, 3);
	assert_int_equal(codec_hex_decode("00abf", back, 3), CU_ERR_INVALID);
	assert_int_equal(codec_hex_decode("00abffee", back, 3), CU_ERR_INVALID);
	assert_int_equal(codec_hex_decode("00abfg", back, 3), CU_ERR_INVALID);
}

static void test_b64(void **state)
{
	uint8_t bin[4] = {'t', 'e', 's', 't'};
	uint8_t back[8];
	char text[CODEC_B64_SIZE(4)];
	size_t len = 0;

	(void)state;
	codec_b64_encode(bin, 4, text, sizeof(text));
	assert_string_equal(text, "dGVzdA==");
	assert_int_equal(codec_b64_decode("dGVzdA==", back, sizeof(back), &len), CU_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(back, bin, 4);
	assert_int_equal(codec_b64_decode("dGVzdA=", back, sizeof(back), &len), CU_ERR_INVALID);
	assert_int_equal(codec_b64_decode("dGV*dA==", back, sizeof(back), &len), CU_ERR_INVALID);
	/* libsodium 1.0.18 alone would read these bytes >= 0x80 as '/'. */
	assert_int_equal(codec_b64_decode("dGVzdA/=", back, sizeof(back), &len), CU_ERR_INVALID);
	assert_int_equal(codec_b64_decode("dGVz\xd0"
					  "A==",
					  back, sizeof(back), &len),
			 CU_ERR_INVALID);
	assert_int_equal(codec_b64_decode("/GVzdA==", back, sizeof(back), &len), CU_OK);
	assert_int_equal(codec_b64_decode("\x80GVzdA==", back, sizeof(back), &len), CU_ERR_INVALID);
	assert_int_equal(codec_b64_decode("dGVzdGVzdGVzdA==", back, 4, &len), CU_ERR_TOO_BIG);
}

static void test_time_format(void **state)
{
	char out[CODEC_TIME_MAX];

	(void)state;
	codec_time_format(0, out);
	assert_string_equal(out, "1970-01-01T00:00:00Z");
	codec_time_format(1795354800123LL, out);
	assert_string_equal(out, "2026-11-22T13:40:00.123Z");
	codec_time_format(-1, out);
	assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

static void test_time_parse(void **state)
{
	int64_t ms = 0;

	(void)state;
	assert_int_equal(codec_time_parse("2026-11-22T13:40:00.123Z", &ms), CU_OK);
	assert_int_equal(ms, 1795354800123LL);
	assert_int_equal(codec_time_parse("2026-11-22T13:40:00Z", &ms), CU_OK);
	assert_int_equal(ms, 1795354800000LL);
	assert_int_equal(codec_time_parse("2026-11-22T22:40:00+09:00", &ms), CU_OK);
	assert_int_equal(ms, 1795354800000LL);
	assert_int_equal(codec_time_parse("2026-11-22T13:40", &ms), CU_OK);
	assert_int_equal(ms, 1795354800000LL);
	assert_int_equal(codec_time_parse("2026-11-22", &ms), CU_OK);
	assert_int_equal(ms, 1795305600000LL);
	assert_int_equal(codec_time_parse("now", &ms), CU_OK);
	assert_true(ms > 1700000000000LL);
	assert_int_equal(codec_time_parse("2026-13-01", &ms), CU_ERR_INVALID);
	assert_int_equal(codec_time_parse("2026-11-22T25:00Z", &ms), CU_ERR_INVALID);
	assert_int_equal(codec_time_parse("2026-11-22T13:40:00Q", &ms), CU_ERR_INVALID);
	assert_int_equal(codec_time_parse("yesterday", &ms), CU_ERR_INVALID);
	assert_int_equal(codec_time_parse("", &ms), CU_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_b64),
	    cmocka_unit_test(test_time_format),
	    cmocka_unit_test(test_time_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

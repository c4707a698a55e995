/*
 * codec.c - hex, base64 and RFC 3339 time codecs (see codec.h).
 *
 * Hex and base64 go through libsodium's constant-time codecs, so they are
 * safe to use on secret key material.
 */
#include "codec.h"

#include <ctype.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void codec_hex_encode(const uint8_t *in, size_t len, char *out, size_t out_size)
{
	sodium_bin2hex(out, out_size, in, len);
}

int codec_hex_decode(const char *text, uint8_t *out, size_t out_len)
{
	size_t got = 0;
	const char *end = NULL;

	if (strlen(text) != out_len * 2)
		return CU_ERR_INVALID;
	if (sodium_hex2bin(out, out_len, text, out_len * 2, NULL, &got, &end) != 0)
		return CU_ERR_INVALID;
	if (got != out_len || *end != '\0')
		return CU_ERR_INVALID;
	return CU_OK;
}

void codec_b64_encode(const uint8_t *in, size_t len, char *out, size_t out_size)
{
	sodium_bin2base64(out, out_size, in, len, sodium_base64_VARIANT_ORIGINAL);
}

/*
 * Whether the len bytes at text are all of the base64 alphabet (A-Z a-z
 * 0-9 + / =). libsodium 1.0.18's decoder takes any byte >= 0x80 as if it
 * were '/', so this is checked first.
 */
static bool b64_alphabet_ok(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (!(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') &&
		    c != '+' && c != '/' && c != '=')
			return false;
	}
	return true;
}

int codec_b64_decode_span(const char *text, size_t len, uint8_t *out, size_t out_cap,
			  size_t *out_len)
{
	const char *end = NULL;

	if (len % 4 != 0 || !b64_alphabet_ok(text, len))
		return CU_ERR_INVALID;
	if (len / 4 * 3 > out_cap + 2)
		return CU_ERR_TOO_BIG;
	/* libsodium refuses non-zero spare bits and skips exactly the padding due;
	 * requiring that it ends at text + len refuses anything else. */
	if (sodium_base642bin(out, out_cap, text, len, NULL, out_len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0)
		return len / 4 * 3 > out_cap ? CU_ERR_TOO_BIG : CU_ERR_INVALID;
	if (end != text + len)
		return CU_ERR_INVALID;
	return CU_OK;
}

int codec_b64_decode(const char *text, uint8_t *out, size_t out_cap, size_t *out_len)
{
	return codec_b64_decode_span(text, strlen(text), out, out_cap, out_len);
}

int64_t codec_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void codec_time_format(int64_t ms, char out[CODEC_TIME_MAX])
{
	time_t secs = (time_t)(ms / 1000);
	int frac = (int)(ms % 1000);
	struct tm tm;
	size_t n;

	if (frac < 0) {
		frac += 1000;
		secs -= 1;
	}
	if (gmtime_r(&secs, &tm) == NULL) {
		snprintf(out, CODEC_TIME_MAX, "@%lld", (long long)ms);
		return;
	}
	n = strftime(out, CODEC_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac != 0)
		snprintf(out + n, CODEC_TIME_MAX - n, ".%03dZ", frac);
	else
		snprintf(out + n, CODEC_TIME_MAX - n, "Z");
}

/* Reads exactly n decimal digits from *p, advancing it. */
static int read_digits(const char **p, int n, int *value)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return CU_ERR_INVALID;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*value = v;
	return CU_OK;
}

/* Parses the optional "Thh:mm[:ss[.fff]]" part into tm and *frac_ms. */
static int parse_clock(const char **p, struct tm *tm, int *frac_ms)
{
	if (**p != 'T' && **p != 't' && **p != ' ')
		return CU_OK;
	(*p)++;
	if (read_digits(p, 2, &tm->tm_hour) || *(*p)++ != ':' || read_digits(p, 2, &tm->tm_min))
		return CU_ERR_INVALID;
	if (**p == ':') {
		(*p)++;
		if (read_digits(p, 2, &tm->tm_sec))
			return CU_ERR_INVALID;
	}
	if (**p == '.') {
		int scale = 100;

		(*p)++;
		if (!isdigit((unsigned char)**p))
			return CU_ERR_INVALID;
		for (; isdigit((unsigned char)**p); (*p)++) {
			*frac_ms += (**p - '0') * scale;
			scale /= 10;
		}
	}
	if (tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60)
		return CU_ERR_INVALID;
	return CU_OK;
}

/* Parses "Z", "+hh:mm", "-hh:mm" or nothing into an offset in seconds. */
static int parse_zone(const char *p, long *offset_s)
{
	int hh, mm, sign;

	*offset_s = 0;
	if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0'))
		return CU_OK;
	if (*p != '+' && *p != '-')
		return CU_ERR_INVALID;
	sign = *p++ == '-' ? -1 : 1;
	if (read_digits(&p, 2, &hh) || *p++ != ':' || read_digits(&p, 2, &mm) || *p != '\0' ||
	    hh > 23 || mm > 59)
		return CU_ERR_INVALID;
	*offset_s = sign * (hh * 3600L + mm * 60L);
	return CU_OK;
}

int codec_time_parse(const char *text, int64_t *ms)
{
	struct tm tm = {0};
	const char *p = text;
	int frac_ms = 0;
	long offset_s;
	time_t secs;

	if (strcmp(text, "now") == 0) {
		*ms = codec_now_ms();
		return CU_OK;
	}
	if (read_digits(&p, 4, &tm.tm_year) || *p++ != '-' || read_digits(&p, 2, &tm.tm_mon) ||
	    *p++ != '-' || read_digits(&p, 2, &tm.tm_mday))
		return CU_ERR_INVALID;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31)
		return CU_ERR_INVALID;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if (parse_clock(&p, &tm, &frac_ms) || parse_zone(p, &offset_s))
		return CU_ERR_INVALID;
	secs = timegm(&tm);
	*ms = ((int64_t)secs - offset_s) * 1000 + frac_ms;
	return CU_OK;
}

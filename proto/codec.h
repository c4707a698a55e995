/*
 * codec.h - text encodings used on the command line, in key files and in
 * logs: hex, base64 (RFC 4648 with padding), and RFC 3339 times in Unix
 * milliseconds. Pure functions; no allocation.
 */
#ifndef CUSTODY_CODEC_H
#define CUSTODY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"

/* Size of the buffer codec_time_format needs, with its NUL. */
#define CODEC_TIME_MAX 32

/* Writes 2*len hex digits and a NUL into out (out_size >= 2*len+1). */
void codec_hex_encode(const uint8_t *in, size_t len, char *out, size_t out_size);

/*
 * Decodes exactly out_len bytes from the hex string text (upper or lower
 * case, no separators). Returns CU_ERR_INVALID on any other length or a
 * non-hex digit.
 */
CU_MUST_USE int codec_hex_decode(const char *text, uint8_t *out, size_t out_len);

/* Base64 text length for len bytes, with padding and NUL. */
#define CODEC_B64_SIZE(len) ((((len) + 2) / 3) * 4 + 1)

/* Writes padded base64 of in into out (out_size >= CODEC_B64_SIZE(len)). */
void codec_b64_encode(const uint8_t *in, size_t len, char *out, size_t out_size);

/*
 * Decodes padded base64 text into out (capacity out_cap); *out_len gets the
 * decoded length. Returns CU_ERR_INVALID on bad text, CU_ERR_TOO_BIG if it
 * does not fit. Each value has one spelling: a byte outside the alphabet,
 * non-zero spare bits or wrong padding is refused.
 */
CU_MUST_USE int codec_b64_decode(const char *text, uint8_t *out, size_t out_cap, size_t *out_len);

/* codec_b64_decode of the len bytes at text (no NUL needed), all of them base64. */
CU_MUST_USE int codec_b64_decode_span(const char *text, size_t len, uint8_t *out, size_t out_cap,
				      size_t *out_len);

/* Milliseconds since the Unix epoch, from the real-time clock. */
int64_t codec_now_ms(void);

/*
 * Formats ms as an RFC 3339 UTC time, "2026-11-22T13:40:00Z", with ".123"
 * milliseconds when they are not zero. out must hold CODEC_TIME_MAX bytes.
 */
void codec_time_format(int64_t ms, char out[CODEC_TIME_MAX]);

/*
 * Parses "YYYY-MM-DD", "YYYY-MM-DDThh:mm[:ss[.fff]]" followed by "Z" or
 * "+hh:mm"/"-hh:mm" (a bare date or a time without zone is UTC), or "now".
 * Returns CU_ERR_INVALID for anything else.
 */
CU_MUST_USE int codec_time_parse(const char *text, int64_t *ms);

#endif

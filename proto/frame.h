/*
 * frame.h - the one place that knows the wire framing (DESIGN section 3):
 * a 4-byte big-endian length N, then N bytes of protobuf. N must be
 * 1..max_frame_bytes; the size is checked here before anything is unpacked.
 */
#ifndef CUSTODY_FRAME_H
#define CUSTODY_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "cu_err.h"

#define FRAME_HEADER_BYTES	4
#define FRAME_DEFAULT_MAX_BYTES (1024u * 1024u)

/*
 * Reads the body length from a frame header. Returns CU_OK, CU_ERR_INVALID
 * for a zero length, or CU_ERR_TOO_BIG when it exceeds max_frame_bytes.
 */
CU_MUST_USE int frame_decode_header(const uint8_t hdr[FRAME_HEADER_BYTES], uint32_t max_frame_bytes,
				    uint32_t *body_len);

/* Writes the header for a body of body_len bytes. */
void frame_encode_header(uint8_t hdr[FRAME_HEADER_BYTES], uint32_t body_len);

/*
 * Serializes msg as one frame into a new malloc'd buffer *out of *out_len
 * bytes (header included); the caller frees it. Returns CU_ERR_TOO_BIG if
 * the body exceeds max_frame_bytes, CU_ERR_INVALID if it packs to nothing.
 */
CU_MUST_USE int frame_pack(const ProtobufCMessage *msg, uint32_t max_frame_bytes, uint8_t **out,
			   size_t *out_len);

#endif

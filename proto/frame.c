/*
 * frame.c - frame headers and packing (see frame.h).
 */
#include "frame.h"

#include <stdlib.h>

int frame_decode_header(const uint8_t hdr[FRAME_HEADER_BYTES], uint32_t max_frame_bytes,
			uint32_t *body_len)
{
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 |
		     (uint32_t)hdr[3];

	if (n == 0)
		return CU_ERR_INVALID;
	if (n > max_frame_bytes)
		return CU_ERR_TOO_BIG;
	*body_len = n;
	return CU_OK;
}

void frame_encode_header(uint8_t hdr[FRAME_HEADER_BYTES], uint32_t body_len)
{
	hdr[0] = (uint8_t)(body_len >> 24);
	hdr[1] = (uint8_t)(body_len >> 16);
	hdr[2] = (uint8_t)(body_len >> 8);
	hdr[3] = (uint8_t)body_len;
}

/*
 * A message whose fields are all defaults packs to zero bytes, which the
 * framing forbids; every Request and Response we send carries a non-zero id
 * or a body, so an empty packing is refused as CU_ERR_INVALID here rather
 * than put on the wire.
 */
int frame_pack(const ProtobufCMessage *msg, uint32_t max_frame_bytes, uint8_t **out,
	       size_t *out_len)
{
	size_t body_len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf;

	if (body_len == 0)
		return CU_ERR_INVALID;
	if (body_len > max_frame_bytes)
		return CU_ERR_TOO_BIG;
	buf = malloc(FRAME_HEADER_BYTES + body_len);
	if (buf == NULL)
		return CU_ERR_NOMEM;
	frame_encode_header(buf, (uint32_t)body_len);
	protobuf_c_message_pack(msg, buf + FRAME_HEADER_BYTES);
	*out = buf;
	*out_len = FRAME_HEADER_BYTES + body_len;
	return CU_OK;
}

/*
 * pb.h - checks on unpacked protobuf-c messages that protobuf-c itself
 * does not make.
 *
 * protobuf-c 1.4 accepts a field number 0 when its tag is written in more
 * bytes than needed ("80 00" instead of "00"), keeps it as an unknown
 * field, packs it back as "00" and then refuses its own output. A message
 * custodyd accepted could thus not be copied (policy.c packs and unpacks a
 * PolicyLoad) or read back, so every untrusted message is held to
 * pb_fields_valid right after it is unpacked (found by tests/fuzz).
 */
#ifndef CUSTODY_PB_H
#define CUSTODY_PB_H

#include <stdbool.h>

#include <protobuf-c/protobuf-c.h>

/*
 * True if msg and every message inside it (set oneof members, singular
 * and repeated message fields) carry no unknown field numbered 0, the
 * only field number the protobuf encoding forbids; such a message packs
 * to bytes protobuf-c unpacks again.
 */
bool pb_fields_valid(const ProtobufCMessage *msg);

/*
 * Unpacks a message of type desc with everything it points to carved from
 * one heap block (a bump allocator; a further block only for a message
 * larger than the first one's guess), or returns NULL like protobuf-c's
 * own unpack. Free it with pb_block_free, never with *_free_unpacked.
 * One free instead of one per string, bytes field and submessage, and on
 * whatever thread: a custody event unpacked on a verify worker is freed
 * by the loop, where glibc's frees of another thread's chunks were about a
 * tenth of the loop's time (docs/benchmarks.md).
 */
ProtobufCMessage *pb_block_unpack(const ProtobufCMessageDescriptor *desc, size_t len,
				  const uint8_t *data);

/* Frees a message from pb_block_unpack; NULL is ignored. */
void pb_block_free(void *msg);

/* How many further chunks msg (from pb_block_unpack) took beyond its first block. */
size_t pb_block_spills(const void *msg);

#endif

/*
 * pb.c - checks on unpacked protobuf-c messages (see pb.h), by walking the
 * message through its descriptor.
 */
#include "pb.h"

#include <stddef.h>
#include <stdint.h>

/* The message field f of msg, or NULL when it is unset (an inactive oneof member). */
static const ProtobufCMessage *singular(const ProtobufCMessage *msg,
					const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)msg;

	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
	    *(const uint32_t *)(const void *)(base + f->quantifier_offset) != f->id)
		return NULL;
	return *(ProtobufCMessage *const *)(const void *)(base + f->offset);
}

bool pb_fields_valid(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	const char *base = (const char *)msg;

	for (unsigned i = 0; i < msg->n_unknown_fields; i++) {
		if (msg->unknown_fields[i].tag == 0)
			return false;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(const void *)(base + f->quantifier_offset);
			ProtobufCMessage *const *items =
			    *(ProtobufCMessage *const *const *)(const void *)(base + f->offset);

			for (size_t j = 0; j < n; j++) {
				if (!pb_fields_valid(items[j]))
					return false;
			}
		} else {
			const ProtobufCMessage *sub = singular(msg, f);

			if (sub != NULL && !pb_fields_valid(sub))
				return false;
		}
	}
	return true;
}

/*
 * pb.c - checks on unpacked protobuf-c messages (see pb.h), by walking the
 * message through its descriptor.
 */
#include "pb.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

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

/* ---- one block per unpacked message ---- */

/*
 * The block is the first chunk: this header, then the message itself
 * (protobuf-c's first allocation), then everything else it allocates.
 * What does not fit goes to further chunks of a quarter of its size,
 * chained after it, newest first, each carved the same way: a message far
 * larger than the guess costs a few mallocs, and at most one chunk of
 * slack.
 */
struct pb_chunk {
	struct pb_chunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

#define PB_ALIGN alignof(max_align_t)

static void *carve(struct pb_chunk *c, size_t rounded)
{
	void *p;

	if (rounded > c->cap - c->used)
		return NULL;
	p = c->data + c->used;
	c->used += rounded;
	return p;
}

static struct pb_chunk *chunk_new(size_t cap)
{
	struct pb_chunk *c;

	if (cap > SIZE_MAX - sizeof(*c))
		return NULL;
	c = malloc(sizeof(*c) + cap);
	if (c == NULL)
		return NULL;
	c->next = NULL;
	c->used = 0;
	c->cap = cap;
	return c;
}

static void *block_alloc(void *arg, size_t size)
{
	struct pb_chunk *b = arg, *c;
	size_t rounded = (size + PB_ALIGN - 1) & ~(PB_ALIGN - 1), cap;
	void *p;

	if (rounded < size)
		return NULL;
	p = carve(b, rounded);
	if (p == NULL && b->next != NULL)
		p = carve(b->next, rounded);
	if (p != NULL)
		return p;
	/*
	 * A quarter of the first block (at least 4 KiB) each: enough for the
	 * few that spill past the guess (protobuf-c's scratch lists of the
	 * fields it saw, past 16), never much more than they need.
	 */
	cap = b->cap / 4 > 4096 ? b->cap / 4 : 4096;
	if (cap < rounded)
		cap = rounded;
	c = chunk_new(cap);
	if (c == NULL)
		return NULL;
	c->next = b->next;
	b->next = c;
	return carve(c, rounded);
}

/* protobuf-c frees its scratch space and, on failure, what it built: all goes with the block. */
static void block_free_one(void *arg, void *p)
{
	(void)arg;
	(void)p;
}

/* Frees the block and every chunk after it. */
static void block_release(struct pb_chunk *b)
{
	while (b != NULL) {
		struct pb_chunk *next = b->next;

		free(b);
		b = next;
	}
}

ProtobufCMessage *pb_block_unpack(const ProtobufCMessageDescriptor *desc, size_t len,
				  const uint8_t *data)
{
	/*
	 * The guess: the message and 4 bytes per byte of its encoding. Each
	 * string and bytes field is copied (strings with a terminator), each
	 * submessage adds its struct and each repeated field an array, every
	 * piece rounded up to max_align_t: an Event takes 2.9 to 3.8 times its
	 * encoding (tests/unit/test_frame.c), tiny repeated strings more.
	 */
	size_t cap = desc->sizeof_message + 256;
	struct pb_chunk *b;
	ProtobufCAllocator alloc;
	ProtobufCMessage *msg;

	if (len > (SIZE_MAX - cap - sizeof(*b) - PB_ALIGN) / 4)
		return NULL;
	b = chunk_new((cap + 4 * len + PB_ALIGN - 1) & ~(PB_ALIGN - 1));
	if (b == NULL)
		return NULL;
	alloc.alloc = block_alloc;
	alloc.free = block_free_one;
	alloc.allocator_data = b;
	msg = protobuf_c_message_unpack(desc, &alloc, len, data);
	/* pb_block_free finds the block from the message: it must come first. */
	if (msg == NULL || (void *)msg != (void *)b->data) {
		block_release(b);
		return NULL;
	}
	return msg;
}

static const struct pb_chunk *block_of(const void *msg)
{
	return (const struct pb_chunk *)(const void *)((const unsigned char *)msg -
						       offsetof(struct pb_chunk, data));
}

size_t pb_block_spills(const void *msg)
{
	size_t n = 0;

	for (const struct pb_chunk *c = block_of(msg)->next; c != NULL; c = c->next)
		n++;
	return n;
}

void pb_block_free(void *msg)
{
	if (msg != NULL)
		block_release((struct pb_chunk *)(uintptr_t)block_of(msg));
}

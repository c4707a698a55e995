/*
 * test_protocol_example.c - the worked examples of docs/protocol.md, made
 * by the project's own encoder and signer from fixed test seeds, and the
 * check that the document still shows exactly these bytes.
 *
 *   build/tests/test_protocol_example --print NAME   prints block NAME
 *   build/tests/test_protocol_example                 checks every block
 *
 * Each block sits in docs/protocol.md between the lines
 * "<!-- BEGIN example:NAME -->" and "<!-- END example:NAME -->". A change
 * of the encoder, the signature rules or the .proto that alters a byte
 * fails this test until the document is regenerated, so the document
 * cannot rot. tests/client-js/selftest.js rebuilds the same messages with
 * protobufjs and node's Ed25519 and compares them with the document too.
 *
 * The annotated dumps walk the protobuf wire format with the generated
 * descriptors (field names and numbers from custody.proto), so a reader
 * sees which bytes are which field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "envelope.h"
#include "frame.h"
#include "key.h"
#include "test_util.h"

#define HEX_PER_LINE 16 /* bytes per line of a hex dump */
#define DUMP_HEX_COL 52 /* column of the annotations */

/* A key from a fixed seed: seed[i] = first + i. Freed with key_free. */
static struct cu_key *example_key(uint8_t first)
{
	struct cu_key *key = sodium_malloc(sizeof(*key));
	uint8_t seed[32];

	assert_non_null(key);
	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(first + i);
	assert_int_equal(crypto_sign_seed_keypair(key->pk, key->sk, seed), 0);
	return key;
}

/* Prints len bytes as lines of hex, each indented by indent spaces. */
static void print_hex(FILE *f, const uint8_t *p, size_t len, int indent)
{
	for (size_t i = 0; i < len; i += HEX_PER_LINE) {
		fprintf(f, "%*s", indent, "");
		for (size_t j = i; j < len && j < i + HEX_PER_LINE; j++)
			fprintf(f, "%02x%s", p[j],
				j + 1 < len && j + 1 < i + HEX_PER_LINE ? " " : "");
		fputc('\n', f);
	}
}

/* Prints label and len bytes of hex on one line (short values). */
static void print_line(FILE *f, const char *label, const uint8_t *p, size_t len)
{
	fprintf(f, "%s: ", label);
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
	fputc('\n', f);
}

/* Reads a varint at *pos (below end); false when it runs past end. */
static bool read_varint(const uint8_t *p, size_t end, size_t *pos, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *pos < end && shift < 64; shift += 7) {
		uint8_t b = p[(*pos)++];

		*v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

/* Prints the raw bytes [from, to) then pads to the annotation column. */
static void dump_bytes(FILE *f, const uint8_t *p, size_t from, size_t to, int indent)
{
	int col = indent;

	fprintf(f, "%*s", indent, "");
	for (size_t i = from; i < to; i++)
		col += fprintf(f, "%s%02x", i > from ? " " : "", p[i]);
	fprintf(f, "%*s", col < DUMP_HEX_COL ? DUMP_HEX_COL - col : 1, "");
}

/* The text of a scalar varint field's value v. */
static void varint_value(const ProtobufCFieldDescriptor *fd, uint64_t v, char *out, size_t size)
{
	const ProtobufCEnumValue *ev;

	if (fd->type == PROTOBUF_C_TYPE_ENUM) {
		ev = protobuf_c_enum_descriptor_get_value(fd->descriptor, (int)v);
		snprintf(out, size, "%s (%llu)", ev != NULL ? ev->name : "?",
			 (unsigned long long)v);
	} else if (fd->type == PROTOBUF_C_TYPE_BOOL) {
		snprintf(out, size, "%s", v ? "true" : "false");
	} else if (fd->type == PROTOBUF_C_TYPE_INT64 || fd->type == PROTOBUF_C_TYPE_INT32) {
		snprintf(out, size, "%lld", (long long)v);
	} else {
		snprintf(out, size, "%llu", (unsigned long long)v);
	}
}

static void dump_message(FILE *f, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
			 size_t start, size_t end, int indent);

/* One length-delimited field of len bytes at pos (its tag and length at tag_pos). */
static void dump_delimited(FILE *f, const ProtobufCFieldDescriptor *fd, const uint8_t *p,
			   size_t tag_pos, size_t pos, size_t len, int indent)
{
	char value[80];
	size_t q;
	uint64_t v;

	if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
		dump_bytes(f, p, tag_pos, pos, indent);
		fprintf(f, "%s (%u): %s, %zu bytes\n", fd->name, fd->id,
			((const ProtobufCMessageDescriptor *)fd->descriptor)->short_name, len);
		dump_message(f, fd->descriptor, p, pos, pos + len, indent + 2);
		return;
	}
	if (fd->type == PROTOBUF_C_TYPE_STRING) {
		dump_bytes(f, p, tag_pos, pos + len, indent);
		fprintf(f, "%s (%u): \"%.*s\"\n", fd->name, fd->id, (int)len,
			(const char *)p + pos);
		return;
	}
	if (fd->type == PROTOBUF_C_TYPE_BYTES) {
		dump_bytes(f, p, tag_pos, pos, indent);
		fprintf(f, "%s (%u): %zu bytes\n", fd->name, fd->id, len);
		print_hex(f, p + pos, len, indent + 2);
		return;
	}
	/* A packed repeated scalar (proto3 packs repeated enums and integers). */
	dump_bytes(f, p, tag_pos, pos + len, indent);
	fprintf(f, "%s (%u): packed [", fd->name, fd->id);
	for (q = pos; q < pos + len && read_varint(p, pos + len, &q, &v);) {
		varint_value(fd, v, value, sizeof(value));
		fprintf(f, "%s%s", value, q < pos + len ? ", " : "");
	}
	fprintf(f, "]\n");
}

/*
 * Prints the fields of the desc message in p[start, end), one line each:
 * their bytes, then number, name and value; nested messages indented.
 */
static void dump_message(FILE *f, const ProtobufCMessageDescriptor *desc, const uint8_t *p,
			 size_t start, size_t end, int indent)
{
	size_t pos = start;

	while (pos < end) {
		size_t tag_pos = pos;
		const ProtobufCFieldDescriptor *fd;
		uint64_t tag, v;
		char value[80];
		double d;

		assert_true(read_varint(p, end, &pos, &tag));
		fd = protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
		assert_non_null(fd);
		switch (tag & 7) {
		case 0:
			assert_true(read_varint(p, end, &pos, &v));
			varint_value(fd, v, value, sizeof(value));
			dump_bytes(f, p, tag_pos, pos, indent);
			fprintf(f, "%s (%u): %s\n", fd->name, fd->id, value);
			break;
		case 1:
			assert_true(pos + 8 <= end);
			memcpy(&d, p + pos, 8); /* little-endian host: x86-64, arm64 */
			pos += 8;
			dump_bytes(f, p, tag_pos, pos, indent);
			fprintf(f, "%s (%u): %g\n", fd->name, fd->id, d);
			break;
		case 2:
			assert_true(read_varint(p, end, &pos, &v));
			assert_true(v <= end - pos);
			dump_delimited(f, fd, p, tag_pos, pos, (size_t)v, indent);
			pos += (size_t)v;
			break;
		default:
			fail_msg("wire type %d not used by custody.proto", (int)(tag & 7));
		}
	}
}

/* Prints the signed envelope env of a message of type desc, with its key. */
static void print_signed(FILE *f, const char *who, const struct cu_key *key,
			 enum envelope_kind kind, const ProtobufCMessageDescriptor *desc,
			 const Custody__SignedEnvelope *env)
{
	const char *domain = kind == ENVELOPE_EVENT ? ENVELOPE_DOMAIN_EVENT : ENVELOPE_DOMAIN_ADMIN;
	uint8_t seed[32], id[ENVELOPE_ID_BYTES];
	char label[64];

	crypto_sign_ed25519_sk_to_seed(seed, key->sk);
	snprintf(label, sizeof(label), "%s seed", who);
	print_line(f, label, seed, 32);
	snprintf(label, sizeof(label), "%s public key", who);
	print_line(f, label, key->pk, 32);
	fprintf(f, "\nbody: %s, %zu bytes\n", desc->short_name, env->body.len);
	dump_message(f, desc, env->body.data, 0, env->body.len, 2);
	fprintf(f, "\nbody hex:\n");
	print_hex(f, env->body.data, env->body.len, 2);
	fprintf(f, "\nsigned message = \"%.*s\\n\" || body, %zu bytes\n", (int)strlen(domain) - 1,
		domain, strlen(domain) + env->body.len);
	print_hex(f, (const uint8_t *)domain, strlen(domain), 2);
	fprintf(f, "  || body\n\n");
	print_line(f, "signature", env->sig.data, env->sig.len);
	envelope_id(env->body.data, env->body.len, id);
	print_line(f, kind == ENVELOPE_EVENT ? "event id" : "action id", id, sizeof(id));
	sodium_memzero(seed, sizeof(seed));
}

/* Prints the Request frame of req (id and body set) as it goes on the wire. */
static void print_frame(FILE *f, const Custody__Request *req)
{
	uint8_t *frame = NULL;
	size_t len = 0;

	assert_int_equal(frame_pack(&req->base, FRAME_DEFAULT_MAX_BYTES, &frame, &len), CU_OK);
	fprintf(f, "frame: 4-byte big-endian length %zu, then the Request, %zu bytes in all\n",
		len - FRAME_HEADER_BYTES, len);
	dump_bytes(f, frame, 0, FRAME_HEADER_BYTES, 2);
	fprintf(f, "length\n");
	dump_message(f, &custody__request__descriptor, frame, FRAME_HEADER_BYTES, len, 2);
	fprintf(f, "\nframe hex:\n");
	print_hex(f, frame, len, 2);
	free(frame);
}

#define EXAMPLE_TIME_MS 1764547200000LL /* 2025-12-01T00:00:00Z */
#define ADMIN_SEED	0x00		/* admin seed: 00 01 02 ... 1f */
#define EXPORTER_SEED	0x20		/* exporter seed: 20 21 22 ... 3f */

/* Block "admin": the bootstrap admin registers the party acme. */
static void example_admin(FILE *f)
{
	struct cu_key *admin = example_key(ADMIN_SEED);
	Custody__AdminAction act = CUSTODY__ADMIN_ACTION__INIT;
	Custody__Party party = CUSTODY__PARTY__INIT;
	Custody__Role roles[2] = {CUSTODY__ROLE__EXPORTER, CUSTODY__ROLE__OPERATOR};
	Custody__SignedEnvelope env;

	party.id = "acme";
	party.name = "Acme Cloud";
	party.country = party.hq_country = party.parent_country = "US";
	party.n_roles = 2;
	party.roles = roles;
	act.issued_at_ms = EXAMPLE_TIME_MS;
	act.action_case = CUSTODY__ADMIN_ACTION__ACTION_REGISTER_PARTY;
	act.register_party = &party;
	assert_int_equal(envelope_seal(ENVELOPE_ADMIN, admin, &act.base, &env), CU_OK);
	print_signed(f, "admin", admin, ENVELOPE_ADMIN, &custody__admin_action__descriptor, &env);
	envelope_clear(&env);
	key_free(admin);
}

/* The REGISTER event of GPU-1 (borrowing static storage). */
static Custody__Event *register_event(void)
{
	static Custody__Event ev = CUSTODY__EVENT__INIT;
	static Custody__DeviceRef dev = CUSTODY__DEVICE_REF__INIT;
	static Custody__DeviceRef *devs[1] = {&dev};

	ev.type = CUSTODY__EVENT_TYPE__REGISTER;
	ev.actor = "acme";
	ev.occurred_at_ms = EXAMPLE_TIME_MS;
	ev.facility = "acme-us-1";
	dev.serial = "GPU-1";
	dev.kind = CUSTODY__DEVICE_KIND__CHIP;
	dev.model = "H100-SXM";
	ev.n_devices = 1;
	ev.devices = devs;
	return &ev;
}

/* Block "register": exporter acme registers chip GPU-1, and its frame. */
static void example_register(FILE *f)
{
	struct cu_key *exporter = example_key(EXPORTER_SEED);
	Custody__Request req = CUSTODY__REQUEST__INIT;
	Custody__SignedEnvelope env;

	assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter, &register_event()->base, &env),
			 CU_OK);
	print_signed(f, "exporter", exporter, ENVELOPE_EVENT, &custody__event__descriptor, &env);
	req.id = 1;
	req.body_case = CUSTODY__REQUEST__BODY_SUBMIT;
	req.submit = &env;
	fputc('\n', f);
	print_frame(f, &req);
	envelope_clear(&env);
	key_free(exporter);
}

/* Block "install": GPU-1 is installed; its prev is the REGISTER's id. */
static void example_install(FILE *f)
{
	struct cu_key *exporter = example_key(EXPORTER_SEED);
	Custody__Event ev = CUSTODY__EVENT__INIT;
	Custody__DeviceRef dev = CUSTODY__DEVICE_REF__INIT;
	Custody__DeviceRef *devs[1] = {&dev};
	Custody__SignedEnvelope reg, env;
	uint8_t prev[ENVELOPE_ID_BYTES];

	assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter, &register_event()->base, &reg),
			 CU_OK);
	envelope_id(reg.body.data, reg.body.len, prev);
	envelope_clear(&reg);
	ev.type = CUSTODY__EVENT_TYPE__INSTALL;
	ev.actor = "acme";
	ev.occurred_at_ms = EXAMPLE_TIME_MS + 3600000;
	ev.facility = "acme-us-1";
	ev.location = "hall-2/rack-14";
	dev.serial = "GPU-1";
	dev.prev.data = prev;
	dev.prev.len = sizeof(prev);
	ev.n_devices = 1;
	ev.devices = devs;
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter, &ev.base, &env), CU_OK);
	print_signed(f, "exporter", exporter, ENVELOPE_EVENT, &custody__event__descriptor, &env);
	envelope_clear(&env);
	key_free(exporter);
}

struct example {
	const char *name;
	void (*print)(FILE *f);
};

static const struct example examples[] = {
    {"admin", example_admin},
    {"register", example_register},
    {"install", example_install},
};

/* The text of block name, fenced as the document shows it (owned by the caller). */
static char *example_text(const struct example *ex)
{
	struct capture c;

	capture_begin(&c);
	fprintf(c.f, "```text\n");
	ex->print(c.f);
	fprintf(c.f, "```\n");
	return capture_end(&c);
}

/* The document's text of block name, between its marker lines (owned). */
static char *doc_block(const char *doc, const char *name)
{
	char begin[96], end[96];
	const char *from, *to;
	char *out;

	snprintf(begin, sizeof(begin), "<!-- BEGIN example:%s -->\n", name);
	snprintf(end, sizeof(end), "<!-- END example:%s -->\n", name);
	from = strstr(doc, begin);
	if (from == NULL)
		fail_msg("docs/protocol.md lacks the line %s", begin);
	from += strlen(begin);
	to = strstr(from, end);
	if (to == NULL)
		fail_msg("docs/protocol.md lacks the line %s", end);
	out = strndup(from, (size_t)(to - from));
	assert_non_null(out);
	return out;
}

static void test_doc_matches_code(void **state)
{
	size_t len;
	char *doc = test_read_file(test_source_path("docs/protocol.md"), &len);

	(void)state;
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		char *want = example_text(&examples[i]);
		char *have = doc_block(doc, examples[i].name);

		if (strcmp(want, have) != 0) {
			fprintf(stderr,
				"docs/protocol.md, example:%s differs from what the code makes; "
				"regenerate it with test_protocol_example --print %s:\n%s",
				examples[i].name, examples[i].name, want);
			fail();
		}
		free(want);
		free(have);
	}
	free(doc);
}

/* The examples sign what they show: check one against libsodium directly. */
static void test_example_signature_verifies(void **state)
{
	struct cu_key *exporter = example_key(EXPORTER_SEED);
	Custody__SignedEnvelope env;

	(void)state;
	assert_int_equal(envelope_seal(ENVELOPE_EVENT, exporter, &register_event()->base, &env),
			 CU_OK);
	assert_int_equal(envelope_verify(ENVELOPE_EVENT, &env), CU_OK);
	assert_int_equal(envelope_verify(ENVELOPE_ADMIN, &env), CU_ERR_SIGNATURE);
	envelope_clear(&env);
	key_free(exporter);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_example_signature_verifies),
	    cmocka_unit_test(test_doc_matches_code),
	};

	if (sodium_init() < 0)
		return 1;
	if (argc == 3 && strcmp(argv[1], "--print") == 0) {
		for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
			if (strcmp(argv[2], examples[i].name) == 0) {
				char *text = example_text(&examples[i]);

				fputs(text, stdout);
				free(text);
				return 0;
			}
		}
		fprintf(stderr, "no example %s (admin, register, install)\n", argv[2]);
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

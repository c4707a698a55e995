/*
 * enums.c - enum names from the generated descriptors (see enums.h).
 */
#include "enums.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *enum_name(const ProtobufCEnumDescriptor *desc, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);

	return v != NULL ? v->name : "UNKNOWN";
}

const char *enum_label(const ProtobufCEnumDescriptor *desc, int value, const char *prefix)
{
	static char buf[64];
	const char *name = enum_name(desc, value);
	size_t i;

	if (prefix != NULL && strncmp(name, prefix, strlen(prefix)) == 0)
		name += strlen(prefix);
	for (i = 0; name[i] != '\0' && i + 1 < sizeof(buf); i++)
		buf[i] = (char)tolower((unsigned char)name[i]);
	buf[i] = '\0';
	return buf;
}

/* Compares a value name with user text: case-insensitive, '-' == '_'. */
static int name_matches(const char *name, const char *text)
{
	for (; *name != '\0' && *text != '\0'; name++, text++) {
		char t = *text == '-' ? '_' : (char)toupper((unsigned char)*text);

		if (*name != t)
			return 0;
	}
	return *name == '\0' && *text == '\0';
}

int enum_parse(const ProtobufCEnumDescriptor *desc, const char *text, const char *prefix,
	       int *value)
{
	size_t plen = prefix != NULL ? strlen(prefix) : 0;

	for (unsigned i = 0; i < desc->n_values; i++) {
		const ProtobufCEnumValue *v = &desc->values[i];

		if (v->value == 0)
			continue;
		if (name_matches(v->name, text) ||
		    (plen > 0 && strncmp(v->name, prefix, plen) == 0 &&
		     name_matches(v->name + plen, text))) {
			*value = v->value;
			return CU_OK;
		}
	}
	return CU_ERR_INVALID;
}

int enum_value(const ProtobufCEnumDescriptor *desc, const char *name)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(desc, name);

	return v != NULL ? v->value : 0;
}

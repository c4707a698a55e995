/*
 * enums.h - names of protocol enum values for people: "REGISTER",
 * "IN_TRANSIT", and parsing them back from the command line, where case
 * does not matter, '-' stands for '_' and a common prefix may be left out
 * ("lost" for REPORT_LOST). Uses the generated descriptors, so the .proto
 * file stays the only list.
 */
#ifndef CUSTODY_ENUMS_H
#define CUSTODY_ENUMS_H

#include <protobuf-c/protobuf-c.h>

#include "cu_err.h"
#include "custody.pb-c.h"

/* Name of value in desc, or "UNKNOWN" for a value the descriptor lacks. */
const char *enum_name(const ProtobufCEnumDescriptor *desc, int value);

/*
 * Same, in lower case with prefix removed when given ("REPORT_LOST" with
 * prefix "REPORT_" gives "lost"). Returns a static buffer overwritten by
 * the next call.
 */
const char *enum_label(const ProtobufCEnumDescriptor *desc, int value, const char *prefix);

/*
 * Parses text as a value name of desc, optionally without prefix. Never
 * accepts the *_UNSPECIFIED value (0). CU_ERR_INVALID if nothing matches.
 */
CU_MUST_USE int enum_parse(const ProtobufCEnumDescriptor *desc, const char *text,
			   const char *prefix, int *value);

/* The value of the exact value name (as stored in the database), or 0. */
int enum_value(const ProtobufCEnumDescriptor *desc, const char *name);

#endif

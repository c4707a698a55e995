/*
 * log.c - logfmt lines on stderr (see log.h).
 *
 * The message is quoted and its quotes, backslashes and control characters
 * escaped, so a hostile string a client sent (a serial, a party name) can
 * never forge a second log line or a field.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"

static enum log_level min_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
	min_level = level;
}

int log_parse_level(const char *text, enum log_level *level)
{
	for (int i = LOG_LEVEL_DEBUG; i <= LOG_LEVEL_ERROR; i++) {
		if (strcmp(text, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return CU_OK;
		}
	}
	return CU_ERR_INVALID;
}

/* Appends s to out (capacity cap, length *len) with logfmt escaping. */
static void append_escaped(char *out, size_t cap, size_t *len, const char *s)
{
	for (; *s != '\0' && *len + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[(*len)++] = '\\';
			out[(*len)++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			*len += (size_t)snprintf(out + *len, cap - *len, "\\x%02x", c);
		} else {
			out[(*len)++] = (char)c;
		}
	}
	out[*len] = '\0';
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char msg[2048], line[4200], ts[CODEC_TIME_MAX];
	size_t len;
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	codec_time_format(codec_now_ms(), ts);
	len = (size_t)snprintf(line, sizeof(line), "ts=%s level=%s msg=\"", ts, level_names[level]);
	append_escaped(line, sizeof(line) - 2, &len, msg);
	line[len++] = '"';
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}

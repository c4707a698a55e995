/*
 * log.h - the daemon's log: one line per message on stderr, logfmt by
 * default,
 *     ts=2026-11-22T13:40:00.123Z level=info msg="listening on unix:/run/x"
 * or JSON (log_format = json),
 *     {"ts":"2026-11-22T13:40:00.123Z","level":"info","msg":"listening on ..."}
 * so that journald, a file or a log shipper can take it as it is; or
 * entries sent straight to journald over its native protocol (log_target =
 * journald) with PRIORITY, MESSAGE, SYSLOG_IDENTIFIER, CUSTODY_LEVEL and
 * the CODE_FILE/CODE_LINE/CODE_FUNC of the call. Messages never contain
 * secrets; callers pass ids and public keys only.
 */
#ifndef CUSTODY_LOG_H
#define CUSTODY_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "cu_err.h"

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

enum log_format {
	LOG_FORMAT_LOGFMT,
	LOG_FORMAT_JSON,
};

/* The journald socket log_target = journald uses. */
#define LOG_JOURNALD_SOCKET "/run/systemd/journal/socket"

/* Messages below level are dropped. Default: info. */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn" or "error". */
CU_MUST_USE int log_parse_level(const char *text, enum log_level *level);

/*
 * Applies the config values log_level, log_format ("logfmt", "json") and
 * log_target ("stderr", "journald"). CU_ERR_INVALID with the reason in err
 * for a bad value, changing nothing. journald with socket_path (NULL:
 * LOG_JOURNALD_SOCKET) unreachable is not an error: the log stays on
 * stderr and says so in a warning.
 */
CU_MUST_USE int log_configure(const char *level, const char *format, const char *target,
			      const char *socket_path, char *err, size_t err_size);

/* Closes the journald socket, if any; later messages go to stderr. */
void log_close(void);

/*
 * Formats one stderr line (with its '\n') of format into out (cap bytes,
 * at least 64) and returns its length; a message too long for out is cut
 * at a character boundary. Quotes, backslashes, control bytes and invalid
 * UTF-8 in msg are escaped, so no message forges a line or a field.
 */
size_t log_format_line(enum log_format format, int64_t ts_ms, enum log_level level, const char *msg,
		       char *out, size_t cap);

/* Writes one message at level; fmt is printf-style. Use the macros below. */
void log_msg(enum log_level level, const char *file, int line, const char *func, const char *fmt,
	     ...) __attribute__((format(printf, 5, 6)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __FILE__, __LINE__, __func__, __VA_ARGS__)

#endif

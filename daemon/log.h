/*
 * log.h - the daemon's log: one logfmt line per message on stderr,
 *     ts=2026-11-22T13:40:00.123Z level=info msg="listening on unix:/run/x"
 * so that journald, a file or a log shipper can take it as it is. Messages
 * never contain secrets; callers pass ids and public keys only.
 */
#ifndef CUSTODY_LOG_H
#define CUSTODY_LOG_H

#include "cu_err.h"

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

/* Messages below level are dropped. Default: info. */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn" or "error". */
CU_MUST_USE int log_parse_level(const char *text, enum log_level *level);

/* Writes one line at level; fmt is printf-style. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif

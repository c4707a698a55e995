/*
 * log.c - logfmt or JSON lines on stderr, or journald entries (see log.h).
 *
 * The message is escaped the same way in both line formats, with JSON's
 * string escapes (\" \\ \n \r \t \u00XX, and \ufffd for each byte that is
 * not part of valid UTF-8), so a hostile string a client sent (a serial, a
 * party name) can never forge a second line or a field, and a logfmt
 * value decodes with the same rules as a JSON string. journald gets the
 * same escaped text as MESSAGE, in one datagram of KEY=value lines sent to
 * the socket's path each time (a restarted journald is found again); a
 * datagram that cannot be sent is written to stderr instead.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "codec.h"

#define MSG_MAX	       2048
#define LINE_MAX_BYTES 16384

static enum log_level min_level = LOG_LEVEL_INFO;
static enum log_format line_format = LOG_FORMAT_LOGFMT;
static int journal_fd = -1;
static struct sockaddr_un journal_addr;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char level_priority[] = {'7', '6', '4', '3'}; /* syslog priorities */

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

/* Length of the valid UTF-8 sequence at s (1 for ASCII), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0], cp, min;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* The escaped form of the character at s into tmp; *used bytes of s it stands for. */
static size_t escape_one(const unsigned char *s, size_t *used, char tmp[8])
{
	size_t n = utf8_len(s);

	*used = n > 0 ? n : 1;
	if (n == 0)
		return (size_t)snprintf(tmp, 8, "\\ufffd");
	if (n > 1) {
		memcpy(tmp, s, n);
		return n;
	}
	switch (s[0]) {
	case '"':
		return (size_t)snprintf(tmp, 8, "\\\"");
	case '\\':
		return (size_t)snprintf(tmp, 8, "\\\\");
	case '\n':
		return (size_t)snprintf(tmp, 8, "\\n");
	case '\r':
		return (size_t)snprintf(tmp, 8, "\\r");
	case '\t':
		return (size_t)snprintf(tmp, 8, "\\t");
	default:
		if (s[0] < 0x20 || s[0] == 0x7f)
			return (size_t)snprintf(tmp, 8, "\\u%04x", s[0]);
		tmp[0] = (char)s[0];
		return 1;
	}
}

/* Appends msg escaped to out (len *len), keeping at least reserve bytes of cap free. */
static void append_escaped(char *out, size_t cap, size_t reserve, size_t *len, const char *msg)
{
	const unsigned char *s = (const unsigned char *)msg;
	char tmp[8];
	size_t used, k;

	while (*s != '\0') {
		k = escape_one(s, &used, tmp);
		if (*len + k + reserve > cap)
			break;
		memcpy(out + *len, tmp, k);
		*len += k;
		s += used;
	}
}

size_t log_format_line(enum log_format format, int64_t ts_ms, enum log_level level, const char *msg,
		       char *out, size_t cap)
{
	char ts[CODEC_TIME_MAX];
	const char *tail = format == LOG_FORMAT_JSON ? "\"}\n" : "\"\n";
	size_t len;

	codec_time_format(ts_ms, ts);
	if (format == LOG_FORMAT_JSON)
		len = (size_t)snprintf(out, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
				       level_names[level]);
	else
		len = (size_t)snprintf(out, cap, "ts=%s level=%s msg=\"", ts, level_names[level]);
	append_escaped(out, cap, strlen(tail) + 1, &len, msg);
	memcpy(out + len, tail, strlen(tail) + 1);
	return len + strlen(tail);
}

/* Sends one journald entry; false if it could not be sent. */
static bool journal_send(enum log_level level, const char *file, int line, const char *func,
			 const char *msg)
{
	char buf[LINE_MAX_BYTES];
	size_t len;

	while (strncmp(file, "../", 3) == 0) /* meson builds out of tree */
		file += 3;
	len = (size_t)snprintf(buf, sizeof(buf),
			       "PRIORITY=%c\nSYSLOG_IDENTIFIER=custodyd\nCUSTODY_LEVEL=%s\n"
			       "CODE_FILE=%s\nCODE_LINE=%d\nCODE_FUNC=%s\nMESSAGE=",
			       level_priority[level], level_names[level], file, line, func);

	if (len >= sizeof(buf) - 2)
		return false;
	append_escaped(buf, sizeof(buf), 2, &len, msg);
	buf[len++] = '\n';
	return sendto(journal_fd, buf, len, MSG_NOSIGNAL, (const struct sockaddr *)&journal_addr,
		      sizeof(journal_addr)) == (ssize_t)len;
}

void log_msg(enum log_level level, const char *file, int line, const char *func, const char *fmt,
	     ...)
{
	char msg[MSG_MAX], out[LINE_MAX_BYTES];
	size_t len;
	va_list ap;

	if (level < min_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (journal_fd >= 0 && journal_send(level, file, line, func, msg))
		return;
	len = log_format_line(line_format, codec_now_ms(), level, msg, out, sizeof(out));
	fwrite(out, 1, len, stderr);
}

/* Opens a datagram socket for path and checks that something listens there. */
static int journal_open(const char *path)
{
	int fd;

	if (strlen(path) >= sizeof(journal_addr.sun_path))
		return -ENAMETOOLONG;
	memset(&journal_addr, 0, sizeof(journal_addr));
	journal_addr.sun_family = AF_UNIX;
	memcpy(journal_addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&journal_addr, sizeof(journal_addr)) != 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

int log_configure(const char *level, const char *format, const char *target,
		  const char *socket_path, char *err, size_t err_size)
{
	enum log_level lv;
	bool journald = strcmp(target, "journald") == 0;
	int fd;

	if (log_parse_level(level, &lv) != CU_OK)
		return cu_fail(err, err_size,
			       "log_level: \"%.32s\" is not debug, info, warn or error", level);
	if (strcmp(format, "logfmt") != 0 && strcmp(format, "json") != 0)
		return cu_fail(err, err_size, "log_format: \"%.32s\" is not logfmt or json",
			       format);
	if (!journald && strcmp(target, "stderr") != 0)
		return cu_fail(err, err_size, "log_target: \"%.32s\" is not stderr or journald",
			       target);
	min_level = lv;
	line_format = strcmp(format, "json") == 0 ? LOG_FORMAT_JSON : LOG_FORMAT_LOGFMT;
	log_close();
	if (!journald)
		return CU_OK;
	if (socket_path == NULL)
		socket_path = LOG_JOURNALD_SOCKET;
	fd = journal_open(socket_path);
	if (fd < 0) {
		log_warn("log_target = journald: cannot reach %s (%s); logging to stderr",
			 socket_path, strerror(-fd));
		return CU_OK;
	}
	journal_fd = fd;
	return CU_OK;
}

void log_close(void)
{
	if (journal_fd >= 0)
		close(journal_fd);
	journal_fd = -1;
}

/*
 * notify.h - the systemd notification protocol (sd_notify(3)) without
 * libsystemd: newline-separated VAR=value datagrams to the AF_UNIX socket
 * named by $NOTIFY_SOCKET (a path, or '@' for the abstract namespace), and
 * the watchdog keep-alive at half of $WATCHDOG_USEC from a libevent timer.
 *
 * Without $NOTIFY_SOCKET (custodyd run by hand, by the tests, or by another
 * supervisor) every call is a successful no-op. Module state stays in
 * notify.c; custodyd has one notifier.
 */
#ifndef CUSTODY_NOTIFY_H
#define CUSTODY_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "cu_err.h"

struct event_base;

/* The longest message sent (well under any datagram limit). */
#define NOTIFY_MAX_MESSAGE 1024

/*
 * Reads $NOTIFY_SOCKET and opens the socket to notify it. Returns CU_OK,
 * also when the variable is unset (notifications are then off), or
 * CU_ERR_INVALID when it is not an absolute path or an '@' name that fits
 * sun_path (notifications off too), CU_ERR_IO when no socket can be made.
 * Calling it again first closes what an earlier call opened.
 */
CU_MUST_USE int notify_init(void);

/* Is a notification socket in use? */
bool notify_enabled(void);

/*
 * Sends msg (borrowed; "VAR=value" lines, at most NOTIFY_MAX_MESSAGE
 * bytes) as one datagram. CU_OK also when notifications are off;
 * CU_ERR_TOO_BIG for a longer msg, CU_ERR_IO when the datagram is not sent.
 */
CU_MUST_USE int notify_send(const char *msg);

/*
 * READY=1 with STATUS=status (borrowed; status NULL: none). Remembered, so
 * that notify_reloaded knows whether the service was ready.
 */
CU_MUST_USE int notify_ready(const char *status);

/* STATUS=status (borrowed): one line of free text shown by systemctl status. */
CU_MUST_USE int notify_status(const char *status);

/* RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC now): a reload begins. */
CU_MUST_USE int notify_reloading(void);

/*
 * The reload is over: READY=1 again if notify_ready was called before,
 * else only a STATUS line (the first READY=1 is still to come).
 */
CU_MUST_USE int notify_reloaded(void);

/* STOPPING=1 with STATUS=status (borrowed; NULL: none): shutting down. */
CU_MUST_USE int notify_stopping(const char *status);

/*
 * The watchdog interval the environment asks of this process, in
 * microseconds: $WATCHDOG_USEC when it is a positive number and
 * $WATCHDOG_PID is unset or this process's pid; else 0 (no watchdog).
 */
uint64_t notify_watchdog_usec(void);

/*
 * Starts sending WATCHDOG=1 on base (borrowed) every half of
 * notify_watchdog_usec(), and once at once. CU_OK also when there is no
 * watchdog or no notification socket (nothing is armed then);
 * CU_ERR_NOMEM when the timer cannot be made.
 */
CU_MUST_USE int notify_watchdog_start(struct event_base *base);

/* Stops the watchdog timer (before base is freed) and closes the socket. */
void notify_close(void);

#endif

/*
 * cu_err.h - the error codes every fallible function of custody returns.
 *
 * Functions that can fail return int: CU_OK (0) or one negative code from
 * this enum. The lowest layer returns the code; the caller that can say
 * something useful turns it into a message (cu_strerror) once.
 */
#ifndef CUSTODY_CU_ERR_H
#define CUSTODY_CU_ERR_H

#define CU_MUST_USE __attribute__((warn_unused_result))

enum cu_err {
	CU_OK = 0,
	CU_ERR_NOMEM = -1,     /* allocation failed */
	CU_ERR_INVALID = -2,   /* malformed input */
	CU_ERR_TOO_BIG = -3,   /* input over a configured limit */
	CU_ERR_SIGNATURE = -4, /* signature does not verify */
	CU_ERR_IO = -5,	       /* read, write or socket error (see errno) */
	CU_ERR_PERM = -6,      /* file permissions unsafe */
	CU_ERR_NOT_FOUND = -7, /* no such file or record */
	CU_ERR_EXISTS = -8,    /* refusing to overwrite */
	CU_ERR_CRYPTO = -9,    /* libsodium failed */
	CU_ERR_TIMEOUT = -10,  /* deadline passed */
	CU_ERR_LIMIT = -11,    /* a counter or quota is used up */
};

/* Returns a static, human-readable description of err. */
const char *cu_strerror(int err);

#include <stddef.h>

/*
 * Writes a printf-style message into err (err_size bytes) and returns
 * CU_ERR_INVALID: the one-liner of every validator that explains itself.
 */
int cu_fail(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

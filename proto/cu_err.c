/* cu_err.c - descriptions of the error codes in cu_err.h. */
#include "cu_err.h"

#include <stdarg.h>
#include <stdio.h>

int cu_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return CU_ERR_INVALID;
}

const char *cu_strerror(int err)
{
	switch (err) {
	case CU_OK:
		return "success";
	case CU_ERR_NOMEM:
		return "out of memory";
	case CU_ERR_INVALID:
		return "malformed input";
	case CU_ERR_TOO_BIG:
		return "input too large";
	case CU_ERR_SIGNATURE:
		return "signature does not verify";
	case CU_ERR_IO:
		return "input/output error";
	case CU_ERR_PERM:
		return "unsafe file permissions";
	case CU_ERR_NOT_FOUND:
		return "not found";
	case CU_ERR_EXISTS:
		return "already exists";
	case CU_ERR_CRYPTO:
		return "cryptographic library failure";
	case CU_ERR_TIMEOUT:
		return "timed out";
	case CU_ERR_LIMIT:
		return "limit reached";
	}
	return "unknown error";
}

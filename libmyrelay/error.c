/* SPDX-License-Identifier: MIT */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <myrelay/version.h>

#define MSG_SIZE 512

/* Thread-local, as libgit2 does it: the detail belongs to the thread that
 * made the failing call, so handles used by different threads never see each
 * other's messages. */
static __thread char err_msg[MSG_SIZE];
static __thread int err_code;

struct code_info {
	int code;
	const char *name;
	const char *text;
};

static const struct code_info codes[] = {
	{ MR_OK, "ok", "success" },
	{ MR_EINVAL, "invalid", "invalid argument" },
	{ MR_ENOMEM, "no_memory", "out of memory" },
	{ MR_ENOTFOUND, "not_found", "not found" },
	{ MR_EEXIST, "exists", "already exists" },
	{ MR_EPERM, "forbidden", "operation not permitted" },
	{ MR_EAUTH, "unauthenticated", "authentication failed" },
	{ MR_ETOOBIG, "too_large", "too large" },
	{ MR_ERATELIMIT, "rate_limited", "rate limit exceeded" },
	{ MR_EEXHAUSTED, "exhausted", "no free resource left" },
	{ MR_EIO, "io", "input/output error" },
	{ MR_ESYS, "system", "system error" },
	{ MR_ECRYPTO, "crypto", "cryptographic library error" },
	{ MR_ENOTSUP, "not_supported", "not supported" },
	{ MR_EKERNEL, "kernel", "the kernel refused the request" },
	{ MR_EDB, "database", "database error" },
	{ MR_ETIMEOUT, "timeout", "timed out" },
	{ MR_ECONFLICT, "conflict", "conflicts with the current state" },
	{ MR_EINTEGRITY, "integrity", "integrity check failed" },
	{ MR_ENETWORK, "network", "network error" },
};

static const struct code_info *lookup(int code)
{
	for (size_t i = 0; i < MR_ARRAY_SIZE(codes); i++)
		if (codes[i].code == code)
			return &codes[i];
	return NULL;
}

MR_API const char *mr_strerror(int code)
{
	const struct code_info *ci = lookup(code);
	return ci ? ci->text : "unknown error";
}

MR_API const char *mr_error_name(int code)
{
	const struct code_info *ci = lookup(code);
	return ci ? ci->name : "unknown";
}

MR_API const char *mr_error_message(void)
{
	return err_msg;
}

MR_API int mr_error_last(void)
{
	return err_code;
}

MR_API void mr_error_clear(void)
{
	err_msg[0] = '\0';
	err_code = 0;
}

static int set_va(int code, const char *fmt, va_list ap)
{
	err_code = code;
	if (!fmt) {
		snprintf(err_msg, sizeof(err_msg), "%s", mr_strerror(code));
		return code;
	}
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	return code;
}

int mr__error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_va(code, fmt, ap);
	va_end(ap);
	return code;
}

int mr__errno_to_code(int err)
{
	/* Kernel and generic-netlink code hand errno back with either sign. */
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return MR_OK;
	case EINVAL:
	case ERANGE:
	case EDOM:
		return MR_EINVAL;
	case ENOMEM:
	case ENOBUFS:
		return MR_ENOMEM;
	case ENOENT:
	case ENODEV:
	case ESRCH:
	case ENXIO:
		return MR_ENOTFOUND;
	case EEXIST:
	case EADDRINUSE:
		return MR_EEXIST;
	case EPERM:
	case EACCES:
		return MR_EPERM;
	case E2BIG:
	case EMSGSIZE:
	case EFBIG:
		return MR_ETOOBIG;
	case ETIMEDOUT:
		return MR_ETIMEOUT;
	case EOPNOTSUPP:
	case EPROTONOSUPPORT:
	case EAFNOSUPPORT:
		return MR_ENOTSUP;
	case EIO:
	case ENOSPC:
	case EDQUOT:
	case EROFS:
		return MR_EIO;
	case ECONNREFUSED:
	case ECONNRESET:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return MR_ENETWORK;
	case EBUSY:
		return MR_ECONFLICT;
	default:
		return MR_ESYS;
	}
}

int mr__error_sys(int err, const char *fmt, ...)
{
	char ctx[MSG_SIZE / 2];
	va_list ap;
	int code = mr__errno_to_code(err);

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (err < 0)
		err = -err;
	return mr__error_set(code, "%s: %s", ctx, strerror(err));
}

int mr__error_crypto(const char *context)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_clear_error();
	if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
		return mr__error_set(MR_ENOMEM, "%s: out of memory", context);
	if (e == 0)
		return mr__error_set(MR_ECRYPTO, "%s: cryptographic library error", context);
	ERR_error_string_n(e, buf, sizeof(buf));
	return mr__error_set(MR_ECRYPTO, "%s: %s", context, buf);
}

void mr__wipe(void *ptr, size_t len)
{
	if (ptr && len)
		OPENSSL_cleanse(ptr, len);
}

int mr__ct_memcmp(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) != 0;
}

int mr__random(void *buf, size_t len)
{
	if (len > INT32_MAX)
		return mr__error_set(MR_EINVAL, "random: request too large");
	if (RAND_bytes(buf, (int)len) != 1)
		return mr__error_crypto("random bytes");
	return 0;
}

char *mr__strdup(const char *s)
{
	char *r = strdup(s);
	if (!r)
		mr__error_set(MR_ENOMEM, "out of memory");
	return r;
}

MR_API void mr_free(void *ptr)
{
	free(ptr);
}

MR_API const char *mr_version(void)
{
	return PACKAGE_VERSION;
}

MR_API uint32_t mr_version_number(void)
{
	return MR_VERSION_NUM;
}

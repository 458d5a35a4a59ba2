/* SPDX-License-Identifier: MIT */
/*
 * Library-internal helpers shared across the .c files of libmyrelay. Nothing
 * here is exported: names carry the mr__ prefix and hidden visibility.
 */
#ifndef MYRELAY_INTERNAL_H
#define MYRELAY_INTERNAL_H

#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <myrelay/error.h>

#define MR_HIDDEN __attribute__((visibility("hidden")))
#define MR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define MR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Record code and a printf-style detail for the calling thread; returns code
 * so that callers can write `return mr__error_set(MR_EINVAL, "...")`. The
 * detail must never contain a secret. */
MR_HIDDEN int mr__error_set(int code, const char *fmt, ...) MR_PRINTF(2, 3);

/* Map errno (positive or negative) to an MR_E* code, record
 * "<context>: <strerror>" and return the code. */
MR_HIDDEN int mr__error_sys(int err, const char *fmt, ...) MR_PRINTF(2, 3);

/* Record the OpenSSL error queue's first entry with a context; returns
 * MR_ECRYPTO (or MR_ENOMEM). Clears the queue. */
MR_HIDDEN int mr__error_crypto(const char *context);

/* Map an errno value (either sign) to an MR_E* code without recording. */
MR_HIDDEN int mr__errno_to_code(int err);

/* Overwrite memory so the compiler cannot elide it. */
MR_HIDDEN void mr__wipe(void *ptr, size_t len);

/* Constant-time comparison: 0 when equal. Time depends only on len. */
MR_HIDDEN int mr__ct_memcmp(const void *a, const void *b, size_t len);

/* Fill with cryptographically secure random bytes (OpenSSL RAND_bytes). */
MR_HIDDEN int mr__random(void *buf, size_t len);

/* strdup that records MR_ENOMEM; returns NULL on failure. */
MR_HIDDEN char *mr__strdup(const char *s);

#endif

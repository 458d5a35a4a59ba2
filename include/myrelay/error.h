/* SPDX-License-Identifier: MIT */
/*
 * Error codes, error details, library memory and version.
 *
 * Every fallible function of libmyrelay returns 0 on success and one of the
 * negative MR_E* codes below on failure. The codes are append-only: a value is
 * never renumbered or reused. After a failure, mr_error_message() gives a
 * human-readable detail for the calling thread.
 */
#ifndef MYRELAY_ERROR_H
#define MYRELAY_ERROR_H

#include <myrelay/common.h>

MR_BEGIN_DECLS

#define MR_OK 0            /**< success */
#define MR_EINVAL -1       /**< invalid argument or input */
#define MR_ENOMEM -2       /**< out of memory */
#define MR_ENOTFOUND -3    /**< the object does not exist */
#define MR_EEXIST -4       /**< the object already exists */
#define MR_EPERM -5        /**< the caller is not allowed to do this */
#define MR_EAUTH -6        /**< missing, malformed or wrong credentials */
#define MR_ETOOBIG -7      /**< input or output larger than allowed */
#define MR_ERATELIMIT -8   /**< too many requests */
#define MR_EEXHAUSTED -9   /**< a pool (addresses, ports, ...) has no free entry */
#define MR_EIO -10         /**< input/output error (files, sockets) */
#define MR_ESYS -11        /**< another operating-system error */
#define MR_ECRYPTO -12     /**< the cryptographic library failed */
#define MR_ENOTSUP -13     /**< not supported on this system or build */
#define MR_EKERNEL -14     /**< the kernel refused a netlink request */
#define MR_EDB -15         /**< the database failed */
#define MR_ETIMEOUT -16    /**< the operation timed out */
#define MR_ECONFLICT -17   /**< the request conflicts with the current state */
#define MR_EINTEGRITY -18  /**< data failed an integrity or authenticity check */
#define MR_ENETWORK -19    /**< a network peer could not be reached or answered badly */
/** One past the most negative code defined by this version of the headers. */
#define MR_ELAST -20

/**
 * Static, English description of an error code ("invalid argument").
 *
 * @param code an MR_E* code (or 0).
 * @return a string with static storage; never NULL. Unknown codes give
 *         "unknown error".
 */
MR_API const char *mr_strerror(int code);

/**
 * Stable machine name of an error code ("invalid", "not_found", ...), as used
 * in the "error" member of API error bodies.
 *
 * @param code an MR_E* code (or 0 for "ok").
 * @return a string with static storage; never NULL ("unknown" if unknown).
 */
MR_API const char *mr_error_name(int code);

/**
 * Detail of the last failure of a libmyrelay call in the calling thread,
 * e.g. "public key: expected 44 characters, got 43".
 *
 * @return a borrowed string valid until the next libmyrelay call in this
 *         thread; "" when no detail is recorded. Never NULL. Never contains a
 *         secret.
 */
MR_API const char *mr_error_message(void);

/**
 * Code of the last failure in the calling thread (0 if none since the last
 * mr_error_clear()).
 */
MR_API int mr_error_last(void);

/** Forget the calling thread's last error. */
MR_API void mr_error_clear(void);

/**
 * Release memory that libmyrelay allocated for the caller (strings and
 * arrays returned through out parameters, where a function says so).
 *
 * @param ptr memory from libmyrelay, or NULL (then nothing happens).
 */
MR_API void mr_free(void *ptr);

/**
 * Version of the library actually loaded at run time ("0.1.0"). Compare with
 * MR_VERSION_STRING from <myrelay/version.h> to detect a header/library
 * mismatch.
 *
 * @return a string with static storage.
 */
MR_API const char *mr_version(void);

/**
 * Version of the loaded library as 0xMMmmpp (see MR_VERSION_NUM).
 */
MR_API uint32_t mr_version_number(void);

MR_END_DECLS

#endif

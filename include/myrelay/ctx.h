/* SPDX-License-Identifier: MIT */
/*
 * The root object of node-side work: netlink sockets (route, generic with
 * the WireGuard family resolved once, netfilter), the choice of WireGuard
 * backend and the log callback. The library never prints: diagnostics go to
 * the log callback set here.
 *
 * A context is used by one thread at a time; different contexts are
 * independent. Sockets are opened on first use, in the network namespace the
 * calling thread is in at that moment.
 */
#ifndef MYRELAY_CTX_H
#define MYRELAY_CTX_H

#include <myrelay/common.h>

MR_BEGIN_DECLS

typedef struct mr_ctx mr_ctx;

/** Backend: the kernel when the WireGuard generic-netlink family exists,
 * else the userspace socket of the device when it exists. */
#define MR_BACKEND_AUTO 0
/** Backend: the kernel module through generic netlink. */
#define MR_BACKEND_KERNEL 1
/** Backend: a userspace implementation (wireguard-go) through its control
 * socket `<userspace dir>/<ifname>.sock`. */
#define MR_BACKEND_USERSPACE 2

/** Log levels (syslog numbering). */
#define MR_LOG_ERROR 3
#define MR_LOG_WARNING 4
#define MR_LOG_INFO 6
#define MR_LOG_DEBUG 7

/** Default directory of userspace WireGuard control sockets. */
#define MR_CTX_USERSPACE_DIR "/var/run/wireguard"

/**
 * Log callback.
 * @param level one of MR_LOG_*.
 * @param message one line without a trailing newline; never a secret.
 * @param userdata as given to mr_ctx_set_log().
 */
typedef void (*mr_log_fn)(int level, const char *message, void *userdata);

/**
 * Create a context. No socket is opened yet.
 * @param out receives the context; free it with mr_ctx_free().
 * @return 0, MR_EINVAL or MR_ENOMEM.
 */
MR_API int mr_ctx_new(mr_ctx **out);

/** Close the sockets and free the context. NULL is accepted. */
MR_API void mr_ctx_free(mr_ctx *ctx);

/**
 * Set the log callback and the most verbose level passed to it.
 * @param fn callback, or NULL to discard messages.
 * @param max_level messages with a level above this are not formatted.
 * @param userdata passed back to fn.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_ctx_set_log(mr_ctx *ctx, mr_log_fn fn, int max_level, void *userdata);

/**
 * Choose the WireGuard backend (MR_BACKEND_*). Default MR_BACKEND_AUTO.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_ctx_set_backend(mr_ctx *ctx, int backend);

/**
 * The backend as set (MR_BACKEND_*), not resolved.
 * @return the backend, or MR_EINVAL for a NULL context.
 */
MR_API int mr_ctx_get_backend(const mr_ctx *ctx);

/**
 * Whether the running kernel offers the WireGuard generic-netlink family.
 * Resolved once per context and cached (with the family id).
 * @param out receives the answer.
 * @return 0, MR_EINVAL, or an error if netlink itself fails (MR_ESYS...).
 */
MR_API int mr_ctx_has_kernel_wireguard(mr_ctx *ctx, bool *out);

/**
 * Directory of userspace control sockets (default MR_CTX_USERSPACE_DIR).
 * @param dir absolute path, copied.
 * @return 0, MR_EINVAL (not absolute, too long) or MR_ENOMEM.
 */
MR_API int mr_ctx_set_userspace_dir(mr_ctx *ctx, const char *dir);

/**
 * The userspace socket directory. Borrowed: valid until it is changed or
 * the context is freed.
 */
MR_API const char *mr_ctx_get_userspace_dir(const mr_ctx *ctx);

/**
 * Program started by mr_wg_start_userspace() (default: the wireguard-go
 * found at build time, else "wireguard-go" from PATH).
 * @param path program path, copied.
 * @return 0, MR_EINVAL or MR_ENOMEM.
 */
MR_API int mr_ctx_set_wireguard_go(mr_ctx *ctx, const char *path);

/** The userspace WireGuard program. Borrowed, like mr_ctx_get_userspace_dir(). */
MR_API const char *mr_ctx_get_wireguard_go(const mr_ctx *ctx);

MR_END_DECLS

#endif

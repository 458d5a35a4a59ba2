/* SPDX-License-Identifier: MIT */
/*
 * Library-internal netlink plumbing shared by ctx, link, wg and fw.
 */
#ifndef MYRELAY_NL_H
#define MYRELAY_NL_H

#include "internal.h"

#include <stdbool.h>
#include <libmnl/libmnl.h>

#include <myrelay/ctx.h>

struct mr_ctx {
	struct mnl_socket *rtnl;
	struct mnl_socket *genl;
	struct mnl_socket *nfnl;
	uint32_t seq;
	int wg_family; /* -1 unknown, 0 absent, else the generic-netlink id */
	int backend;
	char *userspace_dir;
	char *wireguard_go;
	mr_log_fn log_fn;
	void *log_userdata;
	int log_level;
	/* One receive buffer per context, large enough for a full dump
	 * message (the kernel fills up to 32 KiB with big WireGuard dumps). */
	char *rbuf;
	size_t rbuf_size;
};

/* Open (once) and return the context's socket for a netlink bus
 * (NETLINK_ROUTE, NETLINK_GENERIC or NETLINK_NETFILTER). Extended acks are
 * requested and acks are capped (we never need our request echoed). */
MR_HIDDEN int mr__ctx_socket(mr_ctx *ctx, int bus, struct mnl_socket **out);

/* Next sequence number for a request. */
MR_HIDDEN uint32_t mr__ctx_seq(mr_ctx *ctx);

/* Generic-netlink id of the WireGuard family; MR_ENOTSUP when the kernel has
 * none. */
MR_HIDDEN int mr__ctx_wg_family(mr_ctx *ctx, uint16_t *out);

/* Callback for each data message of a reply. Return MNL_CB_OK to continue,
 * MNL_CB_ERROR after recording an error with mr__error_set. */
typedef int (*mr__nl_cb)(const struct nlmsghdr *nlh, void *data);

/* Called before a dump is restarted because the kernel flagged it as
 * interrupted (NLM_F_DUMP_INTR: the object list changed while it was read),
 * so the caller can drop what it collected. */
typedef void (*mr__nl_reset_cb)(void *data);

/*
 * Send one request and read its replies until the ack (or NLMSG_DONE for a
 * dump). The request gets the next sequence number; NLM_F_ACK is added.
 * Kernel errors become MR_E* codes with "<what>: <strerror>" and the
 * extended-ack text, if any, appended. A dump interrupted by a concurrent
 * change is retried (up to 5 times) after calling reset.
 */
MR_HIDDEN int mr__nl_talk(mr_ctx *ctx, struct mnl_socket *nl, struct nlmsghdr *nlh, mr__nl_cb cb,
			  mr__nl_reset_cb reset, void *data, const char *what);

/*
 * Send a buffer holding several requests (sequence numbers first_seq ..
 * last_seq, each with NLM_F_ACK, e.g. an nftables batch) and collect every
 * ack. The first error wins; its extended-ack text is kept. An error on the
 * message with first_seq (an nfnetlink batch refused as a whole) ends the
 * wait at once.
 */
MR_HIDDEN int mr__nl_talk_many(mr_ctx *ctx, struct mnl_socket *nl, const void *buf, size_t len,
			       uint32_t first_seq, uint32_t last_seq, mr__nl_cb cb, void *data,
			       const char *what);

/* Format and pass a message to the log callback when level is enabled. */
MR_HIDDEN void mr__log(mr_ctx *ctx, int level, const char *fmt, ...) MR_PRINTF(3, 4);

#endif

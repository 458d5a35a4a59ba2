/* SPDX-License-Identifier: MIT */
/*
 * The node-side context and the netlink request/reply loop that link, wg and
 * fw share.
 */
#include "nl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#define RBUF_SIZE (64 * 1024)
#define DUMP_RETRIES 5
/* A request the kernel does not answer within this time is reported as a
 * timeout instead of blocking the agent forever. */
#define RECV_TIMEOUT_S 10

MR_API int mr_ctx_new(mr_ctx **out)
{
	mr_ctx *ctx;

	if (!out)
		return mr__error_set(MR_EINVAL, "context: output is NULL");
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		goto nomem;
	ctx->wg_family = -1;
	ctx->backend = MR_BACKEND_AUTO;
	ctx->log_level = MR_LOG_INFO;
	ctx->rbuf_size = RBUF_SIZE;
	ctx->rbuf = malloc(ctx->rbuf_size);
	ctx->userspace_dir = strdup(MR_CTX_USERSPACE_DIR);
	ctx->wireguard_go = strdup(MR_WIREGUARD_GO_DEFAULT);
	if (!ctx->rbuf || !ctx->userspace_dir || !ctx->wireguard_go)
		goto nomem_ctx;
	/* Sequence numbers only need to differ between requests in flight on
	 * one socket; starting from the clock makes stale replies from a
	 * previous context on a reused port id easy to tell apart. */
	ctx->seq = (uint32_t)time(NULL);
	*out = ctx;
	return 0;
nomem_ctx:
	mr_ctx_free(ctx);
nomem:
	return mr__error_set(MR_ENOMEM, "context: out of memory");
}

MR_API void mr_ctx_free(mr_ctx *ctx)
{
	if (!ctx)
		return;
	if (ctx->rtnl)
		mnl_socket_close(ctx->rtnl);
	if (ctx->genl)
		mnl_socket_close(ctx->genl);
	if (ctx->nfnl)
		mnl_socket_close(ctx->nfnl);
	free(ctx->rbuf);
	free(ctx->userspace_dir);
	free(ctx->wireguard_go);
	free(ctx);
}

MR_API int mr_ctx_set_log(mr_ctx *ctx, mr_log_fn fn, int max_level, void *userdata)
{
	if (!ctx)
		return mr__error_set(MR_EINVAL, "context is NULL");
	if (max_level < 0 || max_level > MR_LOG_DEBUG)
		return mr__error_set(MR_EINVAL, "log level %d: expected 0..%d", max_level,
				     MR_LOG_DEBUG);
	ctx->log_fn = fn;
	ctx->log_level = max_level;
	ctx->log_userdata = userdata;
	return 0;
}

MR_API int mr_ctx_set_backend(mr_ctx *ctx, int backend)
{
	if (!ctx)
		return mr__error_set(MR_EINVAL, "context is NULL");
	if (backend != MR_BACKEND_AUTO && backend != MR_BACKEND_KERNEL &&
	    backend != MR_BACKEND_USERSPACE)
		return mr__error_set(MR_EINVAL, "backend %d: expected 0 (auto), 1 (kernel) or "
				     "2 (userspace)", backend);
	ctx->backend = backend;
	return 0;
}

MR_API int mr_ctx_get_backend(const mr_ctx *ctx)
{
	if (!ctx)
		return mr__error_set(MR_EINVAL, "context is NULL");
	return ctx->backend;
}

static int set_path(char **slot, const char *path, const char *what, bool absolute)
{
	char *copy;

	if (!path || !*path)
		return mr__error_set(MR_EINVAL, "%s: empty", what);
	if (absolute && path[0] != '/')
		return mr__error_set(MR_EINVAL, "%s: \"%s\" is not an absolute path", what, path);
	if (strlen(path) > 200)
		return mr__error_set(MR_EINVAL, "%s: longer than 200 bytes", what);
	copy = strdup(path);
	if (!copy)
		return mr__error_set(MR_ENOMEM, "%s: out of memory", what);
	free(*slot);
	*slot = copy;
	return 0;
}

MR_API int mr_ctx_set_userspace_dir(mr_ctx *ctx, const char *dir)
{
	if (!ctx)
		return mr__error_set(MR_EINVAL, "context is NULL");
	/* A socket path is limited to 108 bytes; keep room for "/<ifname>.sock". */
	if (dir && strlen(dir) > 80)
		return mr__error_set(MR_EINVAL, "userspace dir: longer than 80 bytes");
	return set_path(&ctx->userspace_dir, dir, "userspace dir", true);
}

MR_API const char *mr_ctx_get_userspace_dir(const mr_ctx *ctx)
{
	return ctx ? ctx->userspace_dir : NULL;
}

MR_API int mr_ctx_set_wireguard_go(mr_ctx *ctx, const char *path)
{
	if (!ctx)
		return mr__error_set(MR_EINVAL, "context is NULL");
	return set_path(&ctx->wireguard_go, path, "wireguard-go path", false);
}

MR_API const char *mr_ctx_get_wireguard_go(const mr_ctx *ctx)
{
	return ctx ? ctx->wireguard_go : NULL;
}

void mr__log(mr_ctx *ctx, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!ctx || !ctx->log_fn || level > ctx->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->log_fn(level, msg, ctx->log_userdata);
}

uint32_t mr__ctx_seq(mr_ctx *ctx)
{
	return ++ctx->seq;
}

int mr__ctx_socket(mr_ctx *ctx, int bus, struct mnl_socket **out)
{
	struct mnl_socket **slot;
	struct mnl_socket *nl;
	struct timeval tv = { .tv_sec = RECV_TIMEOUT_S };
	int one = 1;
	const char *name;

	switch (bus) {
	case NETLINK_ROUTE:
		slot = &ctx->rtnl;
		name = "rtnetlink";
		break;
	case NETLINK_GENERIC:
		slot = &ctx->genl;
		name = "generic netlink";
		break;
	case NETLINK_NETFILTER:
		slot = &ctx->nfnl;
		name = "nfnetlink";
		break;
	default:
		return mr__error_set(MR_EINVAL, "netlink bus %d not supported", bus);
	}
	if (*slot) {
		*out = *slot;
		return 0;
	}
	nl = mnl_socket_open(bus);
	if (!nl)
		return mr__error_sys(errno, "%s: open socket", name);
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = errno;
		mnl_socket_close(nl);
		return mr__error_sys(err, "%s: bind", name);
	}
	/* Extended acks carry the kernel's explanation ("Unknown device type")
	 * into mr_error_message(); capped acks keep error replies small. Both
	 * are optional: older kernels just ignore them. */
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*slot = nl;
	*out = nl;
	return 0;
}

static int ext_ack_attr_cb(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		*(const char **)data = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

/* Turn an NLMSG_ERROR into 0 (an ack) or a recorded error. */
static int kernel_error(const struct nlmsghdr *nlh, const char *what)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	const char *ext = NULL;
	int e;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*err)))
		return mr__error_set(MR_EKERNEL, "%s: truncated netlink error", what);
	/* Netlink reports -errno, but the WireGuard family has been seen to
	 * hand back positive values from its own paths: take the magnitude. */
	e = err->error < 0 ? -err->error : err->error;
	if (e == 0)
		return 0;
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		size_t off = sizeof(*err);

		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
		if (mnl_nlmsg_size(off) < nlh->nlmsg_len)
			mnl_attr_parse(nlh, (unsigned int)off, ext_ack_attr_cb, &ext);
	}
	if (ext && *ext)
		return mr__error_set(mr__errno_to_code(e), "%s: %s (kernel: %s)", what, strerror(e),
				     ext);
	return mr__error_set(mr__errno_to_code(e), "%s: %s", what, strerror(e));
}

/*
 * Read replies until the request with sequence number last_seq is finished:
 * its ack/error, or NLMSG_DONE for a dump. Messages with other sequence
 * numbers (late replies to an earlier, abandoned request) are skipped.
 */
static int receive(mr_ctx *ctx, struct mnl_socket *nl, uint32_t first_seq, uint32_t last_seq,
		   bool dump, bool batch, mr__nl_cb cb, void *data, const char *what,
		   bool *interrupted)
{
	uint32_t portid = mnl_socket_get_portid(nl);
	int first_err = 0;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, ctx->rbuf, ctx->rbuf_size);
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return mr__error_set(MR_ETIMEOUT, "%s: no answer from the kernel "
						     "within %d s", what, RECV_TIMEOUT_S);
			return mr__error_sys(errno, "%s: receive", what);
		}
		nlh = (const struct nlmsghdr *)ctx->rbuf;
		len = (int)n;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			bool last;

			if (nlh->nlmsg_pid != portid && nlh->nlmsg_pid != 0)
				continue;
			if (nlh->nlmsg_seq - first_seq > last_seq - first_seq)
				continue;
			last = nlh->nlmsg_seq == last_seq;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				*interrupted = true;
			switch (nlh->nlmsg_type) {
			case NLMSG_NOOP:
				continue;
			case NLMSG_ERROR: {
				/* Only the first failure is reported: in a batch one
				 * error often causes more, whose text would hide the
				 * cause. */
				int rc = first_err ? 0 : kernel_error(nlh, what);
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

				if (rc < 0)
					first_err = rc;
				if (last)
					goto done;
				/* nfnetlink refuses a whole batch (generation-id
				 * mismatch, no nf_tables, no memory) with one error on
				 * its BEGIN message and acks nothing else: waiting for
				 * the last ack would only end in a timeout. */
				if (batch && nlh->nlmsg_seq == first_seq &&
				    nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(*e)) && e->error != 0)
					goto done;
				continue;
			}
			case NLMSG_DONE:
				if (dump && last)
					goto done;
				continue;
			default:
				if (!cb || first_err)
					continue;
				if (cb(nlh, data) == MNL_CB_ERROR) {
					first_err = mr_error_last() ? mr_error_last() : MR_EKERNEL;
					if (!mr_error_last())
						mr__error_set(first_err, "%s: bad reply", what);
				}
				continue;
			}
		}
	}
done:
	return first_err;
}

int mr__nl_talk(mr_ctx *ctx, struct mnl_socket *nl, struct nlmsghdr *nlh, mr__nl_cb cb,
		mr__nl_reset_cb reset, void *data, const char *what)
{
	bool dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;

	for (int attempt = 0;; attempt++) {
		bool interrupted = false;
		int rc;

		nlh->nlmsg_seq = mr__ctx_seq(ctx);
		/* Dumps end with NLMSG_DONE; other requests ask for an ack so
		 * that success and failure both produce exactly one reply. */
		if (!dump)
			nlh->nlmsg_flags |= NLM_F_ACK;
		if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
			return mr__error_sys(errno, "%s: send", what);
		rc = receive(ctx, nl, nlh->nlmsg_seq, nlh->nlmsg_seq, dump, false, cb, data, what,
			     &interrupted);
		if (rc < 0 || !dump || !interrupted)
			return rc;
		/* The object list changed under the dump: what was read may be
		 * inconsistent, so drop it and read again. */
		if (attempt + 1 >= DUMP_RETRIES)
			return mr__error_set(MR_ECONFLICT, "%s: dump kept changing, gave up after "
					     "%d attempts", what, DUMP_RETRIES);
		mr__log(ctx, MR_LOG_DEBUG, "%s: dump interrupted, retrying", what);
		if (reset)
			reset(data);
	}
}

int mr__nl_talk_many(mr_ctx *ctx, struct mnl_socket *nl, const void *buf, size_t len,
		     uint32_t first_seq, uint32_t last_seq, mr__nl_cb cb, void *data,
		     const char *what)
{
	bool interrupted = false;

	if (mnl_socket_sendto(nl, buf, len) < 0)
		return mr__error_sys(errno, "%s: send", what);
	return receive(ctx, nl, first_seq, last_seq, false, true, cb, data, what, &interrupted);
}

static int family_attr_cb(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(attr, MNL_TYPE_U16) >= 0)
		*(int *)data = mnl_attr_get_u16(attr);
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb, data);
	return MNL_CB_OK;
}

int mr__ctx_wg_family(mr_ctx *ctx, uint16_t *out)
{
	char buf[256];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;
	int id = 0, rc;

	if (ctx->wg_family < 0) {
		rc = mr__ctx_socket(ctx, NETLINK_GENERIC, &nl);
		if (rc < 0)
			return rc;
		/* libmnl does not clear attribute padding: start from zeros so no
		 * stack garbage goes to the kernel. */
		memset(buf, 0, sizeof(buf));
		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = GENL_ID_CTRL;
		nlh->nlmsg_flags = NLM_F_REQUEST;
		genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
		genl->cmd = CTRL_CMD_GETFAMILY;
		genl->version = 1;
		mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "wireguard");
		rc = mr__nl_talk(ctx, nl, nlh, family_cb, NULL, &id, "resolve WireGuard family");
		if (rc == MR_ENOTFOUND) {
			id = 0;
			mr_error_clear();
		} else if (rc < 0) {
			return rc;
		}
		ctx->wg_family = id;
		mr__log(ctx, MR_LOG_DEBUG, "WireGuard generic netlink family: %s",
			id ? "present" : "absent");
	}
	if (ctx->wg_family == 0)
		return mr__error_set(MR_ENOTSUP, "the kernel has no WireGuard module "
				     "(generic netlink family \"wireguard\" not found)");
	*out = (uint16_t)ctx->wg_family;
	return 0;
}

MR_API int mr_ctx_has_kernel_wireguard(mr_ctx *ctx, bool *out)
{
	uint16_t id;
	int rc;

	if (!ctx || !out)
		return mr__error_set(MR_EINVAL, "context or output is NULL");
	rc = mr__ctx_wg_family(ctx, &id);
	if (rc == MR_ENOTSUP) {
		mr_error_clear();
		*out = false;
		return 0;
	}
	if (rc < 0)
		return rc;
	*out = true;
	return 0;
}

/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <arpa/inet.h>
#include <time.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <myrelay/myrelay.h>
#include "../libmyrelay/nl.h"
#include "testutil.h"

START_TEST(test_new_free)
{
	mr_ctx *ctx = NULL;

	ck_mr_err(mr_ctx_new(NULL), MR_EINVAL);
	ck_mr_ok(mr_ctx_new(&ctx));
	ck_assert_int_eq(mr_ctx_get_backend(ctx), MR_BACKEND_AUTO);
	ck_assert_str_eq(mr_ctx_get_userspace_dir(ctx), MR_CTX_USERSPACE_DIR);
	ck_assert_ptr_nonnull(mr_ctx_get_wireguard_go(ctx));
	mr_ctx_free(ctx);
	mr_ctx_free(NULL);
	ck_assert_int_eq(mr_ctx_get_backend(NULL), MR_EINVAL);
	ck_assert_ptr_null(mr_ctx_get_userspace_dir(NULL));
}
END_TEST

static const struct {
	int backend;
	int rc;
} backends[] = {
	{ MR_BACKEND_AUTO, 0 }, { MR_BACKEND_KERNEL, 0 }, { MR_BACKEND_USERSPACE, 0 },
	{ 3, MR_EINVAL },	{ -1, MR_EINVAL },	  { 1000, MR_EINVAL },
};

START_TEST(test_backend)
{
	mr_ctx *ctx;

	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_ctx_set_backend(ctx, MR_BACKEND_USERSPACE));
	if (backends[_i].rc) {
		ck_mr_err(mr_ctx_set_backend(ctx, backends[_i].backend), backends[_i].rc);
		/* a refused value changes nothing */
		ck_assert_int_eq(mr_ctx_get_backend(ctx), MR_BACKEND_USERSPACE);
	} else {
		ck_mr_ok(mr_ctx_set_backend(ctx, backends[_i].backend));
		ck_assert_int_eq(mr_ctx_get_backend(ctx), backends[_i].backend);
	}
	mr_ctx_free(ctx);
}
END_TEST

static const struct {
	const char *dir;
	int rc;
} dirs[] = {
	{ "/run/wireguard", 0 },
	{ "/tmp/x", 0 },
	{ "relative/dir", MR_EINVAL },
	{ "", MR_EINVAL },
	{ NULL, MR_EINVAL },
	{ "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	  MR_EINVAL },
};

START_TEST(test_userspace_dir)
{
	mr_ctx *ctx;

	ck_mr_ok(mr_ctx_new(&ctx));
	if (dirs[_i].rc) {
		ck_mr_err(mr_ctx_set_userspace_dir(ctx, dirs[_i].dir), dirs[_i].rc);
		ck_assert_str_eq(mr_ctx_get_userspace_dir(ctx), MR_CTX_USERSPACE_DIR);
	} else {
		ck_mr_ok(mr_ctx_set_userspace_dir(ctx, dirs[_i].dir));
		ck_assert_str_eq(mr_ctx_get_userspace_dir(ctx), dirs[_i].dir);
	}
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_wireguard_go_path)
{
	mr_ctx *ctx;

	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_ctx_set_wireguard_go(ctx, "/opt/wg/wireguard-go"));
	ck_assert_str_eq(mr_ctx_get_wireguard_go(ctx), "/opt/wg/wireguard-go");
	ck_mr_err(mr_ctx_set_wireguard_go(ctx, ""), MR_EINVAL);
	ck_mr_err(mr_ctx_set_wireguard_go(NULL, "x"), MR_EINVAL);
	ck_assert_str_eq(mr_ctx_get_wireguard_go(ctx), "/opt/wg/wireguard-go");
	mr_ctx_free(ctx);
}
END_TEST

struct log_rec {
	int calls;
	int level;
	char msg[256];
};

static void log_cb(int level, const char *message, void *userdata)
{
	struct log_rec *r = userdata;
	r->calls++;
	r->level = level;
	snprintf(r->msg, sizeof(r->msg), "%s", message);
}

START_TEST(test_log)
{
	mr_ctx *ctx;
	struct log_rec rec = { 0 };

	ck_mr_ok(mr_ctx_new(&ctx));
	mr__log(ctx, MR_LOG_ERROR, "dropped: no callback yet");
	ck_mr_ok(mr_ctx_set_log(ctx, log_cb, MR_LOG_INFO, &rec));
	mr__log(ctx, MR_LOG_WARNING, "pod %s: %d peers", "wg-abc123", 3);
	ck_assert_int_eq(rec.calls, 1);
	ck_assert_int_eq(rec.level, MR_LOG_WARNING);
	ck_assert_str_eq(rec.msg, "pod wg-abc123: 3 peers");
	mr__log(ctx, MR_LOG_DEBUG, "filtered out");
	ck_assert_int_eq(rec.calls, 1);
	ck_mr_err(mr_ctx_set_log(ctx, log_cb, 99, &rec), MR_EINVAL);
	ck_mr_ok(mr_ctx_set_log(ctx, NULL, MR_LOG_DEBUG, NULL));
	mr__log(ctx, MR_LOG_ERROR, "discarded");
	ck_assert_int_eq(rec.calls, 1);
	mr_ctx_free(ctx);
}
END_TEST

/* Whatever this machine is, the answer must agree with the kernel's own view
 * of loaded modules (the family exists exactly when the module is there). */
START_TEST(test_kernel_family_consistent)
{
	mr_ctx *ctx;
	bool has = true;
	bool module = access("/sys/module/wireguard", F_OK) == 0;

	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_ctx_has_kernel_wireguard(ctx, &has));
	ck_assert_int_eq(has, module);
	/* cached: a second call answers the same without asking again */
	ck_mr_ok(mr_ctx_has_kernel_wireguard(ctx, &has));
	ck_assert_int_eq(has, module);
	ck_mr_err(mr_ctx_has_kernel_wireguard(ctx, NULL), MR_EINVAL);
	mr_ctx_free(ctx);
}
END_TEST

/* --- netlink plumbing, in a private network namespace (root only) --- */

static void enter_private_netns(void)
{
	/* Check forks each test, so the namespace dies with the test. */
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
}

static int count_links_cb(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	(*(int *)data)++;
	return MNL_CB_OK;
}

START_TEST(test_nl_dump_links)
{
	mr_ctx *ctx;
	struct mnl_socket *nl;
	char buf[8192];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int count = 0;

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr__ctx_socket(ctx, NETLINK_ROUTE, &nl));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ck_mr_ok(mr__nl_talk(ctx, nl, nlh, count_links_cb, NULL, &count, "dump links"));
	/* a fresh namespace has exactly the loopback device */
	ck_assert_int_eq(count, 1);
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_nl_error_mapping)
{
	mr_ctx *ctx;
	struct mnl_socket *nl;
	char buf[8192];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlattr *linkinfo;

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr__ctx_socket(ctx, NETLINK_ROUTE, &nl));

	/* A link that does not exist: ENODEV maps to MR_ENOTFOUND. */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "mr-missing0");
	ck_mr_err(mr__nl_talk(ctx, nl, nlh, NULL, NULL, NULL, "get link mr-missing0"),
		  MR_ENOTFOUND);
	ck_assert_msg(strstr(mr_error_message(), "get link mr-missing0: ") != NULL, "%s",
		      mr_error_message());

	/* An unknown link kind: refused, and the kernel's extended ack (when
	 * it gives one) is carried into the message. */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "mr-bogus0");
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "mr-no-such-kind");
	mnl_attr_nest_end(nlh, linkinfo);
	ck_assert_int_lt(mr__nl_talk(ctx, nl, nlh, NULL, NULL, NULL, "create link"), 0);
	ck_assert_msg(strstr(mr_error_message(), "create link: ") == mr_error_message(), "%s",
		      mr_error_message());
	ck_assert_msg(strstr(mr_error_message(), "(kernel: ") != NULL,
		      "no extended ack text in \"%s\"", mr_error_message());

	/* The socket stays usable after errors: a dump still works. */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ck_mr_ok(mr__nl_talk(ctx, nl, nlh, NULL, NULL, NULL, "dump links"));
	mr_ctx_free(ctx);
}
END_TEST

/* nfnetlink refuses a whole batch (here: a stale generation id) with one
 * error on the BEGIN message and no other ack: the batch call must return
 * that error at once, not wait for the last ack until its timeout. */
static struct nlmsghdr *put_nfnl(char *buf, uint16_t type, uint16_t flags, uint32_t seq,
				 uint16_t res_id)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(res_id);
	return nlh;
}

START_TEST(test_nl_batch_refused_whole)
{
	mr_ctx *ctx;
	struct mnl_socket *nl;
	static char buf[8192];
	struct nlmsghdr *nlh;
	size_t len = 0;
	uint32_t first, mid, last;
	struct timespec t0, t1;
	double dt;
	int rc;

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr__ctx_socket(ctx, NETLINK_NETFILTER, &nl));
	memset(buf, 0, sizeof(buf));
	first = mr__ctx_seq(ctx);
	mid = mr__ctx_seq(ctx);
	last = mr__ctx_seq(ctx);
	nlh = put_nfnl(buf, NFNL_MSG_BATCH_BEGIN, 0, first, NFNL_SUBSYS_NFTABLES);
	mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(0x7fffffff)); /* never the current id */
	len += nlh->nlmsg_len;
	nlh = put_nfnl(buf + len, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_ACK,
		       mid, 0);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, "mr_ctx_test");
	len += nlh->nlmsg_len;
	nlh = put_nfnl(buf + len, NFNL_MSG_BATCH_END, NLM_F_ACK, last, NFNL_SUBSYS_NFTABLES);
	len += nlh->nlmsg_len;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = mr__nl_talk_many(ctx, nl, buf, len, first, last, NULL, NULL, "stale batch");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	ck_assert_msg(rc < 0 && rc != MR_ETIMEOUT, "stale batch: rc %d (%s)", rc, mr_error_message());
	ck_assert_msg(dt < 5.0, "stale batch took %.1f s: waited for acks that never come", dt);
	ck_assert_msg(strstr(mr_error_message(), "stale batch: ") == mr_error_message(), "%s",
		      mr_error_message());
	mr_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctx");
	TCase *tc = tcase_create("core");
	TCase *priv = tcase_create("netlink");

	tcase_add_test(tc, test_new_free);
	tcase_add_loop_test(tc, test_backend, 0, (int)MR_ARRAY_SIZE(backends));
	tcase_add_loop_test(tc, test_userspace_dir, 0, (int)MR_ARRAY_SIZE(dirs));
	tcase_add_test(tc, test_wireguard_go_path);
	tcase_add_test(tc, test_log);
	tcase_add_test(tc, test_kernel_family_consistent);
	suite_add_tcase(s, tc);
	if (geteuid() == 0) {
		tcase_add_test(priv, test_nl_dump_links);
		tcase_add_test(priv, test_nl_error_mapping);
		tcase_add_test(priv, test_nl_batch_refused_whole);
		suite_add_tcase(s, priv);
	} else {
		fprintf(stderr, "check_ctx: NOT ROOT: the netlink tests in private namespaces "
				"are not run (CI runs them as root)\n");
	}
	return mr_test_run_suite(s);
}

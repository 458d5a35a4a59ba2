/* SPDX-License-Identifier: MIT */
/* The pod spec (validation, no kernel) and, as root in private network
 * namespaces, the parts of a reconcile that run without WireGuard traffic:
 * a refused spec changes nothing, teardown and listing. The full reconcile
 * with real tunnels is tests/pod-netns.sh. */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <myrelay/myrelay.h>
#include "../libmyrelay/internal.h"
#include "testutil.h"

static mr_prefix P(const char *text)
{
	mr_prefix p;
	ck_assert_msg(mr_cidr_parse(&p, text) == 0 || mr_cidr_parse_interface(&p, text) == 0,
		      "bad test prefix %s", text);
	return p;
}

static mr_key some_key(uint8_t fill)
{
	mr_key k;
	memset(k.bytes, fill, sizeof(k.bytes));
	return k;
}

START_TEST(test_new_and_names)
{
	mr_pod_spec *s = NULL;

	ck_mr_ok(mr_pod_spec_new(&s, "wg-abc123"));
	ck_assert_str_eq(mr_pod_spec_get_ifname(s), "wg-abc123");
	ck_assert_uint_eq(mr_pod_spec_peer_count(s), 0);
	mr_pod_spec_free(s);
	mr_pod_spec_free(NULL);
	ck_mr_err(mr_pod_spec_new(&s, "bad name"), MR_EINVAL);
	ck_mr_err(mr_pod_spec_new(&s, "wg-0123456789abc"), MR_EINVAL);
	ck_mr_err(mr_pod_spec_new(&s, ""), MR_EINVAL);
	ck_mr_err(mr_pod_spec_new(&s, NULL), MR_EINVAL);
	ck_mr_err(mr_pod_spec_new(NULL, "wg-abc123"), MR_EINVAL);
}
END_TEST

static const struct {
	const char *addr;
	int rc;
} addresses[] = {
	{ "10.64.1.1/24", 0 },
	{ "10.64.1.77/24", 0 },
	{ "fd00:1:2:3::1/64", 0 },
	{ "10.64.1.0/24", MR_EINVAL },	   /* the network address */
	{ "10.64.1.255/24", MR_EINVAL },   /* broadcast */
	{ "10.64.1.1/31", MR_EINVAL },	   /* no room for a device */
	{ "10.64.1.1/32", MR_EINVAL },
	{ "fd00::1/127", MR_EINVAL },
	{ "fd00::/64", MR_EINVAL },
	{ "10.0.0.1/0", MR_EINVAL },
	{ "10.64.2.1/24", MR_EINVAL },	   /* overlaps 10.64.0.0/16 added first */
};

START_TEST(test_addresses)
{
	mr_pod_spec *s;
	mr_prefix p = P(addresses[_i].addr);

	ck_mr_ok(mr_pod_spec_new(&s, "wg-abc123"));
	/* a zeroed prefix has no family */
	ck_mr_err(mr_pod_spec_add_address(s, &(mr_prefix){ 0 }), MR_EINVAL);
	if (_i == 10) {
		mr_prefix big = P("10.64.0.1/16");
		ck_mr_ok(mr_pod_spec_add_address(s, &big));
	}
	if (addresses[_i].rc)
		ck_mr_err(mr_pod_spec_add_address(s, &p), addresses[_i].rc);
	else
		ck_mr_ok(mr_pod_spec_add_address(s, &p));
	mr_pod_spec_free(s);
}
END_TEST

START_TEST(test_address_limit)
{
	mr_pod_spec *s;
	char text[32];

	ck_mr_ok(mr_pod_spec_new(&s, "wg-abc123"));
	for (int i = 0; i < MR_POD_ADDRESSES_MAX; i++) {
		mr_prefix p;
		snprintf(text, sizeof(text), "10.%d.0.1/24", i);
		p = P(text);
		ck_mr_ok(mr_pod_spec_add_address(s, &p));
	}
	{
		mr_prefix p = P("10.200.0.1/24");
		ck_mr_err(mr_pod_spec_add_address(s, &p), MR_EINVAL);
	}
	mr_pod_spec_free(s);
}
END_TEST

START_TEST(test_scalars)
{
	mr_pod_spec *s;
	mr_key k = some_key(7);

	ck_mr_ok(mr_pod_spec_new(&s, "wg-abc123"));
	ck_mr_ok(mr_pod_spec_set_listen_port(s, 51820));
	ck_mr_err(mr_pod_spec_set_listen_port(s, 0), MR_EINVAL);
	ck_mr_err(mr_pod_spec_set_listen_port(s, 65536), MR_EINVAL);
	ck_mr_ok(mr_pod_spec_set_mtu(s, 1420));
	ck_mr_err(mr_pod_spec_set_mtu(s, 1279), MR_EINVAL);
	ck_mr_err(mr_pod_spec_set_mtu(s, 70000), MR_EINVAL);
	ck_mr_ok(mr_pod_spec_set_options(s, MR_POD_OPT_DNS));
	ck_mr_ok(mr_pod_spec_set_options(s, 0));
	ck_mr_err(mr_pod_spec_set_options(s, 0x80), MR_EINVAL);
	ck_mr_ok(mr_pod_spec_set_private_key(s, &k));
	ck_mr_err(mr_pod_spec_set_private_key(s, NULL), MR_EINVAL);
	mr_pod_spec_free(s);
}
END_TEST

START_TEST(test_uplinks)
{
	mr_pod_spec *s;
	const char *good[] = { "eth0", "ens3" };
	const char *dup[] = { "eth0", "eth0" };
	const char *own[] = { "wg-abc123" };
	const char *bad[] = { "eth 0" };

	ck_mr_ok(mr_pod_spec_new(&s, "wg-abc123"));
	ck_mr_ok(mr_pod_spec_set_uplinks(s, good, 2));
	ck_mr_ok(mr_pod_spec_set_uplinks(s, NULL, 0));
	ck_mr_err(mr_pod_spec_set_uplinks(s, dup, 2), MR_EINVAL);
	ck_mr_err(mr_pod_spec_set_uplinks(s, own, 1), MR_EINVAL);
	ck_mr_err(mr_pod_spec_set_uplinks(s, bad, 1), MR_EINVAL);
	ck_mr_err(mr_pod_spec_set_uplinks(s, NULL, 1), MR_EINVAL);
	mr_pod_spec_free(s);
}
END_TEST

START_TEST(test_peers)
{
	mr_pod_spec *s;
	mr_key pub = some_key(9), psk = some_key(3), zero = some_key(0);
	mr_prefix ips[2] = { P("10.64.1.2/32"), P("fd00:1:2:3::2/128") };
	mr_prefix hostbits = P("10.64.1.2/24");

	ck_mr_ok(mr_pod_spec_new(&s, "wg-abc123"));
	ck_mr_ok(mr_pod_spec_add_peer(s, &pub, &psk, ips, 2));
	ck_assert_uint_eq(mr_pod_spec_peer_count(s), 1);
	ck_mr_err(mr_pod_spec_add_peer(s, &pub, NULL, ips, 1), MR_EEXIST);
	ck_mr_err(mr_pod_spec_add_peer(s, &zero, NULL, ips, 1), MR_EINVAL);
	ck_mr_err(mr_pod_spec_add_peer(s, &psk, NULL, ips, 0), MR_EINVAL);
	ck_mr_err(mr_pod_spec_add_peer(s, &psk, NULL, &hostbits, 1), MR_EINVAL);
	/* refused peers leave the spec as it was */
	ck_assert_uint_eq(mr_pod_spec_peer_count(s), 1);
	mr_pod_spec_free(s);
}
END_TEST

/* Incomplete or inconsistent specs are refused before anything is touched:
 * the context has no socket open afterwards (nothing was asked of the
 * kernel), which this white-box check can see. */
START_TEST(test_apply_refuses_incomplete)
{
	mr_ctx *ctx;
	mr_pod_spec *s;
	mr_key k = some_key(5), pub = some_key(9);
	mr_prefix gw = P("10.64.1.1/24");
	mr_prefix outside = P("10.99.0.2/32");

	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_pod_spec_new(&s, "wg-abc123"));
	ck_mr_err(mr_pod_apply(ctx, s, NULL), MR_EINVAL); /* no key */
	ck_assert_msg(strstr(mr_error_message(), "no private key"), "%s", mr_error_message());
	ck_mr_ok(mr_pod_spec_set_private_key(s, &k));
	ck_mr_err(mr_pod_apply(ctx, s, NULL), MR_EINVAL); /* no port */
	ck_mr_ok(mr_pod_spec_set_listen_port(s, 51820));
	ck_mr_err(mr_pod_apply(ctx, s, NULL), MR_EINVAL); /* no address */
	ck_mr_ok(mr_pod_spec_add_address(s, &gw));
	ck_mr_ok(mr_pod_spec_add_peer(s, &pub, NULL, &outside, 1));
	ck_mr_err(mr_pod_apply(ctx, s, NULL), MR_EINVAL); /* peer outside subnets */
	ck_assert_msg(strstr(mr_error_message(), "outside the pod's subnets"), "%s",
		      mr_error_message());
	ck_mr_err(mr_pod_apply(NULL, s, NULL), MR_EINVAL);
	ck_mr_err(mr_pod_apply(ctx, NULL, NULL), MR_EINVAL);
	mr_pod_spec_free(s);
	mr_ctx_free(ctx);
}
END_TEST

/* --- root: private network namespace ----------------------------------- */

START_TEST(test_teardown_and_list_empty)
{
	mr_ctx *ctx;
	char **names = NULL;
	uint32_t *state = NULL;
	size_t n = 99;

	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare: %s", strerror(errno));
	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_pod_list(ctx, &names, &state, &n));
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(names);
	ck_mr_err(mr_pod_teardown(ctx, "wg-abc123"), MR_ENOTFOUND);
	ck_mr_err(mr_pod_teardown(ctx, "bad name"), MR_EINVAL);
	mr_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pod");
	TCase *tc = tcase_create("spec");
	TCase *priv = tcase_create("netns");

	tcase_add_test(tc, test_new_and_names);
	tcase_add_loop_test(tc, test_addresses, 0, (int)MR_ARRAY_SIZE(addresses));
	tcase_add_test(tc, test_address_limit);
	tcase_add_test(tc, test_scalars);
	tcase_add_test(tc, test_uplinks);
	tcase_add_test(tc, test_peers);
	tcase_add_test(tc, test_apply_refuses_incomplete);
	suite_add_tcase(s, tc);
	if (geteuid() == 0) {
		tcase_add_test(priv, test_teardown_and_list_empty);
		suite_add_tcase(s, priv);
	} else {
		fprintf(stderr, "check_pod: NOT ROOT: namespace tests not run (CI runs them)\n");
	}
	return mr_test_run_suite(s);
}

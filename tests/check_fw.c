/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/chain.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include <myrelay/myrelay.h>
#include "../libmyrelay/nl.h"
#include "testutil.h"

static mr_prefix iface(const char *text)
{
	mr_prefix p;

	ck_assert_msg(mr_cidr_parse_interface(&p, text) == 0, "bad test prefix %s", text);
	return p;
}

/* --- specs (no kernel) --- */

static const struct {
	const char *name;
	int rc;
} names[] = {
	{ "wg-abc123", 0 },	   { "eth0", 0 },	       { "a", 0 },
	{ "wg-0123456789ab", 0 }, { "wg-0123456789abc", MR_EINVAL }, { "", MR_EINVAL },
	{ NULL, MR_EINVAL },	   { "wg abc", MR_EINVAL },	       { "a/b", MR_EINVAL },
	{ ".", MR_EINVAL },	   { "..", MR_EINVAL },	       { "wg-\xc3\xa9", MR_EINVAL },
};

START_TEST(test_pod_new)
{
	mr_fw_pod *pod = (mr_fw_pod *)0x1;

	if (names[_i].rc) {
		ck_mr_err(mr_fw_pod_new(&pod, names[_i].name), names[_i].rc);
		ck_assert_ptr_eq(pod, (mr_fw_pod *)0x1);
	} else {
		ck_mr_ok(mr_fw_pod_new(&pod, names[_i].name));
		mr_fw_pod_free(pod);
	}
}
END_TEST

static const struct {
	const char *text;
	int rc;
} subnets[] = {
	{ "10.64.1.1/24", 0 },
	{ "10.64.1.254/24", 0 },
	{ "10.0.0.1/30", 0 },
	{ "10.0.0.2/30", 0 },
	{ "10.1.2.3/8", 0 },
	{ "128.0.0.1/1", 0 },
	{ "fd00:64:1::1/64", 0 },
	{ "fd00::1/126", 0 },
	{ "fd00::ffff/64", 0 },
	{ "2001:db8::1/1", 0 },
	{ "10.64.1.0/24", MR_EINVAL },	/* the network address */
	{ "10.64.1.255/24", MR_EINVAL }, /* broadcast */
	{ "10.0.0.3/30", MR_EINVAL },	/* broadcast of a /30 */
	{ "10.0.0.1/31", MR_EINVAL },
	{ "10.0.0.1/32", MR_EINVAL },
	{ "0.0.0.1/0", MR_EINVAL },
	{ "fd00::1/127", MR_EINVAL },
	{ "fd00::1/128", MR_EINVAL },
	{ "fd00::/64", MR_EINVAL },
	{ "::1/0", MR_EINVAL },
};

START_TEST(test_add_subnet)
{
	mr_fw_pod *pod;
	mr_prefix p = iface(subnets[_i].text);

	ck_mr_ok(mr_fw_pod_new(&pod, "wg-abc123"));
	if (subnets[_i].rc) {
		ck_mr_err(mr_fw_pod_add_subnet(pod, &p), subnets[_i].rc);
		ck_assert_msg(strstr(mr_error_message(), "wg-abc123") != NULL, "%s",
			      mr_error_message());
	} else {
		ck_mr_ok(mr_fw_pod_add_subnet(pod, &p));
		/* the same subnet again overlaps itself */
		ck_mr_err(mr_fw_pod_add_subnet(pod, &p), MR_EINVAL);
	}
	mr_fw_pod_free(pod);
}
END_TEST

START_TEST(test_add_subnet_limits)
{
	mr_fw_pod *pod;
	mr_prefix p = iface("10.64.0.1/24"), bad = p;
	char text[32];

	ck_mr_ok(mr_fw_pod_new(&pod, "wg-abc123"));
	ck_mr_err(mr_fw_pod_add_subnet(NULL, &p), MR_EINVAL);
	ck_mr_err(mr_fw_pod_add_subnet(pod, NULL), MR_EINVAL);
	bad.family = 5;
	ck_mr_err(mr_fw_pod_add_subnet(pod, &bad), MR_EINVAL);
	bad.family = MR_CIDR_INET;
	bad.len = 33;
	ck_mr_err(mr_fw_pod_add_subnet(pod, &bad), MR_EINVAL);
	for (int i = 0; i < MR_FW_SUBNETS_MAX; i++) {
		snprintf(text, sizeof(text), "10.64.%d.1/24", i);
		p = iface(text);
		ck_mr_ok(mr_fw_pod_add_subnet(pod, &p));
	}
	p = iface("10.65.0.1/24");
	ck_mr_err(mr_fw_pod_add_subnet(pod, &p), MR_EINVAL);
	ck_assert_msg(strstr(mr_error_message(), "more than") != NULL, "%s", mr_error_message());
	/* a subnet that contains one already there overlaps it */
	mr_fw_pod_free(pod);
	ck_mr_ok(mr_fw_pod_new(&pod, "wg-abc123"));
	p = iface("10.64.1.1/24");
	ck_mr_ok(mr_fw_pod_add_subnet(pod, &p));
	p = iface("10.64.0.1/16");
	ck_mr_err(mr_fw_pod_add_subnet(pod, &p), MR_EINVAL);
	p = iface("10.64.2.1/24");
	ck_mr_ok(mr_fw_pod_add_subnet(pod, &p));
	mr_fw_pod_free(pod);
	mr_fw_pod_free(NULL);
}
END_TEST

static const struct {
	uint32_t port;
	int rc;
} ports[] = {
	{ 0, 0 },	       { 1, 0 },		{ 51820, 0 },
	{ 65535, 0 },	       { 65536, MR_EINVAL }, { 100000, MR_EINVAL },
	{ UINT32_MAX, MR_EINVAL },
};

START_TEST(test_listen_port)
{
	mr_fw_pod *pod;

	ck_mr_ok(mr_fw_pod_new(&pod, "wg-abc123"));
	if (ports[_i].rc)
		ck_mr_err(mr_fw_pod_set_listen_port(pod, ports[_i].port), ports[_i].rc);
	else
		ck_mr_ok(mr_fw_pod_set_listen_port(pod, ports[_i].port));
	ck_mr_err(mr_fw_pod_set_listen_port(NULL, 1), MR_EINVAL);
	mr_fw_pod_free(pod);
}
END_TEST

static const struct {
	uint32_t options;
	int rc;
} options[] = {
	{ 0, 0 },
	{ MR_FW_OPT_INTRA_POD, 0 },
	{ MR_FW_OPT_DNS, 0 },
	{ MR_FW_OPT_INTRA_POD | MR_FW_OPT_DNS, 0 },
	{ 0x4, MR_EINVAL },
	{ 0x80000000u, MR_EINVAL },
	{ MR_FW_OPT_DNS | 0x100, MR_EINVAL },
};

START_TEST(test_options)
{
	mr_fw_pod *pod;

	ck_mr_ok(mr_fw_pod_new(&pod, "wg-abc123"));
	if (options[_i].rc)
		ck_mr_err(mr_fw_pod_set_options(pod, options[_i].options), options[_i].rc);
	else
		ck_mr_ok(mr_fw_pod_set_options(pod, options[_i].options));
	ck_mr_err(mr_fw_pod_set_options(NULL, 0), MR_EINVAL);
	mr_fw_pod_free(pod);
}
END_TEST

START_TEST(test_counter_names)
{
	static const char *const want[MR_FW_COUNTERS] = { "accept", "drop-isolation",
							  "drop-spoof", "drop-node" };

	for (int i = 0; i < MR_FW_COUNTERS; i++)
		ck_assert_str_eq(mr_fw_counter_name(i), want[i]);
	ck_assert_ptr_null(mr_fw_counter_name(-1));
	ck_assert_ptr_null(mr_fw_counter_name(MR_FW_COUNTERS));
	ck_assert_ptr_null(mr_fw_counter_name(1000));
}
END_TEST

/* Uplink lists that are refused before anything reaches the kernel (so
 * these run unprivileged too). */
static const char *const up_bad_name[] = { "eth0", "e/th1" };
static const char *const up_pod[] = { "wg-abc123" };
static const char *const up_twice[] = { "eth0", "eth1", "eth0" };
static const char *const up_null[] = { "eth0", NULL };
static const char *const up_many[] = { "u0", "u1", "u2",  "u3",	 "u4",	"u5",
				       "u6", "u7", "u8",  "u9",	 "u10", "u11",
				       "u12", "u13", "u14", "u15", "u16" };
static const struct {
	const char *const *uplinks;
	size_t n;
	const char *detail;
} bad_uplinks[] = {
	{ up_bad_name, 2, "uplink 1" },
	{ up_pod, 1, "own interface" },
	{ up_twice, 3, "twice" },
	{ up_null, 2, "NULL" },
	{ NULL, 1, "NULL" },
	{ up_many, 17, "at most 16" },
};

START_TEST(test_apply_bad_uplinks)
{
	mr_ctx *ctx;
	mr_fw_pod *pod;
	mr_prefix p = iface("10.64.1.1/24");

	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_fw_pod_new(&pod, "wg-abc123"));
	ck_mr_ok(mr_fw_pod_add_subnet(pod, &p));
	ck_mr_err(mr_fw_apply_pod(ctx, pod, bad_uplinks[_i].uplinks, bad_uplinks[_i].n),
		  MR_EINVAL);
	ck_assert_msg(strstr(mr_error_message(), bad_uplinks[_i].detail) != NULL, "%s",
		      mr_error_message());
	mr_fw_pod_free(pod);
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_null_arguments)
{
	mr_ctx *ctx;
	mr_fw_pod *pod;
	char **list = (char **)0x1;
	size_t n = 7;
	uint64_t pk[MR_FW_COUNTERS];

	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_fw_pod_new(&pod, "wg-abc123"));
	ck_mr_err(mr_fw_pod_new(NULL, "wg-abc123"), MR_EINVAL);
	ck_mr_err(mr_fw_apply_pod(NULL, pod, NULL, 0), MR_EINVAL);
	ck_mr_err(mr_fw_apply_pod(ctx, NULL, NULL, 0), MR_EINVAL);
	/* no subnet yet */
	ck_mr_err(mr_fw_apply_pod(ctx, pod, NULL, 0), MR_EINVAL);
	ck_assert_msg(strstr(mr_error_message(), "no subnet") != NULL, "%s", mr_error_message());
	ck_mr_err(mr_fw_apply_pod_auto(NULL, pod), MR_EINVAL);
	ck_mr_err(mr_fw_apply_pod_auto(ctx, NULL), MR_EINVAL);
	ck_mr_err(mr_fw_remove_pod(NULL, "wg-abc123"), MR_EINVAL);
	ck_mr_err(mr_fw_remove_pod(ctx, NULL), MR_EINVAL);
	ck_mr_err(mr_fw_remove_pod(ctx, "wg/abc"), MR_EINVAL);
	ck_mr_err(mr_fw_list_pods(NULL, &list, &n), MR_EINVAL);
	ck_mr_err(mr_fw_list_pods(ctx, NULL, &n), MR_EINVAL);
	ck_mr_err(mr_fw_list_pods(ctx, &list, NULL), MR_EINVAL);
	ck_assert_ptr_eq(list, (char **)0x1);
	ck_assert_uint_eq(n, 7);
	ck_mr_err(mr_fw_pod_counters(NULL, "wg-abc123", pk, NULL, MR_FW_COUNTERS), MR_EINVAL);
	ck_mr_err(mr_fw_pod_counters(ctx, NULL, pk, NULL, MR_FW_COUNTERS), MR_EINVAL);
	ck_mr_err(mr_fw_pod_counters(ctx, "a b", pk, NULL, MR_FW_COUNTERS), MR_EINVAL);
	ck_mr_err(mr_fw_destroy(NULL), MR_EINVAL);
	mr_fw_pod_free(pod);
	mr_ctx_free(ctx);
}
END_TEST

/* --- in a private network namespace (root only) --- */

static void enter_private_netns(void)
{
	/* Check forks each test, so the namespace (and its ruleset) dies with
	 * the test. */
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
}

/*
 * A text snapshot of everything in table inet myrelay, read with libnftnl:
 * every chain, rule (with its expressions), set (with its elements) and
 * object, without handles. Lines are sorted so that the order in which the
 * kernel lists objects does not matter; rule lines carry their position in
 * their chain.
 */
struct snap {
	char **lines;
	size_t n, cap;
	char chain[256];
	int pos;
};

static void snap_add(struct snap *s, const char *line)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->lines = realloc(s->lines, s->cap * sizeof(*s->lines));
		ck_assert_ptr_nonnull(s->lines);
	}
	s->lines[s->n] = strdup(line);
	ck_assert_ptr_nonnull(s->lines[s->n]);
	s->n++;
}

static int snap_chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	char buf[1024], line[1100];

	ck_assert_int_ge(nftnl_chain_nlmsg_parse(nlh, c), 0);
	if (strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE), MR_FW_TABLE) == 0) {
		nftnl_chain_unset(c, NFTNL_CHAIN_HANDLE);
		nftnl_chain_unset(c, NFTNL_CHAIN_USE);
		nftnl_chain_unset(c, NFTNL_CHAIN_PACKETS);
		nftnl_chain_unset(c, NFTNL_CHAIN_BYTES);
		nftnl_chain_snprintf(buf, sizeof(buf), c, NFTNL_OUTPUT_DEFAULT, 0);
		snprintf(line, sizeof(line), "chain %s", buf);
		snap_add(data, line);
	}
	nftnl_chain_free(c);
	return MNL_CB_OK;
}

static int snap_rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct snap *s = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	char buf[4096], line[4400];

	ck_assert_int_ge(nftnl_rule_nlmsg_parse(nlh, r), 0);
	if (strcmp(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), MR_FW_TABLE) == 0) {
		const char *chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);

		if (strcmp(chain, s->chain) != 0) {
			snprintf(s->chain, sizeof(s->chain), "%s", chain);
			s->pos = 0;
		}
		nftnl_rule_unset(r, NFTNL_RULE_HANDLE);
		nftnl_rule_unset(r, NFTNL_RULE_POSITION);
		nftnl_rule_snprintf(buf, sizeof(buf), r, NFTNL_OUTPUT_DEFAULT, 0);
		for (char *p = buf; *p; p++)
			if (*p == '\n')
				*p = ' ';
		snprintf(line, sizeof(line), "rule %s %03d %s", chain, s->pos++, buf);
		snap_add(s, line);
	}
	nftnl_rule_free(r);
	return MNL_CB_OK;
}

static int snap_obj_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	char line[512];

	ck_assert_int_ge(nftnl_obj_nlmsg_parse(nlh, o), 0);
	if (strcmp(nftnl_obj_get_str(o, NFTNL_OBJ_TABLE), MR_FW_TABLE) == 0) {
		snprintf(line, sizeof(line), "object %s type %u",
			 nftnl_obj_get_str(o, NFTNL_OBJ_NAME), nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE));
		snap_add(data, line);
	}
	nftnl_obj_free(o);
	return MNL_CB_OK;
}

struct name_list {
	char names[512][64];
	size_t n;
	struct snap *snap;
};

static int snap_set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct name_list *l = data;
	struct nftnl_set *s = nftnl_set_alloc();
	char buf[1024], line[1100];

	ck_assert_int_ge(nftnl_set_nlmsg_parse(nlh, s), 0);
	if (strcmp(nftnl_set_get_str(s, NFTNL_SET_TABLE), MR_FW_TABLE) == 0) {
		ck_assert_uint_lt(l->n, 512);
		snprintf(l->names[l->n++], 64, "%s", nftnl_set_get_str(s, NFTNL_SET_NAME));
		nftnl_set_unset(s, NFTNL_SET_HANDLE);
		nftnl_set_unset(s, NFTNL_SET_ID);
		nftnl_set_snprintf(buf, sizeof(buf), s, NFTNL_OUTPUT_DEFAULT, 0);
		snprintf(line, sizeof(line), "setdef %s", buf);
		snap_add(l->snap, line);
	}
	nftnl_set_free(s);
	return MNL_CB_OK;
}

struct elems_ctx {
	struct snap *snap;
	const char *set;
};

static int snap_elem_cb(struct nftnl_set_elem *e, void *data)
{
	struct elems_ctx *ec = data;
	char buf[1024], line[1200];

	nftnl_set_elem_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
	snprintf(line, sizeof(line), "set %s %s", ec->set, buf);
	snap_add(ec->snap, line);
	return 0;
}

/* One line per element, so that sorting hides the order in which a hash
 * set happens to list them. */
static int snap_elems_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct elems_ctx ec = { data, NULL };

	ck_assert_int_ge(nftnl_set_elems_nlmsg_parse(nlh, s), 0);
	ec.set = nftnl_set_get_str(s, NFTNL_SET_NAME);
	nftnl_set_elem_foreach(s, snap_elem_cb, &ec);
	nftnl_set_free(s);
	return MNL_CB_OK;
}

static void dump(mr_ctx *ctx, uint16_t type, void *obj_payload_builder, mr__nl_cb cb, void *data)
{
	char buf[1024];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;

	ck_mr_ok(mr__ctx_socket(ctx, NETLINK_NETFILTER, &nl));
	nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_DUMP, 0);
	if (obj_payload_builder)
		nftnl_set_elems_nlmsg_build_payload(nlh, obj_payload_builder);
	ck_mr_ok(mr__nl_talk(ctx, nl, nlh, cb, NULL, data, "snapshot dump"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The snapshot as one string (caller frees). */
static char *snapshot(mr_ctx *ctx)
{
	struct snap s = { 0 };
	struct name_list *sets = calloc(1, sizeof(*sets));
	size_t len = 1;
	char *out;

	ck_assert_ptr_nonnull(sets);
	sets->snap = &s;
	dump(ctx, NFT_MSG_GETCHAIN, NULL, snap_chain_cb, &s);
	dump(ctx, NFT_MSG_GETRULE, NULL, snap_rule_cb, &s);
	dump(ctx, NFT_MSG_GETOBJ, NULL, snap_obj_cb, &s);
	dump(ctx, NFT_MSG_GETSET, NULL, snap_set_cb, sets);
	for (size_t i = 0; i < sets->n; i++) {
		struct nftnl_set *set = nftnl_set_alloc();

		nftnl_set_set_str(set, NFTNL_SET_TABLE, MR_FW_TABLE);
		nftnl_set_set_str(set, NFTNL_SET_NAME, sets->names[i]);
		dump(ctx, NFT_MSG_GETSETELEM, set, snap_elems_cb, &s);
		nftnl_set_free(set);
	}
	free(sets);
	qsort(s.lines, s.n, sizeof(*s.lines), cmp_str);
	for (size_t i = 0; i < s.n; i++)
		len += strlen(s.lines[i]) + 1;
	out = calloc(1, len);
	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < s.n; i++) {
		strcat(out, s.lines[i]);
		strcat(out, "\n");
		free(s.lines[i]);
	}
	free(s.lines);
	return out;
}

static size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, len) == 0)
			n++;
	return n;
}

/* Compare two snapshots, reporting the first line that differs (a whole
 * snapshot is too long for Check's message). */
static void ck_same_snapshot(const char *a, const char *b)
{
	size_t i = 0, line = 0, start = 0;

	for (; a[i] && a[i] == b[i]; i++)
		if (a[i] == '\n') {
			line++;
			start = i + 1;
		}
	ck_assert_msg(a[i] == b[i], "snapshots differ at line %zu:\n  was: %.300s\n  now: %.300s",
		      line, a + start, b + start);
}

static bool table_exists(mr_ctx *ctx, const char *family_name, int family)
{
	char buf[512];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct nftnl_table *t = nftnl_table_alloc();
	int rc;

	ck_mr_ok(mr__ctx_socket(ctx, NETLINK_NETFILTER, &nl));
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, family_name);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t)family, 0, 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	rc = mr__nl_talk(ctx, nl, nlh, NULL, NULL, NULL, "get table");
	ck_assert_msg(rc == 0 || rc == MR_ENOTFOUND, "get table: %s", mr_error_message());
	return rc == 0;
}

static mr_fw_pod *spec(const char *ifname, const char *gw4, const char *gw6, uint32_t port)
{
	mr_fw_pod *pod;
	mr_prefix p;

	ck_mr_ok(mr_fw_pod_new(&pod, ifname));
	if (gw4) {
		p = iface(gw4);
		ck_mr_ok(mr_fw_pod_add_subnet(pod, &p));
	}
	if (gw6) {
		p = iface(gw6);
		ck_mr_ok(mr_fw_pod_add_subnet(pod, &p));
	}
	ck_mr_ok(mr_fw_pod_set_listen_port(pod, port));
	return pod;
}

static void apply(mr_ctx *ctx, const char *ifname, const char *gw4, const char *gw6,
		  uint32_t port)
{
	static const char *const uplinks[] = { "eth0" };
	mr_fw_pod *pod = spec(ifname, gw4, gw6, port);

	ck_mr_ok(mr_fw_apply_pod(ctx, pod, uplinks, 1));
	mr_fw_pod_free(pod);
}

START_TEST(test_roundtrip)
{
	mr_ctx *ctx;
	uint64_t packets[MR_FW_COUNTERS], bytes[MR_FW_COUNTERS];
	char *snap, **list;
	size_t n;

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	ck_assert(!table_exists(ctx, MR_FW_TABLE, NFPROTO_INET));
	apply(ctx, "wg-aaa111", "10.64.1.1/24", "fd00:64:1::1/64", 51820);
	ck_assert(table_exists(ctx, MR_FW_TABLE, NFPROTO_INET));
	snap = snapshot(ctx);
	/* 3 base chains and 3 of the pod; 4 counters; 8 shared sets + 2 */
	ck_assert_uint_eq(count_lines(snap, "chain "), 6);
	ck_assert_uint_eq(count_lines(snap, "object "), 4);
	if (getenv("FW_SNAP"))
		fputs(snap, stderr);
	ck_assert_uint_eq(count_lines(snap, "setdef "), 10);
	ck_assert_uint_eq(count_lines(snap, "set pod_nets4 "), 2); /* interval start, end */
	ck_assert_uint_eq(count_lines(snap, "set pod-wg-aaa111-nets6 "), 2);
	ck_assert_uint_eq(count_lines(snap, "set pod_ports "), 1);
	ck_assert_uint_eq(count_lines(snap, "set pod_fwd "), 1);
	ck_assert_uint_eq(count_lines(snap, "rule pod-wg-aaa111-fwd "), 7);
	ck_assert_uint_eq(count_lines(snap, "rule pod-wg-aaa111-in "), 8);
	ck_assert_uint_eq(count_lines(snap, "rule pod-wg-aaa111-post "), 1);
	ck_assert_uint_eq(count_lines(snap, "rule forward "), 1);
	ck_assert_uint_eq(count_lines(snap, "rule input "), 2);
	ck_assert_uint_eq(count_lines(snap, "rule postrouting "), 2);
	ck_assert_msg(strstr(snap, "object wg-aaa111-drop-spoof type 1") != NULL, "%s", snap);
	free(snap);

	ck_mr_ok(mr_fw_list_pods(ctx, &list, &n));
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(list[0], "wg-aaa111");
	ck_assert_ptr_null(list[1]);
	mr_free(list);
	memset(packets, 0xff, sizeof(packets));
	memset(bytes, 0xff, sizeof(bytes));
	ck_mr_ok(mr_fw_pod_counters(ctx, "wg-aaa111", packets, bytes, MR_FW_COUNTERS));
	for (int i = 0; i < MR_FW_COUNTERS; i++) {
		ck_assert_uint_eq(packets[i], 0);
		ck_assert_uint_eq(bytes[i], 0);
	}

	/* the only pod: removing it removes the table */
	ck_mr_ok(mr_fw_remove_pod(ctx, "wg-aaa111"));
	ck_assert(!table_exists(ctx, MR_FW_TABLE, NFPROTO_INET));
	ck_mr_err(mr_fw_remove_pod(ctx, "wg-aaa111"), MR_ENOTFOUND);
	ck_mr_err(mr_fw_pod_counters(ctx, "wg-aaa111", packets, bytes, MR_FW_COUNTERS),
		  MR_ENOTFOUND);
	list = (char **)0x1;
	ck_mr_ok(mr_fw_list_pods(ctx, &list, &n));
	ck_assert_ptr_null(list);
	ck_assert_uint_eq(n, 0);
	mr_ctx_free(ctx);
}
END_TEST

/* Removing one of two pods leaves exactly what the other had alone. */
START_TEST(test_remove_leaves_no_trace)
{
	mr_ctx *ctx;
	char *alone, *after;

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	apply(ctx, "wg-bbb222", "10.64.2.1/24", NULL, 51821);
	alone = snapshot(ctx);
	apply(ctx, "wg-aaa111", "10.64.1.1/24", "fd00:64:1::1/64", 51820);
	ck_mr_ok(mr_fw_remove_pod(ctx, "wg-aaa111"));
	after = snapshot(ctx);
	ck_same_snapshot(alone, after);
	ck_assert_ptr_null(strstr(after, "aaa111"));
	free(alone);
	free(after);
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_idempotent)
{
	mr_ctx *ctx;
	char *first, *second;

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	apply(ctx, "wg-aaa111", "10.64.1.1/24", "fd00:64:1::1/64", 51820);
	apply(ctx, "wg-bbb222", "10.64.2.1/24", NULL, 51821);
	first = snapshot(ctx);
	apply(ctx, "wg-aaa111", "10.64.1.1/24", "fd00:64:1::1/64", 51820);
	apply(ctx, "wg-aaa111", "10.64.1.1/24", "fd00:64:1::1/64", 51820);
	second = snapshot(ctx);
	ck_same_snapshot(first, second);
	free(second);
	/* a changed spec and back again: the same ruleset as before */
	apply(ctx, "wg-aaa111", "10.64.8.1/21", NULL, 51830);
	second = snapshot(ctx);
	ck_assert_msg(strcmp(first, second) != 0, "a changed spec left the same ruleset");
	free(second);
	apply(ctx, "wg-aaa111", "10.64.1.1/24", "fd00:64:1::1/64", 51820);
	second = snapshot(ctx);
	ck_same_snapshot(first, second);
	free(first);
	free(second);
	mr_ctx_free(ctx);
}
END_TEST

/* Refused calls, whether by validation or by conflict with the kernel's
 * state, leave the ruleset exactly as it was. */
START_TEST(test_bad_input_changes_nothing)
{
	static const char *const bad_uplink[] = { "bad uplink" };
	mr_ctx *ctx;
	mr_fw_pod *pod;
	char *before, *after;

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	apply(ctx, "wg-aaa111", "10.64.1.1/24", "fd00:64:1::1/64", 51820);
	before = snapshot(ctx);

	pod = spec("wg-bbb222", "10.64.1.200/25", NULL, 0);
	ck_mr_err(mr_fw_apply_pod(ctx, pod, NULL, 0), MR_ECONFLICT);
	ck_assert_msg(strstr(mr_error_message(), "wg-aaa111") != NULL, "%s", mr_error_message());
	mr_fw_pod_free(pod);
	pod = spec("wg-bbb222", "10.64.2.1/24", "fd00:64::1/32", 0);
	ck_mr_err(mr_fw_apply_pod(ctx, pod, NULL, 0), MR_ECONFLICT);
	mr_fw_pod_free(pod);
	pod = spec("wg-bbb222", "10.64.2.1/24", NULL, 51820);
	ck_mr_err(mr_fw_apply_pod(ctx, pod, NULL, 0), MR_ECONFLICT);
	ck_assert_msg(strstr(mr_error_message(), "port 51820") != NULL, "%s", mr_error_message());
	ck_mr_err(mr_fw_apply_pod(ctx, pod, bad_uplink, 1), MR_EINVAL);
	mr_fw_pod_free(pod);
	pod = spec("wg-aaa111", "10.64.2.1/24", NULL, 51820);
	ck_mr_err(mr_fw_apply_pod(ctx, pod, bad_uplink, 1), MR_EINVAL);
	mr_fw_pod_free(pod);
	ck_mr_err(mr_fw_remove_pod(ctx, "wg-ccc333"), MR_ENOTFOUND);

	after = snapshot(ctx);
	ck_same_snapshot(before, after);
	free(before);
	free(after);
	mr_ctx_free(ctx);
}
END_TEST

/* A spec keeps only the subnets that were accepted: refused ones neither
 * reach the kernel nor block another pod later. */
START_TEST(test_spec_after_refusals)
{
	mr_ctx *ctx;
	mr_fw_pod *pod;
	mr_prefix p;

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_fw_pod_new(&pod, "wg-aaa111"));
	p = iface("10.64.1.1/24");
	ck_mr_ok(mr_fw_pod_add_subnet(pod, &p));
	p = iface("10.64.1.2/16"); /* overlaps: refused */
	ck_mr_err(mr_fw_pod_add_subnet(pod, &p), MR_EINVAL);
	p = iface("10.70.0.0/24"); /* network address: refused */
	ck_mr_err(mr_fw_pod_add_subnet(pod, &p), MR_EINVAL);
	ck_mr_ok(mr_fw_apply_pod(ctx, pod, NULL, 0));
	mr_fw_pod_free(pod);

	apply(ctx, "wg-bbb222", "10.64.2.1/24", NULL, 0);   /* inside the refused /16 */
	apply(ctx, "wg-ccc333", "10.70.0.1/24", NULL, 0);   /* the refused network */
	pod = spec("wg-ddd444", "10.64.1.129/25", NULL, 0); /* inside the accepted /24 */
	ck_mr_err(mr_fw_apply_pod(ctx, pod, NULL, 0), MR_ECONFLICT);
	mr_fw_pod_free(pod);
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_list_sorted_and_counters_n)
{
	mr_ctx *ctx;
	char **list;
	size_t n;
	uint64_t packets[MR_FW_COUNTERS] = { 7, 7, 7, 7 };

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	apply(ctx, "wg-ccc333", "10.64.3.1/24", NULL, 0);
	apply(ctx, "wg-aaa111", "10.64.1.1/24", NULL, 0);
	apply(ctx, "wg-bbb222", "10.64.2.1/24", NULL, 0);
	ck_mr_ok(mr_fw_list_pods(ctx, &list, &n));
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(list[0], "wg-aaa111");
	ck_assert_str_eq(list[1], "wg-bbb222");
	ck_assert_str_eq(list[2], "wg-ccc333");
	ck_assert_ptr_null(list[3]);
	mr_free(list);

	/* only the first n entries are written */
	ck_mr_ok(mr_fw_pod_counters(ctx, "wg-bbb222", packets, NULL, 2));
	ck_assert_uint_eq(packets[0], 0);
	ck_assert_uint_eq(packets[1], 0);
	ck_assert_uint_eq(packets[2], 7);
	ck_assert_uint_eq(packets[3], 7);
	ck_mr_ok(mr_fw_pod_counters(ctx, "wg-bbb222", NULL, NULL, 0));
	mr_ctx_free(ctx);
}
END_TEST

/* Another table in our family, with a base chain on the same hook, is
 * neither read nor changed, not even by destroy. */
START_TEST(test_other_table_and_destroy)
{
	char buf[4096];
	mr_ctx *ctx;
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_chain *c = nftnl_chain_alloc();
	uint32_t seq0, seq;
	size_t len;

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_fw_destroy(ctx)); /* nothing to destroy: fine */

	ck_mr_ok(mr__ctx_socket(ctx, NETLINK_NETFILTER, &nl));
	seq0 = mr__ctx_seq(ctx);
	nlh = nftnl_batch_begin(buf, seq0);
	len = NLMSG_ALIGN(nlh->nlmsg_len);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, "other");
	nlh = nftnl_nlmsg_build_hdr(buf + len, NFT_MSG_NEWTABLE, NFPROTO_INET,
				    NLM_F_CREATE | NLM_F_ACK, seq = mr__ctx_seq(ctx));
	nftnl_table_nlmsg_build_payload(nlh, t);
	len += NLMSG_ALIGN(nlh->nlmsg_len);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, "other");
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "forward");
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_FORWARD);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
	nlh = nftnl_nlmsg_build_hdr(buf + len, NFT_MSG_NEWCHAIN, NFPROTO_INET,
				    NLM_F_CREATE | NLM_F_ACK, seq = mr__ctx_seq(ctx));
	nftnl_chain_nlmsg_build_payload(nlh, c);
	len += NLMSG_ALIGN(nlh->nlmsg_len);
	nlh = nftnl_batch_end(buf + len, mr__ctx_seq(ctx));
	len += NLMSG_ALIGN(nlh->nlmsg_len);
	ck_mr_ok(mr__nl_talk_many(ctx, nl, buf, len, seq0, seq, NULL, NULL, "other table"));
	nftnl_table_free(t);
	nftnl_chain_free(c);

	apply(ctx, "wg-aaa111", "10.64.1.1/24", NULL, 51820);
	apply(ctx, "wg-bbb222", "10.64.2.1/24", NULL, 51821);
	ck_mr_ok(mr_fw_remove_pod(ctx, "wg-aaa111"));
	ck_assert(table_exists(ctx, MR_FW_TABLE, NFPROTO_INET));
	ck_mr_ok(mr_fw_destroy(ctx));
	ck_assert(!table_exists(ctx, MR_FW_TABLE, NFPROTO_INET));
	ck_assert(table_exists(ctx, "other", NFPROTO_INET));
	ck_mr_ok(mr_fw_destroy(ctx));
	ck_mr_err(mr_fw_remove_pod(ctx, "wg-bbb222"), MR_ENOTFOUND);
	mr_ctx_free(ctx);
}
END_TEST

/* Many pods side by side (adjacent /24s, so interval ends and starts share
 * keys), then every other one removed: the rest stay complete. */
START_TEST(test_many_pods)
{
	enum { PODS = 64 };
	char name[16], gw[32], *snap, **list;
	mr_ctx *ctx;
	size_t n;

	enter_private_netns();
	ck_mr_ok(mr_ctx_new(&ctx));
	for (int i = 0; i < PODS; i++) {
		snprintf(name, sizeof(name), "wg-%06x", i);
		snprintf(gw, sizeof(gw), "10.64.%d.1/24", i);
		apply(ctx, name, gw, NULL, (uint32_t)(51820 + i));
	}
	for (int i = 0; i < PODS; i += 2) {
		snprintf(name, sizeof(name), "wg-%06x", i);
		ck_mr_ok(mr_fw_remove_pod(ctx, name));
	}
	ck_mr_ok(mr_fw_list_pods(ctx, &list, &n));
	ck_assert_uint_eq(n, PODS / 2);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "wg-%06zx", 2 * i + 1);
		ck_assert_str_eq(list[i], name);
	}
	mr_free(list);
	snap = snapshot(ctx);
	ck_assert_uint_eq(count_lines(snap, "chain "), 3 + 3 * PODS / 2);
	ck_assert_uint_eq(count_lines(snap, "object "), 4 * PODS / 2);
	free(snap);
	/* a removed pod's subnet and port are free again */
	apply(ctx, "wg-new000", "10.64.0.1/24", NULL, 51820);
	mr_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fw");
	TCase *tc = tcase_create("spec");
	TCase *priv = tcase_create("netns");

	tcase_add_loop_test(tc, test_pod_new, 0, (int)MR_ARRAY_SIZE(names));
	tcase_add_loop_test(tc, test_add_subnet, 0, (int)MR_ARRAY_SIZE(subnets));
	tcase_add_test(tc, test_add_subnet_limits);
	tcase_add_loop_test(tc, test_listen_port, 0, (int)MR_ARRAY_SIZE(ports));
	tcase_add_loop_test(tc, test_options, 0, (int)MR_ARRAY_SIZE(options));
	tcase_add_test(tc, test_counter_names);
	tcase_add_loop_test(tc, test_apply_bad_uplinks, 0, (int)MR_ARRAY_SIZE(bad_uplinks));
	tcase_add_test(tc, test_null_arguments);
	suite_add_tcase(s, tc);
	if (geteuid() == 0) {
		tcase_set_timeout(priv, 60);
		tcase_add_test(priv, test_roundtrip);
		tcase_add_test(priv, test_remove_leaves_no_trace);
		tcase_add_test(priv, test_idempotent);
		tcase_add_test(priv, test_bad_input_changes_nothing);
		tcase_add_test(priv, test_spec_after_refusals);
		tcase_add_test(priv, test_list_sorted_and_counters_n);
		tcase_add_test(priv, test_other_table_and_destroy);
		tcase_add_test(priv, test_many_pods);
		suite_add_tcase(s, priv);
	} else {
		fprintf(stderr, "check_fw: NOT ROOT: the nftables tests in private namespaces "
				"are not run (CI runs them as root)\n");
	}
	return mr_test_run_suite(s);
}

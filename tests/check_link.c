/* SPDX-License-Identifier: MIT */
/*
 * The link module. Argument validation runs anywhere; everything that
 * touches the kernel runs as root in a private network namespace per test
 * (Check forks each test), with links created here through rtnetlink
 * ("dummy" when the kernel has it, else veth pairs) and the results read
 * back through independent paths: ioctl(SIOCGIFMTU/SIOCGIFFLAGS),
 * if_nametoindex(), glibc's getifaddrs() and, for routes, ip(8).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <myrelay/myrelay.h>
#include "../libmyrelay/nl.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static mr_prefix P(const char *text)
{
	mr_prefix p;

	ck_assert_msg(mr_cidr_parse_interface(&p, text) == 0, "bad test prefix %s: %s", text,
		      mr_error_message());
	return p;
}

static mr_prefix RAW(int family, int len, const char *addr)
{
	mr_prefix p;

	ck_assert_int_eq(mr_cidr_parse_address(&p, addr), 0);
	p.family = (uint8_t)family;
	p.len = (uint8_t)len;
	return p;
}

static mr_ctx *new_ctx(void)
{
	mr_ctx *ctx;

	ck_mr_ok(mr_ctx_new(&ctx));
	return ctx;
}

struct log_rec {
	int infos;
	char text[4096];
};

static void log_cb(int level, const char *message, void *userdata)
{
	struct log_rec *r = userdata;
	size_t n = strlen(r->text);

	if (level == MR_LOG_INFO)
		r->infos++;
	snprintf(r->text + n, sizeof(r->text) - n, "%s\n", message);
}

static void enter_private_netns(void)
{
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
}

/* Create a link of a kind the test kernel has, through rtnetlink: "dummy"
 * if possible, else a veth pair whose other end is "p" + name (the peer
 * stays down, so the link has no carrier). Returns the kind used. */
static const char *make_link(mr_ctx *ctx, const char *name)
{
	static int have_dummy = -1;
	char buf[1024], peer[IFNAMSIZ + 1];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct nlattr *info, *data, *pnest;
	int rc;

	ck_mr_ok(mr__ctx_socket(ctx, NETLINK_ROUTE, &nl));
	for (int attempt = 0; attempt < 2; attempt++) {
		bool dummy = have_dummy != 0 && attempt == 0;

		if (attempt == 1 && have_dummy == 1)
			break;
		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = RTM_NEWLINK;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
		ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_family = AF_UNSPEC;
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
		info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, dummy ? "dummy" : "veth");
		if (!dummy) {
			snprintf(peer, sizeof(peer), "p%s", name);
			data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
			pnest = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
			/* the peer's attributes follow its own ifinfomsg */
			memset(mnl_nlmsg_get_payload_tail(nlh), 0, sizeof(struct ifinfomsg));
			nlh->nlmsg_len += MNL_ALIGN(sizeof(struct ifinfomsg));
			mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
			mnl_attr_nest_end(nlh, pnest);
			mnl_attr_nest_end(nlh, data);
		}
		mnl_attr_nest_end(nlh, info);
		rc = mr__nl_talk(ctx, nl, nlh, NULL, NULL, NULL, "test: create link");
		if (dummy && rc == MR_ENOTSUP) {
			if (have_dummy < 0)
				fprintf(stderr,
					"check_link: no \"dummy\" link kind in this kernel, "
					"using veth pairs\n");
			have_dummy = 0;
			continue;
		}
		ck_assert_msg(rc == 0, "create %s: %s", name, mr_error_message());
		if (dummy)
			have_dummy = 1;
		return dummy ? "dummy" : "veth";
	}
	ck_abort_msg("unreachable");
	return NULL;
}

static int ioctl_ifreq(unsigned long req, const char *name, struct ifreq *ifr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc;

	ck_assert_int_ge(fd, 0);
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
	rc = ioctl(fd, req, ifr);
	close(fd);
	return rc;
}

static int kernel_mtu(const char *name)
{
	struct ifreq ifr;

	ck_assert_msg(ioctl_ifreq(SIOCGIFMTU, name, &ifr) == 0, "SIOCGIFMTU %s: %s", name,
		      strerror(errno));
	return ifr.ifr_mtu;
}

static bool kernel_up(const char *name)
{
	struct ifreq ifr;

	ck_assert_msg(ioctl_ifreq(SIOCGIFFLAGS, name, &ifr) == 0, "SIOCGIFFLAGS %s: %s", name,
		      strerror(errno));
	return (ifr.ifr_flags & IFF_UP) != 0;
}

static void set_kernel_up(const char *name)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ck_assert_int_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_msg(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0, "SIOCSIFFLAGS: %s", strerror(errno));
	close(fd);
}

static int prefix_len_of(const struct sockaddr *mask)
{
	const uint8_t *b;
	size_t n;
	int len = 0;

	if (mask->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)mask)->sin_addr;
		n = 4;
	} else {
		b = (const uint8_t *)&((const struct sockaddr_in6 *)mask)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		len += __builtin_popcount(b[i]);
	return len;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The addresses of a link as glibc's getifaddrs() sees them, "addr/len"
 * sorted as strings, one per line; link-local IPv6 ones only when asked. */
static void getifaddrs_text(const char *name, bool link_local, char *out, size_t size)
{
	struct ifaddrs *ifa, *it;
	char *lines[64];
	size_t n = 0;

	out[0] = '\0';
	ck_assert_int_eq(getifaddrs(&ifa), 0);
	for (it = ifa; it; it = it->ifa_next) {
		char addr[INET6_ADDRSTRLEN], line[80];
		const void *a;
		int fam;

		if (!it->ifa_addr || strcmp(it->ifa_name, name))
			continue;
		fam = it->ifa_addr->sa_family;
		if (fam == AF_INET)
			a = &((struct sockaddr_in *)it->ifa_addr)->sin_addr;
		else if (fam == AF_INET6)
			a = &((struct sockaddr_in6 *)it->ifa_addr)->sin6_addr;
		else
			continue;
		inet_ntop(fam, a, addr, sizeof(addr));
		if (fam == AF_INET6 && !strncmp(addr, "fe80:", 5) && !link_local)
			continue;
		snprintf(line, sizeof(line), "%s/%d", addr, prefix_len_of(it->ifa_netmask));
		ck_assert_uint_lt(n, MR_ARRAY_SIZE(lines));
		lines[n++] = strdup(line);
	}
	freeifaddrs(ifa);
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(out);

		snprintf(out + len, size - len, "%s\n", lines[i]);
		free(lines[i]);
	}
}

/* The library's view: mr_link_get_addresses() as text lines, in its order. */
static void lib_addrs_text(mr_ctx *ctx, const char *name, char *out, size_t size)
{
	mr_prefix *addrs = NULL;
	size_t n = 99;

	out[0] = '\0';
	ck_mr_ok(mr_link_get_addresses(ctx, name, &addrs, &n));
	ck_assert(n == 0 ? addrs == NULL : addrs != NULL);
	for (size_t i = 0; i < n; i++) {
		char text[MR_CIDR_STRLEN];
		size_t len = strlen(out);

		ck_mr_ok(mr_cidr_format(text, sizeof(text), &addrs[i]));
		snprintf(out + len, size - len, "%s\n", text);
	}
	mr_free(addrs);
}

/* Same lines sorted as strings (for comparison with getifaddrs_text()). */
static void sort_lines(char *text)
{
	char copy[4096], *lines[64], *save = NULL, *l;
	size_t n = 0;

	snprintf(copy, sizeof(copy), "%s", text);
	for (l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	qsort(lines, n, sizeof(*lines), cmp_str);
	text[0] = '\0';
	for (size_t i = 0; i < n; i++)
		sprintf(text + strlen(text), "%s\n", lines[i]);
}

/* Set addresses and check the counts, the library's read-back (exact order)
 * and glibc's independent view. */
static void set_and_check(mr_ctx *ctx, const char *name, const char *const *want, size_t n,
			  size_t want_added, size_t want_removed, const char *want_text)
{
	mr_prefix addrs[16];
	size_t added = 99, removed = 99;
	char lib[2048], glibc[2048];

	for (size_t i = 0; i < n; i++)
		addrs[i] = P(want[i]);
	ck_mr_ok(mr_link_set_addresses(ctx, name, n ? addrs : NULL, n, &added, &removed));
	ck_assert_msg(added == want_added && removed == want_removed,
		      "added %zu removed %zu, wanted %zu and %zu", added, removed, want_added,
		      want_removed);
	lib_addrs_text(ctx, name, lib, sizeof(lib));
	ck_assert_str_eq(lib, want_text);
	sort_lines(lib);
	getifaddrs_text(name, false, glibc, sizeof(glibc));
	ck_assert_str_eq(glibc, lib);
}

/* A fingerprint of everything the module can change on a link. */
static void fingerprint(mr_ctx *ctx, const char *name, char *out, size_t size)
{
	char addrs[2048];

	getifaddrs_text(name, true, addrs, sizeof(addrs));
	snprintf(out, size, "mtu %d up %d index %u\n%s", kernel_mtu(name), kernel_up(name),
		 if_nametoindex(name), addrs);
	(void)ctx;
}

static bool have_ip(void)
{
	return system("command -v ip >/dev/null 2>&1") == 0;
}

static void sh(const char *cmd)
{
	int rc = system(cmd);

	ck_assert_msg(rc == 0, "command failed (%d): %s", rc, cmd);
}

/* ------------------------------------------------------------------------ */
/* Validation (no privileges needed: refused before any netlink traffic)     */
/* ------------------------------------------------------------------------ */

static const char *const bad_names[] = {
	NULL, "",	"0123456789abcdef", "a b",    "../x",	"a/b",
	".",  "..", "wg-\xc3\xa9",	    "eth0:1", "tab\tx", "x\n",
};

/* Every name-taking function refuses the name with MR_EINVAL, a detail, and
 * without writing its outputs. */
START_TEST(test_bad_names)
{
	const char *name = bad_names[_i];
	mr_ctx *ctx = new_ctx();
	mr_link_list *list = (mr_link_list *)&ctx; /* sentinel: must stay untouched */
	mr_prefix one = P("10.0.0.1/24"), *addrs = &one;
	size_t n = 7, added = 7, removed = 7;
	bool b = true;

	ck_mr_err(mr_link_create_wireguard(ctx, name), MR_EINVAL);
	ck_assert_msg(strstr(mr_error_message(), "create WireGuard link: interface name") ==
			  mr_error_message(),
		      "%s", mr_error_message());
	ck_mr_err(mr_link_delete(ctx, name), MR_EINVAL);
	ck_mr_err(mr_link_exists(ctx, name, &b), MR_EINVAL);
	ck_assert(b);
	ck_mr_err(mr_link_get(ctx, name, &list), MR_EINVAL);
	ck_assert_ptr_eq(list, (mr_link_list *)&ctx);
	ck_mr_err(mr_link_set_mtu(ctx, name, MR_LINK_MTU_DEFAULT), MR_EINVAL);
	ck_mr_err(mr_link_set_up(ctx, name, true), MR_EINVAL);
	ck_mr_err(mr_link_get_addresses(ctx, name, &addrs, &n), MR_EINVAL);
	ck_assert(addrs == &one && n == 7);
	ck_mr_err(mr_link_set_addresses(ctx, name, &one, 1, &added, &removed), MR_EINVAL);
	ck_assert(added == 7 && removed == 7);
	/* The name itself is never echoed in the detail of a refused name. */
	if (name && strlen(name) > 2)
		ck_assert_msg(strstr(mr_error_message(), name) == NULL, "%s", mr_error_message());
	mr_ctx_free(ctx);
}
END_TEST

static const uint32_t bad_mtus[] = {0, 68, 576, 1279, 65536, 100000, UINT32_MAX};

START_TEST(test_bad_mtu)
{
	mr_ctx *ctx = new_ctx();

	ck_mr_err(mr_link_set_mtu(ctx, "mr-none0", bad_mtus[_i]), MR_EINVAL);
	ck_assert_msg(strstr(mr_error_message(), "1280..65535") != NULL, "%s", mr_error_message());
	mr_ctx_free(ctx);
}
END_TEST

/* Address lists that must be refused as a whole, and a word the detail must
 * contain. The first entries are good, so that "validate everything first"
 * is what is tested. */
static const struct {
	int n;
	struct {
		int family, len;
		const char *addr;
	} a[3];
	const char *detail;
} bad_addr_lists[] = {
	{2, {{4, 24, "10.0.0.1"}, {0, 24, "10.0.0.2"}}, "addrs[1]: family 0"},
	{2, {{4, 24, "10.0.0.1"}, {5, 24, "10.0.0.2"}}, "addrs[1]: family 5"},
	{2, {{4, 24, "10.0.0.1"}, {4, 33, "10.0.0.2"}}, "prefix length 33"},
	{2, {{6, 64, "fd00::1"}, {6, 129, "fd00::2"}}, "prefix length 129"},
	/* a family/length mismatch: an IPv6 length on an IPv4 family */
	{2, {{4, 24, "10.0.0.1"}, {4, 64, "fd00::2"}}, "too long for IPv4"},
	{1, {{4, 8, "0.0.0.0"}}, "unspecified"},
	{1, {{6, 64, "::"}}, "unspecified"},
	{1, {{4, 8, "127.0.0.1"}}, "loopback"},
	{1, {{6, 128, "::1"}}, "loopback"},
	{1, {{4, 4, "224.0.0.1"}}, "multicast"},
	{1, {{4, 24, "239.1.2.3"}}, "multicast"},
	{1, {{6, 64, "ff02::1"}}, "multicast"},
	{1, {{4, 32, "255.255.255.255"}}, "broadcast"},
	{2, {{4, 24, "10.0.0.1"}, {6, 64, "fe80::1"}}, "link-local"},
	{1, {{6, 10, "febf::1"}}, "link-local"},
	{3,
	 {{4, 24, "10.0.0.1"}, {6, 64, "fd00::1"}, {4, 24, "10.0.0.1"}},
	 "addrs[2]: 10.0.0.1/24 repeats the address of addrs[0]"},
	{2, {{4, 24, "10.0.0.1"}, {4, 16, "10.0.0.1"}}, "repeats"},
	{2, {{6, 64, "fd00::1"}, {6, 48, "fd00::1"}}, "repeats"},
};

static size_t build_list(mr_prefix *out, int i)
{
	for (int j = 0; j < bad_addr_lists[i].n; j++)
		out[j] = RAW(bad_addr_lists[i].a[j].family, bad_addr_lists[i].a[j].len,
			     bad_addr_lists[i].a[j].addr);
	return (size_t)bad_addr_lists[i].n;
}

START_TEST(test_bad_addresses)
{
	mr_ctx *ctx = new_ctx();
	mr_prefix addrs[3];
	size_t n = build_list(addrs, _i), added = 7, removed = 7;

	/* Refused before the link is even looked up: it does not exist. */
	ck_mr_err(mr_link_set_addresses(ctx, "mr-none0", addrs, n, &added, &removed), MR_EINVAL);
	ck_assert_msg(strstr(mr_error_message(), bad_addr_lists[_i].detail) != NULL,
		      "\"%s\" lacks \"%s\"", mr_error_message(), bad_addr_lists[_i].detail);
	ck_assert(added == 7 && removed == 7);
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_bad_arguments)
{
	mr_ctx *ctx = new_ctx();
	mr_prefix one = P("10.0.0.1/24"), many[MR_LINK_ADDRESSES_MAX + 1], *addrs;
	mr_link_list *list;
	size_t n;
	bool b;

	ck_mr_err(mr_link_create_wireguard(NULL, "wg-x"), MR_EINVAL);
	ck_mr_err(mr_link_delete(NULL, "wg-x"), MR_EINVAL);
	ck_mr_err(mr_link_exists(NULL, "wg-x", &b), MR_EINVAL);
	ck_mr_err(mr_link_exists(ctx, "wg-x", NULL), MR_EINVAL);
	ck_mr_err(mr_link_dump(NULL, NULL, &list), MR_EINVAL);
	ck_mr_err(mr_link_dump(ctx, NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_link_dump(ctx, "a b", &list), MR_EINVAL);
	ck_assert_msg(strstr(mr_error_message(), "list links: prefix: ") == mr_error_message(),
		      "%s", mr_error_message());
	ck_mr_err(mr_link_dump(ctx, "0123456789abcdef", &list), MR_EINVAL);
	ck_mr_err(mr_link_dump(ctx, "x/", &list), MR_EINVAL);
	ck_mr_err(mr_link_get(NULL, "wg-x", &list), MR_EINVAL);
	ck_mr_err(mr_link_get(ctx, "wg-x", NULL), MR_EINVAL);
	ck_mr_err(mr_link_set_mtu(NULL, "wg-x", 1420), MR_EINVAL);
	ck_mr_err(mr_link_set_up(NULL, "wg-x", true), MR_EINVAL);
	ck_mr_err(mr_link_get_addresses(NULL, "wg-x", &addrs, &n), MR_EINVAL);
	ck_mr_err(mr_link_get_addresses(ctx, "wg-x", NULL, &n), MR_EINVAL);
	ck_mr_err(mr_link_get_addresses(ctx, "wg-x", &addrs, NULL), MR_EINVAL);
	ck_mr_err(mr_link_set_addresses(NULL, "wg-x", &one, 1, NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_link_set_addresses(ctx, "wg-x", NULL, 1, NULL, NULL), MR_EINVAL);
	for (size_t i = 0; i < MR_ARRAY_SIZE(many); i++) {
		many[i] = P("10.0.0.1/16");
		many[i].addr[2] = (uint8_t)(i >> 8);
		many[i].addr[3] = (uint8_t)(i + 1);
	}
	ck_mr_err(mr_link_set_addresses(ctx, "wg-x", many, MR_ARRAY_SIZE(many), NULL, NULL),
		  MR_EINVAL);
	ck_assert_msg(strstr(mr_error_message(), "at most 256") != NULL, "%s", mr_error_message());
	ck_mr_err(mr_link_default_route_ifaces(NULL, 0, &list), MR_EINVAL);
	ck_mr_err(mr_link_default_route_ifaces(ctx, 0, NULL), MR_EINVAL);
	ck_mr_err(mr_link_default_route_ifaces(ctx, 5, &list), MR_EINVAL);
	ck_mr_err(mr_link_default_route_ifaces(ctx, -1, &list), MR_EINVAL);
	ck_mr_err(mr_link_default_route_ifaces(ctx, 2 /* AF_INET */, &list), MR_EINVAL);

	/* list accessors */
	mr_link_list_free(NULL);
	ck_assert_uint_eq(mr_link_list_count(NULL), 0);
	ck_assert_ptr_null(mr_link_list_name(NULL, 0));
	ck_mr_err(mr_link_list_info(NULL, 0, NULL, NULL, NULL, NULL), MR_EINVAL);
	mr_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* In a private network namespace (root)                                     */
/* ------------------------------------------------------------------------ */

START_TEST(test_list_get_exists)
{
	mr_ctx *ctx;
	mr_link_list *list = NULL;
	const char *kind, *made;
	uint32_t ifindex, mtu;
	bool up, b;

	enter_private_netns();
	ctx = new_ctx();
	made = make_link(ctx, "mrt-b");
	make_link(ctx, "mrt-a");
	make_link(ctx, "other0");
	set_kernel_up("mrt-a");

	/* by prefix, sorted by name, with details matching the kernel's */
	ck_mr_ok(mr_link_dump(ctx, "mrt-", &list));
	ck_assert_uint_eq(mr_link_list_count(list), 2);
	ck_assert_str_eq(mr_link_list_name(list, 0), "mrt-a");
	ck_assert_str_eq(mr_link_list_name(list, 1), "mrt-b");
	for (size_t i = 0; i < 2; i++) {
		const char *name = mr_link_list_name(list, i);

		ck_mr_ok(mr_link_list_info(list, i, &ifindex, &mtu, &up, &kind));
		ck_assert_uint_eq(ifindex, if_nametoindex(name));
		ck_assert_int_eq((int)mtu, kernel_mtu(name));
		ck_assert_int_eq(up, kernel_up(name));
		ck_assert_int_eq(up, i == 0);
		ck_assert_str_eq(kind, made);
	}
	ck_assert_ptr_null(mr_link_list_name(list, 2));
	ifindex = 77;
	ck_mr_err(mr_link_list_info(list, 2, &ifindex, NULL, NULL, NULL), MR_EINVAL);
	ck_assert_uint_eq(ifindex, 77);
	ck_mr_ok(mr_link_list_info(list, 0, NULL, NULL, NULL, NULL));
	mr_link_list_free(list);

	/* everything: lo (no kind) first in strcmp order after the capitals */
	ck_mr_ok(mr_link_dump(ctx, NULL, &list));
	ck_assert_uint_eq(mr_link_list_count(list), !strcmp(made, "veth") ? 7 : 4);
	for (size_t i = 1; i < mr_link_list_count(list); i++)
		ck_assert_int_lt(strcmp(mr_link_list_name(list, i - 1), mr_link_list_name(list, i)),
				 0);
	mr_link_list_free(list);
	ck_mr_ok(mr_link_dump(ctx, "", &list));
	ck_assert_uint_eq(mr_link_list_count(list), !strcmp(made, "veth") ? 7 : 4);
	mr_link_list_free(list);
	ck_mr_ok(mr_link_dump(ctx, "lo", &list));
	ck_assert_uint_eq(mr_link_list_count(list), 1);
	ck_mr_ok(mr_link_list_info(list, 0, &ifindex, &mtu, &up, &kind));
	ck_assert_str_eq(kind, "");
	ck_assert_uint_eq(ifindex, 1);
	mr_link_list_free(list);
	ck_mr_ok(mr_link_dump(ctx, "nomatch", &list));
	ck_assert_uint_eq(mr_link_list_count(list), 0);
	mr_link_list_free(list);

	/* one link */
	ck_mr_ok(mr_link_get(ctx, "other0", &list));
	ck_assert_uint_eq(mr_link_list_count(list), 1);
	ck_assert_str_eq(mr_link_list_name(list, 0), "other0");
	ck_mr_ok(mr_link_list_info(list, 0, &ifindex, NULL, NULL, NULL));
	ck_assert_uint_eq(ifindex, if_nametoindex("other0"));
	mr_link_list_free(list);
	list = NULL;
	ck_mr_err(mr_link_get(ctx, "mrt-c", &list), MR_ENOTFOUND);
	ck_assert_msg(strstr(mr_error_message(), "no link named \"mrt-c\"") != NULL, "%s",
		      mr_error_message());
	ck_assert_ptr_null(list);

	ck_mr_ok(mr_link_exists(ctx, "mrt-a", &b));
	ck_assert(b);
	ck_mr_ok(mr_link_exists(ctx, "mrt-c", &b));
	ck_assert(!b);
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_mtu_and_up)
{
	mr_ctx *ctx;
	struct log_rec rec = {0};

	enter_private_netns();
	ctx = new_ctx();
	ck_mr_ok(mr_ctx_set_log(ctx, log_cb, MR_LOG_INFO, &rec));
	make_link(ctx, "mrt0");

	ck_mr_ok(mr_link_set_mtu(ctx, "mrt0", MR_LINK_MTU_DEFAULT));
	ck_assert_int_eq(kernel_mtu("mrt0"), 1420);
	ck_assert_msg(strstr(rec.text, "link mrt0: MTU 1500 -> 1420") != NULL, "%s", rec.text);
	ck_mr_ok(mr_link_set_mtu(ctx, "mrt0", MR_LINK_MTU_MIN));
	ck_assert_int_eq(kernel_mtu("mrt0"), 1280);
	ck_mr_ok(mr_link_set_mtu(ctx, "mrt0", 9000));
	ck_assert_int_eq(kernel_mtu("mrt0"), 9000);
	/* the same value again is no change and logs nothing at INFO */
	rec.infos = 0;
	ck_mr_ok(mr_link_set_mtu(ctx, "mrt0", 9000));
	ck_assert_int_eq(rec.infos, 0);
	/* refused values change nothing */
	for (size_t i = 0; i < MR_ARRAY_SIZE(bad_mtus); i++) {
		ck_mr_err(mr_link_set_mtu(ctx, "mrt0", bad_mtus[i]), MR_EINVAL);
		ck_assert_int_eq(kernel_mtu("mrt0"), 9000);
	}
	ck_mr_err(mr_link_set_mtu(ctx, "mrt-none", 1420), MR_ENOTFOUND);

	ck_assert(!kernel_up("mrt0"));
	ck_mr_ok(mr_link_set_up(ctx, "mrt0", true));
	ck_assert(kernel_up("mrt0"));
	ck_assert_msg(strstr(rec.text, "link mrt0: up") != NULL, "%s", rec.text);
	rec.infos = 0;
	ck_mr_ok(mr_link_set_up(ctx, "mrt0", true));
	ck_assert(kernel_up("mrt0"));
	ck_assert_int_eq(rec.infos, 0);
	ck_mr_ok(mr_link_set_up(ctx, "mrt0", false));
	ck_assert(!kernel_up("mrt0"));
	ck_mr_err(mr_link_set_up(ctx, "mrt-none", true), MR_ENOTFOUND);
	/* MTU and state did not disturb each other */
	ck_assert_int_eq(kernel_mtu("mrt0"), 9000);
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_addresses)
{
	mr_ctx *ctx;
	struct log_rec rec = {0};
	char before[2048], after[2048];
	const char *v4v6[] = {"fd00:1::1/64", "10.64.1.1/24"};
	const char *two_v4[] = {"10.64.2.1/24", "10.64.1.1/24"};
	const char *wider[] = {"10.64.1.1/16", "10.64.2.1/24"};
	const char *v6_other_len[] = {"fd00:1::1/48"};
	const char *mixed[] = {"fd00:2::1/64", "192.168.7.9/30", "fd00:1::1/48", "10.1.2.3/8"};

	enter_private_netns();
	ctx = new_ctx();
	ck_mr_ok(mr_ctx_set_log(ctx, log_cb, MR_LOG_INFO, &rec));
	make_link(ctx, "mrt0");
	/* up, and a peer up too for veth, so that the kernel gives the link
	 * its own IPv6 link-local address, which must be left alone */
	set_kernel_up("mrt0");
	if (if_nametoindex("pmrt0"))
		set_kernel_up("pmrt0");

	ck_mr_ok(mr_link_get_addresses(ctx, "mrt0", &(mr_prefix *){NULL}, &(size_t){0}));
	set_and_check(ctx, "mrt0", v4v6, 2, 2, 0, "10.64.1.1/24\nfd00:1::1/64\n");
	ck_assert_msg(strstr(rec.text, "link mrt0: added address 10.64.1.1/24\n") != NULL, "%s",
		      rec.text);

	/* wait for the link-local address (addrconf is quick but not synchronous) */
	for (int i = 0; i < 200; i++) {
		getifaddrs_text("mrt0", true, before, sizeof(before));
		if (strstr(before, "fe80:"))
			break;
		usleep(10000);
	}
	ck_assert_msg(strstr(before, "fe80:") != NULL, "no link-local address: %s", before);

	/* replace: one kept, one removed, one added */
	rec.infos = 0;
	rec.text[0] = '\0';
	set_and_check(ctx, "mrt0", two_v4, 2, 1, 1, "10.64.1.1/24\n10.64.2.1/24\n");
	ck_assert_int_eq(rec.infos, 2);
	ck_assert_msg(strstr(rec.text, "removed address fd00:1::1/64") != NULL, "%s", rec.text);
	ck_assert_msg(strstr(rec.text, "added address 10.64.2.1/24") != NULL, "%s", rec.text);
	ck_assert_msg(strstr(rec.text, "10.64.1.1/24") == NULL, "touched a kept address: %s",
		      rec.text);
	/* the same set again: nothing to do */
	set_and_check(ctx, "mrt0", two_v4, 2, 0, 0, "10.64.1.1/24\n10.64.2.1/24\n");
	/* same address, other length: replaced */
	set_and_check(ctx, "mrt0", wider, 2, 1, 1, "10.64.1.1/16\n10.64.2.1/24\n");
	set_and_check(ctx, "mrt0", v4v6, 2, 2, 2, "10.64.1.1/24\nfd00:1::1/64\n");
	set_and_check(ctx, "mrt0", v6_other_len, 1, 1, 2, "fd00:1::1/48\n");
	set_and_check(ctx, "mrt0", mixed, 4, 3, 0,
		      "10.1.2.3/8\n192.168.7.9/30\nfd00:1::1/48\nfd00:2::1/64\n");

	/* bad lists change nothing at all, link-local included */
	getifaddrs_text("mrt0", true, before, sizeof(before));
	for (size_t i = 0; i < MR_ARRAY_SIZE(bad_addr_lists); i++) {
		mr_prefix addrs[3];
		size_t n = build_list(addrs, (int)i);

		ck_mr_err(mr_link_set_addresses(ctx, "mrt0", addrs, n, NULL, NULL), MR_EINVAL);
	}
	getifaddrs_text("mrt0", true, after, sizeof(after));
	ck_assert_str_eq(after, before);

	/* empty set: every address goes except the link-local one */
	set_and_check(ctx, "mrt0", NULL, 0, 0, 4, "");
	getifaddrs_text("mrt0", true, after, sizeof(after));
	ck_assert_msg(strstr(after, "fe80:") != NULL &&
			  strchr(after, '\n') == after + strlen(after) - 1,
		      "expected only link-local: %s", after);

	ck_mr_err(mr_link_set_addresses(ctx, "mrt-none", NULL, 0, NULL, NULL), MR_ENOTFOUND);
	ck_mr_err(mr_link_get_addresses(ctx, "mrt-none", &(mr_prefix *){NULL}, &(size_t){0}),
		  MR_ENOTFOUND);
	mr_ctx_free(ctx);
}
END_TEST

/* Deleting an IPv4 primary address takes its secondaries with it unless
 * promote_secondaries is set; a wanted secondary must survive either way. */
START_TEST(test_secondaries)
{
	int promote = _i;
	mr_ctx *ctx;
	char path[128];
	const char *both[] = {"10.9.0.1/24", "10.9.0.2/24", "10.9.0.3/24"};
	const char *second[] = {"10.9.0.2/24", "10.9.0.3/24"};
	FILE *f;

	enter_private_netns();
	ctx = new_ctx();
	make_link(ctx, "mrt0");
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/mrt0/promote_secondaries");
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fprintf(f, "%d\n", promote);
	fclose(f);
	set_and_check(ctx, "mrt0", both, 3, 3, 0, "10.9.0.1/24\n10.9.0.2/24\n10.9.0.3/24\n");
	/* without promotion the two secondaries vanish with the primary and
	 * are added back */
	set_and_check(ctx, "mrt0", second, 2, promote ? 0 : 2, 1, "10.9.0.2/24\n10.9.0.3/24\n");
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_bad_input_changes_nothing)
{
	mr_ctx *ctx;
	char before[4096], after[4096];
	const char *addrs[] = {"10.5.0.1/24", "fd05::1/64"};

	enter_private_netns();
	ctx = new_ctx();
	make_link(ctx, "mrt0");
	set_and_check(ctx, "mrt0", addrs, 2, 2, 0, "10.5.0.1/24\nfd05::1/64\n");
	ck_mr_ok(mr_link_set_mtu(ctx, "mrt0", 1420));
	fingerprint(ctx, "mrt0", before, sizeof(before));
	for (size_t i = 0; i < MR_ARRAY_SIZE(bad_mtus); i++)
		ck_mr_err(mr_link_set_mtu(ctx, "mrt0", bad_mtus[i]), MR_EINVAL);
	for (size_t i = 0; i < MR_ARRAY_SIZE(bad_addr_lists); i++) {
		mr_prefix list[3];
		size_t n = build_list(list, (int)i);

		ck_mr_err(mr_link_set_addresses(ctx, "mrt0", list, n, NULL, NULL), MR_EINVAL);
	}
	for (size_t i = 0; i < MR_ARRAY_SIZE(bad_names); i++) {
		ck_mr_err(mr_link_delete(ctx, bad_names[i]), MR_EINVAL);
		ck_mr_err(mr_link_set_up(ctx, bad_names[i], true), MR_EINVAL);
		ck_mr_err(mr_link_create_wireguard(ctx, bad_names[i]), MR_EINVAL);
	}
	fingerprint(ctx, "mrt0", after, sizeof(after));
	ck_assert_str_eq(after, before);
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_create_wireguard_and_delete)
{
	mr_ctx *ctx;
	mr_link_list *list;
	const char *kind;
	uint32_t mtu;
	bool b, module_before = access("/sys/module/wireguard", F_OK) == 0;
	int rc;

	enter_private_netns();
	ctx = new_ctx();
	make_link(ctx, "mrt0");
	/* an existing name is reported as such whatever the kernel has */
	ck_mr_err(mr_link_create_wireguard(ctx, "mrt0"), MR_EEXIST);
	ck_assert_msg(strstr(mr_error_message(), "already exists") != NULL, "%s",
		      mr_error_message());

	rc = mr_link_create_wireguard(ctx, "mrt-wg0");
	if (!module_before && rc != 0) {
		/* no module here: a clear refusal, and no link left behind */
		ck_assert_msg(rc == MR_ENOTSUP, "rc %d: %s", rc, mr_error_message());
		ck_assert_msg(strstr(mr_error_message(), "no WireGuard module") != NULL &&
				  strstr(mr_error_message(), "userspace") != NULL,
			      "%s", mr_error_message());
		ck_mr_ok(mr_link_exists(ctx, "mrt-wg0", &b));
		ck_assert(!b);
	} else {
		/* the module is (or was just autoloaded and now is) present */
		ck_assert_msg(rc == 0, "create with the module present: %s", mr_error_message());
		ck_assert(access("/sys/module/wireguard", F_OK) == 0);
		ck_mr_ok(mr_link_get(ctx, "mrt-wg0", &list));
		ck_mr_ok(mr_link_list_info(list, 0, NULL, &mtu, &b, &kind));
		ck_assert_str_eq(kind, "wireguard");
		ck_assert_uint_eq(mtu, MR_LINK_MTU_DEFAULT);
		ck_assert(!b);
		mr_link_list_free(list);
		ck_mr_err(mr_link_create_wireguard(ctx, "mrt-wg0"), MR_EEXIST);
		ck_mr_ok(mr_link_delete(ctx, "mrt-wg0"));
	}

	ck_mr_ok(mr_link_delete(ctx, "mrt0"));
	ck_assert_uint_eq(if_nametoindex("mrt0"), 0);
	ck_mr_ok(mr_link_exists(ctx, "mrt0", &b));
	ck_assert(!b);
	ck_mr_err(mr_link_delete(ctx, "mrt0"), MR_ENOTFOUND);
	ck_assert_msg(strstr(mr_error_message(), "no link named \"mrt0\"") != NULL, "%s",
		      mr_error_message());
	mr_ctx_free(ctx);
}
END_TEST

static void check_default_routes(mr_ctx *ctx, int family, const char *want)
{
	mr_link_list *list;
	char got[256] = "";

	ck_mr_ok(mr_link_default_route_ifaces(ctx, family, &list));
	for (size_t i = 0; i < mr_link_list_count(list); i++) {
		uint32_t ifindex;

		ck_mr_ok(mr_link_list_info(list, i, &ifindex, NULL, NULL, NULL));
		ck_assert_uint_eq(ifindex, if_nametoindex(mr_link_list_name(list, i)));
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
			 mr_link_list_name(list, i));
	}
	mr_link_list_free(list);
	ck_assert_msg(!strcmp(got, want), "family %d: got [%s], wanted [%s]", family, got, want);
}

START_TEST(test_default_routes)
{
	mr_ctx *ctx;

	if (!have_ip()) {
		fprintf(stderr, "check_link: ip(8) NOT FOUND: the default-route test needs it to "
				"build routes; install iproute2\n");
		ck_abort_msg("ip(8) missing");
	}
	enter_private_netns();
	ctx = new_ctx();
	check_default_routes(ctx, 0, "");
	sh("set -e; for p in a b c d e f g; do "
	   "ip link add ${p}0 type veth peer name ${p}1; "
	   "ip link set ${p}0 up; ip link set ${p}1 up; done; "
	   "ip addr add 192.0.2.1/24 dev a0; ip route add default via 192.0.2.2 dev a0; "
	   /* a second, worse IPv4 default and an IPv6 default on one link */
	   "ip addr add 198.51.100.1/24 dev b0; "
	   "ip route add default via 198.51.100.2 dev b0 metric 200; "
	   "ip -6 route add default dev b0; "
	   /* through a nexthop object, and an IPv6 one through a group */
	   "ip nexthop add id 7 dev c0; ip route add default nhid 7 metric 300; "
	   "ip -6 nexthop add id 8 dev d1; ip nexthop add id 9 group 8; "
	   "ip -6 route add default nhid 9 metric 300; "
	   /* multipath */
	   "ip addr add 203.0.113.1/28 dev e0; ip addr add 203.0.113.17/28 dev f0; "
	   "ip route add default metric 400 nexthop via 203.0.113.2 dev e0 "
	   "nexthop via 203.0.113.18 dev f0; "
	   /* not the main table, and not unicast: ignored */
	   "ip route add default dev g0 table 100; "
	   "ip -6 route add default dev g0 table 100; "
	   "ip route add blackhole default metric 999; "
	   "ip -6 route add unreachable default metric 999");
	check_default_routes(ctx, MR_CIDR_INET, "a0 b0 c0 e0 f0");
	check_default_routes(ctx, MR_CIDR_INET6, "b0 d1");
	check_default_routes(ctx, 0, "a0 b0 c0 d1 e0 f0");
	sh("while ip -4 route del default table main 2>/dev/null; do :; done; "
	   "! ip -4 route show default table main | grep -q .");
	check_default_routes(ctx, 0, "b0 d1");
	mr_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("link");
	TCase *tc = tcase_create("validation");
	TCase *ns = tcase_create("netns");

	tcase_add_loop_test(tc, test_bad_names, 0, (int)MR_ARRAY_SIZE(bad_names));
	tcase_add_loop_test(tc, test_bad_mtu, 0, (int)MR_ARRAY_SIZE(bad_mtus));
	tcase_add_loop_test(tc, test_bad_addresses, 0, (int)MR_ARRAY_SIZE(bad_addr_lists));
	tcase_add_test(tc, test_bad_arguments);
	suite_add_tcase(s, tc);
	if (geteuid() == 0) {
		tcase_set_timeout(ns, 30);
		tcase_add_test(ns, test_list_get_exists);
		tcase_add_test(ns, test_mtu_and_up);
		tcase_add_test(ns, test_addresses);
		tcase_add_loop_test(ns, test_secondaries, 0, 2);
		tcase_add_test(ns, test_bad_input_changes_nothing);
		tcase_add_test(ns, test_create_wireguard_and_delete);
		tcase_add_test(ns, test_default_routes);
		suite_add_tcase(s, ns);
	} else {
		fprintf(stderr, "check_link: NOT ROOT: the tests in private network namespaces "
				"(links, MTU, addresses, routes) are NOT run; CI runs them as "
				"root\n");
	}
	return mr_test_run_suite(s);
}

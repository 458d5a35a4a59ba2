/* SPDX-License-Identifier: MIT */
/*
 * The wg module's kernel backend under a kernel that has WireGuard (run in
 * the VM tier by tests/wg-kernel-vm.sh; it fails on a machine without the
 * module). In a network namespace of its own:
 *
 *  - 10,000 peers (and three with 5,000 allowed IPs each) set with one
 *    mr_wg_set(): many SET_DEVICE messages, peers continued across them;
 *    dumped back with mr_wg_get() (a dump over many messages, peers
 *    continued across them) and compared field by field;
 *  - update-only, remove, replace-allowed-IPs vs add, replace-peers;
 *  - mr_wg_sync(): one added peer costs one small message; removals;
 *  - the same operations on a wireguard-go device (when the program and TUN
 *    are there) read back identically by the userspace backend;
 *  - two links in two namespaces joined by a veth pair: UDP through the
 *    tunnel, counters and handshake read by us agree with `wg show dump`,
 *    and a sync adding a peer leaves the session's handshake untouched.
 *
 *   wg_kernel_test                  run everything
 *   wg_kernel_test genconf N FILE   write a `wg setconf` file with N peers
 *
 * Prints "ok - ..." / "FAIL - ..." lines; exit 0 when all passed.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <myrelay/myrelay.h>
#include "../../libmyrelay/wg-internal.h"

static int failures;

static void check(bool ok, const char *fmt, ...) MR_PRINTF(2, 3);
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf(ok ? "ok   - " : "FAIL - ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

#define MUST(expr)                                                                                 \
	do {                                                                                       \
		int must_rc_ = (expr);                                                             \
		if (must_rc_ < 0) {                                                                \
			printf("FAIL - %s: %d (%s) %s\n", #expr, must_rc_, mr_strerror(must_rc_),  \
			       mr_error_message());                                                \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- rtnetlink, plainly --- */

static int rtnl(struct nlmsghdr *nlh)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	char buf[8192];
	int rc = 0;
	ssize_t n;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		rc = -errno;
		goto out;
	}
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		rc = -errno;
	else
		rc = mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(nl), NULL, NULL) < 0
			 ? -errno
			 : 0;
out:
	mnl_socket_close(nl);
	return rc;
}

static int link_add(const char *name, const char *kind, const char *peer, int peer_nsfd)
{
	char buf[1024];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	struct nlattr *li, *data, *pn;

	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
	if (peer) {
		data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
		pn = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
		mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
		mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_nsfd);
		mnl_attr_nest_end(nlh, pn);
		mnl_attr_nest_end(nlh, data);
	}
	mnl_attr_nest_end(nlh, li);
	return rtnl(nlh);
}

static int link_up(const char *name)
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_NEWLINK;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)if_nametoindex(name);
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (!ifi->ifi_index)
		return -ENODEV;
	return rtnl(nlh);
}

static int addr_add(const char *name, const char *addr, int len)
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifaddrmsg *ifa;
	struct in_addr in;

	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)len;
	ifa->ifa_index = if_nametoindex(name);
	inet_pton(AF_INET, addr, &in);
	mnl_attr_put(nlh, IFA_LOCAL, 4, &in);
	mnl_attr_put(nlh, IFA_ADDRESS, 4, &in);
	return rtnl(nlh);
}

/* --- configurations --- */

static mr_key K(uint32_t i, uint8_t kind)
{
	mr_key k;

	for (int j = 0; j < MR_KEY_LEN; j++)
		k.bytes[j] = (uint8_t)(kind * 31 + j * 7 + 1);
	k.bytes[0] = kind;
	k.bytes[1] = (uint8_t)(i >> 24);
	k.bytes[2] = (uint8_t)(i >> 16);
	k.bytes[3] = (uint8_t)(i >> 8);
	k.bytes[4] = (uint8_t)i;
	return k;
}

static mr_prefix P4(uint32_t a, uint8_t len)
{
	mr_prefix p = {.family = MR_CIDR_INET, .len = len};

	p.addr[0] = (uint8_t)(a >> 24);
	p.addr[1] = (uint8_t)(a >> 16);
	p.addr[2] = (uint8_t)(a >> 8);
	p.addr[3] = (uint8_t)a;
	return p;
}

static mr_prefix P6(uint32_t a, uint8_t len)
{
	mr_prefix p = {.family = MR_CIDR_INET6, .len = len};

	p.addr[0] = 0xfd;
	p.addr[4] = (uint8_t)(a >> 24);
	p.addr[5] = (uint8_t)(a >> 16);
	p.addr[6] = (uint8_t)(a >> 8);
	p.addr[7] = (uint8_t)a;
	return p;
}

/* npeers peers with 1 to 3 allowed IPs, the giants with 5,000; fields
 * varied; every 11th peer update-only (so it must not be created). */
static mr_wg_device *big_config(uint32_t npeers, uint32_t base, bool giants, bool update_only)
{
	mr_wg_device *dev;
	mr_key priv = K(base, 7);

	MUST(mr_wg_device_new(&dev));
	MUST(mr_wg_device_set_private_key(dev, &priv));
	MUST(mr_wg_device_set_listen_port(dev, 0));
	MUST(mr_wg_device_set_replace_peers(dev, true));
	for (uint32_t i = 0; i < npeers; i++) {
		mr_key k = K(base + i, 1), psk = K(base + i, 5);
		uint32_t naip = 1 + i % 3;
		mr_wg_peer *p;

		if (giants && (i == 1 || i == npeers / 2 || i == npeers - 2))
			naip = 5000;
		MUST(mr_wg_device_add_peer(dev, &k, &p));
		for (uint32_t j = 0; j < naip; j++) {
			mr_prefix a = (j % 2) ? P6(((base + i) << 13) + j, 128)
					      : P4((10u << 24) | ((base + i) << 8) | j, 32);

			if (naip > 3)
				a = (j % 2) ? P6(0x40000000u + ((base + i) << 13) + j, 128)
					    : P4((11u << 24) | (((base + i) & 0xff) << 16) | j, 32);
			MUST(mr_wg_peer_add_allowed_ip(p, &a));
		}
		if (i % 3 == 0)
			MUST(mr_wg_peer_set_preshared_key(p, &psk));
		if (i % 2 == 0)
			MUST(mr_wg_peer_set_endpoint(p, i % 4 ? "192.0.2.7:51820"
							      : "[2001:db8::7]:443"));
		if (i % 5 == 0)
			MUST(mr_wg_peer_set_keepalive(p, 25));
		if (update_only && i % 11 == 10)
			MUST(mr_wg_peer_set_update_only(p, true));
	}
	return dev;
}

static int prefix_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(mr_prefix));
}

/* The allowed IPs of a peer, sorted, in a malloc'd array. */
static mr_prefix *sorted_aips(const mr_wg_peer *p, size_t *n)
{
	mr_prefix *a;

	*n = mr_wg_peer_allowed_ip_count(p);
	a = calloc(*n ? *n : 1, sizeof(*a));
	for (size_t i = 0; i < *n; i++)
		mr_wg_peer_get_allowed_ip(p, i, &a[i]);
	qsort(a, *n, sizeof(*a), prefix_cmp);
	return a;
}

/* Field by field: every peer of want (but update-only ones, which must be
 * absent) is in have with the same fields; have has no other peer. With
 * counters, rx/tx/handshake must agree too (two read-backs). Returns the
 * number of differences (the first few printed). */
static int compare(const mr_wg_device *want, const mr_wg_device *have, bool counters,
		   bool skip_update_only)
{
	size_t expect = 0;
	int bad = 0;

#define DIFF(...)                                                                                  \
	do {                                                                                       \
		if (bad++ < 5) {                                                                   \
			printf("       ");                                                         \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
		}                                                                                  \
	} while (0)
	if (mr_wg_device_has_private_key(want)) {
		mr_key a, b;

		mr_wg_device_get_public_key(want, &a);
		if (mr_wg_device_get_public_key(have, &b) < 0 || !mr_key_equal(&a, &b))
			DIFF("public key differs");
	}
	for (size_t i = 0; i < mr_wg_device_peer_count(want); i++) {
		const mr_wg_peer *w = mr_wg_device_peer(want, i), *h;
		char e1[MR_WG_ENDPOINT_STRLEN] = "", e2[MR_WG_ENDPOINT_STRLEN] = "";
		mr_key k, s1, s2;
		mr_prefix *a1, *a2;
		size_t n1, n2;

		mr_wg_peer_get_public_key(w, &k);
		h = mr_wg_device_find_peer(have, &k);
		if (skip_update_only && mr_wg_peer_get_update_only(w)) {
			if (h)
				DIFF("peer %zu: update-only peer was created", i);
			continue;
		}
		expect++;
		if (!h) {
			DIFF("peer %zu missing", i);
			continue;
		}
		if (mr_wg_peer_has_preshared_key(w) != mr_wg_peer_has_preshared_key(h))
			DIFF("peer %zu: preshared key presence", i);
		if (mr_wg_peer_get_preshared_key(w, &s1) == 0 &&
		    (mr_wg_peer_get_preshared_key(h, &s2) < 0 || !mr_key_equal(&s1, &s2)))
			DIFF("peer %zu: preshared key", i);
		mr_wg_peer_get_endpoint(w, e1, sizeof(e1));
		mr_wg_peer_get_endpoint(h, e2, sizeof(e2));
		if (strcmp(e1, e2) != 0)
			DIFF("peer %zu: endpoint %s != %s", i, e1, e2);
		if (mr_wg_peer_get_keepalive(w) != mr_wg_peer_get_keepalive(h))
			DIFF("peer %zu: keepalive %u != %u", i, mr_wg_peer_get_keepalive(w),
			     mr_wg_peer_get_keepalive(h));
		a1 = sorted_aips(w, &n1);
		a2 = sorted_aips(h, &n2);
		if (n1 != n2 || memcmp(a1, a2, n1 * sizeof(*a1)) != 0)
			DIFF("peer %zu: allowed IPs (%zu vs %zu)", i, n1, n2);
		free(a1);
		free(a2);
		if (counters) {
			int64_t s1s, s1n, s2s, s2n;

			mr_wg_peer_get_last_handshake(w, &s1s, &s1n);
			mr_wg_peer_get_last_handshake(h, &s2s, &s2n);
			if (s1s != s2s || s1n != s2n ||
			    mr_wg_peer_get_rx_bytes(w) != mr_wg_peer_get_rx_bytes(h) ||
			    mr_wg_peer_get_tx_bytes(w) != mr_wg_peer_get_tx_bytes(h) ||
			    mr_wg_peer_get_protocol_version(w) !=
				mr_wg_peer_get_protocol_version(h))
				DIFF("peer %zu: counters or handshake", i);
		}
	}
	if (mr_wg_device_peer_count(have) != expect)
		DIFF("%zu peers, expected %zu", mr_wg_device_peer_count(have), expect);
#undef DIFF
	return bad;
}

/* --- the tests --- */

static void test_big(mr_ctx *ctx, const char *ifname)
{
	mr_wg_device *cfg = big_config(10000, 0, true, true), *got;
	struct mr__wg_msgs m;
	size_t aips = 0;
	double t0, t1, t2;
	uint16_t family;

	/* how many messages the request takes (the same builder mr_wg_set
	 * uses) */
	MUST(mr__ctx_wg_family(ctx, &family));
	MUST(mr__wg_kernel_build_set(cfg, ifname, family, 1, MR__WG_MSG_SIZE, &m));
	t0 = now();
	MUST(mr_wg_set(ctx, ifname, cfg));
	t1 = now();
	MUST(mr_wg_get(ctx, ifname, &got));
	t2 = now();
	for (size_t i = 0; i < mr_wg_device_peer_count(got); i++)
		aips += mr_wg_peer_allowed_ip_count(mr_wg_device_peer(got, i));
	check(m.count > 10, "10,000 peers went out in %u SET_DEVICE messages (%zu bytes, %.2f s)",
	      m.count, m.len, t1 - t0);
	check(compare(cfg, got, false, true) == 0,
	      "dumped back (%zu peers, %zu allowed IPs, %.2f s): every field as set, "
	      "update-only peers not created",
	      mr_wg_device_peer_count(got), aips, t2 - t1);
	for (size_t i = 0; i < mr_wg_device_peer_count(got); i++) {
		if (mr_wg_peer_get_protocol_version(mr_wg_device_peer(got, i)) != 1) {
			check(false, "protocol version 1 for every peer");
			break;
		}
	}
	mr__wg_msgs_free(&m);
	mr_wg_device_free(got);
	mr_wg_device_free(cfg);
}

static void test_flags(mr_ctx *ctx, const char *ifname)
{
	mr_wg_device *cfg, *got;
	mr_wg_peer *p;
	mr_prefix a = P4(0xac100000, 16), b = P4(0xac110000, 16);
	mr_key k;

	/* remove 10 peers, replace one peer's allowed IPs, add to another's,
	 * update-only on an absent peer */
	MUST(mr_wg_device_new(&cfg));
	for (uint32_t i = 0; i < 10; i++) {
		k = K(i * 3, 1);
		MUST(mr_wg_device_add_peer(cfg, &k, &p));
		MUST(mr_wg_peer_set_remove(p, true));
	}
	k = K(20, 1);
	MUST(mr_wg_device_add_peer(cfg, &k, &p));
	MUST(mr_wg_peer_set_replace_allowed_ips(p, true));
	MUST(mr_wg_peer_add_allowed_ip(p, &a));
	k = K(22, 1);
	MUST(mr_wg_device_add_peer(cfg, &k, &p));
	MUST(mr_wg_peer_add_allowed_ip(p, &b));
	k = K(50000, 1);
	MUST(mr_wg_device_add_peer(cfg, &k, &p));
	MUST(mr_wg_peer_set_update_only(p, true));
	MUST(mr_wg_set(ctx, ifname, cfg));
	MUST(mr_wg_get(ctx, ifname, &got));
	{
		bool gone = true;

		for (uint32_t i = 0; i < 10; i++) {
			k = K(i * 3, 1);
			gone = gone && !mr_wg_device_find_peer(got, &k);
		}
		check(gone, "peers with the remove flag are gone");
	}
	k = K(20, 1);
	p = mr_wg_device_find_peer(got, &k);
	check(p && mr_wg_peer_allowed_ip_count(p) == 1, "replace-allowed-IPs replaced the list");
	k = K(22, 1);
	p = mr_wg_device_find_peer(got, &k);
	/* peer 22 had 1 + 22 % 3 allowed IPs */
	check(p && mr_wg_peer_allowed_ip_count(p) == 3, "allowed IPs without the flag are added");
	k = K(50000, 1);
	check(!mr_wg_device_find_peer(got, &k), "update-only did not create a peer");
	mr_wg_device_free(got);
	mr_wg_device_free(cfg);

	/* replace-peers: exactly the 100 peers of the new configuration */
	cfg = big_config(100, 20000, false, false);
	MUST(mr_wg_set(ctx, ifname, cfg));
	MUST(mr_wg_get(ctx, ifname, &got));
	check(compare(cfg, got, false, false) == 0, "replace-peers left exactly the 100 new peers");
	mr_wg_device_free(got);
	mr_wg_device_free(cfg);
}

static void test_sync(mr_ctx *ctx, const char *ifname)
{
	mr_wg_device *cfg = big_config(10000, 30000, false, false), *got;
	mr_wg_sync_stats st;
	mr_wg_peer *p;
	mr_prefix a = P4(0x0b0b0b00, 24);
	mr_key k = K(99999, 1);
	double t0;

	MUST(mr_wg_set(ctx, ifname, cfg));
	t0 = now();
	MUST(mr_wg_sync(ctx, ifname, cfg, 0, &st));
	check(st.unchanged == 10000 && st.added + st.removed + st.updated == 0 &&
		  st.bytes_sent == 0,
	      "sync to the same 10,000 peers sends nothing (%.2f s)", now() - t0);
	MUST(mr_wg_device_add_peer(cfg, &k, &p));
	MUST(mr_wg_peer_add_allowed_ip(p, &a));
	MUST(mr_wg_sync(ctx, ifname, cfg, MR_WG_SYNC_DRY_RUN, &st));
	check(st.added == 1 && st.bytes_sent == 0, "dry run reports one addition, sends nothing");
	t0 = now();
	MUST(mr_wg_sync(ctx, ifname, cfg, 0, &st));
	check(st.added == 1 && st.unchanged == 10000 && st.messages == 1 && st.bytes_sent < 200,
	      "sync adding one peer to 10,000: one message of %llu bytes (%.2f s with the dump)",
	      (unsigned long long)st.bytes_sent, now() - t0);
	MUST(mr_wg_get(ctx, ifname, &got));
	check(compare(cfg, got, false, false) == 0, "the device now matches, 10,001 peers");
	mr_wg_device_free(got);
	mr_wg_device_free(cfg);
}

/* --- the same on wireguard-go --- */

static void test_userspace_same(mr_ctx *kctx)
{
	const char *kif = "mrwgk2", *uif = "mrwgu2";
	mr_ctx *uctx;
	mr_wg_device *cfg = big_config(1000, 40000, false, true), *kd, *ud, *upd;
	mr_wg_sync_stats ks, us;
	mr_wg_peer *p;
	mr_key k = K(41234, 1);
	pid_t pid;
	int rc;

	if (access("/dev/net/tun", F_OK) != 0) {
		check(false, "userspace comparison: /dev/net/tun is missing in the VM");
		return;
	}
	MUST(mr_ctx_new(&uctx));
	MUST(mr_ctx_set_backend(uctx, MR_BACKEND_USERSPACE));
	/* from PATH: the VM has it in /mrvm/bin, not where configure saw it */
	MUST(mr_ctx_set_wireguard_go(uctx, "wireguard-go"));
	rc = mr_wg_start_userspace(uctx, uif, &pid);
	if (rc < 0) {
		check(false, "start wireguard-go in the VM: %s", mr_error_message());
		mr_ctx_free(uctx);
		mr_wg_device_free(cfg);
		return;
	}
	MUST(link_add(kif, "wireguard", NULL, -1));
	MUST(mr_wg_set(kctx, kif, cfg));
	MUST(mr_wg_set(uctx, uif, cfg));
	MUST(mr_wg_get(kctx, kif, &kd));
	MUST(mr_wg_get(uctx, uif, &ud));
	check(compare(kd, ud, true, false) == 0 && compare(ud, kd, true, false) == 0 &&
		  compare(cfg, ud, false, true) == 0,
	      "the same 1,000-peer configuration reads back identically from the kernel and "
	      "from wireguard-go");
	/* the same update through sync on both */
	MUST(mr_wg_device_new(&upd));
	for (size_t i = 0; i < mr_wg_device_peer_count(kd); i += 2) {
		mr_key pk;
		mr_prefix a;
		mr_wg_peer *src = mr_wg_device_peer(kd, i);

		mr_wg_peer_get_public_key(src, &pk);
		MUST(mr_wg_device_add_peer(upd, &pk, &p));
		for (size_t j = 0; j < mr_wg_peer_allowed_ip_count(src); j++) {
			mr_wg_peer_get_allowed_ip(src, j, &a);
			MUST(mr_wg_peer_add_allowed_ip(p, &a));
		}
		if (i % 4 == 0)
			MUST(mr_wg_peer_set_keepalive(p, 7));
	}
	MUST(mr_wg_device_add_peer(upd, &k, NULL));
	MUST(mr_wg_sync(kctx, kif, upd, 0, &ks));
	MUST(mr_wg_sync(uctx, uif, upd, 0, &us));
	check(ks.added == us.added && ks.removed == us.removed && ks.updated == us.updated &&
		  ks.unchanged == us.unchanged && ks.added == 1 && ks.removed > 400,
	      "sync reports the same on both backends (added %u removed %u updated %u "
	      "unchanged %u)",
	      ks.added, ks.removed, ks.updated, ks.unchanged);
	mr_wg_device_free(kd);
	mr_wg_device_free(ud);
	MUST(mr_wg_get(kctx, kif, &kd));
	MUST(mr_wg_get(uctx, uif, &ud));
	check(compare(kd, ud, true, false) == 0 && compare(ud, kd, true, false) == 0,
	      "and both devices read back identically after it");
	MUST(mr_wg_stop_userspace(uctx, uif, pid));
	mr_wg_device_free(kd);
	mr_wg_device_free(ud);
	mr_wg_device_free(upd);
	mr_wg_device_free(cfg);
	mr_ctx_free(uctx);
}

/* --- two namespaces, a tunnel, traffic --- */

struct wgline {
	char endpoint[64];
	long long handshake;
	unsigned long long rx, tx;
};

/* The peer's line of `wg show IF dump` in the current namespace. */
static int wg_dump_peer(const char *ifname, const char *pub, struct wgline *out)
{
	char cmd[128], line[4096];
	FILE *f;
	int found = -1;

	snprintf(cmd, sizeof(cmd), "wg show %s dump", ifname);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char k[64], psk[64], ep[64], aips[1024], ka[16];

		if (sscanf(line, "%63s %63s %63s %1023s %lld %llu %llu %15s", k, psk, ep, aips,
			   &out->handshake, &out->rx, &out->tx, ka) == 8 &&
		    strcmp(k, pub) == 0) {
			snprintf(out->endpoint, sizeof(out->endpoint), "%s", ep);
			found = 0;
		}
	}
	pclose(f);
	return found;
}

static int udp_socket(const char *addr, int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	inet_pton(AF_INET, addr, &sin.sin_addr);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send n datagrams from fd to addr:port and receive them on rfd. */
static int exchange(int fd, int rfd, const char *addr, int port, int n)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char buf[256];
	int got = 0;

	inet_pton(AF_INET, addr, &to.sin_addr);
	for (int i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "datagram %d", i);
		sendto(fd, buf, 200, 0, (struct sockaddr *)&to, sizeof(to));
	}
	while (got < n && recv(rfd, buf, sizeof(buf), 0) > 0)
		got++;
	return got;
}

static int enter(int nsfd)
{
	return setns(nsfd, CLONE_NEWNET);
}

static void test_tunnel(int orig)
{
	mr_ctx *ca, *cb;
	mr_wg_device *da, *db, *ga;
	mr_wg_peer *p;
	mr_key ka = K(1, 9), kb = K(2, 9), pa, pb, psk = K(3, 9), extra = K(77777, 1);
	char pbs[MR_KEY_BASE64_SIZE], ep[MR_WG_ENDPOINT_STRLEN];
	mr_prefix ta = P4(0x0a640001, 32), tb = P4(0x0a640002, 32), xa = P4(0x0a650001, 32);
	struct wgline w1, w2;
	mr_wg_sync_stats st;
	int fa, fb, sa, sb, got;
	int64_t hs, hn, hs2, hn2;

	/* namespaces A and B, joined by a veth pair */
	MUST(enter(orig));
	MUST(unshare(CLONE_NEWNET));
	fa = open("/proc/self/ns/net", O_RDONLY);
	MUST(link_up("lo"));
	MUST(enter(orig));
	MUST(unshare(CLONE_NEWNET));
	fb = open("/proc/self/ns/net", O_RDONLY);
	MUST(link_up("lo"));
	MUST(enter(fa));
	MUST(link_add("mrva", "veth", "mrvb", fb));
	MUST(addr_add("mrva", "10.99.0.1", 24));
	MUST(link_up("mrva"));
	MUST(link_add("mrwga", "wireguard", NULL, -1));
	MUST(addr_add("mrwga", "10.100.0.1", 24));
	MUST(link_up("mrwga"));
	MUST(mr_ctx_new(&ca));
	MUST(mr_ctx_set_backend(ca, MR_BACKEND_KERNEL));
	sa = udp_socket("10.100.0.1", 9998);
	MUST(enter(fb));
	MUST(addr_add("mrvb", "10.99.0.2", 24));
	MUST(link_up("mrvb"));
	MUST(link_add("mrwgb", "wireguard", NULL, -1));
	MUST(addr_add("mrwgb", "10.100.0.2", 24));
	MUST(link_up("mrwgb"));
	MUST(mr_ctx_new(&cb));
	MUST(mr_ctx_set_backend(cb, MR_BACKEND_KERNEL));
	sb = udp_socket("10.100.0.2", 9999);

	MUST(mr_key_public_from_private(&pa, &ka));
	MUST(mr_key_public_from_private(&pb, &kb));
	mr_key_to_base64(pbs, sizeof(pbs), &pb);
	/* A: the peer B plus 20 others; B: the peer A */
	da = big_config(20, 60000, false, false);
	MUST(mr_wg_device_set_private_key(da, &ka));
	MUST(mr_wg_device_set_listen_port(da, 41020));
	MUST(mr_wg_device_add_peer(da, &pb, &p));
	MUST(mr_wg_peer_set_preshared_key(p, &psk));
	MUST(mr_wg_peer_set_endpoint(p, "10.99.0.2:41021"));
	MUST(mr_wg_peer_add_allowed_ip(p, &tb));
	MUST(mr_wg_device_new(&db));
	MUST(mr_wg_device_set_private_key(db, &kb));
	MUST(mr_wg_device_set_listen_port(db, 41021));
	MUST(mr_wg_device_add_peer(db, &pa, &p));
	MUST(mr_wg_peer_set_preshared_key(p, &psk));
	MUST(mr_wg_peer_set_endpoint(p, "10.99.0.1:41020"));
	MUST(mr_wg_peer_add_allowed_ip(p, &ta));
	MUST(mr_wg_set(cb, "mrwgb", db));
	MUST(enter(fa));
	MUST(mr_wg_set(ca, "mrwga", da));

	got = exchange(sa, sb, "10.100.0.2", 9999, 5);
	check(got == 5, "UDP through the kernel tunnel A -> B: %d/5 datagrams", got);
	got = exchange(sb, sa, "10.100.0.1", 9998, 5);
	check(got == 5, "and B -> A: %d/5 datagrams", got);

	/* our reading lies between two readings of wg(8) */
	if (wg_dump_peer("mrwga", pbs, &w1) < 0) {
		check(false, "wg show dump has peer B (is wg in the VM?)");
		goto out;
	}
	MUST(mr_wg_get(ca, "mrwga", &ga));
	wg_dump_peer("mrwga", pbs, &w2);
	p = mr_wg_device_find_peer(ga, &pb);
	mr_wg_peer_get_last_handshake(p, &hs, &hn);
	mr_wg_peer_get_endpoint(p, ep, sizeof(ep));
	check(mr_wg_peer_get_rx_bytes(p) > 0 && mr_wg_peer_get_tx_bytes(p) > 0 &&
		  w1.rx <= mr_wg_peer_get_rx_bytes(p) && mr_wg_peer_get_rx_bytes(p) <= w2.rx &&
		  w1.tx <= mr_wg_peer_get_tx_bytes(p) && mr_wg_peer_get_tx_bytes(p) <= w2.tx,
	      "counters read by libmyrelay (rx %llu tx %llu) agree with wg show dump",
	      (unsigned long long)mr_wg_peer_get_rx_bytes(p),
	      (unsigned long long)mr_wg_peer_get_tx_bytes(p));
	check(hs > 0 && w1.handshake <= hs && hs <= w2.handshake,
	      "last handshake read by libmyrelay (%lld) agrees with wg show dump", (long long)hs);
	check(strcmp(ep, w1.endpoint) == 0 && strcmp(ep, "10.99.0.2:41021") == 0,
	      "endpoint %s agrees", ep);
	mr_wg_device_free(ga);

	/* a sync adding a peer leaves the session alone */
	sleep(1);
	MUST(mr_wg_device_add_peer(da, &extra, &p));
	MUST(mr_wg_peer_add_allowed_ip(p, &xa));
	MUST(mr_wg_sync(ca, "mrwga", da, 0, &st));
	check(st.added == 1 && st.unchanged == 21 && st.removed == 0 && st.updated == 0 &&
		  st.messages == 1,
	      "sync adding one peer: added %u unchanged %u, %llu bytes", st.added, st.unchanged,
	      (unsigned long long)st.bytes_sent);
	got = exchange(sa, sb, "10.100.0.2", 9999, 3);
	MUST(mr_wg_get(ca, "mrwga", &ga));
	p = mr_wg_device_find_peer(ga, &pb);
	mr_wg_peer_get_last_handshake(p, &hs2, &hn2);
	check(got == 3 && hs2 == hs && hn2 == hn,
	      "traffic still flows and peer B's last handshake did not move");
	mr_wg_device_free(ga);
out:
	close(sa);
	close(sb);
	mr_wg_device_free(da);
	mr_wg_device_free(db);
	mr_ctx_free(ca);
	mr_ctx_free(cb);
	MUST(enter(orig));
	close(fa);
	close(fb);
}

static int genconf(uint32_t n, const char *path)
{
	mr_wg_device *cfg = big_config(n, 0, false, false);
	FILE *f = fopen(path, "w");
	char b64[MR_KEY_BASE64_SIZE];
	mr_key k;

	if (!f)
		return 1;
	mr_wg_device_get_private_key(cfg, &k);
	mr_key_to_base64(b64, sizeof(b64), &k);
	fprintf(f, "[Interface]\nPrivateKey = %s\nListenPort = 0\n", b64);
	for (size_t i = 0; i < mr_wg_device_peer_count(cfg); i++) {
		mr_wg_peer *p = mr_wg_device_peer(cfg, i);
		char ep[MR_WG_ENDPOINT_STRLEN];

		mr_wg_peer_get_public_key(p, &k);
		mr_key_to_base64(b64, sizeof(b64), &k);
		fprintf(f, "\n[Peer]\nPublicKey = %s\n", b64);
		if (mr_wg_peer_get_preshared_key(p, &k) == 0) {
			mr_key_to_base64(b64, sizeof(b64), &k);
			fprintf(f, "PresharedKey = %s\n", b64);
		}
		if (mr_wg_peer_get_endpoint(p, ep, sizeof(ep)) == 0)
			fprintf(f, "Endpoint = %s\n", ep);
		fprintf(f, "AllowedIPs = ");
		for (size_t j = 0; j < mr_wg_peer_allowed_ip_count(p); j++) {
			char a[MR_CIDR_STRLEN];
			mr_prefix pf;

			mr_wg_peer_get_allowed_ip(p, j, &pf);
			mr_cidr_format(a, sizeof(a), &pf);
			fprintf(f, "%s%s", j ? ", " : "", a);
		}
		fprintf(f, "\n");
		if (mr_wg_peer_get_keepalive(p))
			fprintf(f, "PersistentKeepalive = %u\n", mr_wg_peer_get_keepalive(p));
	}
	fclose(f);
	mr_wg_device_free(cfg);
	return 0;
}

int main(int argc, char **argv)
{
	mr_ctx *ctx;
	bool has;
	int orig;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "genconf") == 0)
		return genconf((uint32_t)atoi(argv[2]), argv[3]);
	if (argc != 1) {
		fprintf(stderr, "usage: %s [genconf N FILE]\n", argv[0]);
		return 2;
	}
	orig = open("/proc/self/ns/net", O_RDONLY);
	MUST(unshare(CLONE_NEWNET));
	MUST(link_up("lo"));
	MUST(mr_ctx_new(&ctx));
	MUST(mr_ctx_set_backend(ctx, MR_BACKEND_KERNEL));
	MUST(mr_ctx_has_kernel_wireguard(ctx, &has));
	check(has, "the kernel has the WireGuard generic netlink family");
	if (!has)
		return 1;
	MUST(link_add("mrwgk0", "wireguard", NULL, -1));
	test_big(ctx, "mrwgk0");
	test_flags(ctx, "mrwgk0");
	test_sync(ctx, "mrwgk0");
	test_userspace_same(ctx);
	{
		mr_wg_device *d;

		check(mr_wg_get(ctx, "mrnothere", &d) == MR_ENOTFOUND,
		      "a missing device is MR_ENOTFOUND: %s", mr_error_message());
		check(mr_wg_get(ctx, "lo", &d) == MR_ENOTSUP,
		      "a device that is not WireGuard is refused: %s", mr_error_message());
	}
	mr_ctx_free(ctx);
	test_tunnel(orig);
	printf("%s: %d failure(s)\n", argv[0], failures);
	return failures ? 1 : 0;
}

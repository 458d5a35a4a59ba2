// SPDX-License-Identifier: MIT
/*
 * Smoke test of the kernel VM tier (run inside the VM by tests/vm/smoke.sh):
 * proves that the kernel paths libmyrelay drives are there, using nothing but
 * libc netlink sockets:
 *   - rtnetlink creates a link of kind "wireguard" and reads it back;
 *   - generic netlink resolves the "wireguard" family, sets a device's listen
 *     port with WG_CMD_SET_DEVICE and reads it back with WG_CMD_GET_DEVICE;
 *   - nfnetlink creates an nftables table in a batch and reads it back;
 *   - both are deleted again.
 * It runs in a network namespace of its own so that it can never touch the
 * host's interfaces. Exit status: 0 every check passed, 1 one failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/wireguard.h>

#define IFNAME "mrvmwg0"
#define TABLE "mrvm_smoke"
#define LISTEN_PORT 51820

/* Room for the largest request (an nftables batch of three messages). */
union msgbuf {
	struct nlmsghdr nh;
	char bytes[1024];
};

/* Everything parsed out of the replies, checked by main(). */
struct found {
	int ifindex;
	char kind[32];
	uint16_t family_id;
	uint32_t family_version;
	uint32_t wg_ifindex;
	char wg_ifname[IFNAMSIZ];
	int wg_port;
	char table[64];
	int replies;
};

typedef void (*reply_cb)(const struct nlmsghdr *nh, size_t hdrlen, struct found *f);

static int checks;

static int fail(const char *what, int err)
{
	printf("not ok %d - %s: %s\n", ++checks, what, err ? strerror(err) : "wrong reply");
	return 1;
}

static void ok(const char *what)
{
	printf("ok %d - %s\n", ++checks, what);
}

/* Append len zeroed, aligned bytes to the message and return them. */
static void *put(struct nlmsghdr *nh, size_t len)
{
	char *p = (char *)nh + NLMSG_ALIGN(nh->nlmsg_len);

	memset(p, 0, NLA_ALIGN(len));
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + NLA_ALIGN(len);
	return p;
}

static struct nlattr *attr(struct nlmsghdr *nh, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = put(nh, NLA_HDRLEN + len);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	return a;
}

static void nest_end(struct nlmsghdr *nh, struct nlattr *nest)
{
	nest->nla_len = (char *)nh + nh->nlmsg_len - (char *)nest;
}

static struct nlmsghdr *msg_init(void *where, uint16_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nh = where;

	memset(nh, 0, NLMSG_HDRLEN);
	nh->nlmsg_len = NLMSG_HDRLEN;
	nh->nlmsg_type = type;
	nh->nlmsg_flags = flags;
	nh->nlmsg_seq = seq;
	return nh;
}

static int nl_open(int proto)
{
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);

	/* A kernel that never answers must fail the test, not hang the VM. */
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/*
 * Send len bytes of request(s) and read replies until the ack or NLMSG_DONE
 * of sequence number last_seq. Messages of that sequence go to cb. Returns 0
 * or a positive errno. The WireGuard family has reported errors with either
 * sign over its history, hence the abs().
 */
static int talk(int fd, const void *req, size_t len, uint32_t last_seq, size_t hdrlen, reply_cb cb,
		struct found *f)
{
	static union {
		struct nlmsghdr nh;
		char bytes[32768];
	} in;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) != (ssize_t)len)
		return errno ? errno : EIO;
	for (;;) {
		ssize_t n = recv(fd, in.bytes, sizeof(in.bytes), 0);
		struct nlmsghdr *nh;

		if (n < 0)
			return errno;
		for (nh = &in.nh; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nh);

				if (e->error)
					return abs(e->error);
				if (nh->nlmsg_seq == last_seq)
					return 0;
				continue;
			}
			if (nh->nlmsg_seq != last_seq)
				continue;
			if (nh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (cb)
				cb(nh, hdrlen, f);
		}
	}
}

/* Walk the attributes in the len bytes at start (len is consumed). */
#define for_each_attr(a, start, len)                                                 \
	for (a = (const struct nlattr *)(start); (len) >= (int)NLA_HDRLEN &&          \
	     a->nla_len >= NLA_HDRLEN && a->nla_len <= (len);                           \
	     (len) -= NLA_ALIGN(a->nla_len),                                               \
	     a = (const struct nlattr *)((const char *)a + NLA_ALIGN(a->nla_len)))

#define ATTR_DATA(a) ((const char *)(a) + NLA_HDRLEN)
#define ATTR_LEN(a) ((int)(a)->nla_len - NLA_HDRLEN)

static void copy_str(char *dst, size_t size, const struct nlattr *a)
{
	size_t n = ATTR_LEN(a) < (int)size ? (size_t)ATTR_LEN(a) : size - 1;

	memcpy(dst, ATTR_DATA(a), n);
	dst[n] = '\0';
}

static void link_cb(const struct nlmsghdr *nh, size_t hdrlen, struct found *f)
{
	const struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(hdrlen);
	const struct nlattr *a, *b;

	if (nh->nlmsg_type != RTM_NEWLINK)
		return;
	f->replies++;
	f->ifindex = ifi->ifi_index;
	for_each_attr(a, (const char *)ifi + NLMSG_ALIGN(hdrlen), len) {
		int inner = ATTR_LEN(a);

		if ((a->nla_type & NLA_TYPE_MASK) != IFLA_LINKINFO)
			continue;
		for_each_attr(b, ATTR_DATA(a), inner)
			if ((b->nla_type & NLA_TYPE_MASK) == IFLA_INFO_KIND)
				copy_str(f->kind, sizeof(f->kind), b);
	}
}

static void family_cb(const struct nlmsghdr *nh, size_t hdrlen, struct found *f)
{
	const char *p = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(hdrlen);
	const struct nlattr *a;

	f->replies++;
	for_each_attr(a, p + NLMSG_ALIGN(hdrlen), len) {
		if (a->nla_type == CTRL_ATTR_FAMILY_ID && ATTR_LEN(a) >= 2)
			memcpy(&f->family_id, ATTR_DATA(a), 2);
		else if (a->nla_type == CTRL_ATTR_VERSION && ATTR_LEN(a) >= 4)
			memcpy(&f->family_version, ATTR_DATA(a), 4);
	}
}

static void wgdev_cb(const struct nlmsghdr *nh, size_t hdrlen, struct found *f)
{
	const char *p = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(hdrlen);
	const struct nlattr *a;
	uint16_t port;

	f->replies++;
	for_each_attr(a, p + NLMSG_ALIGN(hdrlen), len) {
		switch (a->nla_type & NLA_TYPE_MASK) {
		case WGDEVICE_A_IFINDEX:
			if (ATTR_LEN(a) >= 4)
				memcpy(&f->wg_ifindex, ATTR_DATA(a), 4);
			break;
		case WGDEVICE_A_IFNAME:
			copy_str(f->wg_ifname, sizeof(f->wg_ifname), a);
			break;
		case WGDEVICE_A_LISTEN_PORT:
			if (ATTR_LEN(a) >= 2) {
				memcpy(&port, ATTR_DATA(a), 2);
				f->wg_port = port;
			}
			break;
		}
	}
}

static void table_cb(const struct nlmsghdr *nh, size_t hdrlen, struct found *f)
{
	const char *p = NLMSG_DATA(nh);
	int len = nh->nlmsg_len - NLMSG_LENGTH(hdrlen);
	const struct nlattr *a;

	if (nh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE))
		return;
	f->replies++;
	for_each_attr(a, p + NLMSG_ALIGN(hdrlen), len)
		if ((a->nla_type & NLA_TYPE_MASK) == NFTA_TABLE_NAME)
			copy_str(f->table, sizeof(f->table), a);
}

static int rtnl_link(int fd, uint16_t type, uint16_t flags, uint32_t seq, struct found *f)
{
	union msgbuf m;
	struct nlmsghdr *nh = msg_init(&m, type, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
	struct nlattr *info;

	put(nh, sizeof(struct ifinfomsg));
	attr(nh, IFLA_IFNAME, IFNAME, sizeof(IFNAME));
	if (type == RTM_NEWLINK) {
		info = attr(nh, IFLA_LINKINFO | NLA_F_NESTED, NULL, 0);
		attr(nh, IFLA_INFO_KIND, "wireguard", sizeof("wireguard"));
		nest_end(nh, info);
	}
	return talk(fd, nh, nh->nlmsg_len, seq, sizeof(struct ifinfomsg), link_cb, f);
}

static struct nlmsghdr *genl_init(void *where, uint16_t family, uint8_t cmd, uint8_t version,
				  uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nh = msg_init(where, family, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
	struct genlmsghdr *g = put(nh, GENL_HDRLEN);

	g->cmd = cmd;
	g->version = version;
	return nh;
}

static struct nlmsghdr *nfnl_init(void *where, uint16_t type, uint16_t flags, uint32_t seq,
				  uint8_t family, uint16_t res_id)
{
	struct nlmsghdr *nh = msg_init(where, type, NLM_F_REQUEST | flags, seq);
	struct nfgenmsg *g = put(nh, sizeof(*g));

	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(res_id);
	return nh;
}

/* An nftables table operation: begin, the message, end, in one batch. */
static int nft_table_batch(int fd, uint16_t msg_type, uint16_t flags, uint32_t seq)
{
	union msgbuf m;
	char *p = m.bytes;
	struct nlmsghdr *nh;
	size_t len = 0;

	nh = nfnl_init(p, NFNL_MSG_BATCH_BEGIN, 0, seq, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
	len += NLMSG_ALIGN(nh->nlmsg_len);
	nh = nfnl_init(p + len, (NFNL_SUBSYS_NFTABLES << 8) | msg_type, NLM_F_ACK | flags, seq + 1,
		       NFPROTO_INET, 0);
	attr(nh, NFTA_TABLE_NAME, TABLE, sizeof(TABLE));
	len += NLMSG_ALIGN(nh->nlmsg_len);
	nh = nfnl_init(p + len, NFNL_MSG_BATCH_END, 0, seq + 2, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
	len += NLMSG_ALIGN(nh->nlmsg_len);
	return talk(fd, m.bytes, len, seq + 1, 0, NULL, NULL);
}

int main(void)
{
	struct found f;
	union msgbuf m;
	struct nlmsghdr *nh;
	uint16_t port = LISTEN_PORT;
	int rt, gn, nf, err;

	memset(&f, 0, sizeof(f));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (unshare(CLONE_NEWNET) < 0)
		return fail("unshare(CLONE_NEWNET): a network namespace of our own", errno);
	ok("own network namespace");

	/* rtnetlink: the WireGuard link type exists (wireguard.ko is loaded). */
	rt = nl_open(NETLINK_ROUTE);
	if (rt < 0)
		return fail("rtnetlink socket", errno);
	err = rtnl_link(rt, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 1, &f);
	if (err)
		return fail("RTM_NEWLINK kind wireguard " IFNAME, err);
	ok("RTM_NEWLINK kind wireguard " IFNAME);
	err = rtnl_link(rt, RTM_GETLINK, 0, 2, &f);
	if (err || f.replies != 1 || f.ifindex <= 0 || strcmp(f.kind, "wireguard"))
		return fail("RTM_GETLINK " IFNAME " reads back kind wireguard", err);
	printf("# %s: ifindex %d, kind %s\n", IFNAME, f.ifindex, f.kind);
	ok("RTM_GETLINK " IFNAME " reads back kind wireguard");

	/* generic netlink: the family, then a write and a read through it. */
	gn = nl_open(NETLINK_GENERIC);
	if (gn < 0)
		return fail("generic netlink socket", errno);
	nh = genl_init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0, 3);
	attr(nh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME, sizeof(WG_GENL_NAME));
	f.replies = 0;
	err = talk(gn, nh, nh->nlmsg_len, 3, GENL_HDRLEN, family_cb, &f);
	if (err || f.replies != 1 || f.family_id < GENL_MIN_ID)
		return fail("CTRL_CMD_GETFAMILY " WG_GENL_NAME, err);
	printf("# family %s: id %u, version %u\n", WG_GENL_NAME, f.family_id, f.family_version);
	if (f.family_version != WG_GENL_VERSION)
		return fail("family " WG_GENL_NAME " has version WG_GENL_VERSION", 0);
	ok("CTRL_CMD_GETFAMILY " WG_GENL_NAME);

	nh = genl_init(&m, f.family_id, WG_CMD_SET_DEVICE, WG_GENL_VERSION, 0, 4);
	attr(nh, WGDEVICE_A_IFNAME, IFNAME, sizeof(IFNAME));
	attr(nh, WGDEVICE_A_LISTEN_PORT, &port, sizeof(port));
	err = talk(gn, nh, nh->nlmsg_len, 4, GENL_HDRLEN, NULL, NULL);
	if (err)
		return fail("WG_CMD_SET_DEVICE listen-port", err);
	ok("WG_CMD_SET_DEVICE listen-port");

	nh = genl_init(&m, f.family_id, WG_CMD_GET_DEVICE, WG_GENL_VERSION, NLM_F_DUMP, 5);
	attr(nh, WGDEVICE_A_IFNAME, IFNAME, sizeof(IFNAME));
	f.replies = 0;
	err = talk(gn, nh, nh->nlmsg_len, 5, GENL_HDRLEN, wgdev_cb, &f);
	printf("# WG_CMD_GET_DEVICE: ifindex %u, ifname %s, listen-port %d\n", f.wg_ifindex,
	       f.wg_ifname, f.wg_port);
	if (err || f.replies < 1 || (int)f.wg_ifindex != f.ifindex || strcmp(f.wg_ifname, IFNAME) ||
	    f.wg_port != LISTEN_PORT)
		return fail("WG_CMD_GET_DEVICE reads back the device and its port", err);
	ok("WG_CMD_GET_DEVICE reads back the device and its port");

	/* nfnetlink: nf_tables takes a batch and answers a get. */
	nf = nl_open(NETLINK_NETFILTER);
	if (nf < 0)
		return fail("nfnetlink socket", errno);
	err = nft_table_batch(nf, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL, 10);
	if (err)
		return fail("NFT_MSG_NEWTABLE inet " TABLE, err);
	ok("NFT_MSG_NEWTABLE inet " TABLE);
	nh = nfnl_init(&m, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_ACK, 20,
		       NFPROTO_INET, 0);
	attr(nh, NFTA_TABLE_NAME, TABLE, sizeof(TABLE));
	f.replies = 0;
	err = talk(nf, nh, nh->nlmsg_len, 20, sizeof(struct nfgenmsg), table_cb, &f);
	if (err || f.replies != 1 || strcmp(f.table, TABLE))
		return fail("NFT_MSG_GETTABLE inet " TABLE " reads it back", err);
	ok("NFT_MSG_GETTABLE inet " TABLE " reads it back");
	err = nft_table_batch(nf, NFT_MSG_DELTABLE, 0, 30);
	if (err)
		return fail("NFT_MSG_DELTABLE inet " TABLE, err);
	ok("NFT_MSG_DELTABLE inet " TABLE);

	err = rtnl_link(rt, RTM_DELLINK, 0, 40, &f);
	if (err)
		return fail("RTM_DELLINK " IFNAME, err);
	err = rtnl_link(rt, RTM_GETLINK, 0, 41, &f);
	if (err != ENODEV)
		return fail("RTM_GETLINK after RTM_DELLINK gives ENODEV", err);
	ok("RTM_DELLINK " IFNAME);

	close(nf);
	close(gn);
	close(rt);
	printf("# %d checks passed\n", checks);
	return 0;
}

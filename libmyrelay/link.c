/* SPDX-License-Identifier: MIT */
/*
 * Links, addresses and default routes through rtnetlink (libmnl), on the
 * context's NETLINK_ROUTE socket.
 */
#include "nl.h"

#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>

#include <myrelay/link.h>
#include <myrelay/name.h>

/* Requests are a header, a fixed struct and a few small attributes. */
#define REQ_SIZE 512
#define KIND_SIZE 32

struct link_entry {
	char name[MR_NAME_IFNAMSIZ];
	char kind[KIND_SIZE];
	uint32_t ifindex;
	uint32_t mtu;
	bool up;
};

struct mr_link_list {
	struct link_entry *items;
	size_t count;
	size_t cap;
};

/* An address as the kernel reported it. For deletion the request must carry
 * IFA_ADDRESS as read: for an IPv4 point-to-point address it is the peer, and
 * the kernel matches on it. */
struct addr_entry {
	mr_prefix p; /* the local address and prefix length */
	uint8_t address[16];
	bool secondary;
};

struct addr_set {
	struct addr_entry *items;
	size_t count;
	size_t cap;
};

struct u32_set {
	uint32_t *items;
	size_t count;
	size_t cap;
};

/* ---- small helpers ---- */

static int check_ctx(const mr_ctx *ctx, const char *what)
{
	if (!ctx)
		return mr__error_set(MR_EINVAL, "%s: context is NULL", what);
	return 0;
}

/* Validate an interface name, prefixing the name module's detail with what
 * the caller was doing. The detail of a refused name never quotes it. */
static int check_name(const char *name, const char *what)
{
	char detail[256];

	if (mr_name_validate_interface(name) == 0)
		return 0;
	snprintf(detail, sizeof(detail), "%s", mr_error_message());
	return mr__error_set(MR_EINVAL, "%s: %s", what, detail);
}

static int rtnl(mr_ctx *ctx, struct mnl_socket **nl)
{
	return mr__ctx_socket(ctx, NETLINK_ROUTE, nl);
}

static int grow(void **items, size_t *cap, size_t count, size_t size)
{
	size_t ncap;
	void *p;

	if (count < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	p = realloc(*items, ncap * size);
	if (!p)
		return mr__error_set(MR_ENOMEM, "links: out of memory");
	*items = p;
	*cap = ncap;
	return 0;
}

static int u32_set_add(struct u32_set *s, uint32_t v)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->items[i] == v)
			return 0;
	if (grow((void **)&s->items, &s->cap, s->count, sizeof(*s->items)) < 0)
		return MR_ENOMEM;
	s->items[s->count++] = v;
	return 0;
}

static bool u32_set_has(const struct u32_set *s, uint32_t v)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->items[i] == v)
			return true;
	return false;
}

static size_t family_len(uint8_t family)
{
	return family == MR_CIDR_INET ? 4 : 16;
}

static void format_prefix(char *buf, size_t size, const mr_prefix *p)
{
	if (mr_cidr_format(buf, size, p) < 0)
		snprintf(buf, size, "(unprintable)");
}

/* ---- link messages ---- */

static int attr_cb(const struct nlattr *attr, void *data, int max)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	/* Attributes newer than our headers are simply not looked at. */
	if (type <= max)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	return attr_cb(attr, data, IFLA_MAX);
}

static int linkinfo_attr_cb(const struct nlattr *attr, void *data)
{
	return attr_cb(attr, data, IFLA_INFO_MAX);
}

/* Copy a string attribute into a fixed buffer; the kernel's strings are not
 * trusted to be terminated. */
static void copy_str(char *dst, size_t size, const struct nlattr *attr)
{
	size_t len = mnl_attr_get_payload_len(attr);
	const char *s = mnl_attr_get_payload(attr);

	len = strnlen(s, len);
	if (len >= size)
		len = size - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

/* 1 when the message describes a link (filled in e), 0 to skip it. */
static int parse_link(const struct nlmsghdr *nlh, struct link_entry *e)
{
	const struct nlattr *tb[IFLA_MAX + 1] = {0};
	const struct nlattr *info[IFLA_INFO_MAX + 1] = {0};
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return 0;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, tb) < 0)
		return 0;
	if (!tb[IFLA_IFNAME] || mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_STRING) < 0)
		return 0;
	memset(e, 0, sizeof(*e));
	copy_str(e->name, sizeof(e->name), tb[IFLA_IFNAME]);
	e->ifindex = (uint32_t)ifi->ifi_index;
	e->up = (ifi->ifi_flags & IFF_UP) != 0;
	if (tb[IFLA_MTU] && mnl_attr_validate(tb[IFLA_MTU], MNL_TYPE_U32) >= 0)
		e->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_LINKINFO] &&
	    mnl_attr_parse_nested(tb[IFLA_LINKINFO], linkinfo_attr_cb, info) >= 0 &&
	    info[IFLA_INFO_KIND] && mnl_attr_validate(info[IFLA_INFO_KIND], MNL_TYPE_STRING) >= 0)
		copy_str(e->kind, sizeof(e->kind), info[IFLA_INFO_KIND]);
	return 1;
}

struct link_collect {
	struct mr_link_list *list;
	const char *prefix;
	size_t prefix_len;
};

static int link_collect_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_collect *c = data;
	struct link_entry e;

	if (!parse_link(nlh, &e))
		return MNL_CB_OK;
	if (c->prefix_len && strncmp(e.name, c->prefix, c->prefix_len) != 0)
		return MNL_CB_OK;
	if (grow((void **)&c->list->items, &c->list->cap, c->list->count, sizeof(*c->list->items)) <
	    0)
		return MNL_CB_ERROR;
	c->list->items[c->list->count++] = e;
	return MNL_CB_OK;
}

static void link_collect_reset(void *data)
{
	struct link_collect *c = data;

	c->list->count = 0;
}

static int cmp_link(const void *a, const void *b)
{
	const struct link_entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

static struct nlmsghdr *put_link_request(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	return nlh;
}

/* Read one link by name. MR_ENOTFOUND (with a clear detail) when absent. */
static int get_link(mr_ctx *ctx, const char *name, struct link_entry *out, const char *what)
{
	_Alignas(struct nlmsghdr) char buf[REQ_SIZE];
	struct mr_link_list list = {0};
	struct link_collect c = {.list = &list};
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	int rc;

	rc = rtnl(ctx, &nl);
	if (rc < 0)
		return rc;
	nlh = put_link_request(buf, RTM_GETLINK, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	rc = mr__nl_talk(ctx, nl, nlh, link_collect_cb, NULL, &c, what);
	if (rc == MR_ENOTFOUND)
		rc = mr__error_set(MR_ENOTFOUND, "%s: no link named \"%s\"", what, name);
	if (rc == 0 && list.count != 1)
		rc = mr__error_set(MR_EKERNEL, "%s: the kernel answered with %zu links", what,
				   list.count);
	if (rc == 0)
		*out = list.items[0];
	free(list.items);
	return rc;
}

/* Dump every link whose name starts with prefix ("" for all), sorted. */
static int dump_links(mr_ctx *ctx, const char *prefix, struct mr_link_list **out)
{
	_Alignas(struct nlmsghdr) char buf[REQ_SIZE];
	struct mr_link_list *list;
	struct link_collect c;
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	int rc;

	rc = rtnl(ctx, &nl);
	if (rc < 0)
		return rc;
	list = calloc(1, sizeof(*list));
	if (!list)
		return mr__error_set(MR_ENOMEM, "list links: out of memory");
	c = (struct link_collect){.list = list, .prefix = prefix, .prefix_len = strlen(prefix)};
	nlh = put_link_request(buf, RTM_GETLINK, NLM_F_DUMP);
	/* Statistics are most of a link message and never used here. */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	rc = mr__nl_talk(ctx, nl, nlh, link_collect_cb, link_collect_reset, &c, "list links");
	if (rc < 0) {
		mr_link_list_free(list);
		return rc;
	}
	if (list->count > 1)
		qsort(list->items, list->count, sizeof(*list->items), cmp_link);
	*out = list;
	return 0;
}

/* ---- public: links ---- */

MR_API int mr_link_create_wireguard(mr_ctx *ctx, const char *name)
{
	_Alignas(struct nlmsghdr) char buf[REQ_SIZE];
	char what[64];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct nlattr *linkinfo;
	int rc;

	rc = check_ctx(ctx, "create WireGuard link");
	if (rc == 0)
		rc = check_name(name, "create WireGuard link");
	if (rc < 0)
		return rc;
	rc = rtnl(ctx, &nl);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "create WireGuard link \"%s\"", name);
	nlh = put_link_request(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "wireguard");
	mnl_attr_nest_end(nlh, linkinfo);
	rc = mr__nl_talk(ctx, nl, nlh, NULL, NULL, NULL, what);
	/* The kernel checks the name before the kind, so an existing link is
	 * reported as such even on a kernel without the module. */
	if (rc == MR_EEXIST)
		return mr__error_set(MR_EEXIST, "%s: a link with that name already exists", what);
	/* EOPNOTSUPP with "Unknown device type": the module is neither loaded
	 * nor loadable (the kernel tried to load it on demand). */
	if (rc == MR_ENOTSUP)
		return mr__error_set(MR_ENOTSUP,
				     "%s: the running kernel has no WireGuard module "
				     "(link kind \"wireguard\" unknown); use the userspace "
				     "backend (wireguard-go) instead",
				     what);
	if (rc < 0)
		return rc;
	mr__log(ctx, MR_LOG_INFO, "link %s: created (wireguard)", name);
	return 0;
}

MR_API int mr_link_delete(mr_ctx *ctx, const char *name)
{
	_Alignas(struct nlmsghdr) char buf[REQ_SIZE];
	char what[64];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	int rc;

	rc = check_ctx(ctx, "delete link");
	if (rc == 0)
		rc = check_name(name, "delete link");
	if (rc < 0)
		return rc;
	rc = rtnl(ctx, &nl);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "delete link \"%s\"", name);
	nlh = put_link_request(buf, RTM_DELLINK, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	rc = mr__nl_talk(ctx, nl, nlh, NULL, NULL, NULL, what);
	if (rc == MR_ENOTFOUND)
		return mr__error_set(MR_ENOTFOUND, "%s: no link named \"%s\"", what, name);
	if (rc < 0)
		return rc;
	mr__log(ctx, MR_LOG_INFO, "link %s: deleted", name);
	return 0;
}

MR_API int mr_link_exists(mr_ctx *ctx, const char *name, bool *out)
{
	struct link_entry e;
	int rc;

	rc = check_ctx(ctx, "link exists");
	if (rc == 0)
		rc = check_name(name, "link exists");
	if (rc == 0 && !out)
		rc = mr__error_set(MR_EINVAL, "link exists: output is NULL");
	if (rc < 0)
		return rc;
	rc = get_link(ctx, name, &e, "look up link");
	if (rc == MR_ENOTFOUND) {
		mr_error_clear();
		*out = false;
		return 0;
	}
	if (rc < 0)
		return rc;
	*out = true;
	return 0;
}

MR_API int mr_link_dump(mr_ctx *ctx, const char *prefix, mr_link_list **out)
{
	int rc;

	rc = check_ctx(ctx, "list links");
	if (rc == 0 && !out)
		rc = mr__error_set(MR_EINVAL, "list links: output is NULL");
	/* A prefix is checked like a name: anything else could never match a
	 * link this library creates, and is most likely a mistake. */
	if (rc == 0 && prefix && *prefix)
		rc = check_name(prefix, "list links: prefix");
	if (rc < 0)
		return rc;
	return dump_links(ctx, prefix ? prefix : "", out);
}

MR_API int mr_link_get(mr_ctx *ctx, const char *name, mr_link_list **out)
{
	struct mr_link_list *list;
	struct link_entry e;
	int rc;

	rc = check_ctx(ctx, "get link");
	if (rc == 0)
		rc = check_name(name, "get link");
	if (rc == 0 && !out)
		rc = mr__error_set(MR_EINVAL, "get link: output is NULL");
	if (rc < 0)
		return rc;
	rc = get_link(ctx, name, &e, "get link");
	if (rc < 0)
		return rc;
	list = calloc(1, sizeof(*list));
	if (list)
		list->items = malloc(sizeof(*list->items));
	if (!list || !list->items) {
		free(list);
		return mr__error_set(MR_ENOMEM, "get link: out of memory");
	}
	list->items[0] = e;
	list->count = list->cap = 1;
	*out = list;
	return 0;
}

MR_API void mr_link_list_free(mr_link_list *list)
{
	if (!list)
		return;
	free(list->items);
	free(list);
}

MR_API size_t mr_link_list_count(const mr_link_list *list)
{
	return list ? list->count : 0;
}

MR_API const char *mr_link_list_name(const mr_link_list *list, size_t i)
{
	if (!list || i >= list->count)
		return NULL;
	return list->items[i].name;
}

MR_API int mr_link_list_info(const mr_link_list *list, size_t i, uint32_t *ifindex, uint32_t *mtu,
			     bool *up, const char **kind)
{
	const struct link_entry *e;

	if (!list)
		return mr__error_set(MR_EINVAL, "link list: list is NULL");
	if (i >= list->count)
		return mr__error_set(MR_EINVAL, "link list: index %zu out of range (%zu links)", i,
				     list->count);
	e = &list->items[i];
	if (ifindex)
		*ifindex = e->ifindex;
	if (mtu)
		*mtu = e->mtu;
	if (up)
		*up = e->up;
	if (kind)
		*kind = e->kind;
	return 0;
}

static int set_link(mr_ctx *ctx, const struct link_entry *e, uint32_t mtu, int up, const char *what)
{
	_Alignas(struct nlmsghdr) char buf[REQ_SIZE];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int rc;

	rc = rtnl(ctx, &nl);
	if (rc < 0)
		return rc;
	nlh = put_link_request(buf, RTM_SETLINK, 0);
	ifi = mnl_nlmsg_get_payload(nlh);
	/* By name, not index: with an index the kernel would take IFLA_IFNAME
	 * as a rename. */
	mnl_attr_put_strz(nlh, IFLA_IFNAME, e->name);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	if (up >= 0) {
		ifi->ifi_change = IFF_UP;
		ifi->ifi_flags = up ? IFF_UP : 0;
	}
	rc = mr__nl_talk(ctx, nl, nlh, NULL, NULL, NULL, what);
	if (rc == MR_ENOTFOUND)
		return mr__error_set(MR_ENOTFOUND, "%s: link \"%s\" disappeared", what, e->name);
	return rc;
}

MR_API int mr_link_set_mtu(mr_ctx *ctx, const char *name, uint32_t mtu)
{
	struct link_entry e;
	char what[64];
	int rc;

	rc = check_ctx(ctx, "set MTU");
	if (rc == 0)
		rc = check_name(name, "set MTU");
	if (rc == 0 && (mtu < MR_LINK_MTU_MIN || mtu > MR_LINK_MTU_MAX))
		rc = mr__error_set(MR_EINVAL,
				   "set MTU: %" PRIu32 " is outside %d..%d (IPv6 needs "
				   "at least %d)",
				   mtu, MR_LINK_MTU_MIN, MR_LINK_MTU_MAX, MR_LINK_MTU_MIN);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "set MTU of link \"%s\"", name);
	rc = get_link(ctx, name, &e, what);
	if (rc < 0)
		return rc;
	if (e.mtu == mtu) {
		mr__log(ctx, MR_LOG_DEBUG, "link %s: MTU already %" PRIu32, name, mtu);
		return 0;
	}
	rc = set_link(ctx, &e, mtu, -1, what);
	if (rc < 0)
		return rc;
	mr__log(ctx, MR_LOG_INFO, "link %s: MTU %" PRIu32 " -> %" PRIu32, name, e.mtu, mtu);
	return 0;
}

MR_API int mr_link_set_up(mr_ctx *ctx, const char *name, bool up)
{
	struct link_entry e;
	char what[64];
	int rc;

	rc = check_ctx(ctx, "set link up/down");
	if (rc == 0)
		rc = check_name(name, "set link up/down");
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "set link \"%s\" %s", name, up ? "up" : "down");
	rc = get_link(ctx, name, &e, what);
	if (rc < 0)
		return rc;
	if (e.up == up) {
		mr__log(ctx, MR_LOG_DEBUG, "link %s: already %s", name, up ? "up" : "down");
		return 0;
	}
	rc = set_link(ctx, &e, 0, up, what);
	if (rc < 0)
		return rc;
	mr__log(ctx, MR_LOG_INFO, "link %s: %s", name, up ? "up" : "down");
	return 0;
}

/* ---- addresses ---- */

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	return attr_cb(attr, data, IFA_MAX);
}

static bool is_ipv6_link_local(const mr_prefix *p)
{
	return p->family == MR_CIDR_INET6 && p->addr[0] == 0xfe && (p->addr[1] & 0xc0) == 0x80;
}

struct addr_collect {
	struct addr_set *set;
	uint32_t ifindex;
};

static int addr_collect_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_collect *c = data;
	const struct nlattr *tb[IFA_MAX + 1] = {0};
	const struct nlattr *local, *address;
	const struct ifaddrmsg *ifa;
	struct addr_entry e = {0};
	size_t alen;

	if (nlh->nlmsg_type != RTM_NEWADDR || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifa)))
		return MNL_CB_OK;
	ifa = mnl_nlmsg_get_payload(nlh);
	if (ifa->ifa_index != c->ifindex)
		return MNL_CB_OK;
	if (ifa->ifa_family == AF_INET)
		e.p.family = MR_CIDR_INET;
	else if (ifa->ifa_family == AF_INET6)
		e.p.family = MR_CIDR_INET6;
	else
		return MNL_CB_OK;
	alen = family_len(e.p.family);
	if (ifa->ifa_prefixlen > alen * 8 ||
	    mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0)
		return MNL_CB_OK;
	/* As iproute2 reads it: IFA_LOCAL is the address of the interface,
	 * IFA_ADDRESS the peer of a point-to-point address (or the same). */
	address = tb[IFA_ADDRESS];
	local = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : address;
	if (!local || mnl_attr_get_payload_len(local) != alen)
		return MNL_CB_OK;
	if (!address || mnl_attr_get_payload_len(address) != alen)
		address = local;
	e.p.len = ifa->ifa_prefixlen;
	memcpy(e.p.addr, mnl_attr_get_payload(local), alen);
	memcpy(e.address, mnl_attr_get_payload(address), alen);
	e.secondary = (ifa->ifa_flags & IFA_F_SECONDARY) != 0;
	if (is_ipv6_link_local(&e.p))
		return MNL_CB_OK;
	if (grow((void **)&c->set->items, &c->set->cap, c->set->count, sizeof(*c->set->items)) < 0)
		return MNL_CB_ERROR;
	c->set->items[c->set->count++] = e;
	return MNL_CB_OK;
}

static void addr_collect_reset(void *data)
{
	struct addr_collect *c = data;

	c->set->count = 0;
}

static int cmp_prefix(const mr_prefix *x, const mr_prefix *y)
{
	int d;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	d = memcmp(x->addr, y->addr, family_len(x->family));
	if (d)
		return d;
	return (int)x->len - (int)y->len;
}

static int cmp_addr_entry(const void *a, const void *b)
{
	return cmp_prefix(&((const struct addr_entry *)a)->p, &((const struct addr_entry *)b)->p);
}

static bool same_prefix(const mr_prefix *x, const mr_prefix *y)
{
	return cmp_prefix(x, y) == 0;
}

/* Every address of a link (IPv6 link-local left out), sorted. */
static int dump_addresses(mr_ctx *ctx, uint32_t ifindex, struct addr_set *set, const char *what)
{
	_Alignas(struct nlmsghdr) char buf[REQ_SIZE];
	struct addr_collect c = {.set = set, .ifindex = ifindex};
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	int rc;

	rc = rtnl(ctx, &nl);
	if (rc < 0)
		return rc;
	set->count = 0;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	/* AF_UNSPEC dumps IPv4 and IPv6 in one go. Without strict checking on
	 * the socket the kernel ignores ifa_index, so filtering is ours. */
	ifa->ifa_family = AF_UNSPEC;
	rc = mr__nl_talk(ctx, nl, nlh, addr_collect_cb, addr_collect_reset, &c, what);
	if (rc < 0)
		return rc;
	if (set->count > 1)
		qsort(set->items, set->count, sizeof(*set->items), cmp_addr_entry);
	return 0;
}

MR_API int mr_link_get_addresses(mr_ctx *ctx, const char *name, mr_prefix **out, size_t *count)
{
	struct addr_set set = {0};
	struct link_entry e;
	char what[64];
	mr_prefix *arr = NULL;
	int rc;

	rc = check_ctx(ctx, "get addresses");
	if (rc == 0)
		rc = check_name(name, "get addresses");
	if (rc == 0 && (!out || !count))
		rc = mr__error_set(MR_EINVAL, "get addresses: output is NULL");
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "get addresses of link \"%s\"", name);
	rc = get_link(ctx, name, &e, what);
	if (rc < 0)
		return rc;
	rc = dump_addresses(ctx, e.ifindex, &set, what);
	if (rc < 0)
		goto out;
	if (set.count) {
		arr = calloc(set.count, sizeof(*arr));
		if (!arr) {
			rc = mr__error_set(MR_ENOMEM, "%s: out of memory", what);
			goto out;
		}
		for (size_t i = 0; i < set.count; i++)
			arr[i] = set.items[i].p;
	}
	*out = arr;
	*count = set.count;
out:
	free(set.items);
	return rc;
}

/* Refuse what cannot be an interface address of a pod link. */
static int check_address(const mr_prefix *p, size_t i)
{
	static const uint8_t zero[16];
	static const uint8_t v6_loopback[16] = {[15] = 1};
	char text[MR_CIDR_STRLEN];
	const char *why = NULL;

	if (p->family != MR_CIDR_INET && p->family != MR_CIDR_INET6)
		return mr__error_set(MR_EINVAL,
				     "set addresses: addrs[%zu]: family %u is neither "
				     "%d (IPv4) nor %d (IPv6)",
				     i, p->family, MR_CIDR_INET, MR_CIDR_INET6);
	if (p->len > family_len(p->family) * 8)
		return mr__error_set(MR_EINVAL,
				     "set addresses: addrs[%zu]: prefix length %u is "
				     "too long for IPv%u (at most %zu)",
				     i, p->len, p->family, family_len(p->family) * 8);
	if (memcmp(p->addr, zero, family_len(p->family)) == 0)
		why = "is the unspecified address";
	else if (p->family == MR_CIDR_INET && p->addr[0] == 127)
		why = "is a loopback address";
	else if (p->family == MR_CIDR_INET && (p->addr[0] & 0xf0) == 0xe0)
		why = "is a multicast address";
	else if (p->family == MR_CIDR_INET && memcmp(p->addr, "\xff\xff\xff\xff", 4) == 0)
		why = "is the limited broadcast address";
	else if (p->family == MR_CIDR_INET6 && memcmp(p->addr, v6_loopback, 16) == 0)
		why = "is the loopback address";
	else if (p->family == MR_CIDR_INET6 && p->addr[0] == 0xff)
		why = "is a multicast address";
	else if (is_ipv6_link_local(p))
		why = "is link-local (fe80::/10), which the kernel manages";
	if (why) {
		format_prefix(text, sizeof(text), p);
		return mr__error_set(MR_EINVAL, "set addresses: addrs[%zu]: %s %s", i, text, why);
	}
	return 0;
}

static int addr_request(mr_ctx *ctx, uint16_t type, uint32_t ifindex, const mr_prefix *p,
			const uint8_t *address, const char *name)
{
	_Alignas(struct nlmsghdr) char buf[REQ_SIZE];
	char what[128], text[MR_CIDR_STRLEN];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	size_t alen = family_len(p->family);
	int rc;

	rc = rtnl(ctx, &nl);
	if (rc < 0)
		return rc;
	format_prefix(text, sizeof(text), p);
	snprintf(what, sizeof(what), "%s address %s %s link \"%s\"",
		 type == RTM_NEWADDR ? "add" : "delete", text, type == RTM_NEWADDR ? "to" : "from",
		 name);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	if (type == RTM_NEWADDR)
		nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = p->family == MR_CIDR_INET ? AF_INET : AF_INET6;
	ifa->ifa_prefixlen = p->len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, alen, p->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, alen, address);
	rc = mr__nl_talk(ctx, nl, nlh, NULL, NULL, NULL, what);
	if (rc < 0)
		return rc;
	mr__log(ctx, MR_LOG_INFO, "link %s: %s address %s", name,
		type == RTM_NEWADDR ? "added" : "removed", text);
	return 0;
}

static bool set_has(const struct addr_set *set, const mr_prefix *p)
{
	for (size_t i = 0; i < set->count; i++)
		if (same_prefix(&set->items[i].p, p))
			return true;
	return false;
}

MR_API int mr_link_set_addresses(mr_ctx *ctx, const char *name, const mr_prefix *addrs,
				 size_t count, size_t *out_added, size_t *out_removed)
{
	struct addr_set cur = {0};
	struct link_entry e;
	size_t added = 0, removed = 0;
	char what[64];
	int rc;

	rc = check_ctx(ctx, "set addresses");
	if (rc == 0)
		rc = check_name(name, "set addresses");
	if (rc == 0 && !addrs && count)
		rc = mr__error_set(MR_EINVAL, "set addresses: addrs is NULL but count is %zu",
				   count);
	if (rc == 0 && count > MR_LINK_ADDRESSES_MAX)
		rc = mr__error_set(MR_EINVAL, "set addresses: %zu addresses, at most %d allowed",
				   count, MR_LINK_ADDRESSES_MAX);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		rc = check_address(&addrs[i], i);
		for (size_t j = 0; rc == 0 && j < i; j++) {
			char text[MR_CIDR_STRLEN];

			if (addrs[j].family != addrs[i].family ||
			    memcmp(addrs[j].addr, addrs[i].addr, family_len(addrs[i].family)))
				continue;
			/* The same address twice, even with another length, has
			 * no single meaning (IPv6 cannot hold both at all). */
			format_prefix(text, sizeof(text), &addrs[i]);
			rc = mr__error_set(MR_EINVAL,
					   "set addresses: addrs[%zu]: %s repeats the "
					   "address of addrs[%zu]",
					   i, text, j);
		}
	}
	if (rc < 0)
		return rc;

	snprintf(what, sizeof(what), "set addresses of link \"%s\"", name);
	rc = get_link(ctx, name, &e, what);
	if (rc < 0)
		return rc;
	rc = dump_addresses(ctx, e.ifindex, &cur, what);
	if (rc < 0)
		goto out;

	/* Secondaries first: deleting an IPv4 primary address takes the
	 * secondaries of its subnet with it, and a second request for one of
	 * those would fail. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < cur.count; i++) {
			bool wanted = false;

			if (cur.items[i].secondary != (pass == 0))
				continue;
			for (size_t j = 0; j < count && !wanted; j++)
				wanted = same_prefix(&cur.items[i].p, &addrs[j]);
			if (wanted)
				continue;
			rc = addr_request(ctx, RTM_DELADDR, e.ifindex, &cur.items[i].p,
					  cur.items[i].address, name);
			if (rc < 0)
				goto out;
			removed++;
		}
	}
	/* Read again: deleting an IPv4 primary can take wanted secondaries
	 * with it (unless promote_secondaries is set); they must come back. */
	if (removed) {
		rc = dump_addresses(ctx, e.ifindex, &cur, what);
		if (rc < 0)
			goto out;
	}
	for (size_t j = 0; j < count; j++) {
		if (set_has(&cur, &addrs[j]))
			continue;
		rc = addr_request(ctx, RTM_NEWADDR, e.ifindex, &addrs[j], addrs[j].addr, name);
		if (rc < 0)
			goto out;
		added++;
	}
	if (!added && !removed)
		mr__log(ctx, MR_LOG_DEBUG, "link %s: addresses unchanged", name);
	if (out_added)
		*out_added = added;
	if (out_removed)
		*out_removed = removed;
out:
	free(cur.items);
	return rc;
}

/* ---- default routes ---- */

static int route_attr_cb(const struct nlattr *attr, void *data)
{
	return attr_cb(attr, data, RTA_MAX);
}

struct route_collect {
	struct u32_set *ifindexes;
	struct u32_set *nh_ids;
};

static int route_collect_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_collect *c = data;
	const struct nlattr *tb[RTA_MAX + 1] = {0};
	const struct rtmsg *rtm;
	uint32_t table;

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*rtm)))
		return MNL_CB_OK;
	rtm = mnl_nlmsg_get_payload(nlh);
	if (rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST ||
	    (rtm->rtm_flags & RTM_F_CLONED))
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb) < 0)
		return MNL_CB_OK;
	/* rtm_table is 8 bits; RTA_TABLE holds the real id. */
	table = rtm->rtm_table;
	if (tb[RTA_TABLE] && mnl_attr_validate(tb[RTA_TABLE], MNL_TYPE_U32) >= 0)
		table = mnl_attr_get_u32(tb[RTA_TABLE]);
	if (table != RT_TABLE_MAIN)
		return MNL_CB_OK;
	if (tb[RTA_OIF] && mnl_attr_validate(tb[RTA_OIF], MNL_TYPE_U32) >= 0 &&
	    u32_set_add(c->ifindexes, mnl_attr_get_u32(tb[RTA_OIF])) < 0)
		return MNL_CB_ERROR;
	if (tb[RTA_MULTIPATH]) {
		const struct rtnexthop *nh = mnl_attr_get_payload(tb[RTA_MULTIPATH]);
		int len = (int)mnl_attr_get_payload_len(tb[RTA_MULTIPATH]);

		for (; len >= (int)sizeof(*nh) && RTNH_OK(nh, len);
		     len -= (int)RTNH_ALIGN(nh->rtnh_len), nh = RTNH_NEXT(nh))
			if (nh->rtnh_ifindex > 0 &&
			    u32_set_add(c->ifindexes, (uint32_t)nh->rtnh_ifindex) < 0)
				return MNL_CB_ERROR;
	}
	if (tb[RTA_NH_ID] && mnl_attr_validate(tb[RTA_NH_ID], MNL_TYPE_U32) >= 0 &&
	    u32_set_add(c->nh_ids, mnl_attr_get_u32(tb[RTA_NH_ID])) < 0)
		return MNL_CB_ERROR;
	return MNL_CB_OK;
}

static int dump_default_routes(mr_ctx *ctx, int af, struct route_collect *c)
{
	_Alignas(struct nlmsghdr) char buf[REQ_SIZE];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	int rc;

	rc = rtnl(ctx, &nl);
	if (rc < 0)
		return rc;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)af;
	return mr__nl_talk(ctx, nl, nlh, route_collect_cb, NULL, c,
			   af == AF_INET ? "dump IPv4 routes" : "dump IPv6 routes");
}

struct nh_entry {
	uint32_t id;
	uint32_t oif;		/* 0 for a group or a blackhole */
	struct u32_set members; /* ids of a group's next hops */
};

struct nh_collect {
	struct nh_entry *items;
	size_t count;
	size_t cap;
};

static int nh_attr_cb(const struct nlattr *attr, void *data)
{
	return attr_cb(attr, data, NHA_MAX);
}

static void nh_collect_clear(struct nh_collect *c)
{
	for (size_t i = 0; i < c->count; i++)
		free(c->items[i].members.items);
	c->count = 0;
}

static void nh_collect_reset(void *data)
{
	nh_collect_clear(data);
}

static int nh_collect_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nh_collect *c = data;
	const struct nlattr *tb[NHA_MAX + 1] = {0};
	struct nh_entry e = {0};

	if (nlh->nlmsg_type != RTM_NEWNEXTHOP ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nhmsg)) ||
	    mnl_attr_parse(nlh, sizeof(struct nhmsg), nh_attr_cb, tb) < 0)
		return MNL_CB_OK;
	if (!tb[NHA_ID] || mnl_attr_validate(tb[NHA_ID], MNL_TYPE_U32) < 0)
		return MNL_CB_OK;
	e.id = mnl_attr_get_u32(tb[NHA_ID]);
	if (tb[NHA_OIF] && mnl_attr_validate(tb[NHA_OIF], MNL_TYPE_U32) >= 0)
		e.oif = mnl_attr_get_u32(tb[NHA_OIF]);
	if (tb[NHA_GROUP]) {
		const struct nexthop_grp *g = mnl_attr_get_payload(tb[NHA_GROUP]);
		size_t n = mnl_attr_get_payload_len(tb[NHA_GROUP]) / sizeof(*g);

		for (size_t i = 0; i < n; i++)
			if (u32_set_add(&e.members, g[i].id) < 0) {
				free(e.members.items);
				return MNL_CB_ERROR;
			}
	}
	if (grow((void **)&c->items, &c->cap, c->count, sizeof(*c->items)) < 0) {
		free(e.members.items);
		return MNL_CB_ERROR;
	}
	c->items[c->count++] = e;
	return MNL_CB_OK;
}

static const struct nh_entry *nh_find(const struct nh_collect *c, uint32_t id)
{
	for (size_t i = 0; i < c->count; i++)
		if (c->items[i].id == id)
			return &c->items[i];
	return NULL;
}

/* Turn nexthop object ids into the interfaces they send through. A group
 * holds plain next hops only (the kernel refuses nested groups). */
static int resolve_nexthops(mr_ctx *ctx, const struct u32_set *ids, struct u32_set *ifindexes)
{
	_Alignas(struct nlmsghdr) char buf[REQ_SIZE];
	struct nh_collect c = {0};
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct nhmsg *nhm;
	int rc;

	rc = rtnl(ctx, &nl);
	if (rc < 0)
		return rc;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETNEXTHOP;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nhm = mnl_nlmsg_put_extra_header(nlh, sizeof(*nhm));
	nhm->nh_family = AF_UNSPEC;
	rc = mr__nl_talk(ctx, nl, nlh, nh_collect_cb, nh_collect_reset, &c, "dump nexthops");
	for (size_t i = 0; rc == 0 && i < ids->count; i++) {
		const struct nh_entry *nh = nh_find(&c, ids->items[i]);

		if (!nh)
			continue;
		if (nh->oif)
			rc = u32_set_add(ifindexes, nh->oif);
		for (size_t j = 0; rc == 0 && j < nh->members.count; j++) {
			const struct nh_entry *m = nh_find(&c, nh->members.items[j]);

			if (m && m->oif)
				rc = u32_set_add(ifindexes, m->oif);
		}
	}
	nh_collect_clear(&c);
	free(c.items);
	return rc;
}

MR_API int mr_link_default_route_ifaces(mr_ctx *ctx, int family, mr_link_list **out)
{
	struct u32_set ifindexes = {0}, nh_ids = {0};
	struct route_collect c = {.ifindexes = &ifindexes, .nh_ids = &nh_ids};
	struct mr_link_list *links = NULL;
	size_t kept = 0;
	int rc;

	rc = check_ctx(ctx, "default routes");
	if (rc == 0 && !out)
		rc = mr__error_set(MR_EINVAL, "default routes: output is NULL");
	if (rc == 0 && family != 0 && family != MR_CIDR_INET && family != MR_CIDR_INET6)
		rc = mr__error_set(MR_EINVAL,
				   "default routes: family %d is not 0 (both), %d "
				   "(IPv4) or %d (IPv6)",
				   family, MR_CIDR_INET, MR_CIDR_INET6);
	if (rc < 0)
		return rc;
	/* The two families are separate dumps: an interrupted IPv6 dump must
	 * not throw away what the IPv4 one found, so no reset callback; a
	 * repeated entry is harmless in a set. */
	if (family != MR_CIDR_INET6)
		rc = dump_default_routes(ctx, AF_INET, &c);
	if (rc == 0 && family != MR_CIDR_INET)
		rc = dump_default_routes(ctx, AF_INET6, &c);
	if (rc == 0 && nh_ids.count)
		rc = resolve_nexthops(ctx, &nh_ids, &ifindexes);
	if (rc == 0)
		rc = dump_links(ctx, "", &links);
	if (rc < 0)
		goto out;
	/* Keep the links carrying a default route; the dump is sorted and
	 * lists each link once, which deduplicates. */
	for (size_t i = 0; i < links->count; i++)
		if (u32_set_has(&ifindexes, links->items[i].ifindex))
			links->items[kept++] = links->items[i];
	links->count = kept;
	*out = links;
	links = NULL;
out:
	mr_link_list_free(links);
	free(ifindexes.items);
	free(nh_ids.items);
	return rc;
}

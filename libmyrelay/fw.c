/* SPDX-License-Identifier: MIT */
/*
 * Per-pod nftables rules through libnftnl, in one table of our own
 * ("inet myrelay"). docs/api/fw.md shows the resulting ruleset.
 *
 * The shared part of the table is static: three base chains whose rules
 * dispatch through verdict maps keyed by interface name (forward, input) or
 * source subnet (postrouting), plus sets of all pod interfaces, subnets and
 * listen ports. A pod is then only map and set entries plus its own chains,
 * sets and counters, so adding, changing or removing one pod is a single
 * batch that never rewrites another pod's rules, and a packet costs one hash
 * or tree lookup per hook however many pods there are.
 *
 * What a pod owns in the kernel is read back from the shared maps and sets
 * (never from a cache of ours), so that a restarted agent, or one whose
 * earlier batch failed, computes its changes from the truth.
 */
#include "nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter_ipv4.h>

#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include <myrelay/fw.h>
#include <myrelay/link.h>
#include <myrelay/name.h>

#define IFNAMSZ MR_NAME_IFNAMSIZ

/* Shared objects of the table. */
#define SET_IFACES "pod_ifaces"
#define SET_NETS4 "pod_nets4"
#define SET_NETS6 "pod_nets6"
#define SET_PORTS "pod_ports"
#define MAP_FWD "pod_fwd"
#define MAP_IN "pod_in"
#define MAP_POST4 "pod_post4"
#define MAP_POST6 "pod_post6"
#define CHAIN_FORWARD "forward"
#define CHAIN_INPUT "input"
#define CHAIN_POST "postrouting"

/* Per-pod object names: "pod-<if>-fwd" and so on, counters "<if>-<name>". */
#define OBJ_NAME_LEN 64

/*
 * nft's own datatype numbers and byte orders (nftables' datatype.h). The
 * kernel stores them without interpreting them; `nft list` uses them to
 * print keys as names and addresses instead of hex.
 */
#define NFT_TYPE_IPADDR 7
#define NFT_TYPE_IP6ADDR 8
#define NFT_TYPE_INET_SERVICE 13
#define NFT_TYPE_IFNAME 41
#define NFT_BYTEORDER_HOST 1
#define NFT_BYTEORDER_BIG 2

/* Every message must fit in what is left of the batch buffer: libnftnl
 * writes attributes without bounds checks. Our largest message (the
 * elements of one pod, at most 2 * MR_FW_SUBNETS_MAX) is far below this. */
#define BATCH_HEADROOM (32 * 1024)

struct mr_fw_pod {
	char ifname[IFNAMSZ];
	mr_prefix subnets[MR_FW_SUBNETS_MAX]; /* gateway form: host bits set */
	size_t n_subnets;
	uint16_t port;
	uint32_t options;
};

static const char *const counter_names[MR_FW_COUNTERS] = {
	[MR_FW_COUNTER_ACCEPT] = "accept",
	[MR_FW_COUNTER_DROP_ISOLATION] = "drop-isolation",
	[MR_FW_COUNTER_DROP_SPOOF] = "drop-spoof",
	[MR_FW_COUNTER_DROP_NODE] = "drop-node",
};

/* ------------------------------------------------------------------------
 * Specs
 * ------------------------------------------------------------------------ */

MR_API int mr_fw_pod_new(mr_fw_pod **out, const char *ifname)
{
	mr_fw_pod *pod;
	int rc;

	if (!out || !ifname)
		return mr__error_set(MR_EINVAL, "firewall pod: output or interface name is NULL");
	rc = mr_name_validate_interface(ifname);
	if (rc < 0)
		return rc;
	pod = calloc(1, sizeof(*pod));
	if (!pod)
		return mr__error_set(MR_ENOMEM, "firewall pod: out of memory");
	memcpy(pod->ifname, ifname, strlen(ifname) + 1);
	pod->options = MR_FW_OPT_DEFAULT;
	*out = pod;
	return 0;
}

MR_API void mr_fw_pod_free(mr_fw_pod *pod)
{
	free(pod);
}

static unsigned int family_bits(const mr_prefix *p)
{
	return p->family == MR_CIDR_INET ? 32 : 128;
}

static unsigned int family_bytes(const mr_prefix *p)
{
	return p->family == MR_CIDR_INET ? 4 : 16;
}

/* Whether every host bit of p (beyond its length) equals `one`. */
static bool host_bits_all(const mr_prefix *p, bool one)
{
	unsigned int bits = family_bits(p);

	for (unsigned int i = p->len; i < bits; i++) {
		bool bit = (p->addr[i / 8] >> (7 - i % 8)) & 1;

		if (bit != one)
			return false;
	}
	return true;
}

MR_API int mr_fw_pod_add_subnet(mr_fw_pod *pod, const mr_prefix *gateway)
{
	char text[MR_CIDR_STRLEN];
	mr_prefix net;
	unsigned int max_len;

	if (!pod || !gateway)
		return mr__error_set(MR_EINVAL, "firewall pod: subnet or spec is NULL");
	if (mr_cidr_network(&net, gateway) < 0)
		return mr__error_set(MR_EINVAL, "firewall pod %s: subnet: bad family or length",
				     pod->ifname);
	mr_cidr_format(text, sizeof(text), gateway);
	max_len = gateway->family == MR_CIDR_INET ? 30 : 126;
	if (gateway->len < 1 || gateway->len > max_len)
		return mr__error_set(MR_EINVAL, "firewall pod %s: subnet %s: prefix length must be "
				     "1-%u", pod->ifname, text, max_len);
	if (host_bits_all(gateway, false))
		return mr__error_set(MR_EINVAL, "firewall pod %s: subnet %s: give the gateway "
				     "address (e.g. .1), not the network address", pod->ifname,
				     text);
	if (gateway->family == MR_CIDR_INET && host_bits_all(gateway, true))
		return mr__error_set(MR_EINVAL, "firewall pod %s: subnet %s: the broadcast "
				     "address cannot be the gateway", pod->ifname, text);
	for (size_t i = 0; i < pod->n_subnets; i++) {
		if (mr_cidr_overlaps(&pod->subnets[i], gateway))
			return mr__error_set(MR_EINVAL, "firewall pod %s: subnet %s overlaps a "
					     "subnet already in the spec", pod->ifname, text);
	}
	if (pod->n_subnets >= MR_FW_SUBNETS_MAX)
		return mr__error_set(MR_EINVAL, "firewall pod %s: more than %d subnets",
				     pod->ifname, MR_FW_SUBNETS_MAX);
	pod->subnets[pod->n_subnets] = *gateway;
	memset(pod->subnets[pod->n_subnets].pad, 0, sizeof(gateway->pad));
	pod->n_subnets++;
	return 0;
}

MR_API int mr_fw_pod_set_listen_port(mr_fw_pod *pod, uint32_t port)
{
	if (!pod)
		return mr__error_set(MR_EINVAL, "firewall pod is NULL");
	if (port > 65535)
		return mr__error_set(MR_EINVAL, "firewall pod %s: listen port %u: expected "
				     "0-65535", pod->ifname, port);
	pod->port = (uint16_t)port;
	return 0;
}

MR_API int mr_fw_pod_set_options(mr_fw_pod *pod, uint32_t options)
{
	const uint32_t known = MR_FW_OPT_INTRA_POD | MR_FW_OPT_DNS;

	if (!pod)
		return mr__error_set(MR_EINVAL, "firewall pod is NULL");
	if (options & ~known)
		return mr__error_set(MR_EINVAL, "firewall pod %s: unknown option bits 0x%x",
				     pod->ifname, options & ~known);
	pod->options = options;
	return 0;
}

MR_API const char *mr_fw_counter_name(int counter)
{
	if (counter < 0 || counter >= MR_FW_COUNTERS)
		return NULL;
	return counter_names[counter];
}

/* ------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------ */

static void pod_obj(char *out, const char *ifname, const char *what)
{
	snprintf(out, OBJ_NAME_LEN, "pod-%s-%s", ifname, what);
}

static void counter_obj(char *out, const char *ifname, int counter)
{
	snprintf(out, OBJ_NAME_LEN, "%s-%s", ifname, counter_names[counter]);
}

/* The pod an element of a postrouting map belongs to, from its verdict
 * "jump pod-<if>-post". */
static bool pod_of_post_chain(const char *chain, char *ifname)
{
	size_t len = strlen(chain);

	if (len <= strlen("pod--post") || strncmp(chain, "pod-", 4) != 0 ||
	    strcmp(chain + len - 5, "-post") != 0 || len - 9 >= IFNAMSZ)
		return false;
	memcpy(ifname, chain + 4, len - 9);
	ifname[len - 9] = '\0';
	return true;
}

static void ifname_key(uint8_t key[IFNAMSZ], const char *ifname)
{
	memset(key, 0, IFNAMSZ);
	memcpy(key, ifname, strnlen(ifname, IFNAMSZ - 1));
}

/* ------------------------------------------------------------------------
 * Prefix arithmetic for interval sets
 * ------------------------------------------------------------------------ */

/* The first address after a prefix: net + 2^(bits - len). False when that
 * overflows (the prefix ends at the top of the address space). */
static bool prefix_end(const mr_prefix *net, uint8_t *end)
{
	unsigned int bytes = family_bytes(net);
	unsigned int k = family_bits(net) - net->len; /* bit to add, from the right */
	int carry;

	memcpy(end, net->addr, bytes);
	if (k >= family_bits(net))
		return false;
	{
		int i = (int)bytes - 1 - (int)(k / 8);
		unsigned int sum = end[i] + (1u << (k % 8));

		end[i] = (uint8_t)sum;
		carry = sum > 0xff;
		for (i--; carry && i >= 0; i--) {
			sum = end[i] + 1u;
			end[i] = (uint8_t)sum;
			carry = sum > 0xff;
		}
	}
	return !carry;
}

/* The prefix covering exactly [start, end) (end NULL: to the top of the
 * address space); false when the range is not one prefix. */
static bool range_to_prefix(uint8_t family, const uint8_t *start, const uint8_t *end,
			    mr_prefix *out)
{
	mr_prefix p = { .family = family };
	unsigned int bits = family == MR_CIDR_INET ? 32 : 128;
	uint8_t e[16];

	memcpy(p.addr, start, family == MR_CIDR_INET ? 4 : 16);
	for (unsigned int len = 0; len <= bits; len++) {
		bool fits;

		p.len = (uint8_t)len;
		if (!host_bits_all(&p, false))
			continue;
		fits = prefix_end(&p, e);
		if (end ? fits && memcmp(e, end, bits / 8) == 0 : !fits) {
			*out = p;
			return true;
		}
	}
	return false;
}

static bool same_network(const mr_prefix *a, const mr_prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       memcmp(a->addr, b->addr, family_bytes(a)) == 0;
}

/* ------------------------------------------------------------------------
 * Reading what the table holds
 * ------------------------------------------------------------------------ */

struct raw_elem {
	uint8_t key[IFNAMSZ]; /* largest key: an interface name, or IPv6 */
	bool end;	      /* NFT_SET_ELEM_INTERVAL_END */
	char chain[OBJ_NAME_LEN];
	char comment[OBJ_NAME_LEN];
};

struct elem_list {
	struct raw_elem *v;
	size_t n, cap;
	uint32_t key_len;
};

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	char *comment = data;
	uint8_t len = nftnl_udata_len(attr);
	const char *value = nftnl_udata_get(attr);

	if (nftnl_udata_type(attr) == NFTNL_UDATA_SET_ELEM_COMMENT && len > 0 &&
	    len <= OBJ_NAME_LEN && value[len - 1] == '\0')
		memcpy(comment, value, len);
	return 0;
}

static int elem_collect(struct nftnl_set_elem *e, void *data)
{
	struct elem_list *l = data;
	struct raw_elem *r;
	const void *key;
	uint32_t len = 0;

	key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
	if (!key || len != l->key_len)
		return 0; /* not one of ours: skipped, as from another layout */
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct raw_elem *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	r = &l->v[l->n];
	memset(r, 0, sizeof(*r));
	memcpy(r->key, key, len);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS))
		r->end = (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) &
			  NFT_SET_ELEM_INTERVAL_END) != 0;
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
		snprintf(r->chain, sizeof(r->chain), "%s",
			 nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN));
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_USERDATA)) {
		const void *ud = nftnl_set_elem_get(e, NFTNL_SET_ELEM_USERDATA, &len);

		nftnl_udata_parse(ud, len, comment_cb, r->comment);
	}
	l->n++;
	return 0;
}

static int elems_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_set *s = nftnl_set_alloc();
	int rc = MNL_CB_OK;

	if (!s) {
		mr__error_set(MR_ENOMEM, "firewall: out of memory");
		return MNL_CB_ERROR;
	}
	if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0) {
		mr__error_set(MR_EKERNEL, "firewall: cannot parse set elements");
		rc = MNL_CB_ERROR;
	} else if (nftnl_set_elem_foreach(s, elem_collect, data) < 0) {
		mr__error_set(MR_ENOMEM, "firewall: out of memory");
		rc = MNL_CB_ERROR;
	}
	nftnl_set_free(s);
	return rc;
}

static void elems_reset(void *data)
{
	((struct elem_list *)data)->n = 0;
}

/* Dump the elements of one of our sets. MR_ENOTFOUND when the set (or the
 * table) does not exist. */
static int dump_elems(mr_ctx *ctx, struct mnl_socket *nl, const char *set, uint32_t key_len,
		      struct elem_list *out)
{
	char buf[512];
	struct nftnl_set *s;
	struct nlmsghdr *nlh;
	char what[96];

	out->key_len = key_len;
	out->n = 0;
	s = nftnl_set_alloc();
	if (!s)
		return mr__error_set(MR_ENOMEM, "firewall: out of memory");
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, MR_FW_TABLE) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, set) < 0) {
		nftnl_set_free(s);
		return mr__error_set(MR_ENOMEM, "firewall: out of memory");
	}
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, 0);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	snprintf(what, sizeof(what), "firewall: read set %s of table inet %s", set, MR_FW_TABLE);
	return mr__nl_talk(ctx, nl, nlh, elems_cb, elems_reset, out, what);
}

static int cmp_raw(const void *a, const void *b)
{
	const struct raw_elem *x = a, *y = b;
	int c = memcmp(x->key, y->key, sizeof(x->key));

	/* At one key, the end of an interval sorts before the start of the
	 * next (adjacent subnets share that key). */
	if (c)
		return c;
	return (int)y->end - (int)x->end;
}

struct pod_state {
	char ifname[IFNAMSZ];
	mr_prefix nets[2 * MR_FW_SUBNETS_MAX];
	size_t n_nets;
	uint16_t port;
};

struct fw_state {
	bool table; /* our shared objects exist */
	struct pod_state *pods;
	size_t n_pods;
};

static void state_free(struct fw_state *st)
{
	free(st->pods);
	memset(st, 0, sizeof(*st));
}

static struct pod_state *state_pod(struct fw_state *st, const char *ifname)
{
	for (size_t i = 0; i < st->n_pods; i++)
		if (strcmp(st->pods[i].ifname, ifname) == 0)
			return &st->pods[i];
	return NULL;
}

static int cmp_pod(const void *a, const void *b)
{
	return strcmp(((const struct pod_state *)a)->ifname, ((const struct pod_state *)b)->ifname);
}

/* Turn the elements of a postrouting map back into each pod's subnets. */
static void state_add_nets(mr_ctx *ctx, struct fw_state *st, struct elem_list *l,
			   uint8_t family)
{
	qsort(l->v, l->n, sizeof(*l->v), cmp_raw);
	for (size_t i = 0; i < l->n; i++) {
		const struct raw_elem *e = &l->v[i];
		const uint8_t *end = NULL;
		char ifname[IFNAMSZ];
		struct pod_state *pod;
		mr_prefix net;

		if (e->end)
			continue;
		if (i + 1 < l->n && l->v[i + 1].end)
			end = l->v[i + 1].key;
		if (!pod_of_post_chain(e->chain, ifname) || !(pod = state_pod(st, ifname)) ||
		    !range_to_prefix(family, e->key, end, &net) ||
		    pod->n_nets >= MR_ARRAY_SIZE(pod->nets)) {
			mr__log(ctx, MR_LOG_WARNING, "firewall: ignoring an entry of a map in "
				"table inet %s that libmyrelay did not write", MR_FW_TABLE);
			continue;
		}
		pod->nets[pod->n_nets++] = net;
	}
}

/*
 * Read which pods have rules, their subnets and listen ports. A missing
 * table is an empty state, not an error.
 */
static int read_state(mr_ctx *ctx, struct mnl_socket *nl, struct fw_state *st)
{
	struct elem_list l = { 0 };
	int rc;

	memset(st, 0, sizeof(*st));
	rc = dump_elems(ctx, nl, SET_IFACES, IFNAMSZ, &l);
	if (rc == MR_ENOTFOUND) {
		mr_error_clear();
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	st->table = true;
	if (l.n) {
		st->pods = calloc(l.n, sizeof(*st->pods));
		if (!st->pods) {
			rc = mr__error_set(MR_ENOMEM, "firewall: out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		memcpy(st->pods[i].ifname, l.v[i].key, IFNAMSZ - 1);
		st->n_pods++;
	}
	qsort(st->pods, st->n_pods, sizeof(*st->pods), cmp_pod);

	rc = dump_elems(ctx, nl, MAP_POST4, 4, &l);
	if (rc < 0)
		goto out;
	state_add_nets(ctx, st, &l, MR_CIDR_INET);
	rc = dump_elems(ctx, nl, MAP_POST6, 16, &l);
	if (rc < 0)
		goto out;
	state_add_nets(ctx, st, &l, MR_CIDR_INET6);

	rc = dump_elems(ctx, nl, SET_PORTS, 2, &l);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		struct pod_state *pod = state_pod(st, l.v[i].comment);

		if (pod)
			pod->port = (uint16_t)(l.v[i].key[0] << 8 | l.v[i].key[1]);
	}
out:
	free(l.v);
	if (rc < 0)
		state_free(st);
	return rc;
}

/* ------------------------------------------------------------------------
 * Batches
 * ------------------------------------------------------------------------ */

struct batch {
	mr_ctx *ctx;
	char *buf;
	size_t len, cap;
	uint32_t begin_seq, last_seq;
	unsigned int n_msgs;
	uint32_t set_id;
	bool oom;
};

static bool batch_reserve(struct batch *b)
{
	size_t cap = b->cap ? b->cap : 64 * 1024;
	char *p;

	if (b->oom)
		return false;
	if (b->cap - b->len >= BATCH_HEADROOM)
		return true;
	while (cap - b->len < BATCH_HEADROOM)
		cap *= 2;
	p = realloc(b->buf, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	memset(p + b->cap, 0, cap - b->cap);
	b->buf = p;
	b->cap = cap;
	return true;
}

static void batch_init(struct batch *b, mr_ctx *ctx)
{
	struct nlmsghdr *nlh;

	memset(b, 0, sizeof(*b));
	b->ctx = ctx;
	if (!batch_reserve(b))
		return;
	/* The batch delimiters get no ack (only NLM_F_ACK messages do); an
	 * error the kernel reports against BEGIN still carries its sequence
	 * number, which is why the reply window starts there. */
	b->begin_seq = mr__ctx_seq(ctx);
	nlh = nftnl_batch_begin(b->buf, b->begin_seq);
	b->len = NLMSG_ALIGN(nlh->nlmsg_len);
}

/* Start a message; finish it with batch_done() before the next one. */
static struct nlmsghdr *batch_put(struct batch *b, uint16_t type, uint16_t flags)
{
	uint32_t seq;

	if (!batch_reserve(b))
		return NULL;
	seq = mr__ctx_seq(b->ctx);
	b->last_seq = seq;
	b->n_msgs++;
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET, flags | NLM_F_ACK, seq);
}

static void batch_done(struct batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static int batch_send(struct batch *b, struct mnl_socket *nl, const char *what)
{
	struct nlmsghdr *nlh;

	if (b->oom || !batch_reserve(b))
		return mr__error_set(MR_ENOMEM, "%s: out of memory", what);
	if (!b->n_msgs)
		return 0;
	nlh = nftnl_batch_end(b->buf + b->len, mr__ctx_seq(b->ctx));
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	mr__log(b->ctx, MR_LOG_DEBUG, "%s: %u messages, %zu bytes", what, b->n_msgs, b->len);
	return mr__nl_talk_many(b->ctx, nl, b->buf, b->len, b->begin_seq, b->last_seq, NULL,
				NULL, what);
}

static void put_table(struct batch *b, uint16_t type, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (!t || nftnl_table_set_str(t, NFTNL_TABLE_NAME, MR_FW_TABLE) < 0) {
		b->oom = true;
		goto out;
	}
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nlh = batch_put(b, type, flags);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		batch_done(b, nlh);
	}
out:
	if (t)
		nftnl_table_free(t);
}

struct set_def {
	const char *name;
	uint32_t key_type;
	uint32_t key_len;
	uint32_t flags;
	uint32_t byteorder;
};

static const struct set_def shared_sets[] = {
	{ SET_IFACES, NFT_TYPE_IFNAME, IFNAMSZ, 0, NFT_BYTEORDER_HOST },
	{ SET_NETS4, NFT_TYPE_IPADDR, 4, NFT_SET_INTERVAL, NFT_BYTEORDER_BIG },
	{ SET_NETS6, NFT_TYPE_IP6ADDR, 16, NFT_SET_INTERVAL, NFT_BYTEORDER_BIG },
	{ SET_PORTS, NFT_TYPE_INET_SERVICE, 2, 0, NFT_BYTEORDER_BIG },
	{ MAP_FWD, NFT_TYPE_IFNAME, IFNAMSZ, NFT_SET_MAP, NFT_BYTEORDER_HOST },
	{ MAP_IN, NFT_TYPE_IFNAME, IFNAMSZ, NFT_SET_MAP, NFT_BYTEORDER_HOST },
	{ MAP_POST4, NFT_TYPE_IPADDR, 4, NFT_SET_MAP | NFT_SET_INTERVAL, NFT_BYTEORDER_BIG },
	{ MAP_POST6, NFT_TYPE_IP6ADDR, 16, NFT_SET_MAP | NFT_SET_INTERVAL, NFT_BYTEORDER_BIG },
};

static const struct set_def pod_set4 = { NULL, NFT_TYPE_IPADDR, 4, NFT_SET_INTERVAL,
					 NFT_BYTEORDER_BIG };
static const struct set_def pod_set6 = { NULL, NFT_TYPE_IP6ADDR, 16, NFT_SET_INTERVAL,
					 NFT_BYTEORDER_BIG };

/* NFT_MSG_NEWSET with the definition, or NFT_MSG_DELSET by name. */
static void put_set(struct batch *b, uint16_t type, uint16_t flags, const struct set_def *def,
		    const char *name)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_udata_buf *ud = NULL;
	struct nlmsghdr *nlh;

	if (!s || nftnl_set_set_str(s, NFTNL_SET_TABLE, MR_FW_TABLE) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, name) < 0)
		goto oom;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	if (type == NFT_MSG_NEWSET) {
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, def->key_type);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, def->key_len);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, def->flags);
		nftnl_set_set_u32(s, NFTNL_SET_ID, ++b->set_id);
		if (def->flags & NFT_SET_MAP)
			nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		/* nft prints keys by this byte order; without it, names and
		 * ports would show as raw numbers. */
		ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
		if (!ud || !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, def->byteorder) ||
		    nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud),
				       nftnl_udata_buf_len(ud)) < 0)
			goto oom;
	}
	nlh = batch_put(b, type, flags);
	if (nlh) {
		nftnl_set_nlmsg_build_payload(nlh, s);
		batch_done(b, nlh);
	}
	goto out;
oom:
	b->oom = true;
out:
	if (ud)
		nftnl_udata_buf_free(ud);
	if (s)
		nftnl_set_free(s);
}

/* Elements of one set for one message; an empty list sends nothing (an
 * empty NFT_MSG_DELSETELEM would flush the whole set). */
struct elems {
	struct batch *b;
	struct nftnl_set *s;
	unsigned int n;
};

static void elems_init(struct elems *el, struct batch *b, const char *set)
{
	el->b = b;
	el->n = 0;
	el->s = nftnl_set_alloc();
	if (!el->s || nftnl_set_set_str(el->s, NFTNL_SET_TABLE, MR_FW_TABLE) < 0 ||
	    nftnl_set_set_str(el->s, NFTNL_SET_NAME, set) < 0) {
		b->oom = true;
		if (el->s)
			nftnl_set_free(el->s);
		el->s = NULL;
		return;
	}
	nftnl_set_set_u32(el->s, NFTNL_SET_FAMILY, NFPROTO_INET);
}

static struct nftnl_set_elem *elem_add(struct elems *el, const void *key, uint32_t len)
{
	struct nftnl_set_elem *e;

	if (!el->s)
		return NULL;
	e = nftnl_set_elem_alloc();
	if (!e || nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len) < 0) {
		if (e)
			nftnl_set_elem_free(e);
		el->b->oom = true;
		return NULL;
	}
	nftnl_set_elem_add(el->s, e);
	el->n++;
	return e;
}

static void elem_udata(struct elems *el, struct nftnl_set_elem *e, uint8_t type, const void *data,
		       uint32_t len)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);

	if (!ud || !nftnl_udata_put(ud, type, len, data) ||
	    nftnl_set_elem_set(e, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(ud),
			       nftnl_udata_buf_len(ud)) < 0)
		el->b->oom = true;
	if (ud)
		nftnl_udata_buf_free(ud);
}

/*
 * An interval element pair for a prefix: its first address, and the first
 * address after it flagged as an interval end. A prefix at the very top of
 * the address space has no end element; nft marks such an open interval in
 * the element's user data, and so do we so that `nft list` prints it right.
 */
static void elem_prefix(struct elems *el, const mr_prefix *net, const char *jump)
{
	struct nftnl_set_elem *e;
	uint8_t end[16];
	bool closed = prefix_end(net, end);

	e = elem_add(el, net->addr, family_bytes(net));
	if (!e)
		return;
	if (jump) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
		if (nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, jump) < 0)
			el->b->oom = true;
	}
	if (!closed) {
		uint32_t open = NFTNL_SET_ELEM_F_INTERVAL_OPEN;

		elem_udata(el, e, NFTNL_UDATA_SET_ELEM_FLAGS, &open, sizeof(open));
		return;
	}
	e = elem_add(el, end, family_bytes(net));
	if (e)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
}

static void elem_ifname(struct elems *el, const char *ifname, const char *jump)
{
	uint8_t key[IFNAMSZ];
	struct nftnl_set_elem *e;

	ifname_key(key, ifname);
	e = elem_add(el, key, IFNAMSZ);
	if (e && jump) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
		if (nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, jump) < 0)
			el->b->oom = true;
	}
}

/* A listen port, with the owning pod as the element's comment: that is how
 * mr_fw_remove_pod() finds it again. */
static void elem_port(struct elems *el, uint16_t port, const char *ifname, bool with_owner)
{
	uint8_t key[2] = { (uint8_t)(port >> 8), (uint8_t)port };
	struct nftnl_set_elem *e = elem_add(el, key, sizeof(key));

	if (e && with_owner)
		elem_udata(el, e, NFTNL_UDATA_SET_ELEM_COMMENT, ifname,
			   (uint32_t)strlen(ifname) + 1);
}

static void elems_send(struct elems *el, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	if (el->s && el->n) {
		nlh = batch_put(el->b, type, flags);
		if (nlh) {
			nftnl_set_elems_nlmsg_build_payload(nlh, el->s);
			batch_done(el->b, nlh);
		}
	}
	if (el->s)
		nftnl_set_free(el->s);
	el->s = NULL;
}

/* Flush a set: NFT_MSG_DELSETELEM without elements. */
static void put_set_flush(struct batch *b, const char *set)
{
	struct elems el;
	struct nlmsghdr *nlh;

	elems_init(&el, b, set);
	if (!el.s)
		return;
	nlh = batch_put(b, NFT_MSG_DELSETELEM, 0);
	if (nlh) {
		nftnl_set_elems_nlmsg_build_payload(nlh, el.s);
		batch_done(b, nlh);
	}
	nftnl_set_free(el.s);
}

/* NFT_MSG_NEWCHAIN (a base chain when ctype is set) or NFT_MSG_DELCHAIN. */
static void put_chain(struct batch *b, uint16_t type, uint16_t flags, const char *name,
		      const char *ctype, uint32_t hook, int32_t prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (!c || nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, MR_FW_TABLE) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0 ||
	    (ctype && nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, ctype) < 0)) {
		b->oom = true;
		goto out;
	}
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	if (ctype) {
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = batch_put(b, type, flags);
	if (nlh) {
		nftnl_chain_nlmsg_build_payload(nlh, c);
		batch_done(b, nlh);
	}
out:
	if (c)
		nftnl_chain_free(c);
}

static void put_counter(struct batch *b, uint16_t type, uint16_t flags, const char *name)
{
	struct nftnl_obj *o = nftnl_obj_alloc();
	struct nlmsghdr *nlh;

	if (!o) {
		b->oom = true;
		return;
	}
	nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, MR_FW_TABLE);
	nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
	nftnl_obj_set_u32(o, NFTNL_OBJ_FAMILY, NFPROTO_INET);
	nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	if (!nftnl_obj_is_set(o, NFTNL_OBJ_TABLE) || !nftnl_obj_is_set(o, NFTNL_OBJ_NAME)) {
		b->oom = true;
		goto out;
	}
	/* The kernel wants the counter's data to create it; an existing
	 * counter is left alone (counters have no update operation), so
	 * re-applying a pod keeps its figures. */
	if (type == NFT_MSG_NEWOBJ) {
		nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_PKTS, 0);
		nftnl_obj_set_u64(o, NFTNL_OBJ_CTR_BYTES, 0);
	}
	nlh = batch_put(b, type, flags);
	if (nlh) {
		nftnl_obj_nlmsg_build_payload(nlh, o);
		batch_done(b, nlh);
	}
out:
	nftnl_obj_free(o);
}

/* ------------------------------------------------------------------------
 * Rules
 * ------------------------------------------------------------------------ */

struct rb {
	struct batch *b;
	struct nftnl_rule *r;
};

static void rb_start(struct rb *rb, struct batch *b, const char *chain)
{
	rb->b = b;
	rb->r = nftnl_rule_alloc();
	if (!rb->r || nftnl_rule_set_str(rb->r, NFTNL_RULE_TABLE, MR_FW_TABLE) < 0 ||
	    nftnl_rule_set_str(rb->r, NFTNL_RULE_CHAIN, chain) < 0) {
		b->oom = true;
		if (rb->r)
			nftnl_rule_free(rb->r);
		rb->r = NULL;
		return;
	}
	nftnl_rule_set_u32(rb->r, NFTNL_RULE_FAMILY, NFPROTO_INET);
}

/* Append the rule (or, with flush, send NFT_MSG_DELRULE for the whole
 * chain: a rule message without handle and expressions). */
static void rb_send(struct rb *rb, bool flush)
{
	struct nlmsghdr *nlh;

	if (!rb->r)
		return;
	nlh = flush ? batch_put(rb->b, NFT_MSG_DELRULE, 0)
		    : batch_put(rb->b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
	if (nlh) {
		nftnl_rule_nlmsg_build_payload(nlh, rb->r);
		batch_done(rb->b, nlh);
	}
	nftnl_rule_free(rb->r);
	rb->r = NULL;
}

static void put_chain_flush(struct batch *b, const char *chain)
{
	struct rb rb;

	rb_start(&rb, b, chain);
	rb_send(&rb, true);
}

static struct nftnl_expr *x_new(struct rb *rb, const char *name)
{
	struct nftnl_expr *e;

	if (!rb->r)
		return NULL;
	e = nftnl_expr_alloc(name);
	if (!e) {
		rb->b->oom = true;
		return NULL;
	}
	nftnl_rule_add_expr(rb->r, e);
	return e;
}

static void x_meta(struct rb *rb, uint32_t key)
{
	struct nftnl_expr *e = x_new(rb, "meta");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
}

static void x_cmp(struct rb *rb, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = x_new(rb, "cmp");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void x_payload(struct rb *rb, uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e = x_new(rb, "payload");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
}

/* Look register 1 up in a set (inverted: "not in"), or in a verdict map. */
static void x_lookup(struct rb *rb, const char *set, bool inverted, bool vmap)
{
	struct nftnl_expr *e = x_new(rb, "lookup");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0)
		rb->b->oom = true;
	if (inverted)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	if (vmap)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
}

static void x_counter(struct rb *rb, const char *ifname, int counter)
{
	char name[OBJ_NAME_LEN];
	struct nftnl_expr *e = x_new(rb, "objref");

	if (!e)
		return;
	counter_obj(name, ifname, counter);
	nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE, NFT_OBJECT_COUNTER);
	if (nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name) < 0)
		rb->b->oom = true;
}

static void x_verdict(struct rb *rb, int verdict)
{
	struct nftnl_expr *e = x_new(rb, "immediate");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
}

/* ct state established,related */
static void x_ct_established(struct rb *rb)
{
	uint32_t mask = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
	uint32_t zero = 0;
	struct nftnl_expr *e = x_new(rb, "ct");

	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	e = x_new(rb, "bitwise");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	x_cmp(rb, NFT_CMP_NEQ, &zero, sizeof(zero));
}

static void m_nfproto(struct rb *rb, uint8_t family)
{
	uint8_t proto = family == MR_CIDR_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;

	x_meta(rb, NFT_META_NFPROTO);
	x_cmp(rb, NFT_CMP_EQ, &proto, sizeof(proto));
}

static void m_l4proto(struct rb *rb, uint8_t proto)
{
	x_meta(rb, NFT_META_L4PROTO);
	x_cmp(rb, NFT_CMP_EQ, &proto, sizeof(proto));
}

static void m_ifname(struct rb *rb, uint32_t key, const char *ifname)
{
	uint8_t name[IFNAMSZ];

	ifname_key(name, ifname);
	x_meta(rb, key);
	x_cmp(rb, NFT_CMP_EQ, name, sizeof(name));
}

/* Load the source or destination address of an IPv4 or IPv6 packet (with
 * the protocol check that makes the offsets meaningful in an inet table). */
static void m_addr(struct rb *rb, uint8_t family, bool source)
{
	m_nfproto(rb, family);
	if (family == MR_CIDR_INET)
		x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, source ? 12 : 16, 4);
	else
		x_payload(rb, NFT_PAYLOAD_NETWORK_HEADER, source ? 8 : 24, 16);
}

static void m_th(struct rb *rb, uint32_t offset, const void *value, uint32_t len)
{
	x_payload(rb, NFT_PAYLOAD_TRANSPORT_HEADER, offset, len);
	x_cmp(rb, NFT_CMP_EQ, value, len);
}

static const uint8_t families[2] = { MR_CIDR_INET, MR_CIDR_INET6 };

static void pod_set_name(char *out, const char *ifname, uint8_t family)
{
	pod_obj(out, ifname, family == MR_CIDR_INET ? "nets4" : "nets6");
}

/* ip saddr != @pod-<if>-nets4 counter name "<if>-drop-spoof" drop (and IPv6) */
static void rules_spoof(struct batch *b, const char *chain, const char *ifname)
{
	char set[OBJ_NAME_LEN];
	struct rb rb;

	for (size_t f = 0; f < MR_ARRAY_SIZE(families); f++) {
		pod_set_name(set, ifname, families[f]);
		rb_start(&rb, b, chain);
		m_addr(&rb, families[f], true);
		x_lookup(&rb, set, true, false);
		x_counter(&rb, ifname, MR_FW_COUNTER_DROP_SPOOF);
		x_verdict(&rb, NF_DROP);
		rb_send(&rb, false);
	}
}

static void rules_forward(struct batch *b, const mr_fw_pod *pod)
{
	char chain[OBJ_NAME_LEN];
	struct rb rb;

	pod_obj(chain, pod->ifname, "fwd");
	rules_spoof(b, chain, pod->ifname);

	/* Back out through the pod's own interface: one device of the pod
	 * talking to another. Decided before the isolation rules, which
	 * would otherwise match the pod's own interface and subnets. */
	rb_start(&rb, b, chain);
	m_ifname(&rb, NFT_META_OIFNAME, pod->ifname);
	if (pod->options & MR_FW_OPT_INTRA_POD) {
		x_counter(&rb, pod->ifname, MR_FW_COUNTER_ACCEPT);
		x_verdict(&rb, NF_ACCEPT);
	} else {
		x_counter(&rb, pod->ifname, MR_FW_COUNTER_DROP_ISOLATION);
		x_verdict(&rb, NF_DROP);
	}
	rb_send(&rb, false);

	rb_start(&rb, b, chain);
	x_meta(&rb, NFT_META_OIFNAME);
	x_lookup(&rb, SET_IFACES, false, false);
	x_counter(&rb, pod->ifname, MR_FW_COUNTER_DROP_ISOLATION);
	x_verdict(&rb, NF_DROP);
	rb_send(&rb, false);

	/* By destination too, whatever interface routing picked: traffic
	 * for another pod's subnet must not leak out of the uplink either. */
	for (size_t f = 0; f < MR_ARRAY_SIZE(families); f++) {
		rb_start(&rb, b, chain);
		m_addr(&rb, families[f], false);
		x_lookup(&rb, families[f] == MR_CIDR_INET ? SET_NETS4 : SET_NETS6, false, false);
		x_counter(&rb, pod->ifname, MR_FW_COUNTER_DROP_ISOLATION);
		x_verdict(&rb, NF_DROP);
		rb_send(&rb, false);
	}

	rb_start(&rb, b, chain);
	x_counter(&rb, pod->ifname, MR_FW_COUNTER_ACCEPT);
	x_verdict(&rb, NF_ACCEPT);
	rb_send(&rb, false);
}

static void rules_input(struct batch *b, const mr_fw_pod *pod)
{
	static const uint8_t dns_protos[2] = { IPPROTO_UDP, IPPROTO_TCP };
	const uint16_t dns_port = htons(53);
	char chain[OBJ_NAME_LEN], set[OBJ_NAME_LEN];
	struct rb rb;

	pod_obj(chain, pod->ifname, "in");
	rules_spoof(b, chain, pod->ifname);

	/* Replies to flows the node opened, or that were accepted below. */
	rb_start(&rb, b, chain);
	x_ct_established(&rb);
	x_counter(&rb, pod->ifname, MR_FW_COUNTER_ACCEPT);
	x_verdict(&rb, NF_ACCEPT);
	rb_send(&rb, false);

	for (size_t i = 0; i < pod->n_subnets; i++) {
		const mr_prefix *gw = &pod->subnets[i];
		bool v4 = gw->family == MR_CIDR_INET;
		uint8_t echo = v4 ? 8 : 128; /* ICMP / ICMPv6 echo request */

		rb_start(&rb, b, chain);
		m_addr(&rb, gw->family, false);
		x_cmp(&rb, NFT_CMP_EQ, gw->addr, family_bytes(gw));
		m_l4proto(&rb, v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
		m_th(&rb, 0, &echo, sizeof(echo));
		x_counter(&rb, pod->ifname, MR_FW_COUNTER_ACCEPT);
		x_verdict(&rb, NF_ACCEPT);
		rb_send(&rb, false);
		if (!(pod->options & MR_FW_OPT_DNS))
			continue;
		for (size_t p = 0; p < MR_ARRAY_SIZE(dns_protos); p++) {
			rb_start(&rb, b, chain);
			m_addr(&rb, gw->family, false);
			x_cmp(&rb, NFT_CMP_EQ, gw->addr, family_bytes(gw));
			m_l4proto(&rb, dns_protos[p]);
			m_th(&rb, 2, &dns_port, sizeof(dns_port));
			x_counter(&rb, pod->ifname, MR_FW_COUNTER_ACCEPT);
			x_verdict(&rb, NF_ACCEPT);
			rb_send(&rb, false);
		}
	}

	/* Another pod's gateway (or any of its addresses the node holds) is
	 * isolation; everything else local is the node. */
	for (size_t f = 0; f < MR_ARRAY_SIZE(families); f++) {
		pod_set_name(set, pod->ifname, families[f]);
		rb_start(&rb, b, chain);
		m_addr(&rb, families[f], false);
		x_lookup(&rb, set, true, false);
		x_lookup(&rb, families[f] == MR_CIDR_INET ? SET_NETS4 : SET_NETS6, false, false);
		x_counter(&rb, pod->ifname, MR_FW_COUNTER_DROP_ISOLATION);
		x_verdict(&rb, NF_DROP);
		rb_send(&rb, false);
	}

	rb_start(&rb, b, chain);
	x_counter(&rb, pod->ifname, MR_FW_COUNTER_DROP_NODE);
	x_verdict(&rb, NF_DROP);
	rb_send(&rb, false);
}

static void rules_post(struct batch *b, const mr_fw_pod *pod, const char *const *uplinks,
		       size_t n_uplinks)
{
	char chain[OBJ_NAME_LEN];
	struct rb rb;

	pod_obj(chain, pod->ifname, "post");
	for (size_t i = 0; i < n_uplinks; i++) {
		rb_start(&rb, b, chain);
		m_ifname(&rb, NFT_META_OIFNAME, uplinks[i]);
		if (x_new(&rb, "masq") == NULL && rb.r)
			b->oom = true;
		rb_send(&rb, false);
	}
}

/* The shared part: table, sets, maps, base chains and their dispatch rules.
 * Sent whole whenever our sets are missing, so a half-deleted table is
 * repaired rather than appended to. */
static void put_base(struct batch *b)
{
	struct rb rb;

	put_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	for (size_t i = 0; i < MR_ARRAY_SIZE(shared_sets); i++)
		put_set(b, NFT_MSG_NEWSET, NLM_F_CREATE, &shared_sets[i], shared_sets[i].name);
	put_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, CHAIN_FORWARD, "filter", NF_INET_FORWARD,
		  NF_IP_PRI_FILTER);
	put_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, CHAIN_INPUT, "filter", NF_INET_LOCAL_IN,
		  NF_IP_PRI_FILTER);
	put_chain(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, CHAIN_POST, "nat", NF_INET_POST_ROUTING,
		  NF_IP_PRI_NAT_SRC);
	put_chain_flush(b, CHAIN_FORWARD);
	put_chain_flush(b, CHAIN_INPUT);
	put_chain_flush(b, CHAIN_POST);

	/* iifname vmap @pod_fwd */
	rb_start(&rb, b, CHAIN_FORWARD);
	x_meta(&rb, NFT_META_IIFNAME);
	x_lookup(&rb, MAP_FWD, false, true);
	rb_send(&rb, false);

	/* iifname vmap @pod_in: first, so that a pod never reaches the
	 * listen-port rule below (its chain ends in a drop). */
	rb_start(&rb, b, CHAIN_INPUT);
	x_meta(&rb, NFT_META_IIFNAME);
	x_lookup(&rb, MAP_IN, false, true);
	rb_send(&rb, false);

	/* udp dport @pod_ports accept */
	rb_start(&rb, b, CHAIN_INPUT);
	m_l4proto(&rb, IPPROTO_UDP);
	x_payload(&rb, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
	x_lookup(&rb, SET_PORTS, false, false);
	x_verdict(&rb, NF_ACCEPT);
	rb_send(&rb, false);

	/* ip saddr vmap @pod_post4, ip6 saddr vmap @pod_post6 */
	for (size_t f = 0; f < MR_ARRAY_SIZE(families); f++) {
		rb_start(&rb, b, CHAIN_POST);
		m_addr(&rb, families[f], true);
		x_lookup(&rb, families[f] == MR_CIDR_INET ? MAP_POST4 : MAP_POST6, false, true);
		rb_send(&rb, false);
	}
}

/* ------------------------------------------------------------------------
 * Public operations
 * ------------------------------------------------------------------------ */

static bool nets_contain(const mr_prefix *nets, size_t n, const mr_prefix *net)
{
	for (size_t i = 0; i < n; i++)
		if (same_network(&nets[i], net))
			return true;
	return false;
}

/* Send element changes for one interval set or map: remove what is only in
 * old, add what is only in new. */
static void diff_nets(struct batch *b, const char *set, uint8_t family, const mr_prefix *old,
		      size_t n_old, const mr_prefix *new, size_t n_new, const char *jump)
{
	struct elems del, add;

	elems_init(&del, b, set);
	for (size_t i = 0; i < n_old; i++)
		if (old[i].family == family && !nets_contain(new, n_new, &old[i]))
			elem_prefix(&del, &old[i], NULL);
	elems_send(&del, NFT_MSG_DELSETELEM, 0);
	elems_init(&add, b, set);
	for (size_t i = 0; i < n_new; i++)
		if (new[i].family == family && !nets_contain(old, n_old, &new[i]))
			elem_prefix(&add, &new[i], jump);
	elems_send(&add, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL);
}

static int validate_uplinks(const mr_fw_pod *pod, const char *const *uplinks, size_t n)
{
	if (n > MR_FW_UPLINKS_MAX)
		return mr__error_set(MR_EINVAL, "firewall pod %s: %zu uplinks, at most %d",
				     pod->ifname, n, MR_FW_UPLINKS_MAX);
	if (n && !uplinks)
		return mr__error_set(MR_EINVAL, "firewall pod %s: uplinks is NULL", pod->ifname);
	for (size_t i = 0; i < n; i++) {
		if (!uplinks[i])
			return mr__error_set(MR_EINVAL, "firewall pod %s: uplink %zu is NULL",
					     pod->ifname, i);
		if (mr_name_validate_interface(uplinks[i]) < 0) {
			char why[160];

			snprintf(why, sizeof(why), "%s", mr_error_message());
			return mr__error_set(MR_EINVAL, "firewall pod %s: uplink %zu: %s",
					     pod->ifname, i, why);
		}
		if (strcmp(uplinks[i], pod->ifname) == 0)
			return mr__error_set(MR_EINVAL, "firewall pod %s: the pod's own interface "
					     "cannot be an uplink", pod->ifname);
		for (size_t j = 0; j < i; j++)
			if (strcmp(uplinks[i], uplinks[j]) == 0)
				return mr__error_set(MR_EINVAL, "firewall pod %s: uplink %s given "
						     "twice", pod->ifname, uplinks[i]);
	}
	return 0;
}

static int check_conflicts(const struct fw_state *st, const mr_fw_pod *pod, const mr_prefix *nets)
{
	char a[MR_CIDR_STRLEN], c[MR_CIDR_STRLEN];

	for (size_t p = 0; p < st->n_pods; p++) {
		const struct pod_state *other = &st->pods[p];

		if (strcmp(other->ifname, pod->ifname) == 0)
			continue;
		for (size_t i = 0; i < pod->n_subnets; i++) {
			for (size_t j = 0; j < other->n_nets; j++) {
				if (!mr_cidr_overlaps(&nets[i], &other->nets[j]))
					continue;
				mr_cidr_format(a, sizeof(a), &nets[i]);
				mr_cidr_format(c, sizeof(c), &other->nets[j]);
				return mr__error_set(MR_ECONFLICT, "firewall pod %s: subnet %s "
						     "overlaps subnet %s of pod %s", pod->ifname,
						     a, c, other->ifname);
			}
		}
		if (pod->port && other->port == pod->port)
			return mr__error_set(MR_ECONFLICT, "firewall pod %s: listen port %u is "
					     "already pod %s's", pod->ifname, pod->port,
					     other->ifname);
	}
	return 0;
}

MR_API int mr_fw_apply_pod(mr_ctx *ctx, const mr_fw_pod *pod, const char *const *uplinks,
			   size_t n_uplinks)
{
	static const char *const chain_kinds[3] = { "fwd", "in", "post" };
	mr_prefix nets[MR_FW_SUBNETS_MAX];
	const mr_prefix *old_nets = NULL;
	char name[OBJ_NAME_LEN], jump[OBJ_NAME_LEN], what[96];
	struct mnl_socket *nl;
	struct fw_state st;
	struct pod_state *old;
	struct batch b;
	struct elems el;
	size_t n_old = 0;
	int rc;

	if (!ctx || !pod)
		return mr__error_set(MR_EINVAL, "firewall: context or pod spec is NULL");
	if (!pod->n_subnets)
		return mr__error_set(MR_EINVAL, "firewall pod %s: no subnet (add one with "
				     "mr_fw_pod_add_subnet)", pod->ifname);
	rc = validate_uplinks(pod, uplinks, n_uplinks);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < pod->n_subnets; i++)
		mr_cidr_network(&nets[i], &pod->subnets[i]);

	rc = mr__ctx_socket(ctx, NETLINK_NETFILTER, &nl);
	if (rc < 0)
		return rc;
	rc = read_state(ctx, nl, &st);
	if (rc < 0)
		return rc;
	rc = check_conflicts(&st, pod, nets);
	if (rc < 0)
		goto out;
	old = state_pod(&st, pod->ifname);
	if (old) {
		old_nets = old->nets;
		n_old = old->n_nets;
	}

	batch_init(&b, ctx);
	if (!st.table)
		put_base(&b);
	for (int i = 0; i < MR_FW_COUNTERS; i++) {
		counter_obj(name, pod->ifname, i);
		put_counter(&b, NFT_MSG_NEWOBJ, NLM_F_CREATE, name);
	}
	for (size_t f = 0; f < MR_ARRAY_SIZE(families); f++) {
		pod_set_name(name, pod->ifname, families[f]);
		put_set(&b, NFT_MSG_NEWSET, NLM_F_CREATE,
			families[f] == MR_CIDR_INET ? &pod_set4 : &pod_set6, name);
		/* A pod we do not know gets clean sets, whatever an
		 * interrupted earlier run may have left in them. */
		if (!old)
			put_set_flush(&b, name);
	}
	for (size_t i = 0; i < MR_ARRAY_SIZE(chain_kinds); i++) {
		pod_obj(name, pod->ifname, chain_kinds[i]);
		put_chain(&b, NFT_MSG_NEWCHAIN, NLM_F_CREATE, name, NULL, 0, 0);
		put_chain_flush(&b, name);
	}

	/* Element changes: removals first, so that a subnet that grows or
	 * shrinks does not collide with its old self. */
	pod_obj(jump, pod->ifname, "post");
	for (size_t f = 0; f < MR_ARRAY_SIZE(families); f++) {
		bool v4 = families[f] == MR_CIDR_INET;

		pod_set_name(name, pod->ifname, families[f]);
		diff_nets(&b, name, families[f], old_nets, n_old, nets, pod->n_subnets, NULL);
		diff_nets(&b, v4 ? SET_NETS4 : SET_NETS6, families[f], old_nets, n_old, nets,
			  pod->n_subnets, NULL);
		diff_nets(&b, v4 ? MAP_POST4 : MAP_POST6, families[f], old_nets, n_old, nets,
			  pod->n_subnets, jump);
	}
	if (!old) {
		elems_init(&el, &b, SET_IFACES);
		elem_ifname(&el, pod->ifname, NULL);
		elems_send(&el, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL);
		elems_init(&el, &b, MAP_FWD);
		pod_obj(jump, pod->ifname, "fwd");
		elem_ifname(&el, pod->ifname, jump);
		elems_send(&el, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL);
		elems_init(&el, &b, MAP_IN);
		pod_obj(jump, pod->ifname, "in");
		elem_ifname(&el, pod->ifname, jump);
		elems_send(&el, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL);
	}
	if (old && old->port && old->port != pod->port) {
		elems_init(&el, &b, SET_PORTS);
		elem_port(&el, old->port, pod->ifname, false);
		elems_send(&el, NFT_MSG_DELSETELEM, 0);
	}
	if (pod->port && (!old || old->port != pod->port)) {
		elems_init(&el, &b, SET_PORTS);
		elem_port(&el, pod->port, pod->ifname, true);
		elems_send(&el, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL);
	}

	rules_forward(&b, pod);
	rules_input(&b, pod);
	rules_post(&b, pod, uplinks, n_uplinks);

	snprintf(what, sizeof(what), "firewall: apply pod %s", pod->ifname);
	rc = batch_send(&b, nl, what);
	free(b.buf);
	if (rc == 0)
		mr__log(ctx, MR_LOG_INFO, "firewall: %s pod %s (%zu subnets, listen port %u, "
			"%zu uplinks)", old ? "updated" : "added", pod->ifname, pod->n_subnets,
			pod->port, n_uplinks);
out:
	state_free(&st);
	return rc;
}

MR_API int mr_fw_apply_pod_auto(mr_ctx *ctx, const mr_fw_pod *pod)
{
	const char *names[MR_FW_UPLINKS_MAX];
	mr_link_list *links = NULL;
	size_t n = 0;
	int rc;

	if (!ctx || !pod)
		return mr__error_set(MR_EINVAL, "firewall: context or pod spec is NULL");
	rc = mr_link_default_route_ifaces(ctx, 0, &links);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < mr_link_list_count(links); i++) {
		const char *name = mr_link_list_name(links, i);

		if (strcmp(name, pod->ifname) == 0)
			continue;
		if (n == MR_FW_UPLINKS_MAX) {
			rc = mr__error_set(MR_EINVAL, "firewall pod %s: more than %d interfaces "
					   "carry default routes", pod->ifname, MR_FW_UPLINKS_MAX);
			goto out;
		}
		names[n++] = name;
	}
	rc = mr_fw_apply_pod(ctx, pod, names, n);
out:
	mr_link_list_free(links);
	return rc;
}

MR_API int mr_fw_remove_pod(mr_ctx *ctx, const char *ifname)
{
	static const char *const chain_kinds[3] = { "fwd", "in", "post" };
	char name[OBJ_NAME_LEN], what[96];
	struct mnl_socket *nl;
	struct pod_state *old;
	struct fw_state st;
	struct batch b;
	struct elems el;
	int rc;

	if (!ctx || !ifname)
		return mr__error_set(MR_EINVAL, "firewall: context or interface name is NULL");
	rc = mr_name_validate_interface(ifname);
	if (rc < 0)
		return rc;
	rc = mr__ctx_socket(ctx, NETLINK_NETFILTER, &nl);
	if (rc < 0)
		return rc;
	rc = read_state(ctx, nl, &st);
	if (rc < 0)
		return rc;
	old = state_pod(&st, ifname);
	if (!old) {
		rc = mr__error_set(MR_ENOTFOUND, "firewall: pod %s has no rules", ifname);
		goto out;
	}

	batch_init(&b, ctx);
	if (st.n_pods == 1) {
		/* The last pod: nothing of ours is left worth keeping. */
		put_table(&b, NFT_MSG_DELTABLE, 0);
	} else {
		/* References first (map entries, then rules), so that the
		 * chains, sets and counters are unused when deleted. */
		elems_init(&el, &b, MAP_FWD);
		elem_ifname(&el, ifname, NULL);
		elems_send(&el, NFT_MSG_DELSETELEM, 0);
		elems_init(&el, &b, MAP_IN);
		elem_ifname(&el, ifname, NULL);
		elems_send(&el, NFT_MSG_DELSETELEM, 0);
		elems_init(&el, &b, SET_IFACES);
		elem_ifname(&el, ifname, NULL);
		elems_send(&el, NFT_MSG_DELSETELEM, 0);
		for (size_t f = 0; f < MR_ARRAY_SIZE(families); f++) {
			bool v4 = families[f] == MR_CIDR_INET;

			diff_nets(&b, v4 ? MAP_POST4 : MAP_POST6, families[f], old->nets,
				  old->n_nets, NULL, 0, NULL);
			diff_nets(&b, v4 ? SET_NETS4 : SET_NETS6, families[f], old->nets,
				  old->n_nets, NULL, 0, NULL);
		}
		if (old->port) {
			elems_init(&el, &b, SET_PORTS);
			elem_port(&el, old->port, ifname, false);
			elems_send(&el, NFT_MSG_DELSETELEM, 0);
		}
		for (size_t i = 0; i < MR_ARRAY_SIZE(chain_kinds); i++) {
			pod_obj(name, ifname, chain_kinds[i]);
			put_chain_flush(&b, name);
		}
		for (size_t i = 0; i < MR_ARRAY_SIZE(chain_kinds); i++) {
			pod_obj(name, ifname, chain_kinds[i]);
			put_chain(&b, NFT_MSG_DELCHAIN, 0, name, NULL, 0, 0);
		}
		for (size_t f = 0; f < MR_ARRAY_SIZE(families); f++) {
			pod_set_name(name, ifname, families[f]);
			put_set(&b, NFT_MSG_DELSET, 0, NULL, name);
		}
		for (int i = 0; i < MR_FW_COUNTERS; i++) {
			counter_obj(name, ifname, i);
			put_counter(&b, NFT_MSG_DELOBJ, 0, name);
		}
	}
	snprintf(what, sizeof(what), "firewall: remove pod %s", ifname);
	rc = batch_send(&b, nl, what);
	free(b.buf);
	if (rc == 0)
		mr__log(ctx, MR_LOG_INFO, "firewall: removed pod %s%s", ifname,
			st.n_pods == 1 ? " (the last one: table removed)" : "");
out:
	state_free(&st);
	return rc;
}

MR_API int mr_fw_list_pods(mr_ctx *ctx, char ***out, size_t *count)
{
	struct mnl_socket *nl;
	struct fw_state st;
	char **list, *str;
	size_t size;
	int rc;

	if (!ctx || !out || !count)
		return mr__error_set(MR_EINVAL, "firewall: context or output is NULL");
	rc = mr__ctx_socket(ctx, NETLINK_NETFILTER, &nl);
	if (rc < 0)
		return rc;
	rc = read_state(ctx, nl, &st);
	if (rc < 0)
		return rc;
	if (!st.n_pods) {
		*out = NULL;
		*count = 0;
		goto out;
	}
	/* One block: the pointer array, then the names it points to. */
	size = (st.n_pods + 1) * sizeof(char *) + st.n_pods * IFNAMSZ;
	list = calloc(1, size);
	if (!list) {
		rc = mr__error_set(MR_ENOMEM, "firewall: out of memory");
		goto out;
	}
	str = (char *)(list + st.n_pods + 1);
	for (size_t i = 0; i < st.n_pods; i++) {
		list[i] = str;
		memcpy(str, st.pods[i].ifname, IFNAMSZ);
		str += IFNAMSZ;
	}
	*out = list;
	*count = st.n_pods;
out:
	state_free(&st);
	return rc;
}

struct counters_reply {
	const char *ifname;
	uint64_t packets[MR_FW_COUNTERS];
	uint64_t bytes[MR_FW_COUNTERS];
	unsigned int seen;
};

static int counter_cb(const struct nlmsghdr *nlh, void *data)
{
	struct counters_reply *r = data;
	struct nftnl_obj *o = nftnl_obj_alloc();
	char name[OBJ_NAME_LEN];

	if (!o) {
		mr__error_set(MR_ENOMEM, "firewall: out of memory");
		return MNL_CB_ERROR;
	}
	if (nftnl_obj_nlmsg_parse(nlh, o) < 0 || !nftnl_obj_is_set(o, NFTNL_OBJ_NAME)) {
		nftnl_obj_free(o);
		mr__error_set(MR_EKERNEL, "firewall: cannot parse a counter");
		return MNL_CB_ERROR;
	}
	for (int i = 0; i < MR_FW_COUNTERS; i++) {
		counter_obj(name, r->ifname, i);
		if (strcmp(name, nftnl_obj_get_str(o, NFTNL_OBJ_NAME)) != 0)
			continue;
		r->packets[i] = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
		r->bytes[i] = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES);
		r->seen |= 1u << i;
	}
	nftnl_obj_free(o);
	return MNL_CB_OK;
}

MR_API int mr_fw_pod_counters(mr_ctx *ctx, const char *ifname, uint64_t *packets, uint64_t *bytes,
			      size_t n)
{
	struct counters_reply r = { .ifname = ifname };
	char buf[MR_FW_COUNTERS * 256], name[OBJ_NAME_LEN], what[96];
	struct mnl_socket *nl;
	uint32_t first = 0, last = 0;
	size_t len = 0;
	int rc;

	if (!ctx || !ifname)
		return mr__error_set(MR_EINVAL, "firewall: context or interface name is NULL");
	rc = mr_name_validate_interface(ifname);
	if (rc < 0)
		return rc;
	rc = mr__ctx_socket(ctx, NETLINK_NETFILTER, &nl);
	if (rc < 0)
		return rc;
	/* All four requests in one send; each is answered by its object and
	 * an ack. */
	for (int i = 0; i < MR_FW_COUNTERS; i++) {
		struct nftnl_obj *o = nftnl_obj_alloc();
		struct nlmsghdr *nlh;

		if (!o)
			return mr__error_set(MR_ENOMEM, "firewall: out of memory");
		counter_obj(name, ifname, i);
		nftnl_obj_set_str(o, NFTNL_OBJ_TABLE, MR_FW_TABLE);
		nftnl_obj_set_str(o, NFTNL_OBJ_NAME, name);
		nftnl_obj_set_u32(o, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
		if (!nftnl_obj_is_set(o, NFTNL_OBJ_TABLE) || !nftnl_obj_is_set(o, NFTNL_OBJ_NAME)) {
			nftnl_obj_free(o);
			return mr__error_set(MR_ENOMEM, "firewall: out of memory");
		}
		last = mr__ctx_seq(ctx);
		if (i == 0)
			first = last;
		nlh = nftnl_nlmsg_build_hdr(buf + len, NFT_MSG_GETOBJ, NFPROTO_INET, NLM_F_ACK,
					    last);
		nftnl_obj_nlmsg_build_payload(nlh, o);
		nftnl_obj_free(o);
		len += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	snprintf(what, sizeof(what), "firewall: read counters of pod %s", ifname);
	rc = mr__nl_talk_many(ctx, nl, buf, len, first, last, counter_cb, &r, what);
	if (rc == MR_ENOTFOUND)
		return mr__error_set(MR_ENOTFOUND, "firewall: pod %s has no counters (no rules)",
				     ifname);
	if (rc < 0)
		return rc;
	if (r.seen != (1u << MR_FW_COUNTERS) - 1)
		return mr__error_set(MR_EKERNEL, "%s: the kernel did not return every counter",
				     what);
	for (size_t i = 0; i < n && i < MR_FW_COUNTERS; i++) {
		if (packets)
			packets[i] = r.packets[i];
		if (bytes)
			bytes[i] = r.bytes[i];
	}
	return 0;
}

MR_API int mr_fw_destroy(mr_ctx *ctx)
{
	struct mnl_socket *nl;
	struct batch b;
	int rc;

	if (!ctx)
		return mr__error_set(MR_EINVAL, "firewall: context is NULL");
	rc = mr__ctx_socket(ctx, NETLINK_NETFILTER, &nl);
	if (rc < 0)
		return rc;
	batch_init(&b, ctx);
	put_table(&b, NFT_MSG_DELTABLE, 0);
	rc = batch_send(&b, nl, "firewall: delete table inet " MR_FW_TABLE);
	free(b.buf);
	if (rc == MR_ENOTFOUND) {
		mr_error_clear();
		return 0;
	}
	if (rc == 0)
		mr__log(ctx, MR_LOG_INFO, "firewall: table inet %s removed", MR_FW_TABLE);
	return rc;
}

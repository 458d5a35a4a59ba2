/* SPDX-License-Identifier: MIT */
/*
 * The kernel backend of the wg module: WG_CMD_SET_DEVICE requests split over
 * as many netlink messages as the peer list needs, and the WG_CMD_GET_DEVICE
 * dump merged back into one device.
 */
#include "wg-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/genetlink.h>
#include <linux/wireguard.h>

/* Several messages go out in one sendto(); the kernel refuses a send larger
 * than the socket's send buffer (about 200 KiB by default). */
#define SEND_CHUNK (128 * 1024)

void mr__wg_msgs_free(struct mr__wg_msgs *m)
{
	/* The buffer holds the private key and preshared keys. */
	mr__wipe(m->buf, m->len);
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

static int msgs_reserve(struct mr__wg_msgs *m, size_t need)
{
	size_t cap = m->cap ? m->cap : 64 * 1024;
	char *buf;

	if (m->len + need <= m->cap)
		return 0;
	while (cap < m->len + need)
		cap *= 2;
	/* Not realloc: the old block holds secrets and must be wiped. */
	buf = malloc(cap);
	if (!buf)
		return mr__error_set(MR_ENOMEM, "WireGuard netlink request: out of memory");
	if (m->buf) {
		memcpy(buf, m->buf, m->len);
		mr__wipe(m->buf, m->len);
		free(m->buf);
	}
	m->buf = buf;
	m->cap = cap;
	return 0;
}

enum put_result { PUT_NONE, PUT_PARTIAL, PUT_DONE };

static bool put_endpoint(struct nlmsghdr *nlh, size_t lim, const union mr__wg_endpoint *ep)
{
	if (ep->sa.sa_family == AF_INET)
		return mnl_attr_put_check(nlh, lim, WGPEER_A_ENDPOINT, sizeof(ep->in), &ep->in);
	return mnl_attr_put_check(nlh, lim, WGPEER_A_ENDPOINT, sizeof(ep->in6), &ep->in6);
}

static bool put_aip(struct nlmsghdr *nlh, size_t lim, const mr_prefix *a)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, lim, 0);
	bool v4 = a->family == MR_CIDR_INET;

	if (!nest)
		return false;
	if (!mnl_attr_put_u16_check(nlh, lim, WGALLOWEDIP_A_FAMILY, v4 ? AF_INET : AF_INET6) ||
	    !mnl_attr_put_check(nlh, lim, WGALLOWEDIP_A_IPADDR, v4 ? 4 : 16, a->addr) ||
	    !mnl_attr_put_u8_check(nlh, lim, WGALLOWEDIP_A_CIDR_MASK, a->len)) {
		mnl_attr_nest_cancel(nlh, nest);
		return false;
	}
	mnl_attr_nest_end(nlh, nest);
	return true;
}

/*
 * Put as much of one peer as fits. A peer whose allowed IPs do not all fit
 * is ended early and continued in the next message: the continuation repeats
 * the public key and the flags that must hold for every part (remove,
 * update-only) but not the one-time fields (replace-allowed-IPs, which would
 * drop the part already sent, nor the preshared key, endpoint, keepalive).
 * A part that would carry no allowed IP at all is not sent, so every part
 * of a peer after its first carries new allowed IPs.
 */
static enum put_result put_peer(struct nlmsghdr *nlh, size_t lim, const mr_wg_peer *p,
				uint32_t *next_aip)
{
	bool first_part = *next_aip == 0;
	bool remove = p->fields & MR__WG_P_REMOVE;
	struct nlattr *peer, *aips;
	uint32_t flags = 0, i;

	peer = mnl_attr_nest_start_check(nlh, lim, 0);
	if (!peer)
		return PUT_NONE;
	if (!mnl_attr_put_check(nlh, lim, WGPEER_A_PUBLIC_KEY, MR_KEY_LEN, p->public_key.bytes))
		goto none;
	if (remove)
		flags |= WGPEER_F_REMOVE_ME;
	if (p->fields & MR__WG_P_UPDATE_ONLY)
		flags |= WGPEER_F_UPDATE_ONLY;
	if (first_part && !remove) {
		if (p->fields & MR__WG_P_REPLACE_AIPS)
			flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
		/* An all-zero preshared key is how the kernel is told "none". */
		if ((p->fields & MR__WG_P_PRESHARED_KEY) &&
		    !mnl_attr_put_check(nlh, lim, WGPEER_A_PRESHARED_KEY, MR_KEY_LEN,
					p->preshared_key.bytes))
			goto none;
		if ((p->fields & MR__WG_P_ENDPOINT) && !put_endpoint(nlh, lim, &p->endpoint))
			goto none;
		if ((p->fields & MR__WG_P_KEEPALIVE) &&
		    !mnl_attr_put_u16_check(nlh, lim, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
					    (uint16_t)p->keepalive))
			goto none;
	}
	if (flags && !mnl_attr_put_u32_check(nlh, lim, WGPEER_A_FLAGS, flags))
		goto none;
	if (remove || p->n_aips == 0) {
		mnl_attr_nest_end(nlh, peer);
		return PUT_DONE;
	}
	aips = mnl_attr_nest_start_check(nlh, lim, WGPEER_A_ALLOWEDIPS);
	if (!aips)
		goto none;
	for (i = *next_aip; i < p->n_aips; i++)
		if (!put_aip(nlh, lim, &p->aips[i]))
			break;
	if (i == *next_aip)
		goto none;
	mnl_attr_nest_end(nlh, aips);
	mnl_attr_nest_end(nlh, peer);
	if (i < p->n_aips) {
		*next_aip = i;
		return PUT_PARTIAL;
	}
	return PUT_DONE;
none:
	mnl_attr_nest_cancel(nlh, peer);
	return PUT_NONE;
}

static void put_device(struct nlmsghdr *nlh, const mr_wg_device *dev)
{
	if (dev->fields & MR__WG_D_PRIVATE_KEY)
		mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, MR_KEY_LEN, dev->private_key.bytes);
	if (dev->fields & MR__WG_D_LISTEN_PORT)
		mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, (uint16_t)dev->listen_port);
	if (dev->fields & MR__WG_D_FWMARK)
		mnl_attr_put_u32(nlh, WGDEVICE_A_FWMARK, dev->fwmark);
	if (dev->fields & MR__WG_D_REPLACE_PEERS)
		mnl_attr_put_u32(nlh, WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS);
}

int mr__wg_kernel_build_set(const mr_wg_device *dev, const char *ifname, uint16_t family,
			    uint32_t first_seq, size_t msg_size, struct mr__wg_msgs *out)
{
	struct mr__wg_msgs m = {0};
	size_t pi = 0;
	uint32_t next_aip = 0;
	int rc;

	/* Device attributes must fit in the first message with room to
	 * spare; the 16-bit length of the peers nest bounds it above. */
	if (msg_size < 512 || msg_size > 65535)
		return mr__error_set(MR_EINVAL, "netlink message size %zu: expected 512 to 65535",
				     msg_size);
	for (;;) {
		struct nlmsghdr *nlh;
		struct genlmsghdr *genl;
		bool progress = m.count == 0;

		rc = msgs_reserve(&m, msg_size);
		if (rc < 0)
			goto fail;
		nlh = mnl_nlmsg_put_header(m.buf + m.len);
		nlh->nlmsg_type = family;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		nlh->nlmsg_seq = first_seq + m.count;
		genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
		genl->cmd = WG_CMD_SET_DEVICE;
		genl->version = WG_GENL_VERSION;
		mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
		/* Device fields and replace-peers belong to the first message
		 * only: repeated, replace-peers would drop the peers that the
		 * earlier messages just added. */
		if (m.count == 0)
			put_device(nlh, dev);
		if (pi < dev->n_peers) {
			struct nlattr *peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
			bool any = false;

			while (pi < dev->n_peers) {
				enum put_result r =
				    put_peer(nlh, msg_size, dev->peers[pi], &next_aip);

				if (r == PUT_NONE)
					break;
				any = true;
				if (r == PUT_PARTIAL)
					break;
				pi++;
				next_aip = 0;
			}
			if (any) {
				mnl_attr_nest_end(nlh, peers);
				progress = true;
			} else {
				mnl_attr_nest_cancel(nlh, peers);
			}
		}
		if (!progress) {
			rc = mr__error_set(MR_ETOOBIG,
					   "WireGuard netlink request: a peer does not "
					   "fit in a message of %zu bytes",
					   msg_size);
			goto fail;
		}
		m.len += nlh->nlmsg_len;
		m.count++;
		if (pi >= dev->n_peers)
			break;
	}
	*out = m;
	return 0;
fail:
	mr__wg_msgs_free(&m);
	return rc;
}

int mr__wg_kernel_set(mr_ctx *ctx, const char *ifname, const mr_wg_device *dev,
		      struct mr__wg_tx *tx)
{
	struct mr__wg_msgs m;
	struct mnl_socket *nl;
	char what[64];
	uint16_t family;
	uint32_t first_seq;
	size_t off = 0;
	int rc;

	rc = mr__ctx_wg_family(ctx, &family);
	if (rc < 0)
		return rc;
	rc = mr__ctx_socket(ctx, NETLINK_GENERIC, &nl);
	if (rc < 0)
		return rc;
	first_seq = ctx->seq + 1;
	rc = mr__wg_kernel_build_set(dev, ifname, family, first_seq, MR__WG_MSG_SIZE, &m);
	if (rc < 0)
		return rc;
	ctx->seq += m.count;
	snprintf(what, sizeof(what), "set WireGuard device %s", ifname);
	while (off < m.len) {
		const struct nlmsghdr *first = (const struct nlmsghdr *)(m.buf + off);
		const struct nlmsghdr *last = first;
		size_t end = off + first->nlmsg_len;

		while (end < m.len) {
			const struct nlmsghdr *next = (const struct nlmsghdr *)(m.buf + end);

			if (end - off + next->nlmsg_len > SEND_CHUNK)
				break;
			last = next;
			end += next->nlmsg_len;
		}
		/* A failed chunk stops here: later messages are not sent, as
		 * wg(8) stops at its first failed message. */
		rc = mr__nl_talk_many(ctx, nl, m.buf + off, end - off, first->nlmsg_seq,
				      last->nlmsg_seq, NULL, NULL, what);
		if (rc < 0)
			break;
		off = end;
	}
	if (tx) {
		tx->messages = m.count;
		tx->bytes = m.len;
	}
	mr__wg_msgs_free(&m);
	return rc;
}

/* --- the dump --- */

struct peer_attrs {
	const struct nlattr *a[WGPEER_A_MAX + 1];
};

static int collect_peer_attr(const struct nlattr *attr, void *data)
{
	struct peer_attrs *pa = data;
	uint16_t type = mnl_attr_get_type(attr);

	/* Unknown (newer) attributes are skipped, as is the 64-bit padding
	 * attribute (type 0) the kernel inserts before counters. */
	if (type > WGPEER_A_MAX)
		return MNL_CB_OK;
	pa->a[type] = attr;
	return MNL_CB_OK;
}

static int bad_dump(const char *what)
{
	return mr__error_set(MR_EKERNEL, "WireGuard dump: malformed %s", what);
}

static int parse_aip(const struct nlattr *nest, mr_wg_peer *peer)
{
	const struct nlattr *attr;
	const void *addr = NULL;
	size_t addr_len = 0;
	int family = -1, cidr = -1;
	mr_prefix p = {0};

	mnl_attr_for_each_nested(attr, nest)
	{
		switch (mnl_attr_get_type(attr)) {
		case WGALLOWEDIP_A_FAMILY:
			if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0)
				return bad_dump("allowed IP family");
			family = mnl_attr_get_u16(attr);
			break;
		case WGALLOWEDIP_A_IPADDR:
			addr = mnl_attr_get_payload(attr);
			addr_len = mnl_attr_get_payload_len(attr);
			break;
		case WGALLOWEDIP_A_CIDR_MASK:
			if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
				return bad_dump("allowed IP prefix length");
			cidr = mnl_attr_get_u8(attr);
			break;
		default:
			break;
		}
	}
	if (family == AF_INET && addr_len == 4 && cidr >= 0 && cidr <= 32)
		p.family = MR_CIDR_INET;
	else if (family == AF_INET6 && addr_len == 16 && cidr >= 0 && cidr <= 128)
		p.family = MR_CIDR_INET6;
	else
		return bad_dump("allowed IP");
	p.len = (uint8_t)cidr;
	memcpy(p.addr, addr, addr_len);
	return mr__wg_peer_add_aip_readback(peer, &p);
}

static int parse_peer(const struct nlattr *nest, mr_wg_device *dev)
{
	struct peer_attrs pa = {0};
	const struct nlattr *a;
	mr_wg_peer *peer;
	mr_key key;
	int rc;

	if (mnl_attr_parse_nested(nest, collect_peer_attr, &pa) < 0)
		return bad_dump("peer");
	a = pa.a[WGPEER_A_PUBLIC_KEY];
	if (!a || mnl_attr_get_payload_len(a) != MR_KEY_LEN)
		return bad_dump("peer public key");
	memcpy(key.bytes, mnl_attr_get_payload(a), MR_KEY_LEN);
	/* The kernel continues a peer whose allowed IPs did not fit in one
	 * message at the start of the next one, repeating only its public
	 * key: merge such a part into the peer before it. */
	if (dev->n_peers &&
	    memcmp(dev->peers[dev->n_peers - 1]->public_key.bytes, key.bytes, MR_KEY_LEN) == 0) {
		peer = dev->peers[dev->n_peers - 1];
	} else {
		rc = mr__wg_device_add_peer(dev, &key, &peer);
		if (rc == MR_EEXIST)
			return mr__error_set(MR_EKERNEL, "WireGuard dump: a peer appears twice");
		if (rc < 0)
			return rc;
		peer->fields |= MR__WG_P_KEEPALIVE;
	}
	if ((a = pa.a[WGPEER_A_PRESHARED_KEY])) {
		if (mnl_attr_get_payload_len(a) != MR_KEY_LEN)
			return bad_dump("preshared key");
		memcpy(peer->preshared_key.bytes, mnl_attr_get_payload(a), MR_KEY_LEN);
		peer->fields |= MR__WG_P_PRESHARED_KEY;
		if (!mr_key_is_zero(&peer->preshared_key))
			peer->fields |= MR__WG_P_HAS_PSK;
		else
			peer->fields &= ~MR__WG_P_HAS_PSK;
	}
	if ((a = pa.a[WGPEER_A_ENDPOINT])) {
		const struct sockaddr *sa = mnl_attr_get_payload(a);
		size_t len = mnl_attr_get_payload_len(a);

		if (len >= sizeof(sa_family_t)) {
			if (sa->sa_family == AF_INET && len == sizeof(struct sockaddr_in)) {
				memcpy(&peer->endpoint.in, sa, len);
				peer->fields |= MR__WG_P_ENDPOINT;
			} else if (sa->sa_family == AF_INET6 &&
				   len == sizeof(struct sockaddr_in6)) {
				memcpy(&peer->endpoint.in6, sa, len);
				peer->fields |= MR__WG_P_ENDPOINT;
			}
		}
	}
	if ((a = pa.a[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL])) {
		if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
			return bad_dump("keepalive");
		peer->keepalive = mnl_attr_get_u16(a);
	}
	if ((a = pa.a[WGPEER_A_LAST_HANDSHAKE_TIME])) {
		/* struct __kernel_timespec: two 64-bit fields. */
		int64_t ts[2];

		if (mnl_attr_get_payload_len(a) != sizeof(ts))
			return bad_dump("last handshake time");
		memcpy(ts, mnl_attr_get_payload(a), sizeof(ts));
		peer->handshake_sec = ts[0];
		peer->handshake_nsec = ts[1];
	}
	if ((a = pa.a[WGPEER_A_RX_BYTES])) {
		if (mnl_attr_validate(a, MNL_TYPE_U64) < 0)
			return bad_dump("rx bytes");
		peer->rx_bytes = mnl_attr_get_u64(a);
	}
	if ((a = pa.a[WGPEER_A_TX_BYTES])) {
		if (mnl_attr_validate(a, MNL_TYPE_U64) < 0)
			return bad_dump("tx bytes");
		peer->tx_bytes = mnl_attr_get_u64(a);
	}
	if ((a = pa.a[WGPEER_A_PROTOCOL_VERSION])) {
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return bad_dump("protocol version");
		peer->protocol_version = mnl_attr_get_u32(a);
	}
	if ((a = pa.a[WGPEER_A_ALLOWEDIPS])) {
		const struct nlattr *aip;

		mnl_attr_for_each_nested(aip, a)
		{
			rc = parse_aip(aip, peer);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int device_attr_cb(const struct nlattr *attr, void *data)
{
	mr_wg_device *dev = data;
	const struct nlattr *peer;
	int rc;

	switch (mnl_attr_get_type(attr)) {
	case WGDEVICE_A_PRIVATE_KEY:
		if (mnl_attr_get_payload_len(attr) != MR_KEY_LEN) {
			bad_dump("private key");
			return MNL_CB_ERROR;
		}
		memcpy(dev->private_key.bytes, mnl_attr_get_payload(attr), MR_KEY_LEN);
		dev->fields |= MR__WG_D_PRIVATE_KEY;
		if (!mr_key_is_zero(&dev->private_key))
			dev->fields |= MR__WG_D_HAS_KEY;
		break;
	case WGDEVICE_A_PUBLIC_KEY:
		if (mnl_attr_get_payload_len(attr) != MR_KEY_LEN) {
			bad_dump("public key");
			return MNL_CB_ERROR;
		}
		memcpy(dev->public_key.bytes, mnl_attr_get_payload(attr), MR_KEY_LEN);
		break;
	case WGDEVICE_A_LISTEN_PORT:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) < 0) {
			bad_dump("listen port");
			return MNL_CB_ERROR;
		}
		dev->listen_port = mnl_attr_get_u16(attr);
		dev->fields |= MR__WG_D_LISTEN_PORT;
		break;
	case WGDEVICE_A_FWMARK:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0) {
			bad_dump("fwmark");
			return MNL_CB_ERROR;
		}
		dev->fwmark = mnl_attr_get_u32(attr);
		dev->fields |= MR__WG_D_FWMARK;
		break;
	case WGDEVICE_A_PEERS:
		mnl_attr_for_each_nested(peer, attr)
		{
			rc = parse_peer(peer, dev);
			if (rc < 0)
				return MNL_CB_ERROR;
		}
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

int mr__wg_kernel_parse_dump(const struct nlmsghdr *nlh, void *data)
{
	mr_wg_device *dev = data;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct genlmsghdr))) {
		bad_dump("message");
		return MNL_CB_ERROR;
	}
	if (mnl_attr_parse(nlh, sizeof(struct genlmsghdr), device_attr_cb, dev) < 0) {
		if (!mr_error_last())
			bad_dump("device");
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static void dump_reset(void *data)
{
	mr__wg_device_clear(data);
}

int mr__wg_kernel_get(mr_ctx *ctx, const char *ifname, mr_wg_device *dev)
{
	char buf[512];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;
	char what[64];
	uint16_t family;
	int rc;

	rc = mr__ctx_wg_family(ctx, &family);
	if (rc < 0)
		return rc;
	rc = mr__ctx_socket(ctx, NETLINK_GENERIC, &nl);
	if (rc < 0)
		return rc;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = WG_CMD_GET_DEVICE;
	genl->version = WG_GENL_VERSION;
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	snprintf(what, sizeof(what), "get WireGuard device %s", ifname);
	mr_error_clear();
	rc = mr__nl_talk(ctx, nl, nlh, mr__wg_kernel_parse_dump, dump_reset, dev, what);
	if (rc < 0)
		return rc;
	/* The public key comes with the private key; derive it should a
	 * kernel ever leave it out. */
	if ((dev->fields & MR__WG_D_HAS_KEY) && mr_key_is_zero(&dev->public_key)) {
		rc = mr_key_public_from_private(&dev->public_key, &dev->private_key);
		if (rc < 0)
			return rc;
	}
	dev->fields |= MR__WG_D_LISTEN_PORT | MR__WG_D_FWMARK;
	return 0;
}

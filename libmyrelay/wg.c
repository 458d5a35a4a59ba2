/* SPDX-License-Identifier: MIT */
/*
 * WireGuard device configuration objects, their validation, the choice of
 * backend, and the diff behind mr_wg_sync(). The two backends live in
 * wg-kernel.c and wg-uapi.c.
 */
#include "wg-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <myrelay/name.h>

/* --- keyed hash of public keys (SipHash-2-4 over the 32 key bytes) --- */

/* clang-format off */
#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                 \
	do {                                                                     \
		v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);     \
		v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;                         \
		v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;                         \
		v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);     \
	} while (0)
/* clang-format on */

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t key_hash(const mr_wg_device *dev, const mr_key *key)
{
	uint64_t v0 = dev->hash_k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = dev->hash_k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = dev->hash_k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = dev->hash_k1 ^ 0x7465646279746573ULL;
	uint64_t b = (uint64_t)MR_KEY_LEN << 56;

	for (size_t i = 0; i < MR_KEY_LEN; i += 8) {
		uint64_t m = load_le64(key->bytes + i);

		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static void index_insert(mr_wg_device *dev, size_t peer_idx)
{
	size_t mask = dev->index_cap - 1;
	size_t slot = (size_t)dev->peers[peer_idx]->hash & mask;

	while (dev->index[slot])
		slot = (slot + 1) & mask;
	dev->index[slot] = (uint32_t)(peer_idx + 1);
}

/* Keep the load factor at or below one half so probes stay short. */
static int index_reserve(mr_wg_device *dev, size_t n)
{
	size_t cap = dev->index_cap ? dev->index_cap : 64;
	uint32_t *idx;

	while (cap < 2 * n)
		cap *= 2;
	if (cap == dev->index_cap)
		return 0;
	idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return mr__error_set(MR_ENOMEM, "WireGuard device: out of memory");
	free(dev->index);
	dev->index = idx;
	dev->index_cap = cap;
	for (size_t i = 0; i < dev->n_peers; i++)
		index_insert(dev, i);
	return 0;
}

static mr_wg_peer *index_find_hashed(const mr_wg_device *dev, const mr_key *key, uint64_t hash)
{
	size_t mask, slot;

	if (!dev->index_cap)
		return NULL;
	mask = dev->index_cap - 1;
	slot = (size_t)hash & mask;
	while (dev->index[slot]) {
		mr_wg_peer *p = dev->peers[dev->index[slot] - 1];

		/* Public keys are not secret: an ordinary comparison is fine. */
		if (p->hash == hash && memcmp(p->public_key.bytes, key->bytes, MR_KEY_LEN) == 0)
			return p;
		slot = (slot + 1) & mask;
	}
	return NULL;
}

static mr_wg_peer *index_find(const mr_wg_device *dev, const mr_key *key)
{
	if (!dev->index_cap)
		return NULL;
	return index_find_hashed(dev, key, key_hash(dev, key));
}

/* --- objects --- */

MR_API int mr_wg_device_new(mr_wg_device **out)
{
	mr_wg_device *dev;
	uint64_t seed[2];
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "WireGuard device: output is NULL");
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return mr__error_set(MR_ENOMEM, "WireGuard device: out of memory");
	rc = mr__random(seed, sizeof(seed));
	if (rc < 0) {
		free(dev);
		return rc;
	}
	dev->hash_k0 = seed[0];
	dev->hash_k1 = seed[1];
	*out = dev;
	return 0;
}

static void peer_free(mr_wg_peer *p)
{
	if (!p)
		return;
	free(p->aips);
	mr__wipe(p, sizeof(*p));
	free(p);
}

void mr__wg_device_clear(mr_wg_device *dev)
{
	for (size_t i = 0; i < dev->n_peers; i++)
		peer_free(dev->peers[i]);
	dev->n_peers = 0;
	dev->n_aips = 0;
	if (dev->index)
		memset(dev->index, 0, dev->index_cap * sizeof(*dev->index));
	mr__wipe(&dev->private_key, sizeof(dev->private_key));
	memset(&dev->private_key, 0, sizeof(dev->private_key));
	memset(&dev->public_key, 0, sizeof(dev->public_key));
	dev->listen_port = 0;
	dev->fwmark = 0;
	dev->fields = 0;
}

MR_API void mr_wg_device_free(mr_wg_device *dev)
{
	if (!dev)
		return;
	mr__wg_device_clear(dev);
	free(dev->peers);
	free(dev->index);
	mr__wipe(dev, sizeof(*dev));
	free(dev);
}

static void clamp(mr_key *k)
{
	k->bytes[0] &= 248;
	k->bytes[31] = (uint8_t)((k->bytes[31] & 127) | 64);
}

MR_API int mr_wg_device_set_private_key(mr_wg_device *dev, const mr_key *key)
{
	mr_key pub;
	int rc;

	if (!dev)
		return mr__error_set(MR_EINVAL, "WireGuard device is NULL");
	if (!key) {
		mr__wipe(&dev->private_key, sizeof(dev->private_key));
		/* "No key" is sent as zeros, whatever the wipe left behind. */
		memset(&dev->private_key, 0, sizeof(dev->private_key));
		memset(&dev->public_key, 0, sizeof(dev->public_key));
		dev->fields = (dev->fields | MR__WG_D_PRIVATE_KEY) & ~MR__WG_D_HAS_KEY;
		return 0;
	}
	if (mr_key_is_zero(key))
		return mr__error_set(MR_EINVAL, "private key: all zero (pass NULL to remove the "
						"device's key)");
	rc = mr_key_public_from_private(&pub, key);
	if (rc < 0)
		return rc;
	/* Kept clamped, as the kernel keeps it: both backends then read back
	 * the same bytes, and sync compares like with like. */
	dev->private_key = *key;
	clamp(&dev->private_key);
	dev->public_key = pub;
	dev->fields |= MR__WG_D_PRIVATE_KEY | MR__WG_D_HAS_KEY;
	return 0;
}

MR_API bool mr_wg_device_has_private_key(const mr_wg_device *dev)
{
	return dev && (dev->fields & MR__WG_D_HAS_KEY);
}

MR_API int mr_wg_device_get_private_key(const mr_wg_device *dev, mr_key *out)
{
	if (!dev || !out)
		return mr__error_set(MR_EINVAL, "WireGuard device or output is NULL");
	if (!(dev->fields & MR__WG_D_HAS_KEY))
		return mr__error_set(MR_ENOTFOUND, "WireGuard device: no private key");
	*out = dev->private_key;
	return 0;
}

MR_API int mr_wg_device_get_public_key(const mr_wg_device *dev, mr_key *out)
{
	if (!dev || !out)
		return mr__error_set(MR_EINVAL, "WireGuard device or output is NULL");
	if (!(dev->fields & MR__WG_D_HAS_KEY))
		return mr__error_set(MR_ENOTFOUND, "WireGuard device: no private key, so no "
						   "public key");
	*out = dev->public_key;
	return 0;
}

MR_API int mr_wg_device_set_listen_port(mr_wg_device *dev, uint32_t port)
{
	if (!dev)
		return mr__error_set(MR_EINVAL, "WireGuard device is NULL");
	if (port > MR_WG_PORT_MAX)
		return mr__error_set(MR_EINVAL, "listen port %" PRIu32 ": expected 0 to %d", port,
				     MR_WG_PORT_MAX);
	dev->listen_port = port;
	dev->fields |= MR__WG_D_LISTEN_PORT;
	return 0;
}

MR_API bool mr_wg_device_has_listen_port(const mr_wg_device *dev)
{
	return dev && (dev->fields & MR__WG_D_LISTEN_PORT);
}

MR_API uint32_t mr_wg_device_get_listen_port(const mr_wg_device *dev)
{
	return dev ? dev->listen_port : 0;
}

MR_API int mr_wg_device_set_fwmark(mr_wg_device *dev, uint32_t fwmark)
{
	if (!dev)
		return mr__error_set(MR_EINVAL, "WireGuard device is NULL");
	dev->fwmark = fwmark;
	dev->fields |= MR__WG_D_FWMARK;
	return 0;
}

MR_API bool mr_wg_device_has_fwmark(const mr_wg_device *dev)
{
	return dev && (dev->fields & MR__WG_D_FWMARK);
}

MR_API uint32_t mr_wg_device_get_fwmark(const mr_wg_device *dev)
{
	return dev ? dev->fwmark : 0;
}

MR_API int mr_wg_device_set_replace_peers(mr_wg_device *dev, bool replace)
{
	if (!dev)
		return mr__error_set(MR_EINVAL, "WireGuard device is NULL");
	if (replace)
		dev->fields |= MR__WG_D_REPLACE_PEERS;
	else
		dev->fields &= ~MR__WG_D_REPLACE_PEERS;
	return 0;
}

MR_API bool mr_wg_device_get_replace_peers(const mr_wg_device *dev)
{
	return dev && (dev->fields & MR__WG_D_REPLACE_PEERS);
}

static void key_b64(char out[MR_KEY_BASE64_SIZE], const mr_key *public_key)
{
	if (mr_key_to_base64(out, MR_KEY_BASE64_SIZE, public_key) < 0)
		snprintf(out, MR_KEY_BASE64_SIZE, "?");
}

int mr__wg_device_add_peer(mr_wg_device *dev, const mr_key *public_key, mr_wg_peer **out)
{
	uint64_t hash = key_hash(dev, public_key);
	mr_wg_peer *p;
	int rc;

	if (index_find_hashed(dev, public_key, hash)) {
		char b64[MR_KEY_BASE64_SIZE];

		key_b64(b64, public_key);
		return mr__error_set(MR_EEXIST, "peer %s: listed twice", b64);
	}
	if (dev->n_peers >= MR_WG_MAX_PEERS)
		return mr__error_set(MR_EINVAL, "WireGuard device: more than %d peers",
				     MR_WG_MAX_PEERS);
	if (dev->n_peers == dev->cap_peers) {
		size_t cap = dev->cap_peers ? 2 * dev->cap_peers : 16;
		mr_wg_peer **peers = realloc(dev->peers, cap * sizeof(*peers));

		if (!peers)
			return mr__error_set(MR_ENOMEM, "WireGuard device: out of memory");
		dev->peers = peers;
		dev->cap_peers = cap;
	}
	rc = index_reserve(dev, dev->n_peers + 1);
	if (rc < 0)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		return mr__error_set(MR_ENOMEM, "WireGuard device: out of memory");
	p->public_key = *public_key;
	p->hash = hash;
	p->dev = dev;
	dev->peers[dev->n_peers] = p;
	index_insert(dev, dev->n_peers);
	dev->n_peers++;
	if (out)
		*out = p;
	return 0;
}

MR_API int mr_wg_device_add_peer(mr_wg_device *dev, const mr_key *public_key, mr_wg_peer **out)
{
	if (!dev || !public_key)
		return mr__error_set(MR_EINVAL, "WireGuard device or peer public key is NULL");
	if (mr_key_is_zero(public_key))
		return mr__error_set(MR_EINVAL, "peer public key: all zero");
	if ((dev->fields & MR__WG_D_HAS_KEY) &&
	    memcmp(dev->public_key.bytes, public_key->bytes, MR_KEY_LEN) == 0)
		return mr__error_set(MR_EINVAL, "peer public key: is the device's own public key");
	return mr__wg_device_add_peer(dev, public_key, out);
}

MR_API size_t mr_wg_device_peer_count(const mr_wg_device *dev)
{
	return dev ? dev->n_peers : 0;
}

MR_API mr_wg_peer *mr_wg_device_peer(const mr_wg_device *dev, size_t i)
{
	if (!dev || i >= dev->n_peers)
		return NULL;
	return dev->peers[i];
}

MR_API mr_wg_peer *mr_wg_device_find_peer(const mr_wg_device *dev, const mr_key *public_key)
{
	if (!dev || !public_key)
		return NULL;
	return index_find(dev, public_key);
}

MR_API int mr_wg_peer_get_public_key(const mr_wg_peer *peer, mr_key *out)
{
	if (!peer || !out)
		return mr__error_set(MR_EINVAL, "peer or output is NULL");
	*out = peer->public_key;
	return 0;
}

MR_API int mr_wg_peer_set_preshared_key(mr_wg_peer *peer, const mr_key *key)
{
	if (!peer)
		return mr__error_set(MR_EINVAL, "peer is NULL");
	peer->fields |= MR__WG_P_PRESHARED_KEY;
	if (!key || mr_key_is_zero(key)) {
		mr__wipe(&peer->preshared_key, sizeof(peer->preshared_key));
		memset(&peer->preshared_key, 0, sizeof(peer->preshared_key));
		peer->fields &= ~MR__WG_P_HAS_PSK;
		return 0;
	}
	peer->preshared_key = *key;
	peer->fields |= MR__WG_P_HAS_PSK;
	return 0;
}

MR_API bool mr_wg_peer_has_preshared_key(const mr_wg_peer *peer)
{
	return peer && (peer->fields & MR__WG_P_HAS_PSK);
}

MR_API int mr_wg_peer_get_preshared_key(const mr_wg_peer *peer, mr_key *out)
{
	if (!peer || !out)
		return mr__error_set(MR_EINVAL, "peer or output is NULL");
	if (!(peer->fields & MR__WG_P_HAS_PSK))
		return mr__error_set(MR_ENOTFOUND, "peer: no preshared key");
	*out = peer->preshared_key;
	return 0;
}

/* --- endpoints --- */

static bool printable(const char *s, size_t *bad)
{
	for (size_t i = 0; s[i]; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
			*bad = i + 1;
			return false;
		}
	}
	return true;
}

/* Decimal without sign, leading zeros or overflow past max. */
static bool parse_decimal(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

int mr__wg_endpoint_parse(union mr__wg_endpoint *out, const char *text, const char *what)
{
	char host[MR_WG_ENDPOINT_STRLEN];
	const char *port_s, *zone = NULL;
	size_t len, bad, host_len, zone_len = 0;
	uint64_t port, scope = 0;
	mr_prefix addr;
	bool bracket;

	if (!text)
		return mr__error_set(MR_EINVAL, "%s: NULL", what);
	len = strlen(text);
	if (len == 0)
		return mr__error_set(MR_EINVAL, "%s: empty", what);
	if (len >= MR_WG_ENDPOINT_STRLEN)
		return mr__error_set(MR_EINVAL, "%s: %zu bytes, at most %d allowed", what, len,
				     MR_WG_ENDPOINT_STRLEN - 1);
	if (!printable(text, &bad))
		return mr__error_set(MR_EINVAL, "%s: space or non-printable byte at position %zu",
				     what, bad);
	bracket = text[0] == '[';
	if (bracket) {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return mr__error_set(MR_EINVAL, "%s \"%s\": expected \"[address]:port\"",
					     what, text);
		host_len = (size_t)(close - text - 1);
		memcpy(host, text + 1, host_len);
		port_s = close + 2;
	} else {
		const char *colon = strrchr(text, ':');

		if (!colon)
			return mr__error_set(MR_EINVAL,
					     "%s \"%s\": no port (expected "
					     "\"address:port\")",
					     what, text);
		if (memchr(text, ':', (size_t)(colon - text)))
			return mr__error_set(MR_EINVAL,
					     "%s \"%s\": an IPv6 address must be in "
					     "brackets, \"[address]:port\"",
					     what, text);
		host_len = (size_t)(colon - text);
		memcpy(host, text, host_len);
		port_s = colon + 1;
	}
	host[host_len] = '\0';
	if (!parse_decimal(port_s, strlen(port_s), MR_WG_PORT_MAX, &port) || port == 0)
		return mr__error_set(MR_EINVAL, "%s \"%s\": port must be a number from 1 to %d",
				     what, text, MR_WG_PORT_MAX);
	if (bracket) {
		char *pct = strchr(host, '%');

		if (pct) {
			zone = pct + 1;
			zone_len = strlen(zone);
			*pct = '\0';
			if (!parse_decimal(zone, zone_len, UINT32_MAX, &scope) || scope == 0)
				return mr__error_set(MR_EINVAL,
						     "%s \"%s\": the scope id must be a "
						     "number (an interface index)",
						     what, text);
		}
	}
	if (mr_cidr_parse_address(&addr, host) < 0)
		return mr__error_set(MR_EINVAL,
				     "%s \"%s\": not an IP address (host names are not "
				     "resolved)",
				     what, text);
	if (bracket && addr.family != MR_CIDR_INET6)
		return mr__error_set(MR_EINVAL, "%s \"%s\": brackets are for IPv6 addresses", what,
				     text);
	memset(out, 0, sizeof(*out));
	if (addr.family == MR_CIDR_INET) {
		out->in.sin_family = AF_INET;
		out->in.sin_port = htons((uint16_t)port);
		memcpy(&out->in.sin_addr, addr.addr, 4);
	} else {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons((uint16_t)port);
		memcpy(&out->in6.sin6_addr, addr.addr, 16);
		out->in6.sin6_scope_id = (uint32_t)scope;
	}
	return 0;
}

int mr__wg_endpoint_format(char *out, size_t size, const union mr__wg_endpoint *ep)
{
	char addr[MR_CIDR_STRLEN], buf[MR_WG_ENDPOINT_STRLEN];
	mr_prefix p = {0};
	int n;

	if (ep->sa.sa_family == AF_INET) {
		p.family = MR_CIDR_INET;
		p.len = 32;
		memcpy(p.addr, &ep->in.sin_addr, 4);
		mr_cidr_format_address(addr, sizeof(addr), &p);
		n = snprintf(buf, sizeof(buf), "%s:%u", addr, ntohs(ep->in.sin_port));
	} else if (ep->sa.sa_family == AF_INET6) {
		p.family = MR_CIDR_INET6;
		p.len = 128;
		memcpy(p.addr, &ep->in6.sin6_addr, 16);
		mr_cidr_format_address(addr, sizeof(addr), &p);
		if (ep->in6.sin6_scope_id)
			n = snprintf(buf, sizeof(buf), "[%s%%%" PRIu32 "]:%u", addr,
				     (uint32_t)ep->in6.sin6_scope_id, ntohs(ep->in6.sin6_port));
		else
			n = snprintf(buf, sizeof(buf), "[%s]:%u", addr, ntohs(ep->in6.sin6_port));
	} else {
		return mr__error_set(MR_ENOTFOUND, "peer: no endpoint");
	}
	if (n < 0 || (size_t)n >= size)
		return mr__error_set(MR_ETOOBIG, "endpoint: buffer of %zu bytes too small", size);
	memcpy(out, buf, (size_t)n + 1);
	return 0;
}

MR_API int mr_wg_peer_set_endpoint(mr_wg_peer *peer, const char *endpoint)
{
	union mr__wg_endpoint ep;
	int rc;

	if (!peer)
		return mr__error_set(MR_EINVAL, "peer is NULL");
	rc = mr__wg_endpoint_parse(&ep, endpoint, "endpoint");
	if (rc < 0)
		return rc;
	peer->endpoint = ep;
	peer->fields |= MR__WG_P_ENDPOINT;
	return 0;
}

MR_API bool mr_wg_peer_has_endpoint(const mr_wg_peer *peer)
{
	return peer && (peer->fields & MR__WG_P_ENDPOINT);
}

MR_API int mr_wg_peer_get_endpoint(const mr_wg_peer *peer, char *out, size_t size)
{
	if (!peer || !out)
		return mr__error_set(MR_EINVAL, "peer or output is NULL");
	if (!(peer->fields & MR__WG_P_ENDPOINT))
		return mr__error_set(MR_ENOTFOUND, "peer: no endpoint");
	return mr__wg_endpoint_format(out, size, &peer->endpoint);
}

MR_API int mr_wg_peer_set_keepalive(mr_wg_peer *peer, uint32_t seconds)
{
	if (!peer)
		return mr__error_set(MR_EINVAL, "peer is NULL");
	if (seconds > MR_WG_KEEPALIVE_MAX)
		return mr__error_set(MR_EINVAL,
				     "persistent keepalive %" PRIu32 ": expected 0 to "
				     "%d seconds",
				     seconds, MR_WG_KEEPALIVE_MAX);
	peer->keepalive = seconds;
	peer->fields |= MR__WG_P_KEEPALIVE;
	return 0;
}

MR_API bool mr_wg_peer_has_keepalive(const mr_wg_peer *peer)
{
	return peer && (peer->fields & MR__WG_P_KEEPALIVE);
}

MR_API uint32_t mr_wg_peer_get_keepalive(const mr_wg_peer *peer)
{
	return peer ? peer->keepalive : 0;
}

/* --- allowed IPs --- */

static int aip_append(mr_wg_peer *peer, const mr_prefix *p)
{
	mr_wg_device *dev = peer->dev;

	if (peer->n_aips >= MR_WG_MAX_ALLOWED_IPS)
		return mr__error_set(MR_EINVAL, "peer: more than %d allowed IPs",
				     MR_WG_MAX_ALLOWED_IPS);
	if (dev->n_aips >= MR_WG_MAX_DEVICE_ALLOWED_IPS)
		return mr__error_set(MR_EINVAL, "WireGuard device: more than %d allowed IPs",
				     MR_WG_MAX_DEVICE_ALLOWED_IPS);
	if (peer->n_aips == peer->cap_aips) {
		uint32_t cap = peer->cap_aips ? 2 * peer->cap_aips : 2;
		mr_prefix *a = realloc(peer->aips, cap * sizeof(*a));

		if (!a)
			return mr__error_set(MR_ENOMEM, "peer: out of memory");
		peer->aips = a;
		peer->cap_aips = cap;
	}
	peer->aips[peer->n_aips++] = *p;
	dev->n_aips++;
	return 0;
}

/* Copy only what defines the prefix, so pad bytes and the unused tail of
 * an IPv4 address never make equal prefixes compare different. */
static int prefix_normalize(mr_prefix *out, const mr_prefix *in, bool clear_host_bits)
{
	mr_prefix net;
	unsigned int width;
	char text[MR_CIDR_STRLEN], ntext[MR_CIDR_STRLEN];

	if (in->family != MR_CIDR_INET && in->family != MR_CIDR_INET6)
		return mr__error_set(MR_EINVAL, "allowed IP: unknown address family %u",
				     in->family);
	width = in->family == MR_CIDR_INET ? 32 : 128;
	if (in->len > width)
		return mr__error_set(MR_EINVAL, "allowed IP: prefix length %u is above %u", in->len,
				     width);
	if (mr_cidr_network(&net, in) < 0)
		return MR_EINVAL;
	memset(out, 0, sizeof(*out));
	out->family = in->family;
	out->len = in->len;
	memcpy(out->addr, in->addr, width / 8);
	if (memcmp(net.addr, out->addr, width / 8) != 0) {
		if (clear_host_bits) {
			memcpy(out->addr, net.addr, width / 8);
			return 0;
		}
		mr_cidr_format(text, sizeof(text), out);
		mr_cidr_format(ntext, sizeof(ntext), &net);
		return mr__error_set(MR_EINVAL, "allowed IP \"%s\": host bits set (network is %s)",
				     text, ntext);
	}
	return 0;
}

MR_API int mr_wg_peer_add_allowed_ip(mr_wg_peer *peer, const mr_prefix *prefix)
{
	mr_prefix p;
	int rc;

	if (!peer || !prefix)
		return mr__error_set(MR_EINVAL, "peer or allowed IP is NULL");
	rc = prefix_normalize(&p, prefix, false);
	if (rc < 0)
		return rc;
	return aip_append(peer, &p);
}

int mr__wg_peer_add_aip_readback(mr_wg_peer *peer, const mr_prefix *prefix)
{
	mr_prefix p;
	int rc;

	rc = prefix_normalize(&p, prefix, true);
	if (rc < 0)
		return rc;
	return aip_append(peer, &p);
}

MR_API size_t mr_wg_peer_allowed_ip_count(const mr_wg_peer *peer)
{
	return peer ? peer->n_aips : 0;
}

MR_API int mr_wg_peer_get_allowed_ip(const mr_wg_peer *peer, size_t i, mr_prefix *out)
{
	if (!peer || !out)
		return mr__error_set(MR_EINVAL, "peer or output is NULL");
	if (i >= peer->n_aips)
		return mr__error_set(MR_EINVAL, "allowed IP %zu: the peer has %" PRIu32, i,
				     peer->n_aips);
	*out = peer->aips[i];
	return 0;
}

static int set_flag(mr_wg_peer *peer, uint32_t bit, bool on)
{
	if (!peer)
		return mr__error_set(MR_EINVAL, "peer is NULL");
	if (on)
		peer->fields |= bit;
	else
		peer->fields &= ~bit;
	return 0;
}

MR_API int mr_wg_peer_set_replace_allowed_ips(mr_wg_peer *peer, bool replace)
{
	return set_flag(peer, MR__WG_P_REPLACE_AIPS, replace);
}

MR_API bool mr_wg_peer_get_replace_allowed_ips(const mr_wg_peer *peer)
{
	return peer && (peer->fields & MR__WG_P_REPLACE_AIPS);
}

MR_API int mr_wg_peer_set_remove(mr_wg_peer *peer, bool remove)
{
	return set_flag(peer, MR__WG_P_REMOVE, remove);
}

MR_API bool mr_wg_peer_get_remove(const mr_wg_peer *peer)
{
	return peer && (peer->fields & MR__WG_P_REMOVE);
}

MR_API int mr_wg_peer_set_update_only(mr_wg_peer *peer, bool update_only)
{
	return set_flag(peer, MR__WG_P_UPDATE_ONLY, update_only);
}

MR_API bool mr_wg_peer_get_update_only(const mr_wg_peer *peer)
{
	return peer && (peer->fields & MR__WG_P_UPDATE_ONLY);
}

MR_API uint64_t mr_wg_peer_get_rx_bytes(const mr_wg_peer *peer)
{
	return peer ? peer->rx_bytes : 0;
}

MR_API uint64_t mr_wg_peer_get_tx_bytes(const mr_wg_peer *peer)
{
	return peer ? peer->tx_bytes : 0;
}

MR_API int mr_wg_peer_get_last_handshake(const mr_wg_peer *peer, int64_t *sec, int64_t *nsec)
{
	if (!peer)
		return mr__error_set(MR_EINVAL, "peer is NULL");
	if (sec)
		*sec = peer->handshake_sec;
	if (nsec)
		*nsec = peer->handshake_nsec;
	return 0;
}

MR_API uint32_t mr_wg_peer_get_protocol_version(const mr_wg_peer *peer)
{
	return peer ? peer->protocol_version : 0;
}

/* --- validation of a whole configuration --- */

struct aip_ref {
	mr_prefix p;
	uint32_t peer;
};

static int prefix_cmp(const mr_prefix *a, const mr_prefix *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

static int aip_ref_cmp(const void *a, const void *b)
{
	const struct aip_ref *x = a, *y = b;
	int c = prefix_cmp(&x->p, &y->p);

	if (c)
		return c;
	return x->peer < y->peer ? -1 : x->peer > y->peer;
}

int mr__wg_validate(const mr_wg_device *dev, const char *ifname)
{
	struct aip_ref *refs;
	size_t n = 0;
	int rc = 0;

	if (dev->n_peers > MR_WG_MAX_PEERS)
		return mr__error_set(MR_EINVAL, "%s: more than %d peers", ifname, MR_WG_MAX_PEERS);
	if (dev->n_aips > MR_WG_MAX_DEVICE_ALLOWED_IPS)
		return mr__error_set(MR_EINVAL, "%s: more than %d allowed IPs", ifname,
				     MR_WG_MAX_DEVICE_ALLOWED_IPS);
	for (size_t i = 0; i < dev->n_peers; i++) {
		const mr_wg_peer *p = dev->peers[i];

		if (mr_key_is_zero(&p->public_key))
			return mr__error_set(MR_EINVAL, "%s: peer %zu: all-zero public key", ifname,
					     i);
		if ((dev->fields & MR__WG_D_HAS_KEY) && !(p->fields & MR__WG_P_REMOVE) &&
		    memcmp(p->public_key.bytes, dev->public_key.bytes, MR_KEY_LEN) == 0)
			return mr__error_set(MR_EINVAL,
					     "%s: a peer has the device's own public "
					     "key",
					     ifname);
		if (!(p->fields & MR__WG_P_REMOVE))
			n += p->n_aips;
	}
	if (n < 2)
		return 0;
	/* Two peers claiming one prefix would leave it with whichever the
	 * backend processes last: refuse the ambiguity instead. */
	refs = malloc(n * sizeof(*refs));
	if (!refs)
		return mr__error_set(MR_ENOMEM, "%s: out of memory", ifname);
	n = 0;
	for (size_t i = 0; i < dev->n_peers; i++) {
		const mr_wg_peer *p = dev->peers[i];

		if (p->fields & MR__WG_P_REMOVE)
			continue;
		for (uint32_t j = 0; j < p->n_aips; j++) {
			refs[n].p = p->aips[j];
			refs[n].peer = (uint32_t)i;
			n++;
		}
	}
	qsort(refs, n, sizeof(*refs), aip_ref_cmp);
	for (size_t i = 1; i < n; i++) {
		char text[MR_CIDR_STRLEN], k1[MR_KEY_BASE64_SIZE], k2[MR_KEY_BASE64_SIZE];

		if (prefix_cmp(&refs[i - 1].p, &refs[i].p) != 0)
			continue;
		mr_cidr_format(text, sizeof(text), &refs[i].p);
		key_b64(k1, &dev->peers[refs[i - 1].peer]->public_key);
		key_b64(k2, &dev->peers[refs[i].peer]->public_key);
		if (refs[i - 1].peer == refs[i].peer)
			rc = mr__error_set(MR_EINVAL, "%s: allowed IP %s listed twice for peer %s",
					   ifname, text, k1);
		else
			rc = mr__error_set(MR_EINVAL,
					   "%s: allowed IP %s given to two peers, %s and "
					   "%s",
					   ifname, text, k1, k2);
		break;
	}
	free(refs);
	return rc;
}

/* --- backend choice --- */

enum backend { BACKEND_KERNEL, BACKEND_USERSPACE };

static int check_args(mr_ctx *ctx, const char *ifname)
{
	int rc;

	if (!ctx || !ifname)
		return mr__error_set(MR_EINVAL, "WireGuard: context or interface name is NULL");
	rc = mr_name_validate_interface(ifname);
	if (rc < 0)
		return rc;
	return 0;
}

static int pick_backend(mr_ctx *ctx, const char *ifname, enum backend *out)
{
	char path[128];
	struct stat st;
	uint16_t family;
	int rc;

	switch (ctx->backend) {
	case MR_BACKEND_KERNEL:
		*out = BACKEND_KERNEL;
		return 0;
	case MR_BACKEND_USERSPACE:
		*out = BACKEND_USERSPACE;
		return 0;
	default:
		break;
	}
	rc = mr__ctx_wg_family(ctx, &family);
	if (rc == 0) {
		*out = BACKEND_KERNEL;
		return 0;
	}
	if (rc != MR_ENOTSUP)
		return rc;
	rc = mr__wg_uapi_path(ctx, ifname, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		mr_error_clear();
		*out = BACKEND_USERSPACE;
		return 0;
	}
	return mr__error_set(MR_ENOTFOUND,
			     "WireGuard device %s: the kernel has no WireGuard "
			     "module and there is no userspace control socket %s",
			     ifname, path);
}

static int backend_set(mr_ctx *ctx, const char *ifname, const mr_wg_device *dev,
		       struct mr__wg_tx *tx)
{
	enum backend b;
	int rc;

	rc = pick_backend(ctx, ifname, &b);
	if (rc < 0)
		return rc;
	if (b == BACKEND_KERNEL)
		return mr__wg_kernel_set(ctx, ifname, dev, tx);
	return mr__wg_uapi_set(ctx, ifname, dev, tx);
}

MR_API int mr_wg_set(mr_ctx *ctx, const char *ifname, const mr_wg_device *config)
{
	struct mr__wg_tx tx = {0};
	int rc;

	rc = check_args(ctx, ifname);
	if (rc < 0)
		return rc;
	if (!config)
		return mr__error_set(MR_EINVAL, "%s: configuration is NULL", ifname);
	rc = mr__wg_validate(config, ifname);
	if (rc < 0)
		return rc;
	rc = backend_set(ctx, ifname, config, &tx);
	if (rc == 0)
		mr__log(ctx, MR_LOG_DEBUG,
			"%s: configured %zu peers (%" PRIu32 " messages, %" PRIu64 " bytes)",
			ifname, config->n_peers, tx.messages, tx.bytes);
	return rc;
}

static int get_into(mr_ctx *ctx, const char *ifname, mr_wg_device *dev)
{
	enum backend b;
	int rc;

	rc = pick_backend(ctx, ifname, &b);
	if (rc < 0)
		return rc;
	if (b == BACKEND_KERNEL)
		return mr__wg_kernel_get(ctx, ifname, dev);
	return mr__wg_uapi_get(ctx, ifname, dev);
}

MR_API int mr_wg_get(mr_ctx *ctx, const char *ifname, mr_wg_device **out)
{
	mr_wg_device *dev;
	int rc;

	rc = check_args(ctx, ifname);
	if (rc < 0)
		return rc;
	if (!out)
		return mr__error_set(MR_EINVAL, "%s: output is NULL", ifname);
	rc = mr_wg_device_new(&dev);
	if (rc < 0)
		return rc;
	rc = get_into(ctx, ifname, dev);
	if (rc < 0) {
		mr_wg_device_free(dev);
		return rc;
	}
	*out = dev;
	return 0;
}

/* --- sync --- */

static int aip_sort_cmp(const void *a, const void *b)
{
	return prefix_cmp(a, b);
}

static int aips_equal(const mr_wg_peer *a, const mr_wg_peer *b, bool *equal)
{
	mr_prefix *x, *y;

	*equal = false;
	if (a->n_aips != b->n_aips)
		return 0;
	/* Same order is the common case (the kernel keeps insertion order). */
	if (a->n_aips == 0 || memcmp(a->aips, b->aips, a->n_aips * sizeof(*a->aips)) == 0) {
		*equal = true;
		return 0;
	}
	x = malloc(2 * a->n_aips * sizeof(*x));
	if (!x)
		return mr__error_set(MR_ENOMEM, "sync: out of memory");
	y = x + a->n_aips;
	memcpy(x, a->aips, a->n_aips * sizeof(*x));
	memcpy(y, b->aips, b->n_aips * sizeof(*y));
	qsort(x, a->n_aips, sizeof(*x), aip_sort_cmp);
	qsort(y, b->n_aips, sizeof(*y), aip_sort_cmp);
	*equal = memcmp(x, y, a->n_aips * sizeof(*x)) == 0;
	free(x);
	return 0;
}

static bool endpoints_equal(const union mr__wg_endpoint *a, const union mr__wg_endpoint *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in.sin_port == b->in.sin_port &&
		       memcmp(&a->in.sin_addr, &b->in.sin_addr, 4) == 0;
	if (a->sa.sa_family == AF_INET6)
		return a->in6.sin6_port == b->in6.sin6_port &&
		       a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
		       memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, 16) == 0;
	return true;
}

static int copy_aips(mr_wg_peer *to, const mr_wg_peer *from)
{
	for (uint32_t i = 0; i < from->n_aips; i++) {
		int rc = aip_append(to, &from->aips[i]);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A peer of desired that the device lacks: everything it sets. */
static int delta_add(mr_wg_device *delta, const mr_wg_peer *want)
{
	mr_wg_peer *p;
	int rc;

	rc = mr__wg_device_add_peer(delta, &want->public_key, &p);
	if (rc < 0)
		return rc;
	if (want->fields & MR__WG_P_HAS_PSK) {
		p->preshared_key = want->preshared_key;
		p->fields |= MR__WG_P_PRESHARED_KEY | MR__WG_P_HAS_PSK;
	}
	if (want->fields & MR__WG_P_ENDPOINT) {
		p->endpoint = want->endpoint;
		p->fields |= MR__WG_P_ENDPOINT;
	}
	if (want->keepalive) {
		p->keepalive = want->keepalive;
		p->fields |= MR__WG_P_KEEPALIVE;
	}
	return copy_aips(p, want);
}

/* A peer on both sides: only the fields that differ. *changed tells whether
 * anything was put into delta. */
static int delta_update(mr_wg_device *delta, const mr_wg_peer *want, const mr_wg_peer *have,
			bool *changed)
{
	bool psk_diff, ep_diff, ka_diff, aip_same;
	mr_wg_peer *p;
	int rc;

	*changed = false;
	/* Unset means "none" for the preshared key: both sides compare as
	 * zero keys then. Constant time, as for any secret. */
	psk_diff =
	    mr__ct_memcmp(want->preshared_key.bytes, have->preshared_key.bytes, MR_KEY_LEN) != 0;
	ep_diff = (want->fields & MR__WG_P_ENDPOINT) &&
		  (!(have->fields & MR__WG_P_ENDPOINT) ||
		   !endpoints_equal(&want->endpoint, &have->endpoint));
	ka_diff = want->keepalive != have->keepalive;
	rc = aips_equal(want, have, &aip_same);
	if (rc < 0)
		return rc;
	if (!psk_diff && !ep_diff && !ka_diff && aip_same)
		return 0;
	rc = mr__wg_device_add_peer(delta, &want->public_key, &p);
	if (rc < 0)
		return rc;
	/* Never create the peer again if someone removed it since we read. */
	p->fields |= MR__WG_P_UPDATE_ONLY;
	if (psk_diff) {
		p->preshared_key = want->preshared_key;
		p->fields |= MR__WG_P_PRESHARED_KEY;
		if (want->fields & MR__WG_P_HAS_PSK)
			p->fields |= MR__WG_P_HAS_PSK;
	}
	if (ep_diff) {
		p->endpoint = want->endpoint;
		p->fields |= MR__WG_P_ENDPOINT;
	}
	if (ka_diff) {
		p->keepalive = want->keepalive;
		p->fields |= MR__WG_P_KEEPALIVE;
	}
	if (!aip_same) {
		p->fields |= MR__WG_P_REPLACE_AIPS;
		rc = copy_aips(p, want);
		if (rc < 0)
			return rc;
	}
	*changed = true;
	return 0;
}

static int delta_remove(mr_wg_device *delta, const mr_key *public_key)
{
	mr_wg_peer *p;
	int rc;

	rc = mr__wg_device_add_peer(delta, public_key, &p);
	if (rc < 0)
		return rc;
	p->fields |= MR__WG_P_REMOVE;
	return 0;
}

static int build_delta(const mr_wg_device *want, const mr_wg_device *have, mr_wg_device *delta,
		       mr_wg_sync_stats *st)
{
	mr_key kw, kh;
	bool key_diff;
	int rc;

	/* A key another tool set unclamped is the same identity as its
	 * clamped form: compare what X25519 actually uses. */
	kw = want->private_key;
	kh = have->private_key;
	clamp(&kw);
	clamp(&kh);
	key_diff = mr__ct_memcmp(kw.bytes, kh.bytes, MR_KEY_LEN) != 0;
	mr__wipe(&kw, sizeof(kw));
	mr__wipe(&kh, sizeof(kh));
	if ((want->fields & MR__WG_D_PRIVATE_KEY) &&
	    ((want->fields & MR__WG_D_HAS_KEY) != (have->fields & MR__WG_D_HAS_KEY) || key_diff)) {
		delta->private_key = want->private_key;
		delta->public_key = want->public_key;
		delta->fields |= want->fields & (MR__WG_D_PRIVATE_KEY | MR__WG_D_HAS_KEY);
		st->device_changed = 1;
	}
	if ((want->fields & MR__WG_D_LISTEN_PORT) && want->listen_port != 0 &&
	    want->listen_port != have->listen_port) {
		delta->listen_port = want->listen_port;
		delta->fields |= MR__WG_D_LISTEN_PORT;
		st->device_changed = 1;
	}
	if ((want->fields & MR__WG_D_FWMARK) && want->fwmark != have->fwmark) {
		delta->fwmark = want->fwmark;
		delta->fields |= MR__WG_D_FWMARK;
		st->device_changed = 1;
	}
	/* Removals first, then updates, then additions: memory is freed
	 * before it is needed again, and an allowed IP moving from a removed
	 * peer to a new one ends up with the new one either way. */
	for (size_t i = 0; i < have->n_peers; i++) {
		const mr_wg_peer *h = have->peers[i];
		const mr_wg_peer *w = index_find(want, &h->public_key);

		if (w && !(w->fields & MR__WG_P_REMOVE))
			continue;
		rc = delta_remove(delta, &h->public_key);
		if (rc < 0)
			return rc;
		st->removed++;
	}
	for (size_t i = 0; i < want->n_peers; i++) {
		const mr_wg_peer *w = want->peers[i];
		const mr_wg_peer *h = index_find(have, &w->public_key);
		bool changed;

		if (!h || (w->fields & MR__WG_P_REMOVE))
			continue;
		rc = delta_update(delta, w, h, &changed);
		if (rc < 0)
			return rc;
		if (changed)
			st->updated++;
		else
			st->unchanged++;
	}
	for (size_t i = 0; i < want->n_peers; i++) {
		const mr_wg_peer *w = want->peers[i];

		if ((w->fields & MR__WG_P_REMOVE) || index_find(have, &w->public_key))
			continue;
		rc = delta_add(delta, w);
		if (rc < 0)
			return rc;
		st->added++;
	}
	return 0;
}

MR_API int mr_wg_sync(mr_ctx *ctx, const char *ifname, const mr_wg_device *desired, uint32_t flags,
		      mr_wg_sync_stats *out)
{
	mr_wg_sync_stats st = {0};
	mr_wg_device *have = NULL, *delta = NULL;
	struct mr__wg_tx tx = {0};
	int rc;

	rc = check_args(ctx, ifname);
	if (rc < 0)
		return rc;
	if (!desired)
		return mr__error_set(MR_EINVAL, "%s: desired configuration is NULL", ifname);
	if (flags & ~MR_WG_SYNC_DRY_RUN)
		return mr__error_set(MR_EINVAL, "%s: unknown sync flags 0x%" PRIx32, ifname,
				     flags & ~MR_WG_SYNC_DRY_RUN);
	rc = mr__wg_validate(desired, ifname);
	if (rc < 0)
		return rc;
	rc = mr_wg_device_new(&have);
	if (rc < 0)
		return rc;
	rc = get_into(ctx, ifname, have);
	if (rc < 0)
		goto out;
	rc = mr_wg_device_new(&delta);
	if (rc < 0)
		goto out;
	rc = build_delta(desired, have, delta, &st);
	if (rc < 0)
		goto out;
	if (!(flags & MR_WG_SYNC_DRY_RUN) && (delta->fields || delta->n_peers)) {
		rc = backend_set(ctx, ifname, delta, &tx);
		if (rc < 0)
			goto out;
	}
	st.messages = tx.messages;
	st.bytes_sent = tx.bytes;
	mr__log(ctx, MR_LOG_DEBUG,
		"%s: sync%s: %" PRIu32 " added, %" PRIu32 " removed, %" PRIu32 " updated, %" PRIu32
		" unchanged, %" PRIu64 " bytes sent",
		ifname, (flags & MR_WG_SYNC_DRY_RUN) ? " (dry run)" : "", st.added, st.removed,
		st.updated, st.unchanged, st.bytes_sent);
	if (out)
		*out = st;
out:
	mr_wg_device_free(delta);
	mr_wg_device_free(have);
	return rc;
}

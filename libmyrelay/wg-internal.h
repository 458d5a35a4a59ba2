/* SPDX-License-Identifier: MIT */
/*
 * Library-internal parts of the wg module, shared by wg.c (objects,
 * validation, diff), wg-kernel.c (generic netlink) and wg-uapi.c (the
 * userspace control socket).
 */
#ifndef MYRELAY_WG_INTERNAL_H
#define MYRELAY_WG_INTERNAL_H

#include "nl.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <myrelay/wg.h>

/* Per-device field bits (mr_wg_device.fields). */
#define MR__WG_D_PRIVATE_KEY 0x01u /* private key set (maybe to "none") */
#define MR__WG_D_HAS_KEY 0x02u	   /* ... and it is a key, not "none" */
#define MR__WG_D_LISTEN_PORT 0x04u
#define MR__WG_D_FWMARK 0x08u
#define MR__WG_D_REPLACE_PEERS 0x10u

/* Per-peer field bits (mr_wg_peer.fields). */
#define MR__WG_P_PRESHARED_KEY 0x01u /* preshared key set (maybe to "none") */
#define MR__WG_P_HAS_PSK 0x02u	     /* ... and it is not all zero */
#define MR__WG_P_ENDPOINT 0x04u
#define MR__WG_P_KEEPALIVE 0x08u
#define MR__WG_P_REPLACE_AIPS 0x10u
#define MR__WG_P_REMOVE 0x20u
#define MR__WG_P_UPDATE_ONLY 0x40u

union mr__wg_endpoint {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

struct mr_wg_peer {
	mr_key public_key;
	mr_key preshared_key;
	union mr__wg_endpoint endpoint;
	mr_prefix *aips;
	uint32_t n_aips;
	uint32_t cap_aips;
	uint32_t keepalive;
	uint32_t protocol_version;
	uint32_t fields;
	uint64_t rx_bytes;
	uint64_t tx_bytes;
	int64_t handshake_sec;
	int64_t handshake_nsec;
	uint64_t hash; /* keyed hash of public_key, for the device's index */
	struct mr_wg_device *dev;
};

struct mr_wg_device {
	mr_key private_key;
	mr_key public_key;
	uint32_t listen_port;
	uint32_t fwmark;
	uint32_t fields;
	mr_wg_peer **peers;
	size_t n_peers;
	size_t cap_peers;
	size_t n_aips; /* allowed IPs of all peers */
	/* Open-addressing index of peers by public key: slot holds peer
	 * index + 1, 0 is empty. Keyed (SipHash) because customers choose
	 * their public keys and must not be able to make lookups quadratic. */
	uint32_t *index;
	size_t index_cap; /* power of two, or 0 */
	uint64_t hash_k0;
	uint64_t hash_k1;
};

/* Bytes and messages written to a backend by one operation. */
struct mr__wg_tx {
	uint32_t messages;
	uint64_t bytes;
};

/* --- wg.c --- */

/* Add a peer without the checks of the public setter's callers (the key
 * must be non-zero); MR_EEXIST, MR_ETOOBIG, MR_ENOMEM. */
MR_HIDDEN int mr__wg_device_add_peer(mr_wg_device *dev, const mr_key *public_key, mr_wg_peer **out);

/* Append an allowed IP read back from a backend: host bits are cleared
 * rather than refused (the backend is the truth here). */
MR_HIDDEN int mr__wg_peer_add_aip_readback(mr_wg_peer *peer, const mr_prefix *p);

/* Drop every peer and field, keeping the hash key (a dump restarted). */
MR_HIDDEN void mr__wg_device_clear(mr_wg_device *dev);

/* Parse and format endpoints ("192.0.2.1:51820", "[2001:db8::1]:51820"). */
MR_HIDDEN int mr__wg_endpoint_parse(union mr__wg_endpoint *out, const char *text, const char *what);
MR_HIDDEN int mr__wg_endpoint_format(char *out, size_t size, const union mr__wg_endpoint *ep);

/* Validate a whole configuration before it is sent. */
MR_HIDDEN int mr__wg_validate(const mr_wg_device *dev, const char *ifname);

/* --- wg-kernel.c --- */

/* Consecutive netlink messages of one SET_DEVICE request. */
struct mr__wg_msgs {
	char *buf;
	size_t len;
	size_t cap;
	uint32_t count;
};

/* Largest SET_DEVICE message we build. Above 64 KiB the 16-bit nla_len of
 * the peers nest would overflow; 32 KiB keeps the message count low without
 * approaching that. */
#define MR__WG_MSG_SIZE 32768

/* Build the SET_DEVICE messages for dev into out (each at most msg_size
 * bytes, sequence numbers first_seq, first_seq + 1, ...). */
MR_HIDDEN int mr__wg_kernel_build_set(const mr_wg_device *dev, const char *ifname, uint16_t family,
				      uint32_t first_seq, size_t msg_size, struct mr__wg_msgs *out);
MR_HIDDEN void mr__wg_msgs_free(struct mr__wg_msgs *m);

/* Merge one GET_DEVICE dump message into dev (a peer continued from the
 * previous message is merged into it). MNL_CB_OK or MNL_CB_ERROR with the
 * error recorded. */
MR_HIDDEN int mr__wg_kernel_parse_dump(const struct nlmsghdr *nlh, void *dev);

MR_HIDDEN int mr__wg_kernel_set(mr_ctx *ctx, const char *ifname, const mr_wg_device *dev,
				struct mr__wg_tx *tx);
MR_HIDDEN int mr__wg_kernel_get(mr_ctx *ctx, const char *ifname, mr_wg_device *dev);

/* --- wg-uapi.c --- */

/* Path of the control socket of ifname; MR_EINVAL when too long. */
MR_HIDDEN int mr__wg_uapi_path(const mr_ctx *ctx, const char *ifname, char *out, size_t size);

/* Render the `set=1` request for dev (text in *out, length *len, wiped and
 * freed by the caller with mr__wg_uapi_text_free). */
MR_HIDDEN int mr__wg_uapi_render_set(const mr_wg_device *dev, char **out, size_t *len);
MR_HIDDEN void mr__wg_uapi_text_free(char *text, size_t len);

/* Parse the answer to `get=1` (text up to and including "errno=N\n\n") into
 * dev; the errno value goes to *err. */
MR_HIDDEN int mr__wg_uapi_parse_get(mr_wg_device *dev, const char *text, size_t len, int *err);

MR_HIDDEN int mr__wg_uapi_set(mr_ctx *ctx, const char *ifname, const mr_wg_device *dev,
			      struct mr__wg_tx *tx);
MR_HIDDEN int mr__wg_uapi_get(mr_ctx *ctx, const char *ifname, mr_wg_device *dev);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The node side of a pod's lifecycle: a pod spec (interface, keypair, port,
 * addresses, MTU, peers, options) applied to the kernel as a reconcile. What
 * is missing is created, what differs is changed, and peers and rules that
 * are no longer wanted are removed, with the smallest change: peers that did
 * not change keep their WireGuard session.
 *
 * A pod is made of a WireGuard interface (the kernel module's, or a TUN
 * served by wireguard-go when the node has no module), its addresses, MTU
 * and state, its WireGuard configuration (link, wg modules) and its
 * firewall rules in the `inet myrelay` table (fw module).
 */
#ifndef MYRELAY_POD_H
#define MYRELAY_POD_H

#include <myrelay/common.h>
#include <myrelay/cidr.h>
#include <myrelay/ctx.h>
#include <myrelay/key.h>
#include <myrelay/wg.h>

MR_BEGIN_DECLS

/** Pod option: devices of the pod may reach each other (default on). */
#define MR_POD_OPT_INTRA_POD 0x1u
/** Pod option: devices may send DNS queries to the pod's gateway. */
#define MR_POD_OPT_DNS 0x2u
/** Options of a new spec. */
#define MR_POD_OPT_DEFAULT MR_POD_OPT_INTRA_POD

/** Default MTU of a pod interface. */
#define MR_POD_MTU_DEFAULT 1420
/** Most addresses (subnets) a pod may have. */
#define MR_POD_ADDRESSES_MAX 16
/** Most uplinks a spec may name. */
#define MR_POD_UPLINKS_MAX 16

/** A desired pod. Opaque. */
typedef struct mr_pod_spec mr_pod_spec;

/**
 * What a reconcile changed. A transparent value type; reserved fields are
 * zero.
 */
typedef struct mr_pod_report {
	uint32_t link_created;      /**< 1 when the interface had to be created */
	uint32_t mtu_changed;       /**< 1 when the MTU was changed */
	uint32_t up_changed;        /**< 1 when the interface was brought up */
	uint32_t addresses_added;   /**< addresses added to the interface */
	uint32_t addresses_removed; /**< addresses removed from the interface */
	int32_t userspace_pid;      /**< pid of a wireguard-go started for the pod, else 0 */
	mr_wg_sync_stats peers;     /**< what the WireGuard sync changed */
	uint64_t reserved[4];       /**< zero; room for later fields */
} mr_pod_report;

/**
 * Create a spec for a pod interface.
 * @param out receives the spec; written only on success. Free it with
 *        mr_pod_spec_free().
 * @param ifname the interface, validated as an interface name (pods made by
 *        MyRelay are named "wg-" and six hex characters; other valid names
 *        are accepted for standalone use).
 * @return 0, MR_EINVAL or MR_ENOMEM.
 */
MR_API int mr_pod_spec_new(mr_pod_spec **out, const char *ifname);

/** Free a spec, wiping its private key and preshared keys. NULL is accepted. */
MR_API void mr_pod_spec_free(mr_pod_spec *spec);

/** The spec's interface name. Borrowed: valid while the spec lives. */
MR_API const char *mr_pod_spec_get_ifname(const mr_pod_spec *spec);

/**
 * Set the pod's private key (copied; wiped with the spec).
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_pod_spec_set_private_key(mr_pod_spec *spec, const mr_key *key);

/**
 * Set the pod's UDP listen port.
 * @param port 1-65535.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_pod_spec_set_listen_port(mr_pod_spec *spec, uint32_t port);

/**
 * Set the interface MTU (default MR_POD_MTU_DEFAULT).
 * @param mtu 1280-65535.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_pod_spec_set_mtu(mr_pod_spec *spec, uint32_t mtu);

/**
 * Add an address of the pod interface, given as the gateway's interface
 * address with the subnet's length ("10.64.1.1/24", "fd00:1:2:3::1/64").
 * The subnet is what the pod's devices must use as sources.
 * @return 0; MR_EINVAL (bad family or length, the network or broadcast
 *         address, overlapping an address already added, more than
 *         MR_POD_ADDRESSES_MAX); the spec is unchanged on error.
 */
MR_API int mr_pod_spec_add_address(mr_pod_spec *spec, const mr_prefix *address);

/**
 * Replace the pod's options (MR_POD_OPT_*; default MR_POD_OPT_DEFAULT).
 * @return 0 or MR_EINVAL (unknown bits).
 */
MR_API int mr_pod_spec_set_options(mr_pod_spec *spec, uint32_t options);

/**
 * Name the node's uplink interfaces, out of which the pod's subnets are
 * masqueraded. Without this call the interfaces of the default routes are
 * used at apply time. Replaces any earlier list; count 0 means no
 * masquerade.
 * @param names interface names (validated, copied); may be NULL when count
 *        is 0.
 * @param count at most MR_POD_UPLINKS_MAX.
 * @return 0 or MR_EINVAL (bad or duplicate name, too many); the spec is
 *         unchanged on error.
 */
MR_API int mr_pod_spec_set_uplinks(mr_pod_spec *spec, const char *const *names, size_t count);

/**
 * Add a peer (a device of the pod).
 * @param public_key the device's public key (not all zeros).
 * @param preshared_key a preshared key, or NULL for none (copied, wiped with
 *        the spec).
 * @param allowed_ips the device's addresses (networks, host bits zero,
 *        normally one /32 and one /128); at apply time each must lie inside
 *        one of the pod's subnets.
 * @param count number of allowed IPs, at least 1.
 * @return 0; MR_EINVAL (also beyond MR_WG_MAX_PEERS peers); MR_EEXIST (a
 *         peer with that key is already in the spec); MR_ENOMEM. The spec
 *         is unchanged on error.
 */
MR_API int mr_pod_spec_add_peer(mr_pod_spec *spec, const mr_key *public_key,
				const mr_key *preshared_key, const mr_prefix *allowed_ips,
				size_t count);

/** Number of peers in the spec. */
MR_API size_t mr_pod_spec_peer_count(const mr_pod_spec *spec);

/**
 * Make the kernel match the spec. In order: validate the whole spec (a
 * private key, a listen port and at least one address are required; every
 * allowed IP inside the pod's subnets); create the interface if it is
 * missing (the kernel's WireGuard link when the context's backend resolves
 * to the kernel, else a wireguard-go process, see mr_wg_start_userspace());
 * sync the WireGuard configuration (mr_wg_sync(): only the differences);
 * set MTU, addresses (as a set) and up; install or replace the firewall
 * rules (mr_fw_apply_pod()). Each step changes only what differs, so
 * applying the same spec twice changes nothing the second time, and an
 * interrupted apply is completed by the next one. When the apply of a pod
 * whose interface did not exist fails after creating it, the interface (and
 * its wireguard-go) is removed again: a refused pod leaves nothing behind.
 *
 * @param ctx the context (backend, sockets, log).
 * @param spec the desired pod.
 * @param out receives what changed; may be NULL. Written only on success.
 * @return 0; MR_EINVAL (incomplete or inconsistent spec: nothing is
 *         changed); MR_ECONFLICT (the firewall refuses: another pod holds an
 *         overlapping subnet or the same port); the errors of the link, wg
 *         and fw modules (the detail says which step failed).
 */
MR_API int mr_pod_apply(mr_ctx *ctx, const mr_pod_spec *spec, mr_pod_report *out);

/**
 * Remove a pod completely: its firewall rules, then its interface (which
 * ends a wireguard-go serving it). Parts already gone are not an error.
 * @param ctx the context.
 * @param ifname the pod interface.
 * @return 0, MR_EINVAL, MR_ENOTFOUND (neither interface nor rules exist),
 *         or the errors of the link and fw modules.
 */
MR_API int mr_pod_teardown(mr_ctx *ctx, const char *ifname);

/** Pod state found on the node: interface present. */
#define MR_POD_HAS_LINK 0x1u
/** Pod state found on the node: firewall rules present. */
#define MR_POD_HAS_FIREWALL 0x2u

/**
 * The pods that exist on the node: interfaces named like pods ("wg-" and six
 * lowercase hex characters) and pods with firewall rules, merged and sorted
 * by name.
 * @param out receives a NULL-terminated array of *count names in one
 *        allocation; free it with mr_free(). NULL when there is none.
 * @param state receives, if not NULL, an array of *count MR_POD_HAS_* flags
 *        in the same order; free it with mr_free().
 * @param count receives the number of pods.
 * @return 0, MR_EINVAL, MR_ENOMEM or the errors of the link and fw modules.
 */
MR_API int mr_pod_list(mr_ctx *ctx, char ***out, uint32_t **state, size_t *count);

MR_END_DECLS

#endif

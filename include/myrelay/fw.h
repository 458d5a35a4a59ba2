/* SPDX-License-Identifier: MIT */
/*
 * Per-pod firewall rules in nftables (through libnftnl, never the nft
 * program): isolation between pods, anti-spoofing, no access to the node's
 * own addresses and services except echo (and optionally DNS) to the pod's
 * gateway, masquerade of the pod subnets out of the node's uplinks, the
 * pod's WireGuard listen port opened on input, and named counters per pod.
 *
 * Everything lives in one table of our own, "inet myrelay" (MR_FW_TABLE);
 * no other table is read or changed. Each call that changes rules sends one
 * nfnetlink batch, which the kernel applies atomically: either all of it or
 * nothing. The layout of the table (base chains, sets, verdict maps, the
 * chains and counters of each pod) is described in docs/api/fw.md.
 *
 * nftables keeps one ruleset per network namespace: every call works in the
 * namespace of the context's netfilter socket (the namespace the thread was
 * in when the context first talked to the kernel, see <myrelay/ctx.h>).
 * Changing rules needs CAP_NET_ADMIN there; without it the kernel refuses
 * and calls return MR_EPERM.
 *
 * Verdicts in our table do not override other tables: a packet our chains
 * accept can still be dropped by another table's chain on the same hook (an
 * nftables rule of its own). Our base chains have policy accept and only
 * drop pod traffic, so the host's own traffic is never affected.
 *
 * Every input is validated before anything is sent: a refused call returns
 * MR_EINVAL (or MR_ECONFLICT) and changes nothing.
 */
#ifndef MYRELAY_FW_H
#define MYRELAY_FW_H

#include <myrelay/common.h>
#include <myrelay/cidr.h>
#include <myrelay/ctx.h>

MR_BEGIN_DECLS

/** Name of our nftables table (family inet). */
#define MR_FW_TABLE "myrelay"

/** Pod option: devices of the pod may reach each other (traffic that enters
 * and leaves through the pod's own interface). On by default. */
#define MR_FW_OPT_INTRA_POD 0x1u
/** Pod option: the pod may reach DNS (UDP and TCP port 53) on its gateway
 * addresses. Off by default. */
#define MR_FW_OPT_DNS 0x2u
/** Options of a new pod spec. */
#define MR_FW_OPT_DEFAULT MR_FW_OPT_INTRA_POD

/** Most subnets one pod may have (both families together). */
#define MR_FW_SUBNETS_MAX 16
/** Most uplink interfaces one call may name. */
#define MR_FW_UPLINKS_MAX 16

/** Counter index: packets from the pod that were accepted (forwarded
 * traffic, echo/DNS to the gateway, replies to the node's own flows). */
#define MR_FW_COUNTER_ACCEPT 0
/** Counter index: packets from the pod to another pod's interface or
 * subnet (or, with MR_FW_OPT_INTRA_POD off, to the pod itself), dropped. */
#define MR_FW_COUNTER_DROP_ISOLATION 1
/** Counter index: packets from the pod whose source address is outside the
 * pod's subnets, dropped. */
#define MR_FW_COUNTER_DROP_SPOOF 2
/** Counter index: packets from the pod to the node's own addresses and
 * services (other than what is allowed), dropped. */
#define MR_FW_COUNTER_DROP_NODE 3
/** Number of counters per pod in this version (counter indexes are
 * 0 .. MR_FW_COUNTERS - 1; later versions may add more at the end). */
#define MR_FW_COUNTERS 4

/**
 * A pod's firewall specification: interface name, subnets with their
 * gateway addresses, listen port and options. Build it with the functions
 * below; it is only data until mr_fw_apply_pod() sends it.
 */
typedef struct mr_fw_pod mr_fw_pod;

/**
 * Create a pod specification for an interface, with no subnet, no listen
 * port and MR_FW_OPT_DEFAULT options.
 *
 * @param out receives the spec; free it with mr_fw_pod_free(). Written only
 *        on success.
 * @param ifname the pod's interface (see mr_name_validate_interface()); it
 *        need not exist yet (rules match interfaces by name).
 * @return 0, MR_EINVAL (NULL argument, bad name) or MR_ENOMEM.
 */
MR_API int mr_fw_pod_new(mr_fw_pod **out, const char *ifname);

/**
 * Free a pod specification.
 * @param pod the spec, or NULL.
 */
MR_API void mr_fw_pod_free(mr_fw_pod *pod);

/**
 * Add a subnet to the pod, given as the gateway's interface address: the
 * address the pod interface carries, with the subnet's prefix length
 * ("10.64.1.1/24" means subnet 10.64.1.0/24 with gateway 10.64.1.1). The
 * gateway is where the pod may send echo requests (and DNS queries with
 * MR_FW_OPT_DNS); the subnet is what the pod's sources must be in.
 *
 * @param pod the spec.
 * @param gateway IPv4 prefix length 1-30 or IPv6 1-126; the host part must
 *        not be zero (the network address) nor, for IPv4, all ones.
 * @return 0; MR_EINVAL (NULL argument, bad family or length, no usable
 *         gateway, overlapping a subnet already added, more than
 *         MR_FW_SUBNETS_MAX subnets); the spec is unchanged on error.
 */
MR_API int mr_fw_pod_add_subnet(mr_fw_pod *pod, const mr_prefix *gateway);

/**
 * Set the pod's UDP listen port (WireGuard), accepted on input from
 * anywhere except pod interfaces.
 *
 * @param pod the spec.
 * @param port 1-65535, or 0 for none (the default).
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_fw_pod_set_listen_port(mr_fw_pod *pod, uint32_t port);

/**
 * Replace the pod's options.
 *
 * @param pod the spec.
 * @param options a combination of MR_FW_OPT_* bits.
 * @return 0 or MR_EINVAL (unknown bits).
 */
MR_API int mr_fw_pod_set_options(mr_fw_pod *pod, uint32_t options);

/**
 * Install or replace a pod's rules, in one atomic batch. Creates our table
 * on first use. Applying the same spec again gives the same ruleset (and
 * keeps the pod's counters); applying a changed spec replaces the pod's
 * rules, sets and map entries in the same batch, so there is no moment
 * without rules. Other pods' isolation includes the new pod from the same
 * batch on.
 *
 * @param ctx the context.
 * @param pod the spec; it needs at least one subnet.
 * @param uplinks interface names out of which the pod's subnets are
 *        masqueraded (the node's uplinks: see mr_fw_apply_pod_auto() to use
 *        the interfaces of the default routes); none of them may be the
 *        pod's own interface. May be NULL when n_uplinks is 0 (no
 *        masquerade).
 * @param n_uplinks number of uplinks, at most MR_FW_UPLINKS_MAX.
 * @return 0; MR_EINVAL (NULL argument, no subnet, bad or duplicate uplink
 *         name); MR_ECONFLICT (a subnet overlaps another pod's, or another
 *         pod has the same listen port; the detail names it); MR_EPERM;
 *         other MR_E* codes when the kernel refuses the batch (then nothing
 *         changed).
 */
MR_API int mr_fw_apply_pod(mr_ctx *ctx, const mr_fw_pod *pod, const char *const *uplinks,
			   size_t n_uplinks);

/**
 * mr_fw_apply_pod() with the uplinks found from the main routing table's
 * default routes, both families (mr_link_default_route_ifaces()), leaving
 * out the pod's own interface. With no default route the pod gets no
 * masquerade.
 *
 * @param ctx the context.
 * @param pod the spec.
 * @return as mr_fw_apply_pod(); also the errors of
 *         mr_link_default_route_ifaces().
 */
MR_API int mr_fw_apply_pod_auto(mr_ctx *ctx, const mr_fw_pod *pod);

/**
 * Remove everything of a pod (its chains, counters, sets and its entries in
 * the shared sets and maps) in one atomic batch. Removing the last pod
 * removes our whole table.
 *
 * @param ctx the context.
 * @param ifname the pod's interface name.
 * @return 0; MR_EINVAL; MR_ENOTFOUND (no rules for that pod); MR_EPERM;
 *         other MR_E* codes when the kernel refuses.
 */
MR_API int mr_fw_remove_pod(mr_ctx *ctx, const char *ifname);

/**
 * The pods that have rules, sorted by name (strcmp order).
 *
 * @param ctx the context.
 * @param out receives a NULL-terminated array of *count names in one
 *        allocation (the array and its strings); free it with mr_free().
 *        NULL when there is no pod. Written only on success.
 * @param count receives the number of pods.
 * @return 0, MR_EINVAL, MR_ENOMEM, MR_EPERM or another MR_E* code.
 */
MR_API int mr_fw_list_pods(mr_ctx *ctx, char ***out, size_t *count);

/**
 * Name of a counter index ("accept", "drop-isolation", "drop-spoof",
 * "drop-node"). The nftables counter object of pod P is named
 * "<P>-<name>", e.g. "wg-abc123-drop-spoof".
 *
 * @param counter an MR_FW_COUNTER_* index.
 * @return a static string, or NULL for an unknown index.
 */
MR_API const char *mr_fw_counter_name(int counter);

/**
 * Read a pod's counters.
 *
 * @param ctx the context.
 * @param ifname the pod's interface name.
 * @param packets array receiving packets per counter index; may be NULL.
 * @param bytes array receiving bytes per counter index; may be NULL.
 * @param n length of the arrays: the first min(n, MR_FW_COUNTERS) entries
 *        are written (pass MR_FW_COUNTERS). Entries are written only on
 *        success.
 * @return 0; MR_EINVAL; MR_ENOTFOUND (no rules for that pod); other MR_E*
 *         codes.
 */
MR_API int mr_fw_pod_counters(mr_ctx *ctx, const char *ifname, uint64_t *packets, uint64_t *bytes,
			      size_t n);

/**
 * Remove our table and everything in it (all pods) in one batch. Other
 * tables are not touched. Succeeds when there is nothing to remove.
 *
 * @param ctx the context.
 * @return 0, MR_EINVAL, MR_EPERM or another MR_E* code.
 */
MR_API int mr_fw_destroy(mr_ctx *ctx);

MR_END_DECLS

#endif

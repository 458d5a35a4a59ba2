/* SPDX-License-Identifier: MIT */
/*
 * Network links through rtnetlink: create and delete WireGuard links, list
 * links by name prefix, read and set MTU, up/down and interface addresses
 * (replacing the set with the smallest change), and find the interfaces
 * that carry the default routes (the uplinks a masquerade rule needs).
 *
 * Every call works in the network namespace of the context's rtnetlink
 * socket (the namespace the thread was in when the context first talked to
 * the kernel, see <myrelay/ctx.h>). Every input is validated before anything
 * is sent: a refused call returns MR_EINVAL and changes nothing. Interface
 * names follow mr_name_validate_interface() (1-15 bytes of A-Z a-z 0-9 '_'
 * '-'). Kernel refusals come back as MR_E* codes with the kernel's own
 * explanation in mr_error_message() (see <myrelay/ctx.h>). Changes are
 * reported to the context's log callback at MR_LOG_INFO.
 *
 * Changing links needs CAP_NET_ADMIN in the namespace; without it the kernel
 * refuses and the call returns MR_EPERM.
 */
#ifndef MYRELAY_LINK_H
#define MYRELAY_LINK_H

#include <myrelay/common.h>
#include <myrelay/cidr.h>
#include <myrelay/ctx.h>

MR_BEGIN_DECLS

/** MTU a WireGuard link gets by default (the kernel's and wg-quick's choice:
 * 1500 minus the largest WireGuard overhead, 80 bytes over IPv6). */
#define MR_LINK_MTU_DEFAULT 1420
/** Smallest MTU mr_link_set_mtu() accepts: the IPv6 minimum (RFC 8200).
 * Pod links always carry IPv6, and the kernel silently disables IPv6 on a
 * link whose MTU drops below this. */
#define MR_LINK_MTU_MIN 1280
/** Largest MTU mr_link_set_mtu() accepts. */
#define MR_LINK_MTU_MAX 65535
/** Most addresses mr_link_set_addresses() takes in one call. */
#define MR_LINK_ADDRESSES_MAX 256

/**
 * A snapshot of links: name, interface index, MTU, administrative state and
 * kind of each, sorted by name (strcmp order). It is not updated when the
 * kernel's links change. Free it with mr_link_list_free().
 */
typedef struct mr_link_list mr_link_list;

/**
 * Create a WireGuard link (rtnetlink RTM_NEWLINK, kind "wireguard"). The new
 * link is down, has no address and the kernel's default MTU
 * (MR_LINK_MTU_DEFAULT).
 *
 * @param ctx the context.
 * @param name the link's name.
 * @return 0; MR_EINVAL (NULL context, bad name); MR_EEXIST (a link of that
 *         name exists, whatever its kind); MR_ENOTSUP (the running kernel has
 *         no WireGuard module: the detail says so and suggests the userspace
 *         backend, see mr_ctx_set_backend()); MR_EPERM; other MR_E* codes for
 *         netlink failures.
 */
MR_API int mr_link_create_wireguard(mr_ctx *ctx, const char *name);

/**
 * Delete a link of any kind (RTM_DELLINK). Deleting one end of a veth pair
 * deletes both; deleting the TUN of a userspace WireGuard process makes that
 * process exit.
 *
 * @param ctx the context.
 * @param name the link's name.
 * @return 0, MR_EINVAL, MR_ENOTFOUND (no such link), MR_EPERM or another
 *         MR_E* code.
 */
MR_API int mr_link_delete(mr_ctx *ctx, const char *name);

/**
 * Whether a link of that name exists.
 *
 * @param ctx the context.
 * @param name the link's name.
 * @param out receives the answer; written only on success.
 * @return 0, MR_EINVAL or another MR_E* code for netlink failures (never
 *         MR_ENOTFOUND: absence is the answer false).
 */
MR_API int mr_link_exists(mr_ctx *ctx, const char *name, bool *out);

/**
 * Snapshot of the links whose name starts with prefix, sorted by name (an
 * RTM_GETLINK dump; the name mr_link_list belongs to the type).
 *
 * @param ctx the context.
 * @param prefix the name prefix, e.g. MR_NAME_POD_PREFIX ("wg-"); NULL or ""
 *        lists every link. A non-empty prefix must be made of the characters
 *        of an interface name (at most 15 bytes).
 * @param out receives the list (possibly empty); free it with
 *        mr_link_list_free(). Written only on success.
 * @return 0, MR_EINVAL, MR_ENOMEM or another MR_E* code.
 */
MR_API int mr_link_dump(mr_ctx *ctx, const char *prefix, mr_link_list **out);

/**
 * Snapshot of one link, as a list of exactly one entry (index 0).
 *
 * @param ctx the context.
 * @param name the link's name.
 * @param out receives the list; free it with mr_link_list_free(). Written
 *        only on success.
 * @return 0, MR_EINVAL, MR_ENOTFOUND (no such link), MR_ENOMEM or another
 *         MR_E* code.
 */
MR_API int mr_link_get(mr_ctx *ctx, const char *name, mr_link_list **out);

/**
 * Free a link list.
 * @param list the list, or NULL.
 */
MR_API void mr_link_list_free(mr_link_list *list);

/**
 * Number of links in a list.
 * @param list the list.
 * @return the count; 0 for NULL.
 */
MR_API size_t mr_link_list_count(const mr_link_list *list);

/**
 * Name of the i-th link of a list.
 *
 * @param list the list.
 * @param i index, below mr_link_list_count().
 * @return the name, borrowed: valid until the list is freed. NULL for a NULL
 *         list or an index out of range.
 */
MR_API const char *mr_link_list_name(const mr_link_list *list, size_t i);

/**
 * Details of the i-th link of a list. Every output pointer may be NULL when
 * that value is not wanted.
 *
 * @param list the list.
 * @param i index, below mr_link_list_count().
 * @param ifindex receives the interface index.
 * @param mtu receives the MTU.
 * @param up receives whether the link is administratively up (IFF_UP; a
 *        link can be up and still have no carrier).
 * @param kind receives the rtnetlink kind: "wireguard", "tun" (also the TUN
 *        of a userspace WireGuard implementation), "veth", "dummy", ... or ""
 *        for links without one (loopback, physical devices). Borrowed: valid
 *        until the list is freed.
 * @return 0, or MR_EINVAL (NULL list, index out of range); then nothing is
 *         written.
 */
MR_API int mr_link_list_info(const mr_link_list *list, size_t i, uint32_t *ifindex, uint32_t *mtu,
			     bool *up, const char **kind);

/**
 * Set the MTU of a link. Setting the MTU a link already has changes nothing.
 *
 * @param ctx the context.
 * @param name the link's name.
 * @param mtu MR_LINK_MTU_MIN (1280) to MR_LINK_MTU_MAX (65535); pod links
 *        normally use MR_LINK_MTU_DEFAULT (1420). The kernel may refuse a
 *        value above the device's own maximum (MR_EINVAL, with its reason).
 * @return 0, MR_EINVAL, MR_ENOTFOUND, MR_EPERM or another MR_E* code.
 */
MR_API int mr_link_set_mtu(mr_ctx *ctx, const char *name, uint32_t mtu);

/**
 * Set a link administratively up or down (IFF_UP). Setting the state a link
 * already has changes nothing.
 *
 * @param ctx the context.
 * @param name the link's name.
 * @param up true for up, false for down.
 * @return 0, MR_EINVAL, MR_ENOTFOUND, MR_EPERM or another MR_E* code.
 */
MR_API int mr_link_set_up(mr_ctx *ctx, const char *name, bool up);

/**
 * The interface addresses of a link, with their host bits ("10.64.1.1/24",
 * "fd00:1::1/64"): IPv4 first, then IPv6, each family sorted by address
 * bytes then prefix length. IPv6 link-local addresses (fe80::/10), which the
 * kernel manages itself, are left out. For an IPv4 point-to-point address
 * the local address is given.
 *
 * @param ctx the context.
 * @param name the link's name.
 * @param out receives an array of *count addresses allocated by the library
 *        (free it with mr_free()); NULL when the link has none. Written only
 *        on success.
 * @param count receives the number of addresses.
 * @return 0, MR_EINVAL, MR_ENOTFOUND (no such link), MR_ENOMEM or another
 *         MR_E* code.
 */
MR_API int mr_link_get_addresses(mr_ctx *ctx, const char *name, mr_prefix **out, size_t *count);

/**
 * Make the addresses of a link exactly addrs (a replacement, not an
 * addition), with the smallest change: addresses already present with the
 * same prefix length are left alone (their lifetimes, routes and the
 * sessions using them are not disturbed), missing ones are added and the
 * others are deleted. IPv6 link-local addresses are never touched. Each
 * change is logged at MR_LOG_INFO ("link wg-abc123: added address
 * 10.64.1.1/24").
 *
 * Deleting an IPv4 primary address makes the kernel drop the secondary
 * addresses of its subnet too (unless promote_secondaries is set): the link
 * is read again after the deletions, so such addresses are added back and
 * counted in out_added.
 *
 * Every address is validated before anything changes; a refused list
 * changes nothing. Refused: family other than MR_CIDR_INET/MR_CIDR_INET6,
 * prefix length above 32/128, unspecified (0.0.0.0, ::), loopback
 * (127.0.0.0/8, ::1), multicast (224.0.0.0/4, ff00::/8), IPv4 limited
 * broadcast, IPv6 link-local (fe80::/10), and an address given twice (even
 * with different prefix lengths). Host bits are kept as given, e.g.
 * 10.64.1.1/24.
 *
 * If the kernel refuses one change, the changes before it stay made; the
 * error names the address.
 *
 * @param ctx the context.
 * @param name the link's name.
 * @param addrs the wanted interface addresses; may be NULL when count is 0
 *        (which removes every address but the link-local ones).
 * @param count number of addresses, at most MR_LINK_ADDRESSES_MAX.
 * @param out_added receives how many addresses were added (optional, may be
 *        NULL); written on success.
 * @param out_removed receives how many addresses were deleted (optional, may
 *        be NULL); written on success.
 * @return 0; MR_EINVAL (NULL context, bad name, bad address: the detail
 *         names it as addrs[i]); MR_ENOTFOUND (no such link); MR_ENOMEM;
 *         MR_EPERM; another MR_E* code when the kernel refuses a change.
 */
MR_API int mr_link_set_addresses(mr_ctx *ctx, const char *name, const mr_prefix *addrs,
				 size_t count, size_t *out_added, size_t *out_removed);

/**
 * The interfaces that carry default routes of the main routing table (IPv4
 * 0.0.0.0/0 and IPv6 ::/0, unicast only: blackhole and unreachable defaults
 * do not count), deduplicated and sorted by name: the node's uplinks, as
 * the firewall's masquerade needs them. Multipath routes contribute every
 * next hop's interface; routes through nexthop objects ("ip route add
 * default nhid N") are resolved, groups included.
 *
 * @param ctx the context.
 * @param family 0 for both families, MR_CIDR_INET or MR_CIDR_INET6 for one.
 * @param out receives the list of interfaces (possibly empty: no default
 *        route); free it with mr_link_list_free(). Written only on success.
 * @return 0, MR_EINVAL (NULL argument, bad family), MR_ENOMEM or another
 *         MR_E* code.
 */
MR_API int mr_link_default_route_ifaces(mr_ctx *ctx, int family, mr_link_list **out);

MR_END_DECLS

#endif

/* SPDX-License-Identifier: MIT */
/*
 * IPv4 and IPv6 addresses and prefixes: strict parsing, canonical formatting
 * (RFC 5952 for IPv6), containment, set subtraction (split tunnelling:
 * "everything except these networks") and two allocators: pod subnets inside
 * a node's address pool, and host addresses inside a pod subnet.
 *
 * Parsing is strict and never guesses: no leading or trailing whitespace, no
 * leading zeros in IPv4 octets or prefix lengths, no IPv6 zone ids ("%eth0"),
 * no netmask forms ("/255.255.255.0"). IPv6 accepts the RFC 4291 text forms,
 * including a dotted IPv4 tail ("::ffff:192.0.2.1", "64:ff9b::10.0.0.1").
 * Every refusal is MR_EINVAL with a detail that quotes the input and says
 * what is wrong, e.g.
 *   prefix "10.0.0.1/24": host bits set (network is 10.0.0.0/24)
 *
 * Nothing here is secret; nothing keeps global state. Allocator handles are
 * used by one thread at a time.
 */
#ifndef MYRELAY_CIDR_H
#define MYRELAY_CIDR_H

#include <myrelay/common.h>

MR_BEGIN_DECLS

/** Address family value of an IPv4 prefix (mr_prefix.family). */
#define MR_CIDR_INET 4
/** Address family value of an IPv6 prefix (mr_prefix.family). */
#define MR_CIDR_INET6 6
/**
 * Buffer size that holds any text mr_cidr_format() or
 * mr_cidr_format_address() writes, with its NUL (the longest is
 * "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 43 characters).
 */
#define MR_CIDR_STRLEN 50

/**
 * An IPv4 or IPv6 address with a prefix length. A transparent value type:
 * copy it freely; it owns no memory.
 *
 * The same type holds a network ("10.0.0.0/24", host bits zero), an
 * interface address ("10.0.0.5/24", host bits allowed) and a single address
 * (length 32 or 128).
 *
 * Functions that take an mr_prefix read only family, len and the address
 * bytes of the family (addr[0..3] for IPv4, addr[0..15] for IPv6); they refuse
 * an unknown family or a length above 32/128 with MR_EINVAL. Functions that
 * write one zero every other byte (pad, and addr[4..15] for IPv4).
 */
typedef struct mr_prefix {
	uint8_t family;   /**< MR_CIDR_INET (4) or MR_CIDR_INET6 (6) */
	uint8_t len;      /**< prefix length: 0-32 for IPv4, 0-128 for IPv6 */
	uint8_t pad[2];   /**< zero */
	uint8_t addr[16]; /**< address in network byte order; IPv4 uses addr[0..3] */
} mr_prefix;

/**
 * Parse a network in CIDR form, "10.0.0.0/24" or "fd00:1::/64": the prefix
 * length is required and the host bits must be zero (as Python's
 * ipaddress.ip_network(strict=True)).
 *
 * @param out receives the network; written only on success.
 * @param text NUL-terminated text.
 * @return 0 or MR_EINVAL (NULL argument, malformed text, missing prefix
 *         length, host bits set; the detail quotes the input).
 */
MR_API int mr_cidr_parse_network(mr_prefix *out, const char *text);

/**
 * Parse an interface address, "10.0.0.5/24": an address with the prefix
 * length of its network, host bits allowed (as ip_interface(), except that
 * the prefix length is required here).
 *
 * @param out receives the address and length; written only on success.
 * @param text NUL-terminated text.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_cidr_parse_interface(mr_prefix *out, const char *text);

/**
 * Parse a bare address, "10.0.0.5" or "fd00::5", into a /32 or /128.
 * Text with a "/" is refused.
 *
 * @param out receives the address; written only on success.
 * @param text NUL-terminated text.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_cidr_parse_address(mr_prefix *out, const char *text);

/**
 * Parse an address or a network, the form of WireGuard's AllowedIPs and of
 * exclude lists: a bare address becomes a /32 or /128; with a "/", the host
 * bits must be zero (as ip_network(strict=True)).
 *
 * @param out receives the prefix; written only on success.
 * @param text NUL-terminated text.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_cidr_parse(mr_prefix *out, const char *text);

/**
 * Format a prefix as "address/length". IPv4 in dotted decimal; IPv6 as RFC
 * 5952 section 4 says (lowercase, no leading zeros, the longest run of two or
 * more zero groups shortened to "::", the first such run on a tie). IPv4-
 * mapped and other embedded-IPv4 addresses are printed in hexadecimal
 * ("::ffff:102:304"), as Python's str(ipaddress.IPv6Address) does up to 3.12.
 * Host bits are printed as they are (interface form).
 *
 * @param out buffer; MR_CIDR_STRLEN bytes is always enough.
 * @param size size of out.
 * @param p the prefix.
 * @return 0, MR_EINVAL (NULL argument, bad family or length) or MR_ETOOBIG
 *         (out too small; then out is not written).
 */
MR_API int mr_cidr_format(char *out, size_t size, const mr_prefix *p);

/**
 * Format the address of a prefix alone ("10.0.0.5", "fd00::5"), with the
 * rules of mr_cidr_format().
 *
 * @param out buffer; MR_CIDR_STRLEN bytes is always enough.
 * @param size size of out.
 * @param p the prefix; its length is ignored.
 * @return 0, MR_EINVAL or MR_ETOOBIG.
 */
MR_API int mr_cidr_format_address(char *out, size_t size, const mr_prefix *p);

/**
 * Whether every address of inner lies in outer. Both are taken as the
 * networks they name (host bits ignored); families must match.
 *
 * @param outer the containing prefix.
 * @param inner the contained prefix.
 * @return true when both are valid, of one family, and inner's network is
 *         inside outer's (equal counts). False otherwise, including NULL or
 *         invalid arguments.
 */
MR_API bool mr_cidr_contains(const mr_prefix *outer, const mr_prefix *inner);

/**
 * Whether two prefixes share at least one address (host bits ignored).
 *
 * @return true when both are valid, of one family, and one contains the
 *         other. False otherwise, including NULL or invalid arguments.
 */
MR_API bool mr_cidr_overlaps(const mr_prefix *a, const mr_prefix *b);

/**
 * The network of a prefix: the same prefix with its host bits zeroed
 * ("10.0.0.5/24" -> "10.0.0.0/24").
 *
 * @param out receives the network; may alias p.
 * @param p the prefix.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_cidr_network(mr_prefix *out, const mr_prefix *p);

/**
 * Set subtraction: the smallest list of prefixes that covers exactly
 * (union of include) minus (union of exclude), for both families at once.
 * Adjacent halves are merged, so the list is minimal; IPv4 entries come
 * before IPv6, each family sorted by address. Inputs may overlap each other
 * and may mix families; an exclude outside every include has no effect.
 * Runs in O((n + m) log(n + m) + output) time.
 *
 * Typical use, split tunnelling: include {0.0.0.0/0, ::/0}, exclude the
 * networks that must not go through the tunnel; the result is AllowedIPs.
 *
 * @param out receives an array of *out_count prefixes allocated by the
 *        library (free it with mr_free()); NULL when the result is empty.
 *        Written only on success.
 * @param out_count receives the number of prefixes (may be 0).
 * @param include prefixes to cover; may be NULL when n_include is 0.
 * @param n_include number of include prefixes.
 * @param exclude prefixes to remove; may be NULL when n_exclude is 0.
 * @param n_exclude number of exclude prefixes.
 * @return 0, MR_EINVAL (NULL argument, bad family or length, host bits set
 *         in an input; the detail names it as include[i] or exclude[i]) or
 *         MR_ENOMEM.
 */
MR_API int mr_cidr_subtract(mr_prefix **out, size_t *out_count, const mr_prefix *include,
			    size_t n_include, const mr_prefix *exclude, size_t n_exclude);

/**
 * A pool of equal-length subnets inside one prefix (a node's address pool
 * cut into pod subnets, e.g. /24s of 10.64.0.0/16 or /64s of an IPv6 /48).
 * Allocation is lowest-free-first. Time per call does not grow with the
 * number allocated (amortised O(1) for alloc after fresh subnets, O(log r)
 * when reusing one of r released subnets), and memory is proportional to
 * the subnets marked or released, never to the pool size: an IPv6 /0 cut
 * into /128s works.
 */
typedef struct mr_cidr_pool mr_cidr_pool;

/**
 * Create a subnet pool.
 *
 * @param out receives the pool; free it with mr_cidr_pool_free(). Written
 *        only on success.
 * @param pool the pool's network (host bits must be zero).
 * @param subnet_len length of each subnet: from pool->len to 32 (IPv4) or
 *        128 (IPv6).
 * @return 0, MR_EINVAL or MR_ENOMEM.
 */
MR_API int mr_cidr_pool_new(mr_cidr_pool **out, const mr_prefix *pool, unsigned int subnet_len);

/**
 * Free a subnet pool.
 * @param pool the pool, or NULL.
 */
MR_API void mr_cidr_pool_free(mr_cidr_pool *pool);

/**
 * Take the lowest free subnet (a released subnet is handed out again before
 * any higher one).
 *
 * @param pool the pool.
 * @param out receives the subnet (network form, length subnet_len); written
 *        only on success.
 * @return 0, MR_EINVAL, MR_ENOMEM or MR_EEXHAUSTED (no subnet left).
 */
MR_API int mr_cidr_pool_alloc(mr_cidr_pool *pool, mr_prefix *out);

/**
 * Mark a given subnet as in use, e.g. when rebuilding the pool from stored
 * state. The subnet can be anywhere in the pool; alloc skips it.
 *
 * @param pool the pool.
 * @param subnet a network of length subnet_len inside the pool.
 * @return 0, MR_EINVAL (not a subnet of the pool of the right length, or host
 *         bits set), MR_EEXIST (already in use) or MR_ENOMEM.
 */
MR_API int mr_cidr_pool_mark_used(mr_cidr_pool *pool, const mr_prefix *subnet);

/**
 * Give a subnet back to the pool; the next alloc may return it.
 *
 * @param pool the pool.
 * @param subnet a subnet of the pool.
 * @return 0, MR_EINVAL (not a subnet of the pool), MR_ENOTFOUND (not in use)
 *         or MR_ENOMEM.
 */
MR_API int mr_cidr_pool_release(mr_cidr_pool *pool, const mr_prefix *subnet);

/**
 * Number of free subnets left, saturated at UINT64_MAX.
 *
 * @param pool the pool.
 * @param out receives the count.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_cidr_pool_count_free(const mr_cidr_pool *pool, uint64_t *out);

/**
 * Host addresses inside a pod subnet. The network address (offset 0) and
 * the gateway (offset 1: ".1" or "::1", the pod interface's own address)
 * are never handed out, nor the IPv4 broadcast address (the last one). A
 * subnet must therefore have at least one host: IPv4 /30 or shorter (a /30
 * has exactly one host), IPv6 /126 or shorter; /31, /32, /127 and /128 are
 * refused. Same complexity and memory bounds as mr_cidr_pool: a /64 of
 * 2^64 hosts costs nothing up front.
 */
typedef struct mr_cidr_hosts mr_cidr_hosts;

/**
 * Create a host allocator for a subnet.
 *
 * @param out receives the allocator; free it with mr_cidr_hosts_free().
 *        Written only on success.
 * @param subnet the pod subnet (network form: host bits zero).
 * @return 0, MR_EINVAL (bad subnet, host bits set, or no usable host) or
 *         MR_ENOMEM.
 */
MR_API int mr_cidr_hosts_new(mr_cidr_hosts **out, const mr_prefix *subnet);

/**
 * Free a host allocator.
 * @param hosts the allocator, or NULL.
 */
MR_API void mr_cidr_hosts_free(mr_cidr_hosts *hosts);

/**
 * The gateway address of the subnet in interface form, with the subnet's
 * length ("10.0.0.1/24", "fd00:1::1/64"): the address the pod interface
 * carries.
 *
 * @param hosts the allocator.
 * @param out receives the gateway; written only on success.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_cidr_hosts_gateway(const mr_cidr_hosts *hosts, mr_prefix *out);

/**
 * Take the lowest free host address (a released address is handed out again
 * before any higher one).
 *
 * @param hosts the allocator.
 * @param out receives the address as a /32 or /128; written only on success.
 * @return 0, MR_EINVAL, MR_ENOMEM or MR_EEXHAUSTED.
 */
MR_API int mr_cidr_hosts_alloc(mr_cidr_hosts *hosts, mr_prefix *out);

/**
 * Mark a host address as in use (rebuild from stored state).
 *
 * @param hosts the allocator.
 * @param addr a /32 or /128 address inside the subnet.
 * @return 0, MR_EINVAL (wrong family or length, outside the subnet, or the
 *         network, gateway or broadcast address), MR_EEXIST or MR_ENOMEM.
 */
MR_API int mr_cidr_hosts_mark_used(mr_cidr_hosts *hosts, const mr_prefix *addr);

/**
 * Give a host address back; the next alloc may return it.
 *
 * @param hosts the allocator.
 * @param addr a /32 or /128 address inside the subnet.
 * @return 0, MR_EINVAL (as for mark_used), MR_ENOTFOUND (not in use) or
 *         MR_ENOMEM.
 */
MR_API int mr_cidr_hosts_release(mr_cidr_hosts *hosts, const mr_prefix *addr);

/**
 * Number of free host addresses left, saturated at UINT64_MAX.
 *
 * @param hosts the allocator.
 * @param out receives the count.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_cidr_hosts_count_free(const mr_cidr_hosts *hosts, uint64_t *out);

MR_END_DECLS

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The client's wg-quick configuration: build it field by field, render it as
 * text, and parse such text back.
 *
 * A configuration has one [Interface] (the device's private key, its
 * addresses, DNS servers and MTU) and one [Peer] (the pod: its public key,
 * an optional preshared key, the endpoint, the allowed IPs and the
 * keepalive).
 *
 * Every value is validated completely when it is set. A value that could
 * change the meaning of the file (a newline, a carriage return, a control
 * character, a non-ASCII byte, a space, '=', '#', ',', '[' or ']' where the
 * field does not allow it) is REFUSED with MR_EINVAL, never stripped or
 * escaped, and a refused call leaves the configuration exactly as it was.
 * Error details name the field ("conf: Endpoint: contains a newline") and
 * never contain key material.
 *
 * IP addresses are parsed and formatted by the cidr module (<myrelay/cidr.h>:
 * its strict parsers, and mr_cidr_format(), RFC 5952 for IPv6), so
 * "FD00:0::2/128" is kept as "fd00::2/128" and "::ffff:10.0.0.1/128" as
 * "::ffff:a00:1/128". Host names and keys are kept as given. A malformed
 * address gives the cidr module's reason after the field's name, without
 * quoting the value ("conf: Address: IPv4 octet \"256\" is larger than 255").
 *
 * Rendered layout (optional lines are left out when unset):
 *
 *     [Interface]
 *     PrivateKey = <base64>
 *     Address = 10.64.3.2/32, fd00::2/128
 *     DNS = 10.64.3.1
 *     MTU = 1420
 *
 *     [Peer]
 *     PublicKey = <base64>
 *     PresharedKey = <base64>
 *     Endpoint = vpn.example.com:51820
 *     AllowedIPs = 0.0.0.0/0, ::/0
 *     PersistentKeepalive = 25
 *
 * The rendered text and the object hold the private (and preshared) key:
 * free them with mr_conf_free_text() and mr_conf_free(), which wipe them.
 * A handle is used by one thread at a time.
 */
#ifndef MYRELAY_CONF_H
#define MYRELAY_CONF_H

#include <myrelay/common.h>

MR_BEGIN_DECLS

/** Smallest MTU accepted (the IPv4 minimum datagram size). */
#define MR_CONF_MTU_MIN 576
/** Smallest MTU accepted when the interface has an IPv6 address (RFC 8200). */
#define MR_CONF_MTU_MIN_IPV6 1280
/** Largest MTU accepted (jumbo frames). */
#define MR_CONF_MTU_MAX 9000
/** Largest PersistentKeepalive interval in seconds (WireGuard's limit). */
#define MR_CONF_KEEPALIVE_MAX 65535
/** Most interface addresses in one configuration. */
#define MR_CONF_MAX_ADDRESSES 32
/** Most DNS servers in one configuration. */
#define MR_CONF_MAX_DNS 16
/** Most AllowedIPs prefixes in one configuration (room for split tunnels). */
#define MR_CONF_MAX_ALLOWED_IPS 1024
/** Largest text mr_conf_parse() accepts, in bytes. A configuration at every
 * limit above renders to less than this. */
#define MR_CONF_MAX_TEXT 65536

/** A client configuration under construction (opaque). */
typedef struct mr_conf mr_conf;

/**
 * Create an empty configuration.
 *
 * @param out receives the new object; written only on success. Free it with
 *        mr_conf_free().
 * @return 0, MR_EINVAL (out is NULL) or MR_ENOMEM.
 */
MR_API int mr_conf_new(mr_conf **out);

/**
 * Free a configuration, first wiping its private and preshared keys.
 *
 * @param conf the object, or NULL (then nothing happens).
 */
MR_API void mr_conf_free(mr_conf *conf);

/**
 * Set the interface's private key ([Interface] PrivateKey). Replaces a
 * previous value.
 *
 * @param conf the configuration.
 * @param base64 the key in canonical base64 (44 characters, see
 *        mr_key_from_base64()); a secret: it is copied and wiped on free.
 *        The all-zero key is refused.
 * @return 0 or MR_EINVAL (NULL argument, or not a valid key; the detail never
 *         quotes the key).
 */
MR_API int mr_conf_set_private_key(mr_conf *conf, const char *base64);

/**
 * Add an interface address ([Interface] Address), an IP address with its
 * prefix length: "10.64.3.2/32", "10.64.3.2/24", "fd00::2/128". The prefix
 * length is required; host bits may be set (it is an address within a
 * subnet). The unspecified (0.0.0.0, ::) and multicast addresses are
 * refused.
 *
 * An IPv6 address cannot be added while the MTU is set below
 * MR_CONF_MTU_MIN_IPV6 (1280).
 *
 * @param conf the configuration.
 * @param cidr the address.
 * @return 0, MR_EINVAL (NULL argument, malformed address, or IPv6 with an MTU
 *         below 1280), MR_EEXIST (already present), MR_ETOOBIG (already
 *         MR_CONF_MAX_ADDRESSES addresses) or MR_ENOMEM.
 */
MR_API int mr_conf_add_address(mr_conf *conf, const char *cidr);

/**
 * Add a DNS server ([Interface] DNS): one IPv4 or IPv6 address without a
 * prefix. Search domains are not supported. The unspecified and multicast
 * addresses are refused.
 *
 * @param conf the configuration.
 * @param ip the address, e.g. "10.64.3.1" or "fd00::1".
 * @return 0, MR_EINVAL, MR_EEXIST (already present), MR_ETOOBIG (already
 *         MR_CONF_MAX_DNS servers) or MR_ENOMEM.
 */
MR_API int mr_conf_add_dns(mr_conf *conf, const char *ip);

/**
 * Set the interface MTU ([Interface] MTU).
 *
 * @param conf the configuration.
 * @param mtu 0 to unset (wg-quick then picks one), else MR_CONF_MTU_MIN
 *        (576) to MR_CONF_MTU_MAX (9000). If the configuration has an IPv6
 *        address the MTU must be at least MR_CONF_MTU_MIN_IPV6 (1280), since
 *        Linux turns IPv6 off on a smaller link.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_conf_set_mtu(mr_conf *conf, uint32_t mtu);

/**
 * Set the peer's (the pod's) public key ([Peer] PublicKey). Replaces a
 * previous value.
 *
 * @param conf the configuration.
 * @param base64 the key in canonical base64; the all-zero key is refused
 *        (see mr_key_public_from_base64()).
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_conf_set_peer_public_key(mr_conf *conf, const char *base64);

/**
 * Set the optional preshared key ([Peer] PresharedKey). Replaces a previous
 * value.
 *
 * @param conf the configuration.
 * @param base64 the key in canonical base64; a secret, wiped on free. The
 *        all-zero key (which WireGuard treats as "no preshared key") is
 *        refused.
 * @return 0 or MR_EINVAL (the detail never quotes the key).
 */
MR_API int mr_conf_set_preshared_key(mr_conf *conf, const char *base64);

/**
 * Set the peer's endpoint ([Peer] Endpoint). Replaces a previous value.
 *
 * Accepted forms: "HOST:PORT" where HOST is an IPv4 address in dotted-quad
 * form or a DNS name (labels of letters, digits and '-', 1 to 63 characters,
 * not starting or ending with '-', at most 253 characters in all, no
 * trailing dot, last label not all digits); and "[IPV6]:PORT". PORT is a
 * decimal number from 1 to 65535 without leading zeros. Forms that a
 * resolver would read as a numeric address in a surprising way ("127.1",
 * "0x7f000001"), IPv6 zone indexes, and the unspecified and multicast
 * addresses are refused. IP addresses are stored in canonical form.
 *
 * @param conf the configuration.
 * @param endpoint the endpoint, e.g. "vpn.example.com:51820",
 *        "192.0.2.1:51820" or "[2001:db8::1]:51820".
 * @return 0, MR_EINVAL or MR_ENOMEM.
 */
MR_API int mr_conf_set_endpoint(mr_conf *conf, const char *endpoint);

/**
 * Add a network to the peer's AllowedIPs: an IPv4 or IPv6 prefix with its
 * length and all host bits zero ("0.0.0.0/0", "10.64.0.0/16", "::/0").
 *
 * @param conf the configuration.
 * @param cidr the prefix; the length is required.
 * @return 0, MR_EINVAL (malformed, or host bits set), MR_EEXIST (already
 *         present), MR_ETOOBIG (already MR_CONF_MAX_ALLOWED_IPS prefixes) or
 *         MR_ENOMEM.
 */
MR_API int mr_conf_add_allowed_ip(mr_conf *conf, const char *cidr);

/**
 * Set the PersistentKeepalive interval.
 *
 * @param conf the configuration.
 * @param seconds 0 for off (the line is not rendered), at most
 *        MR_CONF_KEEPALIVE_MAX (65535).
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_conf_set_keepalive(mr_conf *conf, uint32_t seconds);

/**
 * Render the complete wg-quick configuration text in the layout described at
 * the top of this header, ending with a newline.
 *
 * The configuration must be complete: a private key, at least one address,
 * the peer's public key, the endpoint and at least one allowed IP; the peer's
 * public key must not be the interface's own public key.
 *
 * @param conf the configuration.
 * @param out receives the text; written only on success. It contains the
 *        private key: free it with mr_conf_free_text(), which wipes it.
 * @return 0, MR_EINVAL (NULL argument, or incomplete: the detail names every
 *         missing field), MR_ECRYPTO or MR_ENOMEM.
 */
MR_API int mr_conf_render(const mr_conf *conf, char **out);

/**
 * Wipe and free text returned by mr_conf_render().
 *
 * @param text the text, or NULL (then nothing happens).
 */
MR_API void mr_conf_free_text(char *text);

/**
 * Parse a wg-quick configuration as wg-quick reads it, with every value going
 * through the setter above that validates it.
 *
 * Accepted: one [Interface] section and at most one [Peer] section (section
 * names and keys are case-insensitive, as wg-quick treats them), "Key = value"
 * lines with optional spaces or tabs around the key and value, '#' comments
 * to the end of a line, blank lines, LF or CRLF line ends, and
 * comma-separated lists with optional spaces for Address, DNS and AllowedIPs
 * (a list key may appear on several lines; other keys only once).
 * PersistentKeepalive also accepts "off".
 *
 * Refused with MR_EINVAL and a detail starting "conf: line N:": a second
 * [Peer] ("only one [Peer] is supported") or [Interface]; unknown sections
 * and keys; the wg-quick-only keys PreUp, PostUp, PreDown, PostDown (they
 * run shell commands as root), Table and SaveConfig; keys not supported in a
 * client configuration (ListenPort, FwMark); control characters anywhere
 * and non-ASCII bytes outside comments; and every value a setter refuses.
 * The result may be incomplete (mr_conf_render() then refuses it); a text
 * without an [Interface] section is refused.
 *
 * @param out receives the new configuration; written only on success. Free
 *        it with mr_conf_free().
 * @param text NUL-terminated text of at most MR_CONF_MAX_TEXT bytes. It
 *        holds secrets: the library wipes its own working copies.
 * @return 0, MR_EINVAL, MR_EEXIST (a list item repeated), MR_ETOOBIG (text
 *         too large, or a list over its limit) or MR_ENOMEM.
 */
MR_API int mr_conf_parse(mr_conf **out, const char *text);

/**
 * The private key in base64.
 *
 * @param conf the configuration (NULL gives NULL).
 * @return a borrowed string, valid while conf lives and the key is not set
 *         again; NULL if unset. A secret.
 */
MR_API const char *mr_conf_get_private_key(const mr_conf *conf);

/**
 * Number of interface addresses.
 *
 * @param conf the configuration (NULL gives 0).
 */
MR_API size_t mr_conf_address_count(const mr_conf *conf);

/**
 * One interface address in canonical form ("10.64.3.2/32").
 *
 * @param conf the configuration.
 * @param i index from 0 to mr_conf_address_count() - 1.
 * @return a borrowed string valid while conf lives; NULL if conf is NULL or
 *         i is out of range.
 */
MR_API const char *mr_conf_get_address(const mr_conf *conf, size_t i);

/**
 * Number of DNS servers.
 *
 * @param conf the configuration (NULL gives 0).
 */
MR_API size_t mr_conf_dns_count(const mr_conf *conf);

/**
 * One DNS server in canonical form.
 *
 * @param conf the configuration.
 * @param i index from 0 to mr_conf_dns_count() - 1.
 * @return a borrowed string valid while conf lives; NULL if out of range.
 */
MR_API const char *mr_conf_get_dns(const mr_conf *conf, size_t i);

/**
 * The MTU.
 *
 * @param conf the configuration (NULL gives 0).
 * @return the MTU, 0 if unset.
 */
MR_API uint32_t mr_conf_get_mtu(const mr_conf *conf);

/**
 * The peer's public key in base64.
 *
 * @param conf the configuration (NULL gives NULL).
 * @return a borrowed string valid while conf lives and the key is not set
 *         again; NULL if unset.
 */
MR_API const char *mr_conf_get_peer_public_key(const mr_conf *conf);

/**
 * The preshared key in base64.
 *
 * @param conf the configuration (NULL gives NULL).
 * @return a borrowed string valid while conf lives and the key is not set
 *         again; NULL if unset. A secret.
 */
MR_API const char *mr_conf_get_preshared_key(const mr_conf *conf);

/**
 * The endpoint ("vpn.example.com:51820", "[2001:db8::1]:51820").
 *
 * @param conf the configuration (NULL gives NULL).
 * @return a borrowed string valid while conf lives and the endpoint is not
 *         set again; NULL if unset.
 */
MR_API const char *mr_conf_get_endpoint(const mr_conf *conf);

/**
 * Number of AllowedIPs prefixes.
 *
 * @param conf the configuration (NULL gives 0).
 */
MR_API size_t mr_conf_allowed_ip_count(const mr_conf *conf);

/**
 * One AllowedIPs prefix in canonical form ("0.0.0.0/0").
 *
 * @param conf the configuration.
 * @param i index from 0 to mr_conf_allowed_ip_count() - 1.
 * @return a borrowed string valid while conf lives; NULL if out of range.
 */
MR_API const char *mr_conf_get_allowed_ip(const mr_conf *conf, size_t i);

/**
 * The PersistentKeepalive interval.
 *
 * @param conf the configuration (NULL gives 0).
 * @return seconds, 0 if off.
 */
MR_API uint32_t mr_conf_get_keepalive(const mr_conf *conf);

MR_END_DECLS

#endif

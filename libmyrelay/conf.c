/* SPDX-License-Identifier: MIT */
/*
 * The client's wg-quick configuration.
 *
 * The file is read by wg-quick (bash) and wg (C), both line-oriented with
 * "Key = value" lines and '#' comments, so any newline, carriage return, '#',
 * '=' or bracket in a value could smuggle in a directive such as
 * "PostUp = <command run as root>". Every value is therefore checked
 * character by character before it is parsed, and refused rather than
 * cleaned: a silently altered endpoint or address is a misconfigured tunnel
 * nobody notices.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <myrelay/cidr.h>
#include <myrelay/conf.h>
#include <myrelay/key.h>

/* Field names as they appear in the file, so errors point at the line. */
#define F_PRIVATE_KEY "PrivateKey"
#define F_ADDRESS "Address"
#define F_DNS "DNS"
#define F_MTU "MTU"
#define F_PUBLIC_KEY "PublicKey"
#define F_PRESHARED_KEY "PresharedKey"
#define F_ENDPOINT "Endpoint"
#define F_ALLOWED_IPS "AllowedIPs"
#define F_KEEPALIVE "PersistentKeepalive"

/* "[" + IPv6 + "]:" + port, or a 253-byte host name + ":" + port. */
#define ENDPOINT_TEXT_SIZE 264
#define HOSTNAME_MAX 253
#define LABEL_MAX 63
#define MSG_COPY_SIZE 512

struct strlist {
	char **v;
	size_t n;
	size_t cap;
};

struct mr_conf {
	/* Base64 texts; "" when unset. Wiped before the object is freed. */
	char private_key[MR_KEY_BASE64_SIZE];
	char public_key[MR_KEY_BASE64_SIZE];
	char preshared_key[MR_KEY_BASE64_SIZE];
	struct strlist addresses;
	struct strlist dns;
	struct strlist allowed_ips;
	char *endpoint;
	uint32_t mtu;
	uint32_t keepalive;
};

/* ------------------------------------------------------------------------ */
/* Character-level screening                                                 */
/* ------------------------------------------------------------------------ */

#define ALLOW_EQUALS 0x1u
#define ALLOW_BRACKETS 0x2u

/*
 * Refuse anything that means something to wg-quick or wg besides being part
 * of the value. The first offending character decides the message, and the
 * message never quotes the value: it may be a key.
 */
static int screen(const char *field, const char *s, unsigned allow)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *what = NULL;

		if (c == '\n')
			what = "contains a newline";
		else if (c == '\r')
			what = "contains a carriage return";
		else if (c < 0x20 || c == 0x7f)
			what = "contains a control character";
		else if (c >= 0x80)
			what = "contains a non-ASCII character";
		else if (c == ' ')
			what = "contains a space";
		else if (c == '#')
			what = "contains '#'";
		else if (c == ',')
			what = "contains ','";
		else if (c == '=' && !(allow & ALLOW_EQUALS))
			what = "contains '='";
		else if (c == '[' && !(allow & ALLOW_BRACKETS))
			what = "contains '['";
		else if (c == ']' && !(allow & ALLOW_BRACKETS))
			what = "contains ']'";
		if (what)
			return mr__error_set(MR_EINVAL, "conf: %s: %s", field, what);
	}
	if (i == 0)
		return mr__error_set(MR_EINVAL, "conf: %s: is empty", field);
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * A decimal number without sign, spaces or leading zeros (strtoul would take
 * " +0x10"), of at most 5 digits. Returns false if s[0..len) is not one.
 */
static bool parse_decimal(const char *s, size_t len, uint32_t *out)
{
	uint32_t v = 0;

	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * Re-issue the detail another module recorded (the key or the cidr parser)
 * under the field's name. Its own label, everything up to the first ": ", is
 * replaced: "key: " or, from cidr, the quoted input ("prefix \"...\": ").
 * Dropping the quotation keeps conf's rule of never echoing a value, which
 * could be a key pasted on the wrong line; what is left of a cidr detail
 * quotes at most a piece of an address, and screen() has already refused
 * spaces, so the first ": " is the end of the label.
 */
static int relabel(int rc, const char *field, const char *fallback)
{
	char detail[MSG_COPY_SIZE];
	const char *d;

	/* Copy: the detail buffer is also the destination. */
	snprintf(detail, sizeof(detail), "%s", mr_error_message());
	d = strstr(detail, ": ");
	d = d ? d + 2 : detail;
	return mr__error_set(rc, "conf: %s: %s", field, d[0] ? d : fallback);
}

/* ------------------------------------------------------------------------ */
/* Addresses and prefixes                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Screen a value, then parse it with one of the cidr module's strict parsers
 * (mr_cidr_parse_interface, _network or _address).
 */
static int parse_cidr(const char *field, const char *s, int (*parse)(mr_prefix *, const char *),
		      mr_prefix *out)
{
	int rc;

	rc = screen(field, s, 0);
	if (rc < 0)
		return rc;
	rc = parse(out, s);
	if (rc < 0)
		return relabel(rc, field, "not a valid address");
	return 0;
}

/* An address a host can have or talk to: not 0.0.0.0/::, not multicast. */
static int check_unicast(const char *field, const mr_prefix *p)
{
	size_t n = p->family == MR_CIDR_INET ? 4 : 16;
	bool zero = true;

	for (size_t i = 0; i < n; i++)
		if (p->addr[i])
			zero = false;
	if (zero)
		return mr__error_set(MR_EINVAL, "conf: %s: the unspecified address is not allowed",
				     field);
	if (p->family == MR_CIDR_INET ? (p->addr[0] & 0xf0) == 0xe0 : p->addr[0] == 0xff)
		return mr__error_set(MR_EINVAL, "conf: %s: a multicast address is not allowed",
				     field);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Endpoint                                                                  */
/* ------------------------------------------------------------------------ */

static int endpoint_error(const char *what)
{
	return mr__error_set(MR_EINVAL, "conf: " F_ENDPOINT ": %s", what);
}

static int parse_port(const char *s, uint32_t *out)
{
	uint32_t port;

	if (!parse_decimal(s, strlen(s), &port) || port == 0 || port > 65535)
		return endpoint_error("port must be a number from 1 to 65535");
	*out = port;
	return 0;
}

/* DNS name of letter-digit-hyphen labels (RFC 1123), as resolvers expect. */
static int check_hostname(const char *s, size_t len)
{
	size_t label = 0;
	bool all_digits = true;

	if (len > HOSTNAME_MAX)
		return endpoint_error("host name longer than 253 characters");
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';

		if (c == '.') {
			if (label == 0)
				return endpoint_error("empty label in host name");
			if (s[i - 1] == '-')
				return endpoint_error("a host name label cannot end with '-'");
			/* RFC 3696: a top-level label is never all digits, and a
			 * resolver might take the name for an address. */
			if (i == len && all_digits)
				return endpoint_error(
				    "the last label of a host name cannot be all digits");
			label = 0;
			all_digits = true;
			continue;
		}
		if (c == '-' && label == 0)
			return endpoint_error("a host name label cannot start with '-'");
		if (!is_alpha(c) && !is_digit(c) && c != '-')
			return mr__error_set(
			    MR_EINVAL, "conf: " F_ENDPOINT ": invalid character '%c' in host name",
			    c);
		if (!is_digit(c))
			all_digits = false;
		if (++label > LABEL_MAX)
			return endpoint_error("a host name label is longer than 63 characters");
	}
	return 0;
}

/*
 * The IP literal s[0..len) of an endpoint (inside brackets: IPv6 only), by
 * the cidr module's parser, into canonical text.
 */
static int endpoint_ip(const char *s, size_t len, bool bracketed, char addr[MR_CIDR_STRLEN])
{
	char buf[ENDPOINT_TEXT_SIZE];
	mr_prefix ip;
	int rc;

	/* parse_endpoint() has refused any longer text. */
	if (len >= sizeof(buf))
		return endpoint_error("too long");
	memcpy(buf, s, len);
	buf[len] = '\0';
	rc = mr_cidr_parse_address(&ip, buf);
	if (rc < 0)
		return relabel(rc, F_ENDPOINT, "not a valid address");
	if (bracketed && ip.family != MR_CIDR_INET6)
		return endpoint_error("brackets are only for IPv6 addresses");
	rc = check_unicast(F_ENDPOINT, &ip);
	if (rc < 0)
		return rc;
	return mr_cidr_format_address(addr, MR_CIDR_STRLEN, &ip);
}

static int parse_bracketed(const char *s, char *out, size_t size)
{
	char addr[MR_CIDR_STRLEN];
	const char *close = strchr(s, ']');
	uint32_t port;
	int rc;

	if (!close)
		return endpoint_error("missing ']'");
	if (close[1] != ':')
		return endpoint_error("expected ':PORT' after ']'");
	rc = endpoint_ip(s + 1, (size_t)(close - s - 1), true, addr);
	if (rc < 0)
		return rc;
	rc = parse_port(close + 2, &port);
	if (rc < 0)
		return rc;
	snprintf(out, size, "[%s]:%u", addr, (unsigned)port);
	return 0;
}

static int parse_endpoint(const char *s, char *out, size_t size)
{
	char addr[MR_CIDR_STRLEN], name[HOSTNAME_MAX + 1];
	struct in_addr ignored;
	const char *colon;
	size_t hostlen;
	uint32_t port;
	int rc;

	rc = screen(F_ENDPOINT, s, ALLOW_BRACKETS);
	if (rc < 0)
		return rc;
	if (strlen(s) >= size)
		return endpoint_error("too long");
	if (s[0] == '[')
		return parse_bracketed(s, out, size);

	if (strchr(s, '['))
		return endpoint_error("contains '['");
	if (strchr(s, ']'))
		return endpoint_error("contains ']'");
	colon = strrchr(s, ':');
	if (!colon)
		return endpoint_error("missing the port (HOST:PORT)");
	if (memchr(s, ':', (size_t)(colon - s)))
		return endpoint_error(
		    "an IPv6 address must be in brackets, as in [2001:db8::1]:51820");
	hostlen = (size_t)(colon - s);
	if (hostlen == 0)
		return endpoint_error("missing the host");
	rc = parse_port(colon + 1, &port);
	if (rc < 0)
		return rc;

	if (strspn(s, "0123456789.") >= hostlen) {
		rc = endpoint_ip(s, hostlen, false, addr);
		if (rc < 0)
			return rc;
		snprintf(out, size, "%s:%u", addr, (unsigned)port);
		return 0;
	}

	rc = check_hostname(s, hostlen);
	if (rc < 0)
		return rc;
	/* getaddrinfo() takes anything inet_aton() takes as a number:
	 * "0x7f000001" would silently mean 127.0.0.1. */
	memcpy(name, s, hostlen);
	name[hostlen] = '\0';
	if (inet_aton(name, &ignored))
		return endpoint_error("host reads as a numeric address; write IPv4 as a.b.c.d");
	snprintf(out, size, "%s:%u", name, (unsigned)port);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Lists                                                                     */
/* ------------------------------------------------------------------------ */

static int list_add(struct strlist *l, size_t max, const char *field, const char *item)
{
	char *copy;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], item) == 0)
			return mr__error_set(MR_EEXIST, "conf: %s: %s is already present", field,
					     item);
	if (l->n >= max)
		return mr__error_set(MR_ETOOBIG, "conf: %s: at most %zu entries are allowed", field,
				     max);
	copy = mr__strdup(item);
	if (!copy)
		return MR_ENOMEM;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (!v) {
			free(copy);
			return mr__error_set(MR_ENOMEM, "conf: out of memory");
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = copy;
	return 0;
}

static void list_clear(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static const char *list_get(const struct strlist *l, size_t i)
{
	return i < l->n ? l->v[i] : NULL;
}

static bool has_ipv6_address(const mr_conf *conf)
{
	for (size_t i = 0; i < conf->addresses.n; i++)
		if (strchr(conf->addresses.v[i], ':'))
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */
/* Object and setters                                                        */
/* ------------------------------------------------------------------------ */

MR_API int mr_conf_new(mr_conf **out)
{
	mr_conf *conf;

	if (!out)
		return mr__error_set(MR_EINVAL, "conf: out is NULL");
	conf = calloc(1, sizeof(*conf));
	if (!conf)
		return mr__error_set(MR_ENOMEM, "conf: out of memory");
	*out = conf;
	return 0;
}

MR_API void mr_conf_free(mr_conf *conf)
{
	if (!conf)
		return;
	list_clear(&conf->addresses);
	list_clear(&conf->dns);
	list_clear(&conf->allowed_ips);
	free(conf->endpoint);
	mr__wipe(conf, sizeof(*conf));
	free(conf);
}

/*
 * Validate with the key module, then keep the text (already canonical, as
 * the decoder refuses any other spelling). The decoded bytes are only needed
 * for the checks and are wiped at once.
 */
static int set_key(const char *field, char *dst, const char *base64, bool public_key)
{
	mr_key key;
	bool zero;
	int rc;

	/* For any valid key every test in screen() comes out the same way (the
	 * base64 alphabet holds none of the refused characters, and the '=' pad
	 * sits at a fixed place), so it reveals nothing about the key. */
	rc = screen(field, base64, ALLOW_EQUALS);
	if (rc < 0)
		return rc;
	if (public_key)
		rc = mr_key_public_from_base64(&key, base64);
	else
		rc = mr_key_from_base64(&key, base64);
	if (rc < 0)
		return relabel(rc, field, "not a valid key");
	zero = mr_key_is_zero(&key);
	mr_key_wipe(&key);
	if (zero)
		return mr__error_set(MR_EINVAL, "conf: %s: the all-zero key is not allowed", field);
	memcpy(dst, base64, MR_KEY_BASE64_SIZE);
	return 0;
}

MR_API int mr_conf_set_private_key(mr_conf *conf, const char *base64)
{
	if (!conf || !base64)
		return mr__error_set(MR_EINVAL, "conf: " F_PRIVATE_KEY ": NULL argument");
	return set_key(F_PRIVATE_KEY, conf->private_key, base64, false);
}

MR_API int mr_conf_set_peer_public_key(mr_conf *conf, const char *base64)
{
	if (!conf || !base64)
		return mr__error_set(MR_EINVAL, "conf: " F_PUBLIC_KEY ": NULL argument");
	return set_key(F_PUBLIC_KEY, conf->public_key, base64, true);
}

MR_API int mr_conf_set_preshared_key(mr_conf *conf, const char *base64)
{
	if (!conf || !base64)
		return mr__error_set(MR_EINVAL, "conf: " F_PRESHARED_KEY ": NULL argument");
	return set_key(F_PRESHARED_KEY, conf->preshared_key, base64, false);
}

MR_API int mr_conf_add_address(mr_conf *conf, const char *cidr)
{
	char text[MR_CIDR_STRLEN];
	mr_prefix p;
	int rc;

	if (!conf || !cidr)
		return mr__error_set(MR_EINVAL, "conf: " F_ADDRESS ": NULL argument");
	rc = parse_cidr(F_ADDRESS, cidr, mr_cidr_parse_interface, &p);
	if (rc < 0)
		return rc;
	rc = check_unicast(F_ADDRESS, &p);
	if (rc < 0)
		return rc;
	if (p.family == MR_CIDR_INET6 && conf->mtu && conf->mtu < MR_CONF_MTU_MIN_IPV6)
		return mr__error_set(MR_EINVAL,
				     "conf: " F_ADDRESS
				     ": an IPv6 address needs an MTU of at least %d"
				     " (MTU is %u)",
				     MR_CONF_MTU_MIN_IPV6, (unsigned)conf->mtu);
	rc = mr_cidr_format(text, sizeof(text), &p);
	if (rc < 0)
		return rc;
	return list_add(&conf->addresses, MR_CONF_MAX_ADDRESSES, F_ADDRESS, text);
}

MR_API int mr_conf_add_dns(mr_conf *conf, const char *ip)
{
	char text[MR_CIDR_STRLEN];
	mr_prefix addr;
	int rc;

	if (!conf || !ip)
		return mr__error_set(MR_EINVAL, "conf: " F_DNS ": NULL argument");
	rc = screen(F_DNS, ip, 0);
	if (rc < 0)
		return rc;
	rc = mr_cidr_parse_address(&addr, ip);
	if (rc < 0) {
		/* wg-quick would take the word as a search domain: say why not. */
		if (!strchr(ip, '/') && strspn(ip, "0123456789abcdefABCDEF:.") != strlen(ip))
			return mr__error_set(
			    MR_EINVAL, "conf: " F_DNS
				       ": not an IP address (search domains are not supported)");
		return relabel(rc, F_DNS, "not a valid address");
	}
	rc = check_unicast(F_DNS, &addr);
	if (rc < 0)
		return rc;
	rc = mr_cidr_format_address(text, sizeof(text), &addr);
	if (rc < 0)
		return rc;
	return list_add(&conf->dns, MR_CONF_MAX_DNS, F_DNS, text);
}

MR_API int mr_conf_set_mtu(mr_conf *conf, uint32_t mtu)
{
	if (!conf)
		return mr__error_set(MR_EINVAL, "conf: " F_MTU ": NULL argument");
	if (mtu != 0 && (mtu < MR_CONF_MTU_MIN || mtu > MR_CONF_MTU_MAX))
		return mr__error_set(MR_EINVAL, "conf: " F_MTU ": must be 0 (unset) or %d to %d",
				     MR_CONF_MTU_MIN, MR_CONF_MTU_MAX);
	/* Linux disables IPv6 on a link below 1280, so the addresses would
	 * silently not work. */
	if (mtu != 0 && mtu < MR_CONF_MTU_MIN_IPV6 && has_ipv6_address(conf))
		return mr__error_set(MR_EINVAL,
				     "conf: " F_MTU ": must be at least %d with an IPv6 address",
				     MR_CONF_MTU_MIN_IPV6);
	conf->mtu = mtu;
	return 0;
}

MR_API int mr_conf_set_endpoint(mr_conf *conf, const char *endpoint)
{
	char text[ENDPOINT_TEXT_SIZE];
	char *copy;
	int rc;

	if (!conf || !endpoint)
		return mr__error_set(MR_EINVAL, "conf: " F_ENDPOINT ": NULL argument");
	rc = parse_endpoint(endpoint, text, sizeof(text));
	if (rc < 0)
		return rc;
	copy = mr__strdup(text);
	if (!copy)
		return MR_ENOMEM;
	free(conf->endpoint);
	conf->endpoint = copy;
	return 0;
}

MR_API int mr_conf_add_allowed_ip(mr_conf *conf, const char *cidr)
{
	char text[MR_CIDR_STRLEN];
	mr_prefix p;
	int rc;

	if (!conf || !cidr)
		return mr__error_set(MR_EINVAL, "conf: " F_ALLOWED_IPS ": NULL argument");
	rc = parse_cidr(F_ALLOWED_IPS, cidr, mr_cidr_parse_network, &p);
	if (rc < 0)
		return rc;
	rc = mr_cidr_format(text, sizeof(text), &p);
	if (rc < 0)
		return rc;
	return list_add(&conf->allowed_ips, MR_CONF_MAX_ALLOWED_IPS, F_ALLOWED_IPS, text);
}

MR_API int mr_conf_set_keepalive(mr_conf *conf, uint32_t seconds)
{
	if (!conf)
		return mr__error_set(MR_EINVAL, "conf: " F_KEEPALIVE ": NULL argument");
	if (seconds > MR_CONF_KEEPALIVE_MAX)
		return mr__error_set(MR_EINVAL, "conf: " F_KEEPALIVE ": must be 0 (off) to %d",
				     MR_CONF_KEEPALIVE_MAX);
	conf->keepalive = seconds;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Getters                                                                   */
/* ------------------------------------------------------------------------ */

static const char *key_or_null(const char *k)
{
	return k[0] ? k : NULL;
}

MR_API const char *mr_conf_get_private_key(const mr_conf *conf)
{
	return conf ? key_or_null(conf->private_key) : NULL;
}

MR_API size_t mr_conf_address_count(const mr_conf *conf)
{
	return conf ? conf->addresses.n : 0;
}

MR_API const char *mr_conf_get_address(const mr_conf *conf, size_t i)
{
	return conf ? list_get(&conf->addresses, i) : NULL;
}

MR_API size_t mr_conf_dns_count(const mr_conf *conf)
{
	return conf ? conf->dns.n : 0;
}

MR_API const char *mr_conf_get_dns(const mr_conf *conf, size_t i)
{
	return conf ? list_get(&conf->dns, i) : NULL;
}

MR_API uint32_t mr_conf_get_mtu(const mr_conf *conf)
{
	return conf ? conf->mtu : 0;
}

MR_API const char *mr_conf_get_peer_public_key(const mr_conf *conf)
{
	return conf ? key_or_null(conf->public_key) : NULL;
}

MR_API const char *mr_conf_get_preshared_key(const mr_conf *conf)
{
	return conf ? key_or_null(conf->preshared_key) : NULL;
}

MR_API const char *mr_conf_get_endpoint(const mr_conf *conf)
{
	return conf ? conf->endpoint : NULL;
}

MR_API size_t mr_conf_allowed_ip_count(const mr_conf *conf)
{
	return conf ? conf->allowed_ips.n : 0;
}

MR_API const char *mr_conf_get_allowed_ip(const mr_conf *conf, size_t i)
{
	return conf ? list_get(&conf->allowed_ips, i) : NULL;
}

MR_API uint32_t mr_conf_get_keepalive(const mr_conf *conf)
{
	return conf ? conf->keepalive : 0;
}

/* ------------------------------------------------------------------------ */
/* Render                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Output is built in two passes, first counting, then writing into one
 * allocation of the exact size: growing with realloc() would leave copies of
 * the private key in freed memory.
 */
struct out {
	char *p; /* NULL while counting */
	size_t len;
};

static void put(struct out *o, const char *s)
{
	size_t n = strlen(s);

	if (o->p)
		memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void put_line(struct out *o, const char *key, const char *value)
{
	put(o, key);
	put(o, " = ");
	put(o, value);
	put(o, "\n");
}

static void put_list(struct out *o, const char *key, const struct strlist *l)
{
	if (l->n == 0)
		return;
	put(o, key);
	put(o, " = ");
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			put(o, ", ");
		put(o, l->v[i]);
	}
	put(o, "\n");
}

static void put_uint(struct out *o, const char *key, uint32_t v)
{
	char num[16];

	snprintf(num, sizeof(num), "%u", (unsigned)v);
	put_line(o, key, num);
}

static void render_into(const mr_conf *conf, struct out *o)
{
	put(o, "[Interface]\n");
	put_line(o, F_PRIVATE_KEY, conf->private_key);
	put_list(o, F_ADDRESS, &conf->addresses);
	put_list(o, F_DNS, &conf->dns);
	if (conf->mtu)
		put_uint(o, F_MTU, conf->mtu);
	put(o, "\n[Peer]\n");
	put_line(o, F_PUBLIC_KEY, conf->public_key);
	if (conf->preshared_key[0])
		put_line(o, F_PRESHARED_KEY, conf->preshared_key);
	put_line(o, F_ENDPOINT, conf->endpoint);
	put_list(o, F_ALLOWED_IPS, &conf->allowed_ips);
	if (conf->keepalive)
		put_uint(o, F_KEEPALIVE, conf->keepalive);
}

static int check_complete(const mr_conf *conf)
{
	char missing[128] = "";
	const struct {
		bool absent;
		const char *name;
	} need[] = {
	    {!conf->private_key[0], F_PRIVATE_KEY},    {conf->addresses.n == 0, F_ADDRESS},
	    {!conf->public_key[0], F_PUBLIC_KEY},      {!conf->endpoint, F_ENDPOINT},
	    {conf->allowed_ips.n == 0, F_ALLOWED_IPS},
	};

	for (size_t i = 0; i < MR_ARRAY_SIZE(need); i++) {
		if (!need[i].absent)
			continue;
		if (missing[0])
			strcat(missing, ", ");
		strcat(missing, need[i].name);
	}
	if (missing[0])
		return mr__error_set(MR_EINVAL, "conf: incomplete configuration: missing %s",
				     missing);
	return 0;
}

/* wg silently ignores a peer whose key is the interface's own public key: a
 * tunnel that never comes up. */
static int check_not_self(const mr_conf *conf)
{
	mr_key priv, pub, peer;
	bool same;
	int rc;

	rc = mr_key_from_base64(&priv, conf->private_key);
	if (rc < 0)
		return rc;
	rc = mr_key_public_from_private(&pub, &priv);
	mr_key_wipe(&priv);
	if (rc < 0)
		return rc;
	rc = mr_key_public_from_base64(&peer, conf->public_key);
	if (rc < 0)
		return rc;
	same = mr_key_equal(&pub, &peer);
	if (same)
		return mr__error_set(MR_EINVAL,
				     "conf: " F_PUBLIC_KEY ": is the interface's own public key");
	return 0;
}

MR_API int mr_conf_render(const mr_conf *conf, char **out)
{
	struct out o = {NULL, 0};
	size_t len;
	int rc;

	if (!conf || !out)
		return mr__error_set(MR_EINVAL, "conf: render: NULL argument");
	rc = check_complete(conf);
	if (rc < 0)
		return rc;
	rc = check_not_self(conf);
	if (rc < 0)
		return rc;

	render_into(conf, &o);
	len = o.len;
	o.p = malloc(len + 1);
	if (!o.p)
		return mr__error_set(MR_ENOMEM, "conf: out of memory");
	o.len = 0;
	render_into(conf, &o);
	o.p[o.len] = '\0';
	*out = o.p;
	return 0;
}

MR_API void mr_conf_free_text(char *text)
{
	if (!text)
		return;
	mr__wipe(text, strlen(text));
	free(text);
}

/* ------------------------------------------------------------------------ */
/* Parse                                                                     */
/* ------------------------------------------------------------------------ */

enum section { SEC_NONE, SEC_INTERFACE, SEC_PEER };

enum key_kind {
	K_SINGLE,      /* once per file */
	K_LIST,	       /* comma-separated, may repeat */
	K_HOOK,	       /* wg-quick runs it as a shell command as root */
	K_WGQUICK,     /* wg-quick-only setting we do not model */
	K_UNSUPPORTED, /* a wg setting with no place in a client config */
};

struct keydef {
	const char *name;
	enum section section;
	enum key_kind kind;
	int (*set)(mr_conf *conf, const char *value);
};

static int parse_mtu_text(mr_conf *conf, const char *value)
{
	uint32_t mtu;
	int rc = screen(F_MTU, value, 0);

	if (rc < 0)
		return rc;
	if (!parse_decimal(value, strlen(value), &mtu) || mtu == 0)
		return mr__error_set(MR_EINVAL, "conf: " F_MTU ": not a number from %d to %d",
				     MR_CONF_MTU_MIN, MR_CONF_MTU_MAX);
	return mr_conf_set_mtu(conf, mtu);
}

static int parse_keepalive_text(mr_conf *conf, const char *value)
{
	uint32_t seconds;
	int rc = screen(F_KEEPALIVE, value, 0);

	if (rc < 0)
		return rc;
	/* wg itself accepts "off" for 0. */
	if (strcmp(value, "off") == 0)
		return mr_conf_set_keepalive(conf, 0);
	if (!parse_decimal(value, strlen(value), &seconds))
		return mr__error_set(MR_EINVAL,
				     "conf: " F_KEEPALIVE ": not a number from 0 to %d or \"off\"",
				     MR_CONF_KEEPALIVE_MAX);
	return mr_conf_set_keepalive(conf, seconds);
}

static const struct keydef keys[] = {
    {F_PRIVATE_KEY, SEC_INTERFACE, K_SINGLE, mr_conf_set_private_key},
    {F_ADDRESS, SEC_INTERFACE, K_LIST, mr_conf_add_address},
    {F_DNS, SEC_INTERFACE, K_LIST, mr_conf_add_dns},
    {F_MTU, SEC_INTERFACE, K_SINGLE, parse_mtu_text},
    {F_PUBLIC_KEY, SEC_PEER, K_SINGLE, mr_conf_set_peer_public_key},
    {F_PRESHARED_KEY, SEC_PEER, K_SINGLE, mr_conf_set_preshared_key},
    {F_ENDPOINT, SEC_PEER, K_SINGLE, mr_conf_set_endpoint},
    {F_ALLOWED_IPS, SEC_PEER, K_LIST, mr_conf_add_allowed_ip},
    {F_KEEPALIVE, SEC_PEER, K_SINGLE, parse_keepalive_text},
    {"PreUp", SEC_NONE, K_HOOK, NULL},
    {"PostUp", SEC_NONE, K_HOOK, NULL},
    {"PreDown", SEC_NONE, K_HOOK, NULL},
    {"PostDown", SEC_NONE, K_HOOK, NULL},
    {"Table", SEC_NONE, K_WGQUICK, NULL},
    {"SaveConfig", SEC_NONE, K_WGQUICK, NULL},
    {"ListenPort", SEC_NONE, K_UNSUPPORTED, NULL},
    {"FwMark", SEC_NONE, K_UNSUPPORTED, NULL},
};

struct parser {
	mr_conf *conf;
	unsigned line;
	enum section section;
	bool seen_interface;
	bool seen_peer;
	bool seen[MR_ARRAY_SIZE(keys)];
};

/* Re-issue the detail a setter recorded with the line number in front. */
static int at_line(int rc, unsigned line)
{
	char detail[MSG_COPY_SIZE];
	const char *d = detail;

	snprintf(detail, sizeof(detail), "%s", mr_error_message());
	if (strncmp(d, "conf: ", 6) == 0)
		d += 6;
	return mr__error_set(rc, "conf: line %u: %s", line, d);
}

/* Key text is only echoed when it cannot be a piece of a key or of some
 * other secret pasted on the wrong line. */
static bool safe_to_echo(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 24)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alpha(s[i]))
			return false;
	return true;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char *trim(char *s)
{
	size_t n;

	while (is_blank(*s))
		s++;
	n = strlen(s);
	while (n && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int parse_section(struct parser *p, char *s)
{
	size_t n = strlen(s);
	char *name;

	if (s[n - 1] != ']')
		return mr__error_set(MR_EINVAL, "conf: line %u: malformed section header", p->line);
	s[n - 1] = '\0';
	name = s + 1;
	if (strcasecmp(name, "Interface") == 0) {
		if (p->seen_interface)
			return mr__error_set(
			    MR_EINVAL, "conf: line %u: only one [Interface] is supported", p->line);
		p->seen_interface = true;
		p->section = SEC_INTERFACE;
		return 0;
	}
	if (strcasecmp(name, "Peer") == 0) {
		if (p->seen_peer)
			return mr__error_set(
			    MR_EINVAL, "conf: line %u: only one [Peer] is supported", p->line);
		p->seen_peer = true;
		p->section = SEC_PEER;
		return 0;
	}
	if (safe_to_echo(name))
		return mr__error_set(MR_EINVAL, "conf: line %u: unknown section [%s]", p->line,
				     name);
	return mr__error_set(MR_EINVAL, "conf: line %u: unknown section", p->line);
}

static int apply_list(struct parser *p, const struct keydef *k, char *value)
{
	char *item = value;

	if (!*value)
		return mr__error_set(MR_EINVAL, "conf: line %u: %s: is empty", p->line, k->name);
	for (;;) {
		char *comma = strchr(item, ',');
		char *v;
		int rc;

		if (comma)
			*comma = '\0';
		v = trim(item);
		if (!*v)
			return mr__error_set(MR_EINVAL, "conf: line %u: %s: empty list item",
					     p->line, k->name);
		rc = k->set(p->conf, v);
		if (rc < 0)
			return at_line(rc, p->line);
		if (!comma)
			return 0;
		item = comma + 1;
	}
}

static int parse_setting(struct parser *p, char *s)
{
	const struct keydef *k = NULL;
	char *eq = strchr(s, '=');
	char *name, *value;
	size_t i;
	int rc;

	if (!eq)
		return mr__error_set(MR_EINVAL, "conf: line %u: expected 'Key = value'", p->line);
	*eq = '\0';
	name = trim(s);
	value = trim(eq + 1);
	if (!*name)
		return mr__error_set(MR_EINVAL, "conf: line %u: expected 'Key = value'", p->line);
	for (i = 0; i < MR_ARRAY_SIZE(keys); i++) {
		if (strcasecmp(name, keys[i].name) == 0) {
			k = &keys[i];
			break;
		}
	}
	if (!k) {
		if (safe_to_echo(name))
			return mr__error_set(MR_EINVAL, "conf: line %u: unknown key '%s'", p->line,
					     name);
		return mr__error_set(MR_EINVAL, "conf: line %u: unknown key", p->line);
	}
	switch (k->kind) {
	case K_HOOK:
		return mr__error_set(
		    MR_EINVAL,
		    "conf: line %u: %s is refused: wg-quick runs it as a command as root", p->line,
		    k->name);
	case K_WGQUICK:
		return mr__error_set(
		    MR_EINVAL,
		    "conf: line %u: %s is refused: a wg-quick-only setting that is not supported",
		    p->line, k->name);
	case K_UNSUPPORTED:
		return mr__error_set(MR_EINVAL,
				     "conf: line %u: %s is not supported in a client configuration",
				     p->line, k->name);
	default:
		break;
	}
	if (p->section == SEC_NONE)
		return mr__error_set(MR_EINVAL, "conf: line %u: %s before any section", p->line,
				     k->name);
	if (p->section != k->section)
		return mr__error_set(MR_EINVAL, "conf: line %u: %s belongs in [%s]", p->line,
				     k->name, k->section == SEC_PEER ? "Peer" : "Interface");
	if (k->kind == K_LIST)
		return apply_list(p, k, value);
	if (p->seen[i])
		return mr__error_set(MR_EINVAL, "conf: line %u: %s given twice", p->line, k->name);
	rc = k->set(p->conf, value);
	if (rc < 0)
		return at_line(rc, p->line);
	p->seen[i] = true;
	return 0;
}

static int parse_line(struct parser *p, char *line)
{
	size_t n = strlen(line);
	char *hash, *s;

	/* CRLF files (written on Windows) are read fine by wg-quick and wg. */
	if (n && line[n - 1] == '\r')
		line[--n] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\r')
			return mr__error_set(MR_EINVAL, "conf: line %u: contains a carriage return",
					     p->line);
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return mr__error_set(
			    MR_EINVAL, "conf: line %u: contains a control character", p->line);
	}
	/* A comment runs to the end of the line, as in wg-quick; it may hold
	 * any text (a device name in UTF-8), the settings may not. */
	hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	for (s = line; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return mr__error_set(
			    MR_EINVAL, "conf: line %u: contains a non-ASCII character", p->line);
	s = trim(line);
	if (!*s)
		return 0;
	if (*s == '[')
		return parse_section(p, s);
	return parse_setting(p, s);
}

MR_API int mr_conf_parse(mr_conf **out, const char *text)
{
	struct parser p;
	char *copy = NULL, *line;
	size_t len;
	int rc;

	if (!out || !text)
		return mr__error_set(MR_EINVAL, "conf: parse: NULL argument");
	len = strnlen(text, (size_t)MR_CONF_MAX_TEXT + 1);
	if (len > MR_CONF_MAX_TEXT)
		return mr__error_set(MR_ETOOBIG, "conf: text is larger than %d bytes",
				     MR_CONF_MAX_TEXT);

	memset(&p, 0, sizeof(p));
	rc = mr_conf_new(&p.conf);
	if (rc < 0)
		return rc;
	/* A working copy we may cut up; it holds the private key, so it is
	 * wiped before release. */
	copy = malloc(len + 1);
	if (!copy) {
		rc = mr__error_set(MR_ENOMEM, "conf: out of memory");
		goto err_conf;
	}
	memcpy(copy, text, len + 1);

	line = copy;
	for (p.line = 1;; p.line++) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		rc = parse_line(&p, line);
		if (rc < 0)
			goto err_copy;
		/* A final newline ends the last line; it does not start one. */
		if (!nl || !nl[1])
			break;
		line = nl + 1;
	}
	if (!p.seen_interface) {
		rc = mr__error_set(MR_EINVAL, "conf: line %u: no [Interface] section", p.line);
		goto err_copy;
	}
	mr__wipe(copy, len);
	free(copy);
	*out = p.conf;
	return 0;

err_copy:
	mr__wipe(copy, len);
	free(copy);
err_conf:
	mr_conf_free(p.conf);
	return rc;
}

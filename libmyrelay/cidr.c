/* SPDX-License-Identifier: MIT */
/*
 * IPv4/IPv6 prefixes: parsing, formatting, set arithmetic and allocators.
 *
 * Every address is handled as an unsigned 128-bit integer (IPv4 in the low
 * 32 bits), so one code path serves both families and the subtraction and
 * allocators need no per-family special cases beyond the width.
 */
#include "internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/cidr.h>

/* GCC and clang on every platform we build for have it; __extension__ keeps
 * -pedantic quiet. */
__extension__ typedef unsigned __int128 u128;

#define U128_MAX (~(u128)0)
/* Longest valid address text: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255". */
#define ADDR_TEXT_MAX 45

/* ------------------------------------------------------------------------ */
/* Integers and prefixes                                                     */
/* ------------------------------------------------------------------------ */

static unsigned int family_width(uint8_t family)
{
	return family == MR_CIDR_INET ? 32 : 128;
}

static u128 width_max(unsigned int width)
{
	return width == 128 ? U128_MAX : (((u128)1 << width) - 1);
}

/* Shift that yields 0 for counts >= 128 instead of undefined behaviour. */
static u128 shl(u128 v, unsigned int n)
{
	return n >= 128 ? 0 : v << n;
}

/* The host part of a prefix of length len in a width-bit family. */
static u128 host_mask(unsigned int width, unsigned int len)
{
	return len >= width ? 0 : width_max(width) >> len;
}

static unsigned int ctz128(u128 v)
{
	uint64_t lo = (uint64_t)v, hi = (uint64_t)(v >> 64);
	if (lo)
		return (unsigned int)__builtin_ctzll(lo);
	if (hi)
		return 64 + (unsigned int)__builtin_ctzll(hi);
	return 128;
}

/* floor(log2(v)) for v > 0 */
static unsigned int log2_128(u128 v)
{
	uint64_t hi = (uint64_t)(v >> 64);
	if (hi)
		return 127 - (unsigned int)__builtin_clzll(hi);
	return 63 - (unsigned int)__builtin_clzll((uint64_t)v);
}

static bool prefix_valid(const mr_prefix *p)
{
	if (!p)
		return false;
	if (p->family == MR_CIDR_INET)
		return p->len <= 32;
	if (p->family == MR_CIDR_INET6)
		return p->len <= 128;
	return false;
}

static int prefix_check(const mr_prefix *p, const char *what)
{
	if (!p)
		return mr__error_set(MR_EINVAL, "%s: NULL prefix", what);
	if (p->family != MR_CIDR_INET && p->family != MR_CIDR_INET6)
		return mr__error_set(MR_EINVAL, "%s: unknown address family %u (expected 4 or 6)",
				     what, p->family);
	if (!prefix_valid(p))
		return mr__error_set(MR_EINVAL, "%s: prefix length %u out of range for IPv%u", what,
				     p->len, p->family);
	return 0;
}

static u128 prefix_value(const mr_prefix *p)
{
	unsigned int n = p->family == MR_CIDR_INET ? 4 : 16;
	u128 v = 0;
	for (unsigned int i = 0; i < n; i++)
		v = (v << 8) | p->addr[i];
	return v;
}

static void prefix_set(mr_prefix *out, uint8_t family, u128 v, unsigned int len)
{
	unsigned int n = family == MR_CIDR_INET ? 4 : 16;

	memset(out, 0, sizeof(*out));
	out->family = family;
	out->len = (uint8_t)len;
	for (unsigned int i = n; i-- > 0;) {
		out->addr[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* First and last address of the network a prefix names (host bits ignored). */
static void prefix_range(const mr_prefix *p, u128 *lo, u128 *hi)
{
	u128 hm = host_mask(family_width(p->family), p->len);
	u128 v = prefix_value(p);
	*lo = v & ~hm;
	*hi = v | hm;
}

/* ------------------------------------------------------------------------ */
/* Formatting                                                                */
/* ------------------------------------------------------------------------ */

static size_t format_addr(char *buf, uint8_t family, const uint8_t *a)
{
	uint16_t g[8];
	int best = -1, best_len = 0;
	size_t n = 0;

	if (family == MR_CIDR_INET)
		return (size_t)sprintf(buf, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
	/* RFC 5952 section 5: IPv4-mapped addresses (::ffff:0:0/96) keep their
	 * IPv4 part dotted, as glibc's inet_ntop and wg print them. */
	if (!memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12))
		return (size_t)sprintf(buf, "::ffff:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);

	for (int i = 0; i < 8; i++)
		g[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);
	/* RFC 5952 4.2: compress the longest run of at least two zero groups,
	 * the first one when runs tie; a lone zero group stays "0". */
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && g[j] == 0)
			j++;
		if (j - i > best_len && j - i >= 2) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			buf[n++] = ':';
			buf[n++] = ':';
			i += best_len - 1;
			continue;
		}
		if (n > 0 && buf[n - 1] != ':')
			buf[n++] = ':';
		n += (size_t)sprintf(buf + n, "%x", g[i]);
	}
	buf[n] = '\0';
	return n;
}

static int format_common(char *out, size_t size, const mr_prefix *p, bool with_len)
{
	char buf[64];
	size_t n;
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "format: output buffer is NULL");
	rc = prefix_check(p, "format");
	if (rc)
		return rc;
	n = format_addr(buf, p->family, p->addr);
	if (with_len)
		n += (size_t)sprintf(buf + n, "/%u", p->len);
	if (n + 1 > size)
		return mr__error_set(MR_ETOOBIG, "format: buffer of %zu bytes too small for %zu",
				     size, n + 1);
	memcpy(out, buf, n + 1);
	return 0;
}

MR_API int mr_cidr_format(char *out, size_t size, const mr_prefix *p)
{
	return format_common(out, size, p, true);
}

MR_API int mr_cidr_format_address(char *out, size_t size, const mr_prefix *p)
{
	return format_common(out, size, p, false);
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

enum parse_mode { PARSE_ADDRESS, PARSE_NETWORK, PARSE_INTERFACE, PARSE_ANY };

/* The input goes into error details, quoted and escaped: it may come from an
 * HTTP body or a command line and contain control characters. Long inputs
 * are cut so the detail stays readable. */
static void quote_n(char *buf, size_t size, const char *s, size_t len)
{
	size_t n = 0;
	const size_t limit = 64;
	size_t i;

	buf[n++] = '"';
	for (i = 0; i < len && i < limit && n + 8 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
		} else {
			buf[n++] = (char)c;
		}
	}
	if (i < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n++] = '"';
	buf[n] = '\0';
}

static void quote(char *buf, size_t size, const char *s)
{
	quote_n(buf, size, s, strlen(s));
}

static void describe_char(char *buf, size_t size, char c)
{
	unsigned char u = (unsigned char)c;
	if (u > 0x20 && u < 0x7f && c != '\'')
		snprintf(buf, size, "'%c'", c);
	else
		snprintf(buf, size, "byte 0x%02x", u);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Strict dotted quad in s[0..n): exactly 4 decimal octets of 1-3 digits, no
 * leading zeros (as inet_aton's octal reading of "010" is a classic trap, and
 * Python >= 3.9.5 refuses them too), each <= 255. */
static bool parse_ipv4(const char *s, size_t n, uint8_t out[4], char *why, size_t wsize)
{
	size_t i = 0;
	int octets = 0;

	for (;;) {
		size_t start = i;
		unsigned int v = 0;
		char c[16];

		while (i < n && is_digit(s[i])) {
			if (v < 1000)
				v = v * 10 + (unsigned int)(s[i] - '0');
			i++;
		}
		if (i == start) {
			if (i == n || s[i] == '.') {
				snprintf(why, wsize, "empty IPv4 octet");
			} else {
				describe_char(c, sizeof(c), s[i]);
				snprintf(why, wsize, "unexpected character %s in IPv4 address", c);
			}
			return false;
		}
		if (octets == 4) {
			snprintf(why, wsize, "more than 4 IPv4 octets");
			return false;
		}
		if (i - start > 1 && s[start] == '0') {
			snprintf(why, wsize, "IPv4 octet \"%.*s\" has a leading zero",
				 (int)(i - start), s + start);
			return false;
		}
		if (i - start > 3 || v > 255) {
			snprintf(why, wsize, "IPv4 octet \"%.*s\" is larger than 255",
				 (int)(i - start), s + start);
			return false;
		}
		out[octets++] = (uint8_t)v;
		if (i == n)
			break;
		if (s[i] != '.') {
			describe_char(c, sizeof(c), s[i]);
			snprintf(why, wsize, "unexpected character %s in IPv4 address", c);
			return false;
		}
		i++;
	}
	if (octets != 4) {
		snprintf(why, wsize, "IPv4 address needs 4 octets, got %d", octets);
		return false;
	}
	return true;
}

struct part {
	size_t off, len;
};

/* RFC 4291 section 2.2 text forms, following the structure of Python's
 * ipaddress parser so that both accept exactly the same strings: 8 groups of
 * 1-4 hex digits; one "::" standing for one or more zero groups; optionally
 * a dotted IPv4 address as the last 32 bits. */
static bool parse_ipv6(const char *s, size_t n, uint8_t out[16], char *why, size_t wsize)
{
	struct part parts[11];
	uint16_t val[11];
	size_t np = 0, start = 0, skip = 0;
	bool has_skip = false, v4_tail = false;
	size_t hi, lo, skipped;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != ':')
			continue;
		if (np == 9) {
			snprintf(why, wsize, "too many ':' in IPv6 address (at most 8 groups)");
			return false;
		}
		parts[np].off = start;
		parts[np].len = i - start;
		np++;
		start = i + 1;
	}
	if (np < 3) {
		snprintf(why, wsize, "IPv6 address needs 8 groups");
		return false;
	}
	if (memchr(s + parts[np - 1].off, '.', parts[np - 1].len)) {
		uint8_t v4[4];
		char sub[96];
		if (!parse_ipv4(s + parts[np - 1].off, parts[np - 1].len, v4, sub, sizeof(sub))) {
			char q[128];
			quote_n(q, sizeof(q), s + parts[np - 1].off, parts[np - 1].len);
			snprintf(why, wsize, "embedded IPv4 part %s: %s", q, sub);
			return false;
		}
		val[np - 1] = (uint16_t)(v4[0] << 8 | v4[1]);
		val[np] = (uint16_t)(v4[2] << 8 | v4[3]);
		parts[np].off = parts[np - 1].off;
		parts[np].len = 1; /* non-empty marker; value already set */
		np++;
		v4_tail = true;
		if (np > 9) {
			snprintf(why, wsize, "too many groups before the embedded IPv4 part");
			return false;
		}
	}
	/* Groups: empty ones only make sense as part of "::". */
	for (size_t k = 0; k < np - (v4_tail ? 2 : 0); k++) {
		const char *g = s + parts[k].off;
		unsigned int v = 0;
		char c[16] = "", q[128];

		if (parts[k].len > 4) {
			for (size_t j = 0; j < parts[k].len; j++)
				if (hex_value(g[j]) < 0)
					goto bad_char;
			snprintf(why, wsize, "IPv6 group \"%.*s\" has more than 4 hex digits",
				 (int)parts[k].len, g);
			return false;
		}
		for (size_t j = 0; j < parts[k].len; j++) {
			int h = hex_value(g[j]);
			if (h < 0)
				goto bad_char;
			v = v << 4 | (unsigned int)h;
		}
		val[k] = (uint16_t)v;
		continue;
	bad_char:
		for (size_t j = 0; j < parts[k].len; j++) {
			if (hex_value(g[j]) < 0) {
				describe_char(c, sizeof(c), g[j]);
				break;
			}
		}
		quote_n(q, sizeof(q), g, parts[k].len);
		snprintf(why, wsize, "unexpected character %s in IPv6 group %s", c, q);
		return false;
	}
	for (size_t k = 1; k + 1 < np; k++) {
		if (parts[k].len != 0)
			continue;
		if (has_skip) {
			snprintf(why, wsize, "more than one \"::\" in IPv6 address");
			return false;
		}
		has_skip = true;
		skip = k;
	}
	if (has_skip) {
		hi = skip;
		lo = np - skip - 1;
		if (parts[0].len == 0 && --hi != 0) {
			snprintf(why, wsize, "IPv6 address starts with a single ':'");
			return false;
		}
		if (parts[np - 1].len == 0 && --lo != 0) {
			snprintf(why, wsize, "IPv6 address ends with a single ':'");
			return false;
		}
		if (hi + lo >= 8) {
			snprintf(why, wsize, "\"::\" in an IPv6 address that already has 8 groups");
			return false;
		}
		skipped = 8 - (hi + lo);
	} else {
		if (np != 8) {
			snprintf(why, wsize, "IPv6 address needs 8 groups, got %zu (and no \"::\")",
				 np);
			return false;
		}
		if (parts[0].len == 0) {
			snprintf(why, wsize, "IPv6 address starts with a single ':'");
			return false;
		}
		if (parts[np - 1].len == 0) {
			snprintf(why, wsize, "IPv6 address ends with a single ':'");
			return false;
		}
		hi = np;
		lo = 0;
		skipped = 0;
	}
	{
		uint16_t groups[8];
		size_t gi = 0;
		size_t first = (has_skip && parts[0].len == 0) ? 1 : 0;
		for (size_t k = first; k < first + hi; k++)
			groups[gi++] = val[k];
		for (size_t k = 0; k < skipped; k++)
			groups[gi++] = 0;
		for (size_t k = np - lo - ((has_skip && parts[np - 1].len == 0) ? 1 : 0); gi < 8;
		     k++)
			groups[gi++] = val[k];
		for (size_t k = 0; k < 8; k++) {
			out[2 * k] = (uint8_t)(groups[k] >> 8);
			out[2 * k + 1] = (uint8_t)groups[k];
		}
	}
	return true;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int parse_common(mr_prefix *out, const char *text, enum parse_mode mode)
{
	const char *what = mode == PARSE_ADDRESS ? "address" : "prefix";
	char q[128], why[256];
	const char *slash, *pct;
	size_t n, alen;
	uint8_t addr[16] = {0};
	uint8_t family;
	unsigned int width, len;
	mr_prefix p;

	if (!out || !text)
		return mr__error_set(MR_EINVAL, "%s: NULL argument", what);
	n = strlen(text);
	quote(q, sizeof(q), text);
	if (n == 0)
		return mr__error_set(MR_EINVAL, "%s \"\": empty", what);
	if (is_space(text[0]))
		return mr__error_set(MR_EINVAL, "%s %s: leading whitespace", what, q);
	if (is_space(text[n - 1]))
		return mr__error_set(MR_EINVAL, "%s %s: trailing whitespace", what, q);
	slash = strchr(text, '/');
	if (mode == PARSE_ADDRESS && slash)
		return mr__error_set(
		    MR_EINVAL, "%s %s: expected a bare address, without \"/length\"", what, q);
	if ((mode == PARSE_NETWORK || mode == PARSE_INTERFACE) && !slash)
		return mr__error_set(MR_EINVAL, "%s %s: missing prefix length (\"/N\")", what, q);
	alen = slash ? (size_t)(slash - text) : n;
	pct = memchr(text, '%', alen);
	if (pct)
		return mr__error_set(MR_EINVAL, "%s %s: IPv6 zone ids (\"%%...\") are not accepted",
				     what, q);
	if (alen == 0)
		return mr__error_set(MR_EINVAL, "%s %s: empty address", what, q);
	if (alen > ADDR_TEXT_MAX)
		return mr__error_set(MR_EINVAL, "%s %s: address too long (at most %d characters)",
				     what, q, ADDR_TEXT_MAX);
	if (memchr(text, ':', alen)) {
		family = MR_CIDR_INET6;
		if (!parse_ipv6(text, alen, addr, why, sizeof(why)))
			return mr__error_set(MR_EINVAL, "%s %s: %s", what, q, why);
	} else if (memchr(text, '.', alen) || is_digit(text[0])) {
		family = MR_CIDR_INET;
		if (!parse_ipv4(text, alen, addr, why, sizeof(why)))
			return mr__error_set(MR_EINVAL, "%s %s: %s", what, q, why);
	} else {
		return mr__error_set(MR_EINVAL, "%s %s: not an IPv4 or IPv6 address", what, q);
	}
	width = family_width(family);
	len = width;
	if (slash) {
		const char *l = slash + 1;
		size_t ln = strlen(l);

		if (ln == 0)
			return mr__error_set(MR_EINVAL, "%s %s: empty prefix length", what, q);
		for (size_t i = 0; i < ln; i++) {
			if (!is_digit(l[i])) {
				if (l[i] == '/')
					return mr__error_set(MR_EINVAL, "%s %s: more than one '/'",
							     what, q);
				return mr__error_set(
				    MR_EINVAL, "%s %s: prefix length must be a decimal number",
				    what, q);
			}
		}
		if (ln > 1 && l[0] == '0')
			return mr__error_set(MR_EINVAL, "%s %s: prefix length has a leading zero",
					     what, q);
		len = 0;
		for (size_t i = 0; i < ln && len <= width; i++)
			len = len * 10 + (unsigned int)(l[i] - '0');
		if (ln > 3 || len > width)
			return mr__error_set(MR_EINVAL,
					     "%s %s: prefix length out of range for IPv%u (0-%u)",
					     what, q, family, width);
	}
	memset(&p, 0, sizeof(p));
	p.family = family;
	p.len = (uint8_t)len;
	memcpy(p.addr, addr, family == MR_CIDR_INET ? 4 : 16);
	if (slash && (mode == PARSE_NETWORK || mode == PARSE_ANY) &&
	    (prefix_value(&p) & host_mask(width, len))) {
		mr_prefix net;
		char nbuf[MR_CIDR_STRLEN];

		prefix_set(&net, family, prefix_value(&p) & ~host_mask(width, len), len);
		format_addr(nbuf, family, net.addr);
		return mr__error_set(MR_EINVAL, "%s %s: host bits set (network is %s/%u)", what, q,
				     nbuf, len);
	}
	*out = p;
	return 0;
}

MR_API int mr_cidr_parse_network(mr_prefix *out, const char *text)
{
	return parse_common(out, text, PARSE_NETWORK);
}

MR_API int mr_cidr_parse_interface(mr_prefix *out, const char *text)
{
	return parse_common(out, text, PARSE_INTERFACE);
}

MR_API int mr_cidr_parse_address(mr_prefix *out, const char *text)
{
	return parse_common(out, text, PARSE_ADDRESS);
}

MR_API int mr_cidr_parse(mr_prefix *out, const char *text)
{
	return parse_common(out, text, PARSE_ANY);
}

/* ------------------------------------------------------------------------ */
/* Relations                                                                 */
/* ------------------------------------------------------------------------ */

MR_API bool mr_cidr_contains(const mr_prefix *outer, const mr_prefix *inner)
{
	u128 olo, ohi, ilo, ihi;

	if (!prefix_valid(outer) || !prefix_valid(inner) || outer->family != inner->family)
		return false;
	prefix_range(outer, &olo, &ohi);
	prefix_range(inner, &ilo, &ihi);
	return olo <= ilo && ihi <= ohi;
}

MR_API bool mr_cidr_overlaps(const mr_prefix *a, const mr_prefix *b)
{
	u128 alo, ahi, blo, bhi;

	if (!prefix_valid(a) || !prefix_valid(b) || a->family != b->family)
		return false;
	prefix_range(a, &alo, &ahi);
	prefix_range(b, &blo, &bhi);
	return alo <= bhi && blo <= ahi;
}

MR_API int mr_cidr_network(mr_prefix *out, const mr_prefix *p)
{
	int rc;
	u128 lo, hi;

	if (!out)
		return mr__error_set(MR_EINVAL, "network: output is NULL");
	rc = prefix_check(p, "network");
	if (rc)
		return rc;
	prefix_range(p, &lo, &hi);
	prefix_set(out, p->family, lo, p->len);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Subtraction                                                               */
/* ------------------------------------------------------------------------ */

struct interval {
	u128 lo, hi;
};

struct pvec {
	mr_prefix *v;
	size_t n, cap;
};

static int pvec_push(struct pvec *pv, uint8_t family, u128 v, unsigned int len)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 64;
		mr_prefix *nv = realloc(pv->v, cap * sizeof(*nv));
		if (!nv)
			return mr__error_set(MR_ENOMEM, "subtract: out of memory");
		pv->v = nv;
		pv->cap = cap;
	}
	prefix_set(&pv->v[pv->n++], family, v, len);
	return 0;
}

static int interval_cmp(const void *a, const void *b)
{
	const struct interval *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

/* Sort and merge overlapping or touching intervals in place; returns the new
 * count. Touching ones must merge too, otherwise the range-to-prefix step
 * could leave two sibling prefixes that belong together. */
static size_t merge_intervals(struct interval *iv, size_t n)
{
	size_t m = 0;

	if (n == 0)
		return 0;
	qsort(iv, n, sizeof(*iv), interval_cmp);
	for (size_t i = 1; i < n; i++) {
		if (iv[m].hi == U128_MAX || iv[i].lo <= iv[m].hi + 1) {
			if (iv[i].hi > iv[m].hi)
				iv[m].hi = iv[i].hi;
		} else {
			iv[++m] = iv[i];
		}
	}
	return m + 1;
}

/* The unique minimal prefix cover of [lo, hi]: at each step the largest
 * block that is aligned at lo and does not pass hi. */
static int emit_range(struct pvec *pv, uint8_t family, u128 lo, u128 hi)
{
	unsigned int width = family_width(family);
	u128 wmax = width_max(width);

	for (;;) {
		u128 span = hi - lo, block;
		unsigned int k, tz;
		int rc;

		if (span == wmax) {
			k = width;
		} else {
			k = log2_128(span + 1);
			tz = lo == 0 ? width : ctz128(lo);
			if (tz < k)
				k = tz;
		}
		rc = pvec_push(pv, family, lo, width - k);
		if (rc)
			return rc;
		block = k >= 128 ? U128_MAX : (((u128)1 << k) - 1);
		if (span == block)
			return 0;
		lo += block + 1;
	}
}

static int collect(struct interval *iv, size_t *n, const mr_prefix *list, size_t count,
		   uint8_t family, const char *what)
{
	size_t m = 0;
	for (size_t i = 0; i < count; i++) {
		const mr_prefix *p = &list[i];
		char name[32];
		int rc;

		snprintf(name, sizeof(name), "%s[%zu]", what, i);
		rc = prefix_check(p, name);
		if (rc)
			return rc;
		if (p->family != family)
			continue;
		prefix_range(p, &iv[m].lo, &iv[m].hi);
		if (prefix_value(p) != iv[m].lo) {
			char buf[MR_CIDR_STRLEN];
			mr_cidr_format(buf, sizeof(buf), p);
			return mr__error_set(MR_EINVAL, "%s: host bits set in %s", name, buf);
		}
		m++;
	}
	*n = m;
	return 0;
}

static int subtract_family(struct pvec *pv, uint8_t family, struct interval *inc,
			   struct interval *exc, const mr_prefix *include, size_t n_include,
			   const mr_prefix *exclude, size_t n_exclude)
{
	size_t ni, ne, j = 0;
	int rc;

	rc = collect(inc, &ni, include, n_include, family, "include");
	if (rc)
		return rc;
	rc = collect(exc, &ne, exclude, n_exclude, family, "exclude");
	if (rc)
		return rc;
	ni = merge_intervals(inc, ni);
	ne = merge_intervals(exc, ne);

	for (size_t i = 0; i < ni; i++) {
		u128 cur = inc[i].lo, end = inc[i].hi;
		bool done = false;

		while (j < ne && exc[j].hi < cur)
			j++;
		/* An exclude that reaches past this include stays current for the
		 * next include, hence no j++ when it ends the include. */
		while (j < ne && exc[j].lo <= end) {
			if (exc[j].lo > cur) {
				rc = emit_range(pv, family, cur, exc[j].lo - 1);
				if (rc)
					return rc;
			}
			if (exc[j].hi >= end) {
				done = true;
				break;
			}
			cur = exc[j].hi + 1;
			j++;
		}
		if (!done) {
			rc = emit_range(pv, family, cur, end);
			if (rc)
				return rc;
		}
	}
	return 0;
}

MR_API int mr_cidr_subtract(mr_prefix **out, size_t *out_count, const mr_prefix *include,
			    size_t n_include, const mr_prefix *exclude, size_t n_exclude)
{
	struct pvec pv = {NULL, 0, 0};
	struct interval *inc = NULL, *exc = NULL;
	int rc;

	if (!out || !out_count)
		return mr__error_set(MR_EINVAL, "subtract: NULL output");
	if ((n_include && !include) || (n_exclude && !exclude))
		return mr__error_set(MR_EINVAL, "subtract: NULL list with a non-zero count");
	if (n_include > SIZE_MAX / sizeof(*inc) || n_exclude > SIZE_MAX / sizeof(*exc))
		return mr__error_set(MR_ENOMEM, "subtract: too many prefixes");

	inc = malloc((n_include ? n_include : 1) * sizeof(*inc));
	exc = malloc((n_exclude ? n_exclude : 1) * sizeof(*exc));
	if (!inc || !exc) {
		rc = mr__error_set(MR_ENOMEM, "subtract: out of memory");
		goto err_free;
	}
	rc = subtract_family(&pv, MR_CIDR_INET, inc, exc, include, n_include, exclude, n_exclude);
	if (rc)
		goto err_free;
	rc = subtract_family(&pv, MR_CIDR_INET6, inc, exc, include, n_include, exclude, n_exclude);
	if (rc)
		goto err_free;

	free(exc);
	free(inc);
	if (pv.n == 0) {
		free(pv.v);
		pv.v = NULL;
	}
	*out = pv.v;
	*out_count = pv.n;
	return 0;

err_free:
	free(pv.v);
	free(exc);
	free(inc);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Offset allocator shared by the subnet pool and the host allocator          */
/* ------------------------------------------------------------------------ */

/*
 * Offsets first..last (inclusive) are handed out lowest-free-first without
 * ever holding state proportional to the range:
 *   - cursor: every offset >= cursor was never handed out, except those in
 *     `marked` (mark_used() ahead of the cursor), which alloc skips and
 *     forgets as the cursor passes them;
 *   - below the cursor an offset is in use unless it is in `freed`;
 *   - `heap` orders the freed offsets so the lowest is reused first. It may
 *     hold stale entries (an offset marked used again after its release);
 *     `freed` is the truth and pop skips them.
 * alloc is amortised O(1) from the cursor and O(log r) from the heap; mark
 * and release are O(1) expected (hash sets) or O(log r). Memory is
 * O(marked + freed).
 */

struct u128set {
	u128 *keys;
	uint8_t *used;
	size_t cap, count; /* cap is 0 or a power of two */
};

static size_t hash128(u128 v)
{
	uint64_t x = (uint64_t)v ^ ((uint64_t)(v >> 64) * 0x9e3779b97f4a7c15ULL);
	/* splitmix64 finaliser: offsets are often consecutive. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)x;
}

static void set_free(struct u128set *s)
{
	free(s->keys);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

static bool set_find(const struct u128set *s, u128 key, size_t *slot)
{
	size_t mask, i;

	if (s->cap == 0)
		return false;
	mask = s->cap - 1;
	for (i = hash128(key) & mask; s->used[i]; i = (i + 1) & mask) {
		if (s->keys[i] == key) {
			*slot = i;
			return true;
		}
	}
	*slot = i;
	return false;
}

static bool set_contains(const struct u128set *s, u128 key)
{
	size_t slot;
	return set_find(s, key, &slot);
}

static int set_grow(struct u128set *s)
{
	struct u128set n;
	size_t cap = s->cap ? s->cap * 2 : 16;

	n.keys = malloc(cap * sizeof(*n.keys));
	n.used = calloc(cap, 1);
	if (!n.keys || !n.used) {
		free(n.keys);
		free(n.used);
		return mr__error_set(MR_ENOMEM, "allocator: out of memory");
	}
	n.cap = cap;
	n.count = 0;
	for (size_t i = 0; i < s->cap; i++) {
		size_t slot;
		if (!s->used[i])
			continue;
		set_find(&n, s->keys[i], &slot);
		n.used[slot] = 1;
		n.keys[slot] = s->keys[i];
		n.count++;
	}
	set_free(s);
	*s = n;
	return 0;
}

/* Caller has checked that key is absent. */
static int set_add(struct u128set *s, u128 key)
{
	size_t slot;
	int rc;

	if ((s->count + 1) * 4 > s->cap * 3) {
		rc = set_grow(s);
		if (rc)
			return rc;
	}
	set_find(s, key, &slot);
	s->used[slot] = 1;
	s->keys[slot] = key;
	s->count++;
	return 0;
}

/* Linear probing with backward-shift deletion: no tombstones, so lookups stay
 * short however many add/remove cycles a long-lived pool goes through. */
static bool set_remove(struct u128set *s, u128 key)
{
	size_t mask, i, j;

	if (!set_find(s, key, &i))
		return false;
	mask = s->cap - 1;
	j = i;
	for (;;) {
		size_t home;
		j = (j + 1) & mask;
		if (!s->used[j])
			break;
		home = hash128(s->keys[j]) & mask;
		/* Move j back into the hole at i unless its home lies cyclically
		 * in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			s->keys[i] = s->keys[j];
			i = j;
		}
	}
	s->used[i] = 0;
	s->count--;
	return true;
}

struct u128heap {
	u128 *v;
	size_t n, cap;
};

static int heap_push(struct u128heap *h, u128 x)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		u128 *nv = realloc(h->v, cap * sizeof(*nv));
		if (!nv)
			return mr__error_set(MR_ENOMEM, "allocator: out of memory");
		h->v = nv;
		h->cap = cap;
	}
	i = h->n++;
	while (i > 0 && h->v[(i - 1) / 2] > x) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = x;
	return 0;
}

static void heap_sift_down(struct u128heap *h, size_t i)
{
	u128 x = h->v[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1] < h->v[c])
			c++;
		if (h->v[c] >= x)
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	h->v[i] = x;
}

static u128 heap_pop(struct u128heap *h)
{
	u128 top = h->v[0];
	h->v[0] = h->v[--h->n];
	if (h->n)
		heap_sift_down(h, 0);
	return top;
}

struct offset_alloc {
	u128 first, last;
	u128 cursor;
	bool cursor_end; /* cursor has passed last */
	u128 in_use;
	struct u128set marked, freed;
	struct u128heap heap;
};

static void oa_init(struct offset_alloc *a, u128 first, u128 last)
{
	memset(a, 0, sizeof(*a));
	a->first = first;
	a->last = last;
	a->cursor = first;
}

static void oa_free(struct offset_alloc *a)
{
	set_free(&a->marked);
	set_free(&a->freed);
	free(a->heap.v);
}

static bool oa_below_cursor(const struct offset_alloc *a, u128 off)
{
	return a->cursor_end || off < a->cursor;
}

/* Stale heap entries are dropped once they outnumber the live ones, so the
 * heap stays O(freed) even under endless mark/release cycles. */
static void oa_compact(struct offset_alloc *a)
{
	size_t n = 0;

	if (a->heap.n <= 2 * a->freed.count + 64)
		return;
	for (size_t i = 0; i < a->freed.cap; i++)
		if (a->freed.used[i])
			a->heap.v[n++] = a->freed.keys[i];
	a->heap.n = n;
	for (size_t i = n / 2; i-- > 0;)
		heap_sift_down(&a->heap, i);
}

static int oa_alloc(struct offset_alloc *a, u128 *out)
{
	while (a->heap.n) {
		u128 m = heap_pop(&a->heap);
		if (set_remove(&a->freed, m)) {
			a->in_use++;
			*out = m;
			return 0;
		}
	}
	while (!a->cursor_end) {
		u128 c = a->cursor;
		if (c == a->last)
			a->cursor_end = true;
		else
			a->cursor++;
		if (set_remove(&a->marked, c))
			continue;
		a->in_use++;
		*out = c;
		return 0;
	}
	return MR_EEXHAUSTED;
}

/* 0, MR_EEXIST or MR_ENOMEM (recorded). */
static int oa_mark(struct offset_alloc *a, u128 off)
{
	int rc;

	if (oa_below_cursor(a, off)) {
		if (!set_remove(&a->freed, off))
			return MR_EEXIST;
		oa_compact(a);
	} else {
		if (set_contains(&a->marked, off))
			return MR_EEXIST;
		rc = set_add(&a->marked, off);
		if (rc)
			return rc;
	}
	a->in_use++;
	return 0;
}

/* 0, MR_ENOTFOUND or MR_ENOMEM (recorded). */
static int oa_release(struct offset_alloc *a, u128 off)
{
	int rc;

	if (oa_below_cursor(a, off)) {
		if (set_contains(&a->freed, off))
			return MR_ENOTFOUND;
		/* Grow the heap first so a failure leaves the state unchanged. */
		rc = heap_push(&a->heap, off);
		if (rc)
			return rc;
		rc = set_add(&a->freed, off);
		if (rc) {
			/* The pushed entry is stale without a set entry; pop skips it. */
			return rc;
		}
	} else {
		if (!set_remove(&a->marked, off))
			return MR_ENOTFOUND;
	}
	a->in_use--;
	return 0;
}

static uint64_t oa_count_free(const struct offset_alloc *a)
{
	u128 span = a->last - a->first; /* number of offsets minus one */
	u128 v;

	if (a->in_use > span)
		return 0;
	v = span - a->in_use;
	return v >= UINT64_MAX ? UINT64_MAX : (uint64_t)(v + 1);
}

/* ------------------------------------------------------------------------ */
/* Prefix allocators: the subnet pool and the host allocator                 */
/* ------------------------------------------------------------------------ */

/*
 * Both public allocators are one offset allocator seen through a prefix:
 * offset k stands for the k-th prefix of length unit_len inside net (a pod
 * subnet of a pool, or a host address of a pod subnet). What differs is only
 * which offsets exist (hosts reserve the network address, the gateway and the
 * IPv4 broadcast address) and the nouns in error details.
 */
struct prefix_alloc {
	mr_prefix net;	       /* the pool, or the pod subnet; network form */
	unsigned int unit_len; /* length of each prefix handed out */
	bool hosts;	       /* host addresses rather than subnets */
	struct offset_alloc oa;
};

struct mr_cidr_pool {
	struct prefix_alloc pa;
};

struct mr_cidr_hosts {
	struct prefix_alloc pa;
};

static void format_or_placeholder(char *buf, const mr_prefix *p)
{
	if (mr_cidr_format(buf, MR_CIDR_STRLEN, p) != 0)
		strcpy(buf, "(invalid)");
}

/* What one handed-out prefix is called, and what it lies in. */
static const char *pa_unit(const struct prefix_alloc *pa)
{
	return pa->hosts ? "host address" : "subnet";
}

static const char *pa_container(const struct prefix_alloc *pa)
{
	return pa->hosts ? "subnet" : "pool";
}

/* The network an allocator is created over: a valid prefix without host
 * bits. buf receives its text for the caller's own details. */
static int check_network(const mr_prefix *p, const char *what, const char *noun,
			 char buf[MR_CIDR_STRLEN])
{
	int rc;

	rc = prefix_check(p, what);
	if (rc)
		return rc;
	mr_cidr_format(buf, MR_CIDR_STRLEN, p);
	if (prefix_value(p) & host_mask(family_width(p->family), p->len))
		return mr__error_set(MR_EINVAL, "%s %s: host bits set", noun, buf);
	return 0;
}

static void pa_init(struct prefix_alloc *pa, const mr_prefix *net, unsigned int unit_len,
		    bool hosts, u128 first, u128 last)
{
	prefix_set(&pa->net, net->family, prefix_value(net), net->len);
	pa->unit_len = unit_len;
	pa->hosts = hosts;
	oa_init(&pa->oa, first, last);
}

static unsigned int pa_shift(const struct prefix_alloc *pa)
{
	return family_width(pa->net.family) - pa->unit_len;
}

/*
 * The pa_* entry points take the public handle's name for the NULL-argument
 * detail, since a NULL handle has no prefix_alloc to ask.
 */
static int pa_alloc(struct prefix_alloc *pa, const char *name, mr_prefix *out)
{
	char buf[MR_CIDR_STRLEN];
	u128 off;

	if (!pa || !out)
		return mr__error_set(MR_EINVAL, "%s: NULL argument", name);
	if (oa_alloc(&pa->oa, &off) != 0) {
		format_or_placeholder(buf, &pa->net);
		if (pa->hosts)
			return mr__error_set(MR_EEXHAUSTED, "subnet %s: no free host address left",
					     buf);
		return mr__error_set(MR_EEXHAUSTED, "subnet pool %s: no free /%u subnet left", buf,
				     pa->unit_len);
	}
	prefix_set(out, pa->net.family, prefix_value(&pa->net) + shl(off, pa_shift(pa)),
		   pa->unit_len);
	return 0;
}

/* The offset of a prefix given back or marked, or MR_EINVAL with a detail. */
static int pa_offset(const struct prefix_alloc *pa, const mr_prefix *p, u128 *off)
{
	char nbuf[MR_CIDR_STRLEN], pbuf[MR_CIDR_STRLEN];
	const char *unit = pa_unit(pa), *in = pa_container(pa);
	unsigned int shift = pa_shift(pa);
	u128 o;
	int rc;

	rc = prefix_check(p, unit);
	if (rc)
		return rc;
	format_or_placeholder(nbuf, &pa->net);
	format_or_placeholder(pbuf, p);
	if (p->family != pa->net.family)
		return mr__error_set(MR_EINVAL, "%s %s: not of the family of %s %s", unit, pbuf, in,
				     nbuf);
	if (p->len != pa->unit_len && pa->hosts)
		return mr__error_set(MR_EINVAL, "%s %s: expected a /%u", unit, pbuf, pa->unit_len);
	if (p->len != pa->unit_len)
		return mr__error_set(MR_EINVAL, "%s %s: %s %s hands out /%u subnets", unit, pbuf,
				     in, nbuf, pa->unit_len);
	if (prefix_value(p) & host_mask(family_width(p->family), p->len))
		return mr__error_set(MR_EINVAL, "%s %s: host bits set", unit, pbuf);
	if (!mr_cidr_contains(&pa->net, p))
		return mr__error_set(MR_EINVAL, "%s %s: outside %s %s", unit, pbuf, in, nbuf);
	o = shift >= 128 ? 0 : (prefix_value(p) - prefix_value(&pa->net)) >> shift;
	/* Only hosts have offsets outside [first, last]: 0 and 1 below, the
	 * IPv4 broadcast address above. */
	if (o < pa->oa.first || o > pa->oa.last)
		return mr__error_set(MR_EINVAL, "%s %s: is the %s of %s", unit, pbuf,
				     o == 0   ? "network address"
				     : o == 1 ? "gateway"
					      : "broadcast address",
				     nbuf);
	*off = o;
	return 0;
}

/* Mark p used (used) or give it back (!used). */
static int pa_update(struct prefix_alloc *pa, const char *name, const mr_prefix *p, bool used)
{
	char buf[MR_CIDR_STRLEN];
	u128 off = 0; /* set by pa_offset(); the initialiser quiets -Wmaybe-uninitialized */
	int rc;

	if (!pa)
		return mr__error_set(MR_EINVAL, "%s: NULL argument", name);
	rc = pa_offset(pa, p, &off);
	if (rc)
		return rc;
	rc = used ? oa_mark(&pa->oa, off) : oa_release(&pa->oa, off);
	if (rc == MR_EEXIST || rc == MR_ENOTFOUND) {
		format_or_placeholder(buf, p);
		return mr__error_set(rc, "%s %s: %s", pa_unit(pa), buf,
				     used ? "already in use" : "not in use");
	}
	return rc;
}

static int pa_count_free(const struct prefix_alloc *pa, const char *name, uint64_t *out)
{
	if (!pa || !out)
		return mr__error_set(MR_EINVAL, "%s: NULL argument", name);
	*out = oa_count_free(&pa->oa);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Subnet pool                                                               */
/* ------------------------------------------------------------------------ */

MR_API int mr_cidr_pool_new(mr_cidr_pool **out, const mr_prefix *pool, unsigned int subnet_len)
{
	mr_cidr_pool *cp;
	char buf[MR_CIDR_STRLEN];
	unsigned int width;
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "subnet pool: output is NULL");
	rc = check_network(pool, "subnet pool", "subnet pool", buf);
	if (rc)
		return rc;
	width = family_width(pool->family);
	if (subnet_len < pool->len || subnet_len > width)
		return mr__error_set(
		    MR_EINVAL, "subnet pool %s: subnet length /%u must be between /%u and /%u", buf,
		    subnet_len, pool->len, width);
	cp = calloc(1, sizeof(*cp));
	if (!cp)
		return mr__error_set(MR_ENOMEM, "subnet pool: out of memory");
	pa_init(&cp->pa, pool, subnet_len, false, 0, width_max(subnet_len - pool->len));
	*out = cp;
	return 0;
}

MR_API void mr_cidr_pool_free(mr_cidr_pool *pool)
{
	if (!pool)
		return;
	oa_free(&pool->pa.oa);
	free(pool);
}

MR_API int mr_cidr_pool_alloc(mr_cidr_pool *pool, mr_prefix *out)
{
	return pa_alloc(pool ? &pool->pa : NULL, "subnet pool", out);
}

MR_API int mr_cidr_pool_mark_used(mr_cidr_pool *pool, const mr_prefix *subnet)
{
	return pa_update(pool ? &pool->pa : NULL, "subnet pool", subnet, true);
}

MR_API int mr_cidr_pool_release(mr_cidr_pool *pool, const mr_prefix *subnet)
{
	return pa_update(pool ? &pool->pa : NULL, "subnet pool", subnet, false);
}

MR_API int mr_cidr_pool_count_free(const mr_cidr_pool *pool, uint64_t *out)
{
	return pa_count_free(pool ? &pool->pa : NULL, "subnet pool", out);
}

/* ------------------------------------------------------------------------ */
/* Host allocator                                                            */
/* ------------------------------------------------------------------------ */

MR_API int mr_cidr_hosts_new(mr_cidr_hosts **out, const mr_prefix *subnet)
{
	mr_cidr_hosts *h;
	char buf[MR_CIDR_STRLEN];
	unsigned int width, hbits;
	u128 last;
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "host allocator: output is NULL");
	rc = check_network(subnet, "host allocator", "subnet", buf);
	if (rc)
		return rc;
	width = family_width(subnet->family);
	hbits = width - subnet->len;
	/* Offsets 0 (network) and 1 (gateway) are reserved, and for IPv4 the
	 * broadcast address too: at least 2 host bits are needed for one host. */
	if (hbits < 2)
		return mr__error_set(MR_EINVAL,
				     "subnet %s: too small for hosts (at most /%u: the network "
				     "address, gateway%s are reserved)",
				     buf, width - 2,
				     subnet->family == MR_CIDR_INET ? " and broadcast" : "");
	last = width_max(hbits);
	if (subnet->family == MR_CIDR_INET)
		last--;
	h = calloc(1, sizeof(*h));
	if (!h)
		return mr__error_set(MR_ENOMEM, "host allocator: out of memory");
	pa_init(&h->pa, subnet, width, true, 2, last);
	*out = h;
	return 0;
}

MR_API void mr_cidr_hosts_free(mr_cidr_hosts *hosts)
{
	if (!hosts)
		return;
	oa_free(&hosts->pa.oa);
	free(hosts);
}

MR_API int mr_cidr_hosts_gateway(const mr_cidr_hosts *hosts, mr_prefix *out)
{
	if (!hosts || !out)
		return mr__error_set(MR_EINVAL, "host allocator: NULL argument");
	prefix_set(out, hosts->pa.net.family, prefix_value(&hosts->pa.net) + 1, hosts->pa.net.len);
	return 0;
}

MR_API int mr_cidr_hosts_alloc(mr_cidr_hosts *hosts, mr_prefix *out)
{
	return pa_alloc(hosts ? &hosts->pa : NULL, "host allocator", out);
}

MR_API int mr_cidr_hosts_mark_used(mr_cidr_hosts *hosts, const mr_prefix *addr)
{
	return pa_update(hosts ? &hosts->pa : NULL, "host allocator", addr, true);
}

MR_API int mr_cidr_hosts_release(mr_cidr_hosts *hosts, const mr_prefix *addr)
{
	return pa_update(hosts ? &hosts->pa : NULL, "host allocator", addr, false);
}

MR_API int mr_cidr_hosts_count_free(const mr_cidr_hosts *hosts, uint64_t *out)
{
	return pa_count_free(hosts ? &hosts->pa : NULL, "host allocator", out);
}

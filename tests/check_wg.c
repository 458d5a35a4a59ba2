/* SPDX-License-Identifier: MIT */
/*
 * The wg module without a WireGuard implementation: builder and getter
 * validation, the kernel SET_DEVICE message builder parsed back by an
 * independent parser, the GET_DEVICE dump merger fed with synthetic
 * messages, the userspace text protocol, mr_wg_set/get/sync against a fake
 * userspace control socket, and starting/stopping a fake daemon. The real
 * counterparts (wireguard-go, wg(8), the kernel module) are exercised by
 * tests/wg-userspace.sh and tests/vm/wg_kernel_test.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/wireguard.h>

#include <myrelay/myrelay.h>
#include "../libmyrelay/wg-internal.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* A deterministic, non-zero key for index i and a "kind" byte. */
static mr_key K(uint32_t i, uint8_t kind)
{
	mr_key k;

	for (int j = 0; j < MR_KEY_LEN; j++)
		k.bytes[j] = (uint8_t)(kind * 31 + j * 7 + 1);
	k.bytes[0] = kind;
	k.bytes[1] = (uint8_t)(i >> 24);
	k.bytes[2] = (uint8_t)(i >> 16);
	k.bytes[3] = (uint8_t)(i >> 8);
	k.bytes[4] = (uint8_t)i;
	return k;
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

static mr_prefix P4(uint32_t a, uint8_t len)
{
	mr_prefix p = {.family = MR_CIDR_INET, .len = len};

	p.addr[0] = (uint8_t)(a >> 24);
	p.addr[1] = (uint8_t)(a >> 16);
	p.addr[2] = (uint8_t)(a >> 8);
	p.addr[3] = (uint8_t)a;
	return p;
}

static mr_prefix P6(uint32_t a, uint8_t len)
{
	mr_prefix p = {.family = MR_CIDR_INET6, .len = len};

	p.addr[0] = 0xfd;
	p.addr[4] = (uint8_t)(a >> 24);
	p.addr[5] = (uint8_t)(a >> 16);
	p.addr[6] = (uint8_t)(a >> 8);
	p.addr[7] = (uint8_t)a;
	return p;
}

static bool prefix_eq(const mr_prefix *a, const mr_prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       memcmp(a->addr, b->addr, a->family == MR_CIDR_INET ? 4 : 16) == 0;
}

static void hex(char *out, const mr_key *k)
{
	for (int i = 0; i < MR_KEY_LEN; i++)
		sprintf(out + 2 * i, "%02x", k->bytes[i]);
}

/* ------------------------------------------------------------------------ */
/* Objects and setters                                                       */
/* ------------------------------------------------------------------------ */

START_TEST(test_device_basics)
{
	mr_wg_device *dev = NULL;
	mr_key priv, pub, got, want;

	ck_mr_err(mr_wg_device_new(NULL), MR_EINVAL);
	ck_mr_ok(mr_wg_device_new(&dev));
	mr_wg_device_free(NULL);
	ck_assert(!mr_wg_device_has_private_key(dev));
	ck_assert(!mr_wg_device_has_listen_port(dev));
	ck_assert(!mr_wg_device_has_fwmark(dev));
	ck_assert(!mr_wg_device_get_replace_peers(dev));
	ck_assert_uint_eq(mr_wg_device_peer_count(dev), 0);
	ck_mr_err(mr_wg_device_get_private_key(dev, &got), MR_ENOTFOUND);
	ck_mr_err(mr_wg_device_get_public_key(dev, &got), MR_ENOTFOUND);

	ck_mr_ok(mr_key_generate_private(&priv));
	ck_mr_ok(mr_key_public_from_private(&want, &priv));
	ck_mr_ok(mr_wg_device_set_private_key(dev, &priv));
	ck_assert(mr_wg_device_has_private_key(dev));
	ck_mr_ok(mr_wg_device_get_private_key(dev, &got));
	ck_assert(mr_key_equal(&got, &priv));
	ck_mr_ok(mr_wg_device_get_public_key(dev, &pub));
	ck_assert(mr_key_equal(&pub, &want));
	/* the device's own public key cannot be a peer */
	ck_mr_err(mr_wg_device_add_peer(dev, &pub, NULL), MR_EINVAL);
	/* a zero key is refused and changes nothing; NULL removes the key */
	memset(&got, 0, sizeof(got));
	ck_mr_err(mr_wg_device_set_private_key(dev, &got), MR_EINVAL);
	ck_assert(strstr(mr_error_message(), "all zero") != NULL);
	ck_assert(mr_wg_device_has_private_key(dev));
	ck_mr_ok(mr_wg_device_set_private_key(dev, NULL));
	ck_assert(!mr_wg_device_has_private_key(dev));
	ck_mr_err(mr_wg_device_get_private_key(dev, &got), MR_ENOTFOUND);

	ck_mr_ok(mr_wg_device_set_fwmark(dev, 0x42));
	ck_assert(mr_wg_device_has_fwmark(dev));
	ck_assert_uint_eq(mr_wg_device_get_fwmark(dev), 0x42);
	ck_mr_ok(mr_wg_device_set_replace_peers(dev, true));
	ck_assert(mr_wg_device_get_replace_peers(dev));
	ck_mr_ok(mr_wg_device_set_replace_peers(dev, false));
	ck_assert(!mr_wg_device_get_replace_peers(dev));

	/* NULL handles */
	ck_mr_err(mr_wg_device_set_private_key(NULL, &priv), MR_EINVAL);
	ck_mr_err(mr_wg_device_set_listen_port(NULL, 1), MR_EINVAL);
	ck_mr_err(mr_wg_device_set_fwmark(NULL, 1), MR_EINVAL);
	ck_mr_err(mr_wg_device_set_replace_peers(NULL, true), MR_EINVAL);
	ck_mr_err(mr_wg_device_get_public_key(NULL, &got), MR_EINVAL);
	ck_mr_err(mr_wg_device_get_public_key(dev, NULL), MR_EINVAL);
	ck_mr_err(mr_wg_device_add_peer(NULL, &pub, NULL), MR_EINVAL);
	ck_mr_err(mr_wg_device_add_peer(dev, NULL, NULL), MR_EINVAL);
	ck_assert(!mr_wg_device_has_private_key(NULL));
	ck_assert_uint_eq(mr_wg_device_get_listen_port(NULL), 0);
	ck_assert_uint_eq(mr_wg_device_peer_count(NULL), 0);
	ck_assert_ptr_null(mr_wg_device_peer(NULL, 0));
	ck_assert_ptr_null(mr_wg_device_peer(dev, 0));
	ck_assert_ptr_null(mr_wg_device_find_peer(dev, NULL));
	ck_assert_ptr_null(mr_wg_device_find_peer(NULL, &pub));
	mr_key_wipe(&priv);
	mr_wg_device_free(dev);
}
END_TEST

static const struct {
	uint32_t value;
	int rc;
} port_table[] = {
    {0, 0},
    {1, 0},
    {51820, 0},
    {65535, 0},
    {65536, MR_EINVAL},
    {100000, MR_EINVAL},
    {UINT32_MAX, MR_EINVAL},
};

START_TEST(test_listen_port_and_keepalive)
{
	mr_wg_device *dev;
	mr_wg_peer *peer;
	mr_key k = K(1, 1);

	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr_wg_device_add_peer(dev, &k, &peer));
	ck_mr_ok(mr_wg_device_set_listen_port(dev, 4242));
	ck_mr_ok(mr_wg_peer_set_keepalive(peer, 17));
	if (port_table[_i].rc) {
		ck_mr_err(mr_wg_device_set_listen_port(dev, port_table[_i].value), MR_EINVAL);
		ck_mr_err(mr_wg_peer_set_keepalive(peer, port_table[_i].value), MR_EINVAL);
		ck_assert_uint_eq(mr_wg_device_get_listen_port(dev), 4242);
		ck_assert_uint_eq(mr_wg_peer_get_keepalive(peer), 17);
	} else {
		ck_mr_ok(mr_wg_device_set_listen_port(dev, port_table[_i].value));
		ck_mr_ok(mr_wg_peer_set_keepalive(peer, port_table[_i].value));
		ck_assert_uint_eq(mr_wg_device_get_listen_port(dev), port_table[_i].value);
		ck_assert_uint_eq(mr_wg_peer_get_keepalive(peer), port_table[_i].value);
		ck_assert(mr_wg_device_has_listen_port(dev));
		ck_assert(mr_wg_peer_has_keepalive(peer));
	}
	mr_wg_device_free(dev);
}
END_TEST

static const struct {
	const char *text;
	const char *want;   /* formatted back, NULL when refused */
	const char *detail; /* substring of the error detail */
} endpoint_table[] = {
    {"192.0.2.1:51820", "192.0.2.1:51820", NULL},
    {"0.0.0.0:1", "0.0.0.0:1", NULL},
    {"255.255.255.255:65535", "255.255.255.255:65535", NULL},
    {"[2001:db8::1]:51820", "[2001:db8::1]:51820", NULL},
    {"[2001:DB8:0:0::1]:7", "[2001:db8::1]:7", NULL},
    {"[::1]:443", "[::1]:443", NULL},
    {"[fe80::1%2]:51820", "[fe80::1%2]:51820", NULL},
    {"[fe80::1%4294967295]:65535", "[fe80::1%4294967295]:65535", NULL},
    {"", NULL, "empty"},
    {"192.0.2.1", NULL, "no port"},
    {"192.0.2.1:", NULL, "port"},
    {"192.0.2.1:0", NULL, "port"},
    {"192.0.2.1:65536", NULL, "port"},
    {"192.0.2.1:051820", NULL, "port"},
    {"192.0.2.1:5a", NULL, "port"},
    {"192.0.2.1:-5", NULL, "port"},
    {"192.0.2.256:5", NULL, "not an IP address"},
    {"01.2.3.4:5", NULL, "not an IP address"},
    {"vpn.example.com:51820", NULL, "host names are not resolved"},
    {"localhost:51820", NULL, "host names are not resolved"},
    {"2001:db8::1:51820", NULL, "brackets"},
    {"[2001:db8::1]", NULL, "[address]:port"},
    {"[2001:db8::1]51820", NULL, "[address]:port"},
    {"[192.0.2.1]:5", NULL, "brackets are for IPv6"},
    {"[fe80::1%eth0]:5", NULL, "scope id"},
    {"[fe80::1%0]:5", NULL, "scope id"},
    {"[fe80::1%]:5", NULL, "scope id"},
    {" 192.0.2.1:5", NULL, "position 1"},
    {"192.0.2.1:5 ", NULL, "position 12"},
    {"192.0.2.1:5\n", NULL, "position 12"},
    {"192.0.2.1:\xc3\xa9", NULL, "non-printable"},
    {"[1111:2222:3333:4444:5555:6666:7777:8888%4294967295]:65535000000000", NULL, "at most"},
};

START_TEST(test_endpoint)
{
	mr_wg_device *dev;
	mr_wg_peer *peer;
	mr_key k = K(1, 1);
	char buf[MR_WG_ENDPOINT_STRLEN], small[8];

	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr_wg_device_add_peer(dev, &k, &peer));
	ck_assert(!mr_wg_peer_has_endpoint(peer));
	ck_mr_err(mr_wg_peer_get_endpoint(peer, buf, sizeof(buf)), MR_ENOTFOUND);
	ck_mr_ok(mr_wg_peer_set_endpoint(peer, "10.9.8.7:6"));
	if (endpoint_table[_i].want) {
		ck_mr_ok(mr_wg_peer_set_endpoint(peer, endpoint_table[_i].text));
		ck_mr_ok(mr_wg_peer_get_endpoint(peer, buf, sizeof(buf)));
		ck_assert_str_eq(buf, endpoint_table[_i].want);
		/* what we print, we accept */
		ck_mr_ok(mr_wg_peer_set_endpoint(peer, buf));
		ck_mr_err(mr_wg_peer_get_endpoint(peer, small, sizeof(small)), MR_ETOOBIG);
	} else {
		ck_mr_err(mr_wg_peer_set_endpoint(peer, endpoint_table[_i].text), MR_EINVAL);
		ck_assert_msg(strstr(mr_error_message(), endpoint_table[_i].detail) != NULL,
			      "\"%s\": detail \"%s\" lacks \"%s\"", endpoint_table[_i].text,
			      mr_error_message(), endpoint_table[_i].detail);
		ck_mr_ok(mr_wg_peer_get_endpoint(peer, buf, sizeof(buf)));
		ck_assert_str_eq(buf, "10.9.8.7:6");
	}
	ck_mr_err(mr_wg_peer_set_endpoint(peer, NULL), MR_EINVAL);
	ck_mr_err(mr_wg_peer_set_endpoint(NULL, "1.2.3.4:5"), MR_EINVAL);
	mr_wg_device_free(dev);
}
END_TEST

static const struct {
	const char *text; /* interface form: host bits allowed by the parser */
	int rc;
	const char *detail;
} aip_table[] = {
    {"10.0.0.0/24", 0, NULL},
    {"10.0.0.7/32", 0, NULL},
    {"0.0.0.0/0", 0, NULL},
    {"::/0", 0, NULL},
    {"fd00:1:2::/48", 0, NULL},
    {"2001:db8::1/128", 0, NULL},
    {"10.0.0.1/24", MR_EINVAL, "host bits set (network is 10.0.0.0/24)"},
    {"192.168.1.255/23", MR_EINVAL, "host bits set"},
    {"fd00::1/64", MR_EINVAL, "host bits set (network is fd00::/64)"},
};

START_TEST(test_allowed_ip)
{
	mr_wg_device *dev;
	mr_wg_peer *peer;
	mr_key k = K(1, 1);
	mr_prefix p = P(aip_table[_i].text), got;

	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr_wg_device_add_peer(dev, &k, &peer));
	if (aip_table[_i].rc) {
		ck_mr_err(mr_wg_peer_add_allowed_ip(peer, &p), aip_table[_i].rc);
		ck_assert_msg(strstr(mr_error_message(), aip_table[_i].detail) != NULL, "%s",
			      mr_error_message());
		ck_assert_uint_eq(mr_wg_peer_allowed_ip_count(peer), 0);
	} else {
		ck_mr_ok(mr_wg_peer_add_allowed_ip(peer, &p));
		ck_assert_uint_eq(mr_wg_peer_allowed_ip_count(peer), 1);
		ck_mr_ok(mr_wg_peer_get_allowed_ip(peer, 0, &got));
		ck_assert(prefix_eq(&got, &p));
	}
	ck_mr_err(mr_wg_peer_get_allowed_ip(peer, 5, &got), MR_EINVAL);
	mr_wg_device_free(dev);
}
END_TEST

START_TEST(test_allowed_ip_bad_fields)
{
	mr_wg_device *dev;
	mr_wg_peer *peer;
	mr_key k = K(1, 1);
	mr_prefix p = P4(0x0a000000, 8), got;

	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr_wg_device_add_peer(dev, &k, &peer));
	p.family = 5;
	ck_mr_err(mr_wg_peer_add_allowed_ip(peer, &p), MR_EINVAL);
	p = P4(0x0a000000, 33);
	ck_mr_err(mr_wg_peer_add_allowed_ip(peer, &p), MR_EINVAL);
	p = P6(1, 129);
	ck_mr_err(mr_wg_peer_add_allowed_ip(peer, &p), MR_EINVAL);
	ck_mr_err(mr_wg_peer_add_allowed_ip(peer, NULL), MR_EINVAL);
	ck_mr_err(mr_wg_peer_add_allowed_ip(NULL, &p), MR_EINVAL);
	/* pad bytes and the unused tail of an IPv4 address are normalised */
	p = P4(0x0a000000, 8);
	p.pad[0] = 9;
	p.addr[10] = 7;
	ck_mr_ok(mr_wg_peer_add_allowed_ip(peer, &p));
	ck_mr_ok(mr_wg_peer_get_allowed_ip(peer, 0, &got));
	ck_assert_uint_eq(got.pad[0], 0);
	ck_assert_uint_eq(got.addr[10], 0);
	ck_assert_uint_eq(mr_wg_peer_allowed_ip_count(peer), 1);
	mr_wg_device_free(dev);
}
END_TEST

START_TEST(test_peer_fields)
{
	mr_wg_device *dev;
	mr_wg_peer *peer, *other;
	mr_key k = K(1, 1), psk = K(9, 9), got, zero;
	int64_t sec = 7, nsec = 7;

	memset(&zero, 0, sizeof(zero));
	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_err(mr_wg_device_add_peer(dev, &zero, NULL), MR_EINVAL);
	ck_mr_ok(mr_wg_device_add_peer(dev, &k, &peer));
	ck_mr_err(mr_wg_device_add_peer(dev, &k, &other), MR_EEXIST);
	ck_assert_uint_eq(mr_wg_device_peer_count(dev), 1);
	ck_assert_ptr_eq(mr_wg_device_peer(dev, 0), peer);
	ck_assert_ptr_eq(mr_wg_device_find_peer(dev, &k), peer);
	ck_mr_ok(mr_wg_peer_get_public_key(peer, &got));
	ck_assert(mr_key_equal(&got, &k));

	ck_assert(!mr_wg_peer_has_preshared_key(peer));
	ck_mr_err(mr_wg_peer_get_preshared_key(peer, &got), MR_ENOTFOUND);
	ck_mr_ok(mr_wg_peer_set_preshared_key(peer, &psk));
	ck_assert(mr_wg_peer_has_preshared_key(peer));
	ck_mr_ok(mr_wg_peer_get_preshared_key(peer, &got));
	ck_assert(mr_key_equal(&got, &psk));
	ck_mr_ok(mr_wg_peer_set_preshared_key(peer, NULL));
	ck_assert(!mr_wg_peer_has_preshared_key(peer));
	ck_mr_ok(mr_wg_peer_set_preshared_key(peer, &zero));
	ck_assert(!mr_wg_peer_has_preshared_key(peer));

	ck_assert(!mr_wg_peer_get_remove(peer));
	ck_mr_ok(mr_wg_peer_set_remove(peer, true));
	ck_assert(mr_wg_peer_get_remove(peer));
	ck_mr_ok(mr_wg_peer_set_update_only(peer, true));
	ck_assert(mr_wg_peer_get_update_only(peer));
	ck_mr_ok(mr_wg_peer_set_replace_allowed_ips(peer, true));
	ck_assert(mr_wg_peer_get_replace_allowed_ips(peer));
	ck_mr_ok(mr_wg_peer_set_replace_allowed_ips(peer, false));
	ck_assert(!mr_wg_peer_get_replace_allowed_ips(peer));

	/* counters of a configuration are zero */
	ck_assert_uint_eq(mr_wg_peer_get_rx_bytes(peer), 0);
	ck_assert_uint_eq(mr_wg_peer_get_tx_bytes(peer), 0);
	ck_assert_uint_eq(mr_wg_peer_get_protocol_version(peer), 0);
	ck_mr_ok(mr_wg_peer_get_last_handshake(peer, &sec, &nsec));
	ck_assert(sec == 0 && nsec == 0);
	ck_mr_ok(mr_wg_peer_get_last_handshake(peer, NULL, NULL));

	/* NULL peers */
	ck_mr_err(mr_wg_peer_set_preshared_key(NULL, &psk), MR_EINVAL);
	ck_mr_err(mr_wg_peer_set_keepalive(NULL, 1), MR_EINVAL);
	ck_mr_err(mr_wg_peer_set_remove(NULL, true), MR_EINVAL);
	ck_mr_err(mr_wg_peer_set_update_only(NULL, true), MR_EINVAL);
	ck_mr_err(mr_wg_peer_set_replace_allowed_ips(NULL, true), MR_EINVAL);
	ck_mr_err(mr_wg_peer_get_public_key(NULL, &got), MR_EINVAL);
	ck_mr_err(mr_wg_peer_get_last_handshake(NULL, &sec, &nsec), MR_EINVAL);
	ck_assert(!mr_wg_peer_get_remove(NULL));
	ck_assert(!mr_wg_peer_has_endpoint(NULL));
	ck_assert_uint_eq(mr_wg_peer_allowed_ip_count(NULL), 0);
	ck_assert_uint_eq(mr_wg_peer_get_rx_bytes(NULL), 0);
	mr_key_wipe(&got);
	mr_wg_device_free(dev);
}
END_TEST

START_TEST(test_many_peers_index)
{
	mr_wg_device *dev;
	const uint32_t n = 20000;

	ck_mr_ok(mr_wg_device_new(&dev));
	for (uint32_t i = 0; i < n; i++) {
		mr_key k = K(i, 1);
		mr_wg_peer *p;

		ck_mr_ok(mr_wg_device_add_peer(dev, &k, &p));
		/* peers are not moved when the device grows */
		if (i == 0)
			ck_assert_ptr_eq(mr_wg_device_find_peer(dev, &k), p);
	}
	ck_assert_uint_eq(mr_wg_device_peer_count(dev), n);
	for (uint32_t i = 0; i < n; i++) {
		mr_key k = K(i, 1), got;
		mr_wg_peer *p = mr_wg_device_find_peer(dev, &k);

		ck_assert_ptr_nonnull(p);
		ck_assert_ptr_eq(p, mr_wg_device_peer(dev, i));
		mr_wg_peer_get_public_key(p, &got);
		ck_assert(mr_key_equal(&got, &k));
	}
	{
		mr_key k = K(n, 1);

		ck_assert_ptr_null(mr_wg_device_find_peer(dev, &k));
		k = K(5, 1);
		ck_mr_err(mr_wg_device_add_peer(dev, &k, NULL), MR_EEXIST);
	}
	mr_wg_device_free(dev);
}
END_TEST

/* The limits give MR_EINVAL (oversize lists are bad input, as issue 3 says)
 * and leave the device as it was. */
START_TEST(test_limits)
{
	mr_wg_device *dev;
	mr_wg_peer *peer;
	mr_key k;
	uint32_t i;

	ck_mr_ok(mr_wg_device_new(&dev));
	for (i = 0; i < MR_WG_MAX_PEERS; i++) {
		k = K(i, 2);
		if (mr_wg_device_add_peer(dev, &k, NULL) != 0)
			break;
	}
	ck_assert_uint_eq(i, MR_WG_MAX_PEERS);
	k = K(i, 2);
	ck_mr_err(mr_wg_device_add_peer(dev, &k, NULL), MR_EINVAL);
	ck_assert_uint_eq(mr_wg_device_peer_count(dev), MR_WG_MAX_PEERS);
	mr_wg_device_free(dev);

	/* allowed IPs of one peer, then of the device */
	ck_mr_ok(mr_wg_device_new(&dev));
	for (uint32_t pi = 0;; pi++) {
		mr_prefix p;
		int rc = 0;

		k = K(pi, 3);
		ck_mr_ok(mr_wg_device_add_peer(dev, &k, &peer));
		for (i = 0; i < MR_WG_MAX_ALLOWED_IPS; i++) {
			p = P4((pi << 16) | i, 32);
			rc = mr_wg_peer_add_allowed_ip(peer, &p);
			if (rc)
				break;
		}
		if (rc) {
			ck_assert_int_eq(rc, MR_EINVAL);
			ck_assert(strstr(mr_error_message(), "device") != NULL);
			ck_assert_uint_eq((size_t)pi * MR_WG_MAX_ALLOWED_IPS + i,
					  MR_WG_MAX_DEVICE_ALLOWED_IPS);
			break;
		}
		ck_assert_uint_eq(mr_wg_peer_allowed_ip_count(peer), MR_WG_MAX_ALLOWED_IPS);
		if (pi == 0) {
			p = P6(1, 128);
			ck_mr_err(mr_wg_peer_add_allowed_ip(peer, &p), MR_EINVAL);
			ck_assert(strstr(mr_error_message(), "peer") != NULL);
			ck_assert_uint_eq(mr_wg_peer_allowed_ip_count(peer), MR_WG_MAX_ALLOWED_IPS);
		}
	}
	mr_wg_device_free(dev);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Validation before anything is sent                                       */
/* ------------------------------------------------------------------------ */

enum bad_kind {
	BAD_DUP_TWO_PEERS,
	BAD_DUP_ONE_PEER,
	BAD_OWN_KEY,
	BAD_IFNAME,
	BAD_IFNAME_LONG,
	BAD_NULL_CONFIG
};

static const struct {
	enum bad_kind kind;
	const char *detail;
} bad_table[] = {
    {BAD_DUP_TWO_PEERS, "10.0.0.0/24 given to two peers"},
    {BAD_DUP_ONE_PEER, "listed twice for peer"},
    {BAD_OWN_KEY, "own public key"},
    {BAD_IFNAME, "interface name"},
    {BAD_IFNAME_LONG, "interface name"},
    {BAD_NULL_CONFIG, "NULL"},
};

/* The context points at a socket directory where nothing exists: any
 * attempt to reach a backend would fail with MR_ENOTFOUND, so MR_EINVAL
 * proves the configuration was refused first. */
START_TEST(test_validation_first)
{
	mr_ctx *ctx;
	mr_wg_device *dev;
	mr_wg_peer *a, *b;
	mr_key ka = K(1, 1), kb = K(2, 1), priv = K(3, 3), pub;
	mr_prefix p = P("10.0.0.0/24"), q = P("10.0.1.0/24");
	mr_wg_sync_stats st = {.added = 99};
	const char *ifname = "wgtest0";

	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_ctx_set_backend(ctx, MR_BACKEND_USERSPACE));
	ck_mr_ok(mr_ctx_set_userspace_dir(ctx, "/nonexistent-mr-wg"));
	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr_wg_device_add_peer(dev, &ka, &a));
	ck_mr_ok(mr_wg_device_add_peer(dev, &kb, &b));
	ck_mr_ok(mr_wg_peer_add_allowed_ip(a, &p));
	ck_mr_ok(mr_wg_peer_add_allowed_ip(b, &q));
	/* the good configuration reaches the (missing) backend */
	ck_mr_err(mr_wg_set(ctx, ifname, dev), MR_ENOTFOUND);
	ck_assert(strstr(mr_error_message(), "/nonexistent-mr-wg/wgtest0.sock") != NULL);
	switch (bad_table[_i].kind) {
	case BAD_DUP_TWO_PEERS:
		ck_mr_ok(mr_wg_peer_add_allowed_ip(b, &p));
		break;
	case BAD_DUP_ONE_PEER:
		ck_mr_ok(mr_wg_peer_add_allowed_ip(a, &p));
		break;
	case BAD_OWN_KEY:
		/* set after the peer was added, so only the whole-configuration
		 * check can see it */
		ck_mr_ok(mr_key_public_from_private(&pub, &priv));
		ck_mr_ok(mr_wg_device_add_peer(dev, &pub, NULL));
		ck_mr_ok(mr_wg_device_set_private_key(dev, &priv));
		break;
	case BAD_IFNAME:
		ifname = "wg/0";
		break;
	case BAD_IFNAME_LONG:
		ifname = "wg-0123456789abcdef";
		break;
	case BAD_NULL_CONFIG:
		mr_wg_device_free(dev);
		dev = NULL;
		break;
	}
	ck_mr_err(mr_wg_set(ctx, ifname, dev), MR_EINVAL);
	ck_assert_msg(strstr(mr_error_message(), bad_table[_i].detail) != NULL, "%s",
		      mr_error_message());
	ck_mr_err(mr_wg_sync(ctx, ifname, dev, 0, &st), MR_EINVAL);
	ck_assert_uint_eq(st.added, 99);
	mr_wg_device_free(dev);
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_null_arguments)
{
	mr_ctx *ctx;
	mr_wg_device *dev, *out = (mr_wg_device *)&out;

	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_err(mr_wg_set(NULL, "wg0", dev), MR_EINVAL);
	ck_mr_err(mr_wg_set(ctx, NULL, dev), MR_EINVAL);
	ck_mr_err(mr_wg_get(NULL, "wg0", &out), MR_EINVAL);
	ck_mr_err(mr_wg_get(ctx, "wg0", NULL), MR_EINVAL);
	ck_mr_err(mr_wg_get(ctx, "bad name", &out), MR_EINVAL);
	ck_assert_ptr_eq(out, (mr_wg_device *)&out);
	ck_mr_err(mr_wg_sync(ctx, "wg0", NULL, 0, NULL), MR_EINVAL);
	ck_mr_err(mr_wg_sync(ctx, "wg0", dev, 0x80, NULL), MR_EINVAL);
	ck_assert(strstr(mr_error_message(), "flags") != NULL);
	ck_mr_err(mr_wg_start_userspace(NULL, "wg0", NULL), MR_EINVAL);
	ck_mr_err(mr_wg_start_userspace(ctx, "wg 0", NULL), MR_EINVAL);
	ck_mr_err(mr_wg_stop_userspace(ctx, "wg0", 0), MR_EINVAL);
	ck_mr_err(mr_wg_stop_userspace(ctx, "wg0", -5), MR_EINVAL);
	ck_mr_err(mr_wg_stop_userspace(NULL, "wg0", 5), MR_EINVAL);
	mr_wg_device_free(dev);
	mr_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Kernel SET_DEVICE builder, parsed back by an independent parser          */
/* ------------------------------------------------------------------------ */

#define FAMILY 0x1d

struct seen_peer {
	mr_key key;
	uint32_t flags;
	bool has_psk, has_ep, has_ka;
	mr_key psk;
	union mr__wg_endpoint ep;
	uint16_t ka;
	mr_prefix *aips;
	size_t n_aips, cap;
};

struct parsed {
	size_t messages;
	bool dev_private_key, dev_port, dev_fwmark;
	uint32_t dev_flags;
	uint16_t port;
	uint32_t fwmark;
	mr_key priv;
	struct seen_peer *peers;
	size_t n_peers, cap;
	size_t continuations; /* peer parts that continued a peer */
	size_t max_len;
};

static void parsed_free(struct parsed *ps)
{
	for (size_t i = 0; i < ps->n_peers; i++)
		free(ps->peers[i].aips);
	free(ps->peers);
}

static void parse_aips(const struct nlattr *nest, struct seen_peer *sp)
{
	const struct nlattr *aip, *a;

	mnl_attr_for_each_nested(aip, nest)
	{
		mr_prefix p = {0};
		int fam = -1, cidr = -1;
		size_t alen = 0;

		mnl_attr_for_each_nested(a, aip)
		{
			switch (mnl_attr_get_type(a)) {
			case WGALLOWEDIP_A_FAMILY:
				ck_assert_int_eq(mnl_attr_get_payload_len(a), 2);
				fam = mnl_attr_get_u16(a);
				break;
			case WGALLOWEDIP_A_IPADDR:
				alen = mnl_attr_get_payload_len(a);
				ck_assert(alen == 4 || alen == 16);
				memcpy(p.addr, mnl_attr_get_payload(a), alen);
				break;
			case WGALLOWEDIP_A_CIDR_MASK:
				ck_assert_int_eq(mnl_attr_get_payload_len(a), 1);
				cidr = mnl_attr_get_u8(a);
				break;
			default:
				ck_abort_msg("unexpected allowed IP attribute %d",
					     mnl_attr_get_type(a));
			}
		}
		ck_assert(fam == AF_INET || fam == AF_INET6);
		ck_assert_uint_eq(alen, fam == AF_INET ? 4 : 16);
		ck_assert(cidr >= 0);
		p.family = fam == AF_INET ? MR_CIDR_INET : MR_CIDR_INET6;
		p.len = (uint8_t)cidr;
		if (sp->n_aips == sp->cap) {
			sp->cap = sp->cap ? 2 * sp->cap : 4;
			sp->aips = realloc(sp->aips, sp->cap * sizeof(*sp->aips));
			ck_assert_ptr_nonnull(sp->aips);
		}
		sp->aips[sp->n_aips++] = p;
	}
}

/*
 * Parse the messages the way the kernel would apply them, enforcing the
 * splitting rules: device attributes and replace-peers only in the first
 * message; a peer may only continue (same public key) as the first peer of
 * the next message, right after it was cut; a continuation carries no
 * replace-allowed-IPs, preshared key, endpoint or keepalive, keeps the
 * remove/update-only flags, and brings at least one allowed IP.
 */
static void parse_set(const struct mr__wg_msgs *m, size_t limit, const char *ifname,
		      struct parsed *ps)
{
	size_t off = 0;
	bool last_cut = false; /* the previous message ended inside a peer */

	memset(ps, 0, sizeof(*ps));
	while (off < m->len) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(m->buf + off);
		const struct genlmsghdr *genl = mnl_nlmsg_get_payload(nlh);
		const struct nlattr *attr;
		bool have_ifname = false, first_peer_in_msg = true;

		ck_assert_uint_le(nlh->nlmsg_len, limit);
		ck_assert_uint_le(off + nlh->nlmsg_len, m->len);
		if (nlh->nlmsg_len > ps->max_len)
			ps->max_len = nlh->nlmsg_len;
		ck_assert_uint_eq(nlh->nlmsg_type, FAMILY);
		ck_assert_uint_eq(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
		ck_assert_uint_eq(nlh->nlmsg_seq, 1000 + ps->messages);
		ck_assert_uint_eq(genl->cmd, WG_CMD_SET_DEVICE);
		ck_assert_uint_eq(genl->version, WG_GENL_VERSION);
		mnl_attr_for_each(attr, nlh, sizeof(*genl))
		{
			const struct nlattr *pn;

			switch (mnl_attr_get_type(attr)) {
			case WGDEVICE_A_IFNAME:
				ck_assert_str_eq(mnl_attr_get_str(attr), ifname);
				have_ifname = true;
				break;
			case WGDEVICE_A_PRIVATE_KEY:
				ck_assert_uint_eq(ps->messages, 0);
				ps->dev_private_key = true;
				memcpy(ps->priv.bytes, mnl_attr_get_payload(attr), MR_KEY_LEN);
				break;
			case WGDEVICE_A_LISTEN_PORT:
				ck_assert_uint_eq(ps->messages, 0);
				ps->dev_port = true;
				ps->port = mnl_attr_get_u16(attr);
				break;
			case WGDEVICE_A_FWMARK:
				ck_assert_uint_eq(ps->messages, 0);
				ps->dev_fwmark = true;
				ps->fwmark = mnl_attr_get_u32(attr);
				break;
			case WGDEVICE_A_FLAGS:
				ck_assert_msg(ps->messages == 0, "device flags in message %zu",
					      ps->messages);
				ps->dev_flags = mnl_attr_get_u32(attr);
				break;
			case WGDEVICE_A_PEERS:
				mnl_attr_for_each_nested(pn, attr)
				{
					struct seen_peer cur = {0}, *sp;
					const struct nlattr *a;
					bool has_key = false, cont;

					mnl_attr_for_each_nested(a, pn)
					{
						switch (mnl_attr_get_type(a)) {
						case WGPEER_A_PUBLIC_KEY:
							ck_assert_uint_eq(
							    mnl_attr_get_payload_len(a),
							    MR_KEY_LEN);
							memcpy(cur.key.bytes,
							       mnl_attr_get_payload(a), MR_KEY_LEN);
							has_key = true;
							break;
						case WGPEER_A_FLAGS:
							cur.flags = mnl_attr_get_u32(a);
							break;
						case WGPEER_A_PRESHARED_KEY:
							cur.has_psk = true;
							memcpy(cur.psk.bytes,
							       mnl_attr_get_payload(a), MR_KEY_LEN);
							break;
						case WGPEER_A_ENDPOINT:
							cur.has_ep = true;
							memcpy(&cur.ep, mnl_attr_get_payload(a),
							       mnl_attr_get_payload_len(a));
							break;
						case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
							cur.has_ka = true;
							cur.ka = mnl_attr_get_u16(a);
							break;
						case WGPEER_A_ALLOWEDIPS:
							parse_aips(a, &cur);
							break;
						default:
							ck_abort_msg("unexpected peer attribute %d",
								     mnl_attr_get_type(a));
						}
					}
					ck_assert(has_key);
					cont = ps->n_peers &&
					       memcmp(ps->peers[ps->n_peers - 1].key.bytes,
						      cur.key.bytes, MR_KEY_LEN) == 0;
					if (cont) {
						sp = &ps->peers[ps->n_peers - 1];
						ck_assert_msg(first_peer_in_msg && last_cut,
							      "peer continued in the middle of a "
							      "message");
						ck_assert(
						    !(cur.flags & WGPEER_F_REPLACE_ALLOWEDIPS));
						ck_assert(!cur.has_psk && !cur.has_ep &&
							  !cur.has_ka);
						ck_assert_uint_eq(
						    cur.flags &
							(WGPEER_F_REMOVE_ME | WGPEER_F_UPDATE_ONLY),
						    sp->flags & (WGPEER_F_REMOVE_ME |
								 WGPEER_F_UPDATE_ONLY));
						ck_assert_uint_gt(cur.n_aips, 0);
						for (size_t i = 0; i < cur.n_aips; i++) {
							if (sp->n_aips == sp->cap) {
								sp->cap *= 2;
								sp->aips = realloc(
								    sp->aips,
								    sp->cap * sizeof(*sp->aips));
							}
							sp->aips[sp->n_aips++] = cur.aips[i];
						}
						free(cur.aips);
						ps->continuations++;
					} else {
						if (ps->n_peers == ps->cap) {
							ps->cap = ps->cap ? 2 * ps->cap : 64;
							ps->peers =
							    realloc(ps->peers,
								    ps->cap * sizeof(*ps->peers));
							ck_assert_ptr_nonnull(ps->peers);
						}
						ps->peers[ps->n_peers++] = cur;
					}
					first_peer_in_msg = false;
				}
				break;
			default:
				ck_abort_msg("unexpected device attribute %d",
					     mnl_attr_get_type(attr));
			}
		}
		ck_assert(have_ifname);
		/* Whether this message ended inside a peer is learned from the
		 * expectations in check_against(); here we only record that a
		 * continuation is allowed after any message. */
		last_cut = true;
		off += nlh->nlmsg_len;
		ps->messages++;
	}
	ck_assert_uint_eq(ps->messages, m->count);
}

/* Compare what the messages say with the configuration they came from. */
static void check_against(const struct parsed *ps, const mr_wg_device *dev)
{
	ck_assert_uint_eq(ps->n_peers, dev->n_peers);
	ck_assert_int_eq(ps->dev_private_key, !!(dev->fields & MR__WG_D_PRIVATE_KEY));
	if (ps->dev_private_key)
		ck_assert(memcmp(ps->priv.bytes, dev->private_key.bytes, MR_KEY_LEN) == 0);
	ck_assert_int_eq(ps->dev_port, !!(dev->fields & MR__WG_D_LISTEN_PORT));
	ck_assert_uint_eq(ps->port, dev->listen_port);
	ck_assert_int_eq(ps->dev_fwmark, !!(dev->fields & MR__WG_D_FWMARK));
	ck_assert_uint_eq(ps->fwmark, dev->fwmark);
	ck_assert_uint_eq(ps->dev_flags,
			  (dev->fields & MR__WG_D_REPLACE_PEERS) ? WGDEVICE_F_REPLACE_PEERS : 0);
	for (size_t i = 0; i < dev->n_peers; i++) {
		const mr_wg_peer *p = dev->peers[i];
		const struct seen_peer *sp = &ps->peers[i];
		bool remove = p->fields & MR__WG_P_REMOVE;
		uint32_t want = 0;

		ck_assert_msg(memcmp(sp->key.bytes, p->public_key.bytes, MR_KEY_LEN) == 0,
			      "peer %zu out of order", i);
		if (remove)
			want |= WGPEER_F_REMOVE_ME;
		if (p->fields & MR__WG_P_UPDATE_ONLY)
			want |= WGPEER_F_UPDATE_ONLY;
		if (!remove && (p->fields & MR__WG_P_REPLACE_AIPS))
			want |= WGPEER_F_REPLACE_ALLOWEDIPS;
		ck_assert_uint_eq(sp->flags, want);
		ck_assert_int_eq(sp->has_psk, !remove && (p->fields & MR__WG_P_PRESHARED_KEY));
		if (sp->has_psk)
			ck_assert(memcmp(sp->psk.bytes, p->preshared_key.bytes, MR_KEY_LEN) == 0);
		ck_assert_int_eq(sp->has_ep, !remove && (p->fields & MR__WG_P_ENDPOINT));
		if (sp->has_ep) {
			char a[MR_WG_ENDPOINT_STRLEN], b[MR_WG_ENDPOINT_STRLEN];

			ck_mr_ok(mr__wg_endpoint_format(a, sizeof(a), &sp->ep));
			ck_mr_ok(mr__wg_endpoint_format(b, sizeof(b), &p->endpoint));
			ck_assert_str_eq(a, b);
		}
		ck_assert_int_eq(sp->has_ka, !remove && (p->fields & MR__WG_P_KEEPALIVE));
		if (sp->has_ka)
			ck_assert_uint_eq(sp->ka, p->keepalive);
		/* every allowed IP exactly once, in order */
		ck_assert_uint_eq(sp->n_aips, remove ? 0 : p->n_aips);
		for (size_t j = 0; j < sp->n_aips; j++)
			ck_assert_msg(prefix_eq(&sp->aips[j], &p->aips[j]),
				      "peer %zu allowed IP %zu differs", i, j);
	}
}

/* 10,000 peers with 1 to 4 allowed IPs each, varied fields and flags, and a
 * few peers with thousands of allowed IPs that cannot fit in one message. */
static mr_wg_device *big_device(uint32_t npeers, bool with_giants)
{
	mr_wg_device *dev;
	mr_key priv = K(7, 7);

	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr_wg_device_set_private_key(dev, &priv));
	ck_mr_ok(mr_wg_device_set_listen_port(dev, 51820));
	ck_mr_ok(mr_wg_device_set_fwmark(dev, 0x1234));
	ck_mr_ok(mr_wg_device_set_replace_peers(dev, true));
	for (uint32_t i = 0; i < npeers; i++) {
		mr_key k = K(i, 1), psk = K(i, 5);
		mr_wg_peer *p;
		uint32_t naip = 1 + i % 4;

		if (with_giants && (i == 10 || i == 5000 || i == npeers - 1))
			naip = 5000;
		ck_mr_ok(mr_wg_device_add_peer(dev, &k, &p));
		for (uint32_t j = 0; j < naip; j++) {
			mr_prefix a =
			    (j % 2) ? P6(i * 8192 + j, 128) : P4((10u << 24) | (i << 8) | j, 32);

			if (naip > 4)
				a = (j % 2) ? P6(0x40000000u + i * 8192 + j, 128)
					    : P4((11u << 24) | ((i & 0xff) << 16) | j, 32);
			ck_mr_ok(mr_wg_peer_add_allowed_ip(p, &a));
		}
		if (i % 3 == 0)
			ck_mr_ok(mr_wg_peer_set_preshared_key(p, &psk));
		if (i % 7 == 0)
			ck_mr_ok(mr_wg_peer_set_preshared_key(p, NULL));
		if (i % 2 == 0)
			ck_mr_ok(mr_wg_peer_set_endpoint(p, i % 4 ? "192.0.2.7:51820"
								  : "[2001:db8::7]:443"));
		if (i % 5 == 0)
			ck_mr_ok(mr_wg_peer_set_keepalive(p, 25));
		ck_mr_ok(mr_wg_peer_set_replace_allowed_ips(p, true));
		if (i % 11 == 0)
			ck_mr_ok(mr_wg_peer_set_update_only(p, true));
		if (i % 13 == 0 && naip <= 4)
			ck_mr_ok(mr_wg_peer_set_remove(p, true));
	}
	return dev;
}

static const size_t size_table[] = {MR__WG_MSG_SIZE, 4096, 600};

START_TEST(test_build_set_split)
{
	mr_wg_device *dev = big_device(10000, true);
	struct mr__wg_msgs m;
	struct parsed ps;
	size_t limit = size_table[_i];

	ck_mr_ok(mr__wg_kernel_build_set(dev, "wg-abc123", FAMILY, 1000, limit, &m));
	ck_assert_uint_gt(m.count, 1);
	parse_set(&m, limit, "wg-abc123", &ps);
	check_against(&ps, dev);
	/* The three giant peers cannot fit in one message at any limit: they
	 * must have been continued. */
	ck_assert_uint_ge(ps.continuations, 3);
	/* Messages are filled, not sent half-empty: on average above half the
	 * limit (the last one may be short). */
	ck_assert_uint_gt(m.len / m.count, limit / 2);
	parsed_free(&ps);
	mr__wg_msgs_free(&m);
	mr_wg_device_free(dev);
}
END_TEST

START_TEST(test_build_set_small_cases)
{
	mr_wg_device *dev;
	struct mr__wg_msgs m;
	struct parsed ps;
	mr_wg_peer *p;
	mr_key k = K(1, 1);

	/* nothing set: one message with just the name */
	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr__wg_kernel_build_set(dev, "wg0", FAMILY, 1000, MR__WG_MSG_SIZE, &m));
	ck_assert_uint_eq(m.count, 1);
	parse_set(&m, MR__WG_MSG_SIZE, "wg0", &ps);
	check_against(&ps, dev);
	parsed_free(&ps);
	mr__wg_msgs_free(&m);

	/* replace-peers with no peers: clears the device in one message */
	ck_mr_ok(mr_wg_device_set_replace_peers(dev, true));
	ck_mr_ok(mr__wg_kernel_build_set(dev, "wg0", FAMILY, 1000, MR__WG_MSG_SIZE, &m));
	ck_assert_uint_eq(m.count, 1);
	parse_set(&m, MR__WG_MSG_SIZE, "wg0", &ps);
	ck_assert_uint_eq(ps.dev_flags, WGDEVICE_F_REPLACE_PEERS);
	parsed_free(&ps);
	mr__wg_msgs_free(&m);

	/* a removal is the key and the flag only, even with fields set */
	ck_mr_ok(mr_wg_device_add_peer(dev, &k, &p));
	ck_mr_ok(mr_wg_peer_set_keepalive(p, 5));
	ck_mr_ok(mr_wg_peer_set_remove(p, true));
	ck_mr_ok(mr__wg_kernel_build_set(dev, "wg0", FAMILY, 1000, MR__WG_MSG_SIZE, &m));
	parse_set(&m, MR__WG_MSG_SIZE, "wg0", &ps);
	check_against(&ps, dev);
	ck_assert(!ps.peers[0].has_ka);
	parsed_free(&ps);
	/* the buffer is wiped and freed; freeing twice is harmless */
	mr__wg_msgs_free(&m);
	mr__wg_msgs_free(&m);

	/* message sizes out of range */
	ck_mr_err(mr__wg_kernel_build_set(dev, "wg0", FAMILY, 1, 100, &m), MR_EINVAL);
	ck_mr_err(mr__wg_kernel_build_set(dev, "wg0", FAMILY, 1, 70000, &m), MR_EINVAL);
	mr_wg_device_free(dev);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* GET_DEVICE dump merger                                                    */
/* ------------------------------------------------------------------------ */

static struct nlmsghdr *dump_msg(char *buf)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = WG_CMD_GET_DEVICE;
	genl->version = 1;
	return nlh;
}

static void put_dump_aips(struct nlmsghdr *nlh, uint32_t from, uint32_t to)
{
	struct nlattr *aips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);

	for (uint32_t j = from; j < to; j++) {
		struct nlattr *n = mnl_attr_nest_start(nlh, 0);
		mr_prefix p = (j % 2) ? P6(j, 128) : P4(0x0a000000 | j, 32);

		mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, (j % 2) ? AF_INET6 : AF_INET);
		mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, (j % 2) ? 16 : 4, p.addr);
		mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, p.len);
		mnl_attr_nest_end(nlh, n);
	}
	mnl_attr_nest_end(nlh, aips);
}

/* A peer part as the kernel's get_peer() writes it: the full fields only in
 * the first part. */
static void put_dump_peer(struct nlmsghdr *nlh, uint32_t id, bool full, uint32_t from, uint32_t to)
{
	struct nlattr *n = mnl_attr_nest_start(nlh, 0);
	mr_key k = K(id, 1), psk = K(id, 5);

	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, MR_KEY_LEN, k.bytes);
	if (full) {
		int64_t ts[2] = {1700000000 + id, 123456789};
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(51820)};

		sin.sin_addr.s_addr = htonl(0xc0000200 | id);
		mnl_attr_put(nlh, WGPEER_A_PRESHARED_KEY, MR_KEY_LEN, psk.bytes);
		mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts), ts);
		mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
		/* the kernel pads 64-bit values with a type-0 attribute */
		mnl_attr_put(nlh, 0, 0, NULL);
		mnl_attr_put_u64(nlh, WGPEER_A_TX_BYTES, 1000 + id);
		mnl_attr_put_u64(nlh, WGPEER_A_RX_BYTES, 2000 + id);
		mnl_attr_put_u32(nlh, WGPEER_A_PROTOCOL_VERSION, 1);
		mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(sin), &sin);
	}
	if (to > from)
		put_dump_aips(nlh, from, to);
	mnl_attr_nest_end(nlh, n);
}

static void check_dump_peer(const mr_wg_device *dev, uint32_t id, uint32_t naips)
{
	mr_key k = K(id, 1), psk = K(id, 5), got;
	mr_wg_peer *p = mr_wg_device_find_peer(dev, &k);
	char ep[MR_WG_ENDPOINT_STRLEN], want_ep[32];
	int64_t sec, nsec;

	ck_assert_ptr_nonnull(p);
	ck_mr_ok(mr_wg_peer_get_preshared_key(p, &got));
	ck_assert(mr_key_equal(&got, &psk));
	ck_mr_ok(mr_wg_peer_get_last_handshake(p, &sec, &nsec));
	ck_assert_int_eq(sec, 1700000000 + id);
	ck_assert_int_eq(nsec, 123456789);
	ck_assert_uint_eq(mr_wg_peer_get_keepalive(p), 25);
	ck_assert_uint_eq(mr_wg_peer_get_tx_bytes(p), 1000 + id);
	ck_assert_uint_eq(mr_wg_peer_get_rx_bytes(p), 2000 + id);
	ck_assert_uint_eq(mr_wg_peer_get_protocol_version(p), 1);
	ck_mr_ok(mr_wg_peer_get_endpoint(p, ep, sizeof(ep)));
	snprintf(want_ep, sizeof(want_ep), "192.0.2.%u:51820", id);
	ck_assert_str_eq(ep, want_ep);
	ck_assert_uint_eq(mr_wg_peer_allowed_ip_count(p), naips);
	for (uint32_t j = 0; j < naips; j++) {
		mr_prefix a, want = (j % 2) ? P6(j, 128) : P4(0x0a000000 | j, 32);

		ck_mr_ok(mr_wg_peer_get_allowed_ip(p, j, &a));
		ck_assert_msg(prefix_eq(&a, &want), "peer %u allowed IP %u", id, j);
	}
}

START_TEST(test_dump_merge)
{
	char b1[8192], b2[8192], b3[8192];
	struct nlmsghdr *m1 = dump_msg(b1), *m2 = dump_msg(b2), *m3 = dump_msg(b3);
	struct nlattr *peers;
	mr_wg_device *dev;
	mr_key priv = K(3, 3), pub, got;

	/* message 1: the device, peer 1 whole, peer 2 cut after 2 allowed IPs */
	mnl_attr_put_u16(m1, WGDEVICE_A_LISTEN_PORT, 51820);
	mnl_attr_put_u32(m1, WGDEVICE_A_FWMARK, 0);
	mnl_attr_put_u32(m1, WGDEVICE_A_IFINDEX, 4);
	mnl_attr_put_strz(m1, WGDEVICE_A_IFNAME, "wg0");
	mnl_attr_put(m1, WGDEVICE_A_PRIVATE_KEY, MR_KEY_LEN, priv.bytes);
	ck_mr_ok(mr_key_public_from_private(&pub, &priv));
	mnl_attr_put(m1, WGDEVICE_A_PUBLIC_KEY, MR_KEY_LEN, pub.bytes);
	peers = mnl_attr_nest_start(m1, WGDEVICE_A_PEERS);
	put_dump_peer(m1, 1, true, 0, 3);
	put_dump_peer(m1, 2, true, 0, 2);
	mnl_attr_nest_end(m1, peers);
	/* message 2: peer 2 continued (key only), then 3 allowed IPs; peer 3
	 * whole but for its allowed IPs, cut before any */
	peers = mnl_attr_nest_start(m2, WGDEVICE_A_PEERS);
	put_dump_peer(m2, 2, false, 2, 5);
	put_dump_peer(m2, 3, true, 0, 0);
	mnl_attr_nest_end(m2, peers);
	/* message 3: peer 3 continued over 4 allowed IPs, then peer 4 */
	peers = mnl_attr_nest_start(m3, WGDEVICE_A_PEERS);
	put_dump_peer(m3, 3, false, 0, 4);
	put_dump_peer(m3, 4, true, 0, 1);
	mnl_attr_nest_end(m3, peers);

	ck_mr_ok(mr_wg_device_new(&dev));
	ck_assert_int_eq(mr__wg_kernel_parse_dump(m1, dev), MNL_CB_OK);
	ck_assert_int_eq(mr__wg_kernel_parse_dump(m2, dev), MNL_CB_OK);
	ck_assert_int_eq(mr__wg_kernel_parse_dump(m3, dev), MNL_CB_OK);
	ck_assert_uint_eq(mr_wg_device_peer_count(dev), 4);
	ck_mr_ok(mr_wg_device_get_private_key(dev, &got));
	ck_assert(mr_key_equal(&got, &priv));
	ck_mr_ok(mr_wg_device_get_public_key(dev, &got));
	ck_assert(mr_key_equal(&got, &pub));
	ck_assert_uint_eq(mr_wg_device_get_listen_port(dev), 51820);
	check_dump_peer(dev, 1, 3);
	check_dump_peer(dev, 2, 5);
	check_dump_peer(dev, 3, 4);
	check_dump_peer(dev, 4, 1);
	for (uint32_t i = 0; i < 4; i++) {
		mr_key k;

		mr_wg_peer_get_public_key(mr_wg_device_peer(dev, i), &k);
		got = K(i + 1, 1);
		ck_assert(mr_key_equal(&k, &got));
	}

	/* a dump restarted from scratch after NLM_F_DUMP_INTR */
	mr__wg_device_clear(dev);
	ck_assert_uint_eq(mr_wg_device_peer_count(dev), 0);
	ck_assert(!mr_wg_device_has_private_key(dev));
	ck_assert_int_eq(mr__wg_kernel_parse_dump(m1, dev), MNL_CB_OK);
	ck_assert_uint_eq(mr_wg_device_peer_count(dev), 2);
	mr_key_wipe(&priv);
	mr_wg_device_free(dev);
}
END_TEST

enum bad_dump {
	BD_AIP_FAMILY,
	BD_AIP_LEN,
	BD_AIP_CIDR,
	BD_KEY_LEN,
	BD_NO_KEY,
	BD_TWICE,
	BD_HANDSHAKE_LEN,
	BD_PORT_TYPE
};

static const int bad_dump_table[] = {BD_AIP_FAMILY, BD_AIP_LEN, BD_AIP_CIDR,	  BD_KEY_LEN,
				     BD_NO_KEY,	    BD_TWICE,	BD_HANDSHAKE_LEN, BD_PORT_TYPE};

START_TEST(test_dump_malformed)
{
	char buf[4096];
	struct nlmsghdr *nlh = dump_msg(buf);
	struct nlattr *peers, *peer, *aips, *aip;
	mr_key k = K(1, 1);
	mr_wg_device *dev;
	uint8_t addr[16] = {10};

	if (bad_dump_table[_i] == BD_PORT_TYPE)
		mnl_attr_put_u32(nlh, WGDEVICE_A_LISTEN_PORT, 5);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	if (bad_dump_table[_i] == BD_KEY_LEN)
		mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 31, k.bytes);
	else if (bad_dump_table[_i] != BD_NO_KEY)
		mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, MR_KEY_LEN, k.bytes);
	if (bad_dump_table[_i] == BD_HANDSHAKE_LEN)
		mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, 8, addr);
	aips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	aip = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY,
			 bad_dump_table[_i] == BD_AIP_FAMILY ? 99 : AF_INET);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, bad_dump_table[_i] == BD_AIP_LEN ? 16 : 4, addr);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, bad_dump_table[_i] == BD_AIP_CIDR ? 33 : 8);
	mnl_attr_nest_end(nlh, aip);
	mnl_attr_nest_end(nlh, aips);
	mnl_attr_nest_end(nlh, peer);
	if (bad_dump_table[_i] == BD_TWICE) {
		/* the same peer again after another one is not a continuation */
		put_dump_peer(nlh, 2, true, 0, 1);
		put_dump_peer(nlh, 1, true, 0, 1);
	}
	mnl_attr_nest_end(nlh, peers);
	ck_mr_ok(mr_wg_device_new(&dev));
	mr_error_clear();
	ck_assert_int_eq(mr__wg_kernel_parse_dump(nlh, dev), MNL_CB_ERROR);
	ck_assert_int_eq(mr_error_last(), MR_EKERNEL);
	ck_assert_msg(strstr(mr_error_message(), "WireGuard dump") != NULL, "%s",
		      mr_error_message());
	mr_wg_device_free(dev);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Userspace text protocol                                                   */
/* ------------------------------------------------------------------------ */

START_TEST(test_uapi_render)
{
	mr_wg_device *dev;
	mr_wg_peer *a, *b, *c;
	mr_key priv, got, ka = K(1, 1), kb = K(2, 1), kc = K(3, 1), psk = K(4, 4);
	mr_prefix p1 = P("10.0.0.0/24"), p2 = P("fd00::/64");
	char want[2048], hp[65], ha[65], hb[65], hc[65], hpsk[65], *text;
	size_t len;

	/* every byte value, to exercise the branch-free hex encoder */
	for (int i = 0; i < MR_KEY_LEN; i++)
		priv.bytes[i] = (uint8_t)(i * 8 + (i & 7));
	priv.bytes[0] = 0x0f;
	priv.bytes[31] = 0xf0;
	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr_wg_device_set_private_key(dev, &priv));
	ck_mr_ok(mr_wg_device_set_listen_port(dev, 51820));
	ck_mr_ok(mr_wg_device_set_fwmark(dev, 0));
	ck_mr_ok(mr_wg_device_set_replace_peers(dev, true));
	ck_mr_ok(mr_wg_device_add_peer(dev, &ka, &a));
	ck_mr_ok(mr_wg_peer_set_preshared_key(a, &psk));
	ck_mr_ok(mr_wg_peer_set_endpoint(a, "[2001:db8::1]:51820"));
	ck_mr_ok(mr_wg_peer_set_keepalive(a, 25));
	ck_mr_ok(mr_wg_peer_set_replace_allowed_ips(a, true));
	ck_mr_ok(mr_wg_peer_add_allowed_ip(a, &p1));
	ck_mr_ok(mr_wg_peer_add_allowed_ip(a, &p2));
	ck_mr_ok(mr_wg_device_add_peer(dev, &kb, &b));
	ck_mr_ok(mr_wg_peer_set_update_only(b, true));
	ck_mr_ok(mr_wg_peer_set_preshared_key(b, NULL));
	ck_mr_ok(mr_wg_device_add_peer(dev, &kc, &c));
	ck_mr_ok(mr_wg_peer_set_keepalive(c, 9));
	ck_mr_ok(mr_wg_peer_set_remove(c, true));
	/* sent clamped */
	got = priv;
	got.bytes[0] &= 248;
	got.bytes[31] = (uint8_t)((got.bytes[31] & 127) | 64);
	hex(hp, &got);
	ck_assert_uint_eq(hp[1], '8');
	hex(ha, &ka);
	hex(hb, &kb);
	hex(hc, &kc);
	hex(hpsk, &psk);
	snprintf(want, sizeof(want),
		 "set=1\nprivate_key=%s\nlisten_port=51820\nfwmark=0\nreplace_peers=true\n"
		 "public_key=%s\npreshared_key=%s\nendpoint=[2001:db8::1]:51820\n"
		 "persistent_keepalive_interval=25\nreplace_allowed_ips=true\n"
		 "allowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n"
		 "public_key=%s\nupdate_only=true\npreshared_key=%064d\n"
		 "public_key=%s\nremove=true\n\n",
		 hp, ha, hpsk, hb, 0, hc);
	ck_mr_ok(mr__wg_uapi_render_set(dev, &text, &len));
	ck_assert_str_eq(text, want);
	ck_assert_uint_eq(len, strlen(want));
	mr__wg_uapi_text_free(text, len);

	/* a key set to "none" is sent as zeros */
	ck_mr_ok(mr_wg_device_set_private_key(dev, NULL));
	ck_mr_ok(mr__wg_uapi_render_set(dev, &text, &len));
	ck_assert(strstr(text, "private_key=0000000000000000000000000000000000000000000000000000"
			       "000000000000\n") != NULL);
	mr__wg_uapi_text_free(text, len);
	mr_key_wipe(&priv);
	mr_wg_device_free(dev);
}
END_TEST

START_TEST(test_uapi_parse_get)
{
	char text[4096], hp[65], ha[65], hb[65], hpsk[65];
	mr_key priv, pub, ka = K(1, 1), kb = K(2, 1), psk = K(4, 4), got;
	mr_wg_device *dev;
	mr_wg_peer *a, *b;
	char ep[MR_WG_ENDPOINT_STRLEN];
	int64_t sec, nsec;
	mr_prefix pf;
	int err = -1;

	for (int i = 0; i < MR_KEY_LEN; i++)
		priv.bytes[i] = (uint8_t)(255 - i * 8);
	ck_mr_ok(mr_key_public_from_private(&pub, &priv));
	hex(hp, &priv);
	hex(ha, &ka);
	hex(hb, &kb);
	hex(hpsk, &psk);
	/* upper-case hex is accepted too */
	for (char *s = hb; *s; s++)
		if (*s >= 'a' && *s <= 'f')
			*s = (char)(*s - 'a' + 'A');
	snprintf(text, sizeof(text),
		 "private_key=%s\nlisten_port=51820\nfwmark=66\n"
		 "public_key=%s\npreshared_key=%s\nprotocol_version=1\n"
		 "endpoint=[fe80::1%%lo]:51820\nlast_handshake_time_sec=1700000001\n"
		 "last_handshake_time_nsec=999999999\ntx_bytes=18446744073709551615\n"
		 "rx_bytes=5\npersistent_keepalive_interval=25\nallowed_ip=10.0.0.0/24\n"
		 "allowed_ip=fd00::/64\n"
		 "public_key=%s\npreshared_key=%064d\nprotocol_version=1\n"
		 "last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
		 "persistent_keepalive_interval=0\nsome_future_key=whatever\nerrno=0\n\n",
		 hp, ha, hpsk, hb, 0);
	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr__wg_uapi_parse_get(dev, text, strlen(text), &err));
	ck_assert_int_eq(err, 0);
	ck_mr_ok(mr_wg_device_get_private_key(dev, &got));
	ck_assert(mr_key_equal(&got, &priv));
	ck_mr_ok(mr_wg_device_get_public_key(dev, &got));
	ck_assert(mr_key_equal(&got, &pub));
	ck_assert_uint_eq(mr_wg_device_get_listen_port(dev), 51820);
	ck_assert_uint_eq(mr_wg_device_get_fwmark(dev), 66);
	ck_assert(mr_wg_device_has_fwmark(dev) && mr_wg_device_has_listen_port(dev));
	ck_assert_uint_eq(mr_wg_device_peer_count(dev), 2);
	a = mr_wg_device_find_peer(dev, &ka);
	b = mr_wg_device_find_peer(dev, &kb);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_mr_ok(mr_wg_peer_get_preshared_key(a, &got));
	ck_assert(mr_key_equal(&got, &psk));
	ck_mr_ok(mr_wg_peer_get_endpoint(a, ep, sizeof(ep)));
	/* the zone name becomes the interface index (lo is 1) */
	ck_assert_str_eq(ep, "[fe80::1%1]:51820");
	ck_mr_ok(mr_wg_peer_get_last_handshake(a, &sec, &nsec));
	ck_assert_int_eq(sec, 1700000001);
	ck_assert_int_eq(nsec, 999999999);
	ck_assert_uint_eq(mr_wg_peer_get_tx_bytes(a), UINT64_MAX);
	ck_assert_uint_eq(mr_wg_peer_get_rx_bytes(a), 5);
	ck_assert_uint_eq(mr_wg_peer_get_keepalive(a), 25);
	ck_assert_uint_eq(mr_wg_peer_get_protocol_version(a), 1);
	ck_assert_uint_eq(mr_wg_peer_allowed_ip_count(a), 2);
	ck_mr_ok(mr_wg_peer_get_allowed_ip(a, 1, &pf));
	ck_assert(prefix_eq(&pf, &(mr_prefix){.family = 6, .len = 64, .addr = {0xfd}}));
	ck_assert(!mr_wg_peer_has_preshared_key(b));
	ck_assert(!mr_wg_peer_has_endpoint(b));
	ck_assert(mr_wg_peer_has_keepalive(b));
	ck_assert_uint_eq(mr_wg_peer_allowed_ip_count(b), 0);
	mr_wg_device_free(dev);

	/* an error answer */
	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr__wg_uapi_parse_get(dev, "errno=-22\n\n", 11, &err));
	ck_assert_int_eq(err, -22);
	mr_wg_device_free(dev);
	mr_key_wipe(&priv);
}
END_TEST

static const char *const bad_get_table[] = {
    "listen_port=65536\nerrno=0\n\n",
    "listen_port=-1\nerrno=0\n\n",
    "fwmark=x\nerrno=0\n\n",
    "private_key=abc\nerrno=0\n\n",
    "private_key=zz00000000000000000000000000000000000000000000000000000000000000\n"
    "errno=0\n\n",
    "public_key=0000000000000000000000000000000000000000000000000000000000000000\n"
    "errno=0\n\n",
    "public_key=0100000000000000000000000000000000000000000000000000000000000000\n"
    "allowed_ip=10.0.0.0/33\nerrno=0\n\n",
    "public_key=0100000000000000000000000000000000000000000000000000000000000000\n"
    "endpoint=nowhere:5\nerrno=0\n\n",
    "public_key=0100000000000000000000000000000000000000000000000000000000000000\n"
    "public_key=0100000000000000000000000000000000000000000000000000000000000000\n"
    "errno=0\n\n",
    "public_key=0100000000000000000000000000000000000000000000000000000000000000\n"
    "last_handshake_time_nsec=1000000000\nerrno=0\n\n",
    "public_key=0100000000000000000000000000000000000000000000000000000000000000\n"
    "tx_bytes=18446744073709551616\nerrno=0\n\n",
    "no equals sign\nerrno=0\n\n",
    "errno=0\n",
    "errno=zero\n\n",
    "listen_port=5\n\n",
    "errno=0\nlisten_port=5\n\n",
};

START_TEST(test_uapi_parse_malformed)
{
	mr_wg_device *dev;
	const char *t = bad_get_table[_i];

	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_err(mr__wg_uapi_parse_get(dev, t, strlen(t), NULL), MR_EIO);
	mr_wg_device_free(dev);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* A fake userspace daemon: set/get/sync end to end without wireguard-go     */
/* ------------------------------------------------------------------------ */

struct fake {
	char dir[64];
	char sock[128];
	char log[128];
	pid_t pid;
};

/* Serve connections: answer get=1 with `answer`, log each set request to
 * the log file and answer it with errno=set_errno. */
static void fake_serve(int lfd, const char *answer, const char *log, int set_errno)
{
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		FILE *in, *out;
		char line[4096];

		if (fd < 0)
			_exit(1);
		in = fdopen(fd, "r");
		out = fdopen(dup(fd), "w");
		if (!in || !out)
			_exit(1);
		if (!fgets(line, sizeof(line), in))
			goto next;
		if (strcmp(line, "get=1\n") == 0) {
			if (!fgets(line, sizeof(line), in) || strcmp(line, "\n") != 0)
				_exit(2);
			fputs(answer, out);
		} else if (strcmp(line, "set=1\n") == 0) {
			FILE *lf = fopen(log, "a");

			fputs("set=1\n", lf);
			while (fgets(line, sizeof(line), in)) {
				fputs(line, lf);
				if (strcmp(line, "\n") == 0)
					break;
			}
			fclose(lf);
			fprintf(out, "errno=%d\n\n", set_errno);
		}
	next:
		fclose(out);
		fclose(in);
	}
}

static void fake_start(struct fake *f, const char *ifname, const char *answer, int set_errno)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int lfd;

	snprintf(f->dir, sizeof(f->dir), "/tmp/mr-wg-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/%s.sock", f->dir, ifname);
	snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
	ck_assert_uint_lt(strlen(f->sock), sizeof(sun.sun_path));
	memcpy(sun.sun_path, f->sock, strlen(f->sock) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	close(open(f->log, O_CREAT | O_WRONLY, 0600));
	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid == 0)
		fake_serve(lfd, answer, f->log, set_errno);
	close(lfd);
}

static char *fake_log(const struct fake *f)
{
	static char buf[1 << 16];
	FILE *lf = fopen(f->log, "r");
	size_t n = fread(buf, 1, sizeof(buf) - 1, lf);

	fclose(lf);
	buf[n] = '\0';
	return buf;
}

static void fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	unlink(f->sock);
	unlink(f->log);
	rmdir(f->dir);
}

static mr_ctx *fake_ctx(const struct fake *f)
{
	mr_ctx *ctx;

	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_ctx_set_backend(ctx, MR_BACKEND_USERSPACE));
	ck_mr_ok(mr_ctx_set_userspace_dir(ctx, f->dir));
	return ctx;
}

/* The device as the fake daemon reports it: peers 1 (psk, endpoint,
 * keepalive 25, 10.0.1.0/24 + fd00:1::/64), 2 (10.0.2.0/24) and 3
 * (10.0.3.0/24), port 51820, fwmark 0. */
static void fake_answer(char *out, size_t size, const mr_key *priv)
{
	char hp[65], h1[65], h2[65], h3[65], hpsk[65];
	mr_key k1 = K(1, 1), k2 = K(2, 1), k3 = K(3, 1), psk = K(1, 5);

	hex(hp, priv);
	hex(h1, &k1);
	hex(h2, &k2);
	hex(h3, &k3);
	hex(hpsk, &psk);
	snprintf(out, size,
		 "private_key=%s\nlisten_port=51820\n"
		 "public_key=%s\npreshared_key=%s\nprotocol_version=1\n"
		 "endpoint=192.0.2.1:51820\nlast_handshake_time_sec=1700000000\n"
		 "last_handshake_time_nsec=5\ntx_bytes=10\nrx_bytes=20\n"
		 "persistent_keepalive_interval=25\n"
		 "allowed_ip=fd00:1::/64\nallowed_ip=10.0.1.0/24\n"
		 "public_key=%s\npreshared_key=%064d\nprotocol_version=1\n"
		 "endpoint=192.0.2.2:51820\nlast_handshake_time_sec=0\n"
		 "last_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
		 "persistent_keepalive_interval=0\nallowed_ip=10.0.2.0/24\n"
		 "public_key=%s\npreshared_key=%064d\nprotocol_version=1\n"
		 "last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\n"
		 "rx_bytes=0\npersistent_keepalive_interval=0\nallowed_ip=10.0.3.0/24\n"
		 "errno=0\n\n",
		 hp, h1, hpsk, h2, 0, h3, 0);
}

/* The desired state equal to fake_answer (allowed IPs in another order,
 * no endpoint for peer 2: a learned endpoint is kept). */
static mr_wg_device *desired_same(const mr_key *priv)
{
	mr_wg_device *dev;
	mr_wg_peer *p;
	mr_key k1 = K(1, 1), k2 = K(2, 1), k3 = K(3, 1), psk = K(1, 5);
	mr_prefix a = P("10.0.1.0/24"), b = P("fd00:1::/64"), c = P("10.0.2.0/24"),
		  d = P("10.0.3.0/24");

	ck_mr_ok(mr_wg_device_new(&dev));
	ck_mr_ok(mr_wg_device_set_private_key(dev, priv));
	ck_mr_ok(mr_wg_device_set_listen_port(dev, 51820));
	ck_mr_ok(mr_wg_device_add_peer(dev, &k1, &p));
	ck_mr_ok(mr_wg_peer_set_preshared_key(p, &psk));
	ck_mr_ok(mr_wg_peer_set_endpoint(p, "192.0.2.1:51820"));
	ck_mr_ok(mr_wg_peer_set_keepalive(p, 25));
	ck_mr_ok(mr_wg_peer_add_allowed_ip(p, &a));
	ck_mr_ok(mr_wg_peer_add_allowed_ip(p, &b));
	ck_mr_ok(mr_wg_device_add_peer(dev, &k2, &p));
	ck_mr_ok(mr_wg_peer_add_allowed_ip(p, &c));
	ck_mr_ok(mr_wg_device_add_peer(dev, &k3, &p));
	ck_mr_ok(mr_wg_peer_add_allowed_ip(p, &d));
	return dev;
}

START_TEST(test_fake_get_set)
{
	struct fake f;
	char answer[4096], h1[65];
	mr_key priv = K(9, 9), k1 = K(1, 1), got;
	mr_wg_device *dev, *cfg;
	mr_wg_peer *p;
	mr_ctx *ctx;

	fake_answer(answer, sizeof(answer), &priv);
	fake_start(&f, "wgfake0", answer, 0);
	ctx = fake_ctx(&f);
	ck_mr_ok(mr_wg_get(ctx, "wgfake0", &dev));
	ck_assert_uint_eq(mr_wg_device_peer_count(dev), 3);
	ck_mr_ok(mr_wg_device_get_private_key(dev, &got));
	ck_assert(mr_key_equal(&got, &priv));
	p = mr_wg_device_find_peer(dev, &k1);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(mr_wg_peer_get_rx_bytes(p), 20);
	mr_wg_device_free(dev);

	/* a set reaches the socket as the text protocol */
	ck_mr_ok(mr_wg_device_new(&cfg));
	ck_mr_ok(mr_wg_device_add_peer(cfg, &k1, &p));
	ck_mr_ok(mr_wg_peer_set_keepalive(p, 7));
	ck_mr_ok(mr_wg_set(ctx, "wgfake0", cfg));
	hex(h1, &k1);
	ck_assert(strstr(fake_log(&f), h1) != NULL);
	ck_assert(strstr(fake_log(&f), "persistent_keepalive_interval=7\n") != NULL);
	/* the default backend finds the socket when there is no kernel module */
	if (access("/sys/module/wireguard", F_OK) != 0) {
		ck_mr_ok(mr_ctx_set_backend(ctx, MR_BACKEND_AUTO));
		ck_mr_ok(mr_wg_get(ctx, "wgfake0", &dev));
		mr_wg_device_free(dev);
		ck_mr_err(mr_wg_get(ctx, "wgnothere", &dev), MR_ENOTFOUND);
		ck_assert(strstr(mr_error_message(), "no WireGuard module") != NULL);
		ck_mr_ok(mr_ctx_set_backend(ctx, MR_BACKEND_KERNEL));
		ck_mr_err(mr_wg_get(ctx, "wgfake0", &dev), MR_ENOTSUP);
	}
	/* a missing socket, and a stale one */
	ck_mr_ok(mr_ctx_set_backend(ctx, MR_BACKEND_USERSPACE));
	ck_mr_err(mr_wg_set(ctx, "wgnothere", cfg), MR_ENOTFOUND);
	fake_stop(&f);
	mr_wg_device_free(cfg);
	mr_ctx_free(ctx);
}
END_TEST

START_TEST(test_fake_set_errno)
{
	struct fake f;
	mr_wg_device *cfg;
	mr_ctx *ctx;

	fake_start(&f, "wgfake1", "errno=0\n\n", -98 /* -EADDRINUSE */);
	ctx = fake_ctx(&f);
	ck_mr_ok(mr_wg_device_new(&cfg));
	ck_mr_ok(mr_wg_device_set_listen_port(cfg, 51820));
	ck_mr_err(mr_wg_set(ctx, "wgfake1", cfg), MR_EEXIST);
	ck_assert(strstr(mr_error_message(), "wgfake1") != NULL);
	fake_stop(&f);
	mr_wg_device_free(cfg);
	mr_ctx_free(ctx);
}
END_TEST

enum sync_case {
	SC_SAME,
	SC_ADD,
	SC_REMOVE,
	SC_PSK,
	SC_AIPS,
	SC_ENDPOINT,
	SC_KEEPALIVE,
	SC_PORT,
	SC_KEY,
	SC_REMOVE_FLAG,
	SC_DRY_RUN,
	SC_PORT_ZERO
};

static const struct {
	enum sync_case c;
	uint32_t added, removed, updated, unchanged, device_changed;
	const char *sent; /* substrings of the set request, "|"-separated; NULL: none */
	const char *not_sent;
} sync_table[] = {
    {SC_SAME, 0, 0, 0, 3, 0, NULL, NULL},
    {SC_ADD, 1, 0, 0, 3, 0, "public_key=K4|allowed_ip=10.0.4.0/24", "K1|K2|K3|listen_port"},
    {SC_REMOVE, 0, 1, 0, 2, 0, "public_key=K3\nremove=true\n", "K1|K2"},
    {SC_PSK, 0, 0, 1, 2, 0,
     "public_key=K2\nupdate_only=true\npreshared_key=", "K1|K3|allowed_ip|replace_allowed_ips"},
    {SC_AIPS, 0, 0, 1, 2, 0,
     "public_key=K3\nupdate_only=true\nreplace_allowed_ips=true\nallowed_ip=10.0.3.0/24\n"
     "allowed_ip=10.0.33.0/24\n",
     "K1|K2|preshared|endpoint"},
    {SC_ENDPOINT, 0, 0, 1, 2, 0, "public_key=K2\nupdate_only=true\nendpoint=192.0.2.99:1\n",
     "K1|K3|allowed_ip"},
    {SC_KEEPALIVE, 0, 0, 1, 2, 0,
     "public_key=K1\nupdate_only=true\npersistent_keepalive_interval=0\n",
     "K2|K3|allowed_ip|preshared"},
    {SC_PORT, 0, 0, 0, 3, 1, "set=1\nlisten_port=51821\n\n", "public_key|private_key"},
    {SC_KEY, 0, 0, 0, 3, 1, "set=1\nprivate_key=", "public_key|listen_port"},
    {SC_REMOVE_FLAG, 0, 1, 0, 2, 0, "public_key=K2\nremove=true\n", "K1|K3"},
    {SC_DRY_RUN, 1, 1, 0, 2, 0, NULL, NULL},
    {SC_PORT_ZERO, 0, 0, 0, 3, 0, NULL, NULL},
};

/* Replace K1..K4 in a pattern by the peers' hex keys. */
static void expand(char *out, size_t size, const char *pat)
{
	size_t o = 0;

	while (*pat && o + 70 < size) {
		if (pat[0] == 'K' && pat[1] >= '1' && pat[1] <= '4') {
			mr_key k = K((uint32_t)(pat[1] - '0'), 1);

			hex(out + o, &k);
			o += 64;
			pat += 2;
		} else {
			out[o++] = *pat++;
		}
	}
	out[o] = '\0';
}

static void check_parts(const char *log, const char *parts, bool present)
{
	char buf[1024], want[2048];
	char *save = NULL, *tok;

	if (!parts)
		return;
	snprintf(buf, sizeof(buf), "%s", parts);
	for (tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
		expand(want, sizeof(want), tok);
		ck_assert_msg((strstr(log, want) != NULL) == present, "%s \"%s\" in:\n%s",
			      present ? "missing" : "unexpected", tok, log);
	}
}

START_TEST(test_fake_sync)
{
	struct fake f;
	char answer[4096];
	mr_key priv = K(9, 9), k1 = K(1, 1), k2 = K(2, 1), k3 = K(3, 1), k4 = K(4, 1), psk;
	mr_wg_sync_stats st;
	mr_wg_device *want;
	mr_wg_peer *p;
	mr_prefix a = P("10.0.4.0/24"), b = P("10.0.33.0/24");
	uint32_t flags = 0;
	mr_ctx *ctx;
	const char *log;

	fake_answer(answer, sizeof(answer), &priv);
	fake_start(&f, "wgsync0", answer, 0);
	ctx = fake_ctx(&f);
	want = desired_same(&priv);
	switch (sync_table[_i].c) {
	case SC_SAME:
		break;
	case SC_ADD:
		ck_mr_ok(mr_wg_device_add_peer(want, &k4, &p));
		ck_mr_ok(mr_wg_peer_add_allowed_ip(p, &a));
		break;
	case SC_REMOVE: {
		/* a desired state without peer 3 */
		mr_wg_device *w2;
		mr_wg_peer *q;

		ck_mr_ok(mr_wg_device_new(&w2));
		for (uint32_t i = 0; i < 2; i++) {
			mr_wg_peer *src = mr_wg_device_peer(want, i);
			mr_key k;
			mr_prefix x;

			mr_wg_peer_get_public_key(src, &k);
			ck_mr_ok(mr_wg_device_add_peer(w2, &k, &q));
			for (size_t j = 0; j < mr_wg_peer_allowed_ip_count(src); j++) {
				mr_wg_peer_get_allowed_ip(src, j, &x);
				ck_mr_ok(mr_wg_peer_add_allowed_ip(q, &x));
			}
			if (mr_wg_peer_get_preshared_key(src, &psk) == 0)
				ck_mr_ok(mr_wg_peer_set_preshared_key(q, &psk));
			ck_mr_ok(mr_wg_peer_set_keepalive(q, mr_wg_peer_get_keepalive(src)));
		}
		mr_wg_device_free(want);
		want = w2;
		break;
	}
	case SC_PSK:
		psk = K(2, 6);
		ck_mr_ok(mr_wg_peer_set_preshared_key(mr_wg_device_find_peer(want, &k2), &psk));
		break;
	case SC_AIPS:
		ck_mr_ok(mr_wg_peer_add_allowed_ip(mr_wg_device_find_peer(want, &k3), &b));
		break;
	case SC_ENDPOINT:
		ck_mr_ok(
		    mr_wg_peer_set_endpoint(mr_wg_device_find_peer(want, &k2), "192.0.2.99:1"));
		break;
	case SC_KEEPALIVE:
		ck_mr_ok(mr_wg_peer_set_keepalive(mr_wg_device_find_peer(want, &k1), 0));
		break;
	case SC_PORT:
		ck_mr_ok(mr_wg_device_set_listen_port(want, 51821));
		break;
	case SC_KEY:
		psk = K(8, 8);
		ck_mr_ok(mr_wg_device_set_private_key(want, &psk));
		break;
	case SC_REMOVE_FLAG:
		ck_mr_ok(mr_wg_peer_set_remove(mr_wg_device_find_peer(want, &k2), true));
		break;
	case SC_DRY_RUN:
		ck_mr_ok(mr_wg_peer_set_remove(mr_wg_device_find_peer(want, &k2), true));
		ck_mr_ok(mr_wg_device_add_peer(want, &k4, &p));
		flags = MR_WG_SYNC_DRY_RUN;
		break;
	case SC_PORT_ZERO:
		ck_mr_ok(mr_wg_device_set_listen_port(want, 0));
		break;
	}
	(void)k1;
	memset(&st, 0xff, sizeof(st));
	ck_mr_ok(mr_wg_sync(ctx, "wgsync0", want, flags, &st));
	ck_assert_uint_eq(st.added, sync_table[_i].added);
	ck_assert_uint_eq(st.removed, sync_table[_i].removed);
	ck_assert_uint_eq(st.updated, sync_table[_i].updated);
	ck_assert_uint_eq(st.unchanged, sync_table[_i].unchanged);
	ck_assert_uint_eq(st.device_changed, sync_table[_i].device_changed);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(st.reserved[i], 0);
	log = fake_log(&f);
	if (!sync_table[_i].sent) {
		ck_assert_msg(log[0] == '\0', "sent although nothing changed:\n%s", log);
		ck_assert_uint_eq(st.bytes_sent, 0);
		ck_assert_uint_eq(st.messages, 0);
	} else {
		ck_assert_uint_eq(st.messages, 1);
		ck_assert_uint_eq(st.bytes_sent, strlen(log));
		/* one small update, never a rewrite */
		ck_assert_uint_lt(st.bytes_sent, 300);
		check_parts(log, sync_table[_i].sent, true);
		check_parts(log, sync_table[_i].not_sent, false);
	}
	fake_stop(&f);
	mr_wg_device_free(want);
	mr_ctx_free(ctx);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Starting and stopping a (fake) userspace daemon                           */
/* ------------------------------------------------------------------------ */

/* A stand-in for wireguard-go: checks the environment it was promised, then
 * serves <dir>/<ifname>.sock until SIGTERM, removing it on the way out.
 * MODE=fail exits 3, MODE=hang never creates the socket. */
static const char fake_daemon[] =
    "#!/usr/bin/env python3\n"
    "import os, signal, socket, sys, time\n"
    "d = os.environ['MR_TEST_DIR']; mode = os.environ.get('MR_TEST_MODE', '')\n"
    "if os.environ.get('WG_PROCESS_FOREGROUND') != '1': sys.exit(4)\n"
    "if os.environ.get('WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD') != '1': sys.exit(5)\n"
    "if os.getsid(0) != os.getpid(): sys.exit(6)\n"
    "if mode == 'fail': sys.exit(3)\n"
    "if mode == 'hang': time.sleep(60); sys.exit(0)\n"
    "time.sleep(0.2)\n"
    "p = os.path.join(d, sys.argv[1] + '.sock')\n"
    "s = socket.socket(socket.AF_UNIX); s.bind(p); s.listen(4)\n"
    "def bye(*a):\n"
    "    os.unlink(p); sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, bye)\n"
    "if mode == 'stubborn': signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "while True:\n"
    "    c, _ = s.accept(); c.close()\n";

static const struct {
	const char *mode;
	int rc;
	const char *detail;
} start_table[] = {
    {"", 0, NULL},
    {"stubborn", 0, NULL},
    {"fail", MR_ESYS, "exited at start with status 3"},
    {"hang", MR_ETIMEOUT, "no control socket"},
    {"missing", MR_ENOTFOUND, "No such file"},
};

START_TEST(test_start_stop)
{
	char dir[] = "/tmp/mr-wg-start.XXXXXX", prog[128], sock[128];
	mr_ctx *ctx;
	pid_t pid = 0;
	FILE *f;

	if (access("/usr/bin/python3", X_OK) != 0 && access("/usr/bin/env", X_OK) != 0) {
		fprintf(stderr, "check_wg: NO python3: start/stop test not run\n");
		return;
	}
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(prog, sizeof(prog), "%s/fake-wireguard-go", dir);
	snprintf(sock, sizeof(sock), "%s/wgstart0.sock", dir);
	f = fopen(prog, "w");
	fputs(fake_daemon, f);
	fclose(f);
	chmod(prog, 0755);
	setenv("MR_TEST_DIR", dir, 1);
	setenv("MR_TEST_MODE", start_table[_i].mode, 1);
	/* the daemon must get these whatever the caller's environment says */
	setenv("WG_PROCESS_FOREGROUND", "0", 1);
	ck_mr_ok(mr_ctx_new(&ctx));
	ck_mr_ok(mr_ctx_set_userspace_dir(ctx, dir));
	ck_mr_ok(mr_ctx_set_wireguard_go(ctx, strcmp(start_table[_i].mode, "missing") == 0
						  ? "/nonexistent/wireguard-go"
						  : prog));
	if (start_table[_i].rc) {
		ck_mr_err(mr_wg_start_userspace(ctx, "wgstart0", &pid), start_table[_i].rc);
		ck_assert_msg(strstr(mr_error_message(), start_table[_i].detail) != NULL, "%s",
			      mr_error_message());
		ck_assert_int_eq(pid, 0);
		/* nothing left running or reapable */
		ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	} else {
		ck_mr_ok(mr_wg_start_userspace(ctx, "wgstart0", &pid));
		ck_assert_int_gt(pid, 0);
		ck_assert_int_eq(access(sock, F_OK), 0);
		/* a second start for the same interface is refused */
		ck_mr_err(mr_wg_start_userspace(ctx, "wgstart0", NULL), MR_EEXIST);
		ck_mr_ok(mr_wg_stop_userspace(ctx, "wgstart0", pid));
		/* reaped, and no socket left behind (also when SIGKILL was
		 * needed) */
		ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), -1);
		ck_assert_int_ne(access(sock, F_OK), 0);
		/* stopping again is fine */
		ck_mr_ok(mr_wg_stop_userspace(ctx, "wgstart0", pid));
	}
	unsetenv("WG_PROCESS_FOREGROUND");
	unlink(prog);
	rmdir(dir);
	mr_ctx_free(ctx);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("wg");
	TCase *obj = tcase_create("objects");
	TCase *nl = tcase_create("netlink");
	TCase *uapi = tcase_create("userspace");

	tcase_set_timeout(obj, 60);
	tcase_add_test(obj, test_device_basics);
	tcase_add_loop_test(obj, test_listen_port_and_keepalive, 0, (int)MR_ARRAY_SIZE(port_table));
	tcase_add_loop_test(obj, test_endpoint, 0, (int)MR_ARRAY_SIZE(endpoint_table));
	tcase_add_loop_test(obj, test_allowed_ip, 0, (int)MR_ARRAY_SIZE(aip_table));
	tcase_add_test(obj, test_allowed_ip_bad_fields);
	tcase_add_test(obj, test_peer_fields);
	tcase_add_test(obj, test_many_peers_index);
	tcase_add_test(obj, test_limits);
	tcase_add_loop_test(obj, test_validation_first, 0, (int)MR_ARRAY_SIZE(bad_table));
	tcase_add_test(obj, test_null_arguments);
	suite_add_tcase(s, obj);

	tcase_set_timeout(nl, 60);
	tcase_add_loop_test(nl, test_build_set_split, 0, (int)MR_ARRAY_SIZE(size_table));
	tcase_add_test(nl, test_build_set_small_cases);
	tcase_add_test(nl, test_dump_merge);
	tcase_add_loop_test(nl, test_dump_malformed, 0, (int)MR_ARRAY_SIZE(bad_dump_table));
	suite_add_tcase(s, nl);

	tcase_set_timeout(uapi, 30);
	tcase_add_test(uapi, test_uapi_render);
	tcase_add_test(uapi, test_uapi_parse_get);
	tcase_add_loop_test(uapi, test_uapi_parse_malformed, 0, (int)MR_ARRAY_SIZE(bad_get_table));
	tcase_add_test(uapi, test_fake_get_set);
	tcase_add_test(uapi, test_fake_set_errno);
	tcase_add_loop_test(uapi, test_fake_sync, 0, (int)MR_ARRAY_SIZE(sync_table));
	tcase_add_loop_test(uapi, test_start_stop, 0, (int)MR_ARRAY_SIZE(start_table));
	suite_add_tcase(s, uapi);
	return mr_test_run_suite(s);
}

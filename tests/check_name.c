/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include <myrelay/myrelay.h>
#include <myrelay/name.h>
#include "../libmyrelay/internal.h"
#include "testutil.h"

#define LETTERS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define DIGITS "0123456789"

/* detail NULL: the name is valid. */
static const struct {
	const char *name;
	const char *detail;
} interfaces[] = {
	{ "wg0", NULL },
	{ "wg-abc123", NULL },
	{ "a", NULL },
	{ "Z", NULL },
	{ "9", NULL },
	{ "A_b-9", NULL },
	{ "-", NULL },
	{ "_", NULL },
	{ "eth0", NULL },
	{ "abcdefghijklmno", NULL }, /* 15 bytes */
	{ NULL, "interface name: missing (NULL)" },
	{ "", "interface name: empty" },
	{ "abcdefghijklmnop", "interface name: 16 bytes, at most 15 allowed" },
	{ "a-very-long-interface-name", "interface name: 26 bytes, at most 15 allowed" },
	{ ".", "interface name: \".\" and \"..\" are not allowed" },
	{ "..", "interface name: \".\" and \"..\" are not allowed" },
	{ "wg.0", "interface name: invalid character '.' at position 3" },
	{ "wg 0", "interface name: invalid byte 0x20 at position 3" },
	{ " wg0", "interface name: invalid byte 0x20 at position 1" },
	{ "wg0/", "interface name: invalid character '/' at position 4" },
	{ "wg:0", "interface name: invalid character ':' at position 3" },
	{ "wg%0", "interface name: invalid character '%' at position 3" },
	{ "wg0\n", "interface name: invalid byte 0x0a at position 4" },
	{ "\twg", "interface name: invalid byte 0x09 at position 1" },
	{ "w\xc3\xa9g", "interface name: invalid byte 0xc3 at position 2" }, /* "wég" */
	{ "wg'0", "interface name: invalid byte 0x27 at position 3" },
	{ "wg@0", "interface name: invalid character '@' at position 3" },
	{ "wg\x7f", "interface name: invalid byte 0x7f at position 3" },
};

START_TEST(test_interface)
{
	const char *name = interfaces[_i].name, *detail = interfaces[_i].detail;

	if (!detail) {
		ck_mr_ok(mr_name_validate_interface(name));
		return;
	}
	ck_mr_err(mr_name_validate_interface(name), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), detail);
}
END_TEST

static const struct {
	const char *label;
	const char *detail;
} labels[] = {
	{ "a", NULL },
	{ "A", NULL },
	{ "0", NULL },
	{ "customer-1", NULL },
	{ "alice@example.com", NULL },
	{ "node.eu-west_1", NULL },
	{ "a..b", NULL },
	{ "x-", NULL },
	{ "012345678901234567890123456789012345678901234567890123456789012", NULL }, /* 63 */
	{ NULL, "label: missing (NULL)" },
	{ "", "label: empty" },
	{ "0123456789012345678901234567890123456789012345678901234567890123",
	  "label: 64 bytes, at most 63 allowed" },
	{ ".", "label: invalid character '.' at position 1" },
	{ "..", "label: invalid character '.' at position 1" },
	{ "-a", "label: invalid character '-' at position 1" },
	{ ".a", "label: invalid character '.' at position 1" },
	{ "@a", "label: invalid character '@' at position 1" },
	{ "_a", "label: invalid character '_' at position 1" },
	{ "a b", "label: invalid byte 0x20 at position 2" },
	{ "a/b", "label: invalid character '/' at position 2" },
	{ "ab:", "label: invalid character ':' at position 3" },
	{ "a%b", "label: invalid character '%' at position 2" },
	{ "a+b", "label: invalid character '+' at position 2" },
	{ "a=b", "label: invalid character '=' at position 2" },
	{ "\xc3\xa9t\xc3\xa9", "label: invalid byte 0xc3 at position 1" }, /* "été" */
	{ "caf\xc3\xa9", "label: invalid byte 0xc3 at position 4" },
	{ "a\n", "label: invalid byte 0x0a at position 2" },
	{ "a\r", "label: invalid byte 0x0d at position 2" },
	{ "a\"b", "label: invalid character '\"' at position 2" },
	{ "a'b", "label: invalid byte 0x27 at position 2" },
};

START_TEST(test_label)
{
	const char *label = labels[_i].label, *detail = labels[_i].detail;

	if (!detail) {
		ck_mr_ok(mr_name_validate_label(label));
		return;
	}
	ck_mr_err(mr_name_validate_label(label), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), detail);
}
END_TEST

/* Every byte value, in the middle and first, against the rules written out
 * as plain character lists. */
START_TEST(test_every_byte)
{
	const char c = (char)_i;
	char mid[4] = { 'a', c, 'b', '\0' }, first[3] = { c, 'b', '\0' };
	bool in_ifname = c != 0 && strchr(LETTERS DIGITS "_-", c) != NULL;
	bool in_label_first = c != 0 && strchr(LETTERS DIGITS, c) != NULL;
	bool in_label = c != 0 && strchr(LETTERS DIGITS "._@-", c) != NULL;

	if (c == 0)
		return;
	ck_assert_int_eq(mr_name_validate_interface(mid), in_ifname ? 0 : MR_EINVAL);
	ck_assert_int_eq(mr_name_validate_interface(first), in_ifname ? 0 : MR_EINVAL);
	ck_assert_int_eq(mr_name_validate_label(mid), in_label ? 0 : MR_EINVAL);
	ck_assert_int_eq(mr_name_validate_label(first), in_label_first ? 0 : MR_EINVAL);
}
END_TEST

/* Expected names computed with Python:
 * hashlib.sha256(pod_id.encode()).hexdigest()[:6] */
static const struct {
	const char *pod_id;
	const char *name;
} pods[] = {
	{ "abc", "wg-ba7816" }, /* the FIPS 180-2 "abc" vector: ba7816bf... */
	{ "pod-1", "wg-0f0668" },
	{ "customer.example@x", "wg-117b10" },
	{ "0", "wg-5feceb" },
	{ "a", "wg-ca9781" },
};

START_TEST(test_pod_interface)
{
	char out[MR_NAME_IFNAMSIZ], again[MR_NAME_IFNAMSIZ + 4];

	ck_mr_ok(mr_name_pod_interface(out, sizeof(out), pods[_i].pod_id));
	ck_assert_str_eq(out, pods[_i].name);
	ck_assert(mr_name_is_pod_interface(out));
	ck_mr_ok(mr_name_validate_interface(out));
	ck_mr_ok(mr_name_pod_interface(again, sizeof(again), pods[_i].pod_id));
	ck_assert_str_eq(again, out);
}
END_TEST

static const struct {
	const char *pod_id;
	const char *detail;
} bad_pods[] = {
	{ NULL, "pod id: missing (NULL)" },
	{ "", "pod id: empty" },
	{ "-x", "pod id: invalid character '-' at position 1" },
	{ "a b", "pod id: invalid byte 0x20 at position 2" },
	{ "../etc", "pod id: invalid character '.' at position 1" },
	{ "0123456789012345678901234567890123456789012345678901234567890123",
	  "pod id: 64 bytes, at most 63 allowed" },
};

START_TEST(test_pod_interface_bad_id)
{
	char out[MR_NAME_IFNAMSIZ];

	memset(out, '#', sizeof(out));
	ck_mr_err(mr_name_pod_interface(out, sizeof(out), bad_pods[_i].pod_id), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), bad_pods[_i].detail);
	for (size_t i = 0; i < sizeof(out); i++)
		ck_assert_int_eq(out[i], '#');
}
END_TEST

START_TEST(test_pod_interface_buffer)
{
	char out[MR_NAME_IFNAMSIZ];

	memset(out, '#', sizeof(out));
	ck_mr_err(mr_name_pod_interface(out, MR_NAME_IFNAMSIZ - 1, "pod-1"), MR_ETOOBIG);
	ck_mr_err(mr_name_pod_interface(out, 0, "pod-1"), MR_ETOOBIG);
	for (size_t i = 0; i < sizeof(out); i++)
		ck_assert_int_eq(out[i], '#');
	ck_mr_err(mr_name_pod_interface(NULL, sizeof(out), "pod-1"), MR_EINVAL);
}
END_TEST

static const struct {
	const char *name;
	bool is_pod;
} pod_names[] = {
	{ "wg-000000", true },	{ "wg-abcdef", true },	 { "wg-123abc", true },
	{ "wg-ba7816", true },	{ NULL, false },	 { "", false },
	{ "wg-", false },	{ "wg-ABCDEF", false },	 { "wg-abcde", false },
	{ "wg-abcdefa", false }, { "wg_abcdef", false }, { "WG-abcdef", false },
	{ "xg-abcdef", false },	{ "wg-abcdeg", false },	 { "wg-abcde\n", false },
	{ "wg-abc de", false },	{ "wg0", false },	 { "wg--abcde", false },
	{ " wg-abcdef", false }, { "wg-abcdef ", false },
};

START_TEST(test_is_pod_interface)
{
	ck_assert_msg(mr_name_is_pod_interface(pod_names[_i].name) == pod_names[_i].is_pod,
		      "%s", pod_names[_i].name ? pod_names[_i].name : "(NULL)");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("name");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_interface, 0, (int)MR_ARRAY_SIZE(interfaces));
	tcase_add_loop_test(tc, test_label, 0, (int)MR_ARRAY_SIZE(labels));
	tcase_add_loop_test(tc, test_every_byte, 0, 256);
	tcase_add_loop_test(tc, test_pod_interface, 0, (int)MR_ARRAY_SIZE(pods));
	tcase_add_loop_test(tc, test_pod_interface_bad_id, 0, (int)MR_ARRAY_SIZE(bad_pods));
	tcase_add_test(tc, test_pod_interface_buffer);
	tcase_add_loop_test(tc, test_is_pod_interface, 0, (int)MR_ARRAY_SIZE(pod_names));
	suite_add_tcase(s, tc);
	return mr_test_run_suite(s);
}

/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <myrelay/myrelay.h>
#include "../libmyrelay/internal.h"
#include "testutil.h"

/* Every code from MR_OK down to MR_ELAST+1 has a distinct name and text. */
START_TEST(test_codes_named)
{
	int code = -_i;
	const char *name = mr_error_name(code);
	const char *text = mr_strerror(code);

	ck_assert_str_ne(name, "unknown");
	ck_assert_str_ne(text, "unknown error");
	for (int other = 0; other > MR_ELAST; other--) {
		if (other == code)
			continue;
		ck_assert_str_ne(name, mr_error_name(other));
		ck_assert_str_ne(text, mr_strerror(other));
	}
}
END_TEST

START_TEST(test_unknown_codes)
{
	ck_assert_str_eq(mr_strerror(MR_ELAST), "unknown error");
	ck_assert_str_eq(mr_strerror(12345), "unknown error");
	ck_assert_str_eq(mr_error_name(-999), "unknown");
}
END_TEST

/* The append-only contract: these numbers are ABI and must never move. */
START_TEST(test_codes_stable)
{
	ck_assert_int_eq(MR_EINVAL, -1);
	ck_assert_int_eq(MR_ENOMEM, -2);
	ck_assert_int_eq(MR_ENOTFOUND, -3);
	ck_assert_int_eq(MR_EEXIST, -4);
	ck_assert_int_eq(MR_EPERM, -5);
	ck_assert_int_eq(MR_EAUTH, -6);
	ck_assert_int_eq(MR_ETOOBIG, -7);
	ck_assert_int_eq(MR_ERATELIMIT, -8);
	ck_assert_int_eq(MR_EEXHAUSTED, -9);
	ck_assert_int_eq(MR_EIO, -10);
	ck_assert_int_eq(MR_ESYS, -11);
	ck_assert_int_eq(MR_ECRYPTO, -12);
	ck_assert_int_eq(MR_ENOTSUP, -13);
	ck_assert_int_eq(MR_EKERNEL, -14);
	ck_assert_int_eq(MR_EDB, -15);
	ck_assert_int_eq(MR_ETIMEOUT, -16);
	ck_assert_int_eq(MR_ECONFLICT, -17);
	ck_assert_int_eq(MR_EINTEGRITY, -18);
	ck_assert_int_eq(MR_ENETWORK, -19);
}
END_TEST

START_TEST(test_message_set_and_clear)
{
	mr_error_clear();
	ck_assert_str_eq(mr_error_message(), "");
	ck_assert_int_eq(mr_error_last(), 0);
	ck_assert_int_eq(mr__error_set(MR_EINVAL, "field %s: bad", "name"), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), "field name: bad");
	ck_assert_int_eq(mr_error_last(), MR_EINVAL);
	mr_error_clear();
	ck_assert_str_eq(mr_error_message(), "");
}
END_TEST

START_TEST(test_message_truncates)
{
	char big[2048];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mr__error_set(MR_EINVAL, "%s", big);
	ck_assert_uint_lt(strlen(mr_error_message()), sizeof(big));
	ck_assert_uint_gt(strlen(mr_error_message()), 100);
}
END_TEST

static const struct {
	int err;
	int code;
} errno_table[] = {
	{ EINVAL, MR_EINVAL },	   { -EINVAL, MR_EINVAL },   { ENOMEM, MR_ENOMEM },
	{ ENOENT, MR_ENOTFOUND },  { -ENODEV, MR_ENOTFOUND }, { EEXIST, MR_EEXIST },
	{ EPERM, MR_EPERM },	   { -EACCES, MR_EPERM },     { EMSGSIZE, MR_ETOOBIG },
	{ ETIMEDOUT, MR_ETIMEOUT }, { EOPNOTSUPP, MR_ENOTSUP }, { ENOSPC, MR_EIO },
	{ ECONNREFUSED, MR_ENETWORK }, { EBUSY, MR_ECONFLICT }, { ELOOP, MR_ESYS },
	{ 0, MR_OK },
};

START_TEST(test_errno_map)
{
	ck_assert_int_eq(mr__errno_to_code(errno_table[_i].err), errno_table[_i].code);
}
END_TEST

START_TEST(test_error_sys)
{
	int rc = mr__error_sys(-ENOENT, "open %s", "/nonexistent");
	ck_assert_int_eq(rc, MR_ENOTFOUND);
	ck_assert_str_eq(mr_error_message(), "open /nonexistent: No such file or directory");
}
END_TEST

static void *thread_main(void *arg)
{
	(void)arg;
	/* A fresh thread starts without a message and its own doesn't leak. */
	if (mr_error_message()[0] != '\0')
		return (void *)1;
	mr__error_set(MR_EIO, "thread detail");
	return NULL;
}

START_TEST(test_thread_local)
{
	pthread_t t;
	void *res;

	mr__error_set(MR_EINVAL, "main detail");
	ck_assert_int_eq(pthread_create(&t, NULL, thread_main, NULL), 0);
	ck_assert_int_eq(pthread_join(t, &res), 0);
	ck_assert_ptr_null(res);
	ck_assert_str_eq(mr_error_message(), "main detail");
	ck_assert_int_eq(mr_error_last(), MR_EINVAL);
}
END_TEST

START_TEST(test_version)
{
	ck_assert_str_eq(mr_version(), MR_VERSION_STRING);
	ck_assert_uint_eq(mr_version_number(), MR_VERSION_NUM);
}
END_TEST

START_TEST(test_ct_memcmp_and_wipe)
{
	unsigned char a[32], b[32];
	memset(a, 7, sizeof(a));
	memcpy(b, a, sizeof(b));
	ck_assert_int_eq(mr__ct_memcmp(a, b, sizeof(a)), 0);
	b[31] ^= 1;
	ck_assert_int_ne(mr__ct_memcmp(a, b, sizeof(a)), 0);
	mr__wipe(a, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		ck_assert_uint_eq(a[i], 0);
	mr_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("error");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_codes_named, 0, -MR_ELAST);
	tcase_add_test(tc, test_unknown_codes);
	tcase_add_test(tc, test_codes_stable);
	tcase_add_test(tc, test_message_set_and_clear);
	tcase_add_test(tc, test_message_truncates);
	tcase_add_loop_test(tc, test_errno_map, 0, (int)MR_ARRAY_SIZE(errno_table));
	tcase_add_test(tc, test_error_sys);
	tcase_add_test(tc, test_thread_local);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_ct_memcmp_and_wipe);
	suite_add_tcase(s, tc);
	return mr_test_run_suite(s);
}

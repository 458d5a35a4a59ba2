/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the Check suites. */
#ifndef MYRELAY_TESTUTIL_H
#define MYRELAY_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <myrelay/error.h>

/* Assert that an mr_* call returns 0, printing the library's detail if not. */
#define ck_mr_ok(expr)                                                              \
	do {                                                                        \
		int ck_mr_rc_ = (expr);                                             \
		ck_assert_msg(ck_mr_rc_ == 0, "%s failed: %d (%s): %s", #expr,      \
			      ck_mr_rc_, mr_strerror(ck_mr_rc_), mr_error_message()); \
	} while (0)

/* Assert that an mr_* call fails with the given code and leaves a detail. */
#define ck_mr_err(expr, code)                                                         \
	do {                                                                          \
		int ck_mr_rc_ = (expr);                                               \
		ck_assert_msg(ck_mr_rc_ == (code), "%s returned %d (%s), wanted %d",  \
			      #expr, ck_mr_rc_, mr_error_message(), (code));          \
		ck_assert_msg(mr_error_message()[0] != '\0', "%s: no error detail", \
			      #expr);                                                 \
	} while (0)

/* Run one suite and return an exit status for automake. */
static inline int mr_test_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif

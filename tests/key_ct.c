/* SPDX-License-Identifier: MIT */
/*
 * Helper of tests/key-ct.sh: constant-time check of the key module under
 * valgrind's memcheck (the "ctgrind" technique). Secret bytes are marked
 * undefined; memcheck then reports every branch and every memory address
 * that depends on them. The only such places allowed are the public length
 * (strlen) and the final valid/invalid verdict, listed in key-ct.supp.
 * Covered: base64 encode and decode, equal, is_zero, and public key
 * derivation (our code and OpenSSL's X25519).
 *
 *   key_ct          run the checks; valgrind must report no error
 *   key_ct control  a table-lookup encoder: valgrind must report errors,
 *                   which shows that the harness can see a leak
 */
#include <stdio.h>
#include <string.h>

#include <myrelay/key.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

#ifndef HAVE_MEMCHECK
int main(void)
{
	puts("key_ct: built without <valgrind/memcheck.h>");
	return 77;
}
#else

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))

static int failures;

static void expect(int cond, const char *what)
{
	if (!cond) {
		printf("FAIL: %s\n", what);
		failures++;
	}
}

/* Every byte value in every position, and some fixed keys. */
static void fill(mr_key *k, int round)
{
	for (int i = 0; i < MR_KEY_LEN; i++)
		k->bytes[i] = (uint8_t)(round * 31 + i * 17 + (round >> 3) * i);
}

static void check_round_trip(int round)
{
	mr_key k, back;
	char text[MR_KEY_BASE64_SIZE];
	volatile bool r;
	int rc;

	fill(&k, round);
	SECRET(&k, sizeof(k));
	rc = mr_key_to_base64(text, sizeof(text), &k);
	expect(rc == 0, "encode");
	PUBLIC(&k, sizeof(k));
	/* The text is as secret as the key; only its terminator is public. */
	SECRET(text, MR_KEY_BASE64_LEN);
	rc = mr_key_from_base64(&back, text);
	expect(rc == 0, "decode");
	PUBLIC(&back, sizeof(back));
	PUBLIC(text, sizeof(text));
	expect(memcmp(&back, &k, sizeof(k)) == 0, "round trip");

	SECRET(&k, sizeof(k));
	SECRET(&back, sizeof(back));
	r = mr_key_equal(&k, &back);
	PUBLIC((void *)&r, sizeof(r));
	expect(r, "equal");
	r = mr_key_is_zero(&k);
	PUBLIC((void *)&r, sizeof(r));
	expect(!r, "not zero");
	mr_key_wipe(&back);

	/* The whole derivation, OpenSSL's X25519 included. */
	if (round % 10 == 0) {
		SECRET(&k, sizeof(k));
		rc = mr_key_public_from_private(&back, &k);
		expect(rc == 0, "public key");
	}
	mr_key_wipe(&k);
}

/* Refused texts: only the verdict may depend on the characters. */
static void check_refused(void)
{
	static const char *const bad[] = {
	    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp=",
	    "dwdtCnMYpX08-sFyUbJmRd9ML4frwJkqsXf7pR25LCo=",
	    "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCoA",
	};
	char text[MR_KEY_BASE64_SIZE];
	mr_key k;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(text, bad[i], sizeof(text));
		SECRET(text, MR_KEY_BASE64_LEN);
		expect(mr_key_from_base64(&k, text) < 0, "refused");
	}
}

static void control(void)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	mr_key k;
	char c;

	fill(&k, 5);
	SECRET(&k, sizeof(k));
	c = alphabet[k.bytes[0] >> 2]; /* an index made of secret bits */
	PUBLIC(&c, 1);
	printf("control: %c\n", c);
}

int main(int argc, char **argv)
{
	if (!RUNNING_ON_VALGRIND) {
		puts("key_ct: must run under valgrind");
		return 2;
	}
	if (argc > 1 && strcmp(argv[1], "control") == 0) {
		control();
		return 0;
	}
	for (int round = 0; round < 300; round++)
		check_round_trip(round);
	check_refused();
	printf("key_ct: %d failure(s), %u valgrind error(s)\n", failures, VALGRIND_COUNT_ERRORS);
	return failures ? 1 : 0;
}
#endif

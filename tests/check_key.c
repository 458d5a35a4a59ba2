/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include <myrelay/myrelay.h>
#include <myrelay/key.h>
#include "../libmyrelay/internal.h"
#include "testutil.h"

static void from_hex(mr_key *k, const char *hex)
{
	ck_assert_uint_eq(strlen(hex), 2 * MR_KEY_LEN);
	for (size_t i = 0; i < MR_KEY_LEN; i++) {
		unsigned int b;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &b), 1);
		k->bytes[i] = (uint8_t)b;
	}
}

/* A plain table-driven encoder, independent of the library's mask arithmetic,
 * as the reference for the encoder and the decoder. */
static void ref_base64(char out[MR_KEY_BASE64_SIZE], const mr_key *k)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *b = k->bytes;
	size_t o = 0;

	for (size_t i = 0; i < 30; i += 3) {
		out[o++] = alphabet[b[i] >> 2];
		out[o++] = alphabet[((b[i] & 3) << 4) | (b[i + 1] >> 4)];
		out[o++] = alphabet[((b[i + 1] & 15) << 2) | (b[i + 2] >> 6)];
		out[o++] = alphabet[b[i + 2] & 63];
	}
	out[o++] = alphabet[b[30] >> 2];
	out[o++] = alphabet[((b[30] & 3) << 4) | (b[31] >> 4)];
	out[o++] = alphabet[(b[31] & 15) << 2];
	out[o++] = '=';
	out[o] = '\0';
}

/* RFC 7748 section 6.1 (Alice, Bob) and section 5.2 (one iteration of the
 * k = u = 9 ladder, which is the public key of the scalar 9). The private
 * values are raw scalars: X25519 clamps them itself. */
static const struct {
	const char *priv_hex, *pub_hex, *priv_b64, *pub_b64;
} rfc_vectors[] = {
	{ "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	  "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
	  "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=",
	  "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=" },
	{ "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
	  "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
	  "XasIfmJKikt54X+Lg4AO5m87sSkmGLb9HC+LJ/+I4Os=",
	  "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=" },
	{ "0900000000000000000000000000000000000000000000000000000000000000",
	  "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
	  "CQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	  "QiyOemIn17yhNQs+K7cnn3iXuHu2hUt4PGDoAxGuMHk=" },
};

START_TEST(test_rfc7748)
{
	mr_key priv, pub, expect, dec;
	char b64[MR_KEY_BASE64_SIZE];

	from_hex(&priv, rfc_vectors[_i].priv_hex);
	from_hex(&expect, rfc_vectors[_i].pub_hex);
	ck_mr_ok(mr_key_public_from_private(&pub, &priv));
	ck_assert_mem_eq(pub.bytes, expect.bytes, MR_KEY_LEN);
	ck_assert(mr_key_equal(&pub, &expect));

	ck_mr_ok(mr_key_to_base64(b64, sizeof(b64), &priv));
	ck_assert_str_eq(b64, rfc_vectors[_i].priv_b64);
	ck_mr_ok(mr_key_to_base64(b64, sizeof(b64), &pub));
	ck_assert_str_eq(b64, rfc_vectors[_i].pub_b64);

	ck_mr_ok(mr_key_from_base64(&dec, rfc_vectors[_i].priv_b64));
	ck_assert(mr_key_equal(&dec, &priv));
	ck_mr_ok(mr_key_public_from_base64(&dec, rfc_vectors[_i].pub_b64));
	ck_assert(mr_key_equal(&dec, &pub));
	ck_mr_ok(mr_key_validate_public(rfc_vectors[_i].pub_b64));

	/* out may alias the private key. */
	ck_mr_ok(mr_key_public_from_private(&priv, &priv));
	ck_assert(mr_key_equal(&priv, &expect));
}
END_TEST

/* Clamping is X25519's: a scalar and its clamped form give the same key. */
START_TEST(test_public_clamps)
{
	mr_key raw, clamped, p1, p2;

	for (size_t i = 0; i < MR_KEY_LEN; i++)
		raw.bytes[i] = (uint8_t)(0xff - i);
	clamped = raw;
	clamped.bytes[0] &= 248;
	clamped.bytes[31] &= 127;
	clamped.bytes[31] |= 64;
	ck_mr_ok(mr_key_public_from_private(&p1, &raw));
	ck_mr_ok(mr_key_public_from_private(&p2, &clamped));
	ck_assert(mr_key_equal(&p1, &p2));
	ck_assert(!mr_key_is_zero(&p1));
}
END_TEST

/* Keys of every byte value, and one byte varying against a background, both
 * ways through base64 against the reference encoder. */
START_TEST(test_base64_round_trip)
{
	mr_key k, back;
	char ours[MR_KEY_BASE64_SIZE], ref[MR_KEY_BASE64_SIZE];

	for (int pos = -1; pos < MR_KEY_LEN; pos++) {
		memset(k.bytes, pos < 0 ? _i : 0x5a, sizeof(k.bytes));
		if (pos >= 0)
			k.bytes[pos] = (uint8_t)_i;
		memset(ours, 'X', sizeof(ours));
		ck_mr_ok(mr_key_to_base64(ours, sizeof(ours), &k));
		ref_base64(ref, &k);
		ck_assert_str_eq(ours, ref);
		ck_assert_uint_eq(strlen(ours), MR_KEY_BASE64_LEN);
		ck_mr_ok(mr_key_from_base64(&back, ours));
		ck_assert_mem_eq(back.bytes, k.bytes, MR_KEY_LEN);
	}
}
END_TEST

START_TEST(test_base64_random)
{
	mr_key k, back;
	char ours[MR_KEY_BASE64_SIZE], ref[MR_KEY_BASE64_SIZE];

	for (int n = 0; n < 2000; n++) {
		ck_mr_ok(mr__random(k.bytes, sizeof(k.bytes)));
		ck_mr_ok(mr_key_to_base64(ours, sizeof(ours), &k));
		ref_base64(ref, &k);
		ck_assert_str_eq(ours, ref);
		ck_mr_ok(mr_key_from_base64(&back, ref));
		ck_assert(mr_key_equal(&back, &k));
	}
}
END_TEST

#define VALID "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
#define ZERO "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

/* Every text here is refused by mr_key_from_base64 and by the public-key
 * functions, with this detail after the "key: " / "public key: " prefix. */
static const struct {
	const char *text;
	const char *detail;
} bad_keys[] = {
	{ "", "expected 44 characters, got 0" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo", "expected 44 characters, got 43" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo==", "expected 44 characters, got 45" },
	{ VALID "A", "expected 44 characters, got 45" },
	{ " " VALID, "expected 44 characters, got 45" },
	{ VALID "\n", "expected 44 characters, got 45" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC==", "invalid base64" },   /* two pads */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCoA", "invalid base64" },   /* no pad */
	{ "=dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo", "invalid base64" },   /* pad first */
	{ "dwdtCnMYpX08FsFyUbJmR=9ML4frwJkqsXf7pR25LCo=", "invalid base64" },   /* pad inside */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC=o", "invalid base64" },   /* pad swapped */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo.", "invalid base64" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo ", "invalid base64" },
	{ "dwdtCnMYpX08-sFyUbJmRd9ML4frwJkqsXf7pR25LCo=", "invalid base64" },   /* URL-safe */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L_o=", "invalid base64" },   /* URL-safe */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25 Co=", "invalid base64" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25\tCo=", "invalid base64" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC\x80=", "invalid base64" },
	{ "\xff" "wdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=", "invalid base64" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC:=", "invalid base64" },    /* '9'+1 */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC@=", "invalid base64" },    /* 'A'-1 */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC[=", "invalid base64" },    /* 'Z'+1 */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC`=", "invalid base64" },    /* 'a'-1 */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC{=", "invalid base64" },    /* 'z'+1 */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC,=", "invalid base64" },    /* '+'+1 */
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC*=", "invalid base64" },    /* '+'-1 */
	/* the last data character carries 4 bits and 2 that must be zero */
	{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", "not canonical" },
	{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAC=", "not canonical" },
	{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD=", "not canonical" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp=", "not canonical" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC/=", "not canonical" },
	{ "//////////////////////////////////////////9=", "not canonical" },
};

static void assert_no_key_text(const char *text)
{
	const char *msg = mr_error_message();
	size_t len = strlen(text);
	char window[9];

	/* No run of 8 characters of the input may show up in the detail. */
	for (size_t i = 0; i + 8 <= len; i++) {
		memcpy(window, text + i, 8);
		window[8] = '\0';
		ck_assert_msg(strstr(msg, window) == NULL, "detail \"%s\" quotes the key", msg);
	}
}

START_TEST(test_bad_encodings)
{
	const char *text = bad_keys[_i].text;
	char want[128];
	mr_key out;

	memset(&out, 0xa5, sizeof(out));
	ck_mr_err(mr_key_from_base64(&out, text), MR_EINVAL);
	snprintf(want, sizeof(want), "key: %s", bad_keys[_i].detail);
	ck_assert_str_eq(mr_error_message(), want);
	assert_no_key_text(text);
	for (size_t i = 0; i < MR_KEY_LEN; i++)
		ck_assert_uint_eq(out.bytes[i], 0xa5); /* untouched on failure */

	snprintf(want, sizeof(want), "public key: %s", bad_keys[_i].detail);
	ck_mr_err(mr_key_public_from_base64(&out, text), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), want);
	ck_mr_err(mr_key_validate_public(text), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), want);
	assert_no_key_text(text);
}
END_TEST

/* The canonical last characters with zero low bits: every one of the 16. */
START_TEST(test_canonical_last_chars)
{
	static const char canon[] = "AEIMQUYcgkosw048";
	char text[MR_KEY_BASE64_SIZE], again[MR_KEY_BASE64_SIZE];
	mr_key k;

	memcpy(text, ZERO, sizeof(text));
	text[42] = canon[_i];
	ck_mr_ok(mr_key_from_base64(&k, text));
	ck_assert_uint_eq(k.bytes[31], (unsigned)_i);
	ck_mr_ok(mr_key_to_base64(again, sizeof(again), &k));
	ck_assert_str_eq(again, text);
}
END_TEST

START_TEST(test_embedded_nul)
{
	char text[MR_KEY_BASE64_SIZE];
	mr_key k;

	memcpy(text, VALID, sizeof(text));
	text[10] = '\0';
	ck_mr_err(mr_key_from_base64(&k, text), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), "key: expected 44 characters, got 10");
}
END_TEST

START_TEST(test_zero_keys)
{
	mr_key k, pub;
	char text[MR_KEY_BASE64_SIZE];

	/* A zero private or preshared key is a value like any other... */
	memset(&k, 0xee, sizeof(k));
	ck_mr_ok(mr_key_from_base64(&k, ZERO));
	ck_assert(mr_key_is_zero(&k));
	ck_mr_ok(mr_key_to_base64(text, sizeof(text), &k));
	ck_assert_str_eq(text, ZERO);
	ck_mr_ok(mr_key_public_from_private(&pub, &k));
	ck_assert(!mr_key_is_zero(&pub));
	/* ...but no peer can have the zero public key. */
	memset(&k, 0xee, sizeof(k));
	ck_mr_err(mr_key_public_from_base64(&k, ZERO), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), "public key: all zeros");
	ck_assert_uint_eq(k.bytes[0], 0xee);
	ck_mr_err(mr_key_validate_public(ZERO), MR_EINVAL);
	ck_assert_str_eq(mr_error_message(), "public key: all zeros");
}
END_TEST

START_TEST(test_null_arguments)
{
	mr_key k = { { 0 } };
	char text[MR_KEY_BASE64_SIZE];

	ck_mr_err(mr_key_generate_private(NULL), MR_EINVAL);
	ck_mr_err(mr_key_generate_preshared(NULL), MR_EINVAL);
	ck_mr_err(mr_key_public_from_private(NULL, &k), MR_EINVAL);
	ck_mr_err(mr_key_public_from_private(&k, NULL), MR_EINVAL);
	ck_mr_err(mr_key_to_base64(NULL, sizeof(text), &k), MR_EINVAL);
	ck_mr_err(mr_key_to_base64(text, sizeof(text), NULL), MR_EINVAL);
	ck_mr_err(mr_key_from_base64(NULL, VALID), MR_EINVAL);
	ck_mr_err(mr_key_from_base64(&k, NULL), MR_EINVAL);
	ck_mr_err(mr_key_public_from_base64(NULL, VALID), MR_EINVAL);
	ck_mr_err(mr_key_public_from_base64(&k, NULL), MR_EINVAL);
	ck_mr_err(mr_key_validate_public(NULL), MR_EINVAL);
	ck_assert(mr_key_is_zero(NULL));
	ck_assert(!mr_key_equal(NULL, &k));
	ck_assert(!mr_key_equal(&k, NULL));
	ck_assert(!mr_key_equal(NULL, NULL));
	mr_key_wipe(NULL);
}
END_TEST

START_TEST(test_to_base64_buffer_size)
{
	mr_key k;
	char text[MR_KEY_BASE64_SIZE + 8];

	memset(&k, 0x11, sizeof(k));
	memset(text, '#', sizeof(text));
	ck_mr_err(mr_key_to_base64(text, MR_KEY_BASE64_SIZE - 1, &k), MR_ETOOBIG);
	ck_mr_err(mr_key_to_base64(text, 0, &k), MR_ETOOBIG);
	for (size_t i = 0; i < sizeof(text); i++)
		ck_assert_int_eq(text[i], '#');
	ck_mr_ok(mr_key_to_base64(text, MR_KEY_BASE64_SIZE, &k));
	ck_assert_uint_eq(strlen(text), MR_KEY_BASE64_LEN);
	ck_assert_int_eq(text[MR_KEY_BASE64_SIZE], '#');
}
END_TEST

#define N_GENERATED 64

START_TEST(test_generate_private)
{
	mr_key keys[N_GENERATED], pub;
	char text[MR_KEY_BASE64_SIZE];

	for (int i = 0; i < N_GENERATED; i++) {
		ck_mr_ok(mr_key_generate_private(&keys[i]));
		ck_assert_uint_eq(keys[i].bytes[0] & 7, 0);
		ck_assert_uint_eq(keys[i].bytes[31] & 0xc0, 0x40);
		for (int j = 0; j < i; j++)
			ck_assert(!mr_key_equal(&keys[i], &keys[j]));
		ck_mr_ok(mr_key_public_from_private(&pub, &keys[i]));
		ck_mr_ok(mr_key_to_base64(text, sizeof(text), &pub));
		ck_mr_ok(mr_key_validate_public(text));
	}
	for (int i = 0; i < N_GENERATED; i++)
		mr_key_wipe(&keys[i]);
}
END_TEST

START_TEST(test_generate_preshared)
{
	mr_key keys[N_GENERATED];
	unsigned int low_bits = 0, high_bits = 0;

	for (int i = 0; i < N_GENERATED; i++) {
		ck_mr_ok(mr_key_generate_preshared(&keys[i]));
		ck_assert(!mr_key_is_zero(&keys[i]));
		low_bits |= keys[i].bytes[0] & 7;
		high_bits |= keys[i].bytes[31] & 0x80;
		for (int j = 0; j < i; j++)
			ck_assert(!mr_key_equal(&keys[i], &keys[j]));
	}
	/* Not clamped: over 64 keys these bits come up set (p = 1 - 2^-64). */
	ck_assert_uint_ne(low_bits, 0);
	ck_assert_uint_ne(high_bits, 0);
	for (int i = 0; i < N_GENERATED; i++)
		mr_key_wipe(&keys[i]);
}
END_TEST

/* One bit anywhere makes a key non-zero and different from another. */
START_TEST(test_is_zero_and_equal)
{
	mr_key zero = { { 0 } }, k = { { 0 } };

	k.bytes[_i / 8] = (uint8_t)(1u << (_i % 8));
	ck_assert(mr_key_is_zero(&zero));
	ck_assert(!mr_key_is_zero(&k));
	ck_assert(!mr_key_equal(&zero, &k));
	ck_assert(mr_key_equal(&k, &k));
	mr_key_wipe(&k);
	ck_assert(mr_key_is_zero(&k));
	ck_assert(mr_key_equal(&zero, &k));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("key");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_rfc7748, 0, (int)MR_ARRAY_SIZE(rfc_vectors));
	tcase_add_test(tc, test_public_clamps);
	tcase_add_loop_test(tc, test_base64_round_trip, 0, 256);
	tcase_add_test(tc, test_base64_random);
	tcase_add_loop_test(tc, test_bad_encodings, 0, (int)MR_ARRAY_SIZE(bad_keys));
	tcase_add_loop_test(tc, test_canonical_last_chars, 0, 16);
	tcase_add_test(tc, test_embedded_nul);
	tcase_add_test(tc, test_zero_keys);
	tcase_add_test(tc, test_null_arguments);
	tcase_add_test(tc, test_to_base64_buffer_size);
	tcase_add_test(tc, test_generate_private);
	tcase_add_test(tc, test_generate_preshared);
	tcase_add_loop_test(tc, test_is_zero_and_equal, 0, MR_KEY_LEN * 8);
	suite_add_tcase(s, tc);
	return mr_test_run_suite(s);
}

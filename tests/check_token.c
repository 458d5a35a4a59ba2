/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>

#include <openssl/evp.h>

#include <myrelay/myrelay.h>
#include "../libmyrelay/internal.h"
#include "testutil.h"

#define ALPHABET "abcdefghijklmnopqrstuvwxyz234567"
#define BODY_LEN 73
#define SECRET_OFF 21
#define SECRET_LEN 52
#define MSG_CHECKSUM "token: checksum mismatch (typo or truncated?)"
#define MSG_PREFIX "token: unknown prefix (expected mra_, mrn_ or mrp_)"

/*
 * Known answers computed outside the library (Python's base64.b32encode,
 * hashlib.sha256 and a CRC-30/CDMA written from the CRC catalogue's
 * parameters): id bytes 01..0a with secret bytes 00..1f, and id of zeros with
 * a secret of 0xff bytes.
 */
static const struct {
	const char *text;
	int kind;
	const char *id;
	const char *hash_hex;
} kat[] = {
	{ "mra_aebagbafaydqqcik_aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq2ni3sc",
	  MR_TOKEN_ADMIN, "aebagbafaydqqcik",
	  "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd" },
	{ "mrp_aaaaaaaaaaaaaaaa_777777777777777777777777777777777777777777777777777qftuw4k",
	  MR_TOKEN_POD, "aaaaaaaaaaaaaaaa",
	  "af9613760f72635fbdb44a5a0a63c39f12af30f950a6ee5c971be188e89c4051" },
};

#define SAMPLE (kat[0].text)

/* Check's ck_assert_* record their location on every call (a write to a
 * temporary file, slow under ASan); the loops below make tens of thousands of
 * checks, so there only a failure calls into Check. */
#define expect(cond, ...)                          \
	do {                                       \
		if (!(cond))                       \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

/* --- independent reference implementations (plain, branching code) --- */

static uint32_t ref_crc30(const char *data, size_t len)
{
	uint32_t crc = 0x3fffffff;

	for (size_t i = 0; i < len; i++) {
		crc ^= (uint32_t)(unsigned char)data[i] << 22;
		for (int b = 0; b < 8; b++) {
			if (crc & 0x20000000)
				crc = (crc << 1) ^ 0x2030b9c7;
			else
				crc <<= 1;
			crc &= 0x3fffffff;
		}
	}
	return crc ^ 0x3fffffff;
}

/* Recompute the check characters of a 79-character text in place. */
static void ref_fix_check(char *text)
{
	uint32_t crc = ref_crc30(text, BODY_LEN);

	for (int k = 0; k < 6; k++)
		text[BODY_LEN + k] = ALPHABET[(crc >> (25 - 5 * k)) & 31];
}

/* Returns the number of bytes decoded, or -1 on a character outside the
 * alphabet or nonzero left-over bits. */
static int ref_b32_decode(uint8_t *out, const char *in, size_t nchars)
{
	uint32_t acc = 0;
	unsigned int bits = 0;
	int n = 0;

	for (size_t i = 0; i < nchars; i++) {
		const char *p = in[i] ? strchr(ALPHABET, in[i]) : NULL;
		if (!p)
			return -1;
		acc = (acc << 5) | (uint32_t)(p - ALPHABET);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1))
		return -1;
	return n;
}

static void ref_sha256(uint8_t *out, const uint8_t *in, size_t len)
{
	ck_assert_int_eq(EVP_Digest(in, len, out, NULL, EVP_sha256(), NULL), 1);
}

static void hex_of(char *out, const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* Details may name the id but never the secret or the token's text. */
static void assert_no_secret(const char *token)
{
	const char *msg = mr_error_message();
	size_t len = strlen(token);
	char window[9];

	if (len < SECRET_OFF + 8)
		return;
	for (size_t i = SECRET_OFF; i + 8 <= len && i < SECRET_OFF + SECRET_LEN; i++) {
		memcpy(window, token + i, 8);
		window[8] = '\0';
		expect(strstr(msg, window) == NULL, "detail '%s' quotes the secret", msg);
	}
}

/* Parse that must fail with MR_EAUTH; returns the detail for further checks. */
static const char *parse_fails(const char *text)
{
	int kind = -42;
	char id[MR_TOKEN_ID_SIZE] = "untouched";
	uint8_t hash[MR_TOKEN_HASH_LEN];

	int rc;

	memset(hash, 0xa5, sizeof(hash));
	mr_error_clear();
	rc = mr_token_parse(text, &kind, id, sizeof(id), hash);
	expect(rc == MR_EAUTH, "parse returned %d (%s), wanted MR_EAUTH", rc, mr_error_message());
	expect(mr_error_message()[0] != '\0', "no error detail");
	expect(kind == -42 && strcmp(id, "untouched") == 0, "outputs written on failure");
	for (size_t i = 0; i < sizeof(hash); i++)
		expect(hash[i] == 0xa5, "hash written on failure");
	assert_no_secret(text);
	return mr_error_message();
}

/* --- tests --- */

START_TEST(test_kat_parse)
{
	int kind = 0;
	char id[MR_TOKEN_ID_SIZE];
	uint8_t hash[MR_TOKEN_HASH_LEN];
	char hex[MR_TOKEN_HASH_HEX_SIZE];

	ck_mr_ok(mr_token_parse(kat[_i].text, &kind, id, sizeof(id), hash));
	ck_assert_int_eq(kind, kat[_i].kind);
	ck_assert_str_eq(id, kat[_i].id);
	ck_mr_ok(mr_token_hash_hex(hex, sizeof(hex), hash));
	ck_assert_str_eq(hex, kat[_i].hash_hex);
	ck_mr_ok(mr_token_verify(kat[_i].text, kat[_i].kind, kat[_i].id, hash));
	/* all outputs are optional */
	ck_mr_ok(mr_token_parse(kat[_i].text, NULL, NULL, 0, NULL));
}
END_TEST

/* The reference CRC itself against the catalogue's check value. */
START_TEST(test_reference_crc30)
{
	ck_assert_uint_eq(ref_crc30("123456789", 9), 0x04c34abf);
}
END_TEST

/* Generated tokens, checked with the reference decoder, CRC and OpenSSL;
 * one loop iteration per kind, many tokens each (a fork per token would cost
 * more than the checks under ASan). */
#define N_PER_KIND 100

START_TEST(test_generate_parse)
{
	int kind = MR_TOKEN_ADMIN + _i;
	char text[MR_TOKEN_SIZE];
	char id[MR_TOKEN_ID_SIZE];
	uint8_t hash[MR_TOKEN_HASH_LEN];
	int got_kind;
	char got_id[MR_TOKEN_ID_SIZE];
	uint8_t got_hash[MR_TOKEN_HASH_LEN];
	uint8_t raw[40];
	uint8_t digest[32];
	char fixed[MR_TOKEN_SIZE];
	const char prefix[] = { 'm', 'r', "?anp"[kind], '_', '\0' };

	for (int n = 0; n < N_PER_KIND; n++) {
		ck_mr_ok(mr_token_generate(text, sizeof(text), kind, id, sizeof(id), hash));
		ck_assert_uint_eq(strlen(text), MR_TOKEN_STRLEN);
		ck_assert_int_eq(strncmp(text, prefix, 4), 0);
		ck_assert_int_eq(text[20], '_');
		ck_assert_uint_eq(strlen(id), MR_TOKEN_ID_LEN);
		ck_assert_int_eq(strncmp(text + 4, id, MR_TOKEN_ID_LEN), 0);
		for (size_t i = 4; i < MR_TOKEN_STRLEN; i++)
			expect(i == 20 || strchr(ALPHABET, text[i]), "character %zu", i);

		/* id: 10 bytes; secret: 32 bytes, canonical; its SHA-256 is the hash */
		ck_assert_int_eq(ref_b32_decode(raw, id, MR_TOKEN_ID_LEN), 10);
		ck_assert_int_eq(ref_b32_decode(raw, text + SECRET_OFF, SECRET_LEN), 32);
		ref_sha256(digest, raw, 32);
		ck_assert_mem_eq(digest, hash, 32);

		/* the check characters are CRC-30/CDMA of the body */
		memcpy(fixed, text, sizeof(fixed));
		ref_fix_check(fixed);
		ck_assert_str_eq(fixed, text);

		got_kind = 0;
		ck_mr_ok(mr_token_parse(text, &got_kind, got_id, sizeof(got_id), got_hash));
		ck_assert_int_eq(got_kind, kind);
		ck_assert_str_eq(got_id, id);
		ck_assert_mem_eq(got_hash, hash, 32);
		ck_mr_ok(mr_token_verify(text, kind, id, hash));
	}

	/* optional outputs */
	ck_mr_ok(mr_token_generate(text, sizeof(text), kind, NULL, 0, NULL));
	ck_mr_ok(mr_token_parse(text, NULL, NULL, 0, NULL));
	mr_token_wipe(text, sizeof(text));
	for (size_t i = 0; i < sizeof(text); i++)
		ck_assert_int_eq(text[i], 0);
}
END_TEST

/* The parts of the sample token, for the exhaustive edit tests below. */
static const struct {
	const char *name;
	int from, to; /* positions [from, to) */
} segments[] = {
	{ "prefix", 0, 4 },  { "id", 4, 20 },	  { "separator", 20, 21 },
	{ "secret", 21, 73 }, { "check", 73, 79 },
};

static const uint8_t junk_hash[MR_TOKEN_HASH_LEN] = "0123456789abcdef0123456789abcdef";

/* Every position, every other byte value 1..255: refused. Past the prefix
 * the answer is always the checksum (CRC-30 catches every 8-bit burst). */
START_TEST(test_substitution_every_byte)
{
	char text[MR_TOKEN_SIZE];
	int n = 0;

	for (int pos = segments[_i].from; pos < segments[_i].to; pos++) {
		for (int c = 1; c < 256; c++) {
			const char *msg;

			if (c == (unsigned char)SAMPLE[pos])
				continue;
			memcpy(text, SAMPLE, sizeof(text));
			text[pos] = (char)c;
			msg = parse_fails(text);
			if (pos >= 4 || (pos == 2 && (c == 'n' || c == 'p')))
				expect(strcmp(msg, MSG_CHECKSUM) == 0, "pos %d char %d: %s", pos, c,
				       msg);
			else
				expect(strcmp(msg, MSG_PREFIX) == 0, "pos %d char %d: %s", pos, c,
				       msg);
			expect(mr_token_verify(text, MR_TOKEN_ADMIN, kat[0].id, junk_hash) ==
				       MR_EAUTH,
			       "verify: pos %d char %d", pos, c);
			n++;
		}
	}
	ck_assert_int_eq(n, (segments[_i].to - segments[_i].from) * 254);
}
END_TEST

/* Swapping any two different characters (adjacent or not) is refused. */
START_TEST(test_transpositions)
{
	char text[MR_TOKEN_SIZE];
	int n = 0;

	for (int i = 0; i < MR_TOKEN_STRLEN; i++) {
		for (int j = i + 1; j < MR_TOKEN_STRLEN; j++) {
			const char *msg;

			if (SAMPLE[i] == SAMPLE[j])
				continue;
			memcpy(text, SAMPLE, sizeof(text));
			text[i] = SAMPLE[j];
			text[j] = SAMPLE[i];
			msg = parse_fails(text);
			if (i >= 4)
				expect(strcmp(msg, MSG_CHECKSUM) == 0, "swap %d,%d: %s", i, j, msg);
			n++;
		}
	}
	ck_assert_int_eq(n, 2903);
}
END_TEST

/* Every truncation (cut after a position of the segment); the length check
 * names it before the checksum runs. The lost tail alone is refused too. */
START_TEST(test_truncations)
{
	char text[MR_TOKEN_SIZE];
	const char *msg;
	char want[128];

	for (int len = segments[_i].from; len < segments[_i].to; len++) {
		memcpy(text, SAMPLE, sizeof(text));
		text[len] = '\0';
		msg = parse_fails(text);
		if (len == 0) {
			ck_assert_str_eq(msg, "token: empty");
		} else {
			snprintf(want, sizeof(want),
				 "token: wrong length (expected 79 characters, got %d: truncated?)",
				 len);
			ck_assert_str_eq(msg, want);
		}
		ck_assert_str_ne(parse_fails(SAMPLE + len + 1), "");
	}
}
END_TEST

/* Deleting or inserting one character anywhere is refused. */
START_TEST(test_deletion_insertion)
{
	char text[MR_TOKEN_SIZE + 1];
	const char *msg;

	for (int pos = segments[_i].from; pos < segments[_i].to; pos++) {
		memcpy(text, SAMPLE, (size_t)pos);
		memcpy(text + pos, SAMPLE + pos + 1, MR_TOKEN_SIZE - (size_t)pos - 1);
		msg = parse_fails(text);
		expect(strstr(msg, pos < 4 ? "unknown prefix" : "wrong length"), "pos %d: %s", pos,
		       msg);

		for (const char *c = ALPHABET "_"; *c; c++) {
			memcpy(text, SAMPLE, (size_t)pos);
			text[pos] = *c;
			memcpy(text + pos + 1, SAMPLE + pos, MR_TOKEN_SIZE - (size_t)pos);
			parse_fails(text);
		}
	}
}
END_TEST

/* A NUL inside the buffer ends the C string: a short, refused token. */
START_TEST(test_embedded_nul)
{
	char text[MR_TOKEN_SIZE];

	for (int pos = segments[_i].from; pos < segments[_i].to; pos++) {
		memcpy(text, SAMPLE, sizeof(text));
		text[pos] = '\0';
		expect(mr_token_parse(text, NULL, NULL, 0, NULL) == MR_EAUTH, "parse: NUL at %d",
		       pos);
		expect(mr_token_verify(text, MR_TOKEN_ADMIN, kat[0].id, junk_hash) == MR_EAUTH,
		       "verify: NUL at %d", pos);
	}
}
END_TEST

static const struct {
	const char *name;
	const char *text; /* NULL: build from SAMPLE with the edit below */
	int edit;	  /* 1 prepend, 2 append, 3 uppercase all, 4 uppercase body */
	const char *add;
	const char *detail;
} bad_table[] = {
	{ "empty", "", 0, NULL, "token: empty" },
	{ "prefix only", "mra_", 0, NULL, "wrong length" },
	{ "short", "mr", 0, NULL, "wrong length" },
	{ "foreign", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", 0, NULL, "unknown prefix" },
	{ "kind x",
	  "mrx_aebagbafaydqqcik_aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq2ni3sc", 0,
	  NULL, "unknown prefix" },
	{ "dash",
	  "mra-aebagbafaydqqcik_aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq2ni3sc", 0,
	  NULL, "unknown prefix" },
	{ "bearer", NULL, 1, "Bearer ", "unknown prefix" },
	{ "leading space", NULL, 1, " ", "unknown prefix" },
	{ "leading tab", NULL, 1, "\t", "unknown prefix" },
	{ "trailing space", NULL, 2, " ", "wrong length (expected 79 characters, got 80)" },
	{ "trailing newline", NULL, 2, "\n", "wrong length" },
	{ "trailing crlf", NULL, 2, "\r\n", "got 81" },
	{ "doubled", NULL, 2, "mra_aebagbafaydqqcik_aaaqeayeaudaocajbifqydiob4ibceqtcqkrm"
			      "fyydenbwha5dypq2ni3sc", "got 158" },
	{ "uppercase", NULL, 3, NULL, "unknown prefix" },
	{ "uppercase body", NULL, 4, NULL, MSG_CHECKSUM },
};

START_TEST(test_bad_inputs)
{
	char text[512];
	const char *msg;

	if (bad_table[_i].text) {
		snprintf(text, sizeof(text), "%s", bad_table[_i].text);
	} else if (bad_table[_i].edit == 1) {
		snprintf(text, sizeof(text), "%s%s", bad_table[_i].add, SAMPLE);
	} else if (bad_table[_i].edit == 2) {
		snprintf(text, sizeof(text), "%s%s", SAMPLE, bad_table[_i].add);
	} else {
		snprintf(text, sizeof(text), "%s", SAMPLE);
		for (size_t i = bad_table[_i].edit == 3 ? 0 : 4; text[i]; i++)
			if (text[i] >= 'a' && text[i] <= 'z')
				text[i] = (char)(text[i] - 'a' + 'A');
	}
	msg = parse_fails(text);
	ck_assert_msg(strstr(msg, bad_table[_i].detail) != NULL, "%s: detail '%s', wanted '%s'",
		      bad_table[_i].name, msg, bad_table[_i].detail);
}
END_TEST

START_TEST(test_very_long)
{
	char *text = malloc(100000);

	ck_assert_ptr_nonnull(text);
	memset(text, 'a', 99999);
	memcpy(text, SAMPLE, MR_TOKEN_STRLEN);
	text[99999] = '\0';
	ck_assert_str_eq(parse_fails(text),
			 "token: wrong length (expected 79 characters, got at least 1024)");
	free(text);
}
END_TEST

/* Texts with a valid checksum but a bad structure: the CRC is no MAC, so the
 * structure is checked after it. */
static const struct {
	int pos;
	char c;
	const char *detail;
} forged_table[] = {
	{ 20, '-', "token: malformed (no '_' after the id)" },
	{ 20, 'a', "token: malformed (no '_' after the id)" },
	{ 4, 'A', "token: malformed (invalid character in the id)" },
	{ 19, '0', "token: malformed (invalid character in the id)" },
	{ 10, '_', "token: malformed (invalid character in the id)" },
	{ 21, 'A', "token: malformed (invalid character in the secret)" },
	{ 40, '1', "token: malformed (invalid character in the secret)" },
	{ 72, '8', "token: malformed (invalid character in the secret)" },
	{ 60, (char)0xc3, "token: malformed (invalid character in the secret)" },
	{ 72, 'b', "token: malformed (non-canonical secret encoding)" },
	{ 72, 'r', "token: malformed (non-canonical secret encoding)" },
	{ 72, '7', "token: malformed (non-canonical secret encoding)" },
};

START_TEST(test_forged_structure)
{
	char text[MR_TOKEN_SIZE];

	memcpy(text, SAMPLE, sizeof(text));
	text[forged_table[_i].pos] = forged_table[_i].c;
	ref_fix_check(text);
	ck_assert_str_eq(parse_fails(text), forged_table[_i].detail);
}
END_TEST

/* The other canonical value of the last secret character is a different,
 * valid secret: 'a' (0) and 'q' (16) are the only two. */
START_TEST(test_last_char_canonical)
{
	char text[MR_TOKEN_SIZE];
	int ok = 0;

	for (const char *c = ALPHABET; *c; c++) {
		memcpy(text, SAMPLE, sizeof(text));
		text[72] = *c;
		ref_fix_check(text);
		if (mr_token_parse(text, NULL, NULL, 0, NULL) == 0) {
			ck_assert(*c == 'a' || *c == 'q');
			ok++;
		}
	}
	ck_assert_int_eq(ok, 2);
}
END_TEST

START_TEST(test_null_and_sizes)
{
	char text[MR_TOKEN_SIZE];
	char id[MR_TOKEN_ID_SIZE];
	uint8_t hash[MR_TOKEN_HASH_LEN];
	char hex[MR_TOKEN_HASH_HEX_SIZE];
	int kind = -42;

	memset(text, 'X', sizeof(text));
	memset(id, 'X', sizeof(id));
	ck_mr_err(mr_token_generate(NULL, MR_TOKEN_SIZE, MR_TOKEN_ADMIN, NULL, 0, NULL),
		  MR_EINVAL);
	ck_mr_err(mr_token_generate(text, MR_TOKEN_STRLEN, MR_TOKEN_ADMIN, NULL, 0, NULL),
		  MR_ETOOBIG);
	ck_mr_err(mr_token_generate(text, sizeof(text), MR_TOKEN_NODE, id, MR_TOKEN_ID_LEN, NULL),
		  MR_ETOOBIG);
	ck_mr_err(mr_token_generate(text, sizeof(text), 0, NULL, 0, NULL), MR_EINVAL);
	ck_mr_err(mr_token_generate(text, sizeof(text), 4, NULL, 0, NULL), MR_EINVAL);
	ck_mr_err(mr_token_generate(text, sizeof(text), -1, NULL, 0, NULL), MR_EINVAL);
	for (size_t i = 0; i < sizeof(text); i++)
		ck_assert_int_eq(text[i], 'X');
	for (size_t i = 0; i < sizeof(id); i++)
		ck_assert_int_eq(id[i], 'X');

	ck_mr_err(mr_token_parse(NULL, &kind, id, sizeof(id), hash), MR_EINVAL);
	ck_mr_err(mr_token_parse(SAMPLE, &kind, id, MR_TOKEN_ID_LEN, hash), MR_ETOOBIG);
	ck_assert_int_eq(kind, -42);

	ck_mr_ok(mr_token_hash_from_hex(hash, kat[0].hash_hex));
	ck_mr_err(mr_token_verify(NULL, MR_TOKEN_ADMIN, kat[0].id, hash), MR_EINVAL);
	ck_mr_err(mr_token_verify(SAMPLE, MR_TOKEN_ADMIN, NULL, hash), MR_EINVAL);
	ck_mr_err(mr_token_verify(SAMPLE, MR_TOKEN_ADMIN, kat[0].id, NULL), MR_EINVAL);
	ck_mr_err(mr_token_verify(SAMPLE, 0, kat[0].id, hash), MR_EINVAL);
	ck_mr_err(mr_token_verify(SAMPLE, 9, kat[0].id, hash), MR_EINVAL);
	ck_mr_err(mr_token_verify(SAMPLE, MR_TOKEN_ADMIN, "aebagbafaydqqci", hash), MR_EINVAL);
	ck_mr_err(mr_token_verify(SAMPLE, MR_TOKEN_ADMIN, "aebagbafaydqqcikk", hash), MR_EINVAL);
	ck_mr_err(mr_token_verify(SAMPLE, MR_TOKEN_ADMIN, "AEBAGBAFAYDQQCIK", hash), MR_EINVAL);
	ck_mr_err(mr_token_verify(SAMPLE, MR_TOKEN_ADMIN, "", hash), MR_EINVAL);

	ck_mr_err(mr_token_hash_hex(NULL, sizeof(hex), hash), MR_EINVAL);
	ck_mr_err(mr_token_hash_hex(hex, sizeof(hex), NULL), MR_EINVAL);
	ck_mr_err(mr_token_hash_hex(hex, MR_TOKEN_HASH_HEX_LEN, hash), MR_ETOOBIG);
	ck_mr_err(mr_token_hash_from_hex(NULL, kat[0].hash_hex), MR_EINVAL);
	ck_mr_err(mr_token_hash_from_hex(hash, NULL), MR_EINVAL);
	ck_mr_err(mr_token_kind_from_name(NULL), MR_EINVAL);
	mr_token_wipe(NULL, 10);
}
END_TEST

static const struct {
	const char *name;
	int kind;	  /* 0: the sample's */
	const char *id;	  /* NULL: the sample's */
	int flip;	  /* flip one bit of this hash byte (-1: none) */
	int expect;
	const char *detail;
} verify_table[] = {
	{ "match", 0, NULL, -1, 0, NULL },
	{ "hash first byte", 0, NULL, 0, MR_EAUTH, "token: secret does not match" },
	{ "hash last byte", 0, NULL, 31, MR_EAUTH, "token: secret does not match" },
	{ "other id", 0, "aebagbafaydqqcij", -1, MR_EAUTH, "token: id does not match" },
	{ "zero id", 0, "aaaaaaaaaaaaaaaa", -1, MR_EAUTH, "token: id does not match" },
	{ "node kind", MR_TOKEN_NODE, NULL, -1, MR_EAUTH, "token: kind is admin, expected node" },
	{ "pod kind", MR_TOKEN_POD, NULL, -1, MR_EAUTH, "token: kind is admin, expected pod" },
	{ "all wrong", MR_TOKEN_POD, "aebagbafaydqqcij", 5, MR_EAUTH, "kind is admin" },
};

START_TEST(test_verify)
{
	uint8_t hash[MR_TOKEN_HASH_LEN];
	int kind = verify_table[_i].kind ? verify_table[_i].kind : kat[0].kind;
	const char *id = verify_table[_i].id ? verify_table[_i].id : kat[0].id;

	ck_mr_ok(mr_token_hash_from_hex(hash, kat[0].hash_hex));
	if (verify_table[_i].flip >= 0)
		hash[verify_table[_i].flip] ^= 0x10;
	mr_error_clear();
	if (verify_table[_i].expect == 0) {
		ck_mr_ok(mr_token_verify(SAMPLE, kind, id, hash));
		return;
	}
	ck_mr_err(mr_token_verify(SAMPLE, kind, id, hash), verify_table[_i].expect);
	ck_assert_msg(strstr(mr_error_message(), verify_table[_i].detail) != NULL, "%s: %s",
		      verify_table[_i].name, mr_error_message());
	assert_no_secret(SAMPLE);
}
END_TEST

/* Another token, or the same one altered, never verifies. */
START_TEST(test_verify_other_tokens)
{
	char text[MR_TOKEN_SIZE];
	char id[MR_TOKEN_ID_SIZE];
	uint8_t hash[MR_TOKEN_HASH_LEN], other_hash[MR_TOKEN_HASH_LEN];

	ck_mr_ok(mr_token_generate(text, sizeof(text), MR_TOKEN_NODE, id, sizeof(id), hash));
	ck_mr_ok(mr_token_hash_from_hex(other_hash, kat[1].hash_hex));
	ck_mr_ok(mr_token_verify(text, MR_TOKEN_NODE, id, hash));
	ck_mr_err(mr_token_verify(text, MR_TOKEN_NODE, id, other_hash), MR_EAUTH);
	assert_no_secret(text);
	ck_mr_err(mr_token_verify(kat[1].text, MR_TOKEN_NODE, id, hash), MR_EAUTH);
	ck_mr_err(mr_token_verify(kat[1].text, MR_TOKEN_POD, id, other_hash), MR_EAUTH);
	ck_mr_err(mr_token_verify("", MR_TOKEN_NODE, id, hash), MR_EAUTH);
	text[50] = text[50] == 'a' ? 'b' : 'a';
	ck_mr_err(mr_token_verify(text, MR_TOKEN_NODE, id, hash), MR_EAUTH);
	ck_assert_str_eq(mr_error_message(), MSG_CHECKSUM);
	mr_token_wipe(text, sizeof(text));
}
END_TEST

#define N_DISTINCT 10000

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, MR_TOKEN_ID_SIZE);
}

static int cmp_secret(const void *a, const void *b)
{
	return memcmp(a, b, SECRET_LEN);
}

static int cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, MR_TOKEN_HASH_LEN);
}

START_TEST(test_distinct)
{
	char(*ids)[MR_TOKEN_ID_SIZE] = calloc(N_DISTINCT, sizeof(*ids));
	char(*secrets)[SECRET_LEN] = calloc(N_DISTINCT, sizeof(*secrets));
	uint8_t(*hashes)[MR_TOKEN_HASH_LEN] = calloc(N_DISTINCT, sizeof(*hashes));
	char text[MR_TOKEN_SIZE];

	ck_assert(ids && secrets && hashes);
	for (int i = 0; i < N_DISTINCT; i++) {
		int rc = mr_token_generate(text, sizeof(text), MR_TOKEN_ADMIN + i % 3, ids[i],
					   sizeof(ids[i]), hashes[i]);

		expect(rc == 0, "generate: %s", mr_error_message());
		memcpy(secrets[i], text + SECRET_OFF, SECRET_LEN);
	}
	qsort(ids, N_DISTINCT, sizeof(*ids), cmp_id);
	qsort(secrets, N_DISTINCT, sizeof(*secrets), cmp_secret);
	qsort(hashes, N_DISTINCT, sizeof(*hashes), cmp_hash);
	for (int i = 1; i < N_DISTINCT; i++) {
		expect(cmp_id(ids[i - 1], ids[i]) != 0, "duplicate id");
		expect(cmp_secret(secrets[i - 1], secrets[i]) != 0, "duplicate secret");
		expect(cmp_hash(hashes[i - 1], hashes[i]) != 0, "duplicate hash");
	}
	mr_token_wipe(text, sizeof(text));
	mr__wipe(secrets, N_DISTINCT * sizeof(*secrets));
	free(ids);
	free(secrets);
	free(hashes);
}
END_TEST

/* The encoder uses the whole alphabet evenly: over 2000 tokens each of the 32
 * values is expected about 1000 times among id characters and about 3200
 * times among secret characters (the last one, mostly 'a' or 'q', left out);
 * the bounds are half of that, many standard deviations away. */
START_TEST(test_alphabet_coverage)
{
	char text[MR_TOKEN_SIZE];
	unsigned int seen_id[32] = { 0 }, seen_secret[32] = { 0 };

	for (int i = 0; i < 2000; i++) {
		ck_mr_ok(mr_token_generate(text, sizeof(text), MR_TOKEN_POD, NULL, 0, NULL));
		for (int k = 4; k < 20; k++)
			seen_id[strchr(ALPHABET, text[k]) - ALPHABET]++;
		for (int k = SECRET_OFF; k < SECRET_OFF + SECRET_LEN - 1; k++)
			seen_secret[strchr(ALPHABET, text[k]) - ALPHABET]++;
	}
	for (int v = 0; v < 32; v++) {
		ck_assert_uint_gt(seen_id[v], 500);
		ck_assert_uint_gt(seen_secret[v], 2000);
	}
	mr_token_wipe(text, sizeof(text));
}
END_TEST

static const struct {
	const char *hex;
	int ok;
} hex_table[] = {
	{ "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 1 },
	{ "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", 1 },
	{ "0000000000000000000000000000000000000000000000000000000000000000", 1 },
	{ "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 1 },
	{ "", 0 },
	{ "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85", 0 },
	{ "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", 0 },
	{ "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0 },
	{ "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85 ", 0 },
	{ " e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85", 0 },
	{ "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8-5", 0 },
	{ "0x3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0 },
};

START_TEST(test_hex)
{
	uint8_t hash[MR_TOKEN_HASH_LEN];
	char hex[MR_TOKEN_HASH_HEX_SIZE];
	char lower[MR_TOKEN_HASH_HEX_SIZE + 1];

	memset(hash, 0x5a, sizeof(hash));
	if (!hex_table[_i].ok) {
		ck_mr_err(mr_token_hash_from_hex(hash, hex_table[_i].hex), MR_EINVAL);
		for (size_t i = 0; i < sizeof(hash); i++)
			ck_assert_uint_eq(hash[i], 0x5a);
		return;
	}
	ck_mr_ok(mr_token_hash_from_hex(hash, hex_table[_i].hex));
	ck_mr_ok(mr_token_hash_hex(hex, sizeof(hex), hash));
	snprintf(lower, sizeof(lower), "%s", hex_table[_i].hex);
	for (char *p = lower; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	ck_assert_str_eq(hex, lower);
}
END_TEST

START_TEST(test_hex_round_trip)
{
	uint8_t hash[MR_TOKEN_HASH_LEN], back[MR_TOKEN_HASH_LEN];
	char hex[MR_TOKEN_HASH_HEX_SIZE], ref[MR_TOKEN_HASH_HEX_SIZE];

	for (int i = 0; i < 200; i++) {
		ck_mr_ok(mr__random(hash, sizeof(hash)));
		ck_mr_ok(mr_token_hash_hex(hex, sizeof(hex), hash));
		hex_of(ref, hash, sizeof(hash));
		ck_assert_str_eq(hex, ref);
		ck_mr_ok(mr_token_hash_from_hex(back, hex));
		ck_assert_mem_eq(back, hash, sizeof(hash));
	}
}
END_TEST

static const struct {
	int kind;
	const char *name;
	uint32_t scopes;
} kind_table[] = {
	{ MR_TOKEN_ADMIN, "admin", MR_TOKEN_SCOPE_ADMIN | MR_TOKEN_SCOPE_POD_PEERS },
	{ MR_TOKEN_NODE, "node", MR_TOKEN_SCOPE_NODE_STATE },
	{ MR_TOKEN_POD, "pod", MR_TOKEN_SCOPE_POD_PEERS },
	{ 0, NULL, 0 },
	{ 4, NULL, 0 },
	{ -1, NULL, 0 },
	{ -6, NULL, 0 },
};

START_TEST(test_kinds)
{
	const char *name = mr_token_kind_name(kind_table[_i].kind);

	ck_assert_int_eq(MR_TOKEN_ADMIN, 1);
	ck_assert_int_eq(MR_TOKEN_NODE, 2);
	ck_assert_int_eq(MR_TOKEN_POD, 3);
	ck_assert_uint_eq(mr_token_kind_scopes(kind_table[_i].kind), kind_table[_i].scopes);
	if (!kind_table[_i].name) {
		ck_assert_ptr_null(name);
		return;
	}
	ck_assert_str_eq(name, kind_table[_i].name);
	ck_assert_int_eq(mr_token_kind_from_name(kind_table[_i].name), kind_table[_i].kind);
}
END_TEST

static const char *const bad_kind_names[] = {
	"", "Admin", "ADMIN", "admin ", " pod", "pods", "a", "root", "customer", "1",
};

START_TEST(test_bad_kind_names)
{
	ck_mr_err(mr_token_kind_from_name(bad_kind_names[_i]), MR_EINVAL);
}
END_TEST

static const struct {
	int kind;
	uint32_t scope;
	bool allowed;
} scope_table[] = {
	{ MR_TOKEN_ADMIN, MR_TOKEN_SCOPE_ADMIN, true },
	{ MR_TOKEN_ADMIN, MR_TOKEN_SCOPE_POD_PEERS, true },
	{ MR_TOKEN_ADMIN, MR_TOKEN_SCOPE_ADMIN | MR_TOKEN_SCOPE_POD_PEERS, true },
	{ MR_TOKEN_ADMIN, MR_TOKEN_SCOPE_NODE_STATE, false },
	{ MR_TOKEN_NODE, MR_TOKEN_SCOPE_NODE_STATE, true },
	{ MR_TOKEN_NODE, MR_TOKEN_SCOPE_ADMIN, false },
	{ MR_TOKEN_NODE, MR_TOKEN_SCOPE_POD_PEERS, false },
	{ MR_TOKEN_NODE, MR_TOKEN_SCOPE_NODE_STATE | MR_TOKEN_SCOPE_POD_PEERS, false },
	{ MR_TOKEN_POD, MR_TOKEN_SCOPE_POD_PEERS, true },
	{ MR_TOKEN_POD, MR_TOKEN_SCOPE_ADMIN, false },
	{ MR_TOKEN_POD, MR_TOKEN_SCOPE_NODE_STATE, false },
	{ MR_TOKEN_ADMIN, 0, false },
	{ MR_TOKEN_POD, 0, false },
	{ MR_TOKEN_ADMIN, 0x8, false },
	{ MR_TOKEN_ADMIN, MR_TOKEN_SCOPE_ADMIN | 0x80000000u, false },
	{ 0, MR_TOKEN_SCOPE_POD_PEERS, false },
	{ 4, MR_TOKEN_SCOPE_ADMIN, false },
	{ -1, MR_TOKEN_SCOPE_NODE_STATE, false },
};

START_TEST(test_scopes)
{
	ck_assert_msg(mr_token_kind_allows(scope_table[_i].kind, scope_table[_i].scope) ==
			      scope_table[_i].allowed,
		      "kind %d scope %#x", scope_table[_i].kind, scope_table[_i].scope);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_kat_parse, 0, (int)MR_ARRAY_SIZE(kat));
	tcase_add_test(tc, test_reference_crc30);
	tcase_add_loop_test(tc, test_generate_parse, 0, 3);
	tcase_add_loop_test(tc, test_substitution_every_byte, 0, (int)MR_ARRAY_SIZE(segments));
	tcase_add_test(tc, test_transpositions);
	tcase_add_loop_test(tc, test_truncations, 0, (int)MR_ARRAY_SIZE(segments));
	tcase_add_loop_test(tc, test_deletion_insertion, 0, (int)MR_ARRAY_SIZE(segments));
	tcase_add_loop_test(tc, test_embedded_nul, 0, (int)MR_ARRAY_SIZE(segments));
	tcase_add_loop_test(tc, test_bad_inputs, 0, (int)MR_ARRAY_SIZE(bad_table));
	tcase_add_test(tc, test_very_long);
	tcase_add_loop_test(tc, test_forged_structure, 0, (int)MR_ARRAY_SIZE(forged_table));
	tcase_add_test(tc, test_last_char_canonical);
	tcase_add_test(tc, test_null_and_sizes);
	tcase_add_loop_test(tc, test_verify, 0, (int)MR_ARRAY_SIZE(verify_table));
	tcase_add_test(tc, test_verify_other_tokens);
	tcase_add_test(tc, test_distinct);
	tcase_add_test(tc, test_alphabet_coverage);
	tcase_add_loop_test(tc, test_hex, 0, (int)MR_ARRAY_SIZE(hex_table));
	tcase_add_test(tc, test_hex_round_trip);
	tcase_add_loop_test(tc, test_kinds, 0, (int)MR_ARRAY_SIZE(kind_table));
	tcase_add_loop_test(tc, test_bad_kind_names, 0, (int)MR_ARRAY_SIZE(bad_kind_names));
	tcase_add_loop_test(tc, test_scopes, 0, (int)MR_ARRAY_SIZE(scope_table));
	suite_add_tcase(s, tc);
	return mr_test_run_suite(s);
}

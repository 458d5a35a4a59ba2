/* SPDX-License-Identifier: MIT */
#include "internal.h"

#include <string.h>

#include <openssl/evp.h>

#include <myrelay/token.h>

#define PREFIX_LEN 4
#define ID_RAW_LEN 10
#define SECRET_RAW_LEN 32
#define SECRET_LEN 52
#define CHECK_LEN 6
#define ID_OFF PREFIX_LEN
#define SEP_OFF (ID_OFF + MR_TOKEN_ID_LEN)
#define SECRET_OFF (SEP_OFF + 1)
#define BODY_LEN (SECRET_OFF + SECRET_LEN)

#define CRC30_POLY 0x2030b9c7u
#define CRC30_MASK 0x3fffffffu

/* Bounds how far a wrong-length text is measured, so that a huge header costs
 * nothing and the detail stays short. */
#define LENGTH_REPORT_MAX 1024

_Static_assert(BODY_LEN + CHECK_LEN == MR_TOKEN_STRLEN, "token layout");
_Static_assert(MR_TOKEN_SIZE == MR_TOKEN_STRLEN + 1, "token size");
_Static_assert((SECRET_RAW_LEN * 8 + 4) / 5 == SECRET_LEN, "secret length");
_Static_assert(ID_RAW_LEN * 8 / 5 == MR_TOKEN_ID_LEN, "id length");

static const char kind_letter[] = { 0, 'a', 'n', 'p' };
static const char *const kind_names[] = { NULL, "admin", "node", "pod" };
static const uint32_t kind_scope_bits[] = {
	0,
	MR_TOKEN_SCOPE_ADMIN | MR_TOKEN_SCOPE_POD_PEERS,
	MR_TOKEN_SCOPE_NODE_STATE,
	MR_TOKEN_SCOPE_POD_PEERS,
};

#define ALL_SCOPES (MR_TOKEN_SCOPE_ADMIN | MR_TOKEN_SCOPE_NODE_STATE | MR_TOKEN_SCOPE_POD_PEERS)

static bool kind_valid(int kind)
{
	return kind >= MR_TOKEN_ADMIN && kind <= MR_TOKEN_POD;
}

/* Value (0..31) to character without a table: a lookup indexed by secret bits
 * would leak them through the cache, as in wireguard-tools' base64 code. */
static char b32_char(unsigned int v)
{
	int c = 'a' + (int)v;

	/* v >= 26 maps to '2'..'7': add ('2' - 26 - 'a') when 25 - v < 0. */
	c += ((25 - (int)v) >> 8) & ('2' - 26 - 'a');
	return (char)c;
}

/* Character to value 0..31, or -1; branch-free for the same reason. */
static int b32_value(unsigned char ch)
{
	int c = ch;
	int ret = -1;

	ret += ((('a' - 1) - c) & (c - ('z' + 1))) >> 8 & (c - 'a' + 1);
	ret += ((('2' - 1) - c) & (c - ('7' + 1))) >> 8 & (c - '2' + 26 + 1);
	return ret;
}

/* RFC 4648 bit order; nchars * 5 may exceed len * 8 by less than 5 bits,
 * which are zero. Which bytes are read depends only on positions. */
static void b32_encode(char *out, size_t nchars, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < nchars; i++) {
		size_t bit = i * 5;
		size_t byte = bit / 8;
		unsigned int window = (unsigned int)in[byte] << 8;

		if (byte + 1 < len)
			window |= in[byte + 1];
		out[i] = b32_char((window >> (11 - bit % 8)) & 31);
	}
}

/* Decode without branching on the characters. Returns a bit set: 1 when a
 * character is outside the alphabet, 2 when the left-over bits are not zero
 * (a non-canonical encoding, which would give one secret two spellings). */
static int b32_decode(uint8_t *out, size_t len, const char *in, size_t nchars)
{
	uint32_t acc = 0;
	unsigned int bits = 0;
	unsigned int bad = 0;
	size_t o = 0;

	for (size_t i = 0; i < nchars; i++) {
		int v = b32_value((unsigned char)in[i]);

		bad |= (unsigned int)v;
		acc = (acc << 5) | ((unsigned int)v & 31);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (o < len)
				out[o++] = (uint8_t)(acc >> bits);
		}
	}
	/* bad has the sign bit set iff some v was -1. */
	return (int)((bad >> 31) & 1) | (int)(((acc & ((1u << bits) - 1)) != 0) << 1);
}

/* CRC-30/CDMA, bit by bit with masks: no branch and no table lookup depends
 * on the data, which includes the secret. A CRC rather than a truncated hash
 * because it catches every burst of up to 30 bits with certainty. */
static uint32_t crc30(const char *data, size_t len)
{
	uint32_t crc = CRC30_MASK;

	for (size_t i = 0; i < len; i++) {
		crc ^= (uint32_t)(unsigned char)data[i] << 22;
		for (int b = 0; b < 8; b++) {
			uint32_t top = 0u - ((crc >> 29) & 1);
			crc = ((crc << 1) ^ (CRC30_POLY & top)) & CRC30_MASK;
		}
	}
	return crc ^ CRC30_MASK;
}

static void checksum_chars(char *out, const char *body)
{
	uint32_t crc = crc30(body, BODY_LEN);

	for (int k = 0; k < CHECK_LEN; k++)
		out[k] = b32_char((crc >> (25 - 5 * k)) & 31);
}

static int sha256(uint8_t *out, const uint8_t *in, size_t len)
{
	if (EVP_Digest(in, len, out, NULL, EVP_sha256(), NULL) != 1)
		return mr__error_crypto("token: hashing the secret");
	return 0;
}

static bool id_valid(const char *id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (b32_value((unsigned char)id[i]) < 0)
			return false;
	return true;
}

MR_API int mr_token_generate(char *out, size_t size, int kind, char *out_id, size_t id_size,
			     uint8_t *out_hash)
{
	uint8_t id_raw[ID_RAW_LEN];
	uint8_t secret[SECRET_RAW_LEN];
	uint8_t hash[MR_TOKEN_HASH_LEN];
	char text[MR_TOKEN_SIZE];
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "token: output buffer is NULL");
	if (!kind_valid(kind))
		return mr__error_set(MR_EINVAL, "token: unknown kind %d", kind);
	if (size < MR_TOKEN_SIZE)
		return mr__error_set(MR_ETOOBIG, "token: buffer of %zu bytes, need %d", size,
				     MR_TOKEN_SIZE);
	if (out_id && id_size < MR_TOKEN_ID_SIZE)
		return mr__error_set(MR_ETOOBIG, "token id: buffer of %zu bytes, need %d", id_size,
				     MR_TOKEN_ID_SIZE);

	rc = mr__random(id_raw, sizeof(id_raw));
	if (rc < 0)
		return rc;
	rc = mr__random(secret, sizeof(secret));
	if (rc < 0)
		goto out_wipe;
	rc = sha256(hash, secret, sizeof(secret));
	if (rc < 0)
		goto out_wipe;

	text[0] = 'm';
	text[1] = 'r';
	text[2] = kind_letter[kind];
	text[3] = '_';
	b32_encode(text + ID_OFF, MR_TOKEN_ID_LEN, id_raw, sizeof(id_raw));
	text[SEP_OFF] = '_';
	b32_encode(text + SECRET_OFF, SECRET_LEN, secret, sizeof(secret));
	checksum_chars(text + BODY_LEN, text);
	text[MR_TOKEN_STRLEN] = '\0';

	memcpy(out, text, MR_TOKEN_SIZE);
	if (out_id) {
		memcpy(out_id, text + ID_OFF, MR_TOKEN_ID_LEN);
		out_id[MR_TOKEN_ID_LEN] = '\0';
	}
	if (out_hash)
		memcpy(out_hash, hash, sizeof(hash));
	rc = 0;
out_wipe:
	mr__wipe(text, sizeof(text));
	mr__wipe(secret, sizeof(secret));
	return rc;
}

static int parse_kind(const char *text)
{
	if (text[0] != 'm' || text[1] != 'r' || text[3] != '_')
		return 0;
	for (int k = MR_TOKEN_ADMIN; k <= MR_TOKEN_POD; k++)
		if (text[2] == kind_letter[k])
			return k;
	return 0;
}

/* The whole check of a presented text; outputs are the kind and the secret's
 * hash (the id is read from the text by the callers). */
static int parse_text(const char *text, int *kind, uint8_t *hash)
{
	uint8_t secret[SECRET_RAW_LEN];
	char check[CHECK_LEN];
	size_t len = strnlen(text, LENGTH_REPORT_MAX);
	int diff, bad;
	int rc;

	if (len == 0)
		return mr__error_set(MR_EAUTH, "token: empty");
	/* A foreign credential (or "Bearer ...") is named as such; a text too
	 * short to hold a prefix is simply too short. */
	if (len >= PREFIX_LEN && (*kind = parse_kind(text)) == 0)
		return mr__error_set(MR_EAUTH,
				     "token: unknown prefix (expected mra_, mrn_ or mrp_)");
	if (len != MR_TOKEN_STRLEN) {
		if (len < MR_TOKEN_STRLEN)
			return mr__error_set(MR_EAUTH,
					     "token: wrong length (expected %d characters, got %zu:"
					     " truncated?)",
					     MR_TOKEN_STRLEN, len);
		if (len >= LENGTH_REPORT_MAX)
			return mr__error_set(MR_EAUTH,
					     "token: wrong length (expected %d characters, got"
					     " at least %d)",
					     MR_TOKEN_STRLEN, LENGTH_REPORT_MAX);
		return mr__error_set(MR_EAUTH,
				     "token: wrong length (expected %d characters, got %zu)",
				     MR_TOKEN_STRLEN, len);
	}

	/* The checksum comes before any check of the body so that every typo
	 * gets the same answer, whatever character it produced. */
	checksum_chars(check, text);
	diff = mr__ct_memcmp(check, text + BODY_LEN, CHECK_LEN);
	/* 30 bits that are a linear function of the secret */
	mr__wipe(check, sizeof(check));
	if (diff)
		return mr__error_set(MR_EAUTH, "token: checksum mismatch (typo or truncated?)");

	/* Past the checksum only a crafted text can fail: the CRC is no MAC. */
	if (text[SEP_OFF] != '_')
		return mr__error_set(MR_EAUTH, "token: malformed (no '_' after the id)");
	if (!id_valid(text + ID_OFF, MR_TOKEN_ID_LEN))
		return mr__error_set(MR_EAUTH, "token: malformed (invalid character in the id)");

	bad = b32_decode(secret, sizeof(secret), text + SECRET_OFF, SECRET_LEN);
	if (bad & 1) {
		rc = mr__error_set(MR_EAUTH, "token: malformed (invalid character in the secret)");
		goto out;
	}
	if (bad & 2) {
		rc = mr__error_set(MR_EAUTH, "token: malformed (non-canonical secret encoding)");
		goto out;
	}
	rc = sha256(hash, secret, sizeof(secret));
out:
	mr__wipe(secret, sizeof(secret));
	return rc;
}

MR_API int mr_token_parse(const char *text, int *out_kind, char *out_id, size_t id_size,
			  uint8_t *out_hash)
{
	uint8_t hash[MR_TOKEN_HASH_LEN];
	int kind = 0;
	int rc;

	if (!text)
		return mr__error_set(MR_EINVAL, "token: text is NULL");
	if (out_id && id_size < MR_TOKEN_ID_SIZE)
		return mr__error_set(MR_ETOOBIG, "token id: buffer of %zu bytes, need %d", id_size,
				     MR_TOKEN_ID_SIZE);
	rc = parse_text(text, &kind, hash);
	if (rc < 0)
		return rc;
	if (out_kind)
		*out_kind = kind;
	if (out_id) {
		memcpy(out_id, text + ID_OFF, MR_TOKEN_ID_LEN);
		out_id[MR_TOKEN_ID_LEN] = '\0';
	}
	if (out_hash)
		memcpy(out_hash, hash, sizeof(hash));
	return 0;
}

MR_API int mr_token_verify(const char *text, int kind, const char *id, const uint8_t *stored_hash)
{
	uint8_t hash[MR_TOKEN_HASH_LEN];
	int got_kind = 0;
	int id_diff, hash_diff;
	int rc;

	if (!text || !id || !stored_hash)
		return mr__error_set(MR_EINVAL, "token: %s is NULL",
				     !text ? "text" : !id ? "id" : "stored hash");
	if (!kind_valid(kind))
		return mr__error_set(MR_EINVAL, "token: unknown kind %d", kind);
	if (strnlen(id, MR_TOKEN_ID_SIZE) != MR_TOKEN_ID_LEN || !id_valid(id, MR_TOKEN_ID_LEN))
		return mr__error_set(MR_EINVAL, "token id: expected %d base32 characters",
				     MR_TOKEN_ID_LEN);

	rc = parse_text(text, &got_kind, hash);
	if (rc < 0)
		return rc;

	/* All three comparisons are made before any is acted on, so the time
	 * taken does not tell which part differed. */
	id_diff = mr__ct_memcmp(text + ID_OFF, id, MR_TOKEN_ID_LEN);
	hash_diff = mr__ct_memcmp(hash, stored_hash, MR_TOKEN_HASH_LEN);
	if (got_kind != kind)
		return mr__error_set(MR_EAUTH, "token: kind is %s, expected %s",
				     kind_names[got_kind], kind_names[kind]);
	if (id_diff)
		return mr__error_set(MR_EAUTH, "token: id does not match");
	if (hash_diff)
		return mr__error_set(MR_EAUTH, "token: secret does not match");
	return 0;
}

MR_API int mr_token_hash_hex(char *out, size_t size, const uint8_t *hash)
{
	static const char hex[] = "0123456789abcdef";

	if (!out || !hash)
		return mr__error_set(MR_EINVAL, "token hash: %s is NULL", !out ? "output" : "hash");
	if (size < MR_TOKEN_HASH_HEX_SIZE)
		return mr__error_set(MR_ETOOBIG, "token hash: buffer of %zu bytes, need %d", size,
				     MR_TOKEN_HASH_HEX_SIZE);
	for (size_t i = 0; i < MR_TOKEN_HASH_LEN; i++) {
		out[2 * i] = hex[hash[i] >> 4];
		out[2 * i + 1] = hex[hash[i] & 15];
	}
	out[MR_TOKEN_HASH_HEX_LEN] = '\0';
	return 0;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

MR_API int mr_token_hash_from_hex(uint8_t *out, const char *hex)
{
	uint8_t hash[MR_TOKEN_HASH_LEN];
	size_t len;

	if (!out || !hex)
		return mr__error_set(MR_EINVAL, "token hash: %s is NULL", !out ? "output" : "hex");
	len = strnlen(hex, MR_TOKEN_HASH_HEX_SIZE);
	if (len != MR_TOKEN_HASH_HEX_LEN)
		return mr__error_set(MR_EINVAL, "token hash: expected %d hex characters, got %s%zu",
				     MR_TOKEN_HASH_HEX_LEN,
				     len == MR_TOKEN_HASH_HEX_SIZE ? "more than " : "",
				     len == MR_TOKEN_HASH_HEX_SIZE ? len - 1 : len);
	for (size_t i = 0; i < MR_TOKEN_HASH_LEN; i++) {
		int hi = hex_value(hex[2 * i]);
		int lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return mr__error_set(MR_EINVAL,
					     "token hash: not a hex digit at position %zu",
					     hi < 0 ? 2 * i : 2 * i + 1);
		hash[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, hash, sizeof(hash));
	return 0;
}

MR_API const char *mr_token_kind_name(int kind)
{
	return kind_valid(kind) ? kind_names[kind] : NULL;
}

MR_API int mr_token_kind_from_name(const char *name)
{
	if (!name)
		return mr__error_set(MR_EINVAL, "token kind: name is NULL");
	for (int k = MR_TOKEN_ADMIN; k <= MR_TOKEN_POD; k++)
		if (strcmp(name, kind_names[k]) == 0)
			return k;
	return mr__error_set(MR_EINVAL,
			     "token kind: unknown \"%.16s\" (expected admin, node or pod)", name);
}

MR_API uint32_t mr_token_kind_scopes(int kind)
{
	return kind_valid(kind) ? kind_scope_bits[kind] : 0;
}

MR_API bool mr_token_kind_allows(int kind, uint32_t scope)
{
	if (scope == 0 || (scope & ~ALL_SCOPES) != 0)
		return false;
	return (mr_token_kind_scopes(kind) & scope) == scope;
}

MR_API void mr_token_wipe(char *token, size_t size)
{
	mr__wipe(token, size);
}

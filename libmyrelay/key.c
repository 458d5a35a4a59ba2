/* SPDX-License-Identifier: MIT */
/*
 * WireGuard keys: X25519 through OpenSSL, and base64 in constant time.
 *
 * The base64 coder maps each character with comparisons turned into masks
 * instead of table lookups or branches, so neither the cache nor the branch
 * predictor learns anything about key bytes. Only the length of the text and
 * the final "valid or not" verdict are allowed to steer control flow.
 */
#include "internal.h"

#include <string.h>

#include <openssl/evp.h>

#include <myrelay/key.h>

/* Characters of a base64 key: 10 full groups of 4, then 3 and the pad. */
#define FULL_GROUPS (MR_KEY_LEN / 3)

/* All ones when lo <= x <= hi, else zero. x, lo and hi are small (< 2^16)
 * so the unsigned differences wrap exactly when x is out of range. */
static uint32_t ct_range_mask(uint32_t x, uint32_t lo, uint32_t hi)
{
	uint32_t below = (x - lo) >> 31; /* 1 when x < lo */
	uint32_t above = (hi - x) >> 31; /* 1 when x > hi */

	return (below | above) - 1;
}

/* One 6-bit value to its base64 character. */
static char encode_6(uint32_t v)
{
	uint32_t c = 0;

	c |= ct_range_mask(v, 0, 25) & (v + 'A');
	c |= ct_range_mask(v, 26, 51) & (v - 26 + 'a');
	c |= ct_range_mask(v, 52, 61) & (v - 52 + '0');
	c |= ct_range_mask(v, 62, 62) & '+';
	c |= ct_range_mask(v, 63, 63) & '/';
	return (char)c;
}

/* One base64 character to its 6-bit value; bit 8 is set when the character is
 * outside the standard alphabet. */
static uint32_t decode_6(unsigned char ch)
{
	uint32_t x = ch, v = 0, ok = 0, m;

	m = ct_range_mask(x, 'A', 'Z');
	v |= m & (x - 'A');
	ok |= m;
	m = ct_range_mask(x, 'a', 'z');
	v |= m & (x - 'a' + 26);
	ok |= m;
	m = ct_range_mask(x, '0', '9');
	v |= m & (x - '0' + 52);
	ok |= m;
	m = ct_range_mask(x, '+', '+');
	v |= m & 62;
	ok |= m;
	m = ct_range_mask(x, '/', '/');
	v |= m & 63;
	ok |= m;
	return (v & 0x3f) | (~ok & 0x100);
}

/* Decode the 44 characters at s into out without branching on them or using
 * them as an index. The verdict is handed back in two flags instead of being
 * acted on here, so that this function stays free of secret-dependent
 * control flow (tests/key-ct.sh checks that under valgrind): *bad has bit 8
 * set when a character is outside the alphabet or the pad is missing,
 * *noncanon is non-zero when the unused low bits of the last data character
 * are set. */
static void decode_key(uint8_t out[MR_KEY_LEN], const unsigned char *s, uint32_t *bad,
		       uint32_t *noncanon)
{
	uint32_t acc = 0, d0, d1, d2, d3, v;

	for (size_t i = 0; i < FULL_GROUPS; i++) {
		d0 = decode_6(s[4 * i]);
		d1 = decode_6(s[4 * i + 1]);
		d2 = decode_6(s[4 * i + 2]);
		d3 = decode_6(s[4 * i + 3]);
		acc |= d0 | d1 | d2 | d3;
		v = (d0 & 0x3f) << 18 | (d1 & 0x3f) << 12 | (d2 & 0x3f) << 6 | (d3 & 0x3f);
		out[3 * i] = (uint8_t)(v >> 16);
		out[3 * i + 1] = (uint8_t)(v >> 8);
		out[3 * i + 2] = (uint8_t)v;
	}
	/* The last group: three data characters carry 16 bits plus two unused
	 * low bits, which must be zero for the text to be the canonical
	 * encoding (otherwise four texts would name the same key). */
	d0 = decode_6(s[40]);
	d1 = decode_6(s[41]);
	d2 = decode_6(s[42]);
	acc |= d0 | d1 | d2;
	acc |= ~ct_range_mask(s[43], '=', '=') & 0x100;
	v = (d0 & 0x3f) << 12 | (d1 & 0x3f) << 6 | (d2 & 0x3f);
	out[30] = (uint8_t)(v >> 10);
	out[31] = (uint8_t)(v >> 2);
	*bad = acc & 0x100;
	*noncanon = d2 & 3;
}

static int from_base64(mr_key *out, const char *base64, const char *what, bool refuse_zero)
{
	uint32_t bad, noncanon;
	size_t len;
	mr_key tmp;
	int rc = 0;

	if (!out)
		return mr__error_set(MR_EINVAL, "%s: output is NULL", what);
	if (!base64)
		return mr__error_set(MR_EINVAL, "%s: missing (NULL)", what);
	/* The length does not depend on the key's value: it may be measured with
	 * an ordinary strlen and reported. */
	len = strlen(base64);
	if (len != MR_KEY_BASE64_LEN)
		return mr__error_set(MR_EINVAL, "%s: expected %d characters, got %zu", what,
				     MR_KEY_BASE64_LEN, len);
	decode_key(tmp.bytes, (const unsigned char *)base64, &bad, &noncanon);
	/* Only the verdict leaves the constant-time part, like wg's decoder. */
	if (bad) {
		rc = mr__error_set(MR_EINVAL, "%s: invalid base64", what);
		goto out;
	}
	if (noncanon) {
		rc = mr__error_set(MR_EINVAL, "%s: not canonical", what);
		goto out;
	}
	/* The all-zero point is the identity: a peer with it could never
	 * complete a handshake, and WireGuard refuses it. */
	if (refuse_zero && mr_key_is_zero(&tmp)) {
		rc = mr__error_set(MR_EINVAL, "%s: all zeros", what);
		goto out;
	}
	memcpy(out, &tmp, sizeof(tmp));
out:
	mr__wipe(&tmp, sizeof(tmp));
	return rc;
}

MR_API int mr_key_from_base64(mr_key *out, const char *base64)
{
	return from_base64(out, base64, "key", false);
}

MR_API int mr_key_public_from_base64(mr_key *out, const char *base64)
{
	return from_base64(out, base64, "public key", true);
}

MR_API int mr_key_validate_public(const char *base64)
{
	mr_key tmp;
	int rc = from_base64(&tmp, base64, "public key", true);

	mr__wipe(&tmp, sizeof(tmp));
	return rc;
}

MR_API int mr_key_to_base64(char *out, size_t size, const mr_key *key)
{
	const uint8_t *b;
	uint32_t v;

	if (!out)
		return mr__error_set(MR_EINVAL, "key to base64: output is NULL");
	if (!key)
		return mr__error_set(MR_EINVAL, "key to base64: key is NULL");
	if (size < MR_KEY_BASE64_SIZE)
		return mr__error_set(MR_ETOOBIG, "key to base64: buffer of %zu bytes, need %d",
				     size, MR_KEY_BASE64_SIZE);
	b = key->bytes;
	for (size_t i = 0; i < FULL_GROUPS; i++) {
		v = (uint32_t)b[3 * i] << 16 | (uint32_t)b[3 * i + 1] << 8 | b[3 * i + 2];
		out[4 * i] = encode_6(v >> 18);
		out[4 * i + 1] = encode_6((v >> 12) & 0x3f);
		out[4 * i + 2] = encode_6((v >> 6) & 0x3f);
		out[4 * i + 3] = encode_6(v & 0x3f);
	}
	v = (uint32_t)b[30] << 10 | (uint32_t)b[31] << 2;
	out[40] = encode_6(v >> 12);
	out[41] = encode_6((v >> 6) & 0x3f);
	out[42] = encode_6(v & 0x3f);
	out[43] = '=';
	out[44] = '\0';
	return 0;
}

MR_API int mr_key_generate_private(mr_key *out)
{
	mr_key tmp;
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "generate private key: output is NULL");
	rc = mr__random(tmp.bytes, sizeof(tmp.bytes));
	if (rc < 0)
		goto out;
	/* Clamp like `wg genkey`: X25519 clamps anyway, but a stored key that is
	 * already clamped reads back byte for byte the same in every tool. */
	tmp.bytes[0] &= 248;
	tmp.bytes[31] &= 127;
	tmp.bytes[31] |= 64;
	memcpy(out, &tmp, sizeof(tmp));
out:
	mr__wipe(&tmp, sizeof(tmp));
	return rc;
}

MR_API int mr_key_generate_preshared(mr_key *out)
{
	mr_key tmp;
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "generate preshared key: output is NULL");
	rc = mr__random(tmp.bytes, sizeof(tmp.bytes));
	if (rc == 0)
		memcpy(out, &tmp, sizeof(tmp));
	mr__wipe(&tmp, sizeof(tmp));
	return rc;
}

MR_API int mr_key_public_from_private(mr_key *out, const mr_key *private_key)
{
	EVP_PKEY *pkey = NULL;
	mr_key pub;
	size_t len = sizeof(pub.bytes);
	int rc = 0;

	if (!out)
		return mr__error_set(MR_EINVAL, "public key: output is NULL");
	if (!private_key)
		return mr__error_set(MR_EINVAL, "public key: private key is NULL");
	/* OpenSSL keeps the raw scalar and clamps it when it multiplies, which is
	 * exactly what `wg pubkey` does with unclamped input. */
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, private_key->bytes,
					    sizeof(private_key->bytes));
	if (!pkey) {
		rc = mr__error_crypto("public key: load private key");
		goto out;
	}
	if (EVP_PKEY_get_raw_public_key(pkey, pub.bytes, &len) != 1 || len != sizeof(pub.bytes)) {
		rc = mr__error_crypto("public key: derive");
		goto out_free;
	}
	/* Written last so that out may alias private_key. */
	memcpy(out, &pub, sizeof(pub));
out_free:
	EVP_PKEY_free(pkey);
out:
	mr__wipe(&pub, sizeof(pub));
	return rc;
}

MR_API bool mr_key_is_zero(const mr_key *key)
{
	uint32_t acc = 0;

	if (!key)
		return true;
	for (size_t i = 0; i < MR_KEY_LEN; i++)
		acc |= key->bytes[i];
	/* acc - 1 underflows into bit 31 only when acc was 0. */
	return (bool)((acc - 1) >> 31);
}

MR_API bool mr_key_equal(const mr_key *a, const mr_key *b)
{
	if (!a || !b)
		return false;
	return mr__ct_memcmp(a->bytes, b->bytes, MR_KEY_LEN) == 0;
}

MR_API void mr_key_wipe(mr_key *key)
{
	if (key)
		mr__wipe(key, sizeof(*key));
}

/* SPDX-License-Identifier: MIT */
/*
 * WireGuard keys: X25519 private and public keys and preshared keys, 32 bytes
 * each, and their canonical base64 form (44 characters, one '=' pad) exactly
 * as WireGuard accepts them.
 *
 * Private and preshared keys are secrets: wipe them with mr_key_wipe() when
 * done. The encoder and decoder do not branch on key bytes, and error
 * messages never contain key material.
 */
#ifndef MYRELAY_KEY_H
#define MYRELAY_KEY_H

#include <myrelay/common.h>

MR_BEGIN_DECLS

/** Length of a key in bytes. */
#define MR_KEY_LEN 32
/** Length of a key in base64, without the terminating NUL. */
#define MR_KEY_BASE64_LEN 44
/** Buffer size needed for a base64 key with its NUL. */
#define MR_KEY_BASE64_SIZE 45

/** A 32-byte key (private, public or preshared). A transparent value type. */
typedef struct mr_key {
	uint8_t bytes[MR_KEY_LEN];
} mr_key;

/**
 * Generate a new X25519 private key (clamped, as WireGuard expects) from the
 * operating system's random source through OpenSSL.
 *
 * @param out receives the key; written only on success. Wipe it after use.
 * @return 0, MR_EINVAL (out is NULL) or MR_ECRYPTO.
 */
MR_API int mr_key_generate_private(mr_key *out);

/**
 * Generate a new 32-byte random preshared key.
 *
 * @param out receives the key; written only on success. Wipe it after use.
 * @return 0, MR_EINVAL or MR_ECRYPTO.
 */
MR_API int mr_key_generate_preshared(mr_key *out);

/**
 * Derive the X25519 public key of a private key (what `wg pubkey` prints).
 *
 * @param out receives the public key; written only on success. May alias
 *        private_key.
 * @param private_key any 32 bytes (clamping is applied as X25519 does).
 * @return 0, MR_EINVAL or MR_ECRYPTO.
 */
MR_API int mr_key_public_from_private(mr_key *out, const mr_key *private_key);

/**
 * Encode a key as canonical base64 (44 characters and a NUL).
 *
 * @param out buffer of at least MR_KEY_BASE64_SIZE bytes.
 * @param size size of out.
 * @param key the key to encode.
 * @return 0, MR_EINVAL (NULL argument) or MR_ETOOBIG (size too small).
 */
MR_API int mr_key_to_base64(char *out, size_t size, const mr_key *key);

/**
 * Decode a base64 key as WireGuard does: exactly 44 characters, the standard
 * alphabet, one '=' pad, the last data character canonical (its unused low
 * bits zero), 32 bytes. Any 32-byte value is accepted (use for private and
 * preshared keys).
 *
 * @param out receives the key; written only on success.
 * @param base64 NUL-terminated text.
 * @return 0 or MR_EINVAL with a detail that never quotes the input.
 */
MR_API int mr_key_from_base64(mr_key *out, const char *base64);

/**
 * Decode a public key: as mr_key_from_base64(), and the all-zero key is
 * refused.
 *
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_key_public_from_base64(mr_key *out, const char *base64);

/**
 * Check that text is a valid public key (see mr_key_public_from_base64()).
 *
 * @return 0 or MR_EINVAL with a detail.
 */
MR_API int mr_key_validate_public(const char *base64);

/**
 * Whether all 32 bytes are zero, in constant time.
 * @return true for NULL or an all-zero key.
 */
MR_API bool mr_key_is_zero(const mr_key *key);

/**
 * Compare two keys in constant time.
 * @return true when both are non-NULL and equal.
 */
MR_API bool mr_key_equal(const mr_key *a, const mr_key *b);

/**
 * Overwrite a key with zeros in a way the compiler cannot remove.
 * @param key the key, or NULL.
 */
MR_API void mr_key_wipe(mr_key *key);

MR_END_DECLS

#endif

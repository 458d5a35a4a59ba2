/* SPDX-License-Identifier: MIT */
/*
 * API bearer tokens: admin, node and pod tokens.
 *
 * A token is 79 ASCII characters:
 *
 *     mr<k>_<id>_<secret><check>
 *
 *     mr<k>_    4  prefix; <k> is 'a' (admin), 'n' (node) or 'p' (pod)
 *     <id>     16  public lookup id: 10 random bytes (80 bits) in base32
 *     _         1  separator
 *     <secret> 52  the secret: 32 random bytes (256 bits) in base32; the 4
 *                  unused low bits of the last character must be zero
 *     <check>   6  checksum: CRC-30/CDMA of the 73 characters before it, as 6
 *                  base32 characters (most significant bits first)
 *
 * base32 is RFC 4648 (most significant bit first) with the lowercase alphabet
 * "abcdefghijklmnopqrstuvwxyz234567" and no '=' padding, so Python's
 * base64.b32decode(part.upper() + padding) decodes the id and the secret.
 *
 * CRC-30/CDMA (width 30, polynomial 0x2030b9c7, init and xorout 0x3fffffff,
 * not reflected; check value 0x04c34abf for "123456789") is not a MAC: it only
 * catches accidents. As a degree-30 CRC it detects every error burst of up to
 * 30 bits, hence with certainty every single-character change and every swap
 * of two characters at most two apart, so a mistyped token is refused before
 * any database lookup. A truncated or extended token is refused by the length
 * check.
 *
 * The server stores the kind, the id in clear and the SHA-256 of the 32 secret
 * bytes (never the secret): the id finds the row, mr_token_verify() compares
 * the presented secret's hash with the stored one in constant time.
 *
 * All failures of a presented token's text are MR_EAUTH (the server answers
 * 401); MR_EINVAL means a programming error (NULL argument, unknown kind, a
 * malformed id or hash given by the caller). Details never contain the token
 * text or any part of its secret; the id may appear.
 *
 * A token's text is a secret: wipe it with mr_token_wipe() when done. The
 * secret part is encoded and decoded without branching on its bytes and the
 * checksum is computed without branches or table lookups indexed by it.
 */
#ifndef MYRELAY_TOKEN_H
#define MYRELAY_TOKEN_H

#include <myrelay/common.h>

MR_BEGIN_DECLS

/** Kind of an administrator token (prefix "mra_"). */
#define MR_TOKEN_ADMIN 1
/** Kind of a node agent's token (prefix "mrn_"). */
#define MR_TOKEN_NODE 2
/** Kind of a pod (customer) token (prefix "mrp_"). */
#define MR_TOKEN_POD 3

/** Length of a token's text, without the terminating NUL. */
#define MR_TOKEN_STRLEN 79
/** Buffer size for a token's text with its NUL. */
#define MR_TOKEN_SIZE 80
/** Length of a token id (16 base32 characters), without the NUL. */
#define MR_TOKEN_ID_LEN 16
/** Buffer size for a token id with its NUL. */
#define MR_TOKEN_ID_SIZE 17
/** Length in bytes of the stored hash: SHA-256 of the 32 secret bytes. */
#define MR_TOKEN_HASH_LEN 32
/** Length of the stored hash in hex (64 characters), without the NUL. */
#define MR_TOKEN_HASH_HEX_LEN 64
/** Buffer size for the stored hash in hex with its NUL. */
#define MR_TOKEN_HASH_HEX_SIZE 65

/*
 * Scopes: what a route requires. The server checks the scope a route needs
 * against the token's kind with mr_token_kind_allows(), then checks the
 * subject (a node token only for its own node, a pod token only for its own
 * pod) itself.
 */
/** All administrative routes (nodes, customers, pods, tokens, audit). */
#define MR_TOKEN_SCOPE_ADMIN 0x1u
/** A node's desired state (long poll) and its reports: node agents only. */
#define MR_TOKEN_SCOPE_NODE_STATE 0x2u
/** A pod and its peers: list, add, change, remove devices. */
#define MR_TOKEN_SCOPE_POD_PEERS 0x4u

/**
 * Generate a new token of a kind from the operating system's random source
 * (through OpenSSL).
 *
 * @param out receives the token's text (79 characters and a NUL); written
 *        only on success. It is a secret: show it once, then wipe it with
 *        mr_token_wipe().
 * @param size size of out, at least MR_TOKEN_SIZE.
 * @param kind MR_TOKEN_ADMIN, MR_TOKEN_NODE or MR_TOKEN_POD.
 * @param out_id optional (may be NULL): receives the id (16 characters and a
 *        NUL) to store in clear.
 * @param id_size size of out_id, at least MR_TOKEN_ID_SIZE (ignored when
 *        out_id is NULL).
 * @param out_hash optional (may be NULL): receives the MR_TOKEN_HASH_LEN-byte
 *        SHA-256 of the secret, to store.
 * @return 0; MR_EINVAL (out NULL, unknown kind); MR_ETOOBIG (size or id_size
 *         too small); MR_ECRYPTO (random source or hash failed).
 */
MR_API int mr_token_generate(char *out, size_t size, int kind, char *out_id, size_t id_size,
			     uint8_t *out_hash);

/**
 * Parse a presented token. Checks, in this order: the prefix, the length, the
 * checksum, then the separator, the alphabet of id and secret, and that the
 * secret's encoding is canonical. Whitespace, uppercase or any other deviation
 * is refused (the caller strips "Bearer " itself). The secret is never
 * returned, only its hash.
 *
 * @param text NUL-terminated text as presented.
 * @param out_kind optional: receives the kind (MR_TOKEN_ADMIN, ...).
 * @param out_id optional: receives the id (16 characters and a NUL).
 * @param id_size size of out_id, at least MR_TOKEN_ID_SIZE (ignored when
 *        out_id is NULL).
 * @param out_hash optional: receives the MR_TOKEN_HASH_LEN-byte SHA-256 of the
 *        secret.
 * Outputs are written only on success.
 * @return 0; MR_EAUTH when the text is not a well-formed token, with one of
 *         the details "token: empty", "token: unknown prefix (...)",
 *         "token: wrong length (...)", "token: checksum mismatch (typo or
 *         truncated?)", "token: malformed (...)"; MR_EINVAL (text NULL);
 *         MR_ETOOBIG (id_size too small); MR_ECRYPTO (hashing failed).
 */
MR_API int mr_token_parse(const char *text, int *out_kind, char *out_id, size_t id_size,
			  uint8_t *out_hash);

/**
 * Verify a presented token against what the server stored for it, in
 * constant time with respect to the secret and the stored hash.
 *
 * @param text NUL-terminated text as presented.
 * @param kind the kind stored for this token.
 * @param id the id stored for this token (16 base32 characters).
 * @param stored_hash the MR_TOKEN_HASH_LEN-byte hash stored for this token.
 * @return 0 when text is a well-formed token of that kind and id whose
 *         secret hashes to stored_hash; MR_EAUTH otherwise (the detail is the
 *         parse failure, "token: kind is X, expected Y", "token: id does not
 *         match" or "token: secret does not match"); MR_EINVAL (a NULL
 *         argument, unknown kind, id not 16 base32 characters); MR_ECRYPTO.
 *         Revocation and expiry are the caller's business.
 */
MR_API int mr_token_verify(const char *text, int kind, const char *id, const uint8_t *stored_hash);

/**
 * Format a stored hash as 64 lowercase hex characters (for a TEXT column).
 *
 * @param out buffer of at least MR_TOKEN_HASH_HEX_SIZE bytes; written only on
 *        success.
 * @param size size of out.
 * @param hash MR_TOKEN_HASH_LEN bytes.
 * @return 0, MR_EINVAL (NULL argument) or MR_ETOOBIG (size too small).
 */
MR_API int mr_token_hash_hex(char *out, size_t size, const uint8_t *hash);

/**
 * Parse a stored hash from exactly 64 hex characters (either case).
 *
 * @param out receives MR_TOKEN_HASH_LEN bytes; written only on success.
 * @param hex NUL-terminated text.
 * @return 0 or MR_EINVAL (NULL argument, wrong length, not hex).
 */
MR_API int mr_token_hash_from_hex(uint8_t *out, const char *hex);

/**
 * Name of a kind: "admin", "node" or "pod".
 *
 * @param kind MR_TOKEN_ADMIN, MR_TOKEN_NODE or MR_TOKEN_POD.
 * @return a string with static storage, or NULL for an unknown kind.
 */
MR_API const char *mr_token_kind_name(int kind);

/**
 * Kind of a name ("admin", "node", "pod"; exact, lowercase).
 *
 * @param name NUL-terminated name.
 * @return the kind (> 0), or MR_EINVAL (NULL or unknown name).
 */
MR_API int mr_token_kind_from_name(const char *name);

/**
 * The set of scopes (MR_TOKEN_SCOPE_* bits) a kind holds: an admin token
 * holds MR_TOKEN_SCOPE_ADMIN and MR_TOKEN_SCOPE_POD_PEERS (operators manage
 * any pod's devices), a node token MR_TOKEN_SCOPE_NODE_STATE, a pod token
 * MR_TOKEN_SCOPE_POD_PEERS. Node state and reports are for node agents only.
 *
 * @param kind a token kind.
 * @return the scope bits, 0 for an unknown kind.
 */
MR_API uint32_t mr_token_kind_scopes(int kind);

/**
 * Whether a kind holds every scope a route requires.
 *
 * @param kind a token kind.
 * @param scope one or more MR_TOKEN_SCOPE_* bits.
 * @return true when scope is not 0, has no unknown bits, and all its bits are
 *         held by kind; false otherwise (including unknown kinds): it fails
 *         closed.
 */
MR_API bool mr_token_kind_allows(int kind, uint32_t scope);

/**
 * Overwrite a token's text with zeros in a way the compiler cannot remove.
 *
 * @param token the buffer, or NULL (then nothing happens).
 * @param size its size in bytes (MR_TOKEN_SIZE for a generated token).
 */
MR_API void mr_token_wipe(char *token, size_t size);

MR_END_DECLS

#endif

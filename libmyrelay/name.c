/* SPDX-License-Identifier: MIT */
/*
 * Interface names and labels.
 *
 * The character classes are spelled out with explicit ASCII ranges rather
 * than <ctype.h>, whose answers depend on the locale: a name valid on one
 * machine must be valid on every machine.
 */
#include "internal.h"

#include <string.h>

#include <openssl/evp.h>

#include <myrelay/name.h>

static bool is_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_lower_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Name the offending byte without quoting the input: a lone printable
 * character is harmless in a message; anything else is shown in hex so that
 * control characters cannot forge log lines. */
static int bad_char(const char *what, unsigned char c, size_t index)
{
	if (c > 0x20 && c < 0x7f && c != '\'')
		return mr__error_set(MR_EINVAL, "%s: invalid character '%c' at position %zu", what,
				     c, index + 1);
	return mr__error_set(MR_EINVAL, "%s: invalid byte 0x%02x at position %zu", what, c,
			     index + 1);
}

MR_API int mr_name_validate_interface(const char *name)
{
	static const char what[] = "interface name";
	size_t len;

	if (!name)
		return mr__error_set(MR_EINVAL, "%s: missing (NULL)", what);
	len = strlen(name);
	if (len == 0)
		return mr__error_set(MR_EINVAL, "%s: empty", what);
	if (len > MR_NAME_IFNAME_MAX)
		return mr__error_set(MR_EINVAL, "%s: %zu bytes, at most %d allowed", what, len,
				     MR_NAME_IFNAME_MAX);
	/* The character set below already excludes '.', but the kernel's own
	 * rule is about these two names (they would be path components in
	 * /proc/sys/net/...): keep that rule visible on its own. */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return mr__error_set(MR_EINVAL, "%s: \".\" and \"..\" are not allowed", what);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!is_alnum(c) && c != '_' && c != '-')
			return bad_char(what, c, i);
	}
	return 0;
}

static int validate_label(const char *label, const char *what)
{
	size_t len;

	if (!label)
		return mr__error_set(MR_EINVAL, "%s: missing (NULL)", what);
	len = strlen(label);
	if (len == 0)
		return mr__error_set(MR_EINVAL, "%s: empty", what);
	if (len > MR_NAME_LABEL_MAX)
		return mr__error_set(MR_EINVAL, "%s: %zu bytes, at most %d allowed", what, len,
				     MR_NAME_LABEL_MAX);
	/* A leading punctuation character is refused so that a label can never
	 * look like a command-line option ("-x"), a hidden or relative path
	 * (".", "..") or an address ("@host"). */
	if (!is_alnum((unsigned char)label[0]))
		return bad_char(what, (unsigned char)label[0], 0);
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)label[i];

		if (!is_alnum(c) && c != '.' && c != '_' && c != '@' && c != '-')
			return bad_char(what, c, i);
	}
	return 0;
}

MR_API int mr_name_validate_label(const char *label)
{
	return validate_label(label, "label");
}

MR_API int mr_name_pod_interface(char *out, size_t size, const char *pod_id)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char name[MR_NAME_IFNAMSIZ];
	size_t plen = strlen(MR_NAME_POD_PREFIX);
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "pod interface name: output is NULL");
	rc = validate_label(pod_id, "pod id");
	if (rc < 0)
		return rc;
	if (size < MR_NAME_IFNAMSIZ)
		return mr__error_set(MR_ETOOBIG, "pod interface name: buffer of %zu bytes, need %d",
				     size, MR_NAME_IFNAMSIZ);
	if (EVP_Digest(pod_id, strlen(pod_id), md, &md_len, EVP_sha256(), NULL) != 1)
		return mr__error_crypto("pod interface name: SHA-256");
	/* Three bytes keep the name well inside IFNAMSIZ; 24 bits can still
	 * collide, so whoever places pods on a node must check the name is free. */
	memcpy(name, MR_NAME_POD_PREFIX, plen);
	for (size_t i = 0; i < 3; i++) {
		name[plen + 2 * i] = hex[md[i] >> 4];
		name[plen + 2 * i + 1] = hex[md[i] & 0xf];
	}
	name[MR_NAME_POD_LEN] = '\0';
	memcpy(out, name, MR_NAME_POD_LEN + 1);
	return 0;
}

MR_API bool mr_name_is_pod_interface(const char *name)
{
	size_t plen = strlen(MR_NAME_POD_PREFIX);

	if (!name || strnlen(name, MR_NAME_POD_LEN + 1) != MR_NAME_POD_LEN)
		return false;
	if (memcmp(name, MR_NAME_POD_PREFIX, plen) != 0)
		return false;
	for (size_t i = plen; i < MR_NAME_POD_LEN; i++) {
		if (!is_lower_hex((unsigned char)name[i]))
			return false;
	}
	return true;
}

/* SPDX-License-Identifier: MIT */
/*
 * Requests and results of the store as JSON text.
 *
 * A request is refused as a whole before anything is written: unknown members
 * are errors (a typo in an optional member must not silently fall back to a
 * default), and every value is checked by the module that owns its rules
 * (name, key, cidr). Details name the member and never quote a value, since
 * some values (preshared keys) are secrets.
 */
#include "store-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/cidr.h>
#include <myrelay/key.h>
#include <myrelay/name.h>
#include <myrelay/token.h>

/* Longest string member when a field gives no limit. */
#define DEFAULT_STRING_MAX 255

static const char *json_error_text(const json_error_t *err)
{
	switch (json_error_code(err)) {
	case json_error_invalid_utf8:
		return "invalid UTF-8";
	case json_error_premature_end_of_input:
		return "unexpected end of input";
	case json_error_end_of_input_expected:
		return "unexpected data after the value";
	case json_error_duplicate_key:
		return "duplicate member";
	case json_error_numeric_overflow:
		return "number out of range";
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return "NUL character in a string";
	case json_error_stack_overflow:
		return "nested too deeply";
	default:
		return "syntax error";
	}
}

/* Member names are chosen by the client: show one only if it is short and
 * plain, so that a message cannot carry control characters or a secret
 * pasted in the wrong place. */
static bool showable(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 32)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

static const char *wanted_name(int type)
{
	switch (type) {
	case RT_STRING:
		return "a string";
	case RT_INT:
		return "an integer";
	case RT_ARRAY:
		return "an array";
	default:
		return "a boolean";
	}
}

/* The checks below leave a detail without the owning module's own prefix
 * ("public key: ", "label: "); this puts the member's name in front. */
static int name_member(const char *path, const char *member, int rc)
{
	char detail[256];

	snprintf(detail, sizeof(detail), "%s", mr_error_message());
	return mr__error_set(rc, "%s%s: %s", path, member, detail[0] ? detail : "invalid");
}

static int check_value(const struct store_field *f, json_t *v, const char *path)
{
	if (f->type == RT_STRING) {
		const char *s;
		size_t len, max = f->max ? (size_t)f->max : DEFAULT_STRING_MAX;

		if (!json_is_string(v))
			goto wrong_type;
		s = json_string_value(v);
		len = json_string_length(v);
		if (len < (size_t)f->min)
			return mr__error_set(MR_EINVAL, "%s%s: empty", path, f->name);
		if (len > max)
			return mr__error_set(MR_EINVAL, "%s%s: %zu bytes, at most %zu allowed",
					     path, f->name, len, max);
		if (f->check) {
			int rc = f->check(s);

			if (rc < 0)
				return name_member(path, f->name, rc);
		}
		return 0;
	}
	if (f->type == RT_ARRAY) {
		if (!json_is_array(v))
			goto wrong_type;
		if (json_array_size(v) > (size_t)f->max)
			return mr__error_set(MR_EINVAL, "%s%s: %zu elements, at most %lld allowed",
					     path, f->name, json_array_size(v), (long long)f->max);
		return 0;
	}
	if (f->type == RT_INT) {
		json_int_t i;

		if (!json_is_integer(v))
			goto wrong_type;
		i = json_integer_value(v);
		if (i < f->min || i > f->max)
			return mr__error_set(MR_EINVAL, "%s%s: %lld out of range %lld-%lld", path,
					     f->name, (long long)i, (long long)f->min,
					     (long long)f->max);
		return 0;
	}
	if (!json_is_boolean(v))
		goto wrong_type;
	return 0;
wrong_type:
	return mr__error_set(MR_EINVAL, "%s%s: expected %s, got %s", path, f->name,
			     wanted_name(f->type), type_name(v));
}

int mr__store_validate(json_t *obj, const struct store_field *fields, size_t n, const char *path)
{
	const char *key;
	json_t *v;
	int rc, plen;

	if (!json_is_object(obj))
		return mr__error_set(MR_EINVAL, "%.*s: expected a JSON object, got %s",
				     path[0] ? (int)strlen(path) - 1 : 7,
				     path[0] ? path : "request", type_name(obj));
	json_object_foreach(obj, key, v)
	{
		size_t i;

		for (i = 0; i < n; i++)
			if (strcmp(fields[i].name, key) == 0)
				break;
		if (i < n)
			continue;
		/* "request: unknown member" at the top, "pods[2]: ..." inside. */
		plen = path[0] ? (int)strlen(path) - 1 : 7;
		if (showable(key))
			return mr__error_set(MR_EINVAL, "%.*s: unknown member \"%s\"", plen,
					     path[0] ? path : "request", key);
		return mr__error_set(MR_EINVAL, "%.*s: unknown member", plen,
				     path[0] ? path : "request");
	}
	for (size_t i = 0; i < n; i++) {
		const struct store_field *f = &fields[i];

		v = json_object_get(obj, f->name);
		if (!v) {
			if (f->flags & RF_REQUIRED)
				return mr__error_set(MR_EINVAL, "%s%s: missing", path, f->name);
			continue;
		}
		if (json_is_null(v)) {
			if (!(f->flags & RF_NULLABLE))
				return mr__error_set(MR_EINVAL, "%s%s: must not be null", path,
						     f->name);
			continue;
		}
		rc = check_value(f, v, path);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int mr__store_parse_max(const char *text, size_t max, const struct store_field *fields, size_t n,
			json_t **out)
{
	json_error_t err;
	json_t *req;
	size_t len;
	int rc;

	if (!text)
		return mr__error_set(MR_EINVAL, "request: missing (NULL)");
	len = strnlen(text, max + 1);
	if (len > max)
		return mr__error_set(MR_ETOOBIG, "request: larger than %zu bytes", max);
	/* jansson refuses NUL inside strings by default (a C string would be
	 * cut at it), and duplicates are refused so that a second "pod" cannot
	 * override the one the server checked. */
	req = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!req) {
		if (json_error_code(&err) == json_error_out_of_memory)
			return mr__error_set(MR_ENOMEM, "request: out of memory");
		return mr__error_set(MR_EINVAL, "request: invalid JSON at line %d, column %d: %s",
				     err.line, err.column, json_error_text(&err));
	}
	rc = mr__store_validate(req, fields, n, "");
	if (rc < 0) {
		mr__store_req_free(req, fields, n);
		return rc;
	}
	*out = req;
	return 0;
}

int mr__store_parse(const char *text, const struct store_field *fields, size_t n, json_t **out)
{
	return mr__store_parse_max(text, STORE_REQUEST_MAX, fields, n, out);
}

void mr__store_req_free(json_t *req, const struct store_field *fields, size_t n)
{
	if (!req)
		return;
	/* jansson frees without wiping; scrub secret strings in place first
	 * (the buffer is ours to write until the decref frees it). */
	for (size_t i = 0; i < n; i++) {
		json_t *v;

		if (!(fields[i].flags & RF_SECRET))
			continue;
		v = json_object_get(req, fields[i].name);
		if (v && json_is_string(v))
			mr__wipe((char *)json_string_value(v), json_string_length(v));
	}
	json_decref(req);
}

const char *mr__store_req_str(json_t *req, const char *name)
{
	json_t *v = json_object_get(req, name);

	return v && json_is_string(v) ? json_string_value(v) : NULL;
}

bool mr__store_req_has(json_t *req, const char *name)
{
	return json_object_get(req, name) != NULL;
}

bool mr__store_req_is_null(json_t *req, const char *name)
{
	json_t *v = json_object_get(req, name);

	return v && json_is_null(v);
}

int64_t mr__store_req_int(json_t *req, const char *name, int64_t dflt)
{
	json_t *v = json_object_get(req, name);

	return v && json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

bool mr__store_req_bool(json_t *req, const char *name, bool dflt)
{
	json_t *v = json_object_get(req, name);

	return v && json_is_boolean(v) ? json_is_true(v) : dflt;
}

int mr__store_set(json_t *obj, const char *key, json_t *value)
{
	if (!value || json_object_set_new(obj, key, value) < 0)
		return mr__error_set(MR_ENOMEM, "result: out of memory");
	return 0;
}

/* First buffer for a serialised result: most answers fit. */
#define RESULT_FIRST_SIZE 16384

int mr__store_result(json_t *result, const char *secret_name, const char *secret, char **out)
{
	size_t size, cap = RESULT_FIRST_SIZE, extra = 0;
	char *buf;

	if (!result)
		return mr__error_set(MR_ENOMEM, "result: out of memory");
	if (secret_name)
		extra = strlen(secret_name) + strlen(secret) + 7; /* ,"":""  */
	/* json_dumpb writes straight into our buffer, so the result (which may
	 * hold preshared keys) leaves no reallocated copies behind. One pass
	 * into a fixed buffer serves most results (serialising was a third of
	 * the server's CPU on a GET when every result was dumped twice, once
	 * to measure it); a larger one is wiped and dumped again at its exact
	 * size, which json_dumpb reported. */
	buf = malloc(cap);
	if (!buf) {
		json_decref(result);
		return mr__error_set(MR_ENOMEM, "result: out of memory");
	}
	size = json_dumpb(result, buf, cap, JSON_COMPACT);
	if (size >= 2 && size + extra + 1 > cap) {
		mr__wipe(buf, cap);
		free(buf);
		cap = size + extra + 1;
		buf = malloc(cap);
		if (!buf) {
			json_decref(result);
			return mr__error_set(MR_ENOMEM, "result: out of memory");
		}
		size = json_dumpb(result, buf, size, JSON_COMPACT);
	}
	json_decref(result);
	if (size < 2) {
		mr__wipe(buf, cap);
		free(buf);
		return mr__error_set(MR_ENOMEM, "result: cannot serialise");
	}
	if (secret_name) {
		/* Replace the closing brace of the object: the secret never
		 * passes through jansson's buffers. */
		snprintf(buf + size - 1, extra + 2, "%s\"%s\":\"%s\"}", size > 2 ? "," : "",
			 secret_name, secret);
	} else {
		buf[size] = '\0';
	}
	*out = buf;
	return 0;
}

/* --- value checks ------------------------------------------------------- */

/* Keep what the owning module said after its own "what: " prefix. */
static int strip_detail(int rc, const char *prefix)
{
	char detail[256];
	const char *msg = mr_error_message();
	size_t plen = strlen(prefix);

	if (strncmp(msg, prefix, plen) != 0)
		return rc;
	snprintf(detail, sizeof(detail), "%s", msg + plen);
	return mr__error_set(rc, "%s", detail);
}

int mr__store_check_label(const char *v)
{
	int rc = mr_name_validate_label(v);

	return rc < 0 ? strip_detail(rc, "label: ") : 0;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int mr__store_check_host(const char *v)
{
	mr_prefix p;
	size_t len = strlen(v), label = 0;
	bool all_digits = true;

	if (mr_cidr_parse_address(&p, v) == 0)
		return 0;
	/* A DNS name (RFC 1123): dot-separated labels of letters, digits and
	 * inner hyphens. The last label may not be all digits, so a mistyped
	 * IPv4 address is not taken for a name. */
	if (len == 0 || len > 253)
		return mr__error_set(MR_EINVAL, "not an IP address or host name");
	for (size_t i = 0; i <= len; i++) {
		char c = v[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || v[i - 1] == '-')
				return mr__error_set(MR_EINVAL, "not an IP address or host name");
			if (c == '\0')
				break;
			label = 0;
			all_digits = true;
			continue;
		}
		if (!is_alnum(c) && !(c == '-' && label > 0))
			return mr__error_set(MR_EINVAL, "not an IP address or host name");
		if (!(c >= '0' && c <= '9'))
			all_digits = false;
		label++;
	}
	if (all_digits)
		return mr__error_set(MR_EINVAL, "not an IP address or host name");
	return 0;
}

int mr__store_check_public_key(const char *v)
{
	int rc = mr_key_validate_public(v);

	return rc < 0 ? strip_detail(rc, "public key: ") : 0;
}

int mr__store_check_preshared_key(const char *v)
{
	mr_key k;
	int rc = mr_key_from_base64(&k, v);

	mr_key_wipe(&k);
	return rc < 0 ? strip_detail(rc, "key: ") : 0;
}

int mr__store_check_text(const char *v)
{
	for (size_t i = 0; v[i]; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return mr__error_set(MR_EINVAL,
					     "invalid character at position %zu (printable "
					     "ASCII only)",
					     i + 1);
	return 0;
}

static int check_id(const char *v, const char *prefix, const char *what)
{
	if (!mr__store_is_id(v, prefix))
		return mr__error_set(MR_EINVAL, "not a %s id (%s followed by 12 characters)", what,
				     prefix);
	return 0;
}

int mr__store_check_node_id(const char *v)
{
	return check_id(v, "nd_", "node");
}

int mr__store_check_customer_id(const char *v)
{
	return check_id(v, "cu_", "customer");
}

int mr__store_check_pod_id(const char *v)
{
	return check_id(v, "pd_", "pod");
}

int mr__store_check_peer_id(const char *v)
{
	return check_id(v, "pr_", "peer");
}

int mr__store_check_token_id(const char *v)
{
	if (strlen(v) != MR_TOKEN_ID_LEN)
		goto bad;
	for (size_t i = 0; i < MR_TOKEN_ID_LEN; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '2' && v[i] <= '7')))
			goto bad;
	return 0;
bad:
	return mr__error_set(MR_EINVAL, "not a token id (%d base32 characters)", MR_TOKEN_ID_LEN);
}

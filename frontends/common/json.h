/* SPDX-License-Identifier: MIT */
/*
 * Just enough JSON for the frontends: a growable text buffer with correct
 * string escaping to build requests, and a small reader for the library's
 * results (which are always well-formed, compact JSON). The library checks
 * every request itself; nothing here decides whether input is valid.
 */
#ifndef MYRELAY_FRONTEND_JSON_H
#define MYRELAY_FRONTEND_JSON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable NUL-terminated buffer. Allocation failures are sticky: the
 * buffer is marked failed and every later append does nothing. */
struct fe_buf {
	char *p;
	size_t len;
	size_t cap;
	bool failed;
};

void fe_buf_init(struct fe_buf *b);
void fe_buf_free(struct fe_buf *b);
/* Wipe the contents (secrets) before freeing. */
void fe_buf_wipe_free(struct fe_buf *b);
void fe_buf_addn(struct fe_buf *b, const char *s, size_t n);
void fe_buf_add(struct fe_buf *b, const char *s);
void fe_buf_addf(struct fe_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s (n bytes) as a JSON string literal with its quotes. Bytes that are
 * not valid UTF-8 are copied as they are: the library refuses such text with
 * a clear message, and silently replacing them would change the input. */
void fe_buf_json_string(struct fe_buf *b, const char *s, size_t n);
/* Take the contents (caller frees with free()); the buffer is reset. NULL if
 * an allocation failed. */
char *fe_buf_steal(struct fe_buf *b, size_t *len);

enum fe_json_type {
	FE_JSON_NULL,
	FE_JSON_BOOL,
	FE_JSON_INT,
	FE_JSON_REAL,
	FE_JSON_STRING,
	FE_JSON_ARRAY,
	FE_JSON_OBJECT,
};

struct fe_json {
	enum fe_json_type type;
	bool b;
	int64_t i;
	double d;
	char *s;		/* string (NUL-terminated), or NULL */
	size_t n;		/* items of an array or object */
	char **keys;		/* object member names */
	struct fe_json **items; /* array items or object values */
};

/* Parse one JSON value covering all of text[0..len). Returns NULL on a
 * syntax error, invalid UTF-8, nesting deeper than 64 or no memory. */
struct fe_json *fe_json_parse(const char *text, size_t len);
/* The same, telling where and why it failed (byte offset into text and a
 * static description such as "expected ',' or '}'"). */
struct fe_json *fe_json_parse_ex(const char *text, size_t len, size_t *err_offset,
				 const char **err_what);
void fe_json_free(struct fe_json *v);
/* Member of an object, NULL if absent or v is not an object. */
const struct fe_json *fe_json_get(const struct fe_json *v, const char *key);
/* Member as string / integer, with a default when absent or of another type. */
const char *fe_json_get_str(const struct fe_json *v, const char *key);
int64_t fe_json_get_int(const struct fe_json *v, const char *key, int64_t def);

#endif

/* SPDX-License-Identifier: MIT */
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

void fe_buf_init(struct fe_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void fe_buf_free(struct fe_buf *b)
{
	free(b->p);
	fe_buf_init(b);
}

void fe_buf_wipe_free(struct fe_buf *b)
{
	if (b->p) {
		/* volatile: the compiler must not drop a store to memory about
		 * to be freed. */
		volatile char *p = b->p;

		for (size_t i = 0; i < b->cap; i++)
			p[i] = 0;
	}
	fe_buf_free(b);
}

static bool reserve(struct fe_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return false;
	if (extra > SIZE_MAX - b->len - 1)
		goto fail;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			goto fail;
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p)
		goto fail;
	b->p = p;
	b->cap = cap;
	return true;
fail:
	b->failed = true;
	return false;
}

void fe_buf_addn(struct fe_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void fe_buf_add(struct fe_buf *b, const char *s)
{
	fe_buf_addn(b, s, strlen(s));
}

void fe_buf_addf(struct fe_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void fe_buf_json_string(struct fe_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	fe_buf_addn(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			fe_buf_addn(b, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			fe_buf_addn(b, esc, 6);
		} else {
			fe_buf_addn(b, (const char *)&s[i], 1);
		}
	}
	fe_buf_addn(b, "\"", 1);
}

char *fe_buf_steal(struct fe_buf *b, size_t *len)
{
	char *p;

	if (b->failed || !reserve(b, 0)) {
		fe_buf_free(b);
		return NULL;
	}
	p = b->p;
	if (len)
		*len = b->len;
	fe_buf_init(b);
	return p;
}

/* --- reader ------------------------------------------------------------- */

struct parser {
	const char *start;
	const char *p;
	const char *end;
	int depth;
	const char *err_at;
	const char *err_what;
};

/* Record the first failure (the innermost one: later calls come from callers
 * unwinding) and return NULL for the caller to pass up. */
static void *fail_at(struct parser *ps, const char *at, const char *what)
{
	if (!ps->err_what) {
		ps->err_at = at;
		ps->err_what = what;
	}
	return NULL;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static struct fe_json *new_value(enum fe_json_type type)
{
	struct fe_json *v = calloc(1, sizeof(*v));

	if (v)
		v->type = type;
	return v;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void put_utf8(struct fe_buf *b, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	fe_buf_addn(b, u, n);
}

/* Length of the valid UTF-8 sequence at p, 0 if invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned cp;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static char *parse_string(struct parser *ps)
{
	const char *what = "invalid string";
	struct fe_buf b;

	fe_buf_init(&b);
	ps->p++; /* opening quote */
	while (ps->p < ps->end && *ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p;

		if (c < 0x20) {
			what = "control character in a string";
			goto fail;
		}
		if (c == '\\') {
			unsigned cp, lo;

			what = "invalid escape in a string";
			if (ps->end - ps->p < 2)
				goto fail;
			ps->p++;
			switch (*ps->p) {
			case '"':
				fe_buf_addn(&b, "\"", 1);
				break;
			case '\\':
				fe_buf_addn(&b, "\\", 1);
				break;
			case '/':
				fe_buf_addn(&b, "/", 1);
				break;
			case 'b':
				fe_buf_addn(&b, "\b", 1);
				break;
			case 'f':
				fe_buf_addn(&b, "\f", 1);
				break;
			case 'n':
				fe_buf_addn(&b, "\n", 1);
				break;
			case 'r':
				fe_buf_addn(&b, "\r", 1);
				break;
			case 't':
				fe_buf_addn(&b, "\t", 1);
				break;
			case 'u':
				if (ps->end - ps->p < 5 || hex4(ps->p + 1, &cp) < 0)
					goto fail;
				ps->p += 4;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					goto fail;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (ps->end - ps->p < 7 || ps->p[1] != '\\' ||
					    ps->p[2] != 'u' || hex4(ps->p + 3, &lo) < 0 ||
					    lo < 0xdc00 || lo > 0xdfff)
						goto fail;
					ps->p += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				if (cp == 0) {
					what = "NUL character in a string";
					goto fail; /* would truncate a C string */
				}
				put_utf8(&b, cp);
				break;
			default:
				goto fail;
			}
			ps->p++;
		} else {
			size_t n =
			    utf8_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);

			if (n == 0) {
				what = "invalid UTF-8";
				goto fail;
			}
			fe_buf_addn(&b, ps->p, n);
			ps->p += n;
		}
	}
	if (ps->p >= ps->end) {
		what = "unexpected end of input";
		goto fail;
	}
	ps->p++; /* closing quote */
	fe_buf_addn(&b, "", 0);
	return fe_buf_steal(&b, NULL);
fail:
	fe_buf_free(&b);
	return fail_at(ps, ps->p, what);
}

static struct fe_json *parse_value(struct parser *ps);

static bool append_item(struct fe_json *v, char *key, struct fe_json *item)
{
	struct fe_json **items;

	items = realloc(v->items, (v->n + 1) * sizeof(*items));
	if (!items)
		return false;
	v->items = items;
	if (v->type == FE_JSON_OBJECT) {
		char **keys = realloc(v->keys, (v->n + 1) * sizeof(*keys));

		if (!keys)
			return false;
		v->keys = keys;
		keys[v->n] = key;
	}
	items[v->n++] = item;
	return true;
}

static struct fe_json *parse_container(struct parser *ps, bool object)
{
	struct fe_json *v = new_value(object ? FE_JSON_OBJECT : FE_JSON_ARRAY);
	char close = object ? '}' : ']';

	if (!v)
		return fail_at(ps, ps->p, "out of memory");
	if (++ps->depth > MAX_DEPTH) {
		fail_at(ps, ps->p, "nested too deeply");
		goto fail;
	}
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return v;
	}
	for (;;) {
		char *key = NULL;
		struct fe_json *item;

		skip_ws(ps);
		if (object) {
			if (ps->p >= ps->end || *ps->p != '"') {
				fail_at(ps, ps->p,
					ps->p >= ps->end ? "unexpected end of input"
							 : "expected a member name");
				goto fail;
			}
			key = parse_string(ps);
			if (!key)
				goto fail;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				fail_at(ps, ps->p, "expected ':'");
				free(key);
				goto fail;
			}
			ps->p++;
		}
		item = parse_value(ps);
		if (!item || !append_item(v, key, item)) {
			fail_at(ps, ps->p, "out of memory");
			free(key);
			fe_json_free(item);
			goto fail;
		}
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			break;
		}
		fail_at(ps, ps->p,
			ps->p >= ps->end ? "unexpected end of input"
			: object	 ? "expected ',' or '}'"
					 : "expected ',' or ']'");
		goto fail;
	}
	ps->depth--;
	return v;
fail:
	fe_json_free(v);
	return NULL;
}

static bool digit_at(struct parser *ps)
{
	return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

static struct fe_json *parse_number(struct parser *ps)
{
	const char *start = ps->p;
	bool integral = true;
	char tmp[64];
	size_t n;
	struct fe_json *v;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (!digit_at(ps))
		return fail_at(ps, ps->p,
			       ps->p >= ps->end ? "unexpected end of input" : "expected a value");
	if (*ps->p == '0')
		ps->p++;
	else
		while (digit_at(ps))
			ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		integral = false;
		ps->p++;
		if (!digit_at(ps))
			return fail_at(ps, ps->p, "invalid number");
		while (digit_at(ps))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		integral = false;
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!digit_at(ps))
			return fail_at(ps, ps->p, "invalid number");
		while (digit_at(ps))
			ps->p++;
	}
	n = (size_t)(ps->p - start);
	if (n >= sizeof(tmp))
		return fail_at(ps, start, "number too long");
	memcpy(tmp, start, n);
	tmp[n] = '\0';
	v = new_value(integral ? FE_JSON_INT : FE_JSON_REAL);
	if (!v)
		return fail_at(ps, start, "out of memory");
	errno = 0;
	if (integral) {
		v->i = strtoll(tmp, NULL, 10);
		v->d = (double)v->i;
		if (errno == ERANGE) {
			/* As jansson, which reads the body again: integers
			 * are 64-bit. */
			fe_json_free(v);
			return fail_at(ps, start, "number out of range");
		}
	} else {
		v->d = strtod(tmp, NULL);
		v->i = (int64_t)v->d;
	}
	if (errno == ERANGE && (v->d > 1e308 || v->d < -1e308)) {
		fe_json_free(v);
		return fail_at(ps, start, "number out of range");
	}
	return v;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return false;
	ps->p += n;
	return true;
}

static struct fe_json *parse_value(struct parser *ps)
{
	struct fe_json *v;
	const char *at;

	skip_ws(ps);
	at = ps->p;
	if (ps->p >= ps->end)
		return fail_at(ps, at, "unexpected end of input");
	switch (*ps->p) {
	case '{':
		return parse_container(ps, true);
	case '[':
		return parse_container(ps, false);
	case '"':
		v = new_value(FE_JSON_STRING);
		if (v && !(v->s = parse_string(ps))) {
			free(v);
			v = NULL;
		}
		return v;
	case 't':
	case 'f': {
		bool truth = *ps->p == 't';

		if (!literal(ps, truth ? "true" : "false"))
			return fail_at(ps, at, "expected a value");
		v = new_value(FE_JSON_BOOL);
		if (v)
			v->b = truth;
		return v;
	}
	case 'n':
		if (!literal(ps, "null"))
			return fail_at(ps, at, "expected a value");
		return new_value(FE_JSON_NULL);
	default:
		return parse_number(ps);
	}
}

struct fe_json *fe_json_parse_ex(const char *text, size_t len, size_t *err_offset,
				 const char **err_what)
{
	struct parser ps = {text, text, text + len, 0, NULL, NULL};
	struct fe_json *v = NULL;

	if (!text)
		goto out;
	v = parse_value(&ps);
	if (!v)
		goto out;
	skip_ws(&ps);
	if (ps.p != ps.end) {
		fe_json_free(v);
		v = NULL;
		fail_at(&ps, ps.p, "unexpected data after the value");
	}
out:
	if (!v) {
		if (err_offset)
			*err_offset = ps.err_at ? (size_t)(ps.err_at - text) : 0;
		if (err_what)
			*err_what = ps.err_what ? ps.err_what : "invalid JSON";
	}
	return v;
}

struct fe_json *fe_json_parse(const char *text, size_t len)
{
	return fe_json_parse_ex(text, len, NULL, NULL);
}

void fe_json_free(struct fe_json *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		if (v->keys)
			free(v->keys[i]);
		fe_json_free(v->items[i]);
	}
	free(v->keys);
	free(v->items);
	free(v->s);
	free(v);
}

const struct fe_json *fe_json_get(const struct fe_json *v, const char *key)
{
	if (!v || v->type != FE_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->keys[i], key) == 0)
			return v->items[i];
	return NULL;
}

const char *fe_json_get_str(const struct fe_json *v, const char *key)
{
	const struct fe_json *m = fe_json_get(v, key);

	return m && m->type == FE_JSON_STRING ? m->s : NULL;
}

int64_t fe_json_get_int(const struct fe_json *v, const char *key, int64_t def)
{
	const struct fe_json *m = fe_json_get(v, key);

	return m && m->type == FE_JSON_INT ? m->i : def;
}

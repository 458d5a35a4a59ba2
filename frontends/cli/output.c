/* SPDX-License-Identifier: MIT */
/*
 * Output of the CLI: the server's JSON pretty-printed (--json), aligned
 * tables and "key: value" blocks for people, and the parsers of the few
 * human units the CLI accepts (durations, byte sizes).
 *
 * Text that came from the server is printed with control characters
 * replaced, so a name can never move the cursor or recolour the terminal.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cli_print_json_value(const json_t *v)
{
	/* Two-space indent, members in the server's order. */
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (!text) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return;
	}
	fputs(text, stdout);
	fputc('\n', stdout);
	/* Answers may hold a token's secret. */
	fe_secret_free(text);
}

void cli_print_json(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);

	if (!v) {
		fputs(text, stdout);
		return;
	}
	cli_print_json_value(v);
	json_decref(v);
}

char *cli_text_end(FILE *f, char **p)
{
	bool bad = !f || ferror(f);

	/* fclose() finishes the text in *p (or fails to). */
	if (f && fclose(f) != 0)
		bad = true;
	if (bad) {
		free(*p);
		*p = NULL;
	}
	return *p;
}

int cli_body(json_t *v, char **out)
{
	char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;

	json_decref(v);
	if (!text)
		return cli_usage(NULL, "cannot make the request: an argument is not UTF-8 text "
				       "(or out of memory)");
	*out = text;
	return 0;
}

static void safe_copy(char *out, size_t size, const char *s)
{
	size_t j = 0;

	for (size_t i = 0; s[i] && j + 1 < size; i++)
		out[j++] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	out[j] = '\0';
}

const char *cli_fmt_bytes(int64_t n, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)n;
	size_t u = 0;

	if (n < 1024) {
		snprintf(buf, size, "%" PRId64 " B", n);
		return buf;
	}
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

const char *cli_fmt_time(const json_t *v, char *buf, size_t size)
{
	struct tm tm;
	time_t t;

	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		snprintf(buf, size, "-");
		return buf;
	}
	t = (time_t)json_integer_value(v);
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

const char *cli_fmt_value(const json_t *v, char *buf, size_t size)
{
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_NULL:
		snprintf(buf, size, "-");
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		snprintf(buf, size, "%s", json_is_true(v) ? "yes" : "no");
		break;
	case JSON_INTEGER:
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(buf, size, "%g", json_real_value(v));
		break;
	case JSON_STRING:
		safe_copy(buf, size, json_string_value(v));
		break;
	case JSON_ARRAY: {
		size_t off = 0, i;
		json_t *item;

		buf[0] = '\0';
		json_array_foreach(v, i, item) {
			char text[256];

			if (off + 1 >= size)
				break;
			cli_fmt_value(item, text, sizeof(text));
			off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "", text);
		}
		if (json_array_size(v) == 0)
			snprintf(buf, size, "-");
		break;
	}
	case JSON_OBJECT:
		snprintf(buf, size, "{%zu members}", json_object_size(v));
		break;
	}
	return buf;
}

void cli_table_init(struct cli_table *t, size_t ncol, const char *const *header)
{
	memset(t, 0, sizeof(*t));
	t->ncol = ncol;
	cli_table_add(t, header);
}

void cli_table_add(struct cli_table *t, const char *const *row)
{
	char **cells;

	if (t->failed)
		return;
	cells = realloc(t->cells, (t->nrow + 1) * t->ncol * sizeof(*cells));
	if (!cells) {
		t->failed = true;
		return;
	}
	t->cells = cells;
	for (size_t c = 0; c < t->ncol; c++) {
		char tmp[1024];

		safe_copy(tmp, sizeof(tmp), row[c] ? row[c] : "-");
		cells[t->nrow * t->ncol + c] = strdup(tmp);
		if (!cells[t->nrow * t->ncol + c])
			t->failed = true;
	}
	t->nrow++;
}

void cli_table_print(struct cli_table *t)
{
	size_t width[32] = {0};

	if (t->failed) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return;
	}
	for (size_t r = 0; r < t->nrow; r++)
		for (size_t c = 0; c < t->ncol && c < ARRAY_SIZE(width); c++) {
			size_t n = strlen(t->cells[r * t->ncol + c]);

			if (n > width[c])
				width[c] = n;
		}
	for (size_t r = 0; r < t->nrow; r++) {
		for (size_t c = 0; c < t->ncol; c++) {
			const char *cell = t->cells[r * t->ncol + c];

			if (c + 1 == t->ncol)
				printf("%s\n", cell);
			else
				printf("%-*s  ", (int)width[c], cell);
		}
	}
}

void cli_table_free(struct cli_table *t)
{
	if (t->cells)
		for (size_t i = 0; i < t->nrow * t->ncol; i++)
			free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

static bool is_time_key(const char *k)
{
	static const char *const keys[] = {"created",	     "expires", "last_seen", "last_used",
					   "last_handshake", "revoked", "time"};

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(k, keys[i]) == 0)
			return true;
	return false;
}

static bool is_bytes_key(const char *k)
{
	size_t n = strlen(k);

	return (n > 6 && strcmp(k + n - 6, "_bytes") == 0) || strcmp(k, "transfer_limit") == 0 ||
	       strcmp(k, "total") == 0;
}

void cli_print_object(const json_t *obj, const char *const *keys)
{
	size_t width = 0;
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v) {
		if (strlen(k) > width)
			width = strlen(k);
	}
	json_object_foreach((json_t *)obj, k, v) {
		char buf[2048], extra[64] = "";
		bool listed = !keys;
		int64_t n = json_integer_value(v);

		for (size_t j = 0; keys && keys[j]; j++)
			if (strcmp(keys[j], k) == 0)
				listed = true;
		if (!listed)
			continue;
		if (is_time_key(k))
			cli_fmt_time(v, buf, sizeof(buf));
		else
			cli_fmt_value(v, buf, sizeof(buf));
		if (json_is_integer(v) && is_bytes_key(k) && n >= 1024)
			snprintf(extra, sizeof(extra), " (%s)",
				 cli_fmt_bytes(n, (char[32]){0}, 32));
		if (strcmp(k, "transfer_limit") == 0 && json_is_integer(v) && n == 0)
			snprintf(extra, sizeof(extra), " (unlimited)");
		printf("%-*s  %s%s\n", (int)width + 1, k, buf, extra);
	}
}

int cli_parse_duration(const char *text, int64_t *out)
{
	char *end;
	double v;
	int64_t mult = 1;

	errno = 0;
	if (!text[0] || !((text[0] >= '0' && text[0] <= '9') || text[0] == '.'))
		return -1;
	v = strtod(text, &end);
	if (errno || end == text || !isfinite(v) || v <= 0)
		return -1;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60;
	else if (strcmp(end, "h") == 0)
		mult = 3600;
	else if (strcmp(end, "d") == 0)
		mult = 86400;
	else if (strcmp(end, "w") == 0)
		mult = 7 * 86400;
	else
		return -1;
	v *= (double)mult;
	/* A century is long enough for any device. */
	if (v < 1 || v > 100.0 * 366 * 86400)
		return -1;
	*out = (int64_t)llround(v);
	return 0;
}

int cli_parse_bytes(const char *text, int64_t *out)
{
	static const struct {
		const char *suffix;
		double mult;
	} units[] = {
	    {"", 1},
	    {"B", 1},
	    {"K", 1e3},
	    {"KB", 1e3},
	    {"M", 1e6},
	    {"MB", 1e6},
	    {"G", 1e9},
	    {"GB", 1e9},
	    {"T", 1e12},
	    {"TB", 1e12},
	    {"P", 1e15},
	    {"PB", 1e15},
	    {"KiB", 1024.0},
	    {"MiB", 1048576.0},
	    {"GiB", 1073741824.0},
	    {"TiB", 1099511627776.0},
	    {"PiB", 1125899906842624.0},
	};
	char *end;
	double v;

	if (strcmp(text, "unlimited") == 0) {
		*out = 0;
		return 0;
	}
	if (!((text[0] >= '0' && text[0] <= '9') || text[0] == '.'))
		return -1;
	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || !isfinite(v) || v < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			v *= units[i].mult;
			if (v >= 9.2e18)
				return -1;
			*out = (int64_t)llround(v);
			return 0;
		}
	}
	return -1;
}

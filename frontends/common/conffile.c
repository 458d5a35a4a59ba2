/* SPDX-License-Identifier: MIT */
#include "conffile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int fe_conffile_read(const char *path,
		     int (*cb)(const char *key, const char *value, unsigned line, void *userdata),
		     void *userdata, char *err, size_t err_size)
{
	char *buf = NULL;
	size_t cap = 0;
	unsigned line = 0;
	FILE *f;
	int rc = 0;

	err[0] = '\0';
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&buf, &cap, f) >= 0) {
		char *key, *value, *eq;
		size_t n;

		line++;
		if (strlen(buf) > 4096) {
			snprintf(err, err_size, "%s:%u: line too long", path, line);
			rc = -1;
			break;
		}
		key = trim(buf);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			snprintf(err, err_size, "%s:%u: expected \"name = value\"", path, line);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = trim(key);
		value = trim(eq + 1);
		n = strlen(value);
		if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
			value[n - 1] = '\0';
			value++;
		}
		if (!*key) {
			snprintf(err, err_size, "%s:%u: missing name before '='", path, line);
			rc = -1;
			break;
		}
		if (cb(key, value, line, userdata) < 0) {
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, err_size, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	free(buf);
	fclose(f);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * Configuration files of the frontends: "name = value" lines. Blank lines
 * and lines starting with '#' are ignored; whitespace around names and
 * values is dropped; a value may be wrapped in double quotes to keep
 * leading or trailing spaces. Names are the long options without "--".
 */
#ifndef MYRELAY_FRONTEND_CONFFILE_H
#define MYRELAY_FRONTEND_CONFFILE_H

#include <stddef.h>

/*
 * Read path and call cb for each setting in order. cb returns 0 or -1 (it
 * reports its own error). Returns 0, or -1 with err set (empty when cb
 * failed and reported itself).
 */
int fe_conffile_read(const char *path,
		     int (*cb)(const char *key, const char *value, unsigned line, void *userdata),
		     void *userdata, char *err, size_t err_size);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Secrets in the frontends' memory. Tokens and private or preshared keys
 * pass through jansson trees, request bodies and small files; these helpers
 * overwrite their bytes before the memory goes back to malloc.
 */
#ifndef MYRELAY_FRONTEND_SECRET_H
#define MYRELAY_FRONTEND_SECRET_H

#include <stddef.h>

/* free() that first overwrites the whole block; NULL is fine. Any block
 * from malloc/realloc/strdup may be given (malloc knows its size). */
void fe_secret_free(void *p);

/* Make jansson (in the whole process: libmyrelay's use too) overwrite
 * everything it frees. Call once, first thing in main(). */
void fe_json_wipe_on_free(void);

/* Read a whole (small) file into a NUL-terminated buffer, to be freed with
 * fe_secret_free(); no copy of its contents is left behind in freed memory.
 * *len (if given) receives the length. NULL with errno set: EFBIG when the
 * file is over max bytes. */
char *fe_read_file(const char *path, size_t max, size_t *len);

#endif

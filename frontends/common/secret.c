/* SPDX-License-Identifier: MIT */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

void fe_secret_free(void *p)
{
	if (!p)
		return;
	/* The block's own size: jansson's free callback is not told how much
	 * was asked for, and a header of our own in front of each block would
	 * break libmyrelay, which frees json_dumps() results with free(). */
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void fe_json_wipe_on_free(void)
{
	json_set_alloc_funcs(malloc, fe_secret_free);
}

char *fe_read_file(const char *path, size_t max, size_t *len)
{
	size_t n = 0, cap;
	struct stat st;
	char *buf = NULL;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	/* Sized from the file when it is a regular one: usually no growing. */
	cap = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= max
		  ? (size_t)st.st_size + 1
		  : 4096;
	buf = malloc(cap);
	if (!buf)
		goto fail_errno;
	for (;;) {
		ssize_t r;

		if (n + 1 == cap) {
			/* Grow by copying, so that the old block can be wiped
			 * (realloc would free it as it is). */
			size_t ncap = cap > max / 2 ? max + 2 : cap * 2;
			char *nb;

			if (n > max) {
				errno = EFBIG;
				goto fail_errno;
			}
			nb = malloc(ncap);
			if (!nb)
				goto fail_errno;
			memcpy(nb, buf, n);
			fe_secret_free(buf);
			buf = nb;
			cap = ncap;
		}
		r = read(fd, buf + n, cap - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail_errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			errno = EFBIG;
			goto fail_errno;
		}
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
fail_errno:
	e = errno;
	close(fd);
	fe_secret_free(buf);
	errno = e;
	return NULL;
}

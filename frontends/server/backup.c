/* SPDX-License-Identifier: MIT */
/*
 * Backups into a directory: named by their UTC time, mode 0600 (the
 * library's mr_store_backup() makes them: an encrypted, authenticated
 * snapshot), the oldest deleted beyond a number to keep. The server makes
 * them on a schedule in its timer thread with the timer's own store handle;
 * `myrelay-server backup` makes one by hand.
 */
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <myrelay/error.h>

#define PREFIX "myrelay-"
#define SUFFIX ".bak"
/* After a failure, try again this soon (or at the interval if shorter). */
#define RETRY_SECONDS 600

static int make_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_msg("backup: cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_msg("backup: %s is not a directory", dir);
		return -1;
	}
	return 0;
}

int backup_into_dir(mr_store *s, const char *dir, const char *key_path, char **out)
{
	char name[64], *path = NULL;
	time_t now = time(NULL);
	struct tm tm;
	int rc = MR_EEXIST;

	if (make_dir(dir) < 0)
		return -1;
	gmtime_r(&now, &tm);
	/* Two in one second (by hand beside the schedule) get a number. */
	for (unsigned n = 0; rc == MR_EEXIST && n < 100; n++) {
		size_t k = strftime(name, sizeof(name), PREFIX "%Y%m%d-%H%M%S", &tm);

		snprintf(name + k, sizeof(name) - k, n ? "-%u" SUFFIX : SUFFIX, n);
		free(path);
		path = path_join(dir, name);
		if (!path) {
			log_msg("backup: out of memory");
			return -1;
		}
		rc = mr_store_backup(s, path, key_path);
	}
	if (rc < 0) {
		log_msg("backup to %s: %s", path, mr_error_message());
		free(path);
		return -1;
	}
	*out = path;
	return 0;
}

struct entry {
	char *name;
	struct timespec mtime;
};

static bool is_backup_name(const char *name)
{
	size_t n = strlen(name);

	return n > strlen(PREFIX) + strlen(SUFFIX) && !strncmp(name, PREFIX, strlen(PREFIX)) &&
	       !strcmp(name + n - strlen(SUFFIX), SUFFIX);
}

/* Newest first; the name (which holds the time) breaks ties. */
static int newest_first(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
	return strcmp(y->name, x->name);
}

/* The backups in dir, newest first; -1 after logging. */
static int list_backups(const char *dir, struct entry **out, size_t *n_out)
{
	struct entry *list = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	*out = NULL;
	*n_out = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		log_msg("backup: cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!is_backup_name(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			struct entry *l = realloc(list, (cap ? cap * 2 : 16) * sizeof(*l));

			if (!l)
				goto nomem;
			list = l;
			cap = cap ? cap * 2 : 16;
		}
		list[n].name = strdup(de->d_name);
		if (!list[n].name)
			goto nomem;
		list[n++].mtime = st.st_mtim;
	}
	closedir(d);
	qsort(list, n, sizeof(*list), newest_first);
	*out = list;
	*n_out = n;
	return 0;
nomem:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(list[i].name);
	free(list);
	log_msg("backup: out of memory");
	return -1;
}

static void free_list(struct entry *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].name);
	free(list);
}

int backup_prune(const char *dir, unsigned keep)
{
	struct entry *list;
	size_t n;
	int deleted = 0, rc = 0;

	if (list_backups(dir, &list, &n) < 0)
		return -1;
	for (size_t i = keep; i < n; i++) {
		char *path = path_join(dir, list[i].name);

		if (!path || unlink(path) < 0) {
			log_msg("backup: cannot delete the old backup %s/%s: %s", dir, list[i].name,
				path ? strerror(errno) : "out of memory");
			rc = -1;
		} else {
			deleted++;
		}
		free(path);
	}
	free_list(list, n);
	return rc < 0 ? -1 : deleted;
}

int64_t backup_newest(const char *dir)
{
	struct entry *list;
	size_t n;
	int64_t t = 0;

	if (list_backups(dir, &list, &n) == 0 && n)
		t = (int64_t)list[0].mtime.tv_sec;
	free_list(list, n);
	return t;
}

int64_t backup_scheduled(struct server *srv)
{
	struct server_config *cfg = srv->cfg;
	int64_t interval = (int64_t)cfg->backup_interval * 1000;
	char *path = NULL;
	bool ok;

	/* The timer's store: a backup never waits for a request, and requests
	 * go on (the snapshot holds a read lock only while it is copied). */
	ok = backup_into_dir(srv->timer_store, cfg->backup_dir, cfg->backup_key, &path) == 0;
	if (ok) {
		int deleted = backup_prune(cfg->backup_dir, cfg->backup_keep);

		log_msg("backup: wrote %s%s", path,
			deleted > 0 ? " and deleted older ones beyond --backup-keep" : "");
		free(path);
	} else {
		log_msg("backup: the scheduled backup failed (the server carries on; next try "
			"in %u s)",
			cfg->backup_interval < RETRY_SECONDS ? cfg->backup_interval
							     : RETRY_SECONDS);
	}
	pthread_mutex_lock(&srv->lock);
	if (ok) {
		srv->backups_ok++;
		srv->backup_last_ok = (int64_t)time(NULL);
	} else {
		srv->backups_failed++;
	}
	pthread_mutex_unlock(&srv->lock);
	if (ok)
		return now_ms() + interval;
	return now_ms() + (interval < RETRY_SECONDS * 1000 ? interval : RETRY_SECONDS * 1000);
}

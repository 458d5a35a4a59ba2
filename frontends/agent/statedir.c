/* SPDX-License-Identifier: MIT */
/*
 * The state directory (0700, the agent user's):
 *
 *   DIR/agent.lock          held (flock) while an agent runs on DIR
 *   DIR/ca.crt              copy of --ca, made as root before the drop
 *   DIR/desired.json        last desired state received (managed mode; it
 *                           holds preshared keys: 0600)
 *   DIR/pods/<id>.key       the pod's private key, base64 (0600); made on
 *                           the node the first time the pod is seen and kept
 *                           so that a restart, reboot or reinstall of the
 *                           interface keeps the pod's identity
 *   DIR/pods/<id>.iface     the interface the agent made for the pod: the
 *                           agent only ever removes interfaces named here
 *
 * Files are written to a temporary name, synced and renamed into place, so
 * a crash leaves the old or the new content, never half of one.
 */
#include "agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX 128

static int mkdir_p(const char *path, mode_t last_mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, last_mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Hand a directory and the regular files in it to uid/gid (never following
 * symbolic links), files 0600. */
static int hand_over(const char *dir, uid_t uid, gid_t gid)
{
	DIR *d;
	struct dirent *e;
	int fd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, 0700) < 0) {
		int e2 = errno;

		close(fd);
		return -e2;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] == '.' &&
		    (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (fchownat(fd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchmodat(fd, e->d_name, 0600, 0) < 0) {
			int e2 = errno;

			closedir(d);
			return -e2;
		}
	}
	closedir(d);
	return 0;
}

static int write_at(const char *dir, const char *name, const char *data, size_t len, mode_t mode)
{
	char tmp[4096], path[4096];
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= sizeof(tmp) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* Whatever the umask. */
	if (fchmod(fd, mode) < 0)
		rc = -errno;
	for (size_t off = 0; rc == 0 && off < len;) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			rc = -errno;
		else
			off += (size_t)w;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

int sd_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf;
	size_t n = 0, cap;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return EINVAL;
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return EFBIG;
	}
	cap = (size_t)st.st_size + 1;
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return ENOMEM;
	}
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			/* The file grew while being read: read until max. */
			char *b;

			if (cap > max) {
				free(buf);
				close(fd);
				return EFBIG;
			}
			b = malloc(cap * 2);
			if (!b) {
				free(buf);
				close(fd);
				return ENOMEM;
			}
			memcpy(b, buf, n);
			explicit_bzero(buf, cap);
			free(buf);
			buf = b;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			explicit_bzero(buf, cap);
			free(buf);
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int sd_prepare(const char *dir, uid_t uid, gid_t gid, bool chown_it, const char *ca)
{
	char pods[4096];
	char *data = NULL;
	size_t len;
	int rc;

	if ((size_t)snprintf(pods, sizeof(pods), "%s/pods", dir) >= sizeof(pods)) {
		log_error("--state-dir: path too long");
		return -1;
	}
	rc = mkdir_p(dir, 0700);
	if (rc == 0)
		rc = mkdir_p(pods, 0700);
	if (rc < 0) {
		log_error("cannot create %s: %s", pods, strerror(-rc));
		return -1;
	}
	if (chown_it) {
		rc = hand_over(dir, uid, gid);
		if (rc == 0)
			rc = hand_over(pods, uid, gid);
		if (rc < 0) {
			log_error("cannot hand %s to uid %u: %s", dir, (unsigned)uid,
				  strerror(-rc));
			return -1;
		}
	}
	if (!ca)
		return 0;
	/* The CA may sit in a directory only root can read (the server's data
	 * directory on an all-in-one machine): keep a copy we can read. */
	rc = sd_read_file(ca, 1024 * 1024, &data, &len);
	if (rc) {
		log_error("--ca %s: %s", ca, strerror(rc));
		return -1;
	}
	rc = write_at(dir, "ca.crt", data, len, 0644);
	free(data);
	if (rc == 0 && chown_it) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/ca.crt", dir);
		if (chown(path, uid, gid) < 0)
			rc = -errno;
	}
	if (rc < 0) {
		log_error("cannot copy the CA certificate to %s: %s", dir, strerror(-rc));
		return -1;
	}
	return 0;
}

int sd_open(const char *dir, int *lock_fd)
{
	char path[4096];
	struct stat st;
	int fd;

	if (stat(dir, &st) < 0) {
		log_error("state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_error("state directory %s belongs to uid %u, not to us (uid %u)", dir,
			  (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & 077) {
		log_warn("state directory %s was mode %03o: now 0700", dir,
			 (unsigned)(st.st_mode & 0777));
		if (chmod(dir, 0700) < 0) {
			log_error("chmod %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	snprintf(path, sizeof(path), "%s/pods", dir);
	if (access(path, R_OK | W_OK | X_OK) < 0) {
		log_error("%s: %s (is every parent directory searchable by uid %u?)", path,
			  strerror(errno), (unsigned)geteuid());
		return -1;
	}
	snprintf(path, sizeof(path), "%s/agent.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("another myrelay-agent is using %s", dir);
		close(fd);
		return -1;
	}
	*lock_fd = fd;
	return 0;
}

int sd_pod_key(const char *dir, const char *pod_id, mr_key *out, bool *created)
{
	char pods[4096], name[MR_STATE_ID_MAX + 8], path[sizeof(pods) + sizeof(name) + 2];
	char text[KEY_FILE_MAX + 1];
	char b64[MR_KEY_BASE64_SIZE + 1];
	struct stat st;
	ssize_t n;
	mr_key key;
	int fd, rc;

	snprintf(pods, sizeof(pods), "%s/pods", dir);
	snprintf(name, sizeof(name), "%s.key", pod_id);
	snprintf(path, sizeof(path), "%s/%s", pods, name);
	*created = false;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			log_error("%s is not a regular file", path);
			return MR_EINVAL;
		}
		if (st.st_mode & 077) {
			log_warn("%s was mode %03o: now 0600", path, (unsigned)(st.st_mode & 0777));
			fchmod(fd, 0600);
		}
		n = read(fd, text, KEY_FILE_MAX);
		close(fd);
		if (n < 0) {
			log_error("%s: %s", path, strerror(errno));
			return MR_EIO;
		}
		text[n] = '\0';
		while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
			text[--n] = '\0';
		rc = mr_key_from_base64(&key, text);
		explicit_bzero(text, sizeof(text));
		if (rc < 0) {
			log_error("%s: not a private key (%s); move it away to make a new one "
				  "(the pod's public key will change)",
				  path, mr_error_message());
			return rc;
		}
		*out = key;
		mr_key_wipe(&key);
		return 0;
	}
	if (errno != ENOENT) {
		log_error("%s: %s", path, strerror(errno));
		return MR_EIO;
	}
	rc = mr_key_generate_private(&key);
	if (rc < 0)
		return rc;
	mr_key_to_base64(b64, sizeof(b64), &key);
	b64[MR_KEY_BASE64_LEN] = '\n';
	rc = write_at(pods, name, b64, MR_KEY_BASE64_LEN + 1, 0600);
	explicit_bzero(b64, sizeof(b64));
	if (rc < 0) {
		mr_key_wipe(&key);
		log_error("cannot store %s: %s", path, strerror(-rc));
		return MR_EIO;
	}
	*out = key;
	mr_key_wipe(&key);
	*created = true;
	return 0;
}

int sd_record_set(const char *dir, const char *pod_id, const char *ifname)
{
	char pods[4096], name[MR_STATE_ID_MAX + 8], line[MR_NAME_IFNAMSIZ + 1];
	int rc;

	snprintf(pods, sizeof(pods), "%s/pods", dir);
	snprintf(name, sizeof(name), "%s.iface", pod_id);
	snprintf(line, sizeof(line), "%s\n", ifname);
	rc = write_at(pods, name, line, strlen(line), 0600);
	if (rc < 0)
		log_error("cannot write %s/%s: %s", pods, name, strerror(-rc));
	return rc;
}

int sd_record_remove(const char *dir, const char *pod_id)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/pods/%s.iface", dir, pod_id);
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("cannot remove %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

int sd_records(const char *dir, struct sd_record **out, size_t *count)
{
	char pods[4096];
	struct sd_record *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	snprintf(pods, sizeof(pods), "%s/pods", dir);
	d = opendir(pods);
	if (!d) {
		log_error("%s: %s", pods, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char path[sizeof(pods) + 256 + 2], *text = NULL, id[MR_STATE_ID_MAX + 1];
		size_t tlen;

		if (e->d_name[0] == '.' || len <= 6 || strcmp(e->d_name + len - 6, ".iface") != 0)
			continue;
		if (len - 6 > MR_STATE_ID_MAX)
			continue;
		memcpy(id, e->d_name, len - 6);
		id[len - 6] = '\0';
		snprintf(path, sizeof(path), "%s/%s", pods, e->d_name);
		if (mr_name_validate_label(id) < 0 || sd_read_file(path, 64, &text, &tlen) != 0)
			continue;
		while (tlen && (text[tlen - 1] == '\n' || text[tlen - 1] == ' '))
			text[--tlen] = '\0';
		/* Only pod-shaped names, whatever the file says: a damaged
		 * record must never make us delete eth0. */
		if (!mr_name_is_pod_interface(text)) {
			log_warn("%s does not name a pod interface: ignored", path);
			free(text);
			continue;
		}
		if (n == cap) {
			struct sd_record *nv = realloc(v, (cap ? cap * 2 : 16) * sizeof(*nv));

			if (!nv) {
				free(text);
				free(v);
				closedir(d);
				return -1;
			}
			v = nv;
			cap = cap ? cap * 2 : 16;
		}
		snprintf(v[n].id, sizeof(v[n].id), "%s", id);
		snprintf(v[n].ifname, sizeof(v[n].ifname), "%s", text);
		n++;
		free(text);
	}
	closedir(d);
	*out = v;
	*count = n;
	return 0;
}

int sd_write(const char *dir, const char *name, const char *data, size_t len)
{
	return write_at(dir, name, data, len, 0600);
}

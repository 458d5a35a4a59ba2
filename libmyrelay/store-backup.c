/* SPDX-License-Identifier: MIT */
/*
 * Encrypted backups of the store.
 *
 * A backup is a consistent snapshot taken with SQLite's online backup API
 * into memory (so no plaintext copy ever touches the disk), serialised, and
 * sealed with AES-256-GCM under a 32-byte key kept in its own file. The file
 * header is authenticated too, so changing any byte of the file, or using
 * another key, makes the restore refuse it.
 *
 * File layout (all integers big-endian):
 *
 *     offset  size
 *          0     8  magic "MRBACKUP"
 *          8     1  format version (1)
 *          9     3  zero
 *         12    12  GCM nonce (random)
 *         24     8  length of the database image
 *         32     n  ciphertext of the database image
 *       32+n    16  GCM tag over header (additional data) and ciphertext
 */
#include "store-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define BACKUP_MAGIC "MRBACKUP"
#define BACKUP_VERSION 1
#define HEADER_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define KEY_LEN 32

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static int write_all(int fd, const void *buf, size_t len, const char *path)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mr__error_sys(errno, "%s: write", path);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write a new file with mode 0600 whatever the umask, durably, under its
 * final name only when complete: written as "<path>.partial", then linked,
 * which (unlike rename) refuses to replace an existing file. */
static int write_new_file(const char *path, const uint8_t *a, size_t alen, const uint8_t *b,
			  size_t blen, const uint8_t *c, size_t clen)
{
	char tmp[4096];
	int fd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.partial", path) >= sizeof(tmp))
		return mr__error_set(MR_EINVAL, "%s: path too long", path);
	if (access(path, F_OK) == 0)
		return mr__error_set(MR_EEXIST, "%s: exists already", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return mr__error_sys(errno, "%s", tmp);
	if (fchmod(fd, 0600) < 0) {
		rc = mr__error_sys(errno, "%s: chmod", tmp);
		goto fail;
	}
	if ((rc = write_all(fd, a, alen, tmp)) < 0 || (rc = write_all(fd, b, blen, tmp)) < 0 ||
	    (rc = write_all(fd, c, clen, tmp)) < 0)
		goto fail;
	if (fsync(fd) < 0) {
		rc = mr__error_sys(errno, "%s: fsync", tmp);
		goto fail;
	}
	close(fd);
	fd = -1;
	if (link(tmp, path) < 0) {
		rc = errno == EEXIST ? mr__error_set(MR_EEXIST, "%s: exists already", path)
				     : mr__error_sys(errno, "%s", path);
		goto fail;
	}
	unlink(tmp);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

static int read_file(const char *path, uint8_t **out, size_t *len, size_t max)
{
	struct stat sb;
	uint8_t *buf;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mr__error_sys(errno, "%s", path);
	if (fstat(fd, &sb) < 0) {
		rc = mr__error_sys(errno, "%s", path);
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = mr__error_set(MR_EINVAL, "%s: not a regular file", path);
		goto out;
	}
	if ((uint64_t)sb.st_size > max) {
		rc = mr__error_set(MR_ETOOBIG, "%s: %lld bytes, at most %zu expected", path,
				   (long long)sb.st_size, max);
		goto out;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		rc = mr__error_set(MR_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? mr__error_sys(errno, "%s: read", path)
				   : mr__error_set(MR_EIO, "%s: file shrank while read", path);
			free(buf);
			goto out;
		}
		got += (size_t)n;
	}
	*out = buf;
	*len = got;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The key file: exactly 32 bytes, readable by its owner only (a key anyone
 * can read protects nothing). */
static int load_key(const char *path, uint8_t key[KEY_LEN])
{
	struct stat sb;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (!path)
		return mr__error_set(MR_EINVAL, "backup key: path is NULL");
	if (stat(path, &sb) < 0)
		return mr__error_sys(errno, "backup key %s", path);
	if (sb.st_mode & 077)
		return mr__error_set(MR_EPERM,
				     "backup key %s: mode %03o, must not be readable by group "
				     "or others",
				     path, (unsigned)(sb.st_mode & 0777));
	rc = read_file(path, &buf, &len, 4096);
	if (rc < 0)
		return rc;
	if (len != KEY_LEN)
		rc = mr__error_set(MR_EINVAL, "backup key %s: %zu bytes, expected %d", path, len,
				   KEY_LEN);
	else
		memcpy(key, buf, KEY_LEN);
	mr__wipe(buf, len);
	free(buf);
	return rc;
}

MR_API int mr_store_backup_key_create(const char *path)
{
	uint8_t key[KEY_LEN];
	int rc;

	if (!path || !*path)
		return mr__error_set(MR_EINVAL, "backup key: path is missing");
	rc = mr__random(key, sizeof(key));
	if (rc == 0)
		rc = write_new_file(path, key, sizeof(key), NULL, 0, NULL, 0);
	mr__wipe(key, sizeof(key));
	return rc;
}

/* AES-256-GCM in one pass over a buffer; out has room for len bytes. For
 * decryption the tag is checked and nothing is returned when it fails. */
static int gcm(bool encrypt, const uint8_t key[KEY_LEN], const uint8_t *header, const uint8_t *in,
	       size_t len, uint8_t *out, uint8_t tag[TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t done = 0;
	int n, rc = 0;

	if (!ctx)
		return mr__error_crypto("backup: cipher context");
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, header + 12, encrypt) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, header, HEADER_LEN) != 1) {
		rc = mr__error_crypto("backup: cipher setup");
		goto out;
	}
	/* EVP lengths are int: feed the image in chunks. */
	while (done < len) {
		int chunk = len - done > (1 << 30) ? 1 << 30 : (int)(len - done);

		if (EVP_CipherUpdate(ctx, out + done, &n, in + done, chunk) != 1) {
			rc = mr__error_crypto("backup: cipher");
			goto out;
		}
		done += (size_t)n;
	}
	if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1) {
		rc = mr__error_crypto("backup: set tag");
		goto out;
	}
	if (EVP_CipherFinal_ex(ctx, out + done, &n) != 1) {
		if (encrypt) {
			rc = mr__error_crypto("backup: cipher final");
		} else {
			rc = mr__error_set(MR_EINTEGRITY, "backup: authentication failed (the "
							  "file was changed, or another key)");
		}
		goto out;
	}
	if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		rc = mr__error_crypto("backup: get tag");
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* A consistent copy of the live database as one byte image. */
static int snapshot(mr_store *s, uint8_t **out, size_t *len)
{
	sqlite3 *mem = NULL;
	sqlite3_backup *b;
	sqlite3_int64 size = 0;
	unsigned char *image;
	int rc;

	rc = sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		rc = mr__error_set(MR_ENOMEM, "backup: cannot open a memory database");
		goto out;
	}
	/* One step of -1 pages copies everything under a single read lock:
	 * writers carry on (WAL) and the copy is one consistent state. */
	b = sqlite3_backup_init(mem, "main", s->db, "main");
	if (!b) {
		rc = mr__error_set(MR_EDB, "backup: %s", sqlite3_errmsg(mem));
		goto out;
	}
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		rc = mr__store_db_error(s, rc, "backup");
		goto out;
	}
	image = sqlite3_serialize(mem, "main", &size, 0);
	if (!image) {
		rc = mr__error_set(MR_ENOMEM, "backup: cannot serialise the snapshot");
		goto out;
	}
	*out = malloc((size_t)size);
	if (!*out) {
		mr__wipe(image, (size_t)size);
		sqlite3_free(image);
		rc = mr__error_set(MR_ENOMEM, "backup: out of memory");
		goto out;
	}
	memcpy(*out, image, (size_t)size);
	mr__wipe(image, (size_t)size);
	sqlite3_free(image);
	*len = (size_t)size;
	rc = 0;
out:
	sqlite3_close(mem);
	return rc;
}

MR_API int mr_store_backup(mr_store *s, const char *path, const char *key_path)
{
	uint8_t key[KEY_LEN], header[HEADER_LEN] = BACKUP_MAGIC, tag[TAG_LEN];
	uint8_t *image = NULL, *sealed = NULL;
	size_t len = 0;
	int rc;

	if (!s || !path || !*path)
		return mr__error_set(MR_EINVAL, "backup: %s is missing", s ? "path" : "store");
	if (s->in_tx)
		return mr__error_set(MR_EINVAL, "backup: a transaction is open");
	rc = load_key(key_path, key);
	if (rc < 0)
		return rc;
	rc = snapshot(s, &image, &len);
	if (rc < 0)
		goto out;
	header[8] = BACKUP_VERSION;
	put_be64(header + 24, len);
	rc = mr__random(header + 12, NONCE_LEN);
	if (rc < 0)
		goto out;
	sealed = malloc(len ? len : 1);
	if (!sealed) {
		rc = mr__error_set(MR_ENOMEM, "backup: out of memory");
		goto out;
	}
	rc = gcm(true, key, header, image, len, sealed, tag);
	if (rc == 0)
		rc = write_new_file(path, header, sizeof(header), sealed, len, tag, sizeof(tag));
out:
	mr__wipe(key, sizeof(key));
	if (image)
		mr__wipe(image, len);
	free(image);
	free(sealed);
	return rc;
}

static int integrity_check(mr_store *s)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mr__store_db_error(s, rc, "restore");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0)
		rc = 0;
	else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		rc = mr__error_set(MR_EINTEGRITY, "restore: integrity check failed");
	else
		rc = mr__store_db_error(s, rc, "restore");
	sqlite3_finalize(st);
	return rc;
}

static void remove_database(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	char name[4096];

	for (size_t i = 0; i < MR_ARRAY_SIZE(suffixes); i++)
		if ((size_t)snprintf(name, sizeof(name), "%s%s", path, suffixes[i]) < sizeof(name))
			unlink(name);
}

MR_API int mr_store_restore(const char *backup_path, const char *key_path, const char *db_path)
{
	uint8_t key[KEY_LEN], *file = NULL, *image = NULL;
	size_t flen = 0, len = 0;
	mr_store *check = NULL;
	int rc;

	if (!backup_path || !db_path || !*db_path)
		return mr__error_set(MR_EINVAL, "restore: a path is missing");
	if (access(db_path, F_OK) == 0)
		return mr__error_set(MR_EEXIST, "restore: %s exists already", db_path);
	rc = load_key(key_path, key);
	if (rc < 0)
		return rc;
	rc = read_file(backup_path, &file, &flen, SIZE_MAX / 2);
	if (rc < 0)
		goto out;
	if (flen < HEADER_LEN + TAG_LEN || memcmp(file, BACKUP_MAGIC, 8) != 0) {
		rc = mr__error_set(MR_EINTEGRITY, "restore: %s is not a MyRelay backup",
				   backup_path);
		goto out;
	}
	if (file[8] != BACKUP_VERSION) {
		rc = mr__error_set(MR_ENOTSUP, "restore: backup format %u is not supported",
				   file[8]);
		goto out;
	}
	len = flen - HEADER_LEN - TAG_LEN;
	if (get_be64(file + 24) != len) {
		rc = mr__error_set(MR_EINTEGRITY, "restore: %s is truncated or extended",
				   backup_path);
		goto out;
	}
	image = malloc(len ? len : 1);
	if (!image) {
		rc = mr__error_set(MR_ENOMEM, "restore: out of memory");
		goto out;
	}
	rc = gcm(false, key, file, file + HEADER_LEN, len, image, file + HEADER_LEN + len);
	if (rc < 0)
		goto out;
	rc = write_new_file(db_path, image, len, NULL, 0, NULL, 0);
	if (rc < 0)
		goto out;
	/* Open it as a store: checks that it is ours, migrates an older
	 * schema, and fails on a damaged image. */
	rc = mr_store_open(&check, db_path, 0);
	if (rc == 0)
		rc = integrity_check(check);
	mr_store_close(check);
	if (rc < 0)
		remove_database(db_path);
out:
	mr__wipe(key, sizeof(key));
	if (image)
		mr__wipe(image, len);
	free(image);
	free(file);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * The internal CA: an ECDSA P-256 root that signs the server certificate.
 * Agents and clients trust ca.crt only (never the system store), so the CA
 * is small and private: one level, pathlen 0, name-neutral. Keys are
 * written 0600 with O_EXCL and never overwritten, except by `cert`, which
 * replaces the server key and certificate atomically (rename).
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Tolerate clocks a few minutes behind the server's. */
#define BACKDATE_SECONDS 300

int pki_check_name(const char *name, char *err, size_t err_size);

static void ssl_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	log_msg("%s failed%s%s", what, buf[0] ? ": " : "", buf);
	ERR_clear_error();
}

int write_secret_file(const char *path, const void *data, size_t len, int mode)
{
	const char *p = data;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		log_msg("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	/* The umask may have taken bits away or (for 0644) not: set exactly. */
	if (fchmod(fd, (mode_t)mode) < 0)
		goto fail;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	return close(fd);
fail:
	log_msg("cannot write %s: %s", path, strerror(errno));
	close(fd);
	unlink(path);
	return -1;
}

/* Names become SAN entries: DNS names (RFC 1123 labels) or IP addresses.
 * Nothing else reaches the OpenSSL configuration string. */
int pki_check_name(const char *name, char *err, size_t err_size)
{
	unsigned char addr[16];
	size_t len = strlen(name), label = 0;

	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
		return 0;
	if (len == 0 || len > 253) {
		snprintf(err, err_size, "--name: a host name has 1 to 253 characters");
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = name[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || name[i - 1] == '-') {
				snprintf(err, err_size,
					 "--name: not a host name or IP address (empty, long or "
					 "hyphen-ended label)");
				return -1;
			}
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && label > 0))) {
			snprintf(err, err_size,
				 "--name: not a host name or IP address (letters, digits, '-' "
				 "and '.' only)");
			return -1;
		}
		label++;
	}
	return 0;
}

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (!k)
		ssl_error("P-256 key generation");
	return k;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext) {
		ssl_error("certificate extension");
		return -1;
	}
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *cn,
		       char *const *names, size_t n_names, unsigned days)
{
	X509 *x = X509_new();
	X509_NAME *subj = X509_NAME_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn = NULL;
	bool ca = issuer == NULL;
	char *san = NULL;

	if (!x || !subj || RAND_bytes(serial, sizeof(serial)) != 1)
		goto fail;
	serial[0] &= 0x7f; /* positive, as RFC 5280 requires */
	serial[0] |= 0x01; /* and never shorter than 16 bytes' worth */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	sn = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	if (!sn || !X509_set_version(x, 2) || !X509_set_serialNumber(x, sn))
		goto fail;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECONDS) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400L))
		goto fail;
	if (!X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_UTF8, (const unsigned char *)"MyRelay",
					-1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_set_subject_name(x, subj) ||
	    !X509_set_issuer_name(x, ca ? subj : X509_get_subject_name(issuer)) ||
	    !X509_set_pubkey(x, key))
		goto fail;
	if (ca) {
		if (add_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
		    add_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		    add_ext(x, NULL, NID_subject_key_identifier, "hash"))
			goto fail;
	} else {
		size_t san_len = 0;
		FILE *f = open_memstream(&san, &san_len);

		for (size_t i = 0; f && i < n_names; i++) {
			unsigned char addr[16];
			bool ip = inet_pton(AF_INET, names[i], addr) == 1 ||
				  inet_pton(AF_INET6, names[i], addr) == 1;

			fprintf(f, "%s%s:%s", i ? "," : "", ip ? "IP" : "DNS", names[i]);
		}
		if (f) {
			bool bad = ferror(f);

			/* fclose() also finishes the text (or fails to). */
			if (fclose(f) != 0 || bad) {
				free(san);
				san = NULL;
			}
		}
		if (!san || add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
		    add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") ||
		    add_ext(x, issuer, NID_ext_key_usage, "serverAuth") ||
		    add_ext(x, issuer, NID_subject_key_identifier, "hash") ||
		    add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") ||
		    add_ext(x, issuer, NID_subject_alt_name, san))
			goto fail;
	}
	if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()))
		goto fail;
	free(san);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_NAME_free(subj);
	return x;
fail:
	ssl_error("certificate creation");
	free(san);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_NAME_free(subj);
	X509_free(x);
	return NULL;
}

static int write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int rc = -1;

	if (!bio)
		return -1;
	if (key ? !PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
		: !PEM_write_bio_X509(bio, cert)) {
		ssl_error("PEM encoding");
		goto out;
	}
	len = BIO_get_mem_data(bio, &data);
	rc = write_secret_file(path, data, (size_t)len, key ? 0600 : 0644);
	if (key)
		OPENSSL_cleanse(data, (size_t)len);
out:
	BIO_free(bio);
	return rc;
}

static int issue_server(const char *key_path, const char *cert_path, X509 *ca, EVP_PKEY *ca_key,
			char *const *names, size_t n_names, unsigned days)
{
	EVP_PKEY *key = new_key();
	X509 *cert = NULL;
	char cn[65];
	int rc = -1;

	if (!key)
		return -1;
	snprintf(cn, sizeof(cn), "%s", names[0]);
	cert = make_cert(key, ca, ca_key, cn, names, n_names, days);
	if (cert && write_pem(key_path, key, NULL) == 0 && write_pem(cert_path, NULL, cert) == 0)
		rc = 0;
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

int pki_init(const char *dir, char *const *names, size_t n_names, unsigned ca_days,
	     unsigned cert_days)
{
	char *ca_key_path = path_join(dir, FILE_CA_KEY), *ca_path = path_join(dir, FILE_CA_CERT);
	char *key_path = path_join(dir, FILE_KEY), *cert_path = path_join(dir, FILE_CERT);
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL;
	unsigned char tag[4];
	char cn[64];
	int rc = -1;

	if (!ca_key_path || !ca_path || !key_path || !cert_path)
		goto out;
	if (RAND_bytes(tag, sizeof(tag)) != 1)
		goto out;
	/* A distinct name per installation: two deployments' CAs never look
	 * alike in a trust store or a log. */
	snprintf(cn, sizeof(cn), "MyRelay internal CA %02x%02x%02x%02x", tag[0], tag[1], tag[2],
		 tag[3]);
	ca_key = new_key();
	if (!ca_key)
		goto out;
	ca = make_cert(ca_key, NULL, NULL, cn, NULL, 0, ca_days);
	if (!ca || write_pem(ca_key_path, ca_key, NULL) < 0 || write_pem(ca_path, NULL, ca) < 0)
		goto out;
	rc = issue_server(key_path, cert_path, ca, ca_key, names, n_names, cert_days);
out:
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	free(ca_key_path);
	free(ca_path);
	free(key_path);
	free(cert_path);
	return rc;
}

static void *read_pem(const char *path, bool key)
{
	FILE *f = fopen(path, "re");
	void *obj;

	if (!f) {
		log_msg("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	obj = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
		  : (void *)PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!obj)
		ssl_error(path);
	return obj;
}

int pki_reissue(const char *dir, char *const *names, size_t n_names, unsigned cert_days)
{
	char *ca_key_path = path_join(dir, FILE_CA_KEY), *ca_path = path_join(dir, FILE_CA_CERT);
	char *key_path = path_join(dir, FILE_KEY), *cert_path = path_join(dir, FILE_CERT);
	char *key_new = path_join(dir, FILE_KEY ".new"),
	     *cert_new = path_join(dir, FILE_CERT ".new");
	EVP_PKEY *ca_key = NULL;
	X509 *ca = NULL;
	int rc = -1;

	if (!ca_key_path || !ca_path || !key_path || !cert_path || !key_new || !cert_new)
		goto out;
	ca_key = read_pem(ca_key_path, true);
	ca = read_pem(ca_path, false);
	if (!ca_key || !ca)
		goto out;
	if (X509_check_private_key(ca, ca_key) != 1) {
		log_msg("%s does not belong to %s", ca_key_path, ca_path);
		goto out;
	}
	unlink(key_new);
	unlink(cert_new);
	if (issue_server(key_new, cert_new, ca, ca_key, names, n_names, cert_days) < 0)
		goto out;
	/* Key first: a crash between the renames leaves a new key with the
	 * old certificate, which the server refuses to load, loudly, rather
	 * than serving a certificate for a key it does not hold. */
	if (rename(key_new, key_path) < 0 || rename(cert_new, cert_path) < 0) {
		log_msg("cannot replace %s: %s", cert_path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		if (key_new)
			unlink(key_new);
		if (cert_new)
			unlink(cert_new);
	}
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	free(ca_key_path);
	free(ca_path);
	free(key_path);
	free(cert_path);
	free(key_new);
	free(cert_new);
	return rc;
}

long pki_days_left(const char *cert_path)
{
	X509 *x = read_pem(cert_path, false);
	int days = 0, secs = 0;

	if (!x)
		return -1000000;
	if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x))) {
		X509_free(x);
		return -1000000;
	}
	X509_free(x);
	if (days == 0 && secs < 0)
		return -1;
	return days;
}

/* SPDX-License-Identifier: MIT */
/*
 * The ceiling of bench/api: a bare libmicrohttpd server answering every
 * request with a fixed body, in the threading mode myrelay-server uses
 * (frontends/server/http.c: one internal polling thread with poll(),
 * suspend/resume allowed) and, with a certificate, the same GnuTLS priority
 * string. What myrelay-server adds on top of this (routing, rate limiting,
 * token verification, the store, JSON) is what the benchmark weighs.
 *
 *   ceiling PORT BODY_FILE STATUS [CERT KEY]
 *
 * PORT 0 picks a free port; the one bound is printed on standard error.
 *
 * BODY_FILE holds the body to answer (the benchmark gives the bytes the
 * server answered to the same request, so both send as much); STATUS is the
 * HTTP status (200 for the GET, 201 for the POST). Request bodies are read
 * and dropped. Runs until SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

/* Same string as DEFAULT_PRIORITIES in frontends/server/http.c. */
#define PRIORITIES                                                                                 \
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:+AEAD:"       \
	"+ECDHE-ECDSA:+ECDHE-RSA:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"                 \
	"+SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SECP384R1-SHA384:+SIGN-ECDSA-SHA256:"            \
	"+SIGN-ECDSA-SHA384:+SIGN-ECDSA-SHA512:+SIGN-RSA-PSS-RSAE-SHA256:"                         \
	"+SIGN-RSA-PSS-RSAE-SHA384:+SIGN-RSA-SHA256:+SIGN-RSA-SHA384:+COMP-NULL:"                  \
	"+CTYPE-X509:%SERVER_PRECEDENCE"

static char *body;
static size_t body_len;
static unsigned status;

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 > cap) {
			char *q = realloc(p, cap = 2 * cap + 4096 + 1);

			if (!q) {
				free(p);
				fclose(f);
				return NULL;
			}
			p = q;
		}
		r = fread(p + n, 1, cap - n - 1, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	p[n] = '\0';
	*len = n;
	return p;
}

/* Like the server: the first call sees the headers only, the body (if any)
 * arrives in the following calls, the answer is queued at the last one. */
static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **con_cls)
{
	static int started;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload;
	if (!*con_cls) {
		*con_cls = &started;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	resp = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	/* The headers myrelay-server sends, so that both answers have the
	 * same size on the wire. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	char *cert = NULL, *key = NULL;
	size_t len;
	unsigned flags;
	struct sockaddr_in sa;
	sigset_t set;
	int sig;

	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: ceiling PORT BODY_FILE STATUS [CERT KEY]\n");
		return 2;
	}
	body = slurp(argv[2], &body_len);
	status = (unsigned)atoi(argv[3]);
	if (!body || status < 100 || status > 599) {
		fprintf(stderr, "ceiling: cannot read %s or bad status %s\n", argv[2], argv[3]);
		return 1;
	}
	if (argc == 6 && (!(cert = slurp(argv[4], &len)) || !(key = slurp(argv[5], &len)))) {
		fprintf(stderr, "ceiling: cannot read the certificate or the key\n");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (cert)
		flags |= MHD_USE_TLS;
	if (cert)
		d = MHD_start_daemon(flags, (uint16_t)atoi(argv[1]), NULL, NULL, handler, NULL,
				     MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT, 1024u,
				     MHD_OPTION_CONNECTION_TIMEOUT, 15u,
				     MHD_OPTION_LISTEN_BACKLOG_SIZE, 128u,
				     MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT, cert,
				     MHD_OPTION_HTTPS_PRIORITIES, PRIORITIES, MHD_OPTION_END);
	else
		d = MHD_start_daemon(flags, (uint16_t)atoi(argv[1]), NULL, NULL, handler, NULL,
				     MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_CONNECTION_LIMIT, 1024u,
				     MHD_OPTION_CONNECTION_TIMEOUT, 15u,
				     MHD_OPTION_LISTEN_BACKLOG_SIZE, 128u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "ceiling: cannot start on port %s\n", argv[1]);
		return 1;
	}
	{
		const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);

		fprintf(stderr, "ceiling: listening on 127.0.0.1:%u (%s), %zu-byte body\n",
			info ? info->port : 0, cert ? "TLS" : "plain HTTP", body_len);
	}
	while (sigwait(&set, &sig) != 0)
		;
	MHD_stop_daemon(d);
	free(cert);
	free(key);
	free(body);
	return 0;
}

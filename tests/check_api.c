/* SPDX-License-Identifier: MIT */
/*
 * The API client: argument validation, and real HTTP exchanges with a small
 * loopback server in a thread that records what the client sent and answers
 * with canned responses (error mapping, Retry-After, limits, redaction).
 * TLS verification against real certificates is tests/api-tls.sh; the real
 * myrelay-server is tests/cli-server.sh.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <myrelay/myrelay.h>
#include "../libmyrelay/internal.h"
#include "testutil.h"

#define TOKEN "mra_abcdefghijklmnop_secretsecretsecretsecretsecretsecretsecretsecretsecr"

/* --- mr_api_new() ------------------------------------------------------ */

static const struct {
	const char *url;
	const char *want; /* base URL kept */
	bool http;
} good_urls[] = {
	{ "https://ctl.example.com", "https://ctl.example.com", false },
	{ "https://ctl.example.com:8443/", "https://ctl.example.com:8443", false },
	{ "https://10.0.0.1:8443/myrelay//", "https://10.0.0.1:8443/myrelay", false },
	{ "https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443", false },
	{ "HTTPS://CTL.example.com", "HTTPS://CTL.example.com", false },
	{ "http://127.0.0.1:8080", "http://127.0.0.1:8080", true },
	{ "http://127.9.8.7", "http://127.9.8.7", true },
	{ "http://localhost:1/", "http://localhost:1", true },
	{ "http://[::1]:5", "http://[::1]:5", true },
};

START_TEST(test_new_good_url)
{
	mr_api *api = NULL;
	char *body = NULL;

	ck_mr_ok(mr_api_new(&api, good_urls[_i].url, NULL, TOKEN));
	ck_assert_ptr_nonnull(api);
	ck_assert_str_eq(mr_api_get_url(api), good_urls[_i].want);
	ck_assert_int_eq(mr_api_last_status(api), 0);
	if (good_urls[_i].http) {
		/* Accepted only behind an explicit switch. */
		ck_mr_err(mr_api_request(api, "GET", "/healthz", NULL, NULL, &body), MR_EINVAL);
		ck_assert_ptr_null(body);
		ck_assert_ptr_nonnull(strstr(mr_error_message(), "plain http"));
	}
	mr_api_free(api);
}
END_TEST

static const struct {
	const char *url;
	const char *detail; /* substring of the detail */
} bad_urls[] = {
	{ "", "empty" },
	{ "ctl.example.com", "malformed" },
	{ "ftp://ctl.example.com", "scheme" },
	{ "file:///etc/passwd", "" },
	{ "http://ctl.example.com", "plain http" },
	{ "http://10.0.0.1:8080", "plain http" },
	{ "http://128.0.0.1", "plain http" },
	{ "http://[::2]", "plain http" },
	{ "http://localhost.example.com", "plain http" },
	{ "https://", "" },
	{ "https://user:hunter2@ctl.example.com", "password" },
	{ "https://ctl.example.com/?token=x", "query" },
	{ "https://ctl.example.com/#frag", "fragment" },
	{ "https://ctl example.com", "space" },
	{ "https://ctl.example.com/\n", "control" },
	{ "https://ctl.example.com/\xc3\xa9", "non-ASCII" },
	{ "https://ctl.example.com/a/../b", ".." },
	{ "https://ctl.example.com/a/..", ".." },
	{ "https://ctl.example.com:99999", "" },
};

START_TEST(test_new_bad_url)
{
	mr_api *api = (mr_api *)0x1;

	ck_mr_err(mr_api_new(&api, bad_urls[_i].url, NULL, NULL), MR_EINVAL);
	ck_assert_ptr_eq(api, (mr_api *)0x1);
	ck_assert_msg(strstr(mr_error_message(), bad_urls[_i].detail), "%s: detail \"%s\"",
		      bad_urls[_i].url, mr_error_message());
	ck_assert_ptr_null(strstr(mr_error_message(), "hunter2"));
}
END_TEST

START_TEST(test_new_url_too_long)
{
	char url[MR_API_URL_MAX + 64];
	mr_api *api = NULL;

	strcpy(url, "https://ctl.example.com/");
	memset(url + strlen(url), 'a', sizeof(url) - strlen(url) - 1);
	url[sizeof(url) - 1] = '\0';
	ck_mr_err(mr_api_new(&api, url, NULL, NULL), MR_EINVAL);
	ck_assert_ptr_null(api);
}
END_TEST

static const char *const bad_tokens[] = {
	"", "mra_abc def", "mra_abc\r\nX-Evil: 1", "mra_\x01", "mra_\xc3\xa9", "\t",
};

START_TEST(test_new_bad_token)
{
	mr_api *api = NULL;

	ck_mr_err(mr_api_new(&api, "https://ctl.example.com", NULL, bad_tokens[_i]), MR_EINVAL);
	ck_assert_ptr_null(api);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "token"));
	/* The detail never quotes the token. */
	if (strlen(bad_tokens[_i]) > 4)
		ck_assert_ptr_null(strstr(mr_error_message(), bad_tokens[_i]));
}
END_TEST

START_TEST(test_new_long_token)
{
	char tok[MR_API_TOKEN_MAX + 2];
	mr_api *api = NULL;

	memset(tok, 'a', sizeof(tok) - 1);
	tok[sizeof(tok) - 1] = '\0';
	ck_mr_err(mr_api_new(&api, "https://ctl.example.com", NULL, tok), MR_EINVAL);
	tok[MR_API_TOKEN_MAX] = '\0';
	ck_mr_ok(mr_api_new(&api, "https://ctl.example.com", NULL, tok));
	mr_api_free(api);
}
END_TEST

START_TEST(test_new_null_and_ca)
{
	mr_api *api = NULL;

	ck_mr_err(mr_api_new(NULL, "https://x.example", NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_api_new(&api, NULL, NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_api_new(&api, "https://x.example", "/nonexistent/ca.crt", NULL),
		  MR_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "/nonexistent/ca.crt"));
	ck_mr_err(mr_api_new(&api, "https://x.example", "/", NULL), MR_EINVAL);
	ck_mr_err(mr_api_new(&api, "https://x.example", "", NULL), MR_EINVAL);
	ck_assert_ptr_null(api);
	ck_mr_ok(mr_api_new(&api, "https://x.example", "/etc/hostname", NULL));
	mr_api_free(api);
	mr_api_free(NULL);
	mr_api_free_body(NULL);
	ck_assert_ptr_null(mr_api_get_url(NULL));
	ck_assert_int_eq(mr_api_last_status(NULL), 0);
	ck_assert_uint_eq(mr_api_retry_after(NULL), 0);
}
END_TEST

START_TEST(test_setters)
{
	mr_api *api;
	char ua[300];

	ck_mr_ok(mr_api_new(&api, "https://x.example", NULL, NULL));
	ck_mr_err(mr_api_set_timeout(NULL, 1000), MR_EINVAL);
	ck_mr_err(mr_api_set_timeout(api, 0), MR_EINVAL);
	ck_mr_err(mr_api_set_timeout(api, 3600001), MR_EINVAL);
	ck_mr_ok(mr_api_set_timeout(api, 3600000));
	ck_mr_ok(mr_api_set_timeout(api, 1));
	ck_mr_err(mr_api_set_connect_timeout(NULL, 1000), MR_EINVAL);
	ck_mr_err(mr_api_set_connect_timeout(api, 0), MR_EINVAL);
	ck_mr_err(mr_api_set_connect_timeout(api, 600001), MR_EINVAL);
	ck_mr_ok(mr_api_set_connect_timeout(api, 5000));
	ck_mr_err(mr_api_set_user_agent(api, NULL), MR_EINVAL);
	ck_mr_err(mr_api_set_user_agent(NULL, "x"), MR_EINVAL);
	ck_mr_err(mr_api_set_user_agent(api, ""), MR_EINVAL);
	ck_mr_err(mr_api_set_user_agent(api, "a\r\nX-Evil: 1"), MR_EINVAL);
	memset(ua, 'u', sizeof(ua) - 1);
	ua[sizeof(ua) - 1] = '\0';
	ck_mr_err(mr_api_set_user_agent(api, ua), MR_EINVAL);
	ck_mr_ok(mr_api_set_user_agent(api, "myrelay-cli/0.1 (test)"));
	ck_mr_err(mr_api_set_max_response(NULL, 4096), MR_EINVAL);
	ck_mr_err(mr_api_set_max_response(api, 1023), MR_EINVAL);
	ck_mr_ok(mr_api_set_max_response(api, 1024));
	ck_mr_err(mr_api_set_allow_http(NULL, true), MR_EINVAL);
	ck_mr_ok(mr_api_set_allow_http(api, true));
	mr_api_free(api);
}
END_TEST

/* --- request arguments ---------------------------------------------------- */

static const struct {
	const char *method;
	const char *path;
} bad_requests[] = {
	{ "get", "/v1/nodes" },
	{ "HEAD", "/v1/nodes" },
	{ "CONNECT", "/v1/nodes" },
	{ "", "/v1/nodes" },
	{ "GET", "" },
	{ "GET", "v1/nodes" },
	{ "GET", "http://evil.example/v1" },
	{ "GET", "/v1/nodes/a b" },
	{ "GET", "/v1/nodes\r\nX-Evil: 1" },
	{ "GET", "/v1/nodes/\xc3\xa9" },
	{ "GET", "/v1/nodes#frag" },
	{ "GET", "/v1/nodes/\"x\"" },
	{ "GET", "/v1/nodes/%zz" },
	{ "GET", "/v1/nodes/%4" },
	{ "GET", "/v1/../admin" },
	{ "GET", "/v1/./nodes" },
	{ "GET", "/v1/nodes/.." },
	{ "GET", "/v1/{id}" },
	{ "GET", "/v1/a\\b" },
};

START_TEST(test_request_bad_args)
{
	mr_api *api;
	char *body = NULL;
	long status = -1;

	ck_mr_ok(mr_api_new(&api, "https://127.0.0.1:1", NULL, TOKEN));
	ck_mr_err(mr_api_request(api, bad_requests[_i].method, bad_requests[_i].path, NULL,
				 &status, &body),
		  MR_EINVAL);
	ck_assert_ptr_null(body);
	ck_assert_int_eq(status, -1);
	mr_api_free(api);
}
END_TEST

START_TEST(test_request_null_and_timeout)
{
	mr_api *api;

	ck_mr_ok(mr_api_new(&api, "https://127.0.0.1:1", NULL, NULL));
	ck_mr_err(mr_api_request(NULL, "GET", "/", NULL, NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_api_request(api, NULL, "/", NULL, NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_api_request(api, "GET", NULL, NULL, NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_api_request_timeout(api, "GET", "/", NULL, 0, NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_api_request_timeout(api, "GET", "/", NULL, 3600001, NULL, NULL), MR_EINVAL);
	mr_api_free(api);
}
END_TEST

/* --- a loopback HTTP server ---------------------------------------------- */

#define FAKE_MAX 3

struct fake {
	int lfd;
	int port;
	pthread_t th;
	/* One connection per response, in order; a NULL response accepts and
	 * never answers (for hold_ms). */
	const char *response[FAKE_MAX];
	size_t response_len[FAKE_MAX];
	int n;
	char request[FAKE_MAX][16384];
	size_t request_len[FAKE_MAX];
	int hold_ms;
};

static void fake_serve(struct fake *f, int k)
{
	int fd = accept(f->lfd, NULL, NULL);
	char *req = f->request[k];
	size_t want = 0, *len = &f->request_len[k];

	if (fd < 0)
		return;
	/* Read the head, then Content-Length bytes of body. */
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		char *end;
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = read(fd, req + *len, sizeof(f->request[k]) - 1 - *len);
		if (n <= 0)
			break;
		*len += (size_t)n;
		req[*len] = '\0';
		/* Not HTTP (a TLS ClientHello): answer at once. */
		if (req[0] < 'A' || req[0] > 'Z')
			break;
		end = strstr(req, "\r\n\r\n");
		if (end && !want) {
			const char *cl = strcasestr(req, "\r\ncontent-length:");

			want = (size_t)(end + 4 - req) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
		}
		if (want && *len >= want)
			break;
	}
	if (f->response[k]) {
		size_t off = 0;

		while (off < f->response_len[k]) {
			ssize_t n = write(fd, f->response[k] + off, f->response_len[k] - off);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
	} else {
		usleep((useconds_t)f->hold_ms * 1000);
	}
	close(fd);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	for (int k = 0; k < f->n; k++)
		fake_serve(f, k);
	return NULL;
}

static void fake_listen(struct fake *f, bool listening)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int one = 1;

	memset(f, 0, sizeof(*f));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sa, &len), 0);
	f->port = ntohs(sa.sin_port);
	if (listening)
		ck_assert_int_eq(listen(f->lfd, 4), 0);
}

static void fake_run(struct fake *f)
{
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

/* Listen and answer one connection with response (len 0: strlen). */
static void fake_start(struct fake *f, const char *response, size_t len)
{
	fake_listen(f, true);
	f->response[0] = response;
	f->response_len[0] = response ? (len ? len : strlen(response)) : 0;
	f->n = 1;
	fake_run(f);
}

static void fake_stop(struct fake *f)
{
	pthread_join(f->th, NULL);
	close(f->lfd);
}

static mr_api *fake_client(const struct fake *f, const char *token)
{
	char url[64];
	mr_api *api;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
	ck_mr_ok(mr_api_new(&api, url, NULL, token));
	ck_mr_ok(mr_api_set_allow_http(api, true));
	ck_mr_ok(mr_api_set_timeout(api, 10000));
	return api;
}

#define JSON_HEAD(status) "HTTP/1.1 " status "\r\nContent-Type: application/json\r\nConnection: close\r\n"

static const struct {
	const char *response;
	int rc;
	long status;
	const char *message; /* exact detail, or NULL for: contains "want_sub" */
	const char *want_sub;
	uint32_t retry_after;
} answers[] = {
	{ JSON_HEAD("200 OK") "Content-Length: 11\r\n\r\n{\"ok\":true}", 0, 200, NULL, NULL, 0 },
	{ JSON_HEAD("201 Created") "Content-Length: 2\r\n\r\n{}", 0, 201, NULL, NULL, 0 },
	{ "HTTP/1.1 304 Not Modified\r\nMyRelay-Generation: 7\r\nConnection: close\r\n\r\n", 0, 304,
	  NULL, NULL, 0 },
	{ JSON_HEAD("200 OK") "Content-Length: 0\r\n\r\n", 0, 200, NULL, NULL, 0 },
	{ JSON_HEAD("404 Not Found") "\r\n{\"error\":\"not_found\",\"message\":\"id: no such node\"}\n",
	  MR_ENOTFOUND, 404, "id: no such node", NULL, 0 },
	{ JSON_HEAD("400 Bad Request") "\r\n{\"error\":\"invalid\",\"message\":\"public_key: expected 44 characters, got 43\"}",
	  MR_EINVAL, 400, "public_key: expected 44 characters, got 43", NULL, 0 },
	{ JSON_HEAD("401 Unauthorized") "\r\n{\"error\":\"unauthenticated\",\"message\":\"token: revoked\"}",
	  MR_EAUTH, 401, "token: revoked", NULL, 0 },
	{ JSON_HEAD("403 Forbidden") "\r\n{\"error\":\"forbidden\",\"message\":\"pod tokens may not use GET /v1/nodes\"}",
	  MR_EPERM, 403, "pod tokens may not use GET /v1/nodes", NULL, 0 },
	{ JSON_HEAD("409 Conflict") "\r\n{\"error\":\"exists\",\"message\":\"name: taken\"}", MR_EEXIST,
	  409, "name: taken", NULL, 0 },
	{ JSON_HEAD("409 Conflict") "\r\n{\"error\":\"conflict\",\"message\":\"node has pods\"}",
	  MR_ECONFLICT, 409, "node has pods", NULL, 0 },
	{ JSON_HEAD("413 Payload Too Large") "\r\n{\"error\":\"too_large\",\"message\":\"body over 1 MiB\"}",
	  MR_ETOOBIG, 413, "body over 1 MiB", NULL, 0 },
	{ JSON_HEAD("429 Too Many Requests") "Retry-After: 7\r\n\r\n{\"error\":\"rate_limited\",\"message\":\"slow down\"}",
	  MR_ERATELIMIT, 429, "slow down", NULL, 7 },
	{ JSON_HEAD("503 Service Unavailable") "retry-after:  1\r\n\r\n{\"error\":\"exhausted\",\"message\":\"no free port\"}",
	  MR_EEXHAUSTED, 503, "no free port", NULL, 1 },
	{ JSON_HEAD("500 Internal Server Error") "\r\n{\"error\":\"database\",\"message\":\"database error\"}",
	  MR_EDB, 500, "database error", NULL, 0 },
	/* Unknown names and foreign bodies: the status decides. */
	{ JSON_HEAD("405 Method Not Allowed") "Allow: GET\r\n\r\n{\"error\":\"method_not_allowed\",\"message\":\"method PUT not allowed here\"}",
	  MR_ENOTSUP, 405, "method PUT not allowed here", NULL, 0 },
	{ JSON_HEAD("409 Conflict") "\r\n{\"error\":\"brand_new_code\",\"message\":\"m\"}", MR_ECONFLICT,
	  409, "m", NULL, 0 },
	{ JSON_HEAD("418 I'm a teapot") "\r\n{}", MR_EINVAL, 418, NULL, "HTTP 418", 0 },
	{ "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html>bad gateway</html>",
	  MR_ENETWORK, 502, NULL, "without a MyRelay error body", 0 },
	{ JSON_HEAD("400 Bad Request") "\r\n{\"error\":\"invalid\"}", MR_EINVAL, 400, NULL,
	  "answered 400 (invalid)", 0 },
	{ JSON_HEAD("400 Bad Request") "\r\n[1,2]", MR_EINVAL, 400, NULL, "without a MyRelay", 0 },
	{ "HTTP/1.1 301 Moved Permanently\r\nLocation: http://evil.example/\r\nConnection: close\r\n\r\n",
	  MR_ENETWORK, 301, NULL, "redirect", 0 },
	/* A hostile server's terminal escapes are neutralised... */
	{ JSON_HEAD("400 Bad Request") "\r\n{\"error\":\"invalid\",\"message\":\"a\\u001b[31mred\\nline\"}",
	  MR_EINVAL, 400, "a?[31mred?line", NULL, 0 },
	/* ...and the token never reaches an error detail. */
	{ JSON_HEAD("401 Unauthorized") "\r\n{\"error\":\"unauthenticated\",\"message\":\"bad token " TOKEN " here\"}",
	  MR_EAUTH, 401, "bad token [token] here", NULL, 0 },
};

START_TEST(test_answers)
{
	struct fake f;
	mr_api *api;
	char *body = NULL;
	long status = -1;
	int rc;

	fake_start(&f, answers[_i].response, 0);
	api = fake_client(&f, TOKEN);
	rc = mr_api_request(api, "GET", "/v1/nodes", NULL, &status, &body);
	fake_stop(&f);
	ck_assert_msg(rc == answers[_i].rc, "answer %d: rc %d (%s), wanted %d", _i, rc,
		      mr_error_message(), answers[_i].rc);
	ck_assert_int_eq(mr_api_last_status(api), answers[_i].status);
	ck_assert_uint_eq(mr_api_retry_after(api), answers[_i].retry_after);
	if (rc == 0) {
		const char *sep = strstr(answers[_i].response, "\r\n\r\n") + 4;

		ck_assert_int_eq(status, answers[_i].status);
		ck_assert_ptr_nonnull(body);
		ck_assert_str_eq(body, sep);
		mr_api_free_body(body);
	} else {
		ck_assert_ptr_null(body);
		ck_assert_int_eq(status, -1);
		if (answers[_i].message)
			ck_assert_str_eq(mr_error_message(), answers[_i].message);
		else
			ck_assert_msg(strstr(mr_error_message(), answers[_i].want_sub),
				      "detail \"%s\"", mr_error_message());
		ck_assert_ptr_null(strstr(mr_error_message(), TOKEN));
	}
	mr_api_free(api);
}
END_TEST

/* What goes on the wire: method, path, headers, body. */
static const struct {
	const char *method;
	const char *path;
	const char *body;
	const char *token;
} sends[] = {
	{ "GET", "/v1/nodes?status=active&region=eu", NULL, TOKEN },
	{ "POST", "/v1/pods", "{\"customer\":\"cu_x\",\"node\":\"nd_y\"}", TOKEN },
	{ "POST", "/v1/tokens/abc/revoke", NULL, TOKEN },
	{ "DELETE", "/v1/nodes/nd_aaaaaaaaaaaa?force=true", NULL, TOKEN },
	{ "PATCH", "/v1/customers/cu_x/plan", "{\"transfer_limit\":5}", TOKEN },
	{ "PUT", "/v1/x%20y", "{}", TOKEN },
	{ "GET", "/healthz", NULL, NULL },
};

START_TEST(test_request_sent)
{
	static const char ok[] = JSON_HEAD("200 OK") "Content-Length: 2\r\n\r\n{}";
	char line[256], *body = NULL, *head_end;
	struct fake f;
	mr_api *api;

	fake_start(&f, ok, 0);
	api = fake_client(&f, sends[_i].token);
	ck_mr_ok(mr_api_request(api, sends[_i].method, sends[_i].path, sends[_i].body, NULL,
				&body));
	fake_stop(&f);
	ck_assert_str_eq(body, "{}");
	mr_api_free_body(body);

	snprintf(line, sizeof(line), "%s %s HTTP/1.1\r\n", sends[_i].method, sends[_i].path);
	ck_assert_msg(strncmp(f.request[0], line, strlen(line)) == 0, "request line: %.80s",
		      f.request[0]);
	head_end = strstr(f.request[0], "\r\n\r\n");
	ck_assert_ptr_nonnull(head_end);
	*head_end = '\0';
	ck_assert_ptr_nonnull(strcasestr(f.request[0], "\r\nAccept: application/json"));
	ck_assert_ptr_nonnull(strcasestr(f.request[0], "\r\nUser-Agent: libmyrelay/"));
	ck_assert_ptr_null(strcasestr(f.request[0], "\r\nExpect:"));
	if (sends[_i].token) {
		snprintf(line, sizeof(line), "\r\nAuthorization: Bearer %s\r\n", sends[_i].token);
		strcat(f.request[0], "\r\n");
		ck_assert_ptr_nonnull(strstr(f.request[0], line));
	} else {
		ck_assert_ptr_null(strcasestr(f.request[0], "Authorization"));
	}
	if (sends[_i].body) {
		ck_assert_ptr_nonnull(strcasestr(f.request[0], "\r\nContent-Type: application/json"));
		ck_assert_str_eq(head_end + 4, sends[_i].body);
	} else {
		ck_assert_str_eq(head_end + 4, "");
	}
	mr_api_free(api);
}
END_TEST

START_TEST(test_user_agent_sent)
{
	static const char ok[] = JSON_HEAD("204 No Content") "\r\n";
	struct fake f;
	mr_api *api;

	fake_start(&f, ok, 0);
	api = fake_client(&f, NULL);
	ck_mr_ok(mr_api_set_user_agent(api, "myrelay-agent/9"));
	ck_mr_ok(mr_api_request(api, "POST", "/v1/node/report", "{}", NULL, NULL));
	fake_stop(&f);
	ck_assert_ptr_nonnull(strstr(f.request[0], "\r\nUser-Agent: myrelay-agent/9\r\n"));
	mr_api_free(api);
}
END_TEST

START_TEST(test_response_limit)
{
	static char big[8192];
	struct fake f;
	mr_api *api;
	char *body = NULL;
	int n;

	/* Without Content-Length, so the limit is enforced while reading. */
	n = snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
	memset(big + n, 'x', sizeof(big) - (size_t)n - 1);
	fake_start(&f, big, sizeof(big) - 1);
	api = fake_client(&f, NULL);
	ck_mr_ok(mr_api_set_max_response(api, 4096));
	ck_mr_err(mr_api_request(api, "GET", "/v1/big", NULL, NULL, &body), MR_ETOOBIG);
	ck_assert_ptr_null(body);
	fake_stop(&f);
	mr_api_free(api);

	/* Exactly at the limit passes. */
	fake_start(&f, big, (size_t)n + 4096);
	api = fake_client(&f, NULL);
	ck_mr_ok(mr_api_set_max_response(api, 4096));
	ck_mr_ok(mr_api_request(api, "GET", "/v1/big", NULL, NULL, &body));
	fake_stop(&f);
	ck_assert_uint_eq(strlen(body), 4096);
	mr_api_free_body(body);
	mr_api_free(api);
}
END_TEST

START_TEST(test_connection_refused)
{
	struct fake f;
	char url[64];
	mr_api *api;
	char *body = NULL;

	fake_listen(&f, false); /* bound, not listening: the kernel refuses */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", f.port);
	ck_mr_ok(mr_api_new(&api, url, NULL, TOKEN));
	ck_mr_err(mr_api_request(api, "GET", "/healthz", NULL, NULL, &body), MR_ENETWORK);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "cannot connect"));
	ck_assert_ptr_null(strstr(mr_error_message(), TOKEN));
	ck_assert_int_eq(mr_api_last_status(api), 0);
	ck_assert_ptr_null(body);
	close(f.lfd);
	mr_api_free(api);
}
END_TEST

START_TEST(test_timeouts)
{
	struct fake f;
	mr_api *api;
	struct timespec a, b;
	double ms;

	/* The client's default limit, then a per-request one that wins. */
	fake_listen(&f, true);
	f.hold_ms = 1500;
	f.n = 1;
	fake_run(&f);
	api = fake_client(&f, NULL);
	ck_mr_ok(mr_api_set_timeout(api, 300));
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_mr_err(mr_api_request(api, "GET", "/v1/node/desired?after=3", NULL, NULL, NULL),
		  MR_ETIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	fake_stop(&f);
	ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	ck_assert_msg(ms >= 250 && ms < 1400, "timed out after %.0f ms", ms);
	mr_api_free(api);

	fake_listen(&f, true);
	f.hold_ms = 1500;
	f.n = 1;
	fake_run(&f);
	api = fake_client(&f, NULL);
	ck_mr_err(mr_api_request_timeout(api, "GET", "/v1/node/desired", NULL, 200, NULL, NULL),
		  MR_ETIMEOUT);
	fake_stop(&f);
	mr_api_free(api);
}
END_TEST

/* An https:// URL pointed at a plain HTTP server: the handshake fails and
 * nothing is sent in clear (the server sees a TLS ClientHello, no token). */
START_TEST(test_https_to_plain_server)
{
	static const char ok[] = JSON_HEAD("200 OK") "Content-Length: 2\r\n\r\n{}";
	struct fake f;
	char url[64];
	mr_api *api;

	fake_start(&f, ok, 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", f.port);
	ck_mr_ok(mr_api_new(&api, url, NULL, TOKEN));
	ck_mr_ok(mr_api_set_timeout(api, 5000));
	ck_mr_err(mr_api_request(api, "GET", "/v1/nodes", NULL, NULL, NULL), MR_ENETWORK);
	fake_stop(&f);
	ck_assert_ptr_null(memmem(f.request[0], f.request_len[0], "mra_", 4));
	ck_assert_ptr_null(memmem(f.request[0], f.request_len[0], "Authorization", 13));
	mr_api_free(api);
}
END_TEST

/* One handle, several requests: options and results of one never leak into
 * the next (a POST body into a later GET, a Retry-After into a later answer). */
START_TEST(test_handle_reuse)
{
	static const char ok[] = JSON_HEAD("200 OK") "Content-Length: 2\r\n\r\n{}";
	static const char limited[] = JSON_HEAD("429 Too Many Requests") "Retry-After: 3\r\n\r\n"
				      "{\"error\":\"rate_limited\",\"message\":\"x\"}";
	struct fake f;
	mr_api *api;
	char *body = NULL;
	long status = 0;

	fake_listen(&f, true);
	f.response[0] = limited;
	f.response[1] = ok;
	f.response[2] = ok;
	for (int k = 0; k < 3; k++)
		f.response_len[k] = strlen(f.response[k]);
	f.n = 3;
	fake_run(&f);
	api = fake_client(&f, TOKEN);
	ck_mr_err(mr_api_request(api, "POST", "/v1/a", "{\"x\":1}", NULL, NULL), MR_ERATELIMIT);
	ck_assert_uint_eq(mr_api_retry_after(api), 3);
	ck_assert_int_eq(mr_api_last_status(api), 429);
	ck_mr_ok(mr_api_request(api, "GET", "/v1/b", NULL, &status, &body));
	ck_assert_int_eq(status, 200);
	ck_assert_uint_eq(mr_api_retry_after(api), 0);
	mr_api_free_body(body);
	ck_mr_ok(mr_api_request(api, "DELETE", "/v1/c", NULL, NULL, NULL));
	fake_stop(&f);
	ck_assert_ptr_nonnull(strstr(f.request[0], "POST /v1/a HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(f.request[0], "\r\n\r\n{\"x\":1}"));
	ck_assert_ptr_nonnull(strstr(f.request[1], "GET /v1/b HTTP/1.1\r\n"));
	ck_assert_ptr_null(strcasestr(f.request[1], "Content-Length"));
	ck_assert_ptr_null(strcasestr(f.request[1], "Content-Type"));
	ck_assert_ptr_nonnull(strstr(f.request[2], "DELETE /v1/c HTTP/1.1\r\n"));
	ck_assert_ptr_null(strstr(f.request[2], "{\"x\""));
	mr_api_free(api);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("args");
	TCase *th = tcase_create("http");

	tcase_add_loop_test(tc, test_new_good_url, 0, (int)MR_ARRAY_SIZE(good_urls));
	tcase_add_loop_test(tc, test_new_bad_url, 0, (int)MR_ARRAY_SIZE(bad_urls));
	tcase_add_test(tc, test_new_url_too_long);
	tcase_add_loop_test(tc, test_new_bad_token, 0, (int)MR_ARRAY_SIZE(bad_tokens));
	tcase_add_test(tc, test_new_long_token);
	tcase_add_test(tc, test_new_null_and_ca);
	tcase_add_test(tc, test_setters);
	tcase_add_loop_test(tc, test_request_bad_args, 0, (int)MR_ARRAY_SIZE(bad_requests));
	tcase_add_test(tc, test_request_null_and_timeout);
	suite_add_tcase(s, tc);

	tcase_set_timeout(th, 20);
	tcase_add_loop_test(th, test_answers, 0, (int)MR_ARRAY_SIZE(answers));
	tcase_add_loop_test(th, test_request_sent, 0, (int)MR_ARRAY_SIZE(sends));
	tcase_add_test(th, test_user_agent_sent);
	tcase_add_test(th, test_response_limit);
	tcase_add_test(th, test_connection_refused);
	tcase_add_test(th, test_timeouts);
	tcase_add_test(th, test_https_to_plain_server);
	tcase_add_test(th, test_handle_reuse);
	suite_add_tcase(s, th);
	return mr_test_run_suite(s);
}

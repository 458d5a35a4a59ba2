/* SPDX-License-Identifier: MIT */
/*
 * The control-plane API client over libcurl.
 *
 * One easy handle per client, reset before each request so that no option
 * of an earlier request leaks into the next, while libcurl keeps the live
 * connection (and TLS session) for the next one: the agent's long polls and
 * the CLI's calls each pay the handshake once.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include <myrelay/api.h>
#include <myrelay/cidr.h>

#define TIMEOUT_MAX_MS 3600000u
#define CONNECT_TIMEOUT_MAX_MS 600000u
#define MAX_RESPONSE_MIN 1024u
#define USER_AGENT_MAX 200
#define SERVER_MESSAGE_MAX 400

struct mr_api {
	CURL *curl;
	char *url;     /* base URL without a trailing '/' */
	char *ca_file; /* NULL: the system's trust store */
	char *token;   /* NULL: no Authorization header */
	size_t token_len;
	char *user_agent;
	bool is_http;
	bool allow_http;
	uint32_t timeout_ms;
	uint32_t connect_timeout_ms;
	size_t max_response;
	long last_status;
	uint32_t retry_after;
	char curl_error[CURL_ERROR_SIZE];
};

/* An answer body. Grown by copying and wiping rather than realloc(), since
 * answers can carry a token's secret and realloc() may leave the old block
 * behind unwiped. */
struct body {
	char *p;
	size_t len;
	size_t cap;
	size_t max;
	bool too_big;
	bool no_memory;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;
static bool global_tls;

static void global_init(void)
{
	curl_version_info_data *vi;

	/* curl_global_init() is not thread-safe with every TLS backend, so it
	 * runs once per process, and libcurl stays initialised until exit. */
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (global_rc != CURLE_OK)
		return;
	vi = curl_version_info(CURLVERSION_NOW);
	global_tls = vi && (vi->features & CURL_VERSION_SSL);
}

static bool is_printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* Hosts whose traffic never leaves the machine: plain HTTP to them exposes
 * the token to local processes only. */
static bool host_is_loopback(const char *host)
{
	static const mr_prefix lo4 = {MR_CIDR_INET, 8, {0, 0}, {127}};
	mr_prefix p;
	char buf[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return false;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		if (mr_cidr_parse_address(&p, buf) < 0)
			return false;
		for (int i = 0; i < 15; i++)
			if (p.addr[i])
				return false;
		return p.family == MR_CIDR_INET6 && p.addr[15] == 1;
	}
	if (mr_cidr_parse_address(&p, host) < 0)
		return false;
	return mr_cidr_contains(&lo4, &p);
}

static bool has_dot_segment(const char *path, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (path[i] != '/')
			continue;
		if (i + 2 <= n && path[i + 1] == '.' && (i + 2 == n || path[i + 2] == '/'))
			return true;
		if (i + 3 <= n && path[i + 1] == '.' && path[i + 2] == '.' &&
		    (i + 3 == n || path[i + 3] == '/'))
			return true;
	}
	return false;
}

static int check_url(mr_api *api, const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *part = NULL;
	size_t n = strlen(url);
	int rc = 0;

	if (n == 0)
		return mr__error_set(MR_EINVAL, "url: empty (expected https://HOST[:PORT])");
	if (n > MR_API_URL_MAX)
		return mr__error_set(MR_EINVAL, "url: longer than %d bytes", MR_API_URL_MAX);
	if (!is_printable_ascii(url))
		return mr__error_set(MR_EINVAL, "url: contains a space, a control character or "
						"a non-ASCII byte");
	if (strchr(url, '@'))
		/* Not quoted: the part before '@' may be a password. */
		return mr__error_set(MR_EINVAL, "url: a user name or password is not allowed "
						"(the token goes in the Authorization header)");
	u = curl_url();
	if (!u)
		return mr__error_set(MR_ENOMEM, "url: out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		rc = mr__error_set(MR_EINVAL,
				   "url \"%s\": malformed (expected https://HOST[:PORT])", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host[0]) {
		rc = mr__error_set(MR_EINVAL, "url \"%s\": no host", url);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK) {
		/* The detail must not echo a password. */
		rc = mr__error_set(MR_EINVAL, "url: a user name or password is not allowed "
					      "(the token goes in the Authorization header)");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
		rc =
		    mr__error_set(MR_EINVAL, "url \"%s\": a query or fragment is not allowed", url);
		goto out;
	}
	if (strcmp(scheme, "https") == 0) {
		api->is_http = false;
	} else if (strcmp(scheme, "http") == 0) {
		if (!host_is_loopback(host)) {
			rc = mr__error_set(MR_EINVAL,
					   "url \"%s\": plain http:// is refused (the token would "
					   "travel in clear); use https://",
					   url);
			goto out;
		}
		api->is_http = true;
	} else {
		rc = mr__error_set(MR_EINVAL, "url \"%s\": scheme must be https://", url);
		goto out;
	}
	/* The base URL is kept as written (minus trailing slashes) rather than
	 * as curl re-renders it: paths are appended as text, so dot segments
	 * (which curl would resolve) are refused in the text. */
	if (has_dot_segment(url, n)) {
		rc = mr__error_set(MR_EINVAL, "url \"%s\": \"..\" in the path", url);
		goto out;
	}
	while (n > 0 && url[n - 1] == '/')
		n--;
	api->url = strndup(url, n);
	if (!api->url)
		rc = mr__error_set(MR_ENOMEM, "url: out of memory");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(part);
	curl_url_cleanup(u);
	return rc;
}

static int check_ca_file(const char *path)
{
	struct stat st;
	int fd;

	if (!path[0])
		return mr__error_set(MR_EINVAL, "ca file: empty path");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mr__error_sys(errno, "ca file %s", path);
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return mr__error_sys(e, "ca file %s", path);
	}
	close(fd);
	if (!S_ISREG(st.st_mode))
		return mr__error_set(MR_EINVAL, "ca file %s: not a regular file", path);
	return 0;
}

MR_API int mr_api_new(mr_api **out, const char *url, const char *ca_file, const char *token)
{
	mr_api *api;
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "api: out is NULL");
	if (!url)
		return mr__error_set(MR_EINVAL, "url: NULL");
	if (token) {
		size_t n = strnlen(token, MR_API_TOKEN_MAX + 1);

		if (n == 0)
			return mr__error_set(MR_EINVAL, "token: empty (pass NULL for none)");
		if (n > MR_API_TOKEN_MAX)
			return mr__error_set(MR_EINVAL, "token: longer than %d bytes",
					     MR_API_TOKEN_MAX);
		/* A newline would let the token add headers of its own. */
		if (!is_printable_ascii(token))
			return mr__error_set(MR_EINVAL, "token: contains a space, a control "
							"character or a non-ASCII byte");
	}
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return mr__error_set(global_rc == CURLE_OUT_OF_MEMORY ? MR_ENOMEM : MR_ENOTSUP,
				     "api: libcurl initialisation failed: %s",
				     curl_easy_strerror(global_rc));
	if (!global_tls)
		return mr__error_set(MR_ENOTSUP, "api: libcurl was built without TLS support");

	api = calloc(1, sizeof(*api));
	if (!api)
		return mr__error_set(MR_ENOMEM, "api: out of memory");
	api->timeout_ms = MR_API_DEFAULT_TIMEOUT_MS;
	api->connect_timeout_ms = MR_API_DEFAULT_CONNECT_TIMEOUT_MS;
	api->max_response = MR_API_DEFAULT_MAX_RESPONSE;
	rc = check_url(api, url);
	if (rc < 0)
		goto fail;
	if (ca_file) {
		rc = check_ca_file(ca_file);
		if (rc < 0)
			goto fail;
		rc = MR_ENOMEM;
		if (!(api->ca_file = mr__strdup(ca_file)))
			goto fail;
	}
	if (token) {
		rc = MR_ENOMEM;
		api->token_len = strlen(token);
		if (!(api->token = mr__strdup(token)))
			goto fail;
	}
	rc = MR_ENOMEM;
	if (!(api->user_agent = mr__strdup("libmyrelay/" PACKAGE_VERSION)))
		goto fail;
	api->curl = curl_easy_init();
	if (!api->curl) {
		rc = mr__error_set(MR_ENOMEM, "api: cannot create a libcurl handle");
		goto fail;
	}
	*out = api;
	return 0;
fail:
	mr_api_free(api);
	return rc;
}

MR_API void mr_api_free(mr_api *api)
{
	if (!api)
		return;
	if (api->curl)
		curl_easy_cleanup(api->curl);
	if (api->token) {
		mr__wipe(api->token, api->token_len);
		free(api->token);
	}
	free(api->url);
	free(api->ca_file);
	free(api->user_agent);
	free(api);
}

MR_API int mr_api_set_allow_http(mr_api *api, bool allow)
{
	if (!api)
		return mr__error_set(MR_EINVAL, "api: NULL");
	api->allow_http = allow;
	return 0;
}

MR_API int mr_api_set_timeout(mr_api *api, uint32_t timeout_ms)
{
	if (!api)
		return mr__error_set(MR_EINVAL, "api: NULL");
	if (timeout_ms == 0 || timeout_ms > TIMEOUT_MAX_MS)
		return mr__error_set(MR_EINVAL, "timeout: %u ms out of range 1-%u", timeout_ms,
				     TIMEOUT_MAX_MS);
	api->timeout_ms = timeout_ms;
	return 0;
}

MR_API int mr_api_set_connect_timeout(mr_api *api, uint32_t timeout_ms)
{
	if (!api)
		return mr__error_set(MR_EINVAL, "api: NULL");
	if (timeout_ms == 0 || timeout_ms > CONNECT_TIMEOUT_MAX_MS)
		return mr__error_set(MR_EINVAL, "connect timeout: %u ms out of range 1-%u",
				     timeout_ms, CONNECT_TIMEOUT_MAX_MS);
	api->connect_timeout_ms = timeout_ms;
	return 0;
}

MR_API int mr_api_set_user_agent(mr_api *api, const char *user_agent)
{
	char *copy;
	size_t n;

	if (!api || !user_agent)
		return mr__error_set(MR_EINVAL, "api: NULL argument");
	n = strlen(user_agent);
	if (n == 0 || n > USER_AGENT_MAX)
		return mr__error_set(MR_EINVAL, "user agent: %zu bytes, expected 1-%d", n,
				     USER_AGENT_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)user_agent[i] < 0x20 || (unsigned char)user_agent[i] >= 0x7f)
			return mr__error_set(MR_EINVAL, "user agent: contains a control "
							"character or a non-ASCII byte");
	copy = mr__strdup(user_agent);
	if (!copy)
		return MR_ENOMEM;
	free(api->user_agent);
	api->user_agent = copy;
	return 0;
}

MR_API int mr_api_set_max_response(mr_api *api, size_t max_bytes)
{
	if (!api)
		return mr__error_set(MR_EINVAL, "api: NULL");
	if (max_bytes < MAX_RESPONSE_MIN || max_bytes > SIZE_MAX / 2)
		return mr__error_set(MR_EINVAL, "max response: %zu bytes, expected at least %u",
				     max_bytes, MAX_RESPONSE_MIN);
	api->max_response = max_bytes;
	return 0;
}

MR_API long mr_api_last_status(const mr_api *api)
{
	return api ? api->last_status : 0;
}

MR_API uint32_t mr_api_retry_after(const mr_api *api)
{
	return api ? api->retry_after : 0;
}

MR_API const char *mr_api_get_url(const mr_api *api)
{
	return api ? api->url : NULL;
}

MR_API void mr_api_free_body(char *body)
{
	if (!body)
		return;
	mr__wipe(body, strlen(body));
	free(body);
}

/* --- one request ----------------------------------------------------------- */

static bool method_known(const char *m)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

	for (size_t i = 0; i < MR_ARRAY_SIZE(methods); i++)
		if (strcmp(m, methods[i]) == 0)
			return true;
	return false;
}

/* RFC 3986: unreserved, sub-delims, ':', '@', '/', '?' and '%' escapes. */
static int check_path(const char *path)
{
	const char *q;
	size_t n;

	if (path[0] != '/')
		return mr__error_set(MR_EINVAL, "path: must start with '/'");
	n = strlen(path);
	if (n > 8192)
		return mr__error_set(MR_EINVAL, "path: longer than 8192 bytes");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~!$&'()*+,;=:@/?", c))
			continue;
		if (c == '%' && i + 2 < n && isxdigit((unsigned char)path[i + 1]) &&
		    isxdigit((unsigned char)path[i + 2])) {
			i += 2;
			continue;
		}
		if (c < 0x20 || c >= 0x7f)
			return mr__error_set(MR_EINVAL,
					     "path: byte %zu is a control character or "
					     "not ASCII (percent-encode it)",
					     i);
		return mr__error_set(MR_EINVAL,
				     "path: character '%c' at %zu must be "
				     "percent-encoded",
				     c, i);
	}
	/* libcurl would resolve dot segments and send another path than the
	 * caller built. */
	q = strchr(path, '?');
	if (has_dot_segment(path, q ? (size_t)(q - path) : n))
		return mr__error_set(MR_EINVAL, "path: \".\" and \"..\" segments are not allowed");
	return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct body *b = userdata;
	size_t n = size * nmemb;

	if (n > b->max || b->len > b->max - n) {
		b->too_big = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = malloc(cap);
		if (!p) {
			b->no_memory = true;
			return 0;
		}
		if (b->p) {
			memcpy(p, b->p, b->len);
			mr__wipe(b->p, b->cap);
			free(b->p);
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
	mr_api *api = userdata;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";

	/* A new status line starts a new answer (after 100 Continue). */
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
		api->retry_after = 0;
	if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		uint64_t v = 0;
		size_t i = sizeof(name) - 1;
		bool digits = false;

		while (i < n && (data[i] == ' ' || data[i] == '\t'))
			i++;
		for (; i < n && data[i] >= '0' && data[i] <= '9'; i++) {
			digits = true;
			if (v < 86400)
				v = v * 10 + (uint64_t)(data[i] - '0');
		}
		/* The HTTP-date form is not used by the server; ignore it. */
		if (digits)
			api->retry_after = v > 86400 ? 86400 : (uint32_t)v;
	}
	return n;
}

static void body_free(struct body *b)
{
	if (b->p) {
		mr__wipe(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

static int code_of_name(const char *name)
{
	for (int c = -1; c > MR_ELAST; c--)
		if (strcmp(mr_error_name(c), name) == 0)
			return c;
	return 0;
}

static int code_of_status(long status)
{
	switch (status) {
	case 400:
		return MR_EINVAL;
	case 401:
		return MR_EAUTH;
	case 403:
		return MR_EPERM;
	case 404:
		return MR_ENOTFOUND;
	case 405:
		return MR_ENOTSUP;
	case 409:
		return MR_ECONFLICT;
	case 413:
		return MR_ETOOBIG;
	case 429:
		return MR_ERATELIMIT;
	case 503:
		return MR_EEXHAUSTED;
	default:
		return status >= 400 && status < 500 ? MR_EINVAL : MR_ENETWORK;
	}
}

/* Copy the server's message for the error detail: control characters
 * (terminal escapes from a hostile server) become '?', and should the
 * message ever contain the token, it is cut out. */
static void clean_message(const mr_api *api, const char *in, char *out, size_t size)
{
	size_t j = 0;

	for (size_t i = 0; in[i] && j + 1 < size; i++) {
		if (api->token && strncmp(in + i, api->token, api->token_len) == 0) {
			static const char r[] = "[token]";

			for (size_t k = 0; r[k] && j + 1 < size; k++)
				out[j++] = r[k];
			i += api->token_len - 1;
			continue;
		}
		out[j++] = ((unsigned char)in[i] < 0x20 || in[i] == 0x7f) ? '?' : in[i];
	}
	out[j] = '\0';
}

static int http_error(mr_api *api, const char *method, const char *path, long status,
		      const struct body *b)
{
	char msg[SERVER_MESSAGE_MAX + 1];
	const char *name = NULL, *text = NULL;
	json_t *root = NULL;
	int code = 0;

	if (b->p && b->len)
		root = json_loadb(b->p, b->len, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(root)) {
		name = json_string_value(json_object_get(root, "error"));
		text = json_string_value(json_object_get(root, "message"));
	}
	if (name)
		code = code_of_name(name);
	if (code == 0)
		code = code_of_status(status);
	if (text && text[0]) {
		clean_message(api, text, msg, sizeof(msg));
		mr__error_set(code, "%s", msg);
	} else if (name) {
		clean_message(api, name, msg, sizeof(msg));
		mr__error_set(code, "%s %s: the server answered %ld (%s)", method, path, status,
			      msg);
	} else {
		mr__error_set(code,
			      "%s %s: the server answered HTTP %ld without a MyRelay error "
			      "body (a proxy in the way, or not a MyRelay server?)",
			      method, path, status);
	}
	json_decref(root);
	return code;
}

static int transport_error(mr_api *api, CURLcode cc, const struct body *b)
{
	const char *detail = api->curl_error[0] ? api->curl_error : curl_easy_strerror(cc);
	const char *trust = api->ca_file ? api->ca_file : "the system's trust store";

	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return mr__error_set(MR_ETIMEOUT, "%s: no answer in time: %s", api->url, detail);
	case CURLE_PEER_FAILED_VERIFICATION:
		return mr__error_set(MR_EAUTH,
				     "%s: the server's TLS certificate does not verify against %s, "
				     "refusing to talk to it (wrong CA file, or not the server you "
				     "meant): %s",
				     api->url, trust, detail);
	case CURLE_SSL_CACERT_BADFILE:
		return mr__error_set(MR_EINVAL,
				     "ca file %s: not usable as PEM CA "
				     "certificates: %s",
				     trust, detail);
	case CURLE_OUT_OF_MEMORY:
		return mr__error_set(MR_ENOMEM, "%s: out of memory", api->url);
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (b->no_memory)
			return mr__error_set(MR_ENOMEM, "%s: out of memory for the answer",
					     api->url);
		if (b->too_big || cc == CURLE_FILESIZE_EXCEEDED)
			return mr__error_set(MR_ETOOBIG, "%s: answer larger than %zu bytes",
					     api->url, api->max_response);
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return mr__error_set(MR_EINVAL, "%s: %s", api->url, detail);
	case CURLE_COULDNT_RESOLVE_HOST:
		return mr__error_set(MR_ENETWORK, "%s: cannot resolve the host name: %s", api->url,
				     detail);
	case CURLE_COULDNT_CONNECT:
		return mr__error_set(MR_ENETWORK,
				     "%s: cannot connect (is the server running "
				     "and the address right?): %s",
				     api->url, detail);
	case CURLE_SSL_CONNECT_ERROR:
		return mr__error_set(MR_ENETWORK,
				     "%s: TLS handshake failed (is it an https "
				     "server?): %s",
				     api->url, detail);
	default:
		break;
	}
	return mr__error_set(MR_ENETWORK, "%s: %s", api->url, detail);
}

static int setup(mr_api *api, const char *method, const char *url, const char *body,
		 uint32_t timeout_ms, struct curl_slist *headers, struct body *b)
{
	CURL *c = api->curl;
	CURLcode cc = CURLE_OK;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (cc == CURLE_OK)                                                                \
			cc = curl_easy_setopt(c, opt, val);                                        \
	} while (0)

	SET(CURLOPT_URL, url);
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, api->is_http ? "http" : "https");
#else
	SET(CURLOPT_PROTOCOLS, api->is_http ? (long)CURLPROTO_HTTP : (long)CURLPROTO_HTTPS);
#endif
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	/* Verification is set explicitly, never from a caller's choice. */
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (api->ca_file) {
		/* Only the given CA: without this, libcurl would also trust the
		 * distribution's CA directory compiled in as its default. */
		SET(CURLOPT_CAINFO, api->ca_file);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(api->connect_timeout_ms < timeout_ms ? api->connect_timeout_ms : timeout_ms));
	SET(CURLOPT_USERAGENT, api->user_agent);
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, b);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, api);
	SET(CURLOPT_ERRORBUFFER, api->curl_error);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)api->max_response);
	if (strcmp(method, "GET") == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, method);
		if (body || strcmp(method, "POST") == 0) {
			SET(CURLOPT_POSTFIELDS, body ? body : "");
			SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? strlen(body) : 0));
		}
	}
#undef SET
	if (cc != CURLE_OK)
		return mr__error_set(cc == CURLE_OUT_OF_MEMORY ? MR_ENOMEM : MR_ENOTSUP,
				     "api: libcurl option: %s", curl_easy_strerror(cc));
	return 0;
}

/* The Authorization header as a list node whose text is wiped before the
 * list is freed (curl_slist_append() keeps its own copy). */
static void slist_wipe_free(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		if (l->data)
			mr__wipe(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

static int build_headers(mr_api *api, bool has_body, struct curl_slist **out)
{
	struct curl_slist *list = NULL, *next;
	char *auth = NULL;
	size_t n;

	next = curl_slist_append(list, "Accept: application/json");
	if (!next)
		goto nomem;
	list = next;
	/* libcurl would otherwise wait for 100 Continue on large bodies. */
	next = curl_slist_append(list, "Expect:");
	if (!next)
		goto nomem;
	list = next;
	if (has_body) {
		next = curl_slist_append(list, "Content-Type: application/json");
		if (!next)
			goto nomem;
		list = next;
	}
	if (api->token) {
		n = sizeof("Authorization: Bearer ") + api->token_len;
		auth = malloc(n);
		if (!auth)
			goto nomem;
		snprintf(auth, n, "Authorization: Bearer %s", api->token);
		next = curl_slist_append(list, auth);
		mr__wipe(auth, n);
		free(auth);
		if (!next)
			goto nomem;
		list = next;
	}
	*out = list;
	return 0;
nomem:
	slist_wipe_free(list);
	return mr__error_set(MR_ENOMEM, "api: out of memory");
}

MR_API int mr_api_request_timeout(mr_api *api, const char *method, const char *path,
				  const char *body, uint32_t timeout_ms, long *out_status,
				  char **out_body)
{
	struct curl_slist *headers = NULL;
	struct body b = {0};
	char *url = NULL;
	long status = 0;
	CURLcode cc;
	size_t n;
	int rc;

	if (!api || !method || !path)
		return mr__error_set(MR_EINVAL, "api: NULL argument");
	api->last_status = 0;
	api->retry_after = 0;
	if (!method_known(method))
		return mr__error_set(MR_EINVAL, "method: expected GET, POST, PUT, PATCH or DELETE");
	rc = check_path(path);
	if (rc < 0)
		return rc;
	if (timeout_ms == 0 || timeout_ms > TIMEOUT_MAX_MS)
		return mr__error_set(MR_EINVAL, "timeout: %u ms out of range 1-%u", timeout_ms,
				     TIMEOUT_MAX_MS);
	if (api->is_http && !api->allow_http)
		return mr__error_set(MR_EINVAL,
				     "%s: plain http:// is refused (the token would travel in "
				     "clear); use https://, or allow it explicitly for a local "
				     "test server (mr_api_set_allow_http)",
				     api->url);

	n = strlen(api->url) + strlen(path) + 1;
	url = malloc(n);
	if (!url)
		return mr__error_set(MR_ENOMEM, "api: out of memory");
	snprintf(url, n, "%s%s", api->url, path);
	rc = build_headers(api, body != NULL, &headers);
	if (rc < 0)
		goto out;
	b.max = api->max_response;
	api->curl_error[0] = '\0';
	curl_easy_reset(api->curl);
	rc = setup(api, method, url, body, timeout_ms, headers, &b);
	if (rc < 0)
		goto out;
	cc = curl_easy_perform(api->curl);
	/* Drop our pointers from the handle (the header list is freed below). */
	curl_easy_setopt(api->curl, CURLOPT_HTTPHEADER, NULL);
	if (cc != CURLE_OK) {
		rc = transport_error(api, cc, &b);
		goto out;
	}
	curl_easy_getinfo(api->curl, CURLINFO_RESPONSE_CODE, &status);
	api->last_status = status;
	if ((status >= 200 && status < 300) || status == 304) {
		if (out_body) {
			if (!b.p) {
				b.p = calloc(1, 1);
				b.cap = 1;
				if (!b.p) {
					rc = mr__error_set(MR_ENOMEM, "api: out of memory");
					goto out;
				}
			}
			*out_body = b.p;
			b.p = NULL;
		}
		if (out_status)
			*out_status = status;
		rc = 0;
		goto out;
	}
	if (status >= 300 && status < 400)
		rc = mr__error_set(MR_ENETWORK,
				   "%s %s: the server answered HTTP %ld (a redirect, "
				   "not followed: check the URL)",
				   method, path, status);
	else
		rc = http_error(api, method, path, status, &b);
out:
	body_free(&b);
	slist_wipe_free(headers);
	free(url);
	return rc;
}

MR_API int mr_api_request(mr_api *api, const char *method, const char *path, const char *body,
			  long *out_status, char **out_body)
{
	if (!api)
		return mr__error_set(MR_EINVAL, "api: NULL argument");
	return mr_api_request_timeout(api, method, path, body, api->timeout_ms, out_status,
				      out_body);
}

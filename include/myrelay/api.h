/* SPDX-License-Identifier: MIT */
/*
 * The HTTPS client of the MyRelay control-plane API, shared by the node
 * agent, the myrelay CLI and operators' own programs (libcurl underneath).
 *
 * A handle holds the server's base URL, how to verify the server (a CA
 * certificate file, or the system's trust store), the bearer token and a
 * kept-alive connection. Requests are JSON text in, JSON text out:
 *
 *     mr_api *api;
 *     char *body;
 *     long status;
 *
 *     if (mr_api_new(&api, "https://ctl.example.com:8443", "/etc/myrelay/ca.crt",
 *                    token) < 0)
 *             errx(2, "%s", mr_error_message());
 *     if (mr_api_request(api, "GET", "/v1/pod/peers", NULL, &status, &body) < 0)
 *             errx(1, "%s", mr_error_message());
 *     puts(body);
 *     mr_api_free_body(body);
 *     mr_api_free(api);
 *
 * Security:
 * - The server's certificate is ALWAYS verified (chain and host name).
 *   There is no option to turn verification off. Given a CA file, only
 *   that CA is trusted (the internal CA of myrelay-server); without one, the
 *   system's trust store is used.
 * - Plain http:// is refused, except to a loopback host (localhost,
 *   127.0.0.0/8, [::1]) after an explicit mr_api_set_allow_http(), for a
 *   test server run with --insecure.
 * - Redirects are never followed (they could carry the token elsewhere).
 * - The token is sent only in "Authorization: Bearer"; it is wiped from the
 *   handle's memory on mr_api_free() and never appears in an error detail.
 *
 * Errors: an HTTP error answer ({"error": "<name>", "message": "<text>"})
 * returns the MR_E* code whose mr_error_name() is <name> (or, for an unknown
 * name or a body that is not such JSON, the code of the status: 400
 * MR_EINVAL, 401 MR_EAUTH, 403 MR_EPERM, 404 MR_ENOTFOUND, 405
 * MR_ENOTSUP, 409 MR_ECONFLICT, 413 MR_ETOOBIG, 429 MR_ERATELIMIT, 503
 * MR_EEXHAUSTED, other 4xx MR_EINVAL, other 5xx MR_ENETWORK), and
 * mr_error_message() gives the server's message. Transport failures are
 * MR_ENETWORK (cannot connect, connection lost, TLS handshake failed),
 * MR_ETIMEOUT, and MR_EAUTH when the server's certificate does not verify.
 *
 * A handle is used by one thread at a time; different handles are
 * independent. The first mr_api_new() initialises libcurl once per process
 * (curl_global_init, thread-safe through pthread_once).
 */
#ifndef MYRELAY_API_H
#define MYRELAY_API_H

#include <myrelay/common.h>

MR_BEGIN_DECLS

/** Default time limit of a whole request, in milliseconds. */
#define MR_API_DEFAULT_TIMEOUT_MS 30000
/** Default time limit to connect (TCP and TLS handshake), in milliseconds. */
#define MR_API_DEFAULT_CONNECT_TIMEOUT_MS 10000
/** Default largest answer body accepted, in bytes (64 MiB). */
#define MR_API_DEFAULT_MAX_RESPONSE (64u * 1024u * 1024u)
/** Longest base URL accepted, in bytes. */
#define MR_API_URL_MAX 2048
/** Longest token accepted, in bytes. */
#define MR_API_TOKEN_MAX 512

/** A client of one server (opaque). */
typedef struct mr_api mr_api;

/**
 * Create a client.
 *
 * @param out receives the client; written only on success. Free it with
 *        mr_api_free().
 * @param url base URL: "https://HOST[:PORT][/PREFIX]" (a trailing '/' is
 *        dropped). Request paths are appended to it. No user name or
 *        password, query or fragment. "http://" is accepted only with a
 *        loopback host (localhost, 127.0.0.0/8, [::1]), and then every
 *        request is refused until mr_api_set_allow_http() is called.
 * @param ca_file path of a PEM file with the CA certificate(s) to trust, or
 *        NULL for the system's trust store. It must be a readable file; its
 *        content is checked on the first request (a file that is not PEM
 *        certificates gives MR_EINVAL then).
 * @param token the bearer token, or NULL to send none (for /healthz).
 *        Printable ASCII without spaces, at most MR_API_TOKEN_MAX bytes.
 *        Copied; the copy is wiped on free.
 * @return 0; MR_EINVAL (NULL out or url, a malformed or non-https URL, a
 *         token with a forbidden character: the detail never quotes the
 *         token), MR_ENOTFOUND (no such CA file), MR_EPERM (CA file not
 *         readable), MR_EIO, MR_ENOMEM, MR_ENOTSUP (libcurl without TLS).
 */
MR_API int mr_api_new(mr_api **out, const char *url, const char *ca_file, const char *token);

/**
 * Close the connection, wipe the token and free the client.
 *
 * @param api the client, or NULL (then nothing happens).
 */
MR_API void mr_api_free(mr_api *api);

/**
 * Allow plain http:// for a client created with a loopback http:// URL (a
 * test server run with --insecure). The token then travels in clear on the
 * loopback interface. Has no effect on https:// URLs: their verification
 * is never relaxed.
 *
 * @param api the client.
 * @param allow true to allow, false to refuse again (the default).
 * @return 0 or MR_EINVAL (NULL api, or allow with an http:// URL whose host
 *         is not loopback: impossible through mr_api_new(), kept as a guard).
 */
MR_API int mr_api_set_allow_http(mr_api *api, bool allow);

/**
 * Set the time limit of each whole request (connect, send, wait, receive).
 *
 * @param api the client.
 * @param timeout_ms milliseconds, 1 to 3600000 (default
 *        MR_API_DEFAULT_TIMEOUT_MS).
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_api_set_timeout(mr_api *api, uint32_t timeout_ms);

/**
 * Set the time limit to establish a connection (TCP and TLS).
 *
 * @param api the client.
 * @param timeout_ms milliseconds, 1 to 600000 (default
 *        MR_API_DEFAULT_CONNECT_TIMEOUT_MS).
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_api_set_connect_timeout(mr_api *api, uint32_t timeout_ms);

/**
 * Set the User-Agent header (default "libmyrelay/<version>").
 *
 * @param api the client.
 * @param user_agent printable ASCII, 1 to 200 bytes; copied.
 * @return 0, MR_EINVAL or MR_ENOMEM.
 */
MR_API int mr_api_set_user_agent(mr_api *api, const char *user_agent);

/**
 * Set the largest answer body accepted; a larger one fails with
 * MR_ETOOBIG.
 *
 * @param api the client.
 * @param max_bytes 1024 or more (default MR_API_DEFAULT_MAX_RESPONSE).
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_api_set_max_response(mr_api *api, size_t max_bytes);

/**
 * Send one request and wait for the answer, with the client's time limit.
 *
 * Any 2xx answer and 304 Not Modified (a long poll that saw no change) are
 * success. Other answers fail with the code described at the top of this
 * header; mr_api_last_status() and mr_api_retry_after() then tell the
 * status and the server's Retry-After.
 *
 * @param api the client.
 * @param method "GET", "POST", "PUT", "PATCH" or "DELETE".
 * @param path the path after the base URL, starting with '/', with an
 *        optional query: "/v1/pods?node=nd_x". Only characters allowed
 *        unescaped in a URL (RFC 3986) and '%' escapes; ".." segments
 *        are refused.
 * @param body JSON request body (sent as application/json), or NULL for
 *        none. Not validated here: the server checks it.
 * @param out_status optional (may be NULL): receives the HTTP status on
 *        success (200, 201, 304, ...).
 * @param out_body optional (may be NULL): receives the answer's body as a
 *        NUL-terminated string ("" when empty, e.g. for 304); written only on
 *        success. Answers may contain a token's secret: free it with
 *        mr_api_free_body(), which wipes it.
 * @return 0 or a negative MR_E* code (see the top of this header);
 *         MR_EINVAL also for NULL api/method/path, an unknown method, a bad
 *         path, or plain http:// not allowed; MR_ETOOBIG for an answer over
 *         the limit.
 */
MR_API int mr_api_request(mr_api *api, const char *method, const char *path, const char *body,
			  long *out_status, char **out_body);

/**
 * As mr_api_request(), with a time limit for this request only, e.g. a long
 * poll of GET /v1/node/desired?after=G&timeout=30 with 40000 ms.
 *
 * @param timeout_ms milliseconds, 1 to 3600000.
 * @return as mr_api_request(); MR_EINVAL for a timeout out of range.
 */
MR_API int mr_api_request_timeout(mr_api *api, const char *method, const char *path,
				  const char *body, uint32_t timeout_ms, long *out_status,
				  char **out_body);

/**
 * HTTP status of the last answer received by this client (whether success
 * or failure), 0 when the last request got no answer (network error) or none
 * was made.
 *
 * @param api the client (NULL gives 0).
 */
MR_API long mr_api_last_status(const mr_api *api);

/**
 * Seconds the server asked to wait (its Retry-After header, as sent with
 * 429 and 503) in the last answer; 0 when absent.
 *
 * @param api the client (NULL gives 0).
 */
MR_API uint32_t mr_api_retry_after(const mr_api *api);

/**
 * The base URL (without a trailing '/').
 *
 * @param api the client (NULL gives NULL).
 * @return a borrowed string valid while api lives.
 */
MR_API const char *mr_api_get_url(const mr_api *api);

/**
 * Wipe and free an answer body returned by mr_api_request().
 *
 * @param body the body, or NULL (then nothing happens).
 */
MR_API void mr_api_free_body(char *body);

MR_END_DECLS

#endif

/* SPDX-License-Identifier: MIT */
/*
 * libmicrohttpd glue: the daemon, limits, authentication, long polls, the
 * timer thread and graceful shutdown.
 *
 * Requests run in libmicrohttpd's polling thread with one store handle. A
 * long poll is a suspended connection; the write that changes its node's
 * generation resumes it in the same turn. A timer thread with a second
 * store handle ticks the store at the second a peer expires, ends long
 * polls at their deadline and catches changes made by other processes. The
 * main thread waits for SIGTERM/SIGINT and shuts down gracefully.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include <myrelay/error.h>
#include <myrelay/token.h>

/* Default GnuTLS priorities: TLS 1.3 and 1.2 only, AEAD ciphers only (no
 * CBC, no SHA-1 MACs, no RSA key exchange), ECDHE, server's order. */
#define DEFAULT_PRIORITIES                                                                         \
	"NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:+AEAD:"       \
	"+ECDHE-ECDSA:+ECDHE-RSA:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"                 \
	"+SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SECP384R1-SHA384:+SIGN-ECDSA-SHA256:"            \
	"+SIGN-ECDSA-SHA384:+SIGN-ECDSA-SHA512:+SIGN-RSA-PSS-RSAE-SHA256:"                         \
	"+SIGN-RSA-PSS-RSAE-SHA384:+SIGN-RSA-SHA256:+SIGN-RSA-SHA384:+COMP-NULL:"                  \
	"+CTYPE-X509:%SERVER_PRECEDENCE"

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* --- error codes to HTTP, in one place ----------------------------------- */

static const struct {
	int code;
	int status;
} status_table[] = {
    {MR_EINVAL, 400},	  {MR_EAUTH, 401},     {MR_EPERM, 403},	  {MR_ENOTFOUND, 404},
    {MR_EEXIST, 409},	  {MR_ECONFLICT, 409}, {MR_ETOOBIG, 413}, {MR_ERATELIMIT, 429},
    {MR_EEXHAUSTED, 503}, {MR_ETIMEOUT, 503},
};

int http_status_of(int code)
{
	for (size_t i = 0; i < sizeof(status_table) / sizeof(status_table[0]); i++)
		if (status_table[i].code == code)
			return status_table[i].status;
	return 500;
}

/* --- responses ----------------------------------------------------------- */

/* Queue a response; resp is released here whatever happens. */
static int queue(struct request *r, int status, struct MHD_Response *resp, const char *type,
		 const char *hname, const char *hvalue)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	/* Results may carry a token's secret: never cache them anywhere. */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (hname)
		MHD_add_response_header(resp, hname, hvalue);
	if (http_shutting_down(r->srv))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(r->conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES) {
		r->status = status;
		r->answered = true;
	}
	return ret;
}

int http_respond_text(struct request *r, int status, const char *type, const char *body, size_t len)
{
	return queue(r, status,
		     MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY),
		     type, NULL, NULL);
}

/* body (from malloc) is handed over: wiped and freed when sent, since
 * answers may hold a secret. */
static int respond_owned_h(struct request *r, int status, char *body, size_t len, const char *hname,
			   const char *hvalue)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer_with_free_callback(len, body, fe_secret_free);
	if (!resp)
		fe_secret_free(body);
	return queue(r, status, resp, "application/json", hname, hvalue);
}

int http_respond_owned(struct request *r, int status, char *body, size_t len)
{
	return respond_owned_h(r, status, body, len, NULL, NULL);
}

/* v's JSON text and a newline; -1 without memory. */
static int dump_line(json_t *v, char **out, size_t *len)
{
	char *text = json_dumps(v, JSON_COMPACT), *line;
	size_t n;

	if (!text)
		return -1;
	n = strlen(text);
	line = malloc(n + 2);
	if (line) {
		memcpy(line, text, n);
		memcpy(line + n, "\n", 2);
	}
	fe_secret_free(text);
	if (!line)
		return -1;
	*out = line;
	*len = n + 1;
	return 0;
}

int http_respond_json(struct request *r, int status, json_t *v)
{
	char *text;
	size_t len;
	int rc = v ? dump_line(v, &text, &len) : -1;

	json_decref(v);
	if (rc < 0)
		return MHD_NO;
	return respond_owned_h(r, status, text, len, NULL, NULL);
}

static int respond_error_h(struct request *r, int status, const char *error, const char *message,
			   const char *hname, const char *hvalue)
{
	json_t *v = json_pack("{s:s, s:s}", "error", error, "message", message);
	char *text;
	size_t len;
	int rc;

	/* A detail that is not UTF-8 cannot be JSON text: say only what
	 * kind of failure it was. */
	if (!v)
		v = json_pack("{s:s, s:s}", "error", error, "message", "invalid input");
	rc = v ? dump_line(v, &text, &len) : -1;
	json_decref(v);
	if (rc < 0)
		return MHD_NO;
	return respond_owned_h(r, status, text, len, hname, hvalue);
}

int http_respond_error(struct request *r, int status, const char *error, const char *message)
{
	return respond_error_h(r, status, error, message, NULL, NULL);
}

int http_respond_mr(struct request *r, int code)
{
	int status = http_status_of(code);
	const char *detail = mr_error_message();

	if (status >= 500) {
		/* Internal failures may name files or SQL: keep the detail in the
		 * log, give the client the code's text. */
		log_msg("%s %s: %s: %s", r->route ? r->route->method : "-",
			r->route ? r->route->pattern : "-", mr_strerror(code), detail);
		r->srv->metrics.store_errors++;
		detail = mr_strerror(code);
	} else if (!detail[0]) {
		detail = mr_strerror(code);
	}
	if (status == 503)
		return respond_error_h(r, status, mr_error_name(code), detail, "Retry-After", "1");
	if (status == 401)
		return respond_error_h(r, status, mr_error_name(code), detail,
				       MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				       "Bearer realm=\"myrelay\", error=\"invalid_token\"");
	return http_respond_error(r, status, mr_error_name(code), detail);
}

/* --- long polls and the timer thread ------------------------------------ */

bool http_shutting_down(struct server *srv)
{
	return __atomic_load_n(&srv->shutting_down, __ATOMIC_ACQUIRE);
}

/* Called in the access handler. The lock is held across the suspension so
 * that the timer thread cannot resume the connection before it is
 * suspended. */
void http_suspend(struct request *r, int64_t deadline_ms)
{
	struct server *srv = r->srv;

	pthread_mutex_lock(&srv->lock);
	r->suspended = true;
	r->resumed = false;
	r->deadline_ms = deadline_ms;
	r->wprev = NULL;
	r->wnext = srv->waiters;
	if (srv->waiters)
		srv->waiters->wprev = r;
	srv->waiters = r;
	srv->n_waiters++;
	MHD_suspend_connection(r->conn);
	pthread_cond_signal(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
}

/* With srv->lock held. */
static void wake(struct request *r)
{
	struct server *srv = r->srv;

	if (r->wprev)
		r->wprev->wnext = r->wnext;
	else
		srv->waiters = r->wnext;
	if (r->wnext)
		r->wnext->wprev = r->wprev;
	r->wprev = r->wnext = NULL;
	r->suspended = false;
	srv->n_waiters--;
	r->resumed = true;
	MHD_resume_connection(r->conn);
}

/* With srv->lock held: resume every long poll whose node's generation
 * moved (or whose node is gone), reading through store s. */
static void check_waiters(struct server *srv, mr_store *s)
{
	struct request *r, *next;

	for (r = srv->waiters; r; r = next) {
		int64_t gen = 0;
		int rc;

		next = r->wnext;
		rc = mr_store_node_generation(s, r->subject, &gen);
		if (rc < 0 || gen != r->after)
			wake(r);
	}
}

void http_after_write(struct server *srv)
{
	pthread_mutex_lock(&srv->lock);
	/* The HTTP thread's own store saw its write: wake the polls now, in
	 * the same turn, rather than at the timer's next round. */
	if (srv->waiters)
		check_waiters(srv, srv->store);
	srv->dirty = true;
	pthread_cond_signal(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
}

static int64_t next_tick_after(struct server *srv, int64_t now)
{
	int64_t next = 0, at = now + 60000;

	/* Even with nothing pending, tick once a minute: another process
	 * (a second server, the CLI) may have set an expiry. */
	if (mr_store_next_expiry(srv->timer_store, &next) < 0) {
		log_msg("store: next expiry: %s", mr_error_message());
		return now + 1000;
	}
	if (next > 0) {
		/* The store reads time() (the kernel's coarse clock, a few ms
		 * behind the precise one): tick just after the second turns. */
		int64_t due = next * 1000 + 5;

		/* Still due after a tick: the coarse clock had not turned yet;
		 * look again shortly, and once a second if the store keeps
		 * failing, never in a busy loop. */
		if (due <= now)
			due = now - due < 2000 ? now + 20 : (now / 1000 + 1) * 1000;
		if (due < at)
			at = due;
	}
	return at;
}

/* The timer thread: ticks the store when a peer expires (so long polls
 * wake at that moment), ends long polls at their deadline, and compares
 * generations once a second, which also catches writes made by other
 * processes. */
static void *timer_main(void *arg)
{
	struct server *srv = arg;
	int64_t next_tick = 0, next_recheck = 0, next_backup = 0;

	if (srv->cfg->backup_interval) {
		/* Due an interval after the newest backup there is, so that a
		 * server restarted more often than that still makes them. */
		int64_t interval = (int64_t)srv->cfg->backup_interval * 1000, now = now_ms();
		int64_t newest = backup_newest(srv->cfg->backup_dir) * 1000;

		next_backup = newest ? newest + interval : now;
		if (next_backup > now + interval)
			next_backup = now + interval; /* the clock went back */
	}
	pthread_mutex_lock(&srv->lock);
	srv->dirty = true;
	while (!srv->stop_timer) {
		int64_t now = now_ms(), wait_until;
		bool dirty = srv->dirty, ticked = false;
		struct request *r, *next;
		struct timespec ts;

		srv->dirty = false;
		if (dirty || (next_tick && now >= next_tick)) {
			pthread_mutex_unlock(&srv->lock);
			if (next_tick && now >= next_tick) {
				if (mr_store_tick(srv->timer_store) < 0)
					log_msg("store: tick: %s", mr_error_message());
				ticked = true;
			}
			next_tick = next_tick_after(srv, now);
			pthread_mutex_lock(&srv->lock);
			if (ticked)
				srv->ticks++;
		}
		if (next_backup && now >= next_backup) {
			/* Long polls wait a little longer meanwhile; writes
			 * still wake them from the HTTP thread. */
			pthread_mutex_unlock(&srv->lock);
			next_backup = backup_scheduled(srv);
			pthread_mutex_lock(&srv->lock);
		}
		if (srv->waiters && (ticked || now >= next_recheck)) {
			check_waiters(srv, srv->timer_store);
			next_recheck = now + 1000;
		}
		for (r = srv->waiters; r; r = next) {
			next = r->wnext;
			if (now >= r->deadline_ms ||
			    __atomic_load_n(&srv->shutting_down, __ATOMIC_ACQUIRE))
				wake(r);
		}
		wait_until = next_tick;
		if (next_backup && next_backup < wait_until)
			wait_until = next_backup;
		if (srv->waiters && next_recheck < wait_until)
			wait_until = next_recheck;
		for (r = srv->waiters; r; r = r->wnext)
			if (r->deadline_ms < wait_until)
				wait_until = r->deadline_ms;
		if (srv->dirty || srv->stop_timer)
			continue;
		/* Sleep on the monotonic clock for the time left. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		{
			int64_t left = wait_until - now_ms();

			if (left < 0)
				left = 0;
			ts.tv_sec += left / 1000;
			ts.tv_nsec += (left % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
		}
		pthread_cond_timedwait(&srv->cond, &srv->lock, &ts);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

static int start_timer(struct server *srv)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_mutex_init(&srv->lock, NULL) != 0)
		return -1;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&srv->cond, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return -1;
	if (pthread_create(&srv->timer, NULL, timer_main, srv) != 0)
		return -1;
	srv->timer_running = true;
	return 0;
}

static void stop_timer(struct server *srv)
{
	if (!srv->timer_running)
		return;
	pthread_mutex_lock(&srv->lock);
	srv->stop_timer = true;
	pthread_cond_signal(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
	pthread_join(srv->timer, NULL);
	srv->timer_running = false;
}

/* --- requests ------------------------------------------------------------ */

static const struct sockaddr *client_addr(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return ci ? ci->client_addr : NULL;
}

static int authenticate(struct request *r)
{
	struct server *srv = r->srv;
	const struct route *rt = r->route;
	const char *h, *tok;
	json_t *v;
	char *out = NULL;
	const char *kind, *id, *subject;
	int rc;

	h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h)
		return respond_error_h(r, 401, mr_error_name(MR_EAUTH),
				       "missing \"Authorization: Bearer <token>\" header",
				       MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				       "Bearer realm=\"myrelay\"");
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return respond_error_h(r, 401, mr_error_name(MR_EAUTH),
				       "the Authorization header must be \"Bearer <token>\"",
				       MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				       "Bearer realm=\"myrelay\"");
	tok = h + 7;
	while (*tok == ' ')
		tok++;
	rc = mr_store_token_verify(srv->store, tok, &out);
	if (rc < 0)
		return http_respond_mr(r, rc);
	v = json_loads(out, 0, NULL);
	mr_free(out);
	kind = json_string_value(json_object_get(v, "kind"));
	id = json_string_value(json_object_get(v, "token_id"));
	subject = json_string_value(json_object_get(v, "subject"));
	if (!kind || !id || strlen(id) >= sizeof(r->token_id)) {
		json_decref(v);
		log_msg("token verify: unexpected result");
		return http_respond_error(r, 500, mr_error_name(MR_EINVAL), "internal error");
	}
	r->kind = mr_token_kind_from_name(kind);
	snprintf(r->token_id, sizeof(r->token_id), "%s", id);
	if (subject && !(r->subject = strdup(subject))) {
		json_decref(v);
		return MHD_NO;
	}
	json_decref(v);

	if (!mr_token_kind_allows(r->kind, rt->scope)) {
		char msg[128];

		snprintf(msg, sizeof(msg), "%s tokens may not use %s %s",
			 mr_token_kind_name(r->kind) ? mr_token_kind_name(r->kind) : "these",
			 rt->method, rt->pattern);
		return http_respond_error(r, 403, mr_error_name(MR_EPERM), msg);
	}
	if ((rt->flags & R_POD_SELF) && (r->kind != MR_TOKEN_POD || !r->subject))
		return http_respond_error(r, 403, mr_error_name(MR_EPERM),
					  "this route is for pod tokens; administrators use "
					  "/v1/pods/{id}");
	if ((rt->flags & R_NODE_SELF) && (r->kind != MR_TOKEN_NODE || !r->subject))
		return http_respond_error(r, 403, mr_error_name(MR_EPERM),
					  "this route is for node tokens");
	/* A pod token names only its own pod; any other id, existing or not,
	 * looks missing, so a pod token cannot even probe for other pods. */
	if (rt->pod_param && r->kind == MR_TOKEN_POD) {
		for (size_t i = 0; i < r->n_params; i++) {
			if (strcmp(r->param_name[i], rt->pod_param) == 0 &&
			    (!r->subject || strcmp(r->param_value[i], r->subject) != 0)) {
				char msg[64];

				snprintf(msg, sizeof(msg), "%s: no such pod", rt->pod_param);
				return http_respond_error(r, 404, mr_error_name(MR_ENOTFOUND), msg);
			}
		}
	}
	return MHD_YES;
}

/* First call for a request (headers complete, no body yet): everything that
 * can refuse it is checked here, before a byte of the body is read. */
static enum MHD_Result begin_request(struct request *r, const char *url, const char *method)
{
	struct server *srv = r->srv;
	const char *cl;
	char allow[64];
	unsigned wait;
	int idx;

	wait = ratelimit_take(srv->rl, client_addr(r->conn), now_ms());
	if (wait) {
		char secs[16], msg[96];

		srv->metrics.rate_limited++;
		snprintf(secs, sizeof(secs), "%u", wait);
		snprintf(msg, sizeof(msg), "too many requests from this address; retry in %u s",
			 wait);
		return (enum MHD_Result)respond_error_h(r, 429, mr_error_name(MR_ERATELIMIT), msg,
							MHD_HTTP_HEADER_RETRY_AFTER, secs);
	}

	idx = routes_match(r, method, url, allow, sizeof(allow));
	if (idx == -1)
		return (enum MHD_Result)http_respond_error(r, 404, mr_error_name(MR_ENOTFOUND),
							   "no such route");
	if (idx == -2) {
		char msg[160];

		snprintf(msg, sizeof(msg), "method %s not allowed here (allowed: %s)", method,
			 allow);
		/* The library's stable name (the API client maps 405 to
		 * MR_ENOTSUP too): clients act on these names. */
		return (enum MHD_Result)respond_error_h(r, 405, mr_error_name(MR_ENOTSUP), msg,
							MHD_HTTP_HEADER_ALLOW, allow);
	}
	r->route = &server_routes[idx];
	r->route_index = idx;

	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno || *end || end == cl || n > SERVER_MAX_BODY) {
			srv->metrics.body_too_large++;
			return (enum MHD_Result)http_respond_error(
			    r, 413, mr_error_name(MR_ETOOBIG), "request body larger than 1 MiB");
		}
	}
	if (r->route->scope && !((r->route->flags & R_METRICS) && srv->cfg->metrics_public))
		return (enum MHD_Result)authenticate(r);
	return MHD_YES;
}

/* Keep a chunk of the body (at most SERVER_MAX_BODY in all, checked by the
 * caller). Grown by copying so that no freed block keeps a secret. */
static int body_append(struct request *r, const char *data, size_t n)
{
	if (r->body_len + n + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 4096;
		char *p;

		while (cap < r->body_len + n + 1)
			cap *= 2;
		if (cap > SERVER_MAX_BODY + 1)
			cap = SERVER_MAX_BODY + 1;
		p = malloc(cap);
		if (!p)
			return -1;
		if (r->body_len)
			memcpy(p, r->body, r->body_len);
		fe_secret_free(r->body);
		r->body = p;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return 0;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct request *r = *con_cls;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->srv = srv;
		r->conn = conn;
		r->route_index = -1;
		r->start_us = mono_us();
		*con_cls = r;
		__atomic_add_fetch(&srv->inflight, 1, __ATOMIC_RELEASE);
		return begin_request(r, url, method);
	}
	if (r->answered) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->resumed)
		return (enum MHD_Result)routes_longpoll_finish(r);
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (r->too_big || r->body_len + n > SERVER_MAX_BODY) {
			/* A chunked upload past the limit (a declared length
			 * was refused at the first call). libmicrohttpd cannot
			 * answer before the body ends, so keep nothing more,
			 * skip up to another MiB to answer 413 when it ends,
			 * and beyond that drop the connection. */
			if (!r->too_big) {
				r->too_big = true;
				srv->metrics.body_too_large++;
				r->discarded = r->body_len;
				fe_secret_free(r->body);
				r->body = NULL;
				r->body_len = r->body_cap = 0;
			}
			r->discarded += n;
			return r->discarded > 2 * SERVER_MAX_BODY ? MHD_NO : MHD_YES;
		}
		return body_append(r, upload_data, n) < 0 ? MHD_NO : MHD_YES;
	}
	if (r->too_big)
		return (enum MHD_Result)http_respond_error(r, 413, mr_error_name(MR_ETOOBIG),
							   "request body larger than 1 MiB");
	return (enum MHD_Result)routes_dispatch(r);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct request *r = *con_cls;

	if (!r)
		return;
	/* Never in the waiters list here: a suspended connection only ends
	 * after a resume, which takes it out. */
	if (r->answered)
		metrics_record(&srv->metrics, r->route_index, r->status, mono_us() - r->start_us,
			       r->counted_longpoll);
	__atomic_sub_fetch(&srv->inflight, 1, __ATOMIC_RELEASE);
	/* Bodies may hold preshared keys or token secrets. */
	fe_secret_free(r->body);
	free(r->url);
	free(r->subject);
	free(r);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct server *srv = cls;
	char msg[512];
	size_t n;

	if (srv->cfg->quiet)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_msg("http: %s", msg);
}

/* --- startup, signals and shutdown --------------------------------------- */

static int parse_listen(const char *text, struct sockaddr_storage *ss, bool *v6, bool *any6)
{
	char host[128];
	const char *colon, *port_text;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	*v6 = *any6 = false;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof(host))
			return -1;
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port_text = close + 2;
		*v6 = true;
	} else {
		colon = strrchr(text, ':');
		if (!colon || (size_t)(colon - text) >= sizeof(host))
			return -1;
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		port_text = colon + 1;
		if (!host[0])
			strcpy(host, "0.0.0.0");
	}
	errno = 0;
	port = strtoul(port_text, &end, 10);
	if (errno || !*port_text || *end || port > 65535)
		return -1;
	if (*v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		*any6 = IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
	}
	return 0;
}

/* Block the stop signals in every thread (threads started later inherit
 * the mask); the main thread takes them with sigwait(). */
static int block_signals(sigset_t *set)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	return pthread_sigmask(SIG_BLOCK, set, NULL) == 0 ? 0 : -1;
}

/* Stop accepting, let what is in flight finish (long polls are answered at
 * once), then stop. */
static void shut_down(struct server *srv)
{
	unsigned left;
	int64_t deadline;
	MHD_socket fd;

	left = __atomic_load_n(&srv->inflight, __ATOMIC_ACQUIRE);
	log_msg("shutting down: no new connections; finishing %u request(s)", left);
	fd = MHD_quiesce_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	pthread_mutex_lock(&srv->lock);
	__atomic_store_n(&srv->shutting_down, true, __ATOMIC_RELEASE);
	while (srv->waiters)
		wake(srv->waiters);
	pthread_cond_signal(&srv->cond);
	pthread_mutex_unlock(&srv->lock);
	deadline = now_ms() + (int64_t)srv->cfg->shutdown_timeout * 1000;
	while ((left = __atomic_load_n(&srv->inflight, __ATOMIC_ACQUIRE)) && now_ms() < deadline) {
		struct timespec ts = {0, 10 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	if (left)
		log_msg("shutdown: %u request(s) still open after %u s, closing them", left,
			srv->cfg->shutdown_timeout);
}

int server_run(struct server *srv)
{
	struct server_config *cfg = srv->cfg;
	struct sockaddr_storage ss;
	char *cert = NULL, *key = NULL;
	const union MHD_DaemonInfo *info;
	sigset_t set;
	unsigned flags;
	bool v6, any6;
	int sig, rc = 1;

	if (parse_listen(cfg->listen, &ss, &v6, &any6) < 0) {
		log_msg("--listen %s: expected ADDRESS:PORT with a numeric address "
			"(e.g. 0.0.0.0:8443 or [::]:8443)",
			cfg->listen);
		return 2;
	}
	if (!cfg->insecure) {
		long days;

		cert = fe_read_file(cfg->cert, 1 << 20, NULL);
		key = fe_read_file(cfg->key, 1 << 20, NULL);
		if (!cert || !key) {
			log_msg("cannot read the TLS %s %s: %s", cert ? "key" : "certificate",
				cert ? cfg->key : cfg->cert, strerror(errno));
			log_msg("refusing to serve without TLS; run `myrelay-server init`, give "
				"--cert/--key, or (never in production) --insecure");
			goto out;
		}
		days = pki_days_left(cfg->cert);
		if (days < 0 && days > -1000000)
			log_msg("WARNING: the server certificate %s has EXPIRED; clients will "
				"refuse it (reissue with `myrelay-server cert`)",
				cfg->cert);
		else if (days >= 0 && days < 30)
			log_msg("WARNING: the server certificate expires in %ld day(s)", days);
	} else {
		for (int i = 0; i < 3; i++)
			log_msg("WARNING: --insecure: serving PLAIN HTTP without TLS. Tokens and "
				"keys cross the network in clear. Never use this in production.");
	}
	if (block_signals(&set) < 0) {
		log_msg("signals: %s", strerror(errno));
		goto out;
	}
	if (start_timer(srv) < 0) {
		log_msg("cannot start the timer thread");
		goto out;
	}

	/* poll(), not epoll: libmicrohttpd 0.9.75's epoll mode spins on a
	 * TLS handshake a client leaves half done (one stalled client would
	 * cost a whole core until the connection timeout). */
	flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= any6 ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
	if (!cfg->insecure)
		flags |= MHD_USE_TLS;
	srv->tls = !cfg->insecure;
	{
		struct MHD_OptionItem tls_opts[] = {
		    {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
		    {MHD_OPTION_HTTPS_MEM_CERT, 0, cert},
		    {MHD_OPTION_HTTPS_PRIORITIES, 0,
		     (void *)(cfg->tls_priorities ? cfg->tls_priorities : DEFAULT_PRIORITIES)},
		    {MHD_OPTION_END, 0, NULL},
		};
		struct MHD_OptionItem no_opts[] = {{MHD_OPTION_END, 0, NULL}};

		srv->daemon = MHD_start_daemon(
		    flags, 0, NULL, NULL, access_cb, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
		    MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_connections_per_ip,
		    MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout,
		    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv, MHD_OPTION_LISTEN_BACKLOG_SIZE,
		    (unsigned)128, MHD_OPTION_ARRAY, cfg->insecure ? no_opts : tls_opts,
		    MHD_OPTION_END);
	}
	fe_secret_free(key);
	key = NULL;
	if (!srv->daemon) {
		log_msg("cannot start the HTTP%s server on %s (address in use? bad "
			"certificate, key or TLS priorities?)",
			cfg->insecure ? "" : "S", cfg->listen);
		goto out;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	{
		char host[INET6_ADDRSTRLEN] = "?";

		if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host,
				  sizeof(host));
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host,
				  sizeof(host));
		log_msg("listening on %s://%s%s%s:%u", cfg->insecure ? "http" : "https",
			v6 ? "[" : "", host, v6 ? "]" : "", info ? info->port : 0);
	}
	while (sigwait(&set, &sig) != 0)
		;
	shut_down(srv);
	rc = 0;
	stop_timer(srv);
	/* No connection is suspended any more: the timer thread is gone and
	 * shut_down() resumed every long poll. */
	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	log_msg("stopped");
out:
	stop_timer(srv);
	fe_secret_free(key);
	free(cert);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * myrelay-server: the HTTPS API in front of the store. Requests run in
 * libmicrohttpd's polling thread (one store handle); long polls are
 * suspended connections, not threads; a timer thread (its own store handle)
 * ticks the store, ends long polls (http.c) and makes scheduled backups
 * (backup.c).
 */
#ifndef MYRELAY_SERVER_H
#define MYRELAY_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <sys/socket.h>

#include <jansson.h>

#include <myrelay/store.h>

#include "../common/secret.h"

#define SERVER_MAX_BODY (1024 * 1024)
#define SERVER_DEFAULT_PORT 8443

/* Files of a data directory. */
#define FILE_DB "store.db"
#define FILE_CA_CERT "ca.crt"
#define FILE_CA_KEY "ca.key"
#define FILE_CERT "server.crt"
#define FILE_KEY "server.key"
#define FILE_BACKUP_KEY "backup.key"
#define FILE_LOCK "server.lock"
#define DIR_BACKUPS "backups"

struct server_config {
	char *data_dir;
	char *config;
	char *listen;
	char *db;
	char *cert;
	char *key;
	char *tls_priorities;
	bool insecure;
	double rate;
	unsigned burst;
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned connection_timeout;
	unsigned poll_timeout;
	unsigned shutdown_timeout;
	bool metrics_public;
	bool quiet;
	/* backups (run: scheduled; backup and restore: by hand) */
	char *backup_dir;
	char *backup_key;
	unsigned backup_interval; /* seconds; 0: no scheduled backups */
	unsigned backup_keep;
	char *out;
	char *from;
	bool force;
	/* init and cert */
	char **names;
	size_t n_names;
	unsigned ca_days;
	unsigned cert_days;
};

struct route;
struct request;
struct ratelimit;

/* Status codes we count per route in /metrics; anything else is "other". */
#define METRICS_NSTATUS 16
#define METRICS_NBUCKETS 12

struct metrics {
	uint64_t *requests; /* [(n_routes + 1) * METRICS_NSTATUS], last row: no route */
	uint64_t buckets[METRICS_NBUCKETS];
	uint64_t latency_count;
	double latency_sum;
	uint64_t rate_limited;
	uint64_t body_too_large;
	uint64_t longpoll_changed;
	uint64_t longpoll_timeouts;
	uint64_t store_errors;
};

struct server {
	struct server_config *cfg;
	/* The store of the HTTP thread (every request). */
	mr_store *store;
	/* The store of the timer thread (ticks, long-poll checks). */
	mr_store *timer_store;
	struct MHD_Daemon *daemon;
	struct ratelimit *rl;
	struct metrics metrics;
	/* Shared by the HTTP and timer threads, under lock: the suspended long
	 * polls (a doubly linked list) and the timer's work. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t timer;
	bool timer_running;
	struct request *waiters;
	unsigned n_waiters;
	bool dirty; /* a write happened: recompute the next tick */
	bool stop_timer;
	uint64_t ticks;
	/* Scheduled backups (timer thread). */
	uint64_t backups_ok;
	uint64_t backups_failed;
	int64_t backup_last_ok; /* unix time of the last success, 0: none yet */
	/* Read from other threads: atomics. */
	bool shutting_down;
	unsigned inflight;
	int64_t started;
	bool tls;
};

/* A request being served (MHD's per-request closure). */
struct request {
	struct server *srv;
	struct MHD_Connection *conn;
	const struct route *route;
	int route_index;
	/* Path parameters: values point into url (a private copy). */
	char *url;
	char param_name[2][16];
	char *param_value[2];
	size_t n_params;
	char *body; /* NUL-terminated; wiped when freed */
	size_t body_len;
	size_t body_cap;
	bool too_big;
	size_t discarded;
	bool answered;
	int status;
	int64_t start_us;
	/* The presented token, once verified. */
	int kind;
	char token_id[24];
	char *subject;
	/* Long poll. */
	bool suspended;
	bool resumed;
	bool counted_longpoll;
	int64_t after;
	int64_t deadline_ms;
	struct request *wprev, *wnext;
};

/* routes.c */
typedef int (*route_fn)(struct request *r);
typedef int (*store_op)(mr_store *s, const char *request, char **out);

enum qtype { Q_STR, Q_INT, Q_BOOL };
struct qparam {
	const char *name;
	enum qtype type;
};

/* Route flags */
#define R_WRITE 0x1u	 /* may change a node's desired state or the expiry clock */
#define R_CREATED 0x2u	 /* answers 201 */
#define R_POD_SELF 0x4u	 /* pod tokens only: the token's pod is injected */
#define R_NODE_SELF 0x8u /* node tokens only: the token's node is injected */
#define R_LONGPOLL 0x10u
#define R_METRICS 0x20u /* no token needed with --metrics-public */

struct route {
	const char *method;
	const char *pattern;
	uint32_t scope; /* MR_TOKEN_SCOPE_* bits; 0: no token needed */
	unsigned flags;
	/* Member the token's subject is injected as (R_POD_SELF/R_NODE_SELF). */
	const char *self_member;
	/* Path parameter naming a pod: a pod token may only name its own. */
	const char *pod_param;
	store_op op;	 /* generic: request built from path, query and body */
	route_fn custom; /* or a handler of its own */
	const struct qparam *query;
	const char *summary;
};

extern const struct route server_routes[];
extern const size_t server_n_routes;

/* Match method and path: the route's index, -1 (no such path), or -2 (path
 * known, method not: *allow lists the methods). */
int routes_match(struct request *r, const char *method, const char *url, char *allow,
		 size_t allow_size);
/* Serve a matched, authorised request whose body is complete. */
int routes_dispatch(struct request *r);
void routes_print(void);
/* Answer a resumed long poll. */
int routes_longpoll_finish(struct request *r);

/* http.c */
int server_run(struct server *srv);
/* body (from malloc) is handed over: wiped and freed once sent. */
int http_respond_owned(struct request *r, int status, char *body, size_t len);
/* Answer v as JSON (the reference is taken; NULL: no memory). */
int http_respond_json(struct request *r, int status, json_t *v);
int http_respond_error(struct request *r, int status, const char *error, const char *message);
int http_respond_text(struct request *r, int status, const char *type, const char *body,
		      size_t len);
/* Answer a library failure (code from an mr_* call, detail from mr_error_message()). */
int http_respond_mr(struct request *r, int code);
int http_status_of(int code);
void http_suspend(struct request *r, int64_t deadline_ms);
/* After a successful write: wake the long polls it concerns, and let the
 * timer look at expiries again. */
void http_after_write(struct server *srv);
bool http_shutting_down(struct server *srv);
int64_t now_ms(void);
int64_t mono_us(void);

/* ratelimit.c */
struct ratelimit *ratelimit_new(double rate, unsigned burst);
void ratelimit_free(struct ratelimit *rl);
/* 0 when the request may pass, otherwise the seconds to wait (>= 1). */
unsigned ratelimit_take(struct ratelimit *rl, const struct sockaddr *sa, int64_t now_ms);
size_t ratelimit_size(const struct ratelimit *rl);

/* metrics.c */
int metrics_init(struct metrics *m);
void metrics_free(struct metrics *m);
void metrics_record(struct metrics *m, int route_index, int status, int64_t elapsed_us,
		    bool longpoll);
int metrics_render(struct server *srv, FILE *out);

/* pki.c */
int pki_init(const char *dir, char *const *names, size_t n_names, unsigned ca_days,
	     unsigned cert_days);
int pki_reissue(const char *dir, char *const *names, size_t n_names, unsigned cert_days);
/* Days until the certificate in the file expires (negative: expired); -1000000 on error. */
long pki_days_left(const char *cert_path);
int write_secret_file(const char *path, const void *data, size_t len, int mode);

/* backup.c */
/* Write one backup of store s into dir (created 0700 if missing), named
 * myrelay-YYYYmmdd-HHMMSS.bak (UTC); the path made in *out (caller frees).
 * 0, or -1 after logging why. */
int backup_into_dir(mr_store *s, const char *dir, const char *key_path, char **out);
/* Delete all but the newest keep backups (myrelay-*.bak) in dir; returns
 * how many were deleted, or -1 after logging why. */
int backup_prune(const char *dir, unsigned keep);
/* Unix time of the newest backup in dir, 0 when there is none. */
int64_t backup_newest(const char *dir);
/* A scheduled backup (timer thread, srv->lock not held): written, pruned,
 * counted for /metrics; returns when the next one is due (now_ms() time). */
int64_t backup_scheduled(struct server *srv);

/* main.c */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *path_join(const char *dir, const char *name);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Shared between the store's source files (store*.c): the handle, the
 * transaction and statement helpers, request parsing and result building.
 * Nothing here is exported.
 */
#ifndef MYRELAY_STORE_INTERNAL_H
#define MYRELAY_STORE_INTERNAL_H

#include "internal.h"

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <sqlite3.h>

#include <myrelay/store.h>
#include <myrelay/token.h>

/* Length of an object id: a 3-character prefix ("nd_") and 12 base32
 * characters (60 random bits). */
#define STORE_ID_LEN 15
#define STORE_ID_SIZE (STORE_ID_LEN + 1)

/* Requests larger than this are refused before they are parsed; the largest
 * legitimate request (a peer with a key, a preshared key and a name) is a
 * few hundred bytes. */
#define STORE_REQUEST_MAX (64 * 1024)

/* "last used" of a token is rewritten at most this often (seconds), so that
 * verifying a token is a pure read on almost every request. */
#define STORE_LAST_USED_SLACK 60

struct store_stmt_slot {
	const char *sql; /* identity: the address of a string literal */
	sqlite3_stmt *stmt;
};

#define STORE_STMT_SLOTS 256

struct mr_store {
	sqlite3 *db;
	char *path;
	int64_t (*now)(void *userdata);
	void *now_userdata;
	char actor[64];
	bool in_tx;
	/* Prepared statements, keyed by the address of their SQL text, found by
	 * open addressing on that address. */
	struct store_stmt_slot stmts[STORE_STMT_SLOTS];
};

/* Types of request members. */
#define RT_STRING 1
#define RT_INT 2
#define RT_BOOL 3
#define RT_ARRAY 4 /* [min, max] is the number of elements; elements checked by the caller */

/* Flags of request members. */
#define RF_REQUIRED 0x1u
#define RF_NULLABLE 0x2u /* JSON null accepted (means "clear" or "none") */
#define RF_SECRET 0x4u	 /* wiped from the parsed request before it is freed */

/* One member a request may have. Integers are checked against [min, max];
 * strings against a length of [min, max] bytes (max 0 means 255) and then
 * by check(), whose MR_EINVAL detail is rewritten to name the member. */
struct store_field {
	const char *name;
	int type;
	unsigned flags;
	int64_t min, max;
	int (*check)(const char *value);
};

#define F_STR(name, flags, check)                                                                  \
	{                                                                                          \
		name, RT_STRING, flags, 1, 0, check                                                \
	}
#define F_INT(name, flags, min, max)                                                               \
	{                                                                                          \
		name, RT_INT, flags, min, max, NULL                                                \
	}
#define F_BOOL(name, flags)                                                                        \
	{                                                                                          \
		name, RT_BOOL, flags, 0, 0, NULL                                                   \
	}
#define F_ARRAY(name, flags, max)                                                                  \
	{                                                                                          \
		name, RT_ARRAY, flags, 0, max, NULL                                                \
	}

/* --- store.c --- */

/* The handle's connection, for white-box tests. */
MR_HIDDEN sqlite3 *mr__store_db(mr_store *s);

/* Current time from the injected clock (unix seconds). */
MR_HIDDEN int64_t mr__store_now(mr_store *s);

/* Map a SQLite result code to an MR_E* code and record a detail. */
MR_HIDDEN int mr__store_db_error(mr_store *s, int rc, const char *context);

/* A cached prepared statement for sql (a string literal: its address is the
 * key), reset and with bindings cleared. */
MR_HIDDEN int mr__store_prepare(mr_store *s, const char *sql, sqlite3_stmt **out);

/* Step a statement that returns no rows (or whose rows are ignored) and
 * reset it. */
MR_HIDDEN int mr__store_exec_stmt(mr_store *s, sqlite3_stmt *st, const char *context);

/* Step one row: 1 when a row is available, 0 at the end, or an MR_E* code. */
MR_HIDDEN int mr__store_step(mr_store *s, sqlite3_stmt *st, const char *context);

/* BEGIN IMMEDIATE (write) or BEGIN (read); waits for other writers. */
MR_HIDDEN int mr__store_begin(mr_store *s, bool write);
/* COMMIT; on failure the transaction is rolled back. */
MR_HIDDEN int mr__store_commit(mr_store *s);
/* ROLLBACK if a transaction is open; keeps the thread's error detail. */
MR_HIDDEN void mr__store_rollback(mr_store *s);

/* A new random id: prefix (3 characters) and 12 base32 characters. */
MR_HIDDEN int mr__store_new_id(char out[STORE_ID_SIZE], const char *prefix);

/* Whether text is an id with this prefix (format only). */
MR_HIDDEN bool mr__store_is_id(const char *text, const char *prefix);

/* Record an audit event; takes ownership of detail (may be NULL). */
MR_HIDDEN int mr__store_audit(mr_store *s, const char *action, const char *subject, json_t *detail);

/* Raise the generation of a node's desired state. */
MR_HIDDEN int mr__store_bump(mr_store *s, const char *node_id);

/* Helpers for binding text and optional integers. */
MR_HIDDEN int mr__store_bind_text(sqlite3_stmt *st, int idx, const char *text);
MR_HIDDEN int mr__store_bind_opt_int(sqlite3_stmt *st, int idx, bool present, int64_t v);

/* Column helpers for building results. */
MR_HIDDEN json_t *mr__store_col_str(sqlite3_stmt *st, int col);	     /* null for NULL */
MR_HIDDEN json_t *mr__store_col_int(sqlite3_stmt *st, int col);	     /* null for NULL */
MR_HIDDEN const char *mr__store_col_text(sqlite3_stmt *st, int col); /* "" for NULL */

/* --- store-json.c --- */

/* Parse and validate a request against a table of members: unknown members,
 * wrong types, missing required members and invalid values are refused with
 * MR_EINVAL and a detail naming the member. */
MR_HIDDEN int mr__store_parse(const char *text, const struct store_field *fields, size_t n,
			      json_t **out);

/* The same with another size limit (reports are larger than requests). */
MR_HIDDEN int mr__store_parse_max(const char *text, size_t max, const struct store_field *fields,
				  size_t n, json_t **out);

/* Validate one object (a request, or an element of one of its arrays);
 * path ("pods[2].") is put in front of member names in details. */
MR_HIDDEN int mr__store_validate(json_t *obj, const struct store_field *fields, size_t n,
				 const char *path);

/* Free a parsed request, wiping the values of RF_SECRET members. */
MR_HIDDEN void mr__store_req_free(json_t *req, const struct store_field *fields, size_t n);

/* Accessors for a validated request. */
MR_HIDDEN const char *mr__store_req_str(json_t *req, const char *name); /* NULL if absent/null */
MR_HIDDEN bool mr__store_req_has(json_t *req, const char *name);	/* present, even null */
MR_HIDDEN bool mr__store_req_is_null(json_t *req, const char *name);
MR_HIDDEN int64_t mr__store_req_int(json_t *req, const char *name, int64_t dflt);
MR_HIDDEN bool mr__store_req_bool(json_t *req, const char *name, bool dflt);

/* Serialise a result (compact) into a malloc'd string for the caller; frees
 * result in every case. With secret_name set, appends the member
 * "secret_name": "secret" (secret must need no JSON escaping) without
 * handing the secret to jansson. */
MR_HIDDEN int mr__store_result(json_t *result, const char *secret_name, const char *secret,
			       char **out);

/* Build a JSON value, recording MR_ENOMEM on failure: json_object_set_new
 * that reports allocation failure. */
MR_HIDDEN int mr__store_set(json_t *obj, const char *key, json_t *value);

/* Value checks usable in struct store_field. */
MR_HIDDEN int mr__store_check_label(const char *v);
MR_HIDDEN int mr__store_check_host(const char *v);
MR_HIDDEN int mr__store_check_public_key(const char *v);
MR_HIDDEN int mr__store_check_preshared_key(const char *v);
MR_HIDDEN int mr__store_check_text(const char *v);
MR_HIDDEN int mr__store_check_node_id(const char *v);
MR_HIDDEN int mr__store_check_customer_id(const char *v);
MR_HIDDEN int mr__store_check_pod_id(const char *v);
MR_HIDDEN int mr__store_check_peer_id(const char *v);
MR_HIDDEN int mr__store_check_token_id(const char *v);

/* --- store-token.c --- */

/* Issue a token inside the caller's transaction: secret and id receive the
 * token's text (wipe it) and id. */
MR_HIDDEN int mr__store_token_create(mr_store *s, int kind, const char *subject, const char *label,
				     bool has_expires, int64_t expires, char secret[MR_TOKEN_SIZE],
				     char id[MR_TOKEN_ID_SIZE]);

/* The token object (no secret, no hash) of a token id. */
MR_HIDDEN int mr__store_token_object(mr_store *s, const char *id, json_t **out);

/* Revoke every live token whose subject is this node or pod. */
MR_HIDDEN int mr__store_token_revoke_subject(mr_store *s, const char *subject);

/* --- store-report.c --- */

/* "YYYY-MM" of a unix time (UTC), and a month index (year * 12 + month). */
#define STORE_MONTH_SIZE 24
MR_HIDDEN void mr__store_month(int64_t t, char out[STORE_MONTH_SIZE], int64_t *index);

/* The first second of the month after t (UTC). */
MR_HIDDEN int64_t mr__store_next_month(int64_t t);

/* Hold back (disable with reason "quota") or give back a customer's peers
 * according to this month's use and the plan. _check does it only when
 * something would change. */
MR_HIDDEN int mr__store_quota_update(mr_store *s, const char *customer);
MR_HIDDEN int mr__store_quota_check(mr_store *s, const char *customer);

/* *pending: the month changed since the quota clock last looked. With
 * apply, gives quota-held peers back for the new month and records it. */
MR_HIDDEN int mr__store_quota_month_turn(mr_store *s, bool apply, bool *pending);

/* --- store-pod.c --- */

/* The pod object of a pod id (MR_ENOTFOUND if none). */
MR_HIDDEN int mr__store_pod_object(mr_store *s, const char *id, json_t **out);

/* Delete every pod of a customer and/or a node (NULL: any), with their peers,
 * revoking their tokens and raising their nodes' generations; cause is the
 * action recorded with each pod's audit event. */
MR_HIDDEN int mr__store_delete_pods(mr_store *s, const char *customer_id, const char *node_id,
				    const char *cause, int64_t *count);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Tokens in the store: issue, list, revoke, expire, verify.
 *
 * Only the token's id (public, used to find the row) and the SHA-256 of its
 * secret are stored. The secret leaves the library once, in the result of
 * the operation that made it, and is wiped from our memory right after.
 */
#include "store-internal.h"

#include <stdlib.h>
#include <string.h>

#include <myrelay/token.h>

#define TOKEN_COLS "id, kind, subject, label, created, expires, revoked, last_used"

static json_t *token_json(sqlite3_stmt *st)
{
	return json_pack("{s:s, s:s, s:o, s:s, s:I, s:o, s:o, s:o}", "id",
			 mr__store_col_text(st, 0), "kind", mr__store_col_text(st, 1), "subject",
			 mr__store_col_str(st, 2), "label", mr__store_col_text(st, 3), "created",
			 (json_int_t)sqlite3_column_int64(st, 4), "expires",
			 mr__store_col_int(st, 5), "revoked", mr__store_col_int(st, 6), "last_used",
			 mr__store_col_int(st, 7));
}

int mr__store_token_object(mr_store *s, const char *id, json_t **out)
{
	static const char sql[] = "SELECT " TOKEN_COLS " FROM tokens WHERE id = ?1";
	sqlite3_stmt *st;
	json_t *obj;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0)
		return rc;
	rc = mr__store_step(s, st, "token");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return mr__error_set(MR_ENOTFOUND, "id: no such token");
	obj = token_json(st);
	sqlite3_reset(st);
	if (!obj)
		return mr__error_set(MR_ENOMEM, "token: out of memory");
	*out = obj;
	return 0;
}

int mr__store_token_create(mr_store *s, int kind, const char *subject, const char *label,
			   bool has_expires, int64_t expires, char secret[MR_TOKEN_SIZE],
			   char id[MR_TOKEN_ID_SIZE])
{
	static const char sql[] = "INSERT INTO tokens (id, kind, subject, hash, label, created, "
				  "expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
	uint8_t hash[MR_TOKEN_HASH_LEN];
	char hex[MR_TOKEN_HASH_HEX_SIZE];
	sqlite3_stmt *st;
	int rc;

	rc = mr_token_generate(secret, MR_TOKEN_SIZE, kind, id, MR_TOKEN_ID_SIZE, hash);
	if (rc < 0)
		return rc;
	rc = mr_token_hash_hex(hex, sizeof(hex), hash);
	if (rc < 0)
		goto fail;
	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		goto fail;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0 ||
	    (rc = mr__store_bind_text(st, 2, mr_token_kind_name(kind))) < 0 ||
	    (rc = mr__store_bind_text(st, 3, subject)) < 0 ||
	    (rc = mr__store_bind_text(st, 4, hex)) < 0 ||
	    (rc = mr__store_bind_text(st, 5, label ? label : "")) < 0 ||
	    (rc = mr__store_bind_opt_int(st, 7, has_expires, expires)) < 0)
		goto fail;
	sqlite3_bind_int64(st, 6, mr__store_now(s));
	rc = mr__store_exec_stmt(s, st, "issue token");
	/* The statement copied the hash (SQLITE_TRANSIENT); drop the binding so
	 * the copy does not live on in the cached statement. */
	sqlite3_clear_bindings(st);
	if (rc < 0)
		goto fail;
	mr__wipe(hash, sizeof(hash));
	mr__wipe(hex, sizeof(hex));
	return 0;
fail:
	mr_token_wipe(secret, MR_TOKEN_SIZE);
	mr__wipe(hash, sizeof(hash));
	mr__wipe(hex, sizeof(hex));
	return rc;
}

int mr__store_token_revoke_subject(mr_store *s, const char *subject)
{
	static const char sql[] =
	    "UPDATE tokens SET revoked = ?2 WHERE subject = ?1 AND revoked IS NULL";
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, subject)) < 0)
		return rc;
	sqlite3_bind_int64(st, 2, mr__store_now(s));
	return mr__store_exec_stmt(s, st, "revoke tokens");
}

/* Does a node or pod with this id exist? */
static int subject_exists(mr_store *s, int kind, const char *subject)
{
	static const char sql_node[] = "SELECT 1 FROM nodes WHERE id = ?1";
	static const char sql_pod[] = "SELECT 1 FROM pods WHERE id = ?1";
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, kind == MR_TOKEN_NODE ? sql_node : sql_pod, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, subject)) < 0)
		return rc;
	rc = mr__store_step(s, st, "token subject");
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return mr__error_set(MR_ENOTFOUND, "subject: no such %s",
				     kind == MR_TOKEN_NODE ? "node" : "pod");
	return 0;
}

static int check_kind(const char *v)
{
	return mr_token_kind_from_name(v) > 0
		   ? 0
		   : mr__error_set(MR_EINVAL, "expected \"admin\", \"node\" or \"pod\"");
}

static const struct store_field issue_fields[] = {
    F_STR("kind", RF_REQUIRED, check_kind),
    F_STR("subject", RF_NULLABLE, NULL),
    F_STR("label", 0, mr__store_check_label),
    F_INT("expires", RF_NULLABLE, 0, INT64_MAX),
};

MR_API int mr_store_token_issue(mr_store *s, const char *request, char **out)
{
	char secret[MR_TOKEN_SIZE], id[MR_TOKEN_ID_SIZE];
	const char *subject, *label;
	json_t *req = NULL, *result = NULL, *tok = NULL;
	int kind, rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "token issue: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, issue_fields, MR_ARRAY_SIZE(issue_fields), &req);
	if (rc < 0)
		return rc;
	kind = mr_token_kind_from_name(mr__store_req_str(req, "kind"));
	subject = mr__store_req_str(req, "subject");
	label = mr__store_req_str(req, "label");
	if (kind == MR_TOKEN_ADMIN && subject) {
		rc = mr__error_set(MR_EINVAL, "subject: admin tokens have no subject");
		goto out;
	}
	if (kind == MR_TOKEN_NODE && (!subject || !mr__store_is_id(subject, "nd_"))) {
		rc = mr__error_set(MR_EINVAL, "subject: %s",
				   subject ? "not a node id" : "missing (a node id)");
		goto out;
	}
	if (kind == MR_TOKEN_POD && (!subject || !mr__store_is_id(subject, "pd_"))) {
		rc = mr__error_set(MR_EINVAL, "subject: %s",
				   subject ? "not a pod id" : "missing (a pod id)");
		goto out;
	}
	rc = mr__store_begin(s, true);
	if (rc < 0)
		goto out;
	if (kind != MR_TOKEN_ADMIN && (rc = subject_exists(s, kind, subject)) < 0)
		goto rollback;
	rc = mr__store_token_create(s, kind, subject, label,
				    mr__store_req_has(req, "expires") &&
					!mr__store_req_is_null(req, "expires"),
				    mr__store_req_int(req, "expires", 0), secret, id);
	if (rc < 0)
		goto rollback;
	rc = mr__store_audit(s, "token.issue", id,
			     json_pack("{s:s, s:o}", "kind", mr_token_kind_name(kind), "subject",
				       subject ? json_string(subject) : json_null()));
	if (rc == 0)
		rc = mr__store_token_object(s, id, &tok);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0)
		goto rollback;
	result = json_pack("{s:o}", "token", tok);
	rc = mr__store_result(result, "secret", secret, out);
	goto wipe;
rollback:
	json_decref(tok);
	mr__store_rollback(s);
wipe:
	mr_token_wipe(secret, sizeof(secret));
out:
	mr__store_req_free(req, issue_fields, MR_ARRAY_SIZE(issue_fields));
	return rc;
}

static const struct store_field list_fields[] = {
    F_STR("kind", 0, check_kind),
    F_STR("subject", 0, mr__store_check_label),
    F_BOOL("revoked", 0),
};

MR_API int mr_store_token_list(mr_store *s, const char *request, char **out)
{
	static const char sql[] =
	    "SELECT " TOKEN_COLS " FROM tokens "
	    "WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR subject = ?2) "
	    "AND (?3 IS NULL OR (revoked IS NOT NULL) = ?3) "
	    "ORDER BY created DESC, id";
	json_t *req = NULL, *arr = NULL;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "token list: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, list_fields, MR_ARRAY_SIZE(list_fields), &req);
	if (rc < 0)
		return rc;
	arr = json_array();
	if (!arr) {
		rc = mr__error_set(MR_ENOMEM, "token list: out of memory");
		goto out;
	}
	rc = mr__store_begin(s, false);
	if (rc < 0)
		goto out;
	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		goto rollback;
	if ((rc = mr__store_bind_text(st, 1, mr__store_req_str(req, "kind"))) < 0 ||
	    (rc = mr__store_bind_text(st, 2, mr__store_req_str(req, "subject"))) < 0 ||
	    (rc = mr__store_bind_opt_int(st, 3, mr__store_req_has(req, "revoked"),
					 mr__store_req_bool(req, "revoked", false))) < 0)
		goto rollback;
	while ((rc = mr__store_step(s, st, "token list")) == 1) {
		if (json_array_append_new(arr, token_json(st)) < 0) {
			rc = mr__error_set(MR_ENOMEM, "token list: out of memory");
			goto rollback;
		}
	}
	if (rc < 0)
		goto rollback;
	rc = mr__store_commit(s);
	if (rc < 0)
		goto out;
	rc = mr__store_result(json_pack("{s:o}", "tokens", arr), NULL, NULL, out);
	arr = NULL;
	goto out;
rollback:
	mr__store_rollback(s);
out:
	json_decref(arr);
	mr__store_req_free(req, list_fields, MR_ARRAY_SIZE(list_fields));
	return rc;
}

static const struct store_field revoke_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_token_id),
};

static const struct store_field expiry_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_token_id),
    F_INT("expires", RF_REQUIRED | RF_NULLABLE, 0, INT64_MAX),
};

/* Shared by revoke and set_expiry: one UPDATE of one token. */
static int token_update(mr_store *s, const char *request, char **out, bool revoke)
{
	static const char sql_state[] = "SELECT revoked, expires FROM tokens WHERE id = ?1";
	static const char sql_revoke[] = "UPDATE tokens SET revoked = ?2 WHERE id = ?1";
	static const char sql_expiry[] = "UPDATE tokens SET expires = ?2 WHERE id = ?1";
	const struct store_field *fields = revoke ? revoke_fields : expiry_fields;
	size_t nfields = revoke ? MR_ARRAY_SIZE(revoke_fields) : MR_ARRAY_SIZE(expiry_fields);
	json_t *req = NULL, *tok = NULL;
	bool revoked, has_exp;
	const char *id;
	sqlite3_stmt *st;
	int64_t exp;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "token: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, fields, nfields, &req);
	if (rc < 0)
		return rc;
	id = mr__store_req_str(req, "id");
	has_exp = !revoke && !mr__store_req_is_null(req, "expires");
	exp = mr__store_req_int(req, "expires", 0);
	rc = mr__store_begin(s, true);
	if (rc < 0)
		goto out;
	rc = mr__store_prepare(s, sql_state, &st);
	if (rc < 0)
		goto rollback;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0)
		goto rollback;
	rc = mr__store_step(s, st, "token");
	if (rc == 0)
		rc = mr__error_set(MR_ENOTFOUND, "id: no such token");
	if (rc < 0)
		goto rollback;
	revoked = sqlite3_column_type(st, 0) != SQLITE_NULL;
	sqlite3_reset(st);
	rc = 0;
	if (revoke && !revoked) {
		rc = mr__store_prepare(s, sql_revoke, &st);
		if (rc == 0 && (rc = mr__store_bind_text(st, 1, id)) == 0) {
			sqlite3_bind_int64(st, 2, mr__store_now(s));
			rc = mr__store_exec_stmt(s, st, "revoke token");
		}
		if (rc == 0)
			rc = mr__store_audit(s, "token.revoke", id, NULL);
	} else if (!revoke) {
		if (revoked) {
			rc = mr__error_set(MR_ECONFLICT, "id: the token is revoked");
			goto rollback;
		}
		rc = mr__store_prepare(s, sql_expiry, &st);
		if (rc == 0 && (rc = mr__store_bind_text(st, 1, id)) == 0 &&
		    (rc = mr__store_bind_opt_int(st, 2, has_exp, exp)) == 0)
			rc = mr__store_exec_stmt(s, st, "token expiry");
		if (rc == 0)
			rc = mr__store_audit(s, "token.expiry", id,
					     json_pack("{s:o}", "expires",
						       has_exp ? json_integer(exp) : json_null()));
	}
	if (rc == 0)
		rc = mr__store_token_object(s, id, &tok);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0)
		goto rollback;
	rc = mr__store_result(json_pack("{s:o}", "token", tok), NULL, NULL, out);
	tok = NULL;
	goto out;
rollback:
	mr__store_rollback(s);
out:
	json_decref(tok);
	mr__store_req_free(req, fields, nfields);
	return rc;
}

MR_API int mr_store_token_revoke(mr_store *s, const char *request, char **out)
{
	return token_update(s, request, out, true);
}

MR_API int mr_store_token_set_expiry(mr_store *s, const char *request, char **out)
{
	return token_update(s, request, out, false);
}

MR_API int mr_store_token_verify(mr_store *s, const char *token, char **out)
{
	static const char sql[] = "SELECT kind, subject, hash, expires, revoked, last_used "
				  "FROM tokens WHERE id = ?1";
	static const char sql_touch[] = "UPDATE tokens SET last_used = ?2 WHERE id = ?1 AND "
					"(last_used IS NULL OR last_used < ?3)";
	char id[MR_TOKEN_ID_SIZE];
	uint8_t stored[MR_TOKEN_HASH_LEN];
	json_t *result = NULL;
	sqlite3_stmt *st;
	int64_t now;
	bool touch;
	int kind, rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "token verify: %s is NULL", s ? "output" : "store");
	if (!token)
		return mr__error_set(MR_EAUTH, "token: missing");
	/* The checksum turns typos away here, before the database is asked. */
	rc = mr_token_parse(token, &kind, id, sizeof(id), NULL);
	if (rc < 0)
		return rc == MR_EINVAL ? mr__error_set(MR_EAUTH, "token: malformed") : rc;
	now = mr__store_now(s);
	rc = mr__store_begin(s, false);
	if (rc < 0)
		return rc;
	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		goto rollback;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0)
		goto rollback;
	rc = mr__store_step(s, st, "token verify");
	if (rc == 0)
		rc = mr__error_set(MR_EAUTH, "token: not recognised");
	if (rc < 0)
		goto rollback;
	kind = mr_token_kind_from_name(mr__store_col_text(st, 0));
	rc = mr_token_hash_from_hex(stored, mr__store_col_text(st, 2));
	if (kind < 0 || rc < 0) {
		rc = mr__error_set(MR_EDB, "token verify: corrupt token row");
		goto rollback;
	}
	/* The secret is compared before revocation and expiry are looked at,
	 * so that knowing a token's (public) id tells nothing about its state. */
	rc = mr_token_verify(token, kind, id, stored);
	if (rc < 0)
		goto rollback;
	if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
		rc = mr__error_set(MR_EAUTH, "token: revoked");
		goto rollback;
	}
	if (sqlite3_column_type(st, 3) != SQLITE_NULL && sqlite3_column_int64(st, 3) <= now) {
		rc = mr__error_set(MR_EAUTH, "token: expired");
		goto rollback;
	}
	touch = sqlite3_column_type(st, 5) == SQLITE_NULL ||
		sqlite3_column_int64(st, 5) < now - STORE_LAST_USED_SLACK;
	result = json_pack("{s:s, s:s, s:o}", "token_id", id, "kind", mr__store_col_text(st, 0),
			   "subject", mr__store_col_str(st, 1));
	rc = mr__store_commit(s);
	if (rc < 0)
		goto out;
	if (touch) {
		/* Best effort: a busy database must not turn a valid token away. */
		rc = mr__store_begin(s, true);
		if (rc == 0) {
			rc = mr__store_prepare(s, sql_touch, &st);
			if (rc == 0 && (rc = mr__store_bind_text(st, 1, id)) == 0) {
				sqlite3_bind_int64(st, 2, now);
				sqlite3_bind_int64(st, 3, now - STORE_LAST_USED_SLACK);
				rc = mr__store_exec_stmt(s, st, "token last used");
			}
			if (rc == 0)
				rc = mr__store_commit(s);
			else
				mr__store_rollback(s);
		}
		if (rc == MR_ETIMEOUT)
			rc = 0;
		if (rc < 0)
			goto out;
	}
	rc = mr__store_result(result, NULL, NULL, out);
	result = NULL;
	goto out;
rollback:
	mr__store_rollback(s);
out:
	json_decref(result);
	mr__wipe(stored, sizeof(stored));
	return rc;
}

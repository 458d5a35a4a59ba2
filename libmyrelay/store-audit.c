/* SPDX-License-Identifier: MIT */
/*
 * Reading the audit log, and the overview counts.
 */
#include "store-internal.h"

#include <stdlib.h>
#include <string.h>

/* Actors are token ids or "system"; both are labels. Subjects are object or
 * token ids, also labels. */
static const struct store_field audit_fields[] = {
    F_STR("subject", 0, mr__store_check_label),
    F_STR("actor", 0, mr__store_check_label),
    F_STR("action", 0, mr__store_check_label),
    F_INT("since", 0, 0, INT64_MAX),
    F_INT("until", 0, 0, INT64_MAX),
    F_INT("before", 0, 1, INT64_MAX),
    F_INT("limit", 0, 1, 1000),
};

#define AUDIT_FILTER                                                                               \
	"(?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR actor = ?2) AND "                         \
	"(?3 IS NULL OR action = ?3) AND (?4 IS NULL OR time >= ?4) AND "                          \
	"(?5 IS NULL OR time <= ?5) AND (?6 IS NULL OR seq < ?6) ORDER BY seq DESC LIMIT ?7"

MR_API int mr_store_audit_list(mr_store *s, const char *request, char **out)
{
	/* The planner picks an index once per statement, not per binding, so
	 * the filters that have an index get a statement of their own. */
	static const char sql_subject[] = "SELECT seq, time, actor, action, subject, detail "
					  "FROM audit INDEXED BY audit_subject WHERE subject = ?1 "
					  "AND " AUDIT_FILTER;
	static const char sql_actor[] =
	    "SELECT seq, time, actor, action, subject, detail "
	    "FROM audit INDEXED BY audit_actor WHERE actor = ?2 AND " AUDIT_FILTER;
	static const char sql_any[] = "SELECT seq, time, actor, action, subject, detail "
				      "FROM audit WHERE " AUDIT_FILTER;
	static const char *const names[] = {"subject", "actor", "action",
					    "since",   "until", "before"};
	json_t *req = NULL, *arr, *detail, *ev;
	const char *sql;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "audit list: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, audit_fields, MR_ARRAY_SIZE(audit_fields), &req);
	if (rc < 0)
		return rc;
	arr = json_array();
	if (!arr) {
		rc = mr__error_set(MR_ENOMEM, "audit list: out of memory");
		goto out;
	}
	sql = mr__store_req_str(req, "subject") ? sql_subject
	      : mr__store_req_str(req, "actor") ? sql_actor
						: sql_any;
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = mr__store_prepare(s, sql, &st);
	for (int i = 0; rc == 0 && i < 3; i++)
		rc = mr__store_bind_text(st, i + 1, mr__store_req_str(req, names[i]));
	for (int i = 3; rc == 0 && i < 6; i++)
		rc = mr__store_bind_opt_int(st, i + 1, mr__store_req_has(req, names[i]),
					    mr__store_req_int(req, names[i], 0));
	if (rc == 0)
		sqlite3_bind_int64(st, 7, mr__store_req_int(req, "limit", 100));
	while (rc == 0 && (rc = mr__store_step(s, st, "audit list")) == 1) {
		/* The detail was written by us as JSON; a row that does not
		 * parse (edited by hand) is shown as null rather than failing
		 * the whole listing. */
		detail = json_loads(mr__store_col_text(st, 5), JSON_REJECT_DUPLICATES, NULL);
		ev = json_pack("{s:I, s:I, s:s, s:s, s:o, s:o}", "seq",
			       (json_int_t)sqlite3_column_int64(st, 0), "time",
			       (json_int_t)sqlite3_column_int64(st, 1), "actor",
			       mr__store_col_text(st, 2), "action", mr__store_col_text(st, 3),
			       "subject", mr__store_col_str(st, 4), "detail",
			       detail ? detail : json_null());
		rc = !ev || json_array_append_new(arr, ev) < 0
			 ? mr__error_set(MR_ENOMEM, "audit list: out of memory")
			 : 0;
	}
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		json_decref(arr);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:o}", "events", arr), NULL, NULL, out);
out:
	json_decref(req);
	return rc;
}

/* Count rows grouped by a status column into obj, with a "total". */
static int count_by(mr_store *s, const char *sql, json_t *obj, const char *const *keys,
		    size_t nkeys)
{
	sqlite3_stmt *st;
	int64_t total = 0;
	int rc;

	for (size_t i = 0; i < nkeys; i++)
		if ((rc = mr__store_set(obj, keys[i], json_integer(0))) < 0)
			return rc;
	rc = mr__store_prepare(s, sql, &st);
	while (rc == 0 && (rc = mr__store_step(s, st, "overview")) == 1) {
		total += sqlite3_column_int64(st, 1);
		rc = mr__store_set(obj, mr__store_col_text(st, 0),
				   json_integer(sqlite3_column_int64(st, 1)));
	}
	if (rc == 0)
		rc = mr__store_set(obj, "total", json_integer(total));
	return rc;
}

static int count_one(mr_store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0)
		rc = mr__store_step(s, st, "overview");
	if (rc < 0)
		return rc;
	*out = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}

MR_API int mr_store_overview(mr_store *s, char **out)
{
	static const char sql_nodes[] = "SELECT status, count(*) FROM nodes GROUP BY status";
	static const char sql_pods[] = "SELECT status, count(*) FROM pods GROUP BY status";
	static const char sql_customers[] = "SELECT count(*) FROM customers";
	static const char sql_peers[] = "SELECT count(*) FROM peers";
	static const char sql_enabled[] = "SELECT count(*) FROM peers WHERE enabled = 1";
	static const char sql_tokens[] = "SELECT count(*) FROM tokens WHERE revoked IS NULL AND "
					 "(expires IS NULL OR expires > ?1)";
	static const char *const node_keys[] = {"provisioning", "active", "draining", "offline"};
	static const char *const pod_keys[] = {"pending", "active", "deleting", "failed"};
	json_t *nodes = json_object(), *pods = json_object(), *result = NULL;
	int64_t customers = 0, peers = 0, enabled = 0, tokens = 0;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out) {
		rc = mr__error_set(MR_EINVAL, "overview: %s is NULL", s ? "output" : "store");
		goto out;
	}
	if (!nodes || !pods) {
		rc = mr__error_set(MR_ENOMEM, "overview: out of memory");
		goto out;
	}
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = count_by(s, sql_nodes, nodes, node_keys, MR_ARRAY_SIZE(node_keys));
	if (rc == 0)
		rc = count_by(s, sql_pods, pods, pod_keys, MR_ARRAY_SIZE(pod_keys));
	if (rc == 0)
		rc = count_one(s, sql_customers, &customers);
	if (rc == 0)
		rc = count_one(s, sql_peers, &peers);
	if (rc == 0)
		rc = count_one(s, sql_enabled, &enabled);
	if (rc == 0)
		rc = mr__store_prepare(s, sql_tokens, &st);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, mr__store_now(s));
		rc = mr__store_step(s, st, "overview");
		if (rc == 1) {
			tokens = sqlite3_column_int64(st, 0);
			rc = 0;
		}
	}
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		goto out;
	}
	result = json_pack("{s:O, s:I, s:O, s:{s:I, s:I}, s:{s:I}}", "nodes", nodes, "customers",
			   (json_int_t)customers, "pods", pods, "peers", "total", (json_int_t)peers,
			   "enabled", (json_int_t)enabled, "tokens", "active", (json_int_t)tokens);
	rc = mr__store_result(result, NULL, NULL, out);
out:
	json_decref(nodes);
	json_decref(pods);
	return rc;
}

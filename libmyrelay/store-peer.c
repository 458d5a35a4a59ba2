/* SPDX-License-Identifier: MIT */
/*
 * Peers (customers' devices) in the store.
 *
 * A peer is in its node's desired state when it is enabled and not expired.
 * Every operation raises the node's generation exactly when that visibility
 * (or the peer's presence) changes, so agents are woken for real changes
 * only; a rename changes nothing the node sees.
 */
#include "store-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/cidr.h>

#define DEFAULT_REASON "disabled"

#define PEER_COLS                                                                                  \
	"p.id, p.pod_id, p.name, p.public_key, p.ipv4_address, p.ipv6_address, "                   \
	"p.preshared_key IS NOT NULL, p.enabled, p.disabled_reason, p.expires, p.rx_bytes, "       \
	"p.tx_bytes, p.last_handshake, p.created"

static json_t *peer_json(mr_store *s, sqlite3_stmt *st)
{
	char a4[MR_CIDR_STRLEN + 4], a6[MR_CIDR_STRLEN + 4];
	bool has_exp = sqlite3_column_type(st, 9) != SQLITE_NULL;

	snprintf(a4, sizeof(a4), "%s/32", mr__store_col_text(st, 4));
	snprintf(a6, sizeof(a6), "%s/128", mr__store_col_text(st, 5));
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:[s,s], s:b, s:b, s:o, s:o, s:b, s:I, s:I, s:o, "
	    "s:I}",
	    "id", mr__store_col_text(st, 0), "pod", mr__store_col_text(st, 1), "name",
	    mr__store_col_text(st, 2), "public_key", mr__store_col_text(st, 3), "addresses", a4, a6,
	    "has_preshared_key", sqlite3_column_int(st, 6), "enabled", sqlite3_column_int(st, 7),
	    "disabled_reason", mr__store_col_str(st, 8), "expires", mr__store_col_int(st, 9),
	    "expired", has_exp && sqlite3_column_int64(st, 9) <= mr__store_now(s), "rx_bytes",
	    (json_int_t)sqlite3_column_int64(st, 10), "tx_bytes",
	    (json_int_t)sqlite3_column_int64(st, 11), "last_handshake", mr__store_col_int(st, 12),
	    "created", (json_int_t)sqlite3_column_int64(st, 13));
}

static int peer_object(mr_store *s, const char *id, json_t **out)
{
	static const char sql[] = "SELECT " PEER_COLS " FROM peers p WHERE p.id = ?1";
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0)
		return rc;
	rc = mr__store_step(s, st, "peer");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return mr__error_set(MR_ENOTFOUND, "id: no such peer");
	*out = peer_json(s, st);
	sqlite3_reset(st);
	return *out ? 0 : mr__error_set(MR_ENOMEM, "peer: out of memory");
}

static bool visible(bool enabled, bool has_expires, int64_t expires, int64_t now)
{
	return enabled && (!has_expires || expires > now);
}

/* Find the pod's node and subnets (MR_ENOTFOUND naming "pod" otherwise). */
struct pod_row {
	char node[STORE_ID_SIZE];
	char sub4[MR_CIDR_STRLEN];
	char sub6[MR_CIDR_STRLEN];
};

static int read_pod(mr_store *s, const char *pod_id, struct pod_row *p)
{
	static const char sql[] = "SELECT node_id, ipv4_subnet, ipv6_subnet FROM pods "
				  "WHERE id = ?1";
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, pod_id)) < 0)
		return rc;
	rc = mr__store_step(s, st, "pod");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return mr__error_set(MR_ENOTFOUND, "pod: no such pod");
	snprintf(p->node, sizeof(p->node), "%s", mr__store_col_text(st, 0));
	snprintf(p->sub4, sizeof(p->sub4), "%s", mr__store_col_text(st, 1));
	snprintf(p->sub6, sizeof(p->sub6), "%s", mr__store_col_text(st, 2));
	sqlite3_reset(st);
	return 0;
}

/* The lowest free host address of each pod subnet, after marking those of
 * the pod's peers. */
static int alloc_addresses(mr_store *s, const char *pod_id, const struct pod_row *pod,
			   char a4[MR_CIDR_STRLEN], char a6[MR_CIDR_STRLEN])
{
	static const char sql[] = "SELECT ipv4_address, ipv6_address FROM peers WHERE pod_id = ?1";
	mr_cidr_hosts *h4 = NULL, *h6 = NULL;
	sqlite3_stmt *st = NULL;
	mr_prefix p;
	int rc;

	rc = mr_cidr_parse_network(&p, pod->sub4);
	if (rc == 0)
		rc = mr_cidr_hosts_new(&h4, &p);
	if (rc == 0)
		rc = mr_cidr_parse_network(&p, pod->sub6);
	if (rc == 0)
		rc = mr_cidr_hosts_new(&h6, &p);
	if (rc < 0) {
		if (rc != MR_ENOMEM)
			rc = mr__error_set(MR_EDB, "pod: stored subnet is corrupt");
		goto out;
	}
	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0)
		rc = mr__store_bind_text(st, 1, pod_id);
	while (rc == 0 && (rc = mr__store_step(s, st, "peer addresses")) == 1) {
		rc = mr_cidr_parse_address(&p, mr__store_col_text(st, 0));
		if (rc == 0)
			rc = mr_cidr_hosts_mark_used(h4, &p);
		if (rc == 0)
			rc = mr_cidr_parse_address(&p, mr__store_col_text(st, 1));
		if (rc == 0)
			rc = mr_cidr_hosts_mark_used(h6, &p);
		if (rc < 0 && rc != MR_ENOMEM)
			rc = mr__error_set(MR_EDB, "pod: stored peer address is corrupt");
	}
	if (rc < 0)
		goto out;
	rc = mr_cidr_hosts_alloc(h4, &p);
	if (rc == MR_EEXHAUSTED)
		rc = mr__error_set(rc, "pod: no free IPv4 address left in %s", pod->sub4);
	if (rc == 0)
		rc = mr_cidr_format_address(a4, MR_CIDR_STRLEN, &p);
	if (rc < 0)
		goto out;
	rc = mr_cidr_hosts_alloc(h6, &p);
	if (rc == MR_EEXHAUSTED)
		rc = mr__error_set(rc, "pod: no free IPv6 address left in %s", pod->sub6);
	if (rc == 0)
		rc = mr_cidr_format_address(a6, MR_CIDR_STRLEN, &p);
out:
	if (st)
		sqlite3_reset(st);
	mr_cidr_hosts_free(h4);
	mr_cidr_hosts_free(h6);
	return rc;
}

/* Is a column value taken by another peer of the pod? */
static int taken_in_pod(mr_store *s, const char *sql, const char *pod_id, const char *value,
			const char *except_id, bool *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, pod_id)) == 0 &&
	    (rc = mr__store_bind_text(st, 2, value)) == 0)
		rc = mr__store_bind_text(st, 3, except_id);
	if (rc == 0)
		rc = mr__store_step(s, st, "peer");
	if (rc < 0)
		return rc;
	*out = rc == 1;
	sqlite3_reset(st);
	return 0;
}

static const char sql_name_taken[] = "SELECT 1 FROM peers WHERE pod_id = ?1 AND name = ?2 "
				     "AND (?3 IS NULL OR id != ?3)";
static const char sql_key_taken[] = "SELECT 1 FROM peers WHERE pod_id = ?1 AND "
				    "public_key = ?2 AND (?3 IS NULL OR id != ?3)";

static const struct store_field add_fields[] = {
    F_STR("pod", RF_REQUIRED, mr__store_check_pod_id),
    F_STR("name", RF_REQUIRED, mr__store_check_label),
    F_STR("public_key", RF_REQUIRED, mr__store_check_public_key),
    F_STR("preshared_key", RF_SECRET | RF_NULLABLE, mr__store_check_preshared_key),
    F_INT("expires", RF_NULLABLE, 0, INT64_MAX),
};

MR_API int mr_store_peer_add(mr_store *s, const char *request, char **out)
{
	static const char sql[] =
	    "INSERT INTO peers (id, pod_id, name, public_key, ipv4_address, ipv6_address, "
	    "preshared_key, enabled, expires, created) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9)";
	char id[STORE_ID_SIZE], a4[MR_CIDR_STRLEN], a6[MR_CIDR_STRLEN];
	json_t *req = NULL, *peer = NULL, *pod = NULL;
	const char *pod_id, *name, *key;
	struct pod_row prow;
	bool taken, has_exp;
	int64_t exp, now;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "peer add: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, add_fields, MR_ARRAY_SIZE(add_fields), &req);
	if (rc < 0)
		return rc;
	pod_id = mr__store_req_str(req, "pod");
	name = mr__store_req_str(req, "name");
	key = mr__store_req_str(req, "public_key");
	has_exp = mr__store_req_has(req, "expires") && !mr__store_req_is_null(req, "expires");
	exp = mr__store_req_int(req, "expires", 0);
	now = mr__store_now(s);
	rc = mr__store_begin(s, true);
	if (rc < 0)
		goto out;
	if ((rc = read_pod(s, pod_id, &prow)) < 0 ||
	    (rc = taken_in_pod(s, sql_name_taken, pod_id, name, NULL, &taken)) < 0)
		goto rollback;
	if (taken) {
		rc = mr__error_set(MR_EEXIST, "name: the pod has a peer with this name");
		goto rollback;
	}
	if ((rc = taken_in_pod(s, sql_key_taken, pod_id, key, NULL, &taken)) < 0)
		goto rollback;
	if (taken) {
		rc = mr__error_set(MR_EEXIST, "public_key: the pod has a peer with this key");
		goto rollback;
	}
	if ((rc = alloc_addresses(s, pod_id, &prow, a4, a6)) < 0 ||
	    (rc = mr__store_new_id(id, "pr_")) < 0 || (rc = mr__store_prepare(s, sql, &st)) < 0)
		goto rollback;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0 ||
	    (rc = mr__store_bind_text(st, 2, pod_id)) < 0 ||
	    (rc = mr__store_bind_text(st, 3, name)) < 0 ||
	    (rc = mr__store_bind_text(st, 4, key)) < 0 ||
	    (rc = mr__store_bind_text(st, 5, a4)) < 0 ||
	    (rc = mr__store_bind_text(st, 6, a6)) < 0 ||
	    (rc = mr__store_bind_text(st, 7, mr__store_req_str(req, "preshared_key"))) < 0 ||
	    (rc = mr__store_bind_opt_int(st, 8, has_exp, exp)) < 0)
		goto rollback;
	sqlite3_bind_int64(st, 9, now);
	rc = mr__store_exec_stmt(s, st, "peer add");
	/* Do not keep a copy of the preshared key in the cached statement. */
	sqlite3_clear_bindings(st);
	if (rc == 0 && visible(true, has_exp, exp, now))
		rc = mr__store_bump(s, prow.node);
	if (rc == 0)
		rc = mr__store_audit(s, "peer.add", id,
				     json_pack("{s:s, s:s}", "pod", pod_id, "name", name));
	if (rc == 0)
		rc = peer_object(s, id, &peer);
	if (rc == 0)
		rc = mr__store_pod_object(s, pod_id, &pod);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0)
		goto rollback;
	rc = mr__store_result(json_pack("{s:o, s:o}", "peer", peer, "pod", pod), NULL, NULL, out);
	peer = pod = NULL;
	goto out;
rollback:
	mr__store_rollback(s);
out:
	json_decref(peer);
	json_decref(pod);
	mr__store_req_free(req, add_fields, MR_ARRAY_SIZE(add_fields));
	return rc;
}

static const struct store_field list_fields[] = {
    F_STR("pod", RF_REQUIRED, mr__store_check_pod_id),
    F_BOOL("enabled", 0),
};

MR_API int mr_store_peer_list(mr_store *s, const char *request, char **out)
{
	static const char sql[] = "SELECT " PEER_COLS " FROM peers p WHERE p.pod_id = ?1 AND "
				  "(?2 IS NULL OR p.enabled = ?2) ORDER BY p.name";
	json_t *req = NULL, *arr;
	struct pod_row prow;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "peer list: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, list_fields, MR_ARRAY_SIZE(list_fields), &req);
	if (rc < 0)
		return rc;
	arr = json_array();
	if (!arr) {
		rc = mr__error_set(MR_ENOMEM, "peer list: out of memory");
		goto out;
	}
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = read_pod(s, mr__store_req_str(req, "pod"), &prow);
	if (rc == 0)
		rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, mr__store_req_str(req, "pod"))) == 0)
		rc = mr__store_bind_opt_int(st, 2, mr__store_req_has(req, "enabled"),
					    mr__store_req_bool(req, "enabled", false));
	while (rc == 0 && (rc = mr__store_step(s, st, "peer list")) == 1)
		rc = json_array_append_new(arr, peer_json(s, st)) < 0
			 ? mr__error_set(MR_ENOMEM, "peer list: out of memory")
			 : 0;
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		json_decref(arr);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:o}", "peers", arr), NULL, NULL, out);
out:
	json_decref(req);
	return rc;
}

/* --- operations on one peer ---------------------------------------------- */

#define PEER_OP_SHOW 0
#define PEER_OP_ENABLE 1
#define PEER_OP_DISABLE 2
#define PEER_OP_RENAME 3
#define PEER_OP_EXPIRY 4
#define PEER_OP_REMOVE 5

static const struct store_field show_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_peer_id),
    F_STR("pod", 0, mr__store_check_pod_id),
};

static const struct store_field disable_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_peer_id),
    F_STR("pod", 0, mr__store_check_pod_id),
    {"reason", RT_STRING, 0, 1, 200, mr__store_check_text},
};

static const struct store_field rename_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_peer_id),
    F_STR("pod", 0, mr__store_check_pod_id),
    F_STR("name", RF_REQUIRED, mr__store_check_label),
};

static const struct store_field expiry_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_peer_id),
    F_STR("pod", 0, mr__store_check_pod_id),
    F_INT("expires", RF_REQUIRED | RF_NULLABLE, 0, INT64_MAX),
};

struct peer_row {
	char pod[STORE_ID_SIZE];
	char node[STORE_ID_SIZE];
	char name[64];
	char reason[256];
	bool enabled, has_expires;
	int64_t expires;
};

static int read_peer(mr_store *s, const char *id, const char *pod_scope, struct peer_row *p)
{
	static const char sql[] = "SELECT p.pod_id, d.node_id, p.name, p.enabled, "
				  "p.disabled_reason, p.expires FROM peers p JOIN pods d ON "
				  "d.id = p.pod_id WHERE p.id = ?1";
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0)
		return rc;
	rc = mr__store_step(s, st, "peer");
	if (rc < 0)
		return rc;
	/* A peer of another pod is reported exactly like a missing one: a pod
	 * token must learn nothing about other pods' peers. */
	if (rc == 0 || (pod_scope && strcmp(pod_scope, mr__store_col_text(st, 0)) != 0)) {
		sqlite3_reset(st);
		return mr__error_set(MR_ENOTFOUND, "id: no such peer");
	}
	snprintf(p->pod, sizeof(p->pod), "%s", mr__store_col_text(st, 0));
	snprintf(p->node, sizeof(p->node), "%s", mr__store_col_text(st, 1));
	snprintf(p->name, sizeof(p->name), "%s", mr__store_col_text(st, 2));
	p->enabled = sqlite3_column_int(st, 3) != 0;
	snprintf(p->reason, sizeof(p->reason), "%s", mr__store_col_text(st, 4));
	p->has_expires = sqlite3_column_type(st, 5) != SQLITE_NULL;
	p->expires = sqlite3_column_int64(st, 5);
	sqlite3_reset(st);
	return 0;
}

/* Apply one change to a read peer; sets *after to its new visibility. */
static int apply(mr_store *s, int op, const char *id, json_t *req, struct peer_row *p, int64_t now,
		 bool *after)
{
	static const char sql_enable[] = "UPDATE peers SET enabled = 1, disabled_reason = NULL "
					 "WHERE id = ?1";
	static const char sql_disable[] = "UPDATE peers SET enabled = 0, disabled_reason = ?2 "
					  "WHERE id = ?1";
	static const char sql_rename[] = "UPDATE peers SET name = ?2 WHERE id = ?1";
	static const char sql_expiry[] = "UPDATE peers SET expires = ?2 WHERE id = ?1";
	static const char sql_remove[] = "DELETE FROM peers WHERE id = ?1";
	const char *reason = mr__store_req_str(req, "reason");
	const char *name = mr__store_req_str(req, "name");
	bool has_exp = !mr__store_req_is_null(req, "expires");
	int64_t exp = mr__store_req_int(req, "expires", 0);
	json_t *detail = NULL;
	const char *action;
	sqlite3_stmt *st;
	bool taken;
	int rc;

	*after = visible(p->enabled, p->has_expires, p->expires, now);
	switch (op) {
	case PEER_OP_ENABLE:
		if (p->enabled)
			return 0;
		action = "peer.enable";
		rc = mr__store_prepare(s, sql_enable, &st);
		*after = visible(true, p->has_expires, p->expires, now);
		break;
	case PEER_OP_DISABLE:
		if (!reason)
			reason = DEFAULT_REASON;
		if (!p->enabled && strcmp(p->reason, reason) == 0)
			return 0;
		action = "peer.disable";
		detail = json_pack("{s:s}", "reason", reason);
		rc = mr__store_prepare(s, sql_disable, &st);
		if (rc == 0)
			rc = mr__store_bind_text(st, 2, reason);
		*after = false;
		break;
	case PEER_OP_RENAME:
		if (strcmp(p->name, name) == 0)
			return 0;
		rc = taken_in_pod(s, sql_name_taken, p->pod, name, id, &taken);
		if (rc == 0 && taken)
			rc = mr__error_set(MR_EEXIST, "name: the pod has a peer with this name");
		if (rc < 0)
			return rc;
		action = "peer.rename";
		detail = json_pack("{s:s, s:s}", "from", p->name, "to", name);
		rc = mr__store_prepare(s, sql_rename, &st);
		if (rc == 0)
			rc = mr__store_bind_text(st, 2, name);
		break;
	case PEER_OP_EXPIRY:
		if (has_exp == p->has_expires && (!has_exp || exp == p->expires))
			return 0;
		action = "peer.expiry";
		detail = json_pack("{s:o}", "expires", has_exp ? json_integer(exp) : json_null());
		rc = mr__store_prepare(s, sql_expiry, &st);
		if (rc == 0)
			rc = mr__store_bind_opt_int(st, 2, has_exp, exp);
		*after = visible(p->enabled, has_exp, exp, now);
		break;
	default: /* PEER_OP_REMOVE */
		action = "peer.remove";
		detail = json_pack("{s:s, s:s}", "pod", p->pod, "name", p->name);
		rc = mr__store_prepare(s, sql_remove, &st);
		*after = false;
		break;
	}
	if (rc == 0)
		rc = mr__store_bind_text(st, 1, id);
	if (rc == 0)
		rc = mr__store_exec_stmt(s, st, action);
	if (rc == 0 && *after != visible(p->enabled, p->has_expires, p->expires, now))
		rc = mr__store_bump(s, p->node);
	if (rc < 0) {
		json_decref(detail);
		return rc;
	}
	return mr__store_audit(s, action, id, detail);
}

static int peer_op(mr_store *s, int op, const char *request, char **out)
{
	const struct store_field *fields = show_fields;
	size_t n = MR_ARRAY_SIZE(show_fields);
	json_t *req = NULL, *peer = NULL, *result;
	struct peer_row prow;
	const char *id;
	int64_t now;
	bool after;
	int rc;

	if (op == PEER_OP_DISABLE) {
		fields = disable_fields;
		n = MR_ARRAY_SIZE(disable_fields);
	} else if (op == PEER_OP_RENAME) {
		fields = rename_fields;
		n = MR_ARRAY_SIZE(rename_fields);
	} else if (op == PEER_OP_EXPIRY) {
		fields = expiry_fields;
		n = MR_ARRAY_SIZE(expiry_fields);
	}
	if (!s || !out)
		return mr__error_set(MR_EINVAL, "peer: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, fields, n, &req);
	if (rc < 0)
		return rc;
	id = mr__store_req_str(req, "id");
	now = mr__store_now(s);
	rc = mr__store_begin(s, op != PEER_OP_SHOW);
	if (rc == 0)
		rc = read_peer(s, id, mr__store_req_str(req, "pod"), &prow);
	if (rc == 0 && op != PEER_OP_SHOW)
		rc = apply(s, op, id, req, &prow, now, &after);
	if (rc == 0 && op != PEER_OP_REMOVE)
		rc = peer_object(s, id, &peer);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		json_decref(peer);
		goto out;
	}
	if (op == PEER_OP_REMOVE)
		result = json_pack("{s:s}", "deleted", id);
	else
		result = json_pack("{s:o}", "peer", peer);
	rc = mr__store_result(result, NULL, NULL, out);
out:
	json_decref(req);
	return rc;
}

MR_API int mr_store_peer_show(mr_store *s, const char *request, char **out)
{
	return peer_op(s, PEER_OP_SHOW, request, out);
}

MR_API int mr_store_peer_enable(mr_store *s, const char *request, char **out)
{
	return peer_op(s, PEER_OP_ENABLE, request, out);
}

MR_API int mr_store_peer_disable(mr_store *s, const char *request, char **out)
{
	return peer_op(s, PEER_OP_DISABLE, request, out);
}

MR_API int mr_store_peer_rename(mr_store *s, const char *request, char **out)
{
	return peer_op(s, PEER_OP_RENAME, request, out);
}

MR_API int mr_store_peer_set_expiry(mr_store *s, const char *request, char **out)
{
	return peer_op(s, PEER_OP_EXPIRY, request, out);
}

MR_API int mr_store_peer_remove(mr_store *s, const char *request, char **out)
{
	return peer_op(s, PEER_OP_REMOVE, request, out);
}

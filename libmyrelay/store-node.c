/* SPDX-License-Identifier: MIT */
/*
 * Nodes and customers in the store.
 */
#include "store-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/cidr.h>
#include <myrelay/token.h>

/* Defaults of DESIGN.md section 2. */
#define DEFAULT_IPV4_SUPERNET "10.64.0.0/10"
#define DEFAULT_IPV4_POOL_LEN 16
#define DEFAULT_IPV6_POOL_LEN 48
#define DEFAULT_IPV4_PREFIX 24
#define DEFAULT_IPV6_PREFIX 64
#define DEFAULT_PORT_MIN 51820
#define DEFAULT_PORT_MAX 52819

static const char *const node_statuses[] = {"provisioning", "active", "draining", "offline"};

static int check_node_status(const char *v)
{
	for (size_t i = 0; i < MR_ARRAY_SIZE(node_statuses); i++)
		if (strcmp(v, node_statuses[i]) == 0)
			return 0;
	return mr__error_set(MR_EINVAL,
			     "expected \"provisioning\", \"active\", \"draining\" or \"offline\"");
}

static int check_network(const char *v, int family)
{
	mr_prefix p;
	int rc = mr_cidr_parse_network(&p, v);

	if (rc < 0)
		return rc;
	if (p.family != family)
		return mr__error_set(MR_EINVAL, "not an IPv%d network", family);
	return 0;
}

static int check_ipv4_network(const char *v)
{
	return check_network(v, MR_CIDR_INET);
}

static int check_ipv6_network(const char *v)
{
	return check_network(v, MR_CIDR_INET6);
}

#define NODE_COLS                                                                                  \
	"n.id, n.name, n.region, n.endpoint, n.ipv4_pool, n.ipv6_pool, n.ipv4_prefix, "            \
	"n.ipv6_prefix, n.port_min, n.port_max, n.max_pods, n.status, n.generation, "              \
	"n.created, n.last_seen, (SELECT count(*) FROM pods WHERE node_id = n.id), "               \
	"n.applied_generation"

static json_t *node_json(sqlite3_stmt *st)
{
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:I, "
	    "s:I, s:o, s:I, s:o}",
	    "id", mr__store_col_text(st, 0), "name", mr__store_col_text(st, 1), "region",
	    mr__store_col_text(st, 2), "endpoint", mr__store_col_text(st, 3), "ipv4_pool",
	    mr__store_col_text(st, 4), "ipv6_pool", mr__store_col_text(st, 5), "ipv4_prefix",
	    (json_int_t)sqlite3_column_int64(st, 6), "ipv6_prefix",
	    (json_int_t)sqlite3_column_int64(st, 7), "port_min",
	    (json_int_t)sqlite3_column_int64(st, 8), "port_max",
	    (json_int_t)sqlite3_column_int64(st, 9), "max_pods",
	    (json_int_t)sqlite3_column_int64(st, 10), "status", mr__store_col_text(st, 11),
	    "generation", (json_int_t)sqlite3_column_int64(st, 12), "created",
	    (json_int_t)sqlite3_column_int64(st, 13), "last_seen", mr__store_col_int(st, 14),
	    "pods", (json_int_t)sqlite3_column_int64(st, 15), "applied_generation",
	    mr__store_col_int(st, 16));
}

static int node_object(mr_store *s, const char *id, json_t **out)
{
	static const char sql[] = "SELECT " NODE_COLS " FROM nodes n WHERE n.id = ?1";
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0)
		return rc;
	rc = mr__store_step(s, st, "node");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return mr__error_set(MR_ENOTFOUND, "id: no such node");
	*out = node_json(st);
	sqlite3_reset(st);
	return *out ? 0 : mr__error_set(MR_ENOMEM, "node: out of memory");
}

/* A single-row, single-integer query with one text parameter. */
static int count_where(mr_store *s, const char *sql, const char *param, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, param)) < 0)
		return rc;
	rc = mr__store_step(s, st, "count");
	if (rc < 0)
		return rc;
	*out = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}

/* The lowest /16 of 10.64.0.0/10 that no node's IPv4 pool overlaps. */
static int default_ipv4_pool(mr_store *s, char out[MR_CIDR_STRLEN])
{
	static const char sql[] = "SELECT ipv4_pool FROM nodes";
	mr_prefix super, *used = NULL, cand;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	mr_cidr_parse_network(&super, DEFAULT_IPV4_SUPERNET);
	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	while ((rc = mr__store_step(s, st, "node pools")) == 1) {
		if (n == cap) {
			mr_prefix *p = realloc(used, (cap = cap ? cap * 2 : 16) * sizeof(*p));

			if (!p) {
				rc = mr__error_set(MR_ENOMEM, "node register: out of memory");
				goto out;
			}
			used = p;
		}
		if (mr_cidr_parse_network(&used[n], mr__store_col_text(st, 0)) == 0)
			n++;
	}
	if (rc < 0)
		goto out;
	cand = super;
	cand.len = DEFAULT_IPV4_POOL_LEN;
	for (unsigned i = 0; i < 1u << (DEFAULT_IPV4_POOL_LEN - super.len); i++) {
		bool taken = false;

		cand.addr[1] = (uint8_t)(super.addr[1] + i);
		for (size_t j = 0; j < n && !taken; j++)
			taken = mr_cidr_overlaps(&cand, &used[j]);
		if (!taken) {
			rc = mr_cidr_format(out, MR_CIDR_STRLEN, &cand);
			goto out;
		}
	}
	rc = mr__error_set(MR_EEXHAUSTED,
			   "ipv4_pool: every /16 of %s is used by a node; "
			   "give a pool",
			   DEFAULT_IPV4_SUPERNET);
out:
	sqlite3_reset(st);
	free(used);
	return rc;
}

/* A random unique local /48 (RFC 4193: fd00::/8 and a 40-bit global id). */
static int default_ipv6_pool(char out[MR_CIDR_STRLEN])
{
	mr_prefix p = {.family = MR_CIDR_INET6, .len = DEFAULT_IPV6_POOL_LEN};
	int rc;

	p.addr[0] = 0xfd;
	rc = mr__random(&p.addr[1], 5);
	if (rc < 0)
		return rc;
	return mr_cidr_format(out, MR_CIDR_STRLEN, &p);
}

/* Canonical text of a pool given in the request, and its length. */
static int canonical_pool(const char *text, char out[MR_CIDR_STRLEN], unsigned *len)
{
	mr_prefix p;
	int rc = mr_cidr_parse_network(&p, text);

	if (rc == 0)
		rc = mr_cidr_format(out, MR_CIDR_STRLEN, &p);
	if (rc == 0)
		*len = p.len;
	return rc;
}

static const struct store_field register_fields[] = {
    F_STR("name", RF_REQUIRED, mr__store_check_label),
    F_STR("region", RF_REQUIRED, mr__store_check_label),
    F_STR("endpoint", RF_REQUIRED, mr__store_check_host),
    F_STR("ipv4_pool", 0, check_ipv4_network),
    F_STR("ipv6_pool", 0, check_ipv6_network),
    F_INT("ipv4_prefix", 0, 1, 30),
    F_INT("ipv6_prefix", 0, 1, 126),
    F_INT("port_min", 0, 1, 65535),
    F_INT("port_max", 0, 1, 65535),
    F_INT("max_pods", 0, 1, 65535),
};

MR_API int mr_store_node_register(mr_store *s, const char *request, char **out)
{
	static const char sql_name[] = "SELECT count(*) FROM nodes WHERE name = ?1";
	static const char sql_insert[] =
	    "INSERT INTO nodes (id, name, region, endpoint, ipv4_pool, ipv6_pool, "
	    "ipv4_prefix, ipv6_prefix, port_min, port_max, max_pods, status, generation, "
	    "created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'provisioning', 1, "
	    "?12)";
	char pool4[MR_CIDR_STRLEN] = "", pool6[MR_CIDR_STRLEN] = "";
	char id[STORE_ID_SIZE], secret[MR_TOKEN_SIZE] = "", tid[MR_TOKEN_ID_SIZE];
	json_t *req = NULL, *node = NULL, *tok = NULL;
	const char *name;
	int64_t prefix4, prefix6, port_min, port_max, max_pods, taken;
	unsigned len4 = 0, len6 = 0;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "node register: %s is NULL",
				     s ? "output" : "store");
	rc = mr__store_parse(request, register_fields, MR_ARRAY_SIZE(register_fields), &req);
	if (rc < 0)
		return rc;
	name = mr__store_req_str(req, "name");
	prefix4 = mr__store_req_int(req, "ipv4_prefix", DEFAULT_IPV4_PREFIX);
	prefix6 = mr__store_req_int(req, "ipv6_prefix", DEFAULT_IPV6_PREFIX);
	port_min = mr__store_req_int(req, "port_min", DEFAULT_PORT_MIN);
	port_max = mr__store_req_int(req, "port_max", DEFAULT_PORT_MAX);
	max_pods = mr__store_req_int(req, "max_pods", port_max - port_min + 1);
	if (mr__store_req_str(req, "ipv4_pool")) {
		rc = canonical_pool(mr__store_req_str(req, "ipv4_pool"), pool4, &len4);
		if (rc < 0)
			goto out;
	} else {
		len4 = DEFAULT_IPV4_POOL_LEN;
	}
	if (mr__store_req_str(req, "ipv6_pool")) {
		rc = canonical_pool(mr__store_req_str(req, "ipv6_pool"), pool6, &len6);
		if (rc < 0)
			goto out;
	} else {
		len6 = DEFAULT_IPV6_POOL_LEN;
	}
	if (prefix4 <= len4) {
		rc =
		    mr__error_set(MR_EINVAL, "ipv4_prefix: /%lld is not longer than the pool's /%u",
				  (long long)prefix4, len4);
		goto out;
	}
	if (prefix6 <= len6) {
		rc =
		    mr__error_set(MR_EINVAL, "ipv6_prefix: /%lld is not longer than the pool's /%u",
				  (long long)prefix6, len6);
		goto out;
	}
	if (port_max < port_min) {
		rc = mr__error_set(MR_EINVAL, "port_max: %lld is below port_min %lld",
				   (long long)port_max, (long long)port_min);
		goto out;
	}
	if (!pool6[0] && (rc = default_ipv6_pool(pool6)) < 0)
		goto out;

	rc = mr__store_begin(s, true);
	if (rc < 0)
		goto out;
	rc = count_where(s, sql_name, name, &taken);
	if (rc == 0 && taken)
		rc = mr__error_set(MR_EEXIST, "name: a node with this name exists");
	if (rc == 0 && !pool4[0])
		rc = default_ipv4_pool(s, pool4);
	if (rc == 0)
		rc = mr__store_new_id(id, "nd_");
	if (rc == 0)
		rc = mr__store_prepare(s, sql_insert, &st);
	if (rc < 0)
		goto rollback;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0 ||
	    (rc = mr__store_bind_text(st, 2, name)) < 0 ||
	    (rc = mr__store_bind_text(st, 3, mr__store_req_str(req, "region"))) < 0 ||
	    (rc = mr__store_bind_text(st, 4, mr__store_req_str(req, "endpoint"))) < 0 ||
	    (rc = mr__store_bind_text(st, 5, pool4)) < 0 ||
	    (rc = mr__store_bind_text(st, 6, pool6)) < 0)
		goto rollback;
	sqlite3_bind_int64(st, 7, prefix4);
	sqlite3_bind_int64(st, 8, prefix6);
	sqlite3_bind_int64(st, 9, port_min);
	sqlite3_bind_int64(st, 10, port_max);
	sqlite3_bind_int64(st, 11, max_pods);
	sqlite3_bind_int64(st, 12, mr__store_now(s));
	rc = mr__store_exec_stmt(s, st, "node register");
	if (rc == 0)
		rc = mr__store_token_create(s, MR_TOKEN_NODE, id, name, false, 0, secret, tid);
	if (rc == 0)
		rc = mr__store_audit(s, "node.register", id,
				     json_pack("{s:s, s:s}", "name", name, "token", tid));
	if (rc == 0)
		rc = node_object(s, id, &node);
	if (rc == 0)
		rc = mr__store_token_object(s, tid, &tok);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0)
		goto rollback;
	rc = mr__store_result(json_pack("{s:o, s:o}", "node", node, "token", tok), "secret", secret,
			      out);
	node = tok = NULL;
	goto out;
rollback:
	mr__store_rollback(s);
out:
	json_decref(node);
	json_decref(tok);
	mr__wipe(secret, sizeof(secret));
	mr__store_req_free(req, register_fields, MR_ARRAY_SIZE(register_fields));
	return rc;
}

static const struct store_field node_list_fields[] = {
    F_STR("status", 0, check_node_status),
    F_STR("region", 0, mr__store_check_label),
};

MR_API int mr_store_node_list(mr_store *s, const char *request, char **out)
{
	static const char sql[] = "SELECT " NODE_COLS " FROM nodes n "
				  "WHERE (?1 IS NULL OR n.status = ?1) AND "
				  "(?2 IS NULL OR n.region = ?2) ORDER BY n.name";
	json_t *req = NULL, *arr;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "node list: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, node_list_fields, MR_ARRAY_SIZE(node_list_fields), &req);
	if (rc < 0)
		return rc;
	arr = json_array();
	if (!arr) {
		rc = mr__error_set(MR_ENOMEM, "node list: out of memory");
		goto out;
	}
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, mr__store_req_str(req, "status"))) == 0)
		rc = mr__store_bind_text(st, 2, mr__store_req_str(req, "region"));
	while (rc == 0 && (rc = mr__store_step(s, st, "node list")) == 1)
		rc = json_array_append_new(arr, node_json(st)) < 0
			 ? mr__error_set(MR_ENOMEM, "node list: out of memory")
			 : 0;
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		json_decref(arr);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:o}", "nodes", arr), NULL, NULL, out);
out:
	mr__store_req_free(req, node_list_fields, MR_ARRAY_SIZE(node_list_fields));
	return rc;
}

static const struct store_field id_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_node_id),
};

MR_API int mr_store_node_show(mr_store *s, const char *request, char **out)
{
	json_t *req = NULL, *node = NULL;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "node show: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, id_fields, MR_ARRAY_SIZE(id_fields), &req);
	if (rc < 0)
		return rc;
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = node_object(s, mr__store_req_str(req, "id"), &node);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:o}", "node", node), NULL, NULL, out);
out:
	mr__store_req_free(req, id_fields, MR_ARRAY_SIZE(id_fields));
	return rc;
}

static const struct store_field status_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_node_id),
    F_STR("status", RF_REQUIRED, check_node_status),
};

MR_API int mr_store_node_set_status(mr_store *s, const char *request, char **out)
{
	static const char sql_get[] = "SELECT status FROM nodes WHERE id = ?1";
	static const char sql_set[] = "UPDATE nodes SET status = ?2 WHERE id = ?1";
	json_t *req = NULL, *node = NULL;
	const char *id, *status;
	char old[16];
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "node status: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, status_fields, MR_ARRAY_SIZE(status_fields), &req);
	if (rc < 0)
		return rc;
	id = mr__store_req_str(req, "id");
	status = mr__store_req_str(req, "status");
	rc = mr__store_begin(s, true);
	if (rc == 0)
		rc = mr__store_prepare(s, sql_get, &st);
	if (rc == 0)
		rc = mr__store_bind_text(st, 1, id);
	if (rc == 0)
		rc = mr__store_step(s, st, "node status");
	if (rc == 0)
		rc = mr__error_set(MR_ENOTFOUND, "id: no such node");
	if (rc < 0)
		goto rollback;
	snprintf(old, sizeof(old), "%s", mr__store_col_text(st, 0));
	sqlite3_reset(st);
	rc = 0;
	/* Status is not part of the desired state: no generation change. */
	if (strcmp(old, status) != 0) {
		rc = mr__store_prepare(s, sql_set, &st);
		if (rc == 0 && (rc = mr__store_bind_text(st, 1, id)) == 0 &&
		    (rc = mr__store_bind_text(st, 2, status)) == 0)
			rc = mr__store_exec_stmt(s, st, "node status");
		if (rc == 0)
			rc = mr__store_audit(s, "node.status", id,
					     json_pack("{s:s, s:s}", "from", old, "to", status));
	}
	if (rc == 0)
		rc = node_object(s, id, &node);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0)
		goto rollback;
	rc = mr__store_result(json_pack("{s:o}", "node", node), NULL, NULL, out);
	goto out;
rollback:
	mr__store_rollback(s);
out:
	mr__store_req_free(req, status_fields, MR_ARRAY_SIZE(status_fields));
	return rc;
}

static const struct store_field node_delete_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_node_id),
    F_BOOL("force", 0),
};

MR_API int mr_store_node_delete(mr_store *s, const char *request, char **out)
{
	static const char sql_pods[] = "SELECT count(*) FROM pods WHERE node_id = ?1";
	static const char sql_exists[] = "SELECT count(*) FROM nodes WHERE id = ?1";
	static const char sql_delete[] = "DELETE FROM nodes WHERE id = ?1";
	json_t *req = NULL;
	int64_t pods = 0, exists, deleted = 0;
	bool force;
	const char *id;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "node delete: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, node_delete_fields, MR_ARRAY_SIZE(node_delete_fields), &req);
	if (rc < 0)
		return rc;
	id = mr__store_req_str(req, "id");
	force = mr__store_req_bool(req, "force", false);
	rc = mr__store_begin(s, true);
	if (rc == 0)
		rc = count_where(s, sql_exists, id, &exists);
	if (rc == 0 && !exists)
		rc = mr__error_set(MR_ENOTFOUND, "id: no such node");
	if (rc == 0)
		rc = count_where(s, sql_pods, id, &pods);
	if (rc == 0 && pods && !force)
		rc = mr__error_set(MR_ECONFLICT,
				   "id: the node has %lld pod%s (delete them or "
				   "use force)",
				   (long long)pods, pods == 1 ? "" : "s");
	if (rc == 0 && pods)
		rc = mr__store_delete_pods(s, NULL, id, "node.delete", &deleted);
	if (rc == 0)
		rc = mr__store_token_revoke_subject(s, id);
	if (rc == 0)
		rc = mr__store_prepare(s, sql_delete, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, id)) == 0)
		rc = mr__store_exec_stmt(s, st, "node delete");
	if (rc == 0)
		rc = mr__store_audit(
		    s, "node.delete", id,
		    json_pack("{s:I, s:b}", "pods", (json_int_t)deleted, "force", force));
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:s, s:I}", "deleted", id, "pods", (json_int_t)deleted),
			      NULL, NULL, out);
out:
	mr__store_req_free(req, node_delete_fields, MR_ARRAY_SIZE(node_delete_fields));
	return rc;
}

MR_API int mr_store_node_generation(mr_store *s, const char *node_id, int64_t *out)
{
	static const char sql[] = "SELECT generation FROM nodes WHERE id = ?1";
	sqlite3_stmt *st;
	int64_t gen = 0;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "node generation: %s is NULL",
				     s ? "output" : "store");
	if (!node_id || !mr__store_is_id(node_id, "nd_"))
		return mr__error_set(MR_EINVAL, "node: not a node id");
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = mr__store_prepare(s, sql, &st);
	if (rc == 0)
		rc = mr__store_bind_text(st, 1, node_id);
	if (rc == 0)
		rc = mr__store_step(s, st, "node generation");
	if (rc == 0)
		rc = mr__error_set(MR_ENOTFOUND, "node: no such node");
	if (rc == 1) {
		gen = sqlite3_column_int64(st, 0);
		rc = mr__store_commit(s);
	}
	if (rc < 0) {
		mr__store_rollback(s);
		return rc;
	}
	*out = gen;
	return 0;
}

/* --- customers ------------------------------------------------------------ */

#define CUSTOMER_COLS                                                                              \
	"c.id, c.name, c.transfer_limit, c.status, c.created, "                                    \
	"(SELECT count(*) FROM pods WHERE customer_id = c.id)"

static json_t *customer_json(sqlite3_stmt *st)
{
	return json_pack(
	    "{s:s, s:s, s:I, s:s, s:I, s:I}", "id", mr__store_col_text(st, 0), "name",
	    mr__store_col_text(st, 1), "transfer_limit", (json_int_t)sqlite3_column_int64(st, 2),
	    "status", mr__store_col_text(st, 3), "created", (json_int_t)sqlite3_column_int64(st, 4),
	    "pods", (json_int_t)sqlite3_column_int64(st, 5));
}

static int customer_object(mr_store *s, const char *id, json_t **out)
{
	static const char sql[] = "SELECT " CUSTOMER_COLS " FROM customers c WHERE c.id = ?1";
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0)
		return rc;
	rc = mr__store_step(s, st, "customer");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return mr__error_set(MR_ENOTFOUND, "id: no such customer");
	*out = customer_json(st);
	sqlite3_reset(st);
	return *out ? 0 : mr__error_set(MR_ENOMEM, "customer: out of memory");
}

static const struct store_field customer_create_fields[] = {
    F_STR("name", RF_REQUIRED, mr__store_check_label),
    F_INT("transfer_limit", 0, 0, INT64_MAX),
};

MR_API int mr_store_customer_create(mr_store *s, const char *request, char **out)
{
	static const char sql_name[] = "SELECT count(*) FROM customers WHERE name = ?1";
	static const char sql_insert[] = "INSERT INTO customers (id, name, transfer_limit, "
					 "status, created) VALUES (?1, ?2, ?3, 'active', ?4)";
	json_t *req = NULL, *cust = NULL;
	char id[STORE_ID_SIZE];
	const char *name;
	int64_t taken, limit;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "customer create: %s is NULL",
				     s ? "output" : "store");
	rc = mr__store_parse(request, customer_create_fields, MR_ARRAY_SIZE(customer_create_fields),
			     &req);
	if (rc < 0)
		return rc;
	name = mr__store_req_str(req, "name");
	limit = mr__store_req_int(req, "transfer_limit", 0);
	rc = mr__store_begin(s, true);
	if (rc == 0)
		rc = count_where(s, sql_name, name, &taken);
	if (rc == 0 && taken)
		rc = mr__error_set(MR_EEXIST, "name: a customer with this name exists");
	if (rc == 0)
		rc = mr__store_new_id(id, "cu_");
	if (rc == 0)
		rc = mr__store_prepare(s, sql_insert, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, id)) == 0 &&
	    (rc = mr__store_bind_text(st, 2, name)) == 0) {
		sqlite3_bind_int64(st, 3, limit);
		sqlite3_bind_int64(st, 4, mr__store_now(s));
		rc = mr__store_exec_stmt(s, st, "customer create");
	}
	if (rc == 0)
		rc = mr__store_audit(
		    s, "customer.create", id,
		    json_pack("{s:s, s:I}", "name", name, "transfer_limit", (json_int_t)limit));
	if (rc == 0)
		rc = customer_object(s, id, &cust);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:o}", "customer", cust), NULL, NULL, out);
out:
	mr__store_req_free(req, customer_create_fields, MR_ARRAY_SIZE(customer_create_fields));
	return rc;
}

MR_API int mr_store_customer_list(mr_store *s, const char *request, char **out)
{
	static const char sql[] = "SELECT " CUSTOMER_COLS " FROM customers c ORDER BY c.name";
	json_t *req = NULL, *arr;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "customer list: %s is NULL",
				     s ? "output" : "store");
	rc = mr__store_parse(request, NULL, 0, &req);
	if (rc < 0)
		return rc;
	arr = json_array();
	if (!arr) {
		rc = mr__error_set(MR_ENOMEM, "customer list: out of memory");
		goto out;
	}
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = mr__store_prepare(s, sql, &st);
	while (rc == 0 && (rc = mr__store_step(s, st, "customer list")) == 1)
		rc = json_array_append_new(arr, customer_json(st)) < 0
			 ? mr__error_set(MR_ENOMEM, "customer list: out of memory")
			 : 0;
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		json_decref(arr);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:o}", "customers", arr), NULL, NULL, out);
out:
	json_decref(req);
	return rc;
}

static const struct store_field customer_id_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_customer_id),
};

MR_API int mr_store_customer_show(mr_store *s, const char *request, char **out)
{
	json_t *req = NULL, *cust = NULL;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "customer show: %s is NULL",
				     s ? "output" : "store");
	rc = mr__store_parse(request, customer_id_fields, MR_ARRAY_SIZE(customer_id_fields), &req);
	if (rc < 0)
		return rc;
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = customer_object(s, mr__store_req_str(req, "id"), &cust);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:o}", "customer", cust), NULL, NULL, out);
out:
	json_decref(req);
	return rc;
}

static const struct store_field plan_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_customer_id),
    F_INT("transfer_limit", RF_REQUIRED, 0, INT64_MAX),
};

MR_API int mr_store_customer_set_plan(mr_store *s, const char *request, char **out)
{
	static const char sql_get[] = "SELECT transfer_limit FROM customers WHERE id = ?1";
	static const char sql_set[] = "UPDATE customers SET transfer_limit = ?2 WHERE id = ?1";
	json_t *req = NULL, *cust = NULL;
	const char *id;
	int64_t limit, old;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "customer plan: %s is NULL",
				     s ? "output" : "store");
	rc = mr__store_parse(request, plan_fields, MR_ARRAY_SIZE(plan_fields), &req);
	if (rc < 0)
		return rc;
	id = mr__store_req_str(req, "id");
	limit = mr__store_req_int(req, "transfer_limit", 0);
	rc = mr__store_begin(s, true);
	if (rc == 0)
		rc = mr__store_prepare(s, sql_get, &st);
	if (rc == 0)
		rc = mr__store_bind_text(st, 1, id);
	if (rc == 0)
		rc = mr__store_step(s, st, "customer plan");
	if (rc == 0)
		rc = mr__error_set(MR_ENOTFOUND, "id: no such customer");
	if (rc < 0)
		goto rollback;
	old = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	rc = 0;
	if (old != limit) {
		rc = mr__store_prepare(s, sql_set, &st);
		if (rc == 0 && (rc = mr__store_bind_text(st, 1, id)) == 0) {
			sqlite3_bind_int64(st, 2, limit);
			rc = mr__store_exec_stmt(s, st, "customer plan");
		}
		if (rc == 0)
			rc = mr__store_audit(s, "customer.plan", id,
					     json_pack("{s:I, s:I}", "from", (json_int_t)old, "to",
						       (json_int_t)limit));
		/* A new plan may release peers held for quota, or hold them. */
		if (rc == 0)
			rc = mr__store_quota_check(s, id);
	}
	if (rc == 0)
		rc = customer_object(s, id, &cust);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0)
		goto rollback;
	rc = mr__store_result(json_pack("{s:o}", "customer", cust), NULL, NULL, out);
	goto out;
rollback:
	mr__store_rollback(s);
out:
	json_decref(req);
	return rc;
}

static const struct store_field customer_delete_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_customer_id),
    F_BOOL("force", 0),
};

MR_API int mr_store_customer_delete(mr_store *s, const char *request, char **out)
{
	static const char sql_exists[] = "SELECT count(*) FROM customers WHERE id = ?1";
	static const char sql_pods[] = "SELECT count(*) FROM pods WHERE customer_id = ?1";
	static const char sql_delete[] = "DELETE FROM customers WHERE id = ?1";
	json_t *req = NULL;
	int64_t exists, pods = 0, deleted = 0;
	const char *id;
	bool force;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "customer delete: %s is NULL",
				     s ? "output" : "store");
	rc = mr__store_parse(request, customer_delete_fields, MR_ARRAY_SIZE(customer_delete_fields),
			     &req);
	if (rc < 0)
		return rc;
	id = mr__store_req_str(req, "id");
	force = mr__store_req_bool(req, "force", false);
	rc = mr__store_begin(s, true);
	if (rc == 0)
		rc = count_where(s, sql_exists, id, &exists);
	if (rc == 0 && !exists)
		rc = mr__error_set(MR_ENOTFOUND, "id: no such customer");
	if (rc == 0)
		rc = count_where(s, sql_pods, id, &pods);
	if (rc == 0 && pods && !force)
		rc = mr__error_set(MR_ECONFLICT,
				   "id: the customer has %lld pod%s (delete them "
				   "or use force)",
				   (long long)pods, pods == 1 ? "" : "s");
	if (rc == 0 && pods)
		rc = mr__store_delete_pods(s, id, NULL, "customer.delete", &deleted);
	if (rc == 0)
		rc = mr__store_prepare(s, sql_delete, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, id)) == 0)
		rc = mr__store_exec_stmt(s, st, "customer delete");
	if (rc == 0)
		rc = mr__store_audit(
		    s, "customer.delete", id,
		    json_pack("{s:I, s:b}", "pods", (json_int_t)deleted, "force", force));
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:s, s:I}", "deleted", id, "pods", (json_int_t)deleted),
			      NULL, NULL, out);
out:
	json_decref(req);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * Pods in the store, and the desired state of a node.
 *
 * Subnets, ports and interface names are allocated inside the write
 * transaction from what the pods table holds at that moment, so two writers
 * can never hand out the same one (the second waits for the first's commit),
 * and a pod's resources are free again the moment its row is gone.
 */
#include "store-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/cidr.h>
#include <myrelay/name.h>
#include <myrelay/token.h>

/* Attempts at a pod id whose interface name is free on the node. Names have
 * 24 bits, so even a node with thousands of pods needs a second try rarely. */
#define INTERFACE_ATTEMPTS 32

static const char *const pod_statuses[] = {"pending", "active", "deleting", "failed"};

static int check_pod_status(const char *v)
{
	for (size_t i = 0; i < MR_ARRAY_SIZE(pod_statuses); i++)
		if (strcmp(v, pod_statuses[i]) == 0)
			return 0;
	return mr__error_set(MR_EINVAL,
			     "expected \"pending\", \"active\", \"deleting\" or \"failed\"");
}

/* The pod interface's own address ("10.64.1.1/24") in a stored subnet. */
static int gateway(const char *subnet, char out[MR_CIDR_STRLEN])
{
	mr_cidr_hosts *hosts = NULL;
	mr_prefix p, gw;
	int rc;

	rc = mr_cidr_parse_network(&p, subnet);
	if (rc == 0)
		rc = mr_cidr_hosts_new(&hosts, &p);
	if (rc == 0)
		rc = mr_cidr_hosts_gateway(hosts, &gw);
	if (rc == 0)
		rc = mr_cidr_format(out, MR_CIDR_STRLEN, &gw);
	mr_cidr_hosts_free(hosts);
	if (rc < 0 && rc != MR_ENOMEM)
		return mr__error_set(MR_EDB, "pod: stored subnet is corrupt");
	return rc;
}

#define POD_COLS                                                                                   \
	"d.id, d.customer_id, d.node_id, d.interface, d.listen_port, d.ipv4_subnet, "              \
	"d.ipv6_subnet, d.public_key, d.status, d.error, d.created, n.endpoint, "                  \
	"(SELECT count(*) FROM peers WHERE pod_id = d.id)"
#define POD_FROM " FROM pods d JOIN nodes n ON n.id = d.node_id "

static int pod_json(sqlite3_stmt *st, json_t **out)
{
	char gw4[MR_CIDR_STRLEN], gw6[MR_CIDR_STRLEN], endpoint[300];
	const char *host = mr__store_col_text(st, 11);
	int port = sqlite3_column_int(st, 4);
	int rc;

	if ((rc = gateway(mr__store_col_text(st, 5), gw4)) < 0 ||
	    (rc = gateway(mr__store_col_text(st, 6), gw6)) < 0)
		return rc;
	/* An IPv6 literal needs brackets before the port (RFC 3986). */
	snprintf(endpoint, sizeof(endpoint), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	*out = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:[s,s], s:o, s:s, s:o, s:s, s:I, "
			 "s:I}",
			 "id", mr__store_col_text(st, 0), "customer", mr__store_col_text(st, 1),
			 "node", mr__store_col_text(st, 2), "interface", mr__store_col_text(st, 3),
			 "listen_port", port, "ipv4_subnet", mr__store_col_text(st, 5),
			 "ipv6_subnet", mr__store_col_text(st, 6), "addresses", gw4, gw6,
			 "public_key", mr__store_col_str(st, 7), "status",
			 mr__store_col_text(st, 8), "error", mr__store_col_str(st, 9), "endpoint",
			 endpoint, "created", (json_int_t)sqlite3_column_int64(st, 10), "peers",
			 (json_int_t)sqlite3_column_int64(st, 12));
	return *out ? 0 : mr__error_set(MR_ENOMEM, "pod: out of memory");
}

int mr__store_pod_object(mr_store *s, const char *id, json_t **out)
{
	static const char sql[] = "SELECT " POD_COLS POD_FROM "WHERE d.id = ?1";
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0)
		return rc;
	rc = mr__store_step(s, st, "pod");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return mr__error_set(MR_ENOTFOUND, "id: no such pod");
	rc = pod_json(st, out);
	sqlite3_reset(st);
	return rc;
}

/* The node's row as pod creation needs it. */
struct node_row {
	char status[16];
	mr_prefix pool4, pool6;
	int prefix4, prefix6;
	int64_t port_min, port_max, max_pods, pods;
};

static int read_node(mr_store *s, const char *id, struct node_row *n)
{
	static const char sql[] =
	    "SELECT status, ipv4_pool, ipv6_pool, ipv4_prefix, ipv6_prefix, port_min, "
	    "port_max, max_pods, (SELECT count(*) FROM pods WHERE node_id = nodes.id) "
	    "FROM nodes WHERE id = ?1";
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
		return mr__error_set(MR_ENOTFOUND, "node: no such node");
	snprintf(n->status, sizeof(n->status), "%s", mr__store_col_text(st, 0));
	if (mr_cidr_parse_network(&n->pool4, mr__store_col_text(st, 1)) < 0 ||
	    mr_cidr_parse_network(&n->pool6, mr__store_col_text(st, 2)) < 0) {
		sqlite3_reset(st);
		return mr__error_set(MR_EDB, "node: stored pool is corrupt");
	}
	n->prefix4 = sqlite3_column_int(st, 3);
	n->prefix6 = sqlite3_column_int(st, 4);
	n->port_min = sqlite3_column_int64(st, 5);
	n->port_max = sqlite3_column_int64(st, 6);
	n->max_pods = sqlite3_column_int64(st, 7);
	n->pods = sqlite3_column_int64(st, 8);
	sqlite3_reset(st);
	return 0;
}

/* The lowest free subnet of each family: the pools are rebuilt from the
 * node's pods, then asked for their lowest free entry. */
static int alloc_subnets(mr_store *s, const char *node_id, const struct node_row *n,
			 char sub4[MR_CIDR_STRLEN], char sub6[MR_CIDR_STRLEN])
{
	static const char sql[] = "SELECT ipv4_subnet, ipv6_subnet FROM pods WHERE node_id = ?1";
	mr_cidr_pool *pool4 = NULL, *pool6 = NULL;
	sqlite3_stmt *st = NULL;
	mr_prefix p;
	int rc;

	if ((rc = mr_cidr_pool_new(&pool4, &n->pool4, (unsigned)n->prefix4)) < 0 ||
	    (rc = mr_cidr_pool_new(&pool6, &n->pool6, (unsigned)n->prefix6)) < 0)
		goto out;
	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0)
		rc = mr__store_bind_text(st, 1, node_id);
	while (rc == 0 && (rc = mr__store_step(s, st, "pod subnets")) == 1) {
		rc = mr_cidr_parse_network(&p, mr__store_col_text(st, 0));
		if (rc == 0)
			rc = mr_cidr_pool_mark_used(pool4, &p);
		if (rc == 0)
			rc = mr_cidr_parse_network(&p, mr__store_col_text(st, 1));
		if (rc == 0)
			rc = mr_cidr_pool_mark_used(pool6, &p);
		if (rc < 0 && rc != MR_ENOMEM)
			rc = mr__error_set(MR_EDB, "node: stored pod subnet is corrupt");
	}
	if (rc < 0)
		goto out;
	rc = mr_cidr_pool_alloc(pool4, &p);
	if (rc == MR_EEXHAUSTED)
		rc = mr__error_set(rc, "node: no free IPv4 /%d left in its pool", n->prefix4);
	if (rc == 0)
		rc = mr_cidr_format(sub4, MR_CIDR_STRLEN, &p);
	if (rc < 0)
		goto out;
	rc = mr_cidr_pool_alloc(pool6, &p);
	if (rc == MR_EEXHAUSTED)
		rc = mr__error_set(rc, "node: no free IPv6 /%d left in its pool", n->prefix6);
	if (rc == 0)
		rc = mr_cidr_format(sub6, MR_CIDR_STRLEN, &p);
out:
	if (st)
		sqlite3_reset(st);
	mr_cidr_pool_free(pool4);
	mr_cidr_pool_free(pool6);
	return rc;
}

/* The lowest port of the node's range that no pod of the node listens on. */
static int alloc_port(mr_store *s, const char *node_id, const struct node_row *n, int64_t *out)
{
	static const char sql[] = "SELECT listen_port FROM pods WHERE node_id = ?1 "
				  "ORDER BY listen_port";
	int64_t next = n->port_min;
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0)
		rc = mr__store_bind_text(st, 1, node_id);
	while (rc == 0 && (rc = mr__store_step(s, st, "pod ports")) == 1) {
		int64_t port = sqlite3_column_int64(st, 0);

		if (port == next)
			next++;
		rc = port > next ? 2 : 0;
	}
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	if (next > n->port_max)
		return mr__error_set(MR_EEXHAUSTED, "node: no free port left in %lld-%lld",
				     (long long)n->port_min, (long long)n->port_max);
	*out = next;
	return 0;
}

/* A pod id whose interface name no pod of the node has. */
static int new_pod_id(mr_store *s, const char *node_id, char id[STORE_ID_SIZE],
		      char ifname[MR_NAME_IFNAMSIZ])
{
	static const char sql[] = "SELECT 1 FROM pods WHERE node_id = ?1 AND interface = ?2";
	sqlite3_stmt *st;
	int rc;

	for (int attempt = 0; attempt < INTERFACE_ATTEMPTS; attempt++) {
		if ((rc = mr__store_new_id(id, "pd_")) < 0 ||
		    (rc = mr_name_pod_interface(ifname, MR_NAME_IFNAMSIZ, id)) < 0 ||
		    (rc = mr__store_prepare(s, sql, &st)) < 0 ||
		    (rc = mr__store_bind_text(st, 1, node_id)) < 0 ||
		    (rc = mr__store_bind_text(st, 2, ifname)) < 0)
			return rc;
		rc = mr__store_step(s, st, "pod interface");
		sqlite3_reset(st);
		if (rc <= 0)
			return rc;
	}
	return mr__error_set(MR_EEXHAUSTED, "node: no free interface name found");
}

static const struct store_field create_fields[] = {
    F_STR("customer", RF_REQUIRED, mr__store_check_customer_id),
    F_STR("node", RF_REQUIRED, mr__store_check_node_id),
};

MR_API int mr_store_pod_create(mr_store *s, const char *request, char **out)
{
	static const char sql_customer[] = "SELECT 1 FROM customers WHERE id = ?1";
	static const char sql_existing[] = "SELECT id FROM pods WHERE customer_id = ?1 AND "
					   "node_id = ?2";
	static const char sql_insert[] =
	    "INSERT INTO pods (id, customer_id, node_id, interface, listen_port, "
	    "ipv4_subnet, ipv6_subnet, status, created) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)";
	char id[STORE_ID_SIZE], ifname[MR_NAME_IFNAMSIZ];
	char sub4[MR_CIDR_STRLEN], sub6[MR_CIDR_STRLEN];
	char secret[MR_TOKEN_SIZE] = "", tid[MR_TOKEN_ID_SIZE];
	json_t *req = NULL, *pod = NULL, *tok = NULL;
	const char *customer, *node_id;
	struct node_row node;
	int64_t port = 0;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "pod create: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, create_fields, MR_ARRAY_SIZE(create_fields), &req);
	if (rc < 0)
		return rc;
	customer = mr__store_req_str(req, "customer");
	node_id = mr__store_req_str(req, "node");
	rc = mr__store_begin(s, true);
	if (rc < 0)
		goto out;
	rc = mr__store_prepare(s, sql_customer, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, customer)) == 0)
		rc = mr__store_step(s, st, "customer");
	if (rc == 0)
		rc = mr__error_set(MR_ENOTFOUND, "customer: no such customer");
	if (rc < 0)
		goto rollback;
	sqlite3_reset(st);
	rc = read_node(s, node_id, &node);
	if (rc < 0)
		goto rollback;
	if (strcmp(node.status, "draining") == 0) {
		rc = mr__error_set(MR_ECONFLICT, "node: draining, it takes no new pods");
		goto rollback;
	}
	rc = mr__store_prepare(s, sql_existing, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, customer)) == 0 &&
	    (rc = mr__store_bind_text(st, 2, node_id)) == 0)
		rc = mr__store_step(s, st, "pod");
	if (rc == 1)
		rc = mr__error_set(MR_EEXIST, "node: the customer has a pod there already (%s)",
				   mr__store_col_text(st, 0));
	if (rc < 0)
		goto rollback;
	if (node.pods >= node.max_pods) {
		rc = mr__error_set(MR_EEXHAUSTED, "node: max_pods (%lld) reached",
				   (long long)node.max_pods);
		goto rollback;
	}
	if ((rc = alloc_subnets(s, node_id, &node, sub4, sub6)) < 0 ||
	    (rc = alloc_port(s, node_id, &node, &port)) < 0 ||
	    (rc = new_pod_id(s, node_id, id, ifname)) < 0 ||
	    (rc = mr__store_prepare(s, sql_insert, &st)) < 0)
		goto rollback;
	if ((rc = mr__store_bind_text(st, 1, id)) < 0 ||
	    (rc = mr__store_bind_text(st, 2, customer)) < 0 ||
	    (rc = mr__store_bind_text(st, 3, node_id)) < 0 ||
	    (rc = mr__store_bind_text(st, 4, ifname)) < 0 ||
	    (rc = mr__store_bind_text(st, 6, sub4)) < 0 ||
	    (rc = mr__store_bind_text(st, 7, sub6)) < 0)
		goto rollback;
	sqlite3_bind_int64(st, 5, port);
	sqlite3_bind_int64(st, 8, mr__store_now(s));
	rc = mr__store_exec_stmt(s, st, "pod create");
	if (rc == 0)
		rc = mr__store_token_create(s, MR_TOKEN_POD, id, NULL, false, 0, secret, tid);
	if (rc == 0)
		rc = mr__store_bump(s, node_id);
	if (rc == 0)
		rc = mr__store_audit(s, "pod.create", id,
				     json_pack("{s:s, s:s, s:s}", "customer", customer, "node",
					       node_id, "token", tid));
	if (rc == 0)
		rc = mr__store_pod_object(s, id, &pod);
	if (rc == 0)
		rc = mr__store_token_object(s, tid, &tok);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0)
		goto rollback;
	rc = mr__store_result(json_pack("{s:o, s:o}", "pod", pod, "token", tok), "secret", secret,
			      out);
	pod = tok = NULL;
	goto out;
rollback:
	mr__store_rollback(s);
out:
	json_decref(pod);
	json_decref(tok);
	mr__wipe(secret, sizeof(secret));
	mr__store_req_free(req, create_fields, MR_ARRAY_SIZE(create_fields));
	return rc;
}

static const struct store_field list_fields[] = {
    F_STR("customer", 0, mr__store_check_customer_id),
    F_STR("node", 0, mr__store_check_node_id),
    F_STR("status", 0, check_pod_status),
};

MR_API int mr_store_pod_list(mr_store *s, const char *request, char **out)
{
	static const char sql[] =
	    "SELECT " POD_COLS POD_FROM "WHERE (?1 IS NULL OR d.customer_id = ?1) AND "
	    "(?2 IS NULL OR d.node_id = ?2) AND (?3 IS NULL OR d.status = ?3) "
	    "ORDER BY d.id";
	json_t *req = NULL, *arr, *pod;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "pod list: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, list_fields, MR_ARRAY_SIZE(list_fields), &req);
	if (rc < 0)
		return rc;
	arr = json_array();
	if (!arr) {
		rc = mr__error_set(MR_ENOMEM, "pod list: out of memory");
		goto out;
	}
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, mr__store_req_str(req, "customer"))) == 0 &&
	    (rc = mr__store_bind_text(st, 2, mr__store_req_str(req, "node"))) == 0)
		rc = mr__store_bind_text(st, 3, mr__store_req_str(req, "status"));
	while (rc == 0 && (rc = mr__store_step(s, st, "pod list")) == 1) {
		rc = pod_json(st, &pod);
		if (rc == 0 && json_array_append_new(arr, pod) < 0)
			rc = mr__error_set(MR_ENOMEM, "pod list: out of memory");
	}
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		json_decref(arr);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:o}", "pods", arr), NULL, NULL, out);
out:
	json_decref(req);
	return rc;
}

static const struct store_field id_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_pod_id),
};

MR_API int mr_store_pod_show(mr_store *s, const char *request, char **out)
{
	json_t *req = NULL, *pod = NULL;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "pod show: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, id_fields, MR_ARRAY_SIZE(id_fields), &req);
	if (rc < 0)
		return rc;
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = mr__store_pod_object(s, mr__store_req_str(req, "id"), &pod);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		goto out;
	}
	rc = mr__store_result(json_pack("{s:o}", "pod", pod), NULL, NULL, out);
out:
	json_decref(req);
	return rc;
}

struct pod_ref {
	char id[STORE_ID_SIZE];
	char node[STORE_ID_SIZE];
	char customer[STORE_ID_SIZE];
	int64_t peers;
};

static int delete_pod(mr_store *s, const struct pod_ref *p, const char *cause)
{
	static const char sql[] = "DELETE FROM pods WHERE id = ?1";
	sqlite3_stmt *st;
	int rc;

	/* Peers go with the row (ON DELETE CASCADE); the tokens stay, revoked,
	 * so that the audit log's actors remain resolvable. */
	if ((rc = mr__store_token_revoke_subject(s, p->id)) < 0 ||
	    (rc = mr__store_prepare(s, sql, &st)) < 0 ||
	    (rc = mr__store_bind_text(st, 1, p->id)) < 0 ||
	    (rc = mr__store_exec_stmt(s, st, "pod delete")) < 0 ||
	    (rc = mr__store_bump(s, p->node)) < 0)
		return rc;
	return mr__store_audit(s, "pod.delete", p->id,
			       json_pack("{s:s, s:s, s:I, s:o}", "node", p->node, "customer",
					 p->customer, "peers", (json_int_t)p->peers, "cause",
					 cause ? json_string(cause) : json_null()));
}

int mr__store_delete_pods(mr_store *s, const char *customer_id, const char *node_id,
			  const char *cause, int64_t *count)
{
	static const char sql[] = "SELECT id, node_id, customer_id, "
				  "(SELECT count(*) FROM peers WHERE pod_id = pods.id) FROM pods "
				  "WHERE (?1 IS NULL OR customer_id = ?1) AND "
				  "(?2 IS NULL OR node_id = ?2) ORDER BY id";
	struct pod_ref *refs = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, customer_id)) == 0)
		rc = mr__store_bind_text(st, 2, node_id);
	/* Collect before deleting: the DELETEs change the table being read. */
	while (rc == 0 && (rc = mr__store_step(s, st, "pods")) == 1) {
		if (n == cap) {
			struct pod_ref *r = realloc(refs, (cap ? cap * 2 : 8) * sizeof(*r));

			if (!r) {
				rc = mr__error_set(MR_ENOMEM, "pod delete: out of memory");
				break;
			}
			refs = r;
			cap = cap ? cap * 2 : 8;
		}
		snprintf(refs[n].id, STORE_ID_SIZE, "%s", mr__store_col_text(st, 0));
		snprintf(refs[n].node, STORE_ID_SIZE, "%s", mr__store_col_text(st, 1));
		snprintf(refs[n].customer, STORE_ID_SIZE, "%s", mr__store_col_text(st, 2));
		refs[n].peers = sqlite3_column_int64(st, 3);
		n++;
		rc = 0;
	}
	sqlite3_reset(st);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = delete_pod(s, &refs[i], cause);
	if (rc == 0)
		*count = (int64_t)n;
	free(refs);
	return rc;
}

MR_API int mr_store_pod_delete(mr_store *s, const char *request, char **out)
{
	static const char sql[] = "SELECT node_id, customer_id, "
				  "(SELECT count(*) FROM peers WHERE pod_id = pods.id) "
				  "FROM pods WHERE id = ?1";
	json_t *req = NULL;
	struct pod_ref ref;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "pod delete: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, id_fields, MR_ARRAY_SIZE(id_fields), &req);
	if (rc < 0)
		return rc;
	snprintf(ref.id, sizeof(ref.id), "%s", mr__store_req_str(req, "id"));
	rc = mr__store_begin(s, true);
	if (rc == 0)
		rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, ref.id)) == 0)
		rc = mr__store_step(s, st, "pod");
	if (rc == 0)
		rc = mr__error_set(MR_ENOTFOUND, "id: no such pod");
	if (rc < 0)
		goto rollback;
	snprintf(ref.node, sizeof(ref.node), "%s", mr__store_col_text(st, 0));
	snprintf(ref.customer, sizeof(ref.customer), "%s", mr__store_col_text(st, 1));
	ref.peers = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	rc = delete_pod(s, &ref, NULL);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0)
		goto rollback;
	rc = mr__store_result(
	    json_pack("{s:s, s:I}", "deleted", ref.id, "peers", (json_int_t)ref.peers), NULL, NULL,
	    out);
	goto out;
rollback:
	mr__store_rollback(s);
out:
	json_decref(req);
	return rc;
}

/* --- desired state --------------------------------------------------------- */

static int desired_pods(mr_store *s, const char *node_id, json_t *pods, json_t *by_id)
{
	static const char sql[] = "SELECT id, interface, listen_port, ipv4_subnet, ipv6_subnet "
				  "FROM pods WHERE node_id = ?1 ORDER BY id";
	char gw4[MR_CIDR_STRLEN], gw6[MR_CIDR_STRLEN];
	sqlite3_stmt *st;
	json_t *peers, *pod;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0)
		rc = mr__store_bind_text(st, 1, node_id);
	while (rc == 0 && (rc = mr__store_step(s, st, "desired state")) == 1) {
		if ((rc = gateway(mr__store_col_text(st, 3), gw4)) < 0 ||
		    (rc = gateway(mr__store_col_text(st, 4), gw6)) < 0)
			break;
		peers = json_array();
		pod = json_pack("{s:s, s:s, s:i, s:[s,s], s:o}", "id", mr__store_col_text(st, 0),
				"interface", mr__store_col_text(st, 1), "listen_port",
				sqlite3_column_int(st, 2), "addresses", gw4, gw6, "peers",
				json_incref(peers));
		if (!pod)
			json_decref(peers);
		if (!pod || json_array_append_new(pods, pod) < 0 ||
		    json_object_set_new(by_id, mr__store_col_text(st, 0), peers) < 0) {
			rc = mr__error_set(MR_ENOMEM, "desired state: out of memory");
			break;
		}
	}
	sqlite3_reset(st);
	return rc;
}

/* Peers of every pod of the node in one query, appended to their pod's
 * array; preshared keys are also kept in secrets to be wiped afterwards. */
static int desired_peers(mr_store *s, const char *node_id, json_t *by_id, json_t *secrets)
{
	static const char sql[] =
	    "SELECT p.pod_id, p.public_key, p.ipv4_address, p.ipv6_address, p.preshared_key "
	    "FROM peers p JOIN pods d ON d.id = p.pod_id WHERE d.node_id = ?1 AND "
	    "p.enabled = 1 AND (p.expires IS NULL OR p.expires > ?2) ORDER BY p.pod_id, p.id";
	char a4[MR_CIDR_STRLEN + 4], a6[MR_CIDR_STRLEN + 4];
	sqlite3_stmt *st;
	json_t *arr, *peer, *psk;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0)
		rc = mr__store_bind_text(st, 1, node_id);
	if (rc == 0)
		sqlite3_bind_int64(st, 2, mr__store_now(s));
	while (rc == 0 && (rc = mr__store_step(s, st, "desired state")) == 1) {
		arr = json_object_get(by_id, mr__store_col_text(st, 0));
		snprintf(a4, sizeof(a4), "%s/32", mr__store_col_text(st, 2));
		snprintf(a6, sizeof(a6), "%s/128", mr__store_col_text(st, 3));
		peer = json_pack("{s:s, s:[s,s]}", "public_key", mr__store_col_text(st, 1),
				 "allowed_ips", a4, a6);
		rc = peer ? 0 : mr__error_set(MR_ENOMEM, "desired state: out of memory");
		if (rc == 0 && sqlite3_column_type(st, 4) != SQLITE_NULL) {
			psk = json_string(mr__store_col_text(st, 4));
			if (!psk || json_array_append(secrets, psk) < 0 ||
			    json_object_set_new(peer, "preshared_key", psk) < 0)
				rc = mr__error_set(MR_ENOMEM, "desired state: out of memory");
		}
		if (rc == 0 && json_object_set_new(peer, "enabled", json_true()) < 0)
			rc = mr__error_set(MR_ENOMEM, "desired state: out of memory");
		if (rc == 0 && (!arr || json_array_append(arr, peer) < 0))
			rc = mr__error_set(MR_ENOMEM, "desired state: out of memory");
		json_decref(peer);
	}
	sqlite3_reset(st);
	return rc;
}

MR_API int mr_store_node_desired(mr_store *s, const char *node_id, char **out)
{
	static const char sql[] = "SELECT generation FROM nodes WHERE id = ?1";
	json_t *pods = NULL, *by_id = NULL, *secrets = NULL, *result;
	sqlite3_stmt *st;
	int64_t gen = 0;
	size_t i;
	json_t *v;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "desired state: %s is NULL",
				     s ? "output" : "store");
	if (!node_id || !mr__store_is_id(node_id, "nd_"))
		return mr__error_set(MR_EINVAL, "node: not a node id");
	pods = json_array();
	by_id = json_object();
	secrets = json_array();
	if (!pods || !by_id || !secrets) {
		rc = mr__error_set(MR_ENOMEM, "desired state: out of memory");
		goto out;
	}
	/* One read transaction: generation, pods and peers are one snapshot,
	 * so the generation always names exactly this content. */
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, node_id)) == 0)
		rc = mr__store_step(s, st, "desired state");
	if (rc == 0)
		rc = mr__error_set(MR_ENOTFOUND, "node: no such node");
	if (rc == 1) {
		gen = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		rc = desired_pods(s, node_id, pods, by_id);
	}
	if (rc == 0)
		rc = desired_peers(s, node_id, by_id, secrets);
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		goto out;
	}
	result = json_pack("{s:I, s:O}", "generation", (json_int_t)gen, "pods", pods);
	rc = mr__store_result(result, NULL, NULL, out);
out:
	json_decref(pods);
	json_decref(by_id);
	json_array_foreach(secrets, i, v)
	    mr__wipe((char *)json_string_value(v), json_string_length(v));
	json_decref(secrets);
	return rc;
}

/* SPDX-License-Identifier: MIT */
/*
 * The route table. Most routes are one store operation: the request object
 * is built from the path parameters, the token's own pod or node (for pod
 * and node tokens), the declared query parameters and the members of the
 * JSON body (jansson), and the store's result is the answer. A body that
 * names a member the server puts there itself (a pod token's "pod") or
 * gives a member twice is refused with 400, so it can never override one.
 */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include <myrelay/error.h>
#include <myrelay/token.h>
#include <myrelay/version.h>

#define ADMIN MR_TOKEN_SCOPE_ADMIN
#define PEERS MR_TOKEN_SCOPE_POD_PEERS
#define NODE MR_TOKEN_SCOPE_NODE_STATE

static int h_healthz(struct request *r);
static int h_metrics(struct request *r);
static int h_status(struct request *r);
static int h_desired(struct request *r);
static int h_report(struct request *r);

static const struct qparam q_none[] = {{NULL, Q_STR}};
static const struct qparam q_nodes[] = {{"status", Q_STR}, {"region", Q_STR}, {NULL, Q_STR}};
static const struct qparam q_force[] = {{"force", Q_BOOL}, {NULL, Q_STR}};
static const struct qparam q_pods[] = {
    {"customer", Q_STR}, {"node", Q_STR}, {"status", Q_STR}, {NULL, Q_STR}};
static const struct qparam q_peers[] = {{"enabled", Q_BOOL}, {NULL, Q_STR}};
static const struct qparam q_tokens[] = {
    {"kind", Q_STR}, {"subject", Q_STR}, {"revoked", Q_BOOL}, {NULL, Q_STR}};
static const struct qparam q_audit[] = {{"subject", Q_STR}, {"actor", Q_STR}, {"action", Q_STR},
					{"since", Q_INT},   {"until", Q_INT}, {"before", Q_INT},
					{"limit", Q_INT},   {NULL, Q_STR}};
static const struct qparam q_usage[] = {{"customer", Q_STR}, {"month", Q_STR}, {NULL, Q_STR}};
static const struct qparam q_desired[] = {{"after", Q_INT}, {"timeout", Q_INT}, {NULL, Q_STR}};

/* clang-format off */
const struct route server_routes[] = {
	{ "GET", "/healthz", 0, 0, NULL, NULL, NULL, h_healthz, q_none, "liveness and database check" },
	{ "GET", "/metrics", ADMIN, R_METRICS, NULL, NULL, NULL, h_metrics, q_none, "Prometheus metrics" },
	{ "GET", "/v1/status", ADMIN, 0, NULL, NULL, NULL, h_status, q_none, "overview counts" },

	{ "POST", "/v1/nodes", ADMIN, R_CREATED, NULL, NULL, mr_store_node_register, NULL, q_none, "register a node (returns its token once)" },
	{ "GET", "/v1/nodes", ADMIN, 0, NULL, NULL, mr_store_node_list, NULL, q_nodes, "list nodes" },
	{ "GET", "/v1/nodes/{id}", ADMIN, 0, NULL, NULL, mr_store_node_show, NULL, q_none, "show a node" },
	{ "POST", "/v1/nodes/{id}/status", ADMIN, 0, NULL, NULL, mr_store_node_set_status, NULL, q_none, "set a node's status" },
	{ "PATCH", "/v1/nodes/{id}/status", ADMIN, 0, NULL, NULL, mr_store_node_set_status, NULL, q_none, "set a node's status" },
	{ "DELETE", "/v1/nodes/{id}", ADMIN, 0, NULL, NULL, mr_store_node_delete, NULL, q_force, "delete a node" },

	{ "POST", "/v1/customers", ADMIN, R_CREATED, NULL, NULL, mr_store_customer_create, NULL, q_none, "create a customer" },
	{ "GET", "/v1/customers", ADMIN, 0, NULL, NULL, mr_store_customer_list, NULL, q_none, "list customers" },
	{ "GET", "/v1/customers/{id}", ADMIN, 0, NULL, NULL, mr_store_customer_show, NULL, q_none, "show a customer" },
	{ "POST", "/v1/customers/{id}/plan", ADMIN, 0, NULL, NULL, mr_store_customer_set_plan, NULL, q_none, "change a customer's plan" },
	{ "PATCH", "/v1/customers/{id}/plan", ADMIN, 0, NULL, NULL, mr_store_customer_set_plan, NULL, q_none, "change a customer's plan" },
	{ "DELETE", "/v1/customers/{id}", ADMIN, 0, NULL, NULL, mr_store_customer_delete, NULL, q_force, "delete a customer" },
	{ "GET", "/v1/usage", ADMIN, 0, NULL, NULL, mr_store_usage, NULL, q_usage, "transfer use per month" },

	{ "POST", "/v1/pods", ADMIN, R_CREATED, NULL, NULL, mr_store_pod_create, NULL, q_none, "create a pod (returns its token once)" },
	{ "GET", "/v1/pods", ADMIN, 0, NULL, NULL, mr_store_pod_list, NULL, q_pods, "list pods" },
	{ "GET", "/v1/pods/{id}", PEERS, 0, NULL, "id", mr_store_pod_show, NULL, q_none, "show a pod" },
	{ "DELETE", "/v1/pods/{id}", ADMIN, 0, NULL, NULL, mr_store_pod_delete, NULL, q_none, "delete a pod" },
	{ "GET", "/v1/pods/{pod}/peers", PEERS, 0, NULL, "pod", mr_store_peer_list, NULL, q_peers, "list a pod's peers" },
	{ "POST", "/v1/pods/{pod}/peers", PEERS, R_CREATED, NULL, "pod", mr_store_peer_add, NULL, q_none, "add a peer" },
	{ "GET", "/v1/pods/{pod}/peers/{id}", PEERS, 0, NULL, "pod", mr_store_peer_show, NULL, q_none, "show a peer" },
	{ "DELETE", "/v1/pods/{pod}/peers/{id}", PEERS, 0, NULL, "pod", mr_store_peer_remove, NULL, q_none, "remove a peer" },
	{ "POST", "/v1/pods/{pod}/peers/{id}/enable", PEERS, 0, NULL, "pod", mr_store_peer_enable, NULL, q_none, "enable a peer" },
	{ "POST", "/v1/pods/{pod}/peers/{id}/disable", PEERS, 0, NULL, "pod", mr_store_peer_disable, NULL, q_none, "disable a peer" },
	{ "POST", "/v1/pods/{pod}/peers/{id}/rename", PEERS, 0, NULL, "pod", mr_store_peer_rename, NULL, q_none, "rename a peer" },
	{ "POST", "/v1/pods/{pod}/peers/{id}/expiry", PEERS, 0, NULL, "pod", mr_store_peer_set_expiry, NULL, q_none, "set or clear a peer's expiry" },

	{ "POST", "/v1/tokens", ADMIN, R_CREATED, NULL, NULL, mr_store_token_issue, NULL, q_none, "issue a token (returns it once)" },
	{ "GET", "/v1/tokens", ADMIN, 0, NULL, NULL, mr_store_token_list, NULL, q_tokens, "list tokens" },
	{ "POST", "/v1/tokens/{id}/revoke", ADMIN, 0, NULL, NULL, mr_store_token_revoke, NULL, q_none, "revoke a token" },
	{ "POST", "/v1/tokens/{id}/expiry", ADMIN, 0, NULL, NULL, mr_store_token_set_expiry, NULL, q_none, "set or clear a token's expiry" },
	{ "GET", "/v1/audit", ADMIN, 0, NULL, NULL, mr_store_audit_list, NULL, q_audit, "read the audit log" },

	{ "GET", "/v1/pod", PEERS, R_POD_SELF, "id", NULL, mr_store_pod_show, NULL, q_none, "the token's pod" },
	{ "GET", "/v1/pod/peers", PEERS, R_POD_SELF, "pod", NULL, mr_store_peer_list, NULL, q_peers, "list the pod's peers" },
	{ "POST", "/v1/pod/peers", PEERS, R_POD_SELF | R_CREATED, "pod", NULL, mr_store_peer_add, NULL, q_none, "add a peer" },
	{ "GET", "/v1/pod/peers/{id}", PEERS, R_POD_SELF, "pod", NULL, mr_store_peer_show, NULL, q_none, "show a peer" },
	{ "DELETE", "/v1/pod/peers/{id}", PEERS, R_POD_SELF, "pod", NULL, mr_store_peer_remove, NULL, q_none, "remove a peer" },
	{ "POST", "/v1/pod/peers/{id}/enable", PEERS, R_POD_SELF, "pod", NULL, mr_store_peer_enable, NULL, q_none, "enable a peer" },
	{ "POST", "/v1/pod/peers/{id}/disable", PEERS, R_POD_SELF, "pod", NULL, mr_store_peer_disable, NULL, q_none, "disable a peer" },
	{ "POST", "/v1/pod/peers/{id}/rename", PEERS, R_POD_SELF, "pod", NULL, mr_store_peer_rename, NULL, q_none, "rename a peer" },
	{ "POST", "/v1/pod/peers/{id}/expiry", PEERS, R_POD_SELF, "pod", NULL, mr_store_peer_set_expiry, NULL, q_none, "set or clear a peer's expiry" },

	{ "GET", "/v1/node", NODE, R_NODE_SELF, "id", NULL, mr_store_node_show, NULL, q_none, "the token's node" },
	{ "GET", "/v1/node/desired", NODE, R_NODE_SELF | R_LONGPOLL, NULL, NULL, NULL, h_desired, q_desired, "desired state (long poll)" },
	{ "POST", "/v1/node/report", NODE, R_NODE_SELF, NULL, NULL, NULL, h_report, q_none, "report pod keys, errors and counters" },
};
/* clang-format on */
const size_t server_n_routes = sizeof(server_routes) / sizeof(server_routes[0]);

/* --- matching ------------------------------------------------------------ */

/* Compare a pattern with a path segment by segment; "{name}" matches one
 * non-empty segment. Parameters are recorded only when out is given. */
static bool match_pattern(const char *pattern, const char *url, struct request *out)
{
	const char *p = pattern, *u = url;
	size_t n = 0;

	while (*p && *u) {
		const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
		size_t pl, ul;

		if (*p != '/' || *u != '/')
			return false;
		p++;
		u++;
		pe = strchr(p, '/');
		ue = strchr(u, '/');
		pl = pe ? (size_t)(pe - p) : strlen(p);
		ul = ue ? (size_t)(ue - u) : strlen(u);
		if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
			if (ul == 0 || n >= 2)
				return false;
			if (out)
				out->param_value[n] = (char *)u;
			n++;
		} else if (pl != ul || memcmp(p, u, pl) != 0) {
			return false;
		}
		p += pl;
		u += ul;
	}
	if (*p || *u)
		return false;
	if (out)
		out->n_params = n;
	return true;
}

int routes_match(struct request *r, const char *method, const char *url, char *allow,
		 size_t allow_size)
{
	bool path_known = false;
	int found = -1;

	allow[0] = '\0';
	for (size_t i = 0; i < server_n_routes; i++) {
		const struct route *rt = &server_routes[i];

		if (!match_pattern(rt->pattern, url, NULL))
			continue;
		if (strcmp(rt->method, method) == 0) {
			found = (int)i;
			break;
		}
		if (!strstr(allow, rt->method) &&
		    strlen(allow) + strlen(rt->method) + 3 < allow_size) {
			if (allow[0])
				strcat(allow, ", ");
			strcat(allow, rt->method);
		}
		path_known = true;
	}
	if (found < 0)
		return path_known ? -2 : -1;

	/* Keep a private copy of the path, cut into parameter values named
	 * after the pattern's placeholders. */
	r->url = strdup(url);
	if (!r->url || !match_pattern(server_routes[found].pattern, r->url, r))
		return -1;
	{
		const char *b = server_routes[found].pattern;

		for (size_t n = 0; n < r->n_params; n++) {
			const char *e;
			size_t len;

			b = strchr(b, '{');
			e = b ? strchr(b, '}') : NULL;
			if (!e || (len = (size_t)(e - b - 1)) >= sizeof(r->param_name[n]))
				return -1;
			memcpy(r->param_name[n], b + 1, len);
			r->param_name[n][len] = '\0';
			b = e;
		}
		for (size_t i = 0; i < r->n_params; i++) {
			char *slash = strchr(r->param_value[i], '/');

			if (slash)
				*slash = '\0';
		}
	}
	return found;
}

void routes_print(void)
{
	for (size_t i = 0; i < server_n_routes; i++) {
		const struct route *rt = &server_routes[i];
		const char *auth;

		if (!rt->scope)
			auth = "none";
		else if (rt->flags & R_POD_SELF)
			auth = "pod";
		else if (rt->flags & R_NODE_SELF)
			auth = "node";
		else if (rt->scope == MR_TOKEN_SCOPE_POD_PEERS)
			auth = "admin,pod";
		else
			auth = "admin";
		printf("%-6s %-36s %-9s %s\n", rt->method, rt->pattern, auth, rt->summary);
	}
}

/* --- building store requests --------------------------------------------- */

struct qctx {
	struct request *r;
	const struct qparam *allowed;
	json_t *req; /* members are added here; NULL: only checked */
	char error[160];
	const struct qparam *seen[16];
	size_t n_seen;
};

static bool showable(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* Members the server fills in from the path, the token or the query. */
static bool rt_member_taken(struct request *r, const char *name)
{
	const struct qparam *q;

	for (size_t i = 0; i < r->n_params; i++)
		if (strcmp(r->param_name[i], name) == 0)
			return true;
	if (r->route->self_member && strcmp(r->route->self_member, name) == 0)
		return true;
	for (q = r->route->query; q->name; q++)
		if (strcmp(q->name, name) == 0 &&
		    MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name))
			return true;
	return false;
}

static enum MHD_Result query_cb(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct qctx *q = cls;
	const struct qparam *p;
	json_t *v = NULL;

	(void)kind;
	for (p = q->allowed; p->name; p++)
		if (strcmp(p->name, key) == 0)
			break;
	if (!p->name) {
		if (showable(key))
			snprintf(q->error, sizeof(q->error), "unknown query parameter \"%s\"", key);
		else
			snprintf(q->error, sizeof(q->error), "unknown query parameter");
		return MHD_NO;
	}
	if (!value) {
		snprintf(q->error, sizeof(q->error), "query parameter \"%s\" needs a value", key);
		return MHD_NO;
	}
	for (size_t i = 0; i < q->n_seen; i++) {
		if (q->seen[i] == p) {
			snprintf(q->error, sizeof(q->error), "query parameter \"%s\" given twice",
				 key);
			return MHD_NO;
		}
	}
	if (q->n_seen < sizeof(q->seen) / sizeof(q->seen[0]))
		q->seen[q->n_seen++] = p;
	switch (p->type) {
	case Q_INT: {
		char *end;
		long long n;

		errno = 0;
		n = strtoll(value, &end, 10);
		if (errno || end == value || *end ||
		    (value[0] != '-' && !(value[0] >= '0' && value[0] <= '9'))) {
			snprintf(q->error, sizeof(q->error),
				 "query parameter \"%s\": expected an integer", key);
			return MHD_NO;
		}
		v = json_integer(n);
		break;
	}
	case Q_BOOL:
		if (strcmp(value, "true") && strcmp(value, "false") && strcmp(value, "1") &&
		    strcmp(value, "0")) {
			snprintf(q->error, sizeof(q->error),
				 "query parameter \"%s\": expected true or false", key);
			return MHD_NO;
		}
		v = json_boolean(!strcmp(value, "true") || !strcmp(value, "1"));
		break;
	case Q_STR:
		/* NULL for text that is not UTF-8 (%ff in the URL). */
		v = json_string(value);
		if (!v) {
			snprintf(q->error, sizeof(q->error),
				 "query parameter \"%s\": not valid UTF-8", key);
			return MHD_NO;
		}
		break;
	}
	if (!q->req) {
		json_decref(v);
		return MHD_YES;
	}
	if (json_object_set_new(q->req, key, v) < 0) {
		snprintf(q->error, sizeof(q->error), "out of memory");
		return MHD_NO;
	}
	return MHD_YES;
}

/* Check the declared query parameters and add them to req (when not NULL):
 * 0, or -1 with a message. */
static int add_query(struct request *r, const struct qparam *allowed, json_t *req, char *err,
		     size_t err_size)
{
	struct qctx q = {r, allowed, req, "", {NULL}, 0};

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_cb, &q);
	if (q.error[0]) {
		snprintf(err, err_size, "%s", q.error);
		return -1;
	}
	return 0;
}

/* Parse the body here rather than leave it to the store, for messages in
 * the client's terms: where its JSON is wrong, which member it may not
 * give. *out is NULL when there is no body. 0, or -1 with err set. */
static int parse_body(struct request *r, json_t **out, char *err, size_t err_size)
{
	const char *body = r->body ? r->body : "", *k;
	size_t len = r->body_len;
	bool empty = true;
	json_error_t je;
	json_t *v, *m;

	*out = NULL;
	for (size_t i = 0; i < len && empty; i++)
		if (!(body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r'))
			empty = false;
	if (empty)
		return 0;
	if (memchr(body, '\0', len)) {
		snprintf(err, err_size, "request body contains a NUL byte");
		return -1;
	}
	/* A member given twice has no clear meaning: refused, not "last wins". */
	v = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!v) {
		/* jansson quotes the input near the error: keep control
		 * characters out of the message (and so out of terminals). */
		for (char *c = je.text; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		/* Its text for \u0000 names a flag of its API, not the rule. */
		if (strstr(je.text, "JSON_ALLOW_NUL"))
			snprintf(je.text, sizeof(je.text),
				 "\\u0000 (NUL) is not allowed in a string");
		snprintf(err, err_size, "request body: invalid JSON at line %d, column %d: %.120s",
			 je.line, je.column, je.text);
		return -1;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		snprintf(err, err_size, "request body must be a JSON object");
		return -1;
	}
	json_object_foreach(v, k, m) {
		if (rt_member_taken(r, k)) {
			snprintf(err, err_size,
				 "request body: \"%s\" comes from the URL or the token and must "
				 "not be given",
				 k);
			json_decref(v);
			return -1;
		}
	}
	*out = v;
	return 0;
}

static int set_text(json_t *req, const char *name, const char *value, char *err, size_t err_size)
{
	/* NULL for text that is not UTF-8 (%ff in the URL). */
	json_t *v = json_string(value);

	if (!v) {
		snprintf(err, err_size, "%s: not valid UTF-8", name);
		return -1;
	}
	if (json_object_set_new(req, name, v) < 0) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

/* The store's request, {path parameters, the token's own pod or node, query
 * parameters, body members}, as compact JSON text in *out: the caller frees
 * it with fe_secret_free() (bodies may hold preshared keys). 0, or -1 with
 * err set. */
static int build_request(struct request *r, char **out, char *err, size_t err_size)
{
	const struct route *rt = r->route;
	json_t *req, *body = NULL, *v;
	const char *k;
	int rc = -1;

	if (parse_body(r, &body, err, err_size) < 0)
		return -1;
	req = json_object();
	if (!req) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->n_params; i++)
		if (set_text(req, r->param_name[i], r->param_value[i], err, err_size) < 0)
			goto out;
	if (rt->self_member && set_text(req, rt->self_member, r->subject, err, err_size) < 0)
		goto out;
	if (add_query(r, rt->query, req, err, err_size) < 0)
		goto out;
	/* None of the body's members is one of those (parse_body). */
	json_object_foreach(body, k, v) {
		if (json_object_set(req, k, v) < 0) {
			snprintf(err, err_size, "out of memory");
			goto out;
		}
	}
	*out = json_dumps(req, JSON_COMPACT);
	if (!*out) {
		snprintf(err, err_size, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(req);
	json_decref(body);
	return rc;
}

/* Answer with a store's result, which is freed here (wiped: registrations
 * and token issues hold a secret). */
static int answer_owned(struct request *r, int status, char *out)
{
	size_t len = strlen(out);
	char *text = malloc(len + 2);

	if (text) {
		memcpy(text, out, len);
		memcpy(text + len, "\n", 2);
	}
	explicit_bzero(out, len);
	mr_free(out);
	if (!text)
		return http_respond_error(r, 500, mr_error_name(MR_ENOMEM), mr_strerror(MR_ENOMEM));
	return http_respond_owned(r, status, text, len + 1);
}

static int call_store(struct request *r, store_op op)
{
	struct server *srv = r->srv;
	char err[192], *req = NULL, *out = NULL;
	int rc;

	if (build_request(r, &req, err, sizeof(err)) < 0)
		return http_respond_error(r, 400, mr_error_name(MR_EINVAL), err);
	mr_store_set_actor(srv->store, r->token_id[0] ? r->token_id : NULL);
	rc = op(srv->store, req, &out);
	fe_secret_free(req);
	if (rc < 0) {
		int ret = http_respond_mr(r, rc);

		mr_store_set_actor(srv->store, NULL);
		return ret;
	}
	mr_store_set_actor(srv->store, NULL);
	if (strcmp(r->route->method, "GET") != 0)
		http_after_write(srv);
	return answer_owned(r, (r->route->flags & R_CREATED) ? 201 : 200, out);
}

int routes_dispatch(struct request *r)
{
	if (r->route->custom)
		return r->route->custom(r);
	return call_store(r, r->route->op);
}

/* --- handlers of their own ----------------------------------------------- */

/* Refuse a body or an undeclared query parameter on routes that take
 * neither: true when an answer was given (*ret is MHD's result). */
static bool refuse_extras(struct request *r, int *ret)
{
	char err[192];

	if (r->body_len) {
		*ret = http_respond_error(r, 400, mr_error_name(MR_EINVAL),
					  "this route takes no request body");
		return true;
	}
	if (add_query(r, r->route->query, NULL, err, sizeof(err)) < 0) {
		*ret = http_respond_error(r, 400, mr_error_name(MR_EINVAL), err);
		return true;
	}
	return false;
}

static int h_healthz(struct request *r)
{
	int64_t next;
	int rc, ret;

	if (refuse_extras(r, &ret))
		return ret;
	/* A read of the database: healthy means able to serve. */
	rc = mr_store_next_expiry(r->srv->store, &next);
	if (rc < 0)
		return http_respond_mr(r, rc == MR_ETIMEOUT ? rc : MR_EDB);
	return http_respond_json(r, 200,
				 json_pack("{s:s, s:s, s:b}", "status", "ok", "version",
					   mr_version(), "tls", (int)r->srv->tls));
}

static int h_metrics(struct request *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	if (refuse_extras(r, &ret))
		return ret;
	f = open_memstream(&text, &len);
	if (!f)
		return http_respond_mr(r, MR_ENOMEM);
	if (metrics_render(r->srv, f) < 0 || ferror(f)) {
		fclose(f);
		free(text);
		return http_respond_mr(r, MR_EDB);
	}
	if (fclose(f) != 0) {
		free(text);
		return http_respond_mr(r, MR_ENOMEM);
	}
	ret = http_respond_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
	return ret;
}

static int h_status(struct request *r)
{
	char *out;
	int rc, ret;

	if (refuse_extras(r, &ret))
		return ret;
	rc = mr_store_overview(r->srv->store, &out);
	if (rc < 0)
		return http_respond_mr(r, rc);
	return answer_owned(r, 200, out);
}

static int answer_desired(struct request *r)
{
	char *out;
	int rc;

	rc = mr_store_node_desired(r->srv->store, r->subject, &out);
	if (rc < 0)
		return http_respond_mr(r, rc);
	return answer_owned(r, 200, out);
}

static int not_modified(struct request *r, int64_t gen)
{
	struct MHD_Response *resp;
	char value[32];
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	snprintf(value, sizeof(value), "%" PRId64, gen);
	MHD_add_response_header(resp, "MyRelay-Generation", value);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (http_shutting_down(r->srv))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(r->conn, 304, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES) {
		r->status = 304;
		r->answered = true;
	}
	return ret;
}

static bool query_int(struct request *r, const char *name, int64_t *out, bool *present)
{
	const char *v = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	char *end;
	long long n;

	*present = v != NULL;
	if (!v)
		return true;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || *end || !(v[0] >= '0' && v[0] <= '9'))
		return false;
	*out = n;
	return true;
}

static int h_desired(struct request *r)
{
	struct server *srv = r->srv;
	int64_t after = -1, timeout = srv->cfg->poll_timeout, gen;
	bool has_after, has_timeout;
	int rc, ret;

	if (refuse_extras(r, &ret))
		return ret;
	if (!query_int(r, "after", &after, &has_after))
		return http_respond_error(r, 400, mr_error_name(MR_EINVAL),
					  "after: expected a generation (integer >= 0)");
	if (!query_int(r, "timeout", &timeout, &has_timeout) || timeout > srv->cfg->poll_timeout) {
		char msg[96];

		snprintf(msg, sizeof(msg), "timeout: expected seconds from 0 to %u",
			 srv->cfg->poll_timeout);
		return http_respond_error(r, 400, mr_error_name(MR_EINVAL), msg);
	}
	rc = mr_store_node_generation(srv->store, r->subject, &gen);
	if (rc < 0)
		return http_respond_mr(r, rc);
	/* "Changed" is any difference: a generation below the agent's means
	 * the database was restored from a backup, and the agent must resync. */
	if (!has_after || gen != after || timeout == 0 || http_shutting_down(srv))
		return answer_desired(r);
	r->after = after;
	r->counted_longpoll = true;
	http_suspend(r, now_ms() + timeout * 1000);
	return MHD_YES;
}

int routes_longpoll_finish(struct request *r)
{
	struct server *srv = r->srv;
	int64_t gen;
	int rc;

	r->resumed = false;
	rc = mr_store_node_generation(srv->store, r->subject, &gen);
	if (rc < 0)
		return http_respond_mr(r, rc);
	if (gen != r->after) {
		srv->metrics.longpoll_changed++;
		return answer_desired(r);
	}
	srv->metrics.longpoll_timeouts++;
	return not_modified(r, gen);
}

static int h_report(struct request *r)
{
	struct server *srv = r->srv;
	char err[192], *out = NULL;
	int rc;

	if (add_query(r, r->route->query, NULL, err, sizeof(err)) < 0)
		return http_respond_error(r, 400, mr_error_name(MR_EINVAL), err);
	if (!r->body_len)
		return http_respond_error(r, 400, mr_error_name(MR_EINVAL),
					  "a report (JSON object) is required");
	if (memchr(r->body, '\0', r->body_len))
		return http_respond_error(r, 400, mr_error_name(MR_EINVAL),
					  "request body contains a NUL byte");
	/* Passed on as sent: the store is the one reader of a report's shape
	 * and answers with the member at fault. */
	mr_store_set_actor(srv->store, r->token_id);
	rc = mr_store_node_report(srv->store, r->subject, r->body, &out);
	if (rc < 0) {
		int ret = http_respond_mr(r, rc);

		mr_store_set_actor(srv->store, NULL);
		return ret;
	}
	mr_store_set_actor(srv->store, NULL);
	http_after_write(srv);
	return answer_owned(r, 200, out);
}

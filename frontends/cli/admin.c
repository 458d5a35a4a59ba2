/* SPDX-License-Identifier: MIT */
/*
 * Operator commands (admin token): nodes, customers, pods, tokens, the
 * audit log, usage and the overview; and `pod show` for customers.
 *
 * Nodes and customers may be named by id or by name; names are looked up in
 * the server's list. Secrets the server shows once (node, pod and new
 * tokens) are printed once, or written to a new 0600 file with --token-out.
 */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <myrelay/error.h>
#include <myrelay/name.h>

/* --- small helpers --------------------------------------------------------- */

struct kind_info {
	const char *kind;
	const char *prefix;
	const char *list_path;
	const char *list_member;
};

static const struct kind_info kinds[] = {
    {"node", "nd_", "/v1/nodes", "nodes"},
    {"customer", "cu_", "/v1/customers", "customers"},
    {"pod", "pd_", NULL, NULL},
};

int cli_resolve(const char *kind, const char *arg, char **out_id)
{
	const struct kind_info *k = NULL;
	json_t *ans = NULL, *item;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (strcmp(kinds[i].kind, kind) == 0)
			k = &kinds[i];
	if (!k)
		return cli_fail("internal error: kind %s", kind);
	if (strncmp(arg, k->prefix, strlen(k->prefix)) == 0 || !k->list_path) {
		*out_id = strdup(arg);
		return *out_id ? 0 : cli_fail("out of memory");
	}
	if (mr_name_validate_label(arg) < 0)
		return USAGE_ERR("%s: \"%s\" is neither an id (%s...) nor a valid name", kind, arg,
				 k->prefix);
	rc = cli_request("GET", k->list_path, NULL, &ans, NULL);
	if (rc)
		return rc;
	json_array_foreach(json_object_get(ans, k->list_member), i, item) {
		const char *name = jstr(item, "name"), *id = jstr(item, "id");

		if (name && id && strcmp(name, arg) == 0) {
			*out_id = strdup(id);
			json_decref(ans);
			return *out_id ? 0 : cli_fail("out of memory");
		}
	}
	json_decref(ans);
	return cli_fail("no %s named \"%s\" (see `%s %s list`)", kind, arg, PROG, kind);
}

/* "/v1/<what>/<escaped id>[/<tail>]" */
static char *object_path(const char *what, const char *id, const char *tail)
{
	char *p = NULL;
	size_t len;
	FILE *f = open_memstream(&p, &len);

	if (f) {
		fprintf(f, "/v1/%s/", what);
		cli_path_escape(f, id);
		if (tail)
			fprintf(f, "/%s", tail);
	}
	return cli_text_end(f, &p);
}

/* A path with a query: base, then "?k=v" / "&k=v" for each value given
 * (escaped). The list ends with a NULL key. */
static char *query_path(const char *base, ...)
{
	const char *key, *sep = "?";
	char *p = NULL;
	size_t len;
	va_list ap;
	FILE *f = open_memstream(&p, &len);

	if (f)
		fputs(base, f);
	va_start(ap, base);
	while (f && (key = va_arg(ap, const char *))) {
		const char *value = va_arg(ap, const char *);

		if (!value)
			continue;
		fprintf(f, "%s%s=", sep, key);
		cli_path_escape(f, value);
		sep = "&";
	}
	va_end(ap);
	return cli_text_end(f, &p);
}

static int parse_int(const char *opt, const char *text, int64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoll(text, &end, 10);
	if (errno || end == text || *end)
		return USAGE_ERR("%s: expected a whole number, got \"%s\"", opt, text);
	return 0;
}

static int no_more_args(int argc, char **argv, int want, const char *what)
{
	if (argc - optind < want)
		return USAGE_ERR("%s is missing", what);
	if (argc - optind > want)
		return USAGE_ERR("unexpected argument \"%s\"", argv[optind + want]);
	return 0;
}

/* Print an answer holding a secret shown once: to --token-out FILE (new,
 * 0600), or on standard output with a warning. */
static int show_secret(const json_t *ans, const char *token_out, const char *what)
{
	const char *secret = jstr(ans, "secret");

	if (!secret)
		return cli_fail("the server's answer has no token");
	if (token_out) {
		size_t n = strlen(secret);
		char *line = malloc(n + 2);
		int rc;

		if (line) {
			memcpy(line, secret, n);
			memcpy(line + n, "\n", 2);
		}
		rc = line ? cli_write_private(token_out, line, n + 1, true)
			  : cli_fail("out of memory");
		fe_secret_free(line);
		if (rc)
			return rc;
		printf("The %s token was written to %s (mode 0600).\n", what, token_out);
		return 0;
	}
	printf("The %s token (shown this once, keep it secret):\n%s\n", what, secret);
	return 0;
}

/* Run one request and print the answer: raw JSON, or fn for people. */
static int simple(const char *method, const char *path, const char *body,
		  void (*human)(const json_t *ans))
{
	json_t *ans = NULL;
	char *raw = NULL;
	int rc = cli_request(method, path, body, &ans, &raw);

	if (rc)
		return rc;
	if (cli.json)
		cli_print_json(raw);
	else if (human)
		human(ans);
	mr_api_free_body(raw);
	json_decref(ans);
	return 0;
}

/* Run one request whose body is made with json_pack (reference taken). */
static int simple_body(const char *method, const char *path, json_t *v,
		       void (*human)(const json_t *ans))
{
	char *body = NULL;
	int rc = cli_body(v, &body);

	if (!rc)
		rc = simple(method, path, body, human);
	fe_secret_free(body);
	return rc;
}

static void print_member_object(const json_t *ans, const char *member)
{
	cli_print_object(json_object_get(ans, member), NULL);
}

/* --- nodes ------------------------------------------------------------------- */

static void human_node(const json_t *ans)
{
	print_member_object(ans, "node");
}

static int node_add(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"region", required_argument, NULL, 'r'},
	    {"endpoint", required_argument, NULL, 'e'},
	    {"ipv4-pool", required_argument, NULL, '4'},
	    {"ipv6-pool", required_argument, NULL, '6'},
	    {"ipv4-prefix", required_argument, NULL, 'a'},
	    {"ipv6-prefix", required_argument, NULL, 'b'},
	    {"port-min", required_argument, NULL, 'p'},
	    {"port-max", required_argument, NULL, 'P'},
	    {"max-pods", required_argument, NULL, 'm'},
	    {"token-out", required_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	const char *region = NULL, *endpoint = NULL, *pool4 = NULL, *pool6 = NULL,
		   *token_out = NULL;
	json_t *ans = NULL, *req;
	char *raw = NULL, *body = NULL;
	int c, rc;
	struct {
		const char *key;
		const char *text;
	} nums[5] = {{"ipv4_prefix", NULL},
		     {"ipv6_prefix", NULL},
		     {"port_min", NULL},
		     {"port_max", NULL},
		     {"max_pods", NULL}};

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'r':
			region = optarg;
			break;
		case 'e':
			endpoint = optarg;
			break;
		case '4':
			pool4 = optarg;
			break;
		case '6':
			pool6 = optarg;
			break;
		case 'a':
			nums[0].text = optarg;
			break;
		case 'b':
			nums[1].text = optarg;
			break;
		case 'p':
			nums[2].text = optarg;
			break;
		case 'P':
			nums[3].text = optarg;
			break;
		case 'm':
			nums[4].text = optarg;
			break;
		case 'T':
			token_out = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if ((rc = no_more_args(argc, argv, 1, "the node's name")))
		return rc;
	if (!region || !endpoint)
		return USAGE_ERR("--region and --endpoint are required");
	req = json_pack("{s:s, s:s, s:s, s:s*, s:s*}", "name", argv[optind], "region", region,
			"endpoint", endpoint, "ipv4_pool", pool4, "ipv6_pool", pool6);
	for (size_t i = 0; req && i < ARRAY_SIZE(nums); i++) {
		int64_t v;

		if (!nums[i].text)
			continue;
		if ((rc = parse_int(opts[i + 4].name, nums[i].text, &v))) {
			json_decref(req);
			return rc;
		}
		if (json_object_set_new(req, nums[i].key, json_integer(v)) < 0) {
			json_decref(req);
			req = NULL;
		}
	}
	rc = cli_body(req, &body);
	if (!rc)
		rc = cli_request("POST", "/v1/nodes", body, &ans, &raw);
	free(body);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		const json_t *node = json_object_get(ans, "node");

		printf("Added node %s (%s).\n", jstr(node, "name"), jstr(node, "id"));
		rc = show_secret(ans, token_out, "node");
		if (!rc)
			printf(
			    "Give it to myrelay-agent on the node (its token file, mode 0600).\n");
	}
	mr_api_free_body(raw);
	json_decref(ans);
	return rc;
}

static int node_list(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"status", required_argument, NULL, 's'},
	    {"region", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	const char *status = NULL, *region = NULL;
	json_t *ans = NULL, *n;
	struct cli_table t;
	char *raw = NULL, *path;
	size_t i;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c == 's')
			status = optarg;
		else if (c == 'r')
			region = optarg;
		else
			return EXIT_USAGE;
	}
	if ((rc = no_more_args(argc, argv, 0, "")))
		return rc;
	path = query_path("/v1/nodes", "status", status, "region", region, NULL);
	rc = path ? cli_request("GET", path, NULL, &ans, &raw) : cli_fail("out of memory");
	free(path);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		cli_table_init(&t, 8,
			       (const char *[]){"NAME", "ID", "REGION", "ENDPOINT", "STATUS",
						"PODS", "GENERATION", "LAST SEEN"});
		json_array_foreach(json_object_get(ans, "nodes"), i, n) {
			char pods[32], gen[64], seen[64];

			snprintf(pods, sizeof(pods), "%" PRId64 "/%" PRId64, jint(n, "pods"),
				 jint(n, "max_pods"));
			snprintf(gen, sizeof(gen), "%" PRId64 " (applied %s)",
				 jint(n, "generation"),
				 cli_fmt_value(json_object_get(n, "applied_generation"), seen,
					       sizeof(seen)));
			cli_fmt_time(json_object_get(n, "last_seen"), seen, sizeof(seen));
			cli_table_add(&t, (const char *[]){jstr(n, "name"), jstr(n, "id"),
							   jstr(n, "region"), jstr(n, "endpoint"),
							   jstr(n, "status"), pods, gen, seen});
		}
		if (t.nrow == 1)
			printf("No nodes: add one with `%s node add NAME --region R --endpoint "
			       "HOST`.\n",
			       PROG);
		else
			cli_table_print(&t);
		cli_table_free(&t);
	}
	mr_api_free_body(raw);
	json_decref(ans);
	return 0;
}

static int node_one(int argc, char **argv, const char *method, const char *tail, const char *body,
		    void (*human)(const json_t *))
{
	char *id = NULL, *path;
	int c, rc;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	if ((rc = no_more_args(argc, argv, 1, "the node (name or id)")))
		return rc;
	if ((rc = cli_resolve("node", argv[optind], &id)))
		return rc;
	path = object_path("nodes", id, tail);
	free(id);
	rc = path ? simple(method, path, body, human) : cli_fail("out of memory");
	free(path);
	return rc;
}

static int node_show(int argc, char **argv)
{
	return node_one(argc, argv, "GET", NULL, NULL, human_node);
}

static void human_status_changed(const json_t *ans)
{
	const json_t *node = json_object_get(ans, "node");

	printf("Node %s is now %s.\n", jstr(node, "name"), jstr(node, "status"));
}

static int node_drain(int argc, char **argv)
{
	return node_one(argc, argv, "POST", "status", "{\"status\":\"draining\"}",
			human_status_changed);
}

static int node_activate(int argc, char **argv)
{
	return node_one(argc, argv, "POST", "status", "{\"status\":\"active\"}",
			human_status_changed);
}

static void human_deleted(const json_t *ans)
{
	const json_t *pods = json_object_get(ans, "pods");
	const json_t *peers = json_object_get(ans, "peers");

	printf("Removed %s", jstr(ans, "deleted") ? jstr(ans, "deleted") : "it");
	if (json_is_integer(pods))
		printf(" and its %" PRId64 " pod%s", jint(ans, "pods"),
		       jint(ans, "pods") == 1 ? "" : "s");
	if (json_is_integer(peers))
		printf(" and its %" PRId64 " device%s", jint(ans, "peers"),
		       jint(ans, "peers") == 1 ? "" : "s");
	printf(".\n");
}

static int remove_with_force(int argc, char **argv, const char *kind, const char *what)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	bool force = false;
	char *id = NULL, *path, *full;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c != 'f')
			return EXIT_USAGE;
		force = true;
	}
	if ((rc = no_more_args(argc, argv, 1, kind)))
		return rc;
	if ((rc = cli_resolve(kind, argv[optind], &id)))
		return rc;
	path = object_path(what, id, NULL);
	free(id);
	full = path ? query_path(path, "force", force ? "true" : NULL, NULL) : NULL;
	free(path);
	if (!full)
		return cli_fail("out of memory");
	rc = simple("DELETE", full, NULL, human_deleted);
	free(full);
	if (rc == EXIT_FAIL && !force && mr_api_last_status(cli.api) == 409)
		fprintf(stderr, "hint: add --force to remove its pods (and their devices) too\n");
	return rc;
}

static int node_remove(int argc, char **argv)
{
	return remove_with_force(argc, argv, "node", "nodes");
}

/* clang-format off */
static const struct command node_commands[] = {
	{ "add", node_add, "NAME --region REGION --endpoint HOST [--ipv4-pool CIDR] [--ipv6-pool CIDR]\n"
	  "               [--ipv4-prefix N] [--ipv6-prefix N] [--port-min N] [--port-max N]\n"
	  "               [--max-pods N] [--token-out FILE]",
	  "Register a VPN node; its token is shown once.\n\n"
	  "The node token is printed once (or written to --token-out FILE, mode 0600):\n"
	  "myrelay-agent on the node uses it.\n\n"
	  "  --endpoint HOST     public host name or address devices connect to\n"
	  "  --ipv4-pool CIDR    address pool for pod subnets (default: a free /16 of 10.64.0.0/10)\n"
	  "  --ipv6-pool CIDR    IPv6 pool (default: a random ULA /48)\n"
	  "  --ipv4-prefix N     pod subnet length (default 24); --ipv6-prefix (default 64)\n"
	  "  --port-min/--port-max N   UDP ports for pods (default 51820-52819)\n"
	  "  --max-pods N        most pods on the node" },
	{ "list", node_list, "[--status STATUS] [--region REGION]", "List nodes." },
	{ "show", node_show, "NODE", "Show a node (name or id)." },
	{ "drain", node_drain, "NODE", "Stop placing new pods on a node (existing pods stay)." },
	{ "activate", node_activate, "NODE", "Make a drained node take new pods again." },
	{ "remove", node_remove, "NODE [--force]", "Delete a node; --force also deletes its pods and their devices." },
};
/* clang-format on */

int cmd_node(int argc, char **argv)
{
	return cli_dispatch(node_commands, ARRAY_SIZE(node_commands), "node", argc, argv);
}

/* --- customers --------------------------------------------------------------- */

static void human_customer(const json_t *ans)
{
	print_member_object(ans, "customer");
}

/* --limit as the member transfer_limit of req (nothing without limit). */
static int limit_member(json_t *req, const char *limit)
{
	int64_t v;

	if (!limit || !req)
		return 0;
	if (cli_parse_bytes(limit, &v) < 0)
		return USAGE_ERR("--limit: \"%s\" is not a size (bytes per month: 0 or unlimited, "
				 "500G, 1.5T, 100GiB)",
				 limit);
	if (json_object_set_new(req, "transfer_limit", json_integer(v)) < 0)
		return cli_fail("out of memory");
	return 0;
}

static int customer_add(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"limit", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	const char *limit = NULL;
	json_t *req;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c != 'l')
			return EXIT_USAGE;
		limit = optarg;
	}
	if ((rc = no_more_args(argc, argv, 1, "the customer's name")))
		return rc;
	req = json_pack("{s:s}", "name", argv[optind]);
	if ((rc = limit_member(req, limit))) {
		json_decref(req);
		return rc;
	}
	return simple_body("POST", "/v1/customers", req, human_customer);
}

static int customer_list(int argc, char **argv)
{
	json_t *ans = NULL, *cu;
	struct cli_table t;
	char *raw = NULL;
	size_t i;
	int c, rc;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	if ((rc = no_more_args(argc, argv, 0, "")))
		return rc;
	if ((rc = cli_request("GET", "/v1/customers", NULL, &ans, &raw)))
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		cli_table_init(
		    &t, 6,
		    (const char *[]){"NAME", "ID", "STATUS", "PODS", "MONTHLY LIMIT", "CREATED"});
		json_array_foreach(json_object_get(ans, "customers"), i, cu) {
			char pods[32], limit[32], created[64];
			int64_t l = jint(cu, "transfer_limit");

			snprintf(pods, sizeof(pods), "%" PRId64, jint(cu, "pods"));
			if (l)
				cli_fmt_bytes(l, limit, sizeof(limit));
			else
				snprintf(limit, sizeof(limit), "unlimited");
			cli_fmt_time(json_object_get(cu, "created"), created, sizeof(created));
			cli_table_add(&t,
				      (const char *[]){jstr(cu, "name"), jstr(cu, "id"),
						       jstr(cu, "status"), pods, limit, created});
		}
		if (t.nrow == 1)
			printf("No customers: add one with `%s customer add NAME`.\n", PROG);
		else
			cli_table_print(&t);
		cli_table_free(&t);
	}
	mr_api_free_body(raw);
	json_decref(ans);
	return 0;
}

static int customer_show(int argc, char **argv)
{
	char *id = NULL, *path;
	int c, rc;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	if ((rc = no_more_args(argc, argv, 1, "the customer (name or id)")))
		return rc;
	if ((rc = cli_resolve("customer", argv[optind], &id)))
		return rc;
	path = object_path("customers", id, NULL);
	free(id);
	rc = path ? simple("GET", path, NULL, human_customer) : cli_fail("out of memory");
	free(path);
	return rc;
}

static int customer_plan(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"limit", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	const char *limit = NULL;
	char *id = NULL, *path = NULL;
	json_t *req;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c != 'l')
			return EXIT_USAGE;
		limit = optarg;
	}
	if ((rc = no_more_args(argc, argv, 1, "the customer (name or id)")))
		return rc;
	if (!limit)
		return USAGE_ERR("--limit BYTES is required (0 or unlimited for no limit)");
	req = json_object();
	if ((rc = limit_member(req, limit))) {
		json_decref(req);
		return rc;
	}
	if (!(rc = cli_resolve("customer", argv[optind], &id))) {
		path = object_path("customers", id, "plan");
		if (path) {
			rc = simple_body("POST", path, req, human_customer);
			req = NULL;
		} else {
			rc = cli_fail("out of memory");
		}
	}
	json_decref(req);
	free(id);
	free(path);
	return rc;
}

static int customer_remove(int argc, char **argv)
{
	return remove_with_force(argc, argv, "customer", "customers");
}

/* clang-format off */
static const struct command customer_commands[] = {
	{ "add", customer_add, "NAME [--limit BYTES]", "Create a customer.\n\n"
	  "  --limit BYTES   monthly transfer limit: 0 or unlimited (the default), or a\n"
	  "                  size: 500G, 1.5T, 100GiB" },
	{ "list", customer_list, "", "List customers." },
	{ "show", customer_show, "CUSTOMER", "Show a customer (name or id)." },
	{ "plan", customer_plan, "CUSTOMER --limit BYTES", "Change a customer's monthly transfer limit." },
	{ "remove", customer_remove, "CUSTOMER [--force]", "Delete a customer; --force also deletes its pods." },
};
/* clang-format on */

int cmd_customer(int argc, char **argv)
{
	return cli_dispatch(customer_commands, ARRAY_SIZE(customer_commands), "customer", argc,
			    argv);
}

/* --- pods ------------------------------------------------------------------- */

static const char *const pod_keys[] = {
    "id",	  "customer",	 "node",      "interface", "status",  "error", "endpoint",
    "public_key", "listen_port", "addresses", "peers",	   "created", NULL};

static void human_pod(const json_t *ans)
{
	cli_print_object(json_object_get(ans, "pod"), pod_keys);
}

static int pod_create(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"customer", required_argument, NULL, 'c'},
	    {"node", required_argument, NULL, 'n'},
	    {"token-out", required_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	const char *customer = NULL, *node = NULL, *token_out = NULL;
	char *cu_id = NULL, *nd_id = NULL, *raw = NULL, *body = NULL;
	json_t *ans = NULL;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c == 'c')
			customer = optarg;
		else if (c == 'n')
			node = optarg;
		else if (c == 'T')
			token_out = optarg;
		else
			return EXIT_USAGE;
	}
	if (!customer && optind < argc)
		customer = argv[optind++];
	if (!node && optind < argc)
		node = argv[optind++];
	if (!customer || !node)
		return USAGE_ERR("give the customer and the node");
	if (optind < argc)
		return USAGE_ERR("unexpected argument \"%s\"", argv[optind]);
	if ((rc = cli_resolve("customer", customer, &cu_id)) ||
	    (rc = cli_resolve("node", node, &nd_id)))
		goto out;
	rc = cli_body(json_pack("{s:s, s:s}", "customer", cu_id, "node", nd_id), &body);
	if (!rc)
		rc = cli_request("POST", "/v1/pods", body, &ans, &raw);
	free(body);
	if (rc)
		goto out;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		const json_t *pod = json_object_get(ans, "pod");

		printf("Created pod %s (interface %s, port %" PRId64 ") for customer %s on node "
		       "%s.\n",
		       jstr(pod, "id"), jstr(pod, "interface"), jint(pod, "listen_port"), customer,
		       node);
		rc = show_secret(ans, token_out, "pod");
		if (!rc)
			printf("The customer logs in with it: `%s login URL --token TOKEN --ca "
			       "ca.crt`.\n",
			       PROG);
	}
out:
	if (raw)
		mr_api_free_body(raw);
	json_decref(ans);
	free(cu_id);
	free(nd_id);
	return rc;
}

static int pod_list(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"customer", required_argument, NULL, 'c'},
	    {"node", required_argument, NULL, 'n'},
	    {"status", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	const char *customer = NULL, *node = NULL, *status = NULL;
	char *cu_id = NULL, *nd_id = NULL, *raw = NULL, *path;
	json_t *ans = NULL, *pd;
	struct cli_table t;
	size_t i;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c == 'c')
			customer = optarg;
		else if (c == 'n')
			node = optarg;
		else if (c == 's')
			status = optarg;
		else
			return EXIT_USAGE;
	}
	if ((rc = no_more_args(argc, argv, 0, "")))
		return rc;
	if ((customer && (rc = cli_resolve("customer", customer, &cu_id))) ||
	    (node && (rc = cli_resolve("node", node, &nd_id))))
		goto out;
	path = query_path("/v1/pods", "customer", cu_id, "node", nd_id, "status", status, NULL);
	rc = path ? cli_request("GET", path, NULL, &ans, &raw) : cli_fail("out of memory");
	free(path);
	if (rc)
		goto out;
	if (cli.json) {
		cli_print_json(raw);
		goto out;
	}
	cli_table_init(&t, 8,
		       (const char *[]){"ID", "CUSTOMER", "NODE", "INTERFACE", "STATUS", "ENDPOINT",
					"ADDRESSES", "DEVICES"});
	json_array_foreach(json_object_get(ans, "pods"), i, pd) {
		char addrs[256], peers[32];

		cli_fmt_value(json_object_get(pd, "addresses"), addrs, sizeof(addrs));
		snprintf(peers, sizeof(peers), "%" PRId64, jint(pd, "peers"));
		cli_table_add(&t, (const char *[]){jstr(pd, "id"), jstr(pd, "customer"),
						   jstr(pd, "node"), jstr(pd, "interface"),
						   jstr(pd, "status"), jstr(pd, "endpoint"), addrs,
						   peers});
	}
	if (t.nrow == 1)
		printf("No pods.\n");
	else
		cli_table_print(&t);
	cli_table_free(&t);
out:
	if (raw)
		mr_api_free_body(raw);
	json_decref(ans);
	free(cu_id);
	free(nd_id);
	return rc;
}

static int pod_show(int argc, char **argv)
{
	char *path;
	int c, rc;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	if (argc - optind > 1)
		return USAGE_ERR("unexpected argument \"%s\"", argv[optind + 1]);
	/* No id: the pod of the pod token. */
	if (optind == argc)
		return simple("GET", "/v1/pod", NULL, human_pod);
	path = object_path("pods", argv[optind], NULL);
	rc = path ? simple("GET", path, NULL, human_pod) : cli_fail("out of memory");
	free(path);
	return rc;
}

static int pod_remove(int argc, char **argv)
{
	char *path;
	int c, rc;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	if ((rc = no_more_args(argc, argv, 1, "the pod's id")))
		return rc;
	path = object_path("pods", argv[optind], NULL);
	rc = path ? simple("DELETE", path, NULL, human_deleted) : cli_fail("out of memory");
	free(path);
	return rc;
}

/* clang-format off */
static const struct command pod_commands[] = {
	{ "show", pod_show, "[POD_ID]", "Show a pod: without an id, the pod of the pod token." },
	{ "create", pod_create, "CUSTOMER NODE [--token-out FILE]",
	  "Create a pod for a customer on a node; its token is shown once.\n\n"
	  "CUSTOMER and NODE are names or ids. The pod token is printed once (or written to\n"
	  "--token-out FILE, mode 0600): the customer logs in with it." },
	{ "list", pod_list, "[--customer CUSTOMER] [--node NODE] [--status STATUS]", "List pods." },
	{ "remove", pod_remove, "POD_ID", "Delete a pod with its devices, and revoke its tokens." },
};
/* clang-format on */

int cmd_pod(int argc, char **argv)
{
	return cli_dispatch(pod_commands, ARRAY_SIZE(pod_commands), "pod", argc, argv);
}

/* --- tokens ------------------------------------------------------------------ */

static int token_create(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"kind", required_argument, NULL, 'k'},
	    {"subject", required_argument, NULL, 's'},
	    {"label", required_argument, NULL, 'l'},
	    {"expires-in", required_argument, NULL, 'e'},
	    {"token-out", required_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	const char *kind = NULL, *subject = NULL, *label = NULL, *token_out = NULL;
	json_t *ans = NULL, *req;
	int64_t expires = 0, d;
	char *raw = NULL, *body = NULL;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'k':
			kind = optarg;
			break;
		case 's':
			subject = optarg;
			break;
		case 'l':
			label = optarg;
			break;
		case 'e':
			if (cli_parse_duration(optarg, &d) < 0)
				return USAGE_ERR(
				    "--expires-in: \"%s\" is not a duration (90m, 12h, 7d)",
				    optarg);
			expires = (int64_t)time(NULL) + d;
			break;
		case 'T':
			token_out = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if ((rc = no_more_args(argc, argv, 0, "")))
		return rc;
	if (!kind)
		return USAGE_ERR("--kind admin|node|pod is required");
	req = json_pack("{s:s, s:s*, s:s*}", "kind", kind, "subject", subject, "label", label);
	if (req && expires && json_object_set_new(req, "expires", json_integer(expires)) < 0) {
		json_decref(req);
		req = NULL;
	}
	rc = cli_body(req, &body);
	if (!rc)
		rc = cli_request("POST", "/v1/tokens", body, &ans, &raw);
	free(body);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		const json_t *tok = json_object_get(ans, "token");

		printf("Issued %s token %s%s%s.\n", jstr(tok, "kind"), jstr(tok, "id"),
		       subject ? " for " : "", subject ? subject : "");
		rc = show_secret(ans, token_out, jstr(tok, "kind"));
	}
	mr_api_free_body(raw);
	json_decref(ans);
	return rc;
}

static int token_list(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"kind", required_argument, NULL, 'k'},
	    {"subject", required_argument, NULL, 's'},
	    {"revoked", no_argument, NULL, 'r'},
	    {"active", no_argument, NULL, 'a'},
	    {NULL, 0, NULL, 0},
	};
	const char *kind = NULL, *subject = NULL, *revoked = NULL;
	json_t *ans = NULL, *tk;
	struct cli_table t;
	char *raw = NULL, *path;
	size_t i;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c == 'k')
			kind = optarg;
		else if (c == 's')
			subject = optarg;
		else if (c == 'r')
			revoked = "true";
		else if (c == 'a')
			revoked = "false";
		else
			return EXIT_USAGE;
	}
	if ((rc = no_more_args(argc, argv, 0, "")))
		return rc;
	path = query_path("/v1/tokens", "kind", kind, "subject", subject, "revoked", revoked, NULL);
	rc = path ? cli_request("GET", path, NULL, &ans, &raw) : cli_fail("out of memory");
	free(path);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		cli_table_init(&t, 7,
			       (const char *[]){"ID", "KIND", "SUBJECT", "LABEL", "CREATED",
						"EXPIRES", "REVOKED"});
		json_array_foreach(json_object_get(ans, "tokens"), i, tk) {
			char created[64], expires[64], revoked_at[64];

			cli_fmt_time(json_object_get(tk, "created"), created, sizeof(created));
			cli_fmt_time(json_object_get(tk, "expires"), expires, sizeof(expires));
			cli_fmt_time(json_object_get(tk, "revoked"), revoked_at,
				     sizeof(revoked_at));
			cli_table_add(&t, (const char *[]){jstr(tk, "id"), jstr(tk, "kind"),
							   jstr(tk, "subject"), jstr(tk, "label"),
							   created, expires, revoked_at});
		}
		cli_table_print(&t);
		cli_table_free(&t);
	}
	mr_api_free_body(raw);
	json_decref(ans);
	return 0;
}

static void human_revoked(const json_t *ans)
{
	const json_t *tok = json_object_get(ans, "token");

	printf("Token %s (%s) is revoked.\n", jstr(tok, "id"), jstr(tok, "kind"));
}

static int token_revoke(int argc, char **argv)
{
	char *path;
	int c, rc;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	if ((rc = no_more_args(argc, argv, 1, "the token's id")))
		return rc;
	path = object_path("tokens", argv[optind], "revoke");
	rc = path ? simple("POST", path, NULL, human_revoked) : cli_fail("out of memory");
	free(path);
	return rc;
}

/* clang-format off */
static const struct command token_commands[] = {
	{ "create", token_create, "--kind admin|node|pod [--subject ID] [--label TEXT] [--expires-in DURATION]\n"
	  "               [--token-out FILE]",
	  "Issue a token; it is shown once.\n\n"
	  "The token is printed once (or written to --token-out FILE, mode 0600). Node and\n"
	  "pod tokens need --subject, the node's or the pod's id." },
	{ "list", token_list, "[--kind KIND] [--subject ID] [--revoked | --active]", "List tokens (never their secrets), newest first." },
	{ "revoke", token_revoke, "TOKEN_ID", "Revoke a token at once (the 16-character id, not the secret)." },
};
/* clang-format on */

int cmd_token(int argc, char **argv)
{
	return cli_dispatch(token_commands, ARRAY_SIZE(token_commands), "token", argc, argv);
}

/* --- audit, usage, status ---------------------------------------------------- */

/* A time: unix seconds, or a duration meaning that long ago. */
static int parse_since(const char *opt, const char *text, char *num, size_t size)
{
	int64_t v, d;
	char *end;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (!errno && end != text && !*end) {
		snprintf(num, size, "%" PRId64, v);
		return 0;
	}
	if (cli_parse_duration(text, &d) < 0)
		return USAGE_ERR("%s: expected a unix time or a duration ago (7d, 12h)", opt);
	snprintf(num, size, "%" PRId64, (int64_t)time(NULL) - d);
	return 0;
}

int cmd_audit(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"subject", required_argument, NULL, 's'},
	    {"actor", required_argument, NULL, 'a'},
	    {"action", required_argument, NULL, 'A'},
	    {"since", required_argument, NULL, 'S'},
	    {"until", required_argument, NULL, 'U'},
	    {"limit", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	const char *subject = NULL, *actor = NULL, *action = NULL, *limit = NULL;
	char since[32] = "", until[32] = "", *raw = NULL, *path;
	json_t *ans = NULL, *ev;
	struct cli_table t;
	size_t i;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 's':
			subject = optarg;
			break;
		case 'a':
			actor = optarg;
			break;
		case 'A':
			action = optarg;
			break;
		case 'S':
			if ((rc = parse_since("--since", optarg, since, sizeof(since))))
				return rc;
			break;
		case 'U':
			if ((rc = parse_since("--until", optarg, until, sizeof(until))))
				return rc;
			break;
		case 'l':
			limit = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if ((rc = no_more_args(argc, argv, 0, "")))
		return rc;
	path = query_path("/v1/audit", "subject", subject, "actor", actor, "action", action,
			  "since", since[0] ? since : NULL, "until", until[0] ? until : NULL,
			  "limit", limit, NULL);
	rc = path ? cli_request("GET", path, NULL, &ans, &raw) : cli_fail("out of memory");
	free(path);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		cli_table_init(&t, 5,
			       (const char *[]){"TIME", "ACTOR", "ACTION", "SUBJECT", "DETAIL"});
		json_array_foreach(json_object_get(ans, "events"), i, ev) {
			char when[64], *detail = NULL;
			const char *sep = "", *k;
			size_t len;
			json_t *v;
			FILE *f = open_memstream(&detail, &len);

			/* "key=value ..." */
			json_object_foreach(json_object_get(ev, "detail"), k, v) {
				char text[256];

				if (!f)
					break;
				fprintf(f, "%s%s=%s", sep, k, cli_fmt_value(v, text, sizeof(text)));
				sep = " ";
			}
			cli_text_end(f, &detail);
			cli_fmt_time(json_object_get(ev, "time"), when, sizeof(when));
			cli_table_add(&t,
				      (const char *[]){when, jstr(ev, "actor"), jstr(ev, "action"),
						       jstr(ev, "subject"), detail ? detail : ""});
			free(detail);
		}
		cli_table_print(&t);
		cli_table_free(&t);
	}
	mr_api_free_body(raw);
	json_decref(ans);
	return 0;
}

int cmd_usage(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"customer", required_argument, NULL, 'c'},
	    {"month", required_argument, NULL, 'm'},
	    {NULL, 0, NULL, 0},
	};
	const char *customer = NULL, *month = NULL;
	char *cu_id = NULL, *raw = NULL, *path;
	json_t *ans = NULL, *list, *u;
	struct cli_table t;
	size_t i;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c == 'c')
			customer = optarg;
		else if (c == 'm')
			month = optarg;
		else
			return EXIT_USAGE;
	}
	if ((rc = no_more_args(argc, argv, 0, "")))
		return rc;
	if (customer && (rc = cli_resolve("customer", customer, &cu_id)))
		return rc;
	path = query_path("/v1/usage", "customer", cu_id, "month", month, NULL);
	rc = path ? cli_request("GET", path, NULL, &ans, &raw) : cli_fail("out of memory");
	free(path);
	free(cu_id);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
		goto out;
	}
	printf("Month %s (UTC)\n\n", jstr(ans, "month") ? jstr(ans, "month") : "?");
	cli_table_init(&t, 6,
		       (const char *[]){"CUSTOMER", "ID", "RECEIVED", "SENT", "TOTAL", "LIMIT"});
	json_array_foreach(json_object_get(ans, "customers"), i, u) {
		char rx[32], tx[32], total[32], limit[48];
		int64_t l = jint(u, "transfer_limit");

		if (l) {
			char lb[32];

			snprintf(limit, sizeof(limit), "%s%s", cli_fmt_bytes(l, lb, sizeof(lb)),
				 json_is_true(json_object_get(u, "over_limit")) ? " (over)" : "");
		} else {
			snprintf(limit, sizeof(limit), "unlimited");
		}
		cli_table_add(
		    &t,
		    (const char *[]){jstr(u, "name"), jstr(u, "customer"),
				     cli_fmt_bytes(jint(u, "rx_bytes"), rx, sizeof(rx)),
				     cli_fmt_bytes(jint(u, "tx_bytes"), tx, sizeof(tx)),
				     cli_fmt_bytes(jint(u, "total"), total, sizeof(total)), limit});
	}
	cli_table_print(&t);
	cli_table_free(&t);
	list = json_object_get(ans, "peers");
	if (json_is_array(list)) {
		printf("\n");
		cli_table_init(&t, 5, (const char *[]){"DEVICE", "ID", "POD", "RECEIVED", "SENT"});
		json_array_foreach(list, i, u) {
			char rx[32], tx[32];

			cli_table_add(&t, (const char *[]){
					      jstr(u, "name"), jstr(u, "peer"), jstr(u, "pod"),
					      cli_fmt_bytes(jint(u, "rx_bytes"), rx, sizeof(rx)),
					      cli_fmt_bytes(jint(u, "tx_bytes"), tx, sizeof(tx))});
		}
		cli_table_print(&t);
		cli_table_free(&t);
	}
out:
	mr_api_free_body(raw);
	json_decref(ans);
	return 0;
}

static void human_status(const json_t *ans)
{
	const char *key, *k;
	json_t *v, *m;

	json_object_foreach((json_t *)ans, key, v) {
		char buf[64];

		if (!json_is_object(v)) {
			printf("%-10s %s\n", key, cli_fmt_value(v, buf, sizeof(buf)));
			continue;
		}
		printf("%-10s", key);
		json_object_foreach(v, k, m) {
			printf(" %s=%s", k, cli_fmt_value(m, buf, sizeof(buf)));
		}
		printf("\n");
	}
}

int cmd_status(int argc, char **argv)
{
	int c, rc;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	if ((rc = no_more_args(argc, argv, 0, "")))
		return rc;
	return simple("GET", "/v1/status", NULL, human_status);
}

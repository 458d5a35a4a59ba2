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
	struct fe_json *ans = NULL;
	const struct fe_json *list;
	int rc;

	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
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
	list = fe_json_get(ans, k->list_member);
	for (size_t i = 0; list && list->type == FE_JSON_ARRAY && i < list->n; i++) {
		const char *name = fe_json_get_str(list->items[i], "name");
		const char *id = fe_json_get_str(list->items[i], "id");

		if (name && id && strcmp(name, arg) == 0) {
			*out_id = strdup(id);
			fe_json_free(ans);
			return *out_id ? 0 : cli_fail("out of memory");
		}
	}
	fe_json_free(ans);
	return cli_fail("no %s named \"%s\" (see `%s %s list`)", kind, arg, PROG, kind);
}

/* "/v1/<what>/<escaped id>[/<tail>]" */
static char *object_path(const char *what, const char *id, const char *tail)
{
	struct fe_buf b;

	fe_buf_init(&b);
	fe_buf_addf(&b, "/v1/%s/", what);
	cli_path_escape(&b, id);
	if (tail)
		fe_buf_addf(&b, "/%s", tail);
	return fe_buf_steal(&b, NULL);
}

/* Append "?k=v" / "&k=v" with v escaped. */
static void query_add(struct fe_buf *b, const char *key, const char *value)
{
	if (!value)
		return;
	fe_buf_add(b, strchr(b->p ? b->p : "", '?') ? "&" : "?");
	fe_buf_add(b, key);
	fe_buf_add(b, "=");
	cli_path_escape(b, value);
}

static void member_str(struct fe_buf *b, bool *first, const char *key, const char *value)
{
	if (!value)
		return;
	fe_buf_add(b, *first ? "" : ",");
	*first = false;
	fe_buf_json_string(b, key, strlen(key));
	fe_buf_add(b, ":");
	fe_buf_json_string(b, value, strlen(value));
}

static void member_raw(struct fe_buf *b, bool *first, const char *key, const char *raw)
{
	fe_buf_add(b, *first ? "" : ",");
	*first = false;
	fe_buf_json_string(b, key, strlen(key));
	fe_buf_add(b, ":");
	fe_buf_add(b, raw);
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
static int show_secret(const struct fe_json *ans, const char *token_out, const char *what)
{
	const char *secret = fe_json_get_str(ans, "secret");

	if (!secret)
		return cli_fail("the server's answer has no token");
	if (token_out) {
		struct fe_buf b;
		int rc;

		fe_buf_init(&b);
		fe_buf_add(&b, secret);
		fe_buf_add(&b, "\n");
		rc = b.failed ? cli_fail("out of memory")
			      : cli_write_private(token_out, b.p, b.len, true);
		fe_buf_wipe_free(&b);
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
		  void (*human)(const struct fe_json *ans))
{
	struct fe_json *ans = NULL;
	char *raw = NULL;
	int rc = cli_request(method, path, body, &ans, &raw);

	if (rc)
		return rc;
	if (cli.json)
		cli_print_json(raw);
	else if (human)
		human(ans);
	mr_api_free_body(raw);
	fe_json_free(ans);
	return 0;
}

static void print_member_object(const struct fe_json *ans, const char *member)
{
	cli_print_object(fe_json_get(ans, member), NULL);
}

/* --- nodes ------------------------------------------------------------------- */

static void human_node(const struct fe_json *ans)
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
	struct fe_buf body;
	struct fe_json *ans = NULL;
	char *raw = NULL, num[32];
	bool first = true;
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
	fe_buf_init(&body);
	fe_buf_add(&body, "{");
	member_str(&body, &first, "name", argv[optind]);
	member_str(&body, &first, "region", region);
	member_str(&body, &first, "endpoint", endpoint);
	member_str(&body, &first, "ipv4_pool", pool4);
	member_str(&body, &first, "ipv6_pool", pool6);
	for (size_t i = 0; i < ARRAY_SIZE(nums); i++) {
		int64_t v;

		if (!nums[i].text)
			continue;
		if ((rc = parse_int(opts[i + 4].name, nums[i].text, &v))) {
			fe_buf_free(&body);
			return rc;
		}
		snprintf(num, sizeof(num), "%" PRId64, v);
		member_raw(&body, &first, nums[i].key, num);
	}
	fe_buf_add(&body, "}");
	rc = body.failed ? cli_fail("out of memory")
			 : cli_request("POST", "/v1/nodes", body.p, &ans, &raw);
	fe_buf_free(&body);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		const struct fe_json *node = fe_json_get(ans, "node");

		printf("Added node %s (%s).\n", fe_json_get_str(node, "name"),
		       fe_json_get_str(node, "id"));
		rc = show_secret(ans, token_out, "node");
		if (!rc)
			printf(
			    "Give it to myrelay-agent on the node (its token file, mode 0600).\n");
	}
	mr_api_free_body(raw);
	fe_json_free(ans);
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
	struct fe_json *ans = NULL;
	const struct fe_json *list;
	struct cli_table t;
	struct fe_buf p;
	char *raw = NULL;
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
	fe_buf_init(&p);
	fe_buf_add(&p, "/v1/nodes");
	query_add(&p, "status", status);
	query_add(&p, "region", region);
	rc = p.failed ? cli_fail("out of memory") : cli_request("GET", p.p, NULL, &ans, &raw);
	fe_buf_free(&p);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		list = fe_json_get(ans, "nodes");
		cli_table_init(&t, 8,
			       (const char *[]){"NAME", "ID", "REGION", "ENDPOINT", "STATUS",
						"PODS", "GENERATION", "LAST SEEN"});
		for (size_t i = 0; list && list->type == FE_JSON_ARRAY && i < list->n; i++) {
			const struct fe_json *n = list->items[i];
			char pods[32], gen[64], seen[64];

			snprintf(pods, sizeof(pods), "%" PRId64 "/%" PRId64,
				 fe_json_get_int(n, "pods", 0), fe_json_get_int(n, "max_pods", 0));
			snprintf(gen, sizeof(gen), "%" PRId64 " (applied %s)",
				 fe_json_get_int(n, "generation", 0),
				 cli_fmt_value(fe_json_get(n, "applied_generation"), seen,
					       sizeof(seen)));
			cli_fmt_time(fe_json_get(n, "last_seen"), seen, sizeof(seen));
			cli_table_add(&t, (const char *[]){
					      fe_json_get_str(n, "name"), fe_json_get_str(n, "id"),
					      fe_json_get_str(n, "region"),
					      fe_json_get_str(n, "endpoint"),
					      fe_json_get_str(n, "status"), pods, gen, seen});
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
	fe_json_free(ans);
	return 0;
}

static int node_one(int argc, char **argv, const char *method, const char *tail, const char *body,
		    void (*human)(const struct fe_json *))
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

static void human_status_changed(const struct fe_json *ans)
{
	const struct fe_json *node = fe_json_get(ans, "node");

	printf("Node %s is now %s.\n", fe_json_get_str(node, "name"),
	       fe_json_get_str(node, "status"));
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

static void human_deleted(const struct fe_json *ans)
{
	const struct fe_json *pods = fe_json_get(ans, "pods");
	const struct fe_json *peers = fe_json_get(ans, "peers");

	printf("Removed %s",
	       fe_json_get_str(ans, "deleted") ? fe_json_get_str(ans, "deleted") : "it");
	if (pods && pods->type == FE_JSON_INT)
		printf(" and its %" PRId64 " pod%s", pods->i, pods->i == 1 ? "" : "s");
	if (peers && peers->type == FE_JSON_INT)
		printf(" and its %" PRId64 " device%s", peers->i, peers->i == 1 ? "" : "s");
	printf(".\n");
}

static int remove_with_force(int argc, char **argv, const char *kind, const char *what)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	bool force = false;
	char *id = NULL, *path;
	struct fe_buf p;
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
	if (!path)
		return cli_fail("out of memory");
	fe_buf_init(&p);
	fe_buf_add(&p, path);
	if (force)
		fe_buf_add(&p, "?force=true");
	free(path);
	rc = p.failed ? cli_fail("out of memory") : simple("DELETE", p.p, NULL, human_deleted);
	fe_buf_free(&p);
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

static void human_customer(const struct fe_json *ans)
{
	print_member_object(ans, "customer");
}

static int limit_member(struct fe_buf *body, bool *first, const char *limit)
{
	int64_t v;
	char num[32];

	if (!limit)
		return 0;
	if (cli_parse_bytes(limit, &v) < 0)
		return USAGE_ERR("--limit: \"%s\" is not a size (bytes per month: 0 or unlimited, "
				 "500G, 1.5T, 100GiB)",
				 limit);
	snprintf(num, sizeof(num), "%" PRId64, v);
	member_raw(body, first, "transfer_limit", num);
	return 0;
}

static int customer_add(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"limit", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	const char *limit = NULL;
	struct fe_buf body;
	bool first = true;
	int c, rc;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		if (c != 'l')
			return EXIT_USAGE;
		limit = optarg;
	}
	if ((rc = no_more_args(argc, argv, 1, "the customer's name")))
		return rc;
	fe_buf_init(&body);
	fe_buf_add(&body, "{");
	member_str(&body, &first, "name", argv[optind]);
	if ((rc = limit_member(&body, &first, limit))) {
		fe_buf_free(&body);
		return rc;
	}
	fe_buf_add(&body, "}");
	rc = body.failed ? cli_fail("out of memory")
			 : simple("POST", "/v1/customers", body.p, human_customer);
	fe_buf_free(&body);
	return rc;
}

static int customer_list(int argc, char **argv)
{
	struct fe_json *ans = NULL;
	const struct fe_json *list;
	struct cli_table t;
	char *raw = NULL;
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
		list = fe_json_get(ans, "customers");
		cli_table_init(
		    &t, 6,
		    (const char *[]){"NAME", "ID", "STATUS", "PODS", "MONTHLY LIMIT", "CREATED"});
		for (size_t i = 0; list && list->type == FE_JSON_ARRAY && i < list->n; i++) {
			const struct fe_json *cu = list->items[i];
			char pods[32], limit[32], created[64];
			int64_t l = fe_json_get_int(cu, "transfer_limit", 0);

			snprintf(pods, sizeof(pods), "%" PRId64, fe_json_get_int(cu, "pods", 0));
			if (l)
				cli_fmt_bytes(l, limit, sizeof(limit));
			else
				snprintf(limit, sizeof(limit), "unlimited");
			cli_fmt_time(fe_json_get(cu, "created"), created, sizeof(created));
			cli_table_add(&t, (const char *[]){fe_json_get_str(cu, "name"),
							   fe_json_get_str(cu, "id"),
							   fe_json_get_str(cu, "status"), pods,
							   limit, created});
		}
		if (t.nrow == 1)
			printf("No customers: add one with `%s customer add NAME`.\n", PROG);
		else
			cli_table_print(&t);
		cli_table_free(&t);
	}
	mr_api_free_body(raw);
	fe_json_free(ans);
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
	struct fe_buf body;
	bool first = true;
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
	fe_buf_init(&body);
	fe_buf_add(&body, "{");
	if ((rc = limit_member(&body, &first, limit))) {
		fe_buf_free(&body);
		return rc;
	}
	fe_buf_add(&body, "}");
	if (!(rc = cli_resolve("customer", argv[optind], &id))) {
		path = object_path("customers", id, "plan");
		rc = path && !body.failed ? simple("POST", path, body.p, human_customer)
					  : cli_fail("out of memory");
	}
	free(id);
	free(path);
	fe_buf_free(&body);
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

static void human_pod(const struct fe_json *ans)
{
	cli_print_object(fe_json_get(ans, "pod"), pod_keys);
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
	char *cu_id = NULL, *nd_id = NULL, *raw = NULL;
	struct fe_json *ans = NULL;
	struct fe_buf body;
	bool first = true;
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
	fe_buf_init(&body);
	fe_buf_add(&body, "{");
	member_str(&body, &first, "customer", cu_id);
	member_str(&body, &first, "node", nd_id);
	fe_buf_add(&body, "}");
	rc = body.failed ? cli_fail("out of memory")
			 : cli_request("POST", "/v1/pods", body.p, &ans, &raw);
	fe_buf_free(&body);
	if (rc)
		goto out;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		const struct fe_json *pod = fe_json_get(ans, "pod");

		printf("Created pod %s (interface %s, port %" PRId64 ") for customer %s on node "
		       "%s.\n",
		       fe_json_get_str(pod, "id"), fe_json_get_str(pod, "interface"),
		       fe_json_get_int(pod, "listen_port", 0), customer, node);
		rc = show_secret(ans, token_out, "pod");
		if (!rc)
			printf("The customer logs in with it: `%s login URL --token TOKEN --ca "
			       "ca.crt`.\n",
			       PROG);
	}
out:
	if (raw)
		mr_api_free_body(raw);
	fe_json_free(ans);
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
	char *cu_id = NULL, *nd_id = NULL, *raw = NULL;
	struct fe_json *ans = NULL;
	const struct fe_json *list;
	struct cli_table t;
	struct fe_buf p;
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
	fe_buf_init(&p);
	fe_buf_add(&p, "/v1/pods");
	query_add(&p, "customer", cu_id);
	query_add(&p, "node", nd_id);
	query_add(&p, "status", status);
	rc = p.failed ? cli_fail("out of memory") : cli_request("GET", p.p, NULL, &ans, &raw);
	fe_buf_free(&p);
	if (rc)
		goto out;
	if (cli.json) {
		cli_print_json(raw);
		goto out;
	}
	list = fe_json_get(ans, "pods");
	cli_table_init(&t, 8,
		       (const char *[]){"ID", "CUSTOMER", "NODE", "INTERFACE", "STATUS", "ENDPOINT",
					"ADDRESSES", "DEVICES"});
	for (size_t i = 0; list && list->type == FE_JSON_ARRAY && i < list->n; i++) {
		const struct fe_json *pd = list->items[i];
		char addrs[256], peers[32];

		cli_fmt_value(fe_json_get(pd, "addresses"), addrs, sizeof(addrs));
		snprintf(peers, sizeof(peers), "%" PRId64, fe_json_get_int(pd, "peers", 0));
		cli_table_add(&t, (const char *[]){
				      fe_json_get_str(pd, "id"), fe_json_get_str(pd, "customer"),
				      fe_json_get_str(pd, "node"), fe_json_get_str(pd, "interface"),
				      fe_json_get_str(pd, "status"),
				      fe_json_get_str(pd, "endpoint"), addrs, peers});
	}
	if (t.nrow == 1)
		printf("No pods.\n");
	else
		cli_table_print(&t);
	cli_table_free(&t);
out:
	if (raw)
		mr_api_free_body(raw);
	fe_json_free(ans);
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
	struct fe_json *ans = NULL;
	int64_t expires = 0, d;
	struct fe_buf body;
	bool first = true;
	char *raw = NULL, num[32];
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
	fe_buf_init(&body);
	fe_buf_add(&body, "{");
	member_str(&body, &first, "kind", kind);
	member_str(&body, &first, "subject", subject);
	member_str(&body, &first, "label", label);
	if (expires) {
		snprintf(num, sizeof(num), "%" PRId64, expires);
		member_raw(&body, &first, "expires", num);
	}
	fe_buf_add(&body, "}");
	rc = body.failed ? cli_fail("out of memory")
			 : cli_request("POST", "/v1/tokens", body.p, &ans, &raw);
	fe_buf_free(&body);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		const struct fe_json *tok = fe_json_get(ans, "token");

		printf("Issued %s token %s%s%s.\n", fe_json_get_str(tok, "kind"),
		       fe_json_get_str(tok, "id"), subject ? " for " : "", subject ? subject : "");
		rc = show_secret(ans, token_out, fe_json_get_str(tok, "kind"));
	}
	mr_api_free_body(raw);
	fe_json_free(ans);
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
	struct fe_json *ans = NULL;
	const struct fe_json *list;
	struct cli_table t;
	struct fe_buf p;
	char *raw = NULL;
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
	fe_buf_init(&p);
	fe_buf_add(&p, "/v1/tokens");
	query_add(&p, "kind", kind);
	query_add(&p, "subject", subject);
	query_add(&p, "revoked", revoked);
	rc = p.failed ? cli_fail("out of memory") : cli_request("GET", p.p, NULL, &ans, &raw);
	fe_buf_free(&p);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		list = fe_json_get(ans, "tokens");
		cli_table_init(&t, 7,
			       (const char *[]){"ID", "KIND", "SUBJECT", "LABEL", "CREATED",
						"EXPIRES", "REVOKED"});
		for (size_t i = 0; list && list->type == FE_JSON_ARRAY && i < list->n; i++) {
			const struct fe_json *tk = list->items[i];
			char created[64], expires[64], revoked_at[64];

			cli_fmt_time(fe_json_get(tk, "created"), created, sizeof(created));
			cli_fmt_time(fe_json_get(tk, "expires"), expires, sizeof(expires));
			cli_fmt_time(fe_json_get(tk, "revoked"), revoked_at, sizeof(revoked_at));
			cli_table_add(&t, (const char *[]){fe_json_get_str(tk, "id"),
							   fe_json_get_str(tk, "kind"),
							   fe_json_get_str(tk, "subject"),
							   fe_json_get_str(tk, "label"), created,
							   expires, revoked_at});
		}
		cli_table_print(&t);
		cli_table_free(&t);
	}
	mr_api_free_body(raw);
	fe_json_free(ans);
	return 0;
}

static void human_revoked(const struct fe_json *ans)
{
	const struct fe_json *tok = fe_json_get(ans, "token");

	printf("Token %s (%s) is revoked.\n", fe_json_get_str(tok, "id"),
	       fe_json_get_str(tok, "kind"));
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
	char since[32] = "", until[32] = "", *raw = NULL;
	struct fe_json *ans = NULL;
	const struct fe_json *list;
	struct cli_table t;
	struct fe_buf p;
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
	fe_buf_init(&p);
	fe_buf_add(&p, "/v1/audit");
	query_add(&p, "subject", subject);
	query_add(&p, "actor", actor);
	query_add(&p, "action", action);
	query_add(&p, "since", since[0] ? since : NULL);
	query_add(&p, "until", until[0] ? until : NULL);
	query_add(&p, "limit", limit);
	rc = p.failed ? cli_fail("out of memory") : cli_request("GET", p.p, NULL, &ans, &raw);
	fe_buf_free(&p);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
	} else {
		list = fe_json_get(ans, "events");
		cli_table_init(&t, 5,
			       (const char *[]){"TIME", "ACTOR", "ACTION", "SUBJECT", "DETAIL"});
		for (size_t i = 0; list && list->type == FE_JSON_ARRAY && i < list->n; i++) {
			const struct fe_json *ev = list->items[i], *detail;
			char when[64];
			struct fe_buf d;

			fe_buf_init(&d);
			detail = fe_json_get(ev, "detail");
			for (size_t k = 0;
			     detail && detail->type == FE_JSON_OBJECT && k < detail->n; k++) {
				char v[256];

				fe_buf_addf(&d, "%s%s=%s", k ? " " : "", detail->keys[k],
					    cli_fmt_value(detail->items[k], v, sizeof(v)));
			}
			cli_fmt_time(fe_json_get(ev, "time"), when, sizeof(when));
			cli_table_add(&t, (const char *[]){when, fe_json_get_str(ev, "actor"),
							   fe_json_get_str(ev, "action"),
							   fe_json_get_str(ev, "subject"),
							   d.p ? d.p : ""});
			fe_buf_free(&d);
		}
		cli_table_print(&t);
		cli_table_free(&t);
	}
	mr_api_free_body(raw);
	fe_json_free(ans);
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
	char *cu_id = NULL, *raw = NULL;
	struct fe_json *ans = NULL;
	const struct fe_json *list;
	struct cli_table t;
	struct fe_buf p;
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
	fe_buf_init(&p);
	fe_buf_add(&p, "/v1/usage");
	query_add(&p, "customer", cu_id);
	query_add(&p, "month", month);
	rc = p.failed ? cli_fail("out of memory") : cli_request("GET", p.p, NULL, &ans, &raw);
	fe_buf_free(&p);
	free(cu_id);
	if (rc)
		return rc;
	if (cli.json) {
		cli_print_json(raw);
		goto out;
	}
	printf("Month %s (UTC)\n\n",
	       fe_json_get_str(ans, "month") ? fe_json_get_str(ans, "month") : "?");
	list = fe_json_get(ans, "customers");
	cli_table_init(&t, 6,
		       (const char *[]){"CUSTOMER", "ID", "RECEIVED", "SENT", "TOTAL", "LIMIT"});
	for (size_t i = 0; list && list->type == FE_JSON_ARRAY && i < list->n; i++) {
		const struct fe_json *u = list->items[i];
		const struct fe_json *over = fe_json_get(u, "over_limit");
		char rx[32], tx[32], total[32], limit[48];
		int64_t l = fe_json_get_int(u, "transfer_limit", 0);

		if (l) {
			char lb[32];

			snprintf(limit, sizeof(limit), "%s%s", cli_fmt_bytes(l, lb, sizeof(lb)),
				 over && over->type == FE_JSON_BOOL && over->b ? " (over)" : "");
		} else {
			snprintf(limit, sizeof(limit), "unlimited");
		}
		cli_table_add(
		    &t, (const char *[]){
			    fe_json_get_str(u, "name"), fe_json_get_str(u, "customer"),
			    cli_fmt_bytes(fe_json_get_int(u, "rx_bytes", 0), rx, sizeof(rx)),
			    cli_fmt_bytes(fe_json_get_int(u, "tx_bytes", 0), tx, sizeof(tx)),
			    cli_fmt_bytes(fe_json_get_int(u, "total", 0), total, sizeof(total)),
			    limit});
	}
	cli_table_print(&t);
	cli_table_free(&t);
	list = fe_json_get(ans, "peers");
	if (list && list->type == FE_JSON_ARRAY) {
		printf("\n");
		cli_table_init(&t, 5, (const char *[]){"DEVICE", "ID", "POD", "RECEIVED", "SENT"});
		for (size_t i = 0; i < list->n; i++) {
			const struct fe_json *u = list->items[i];
			char rx[32], tx[32];

			cli_table_add(
			    &t,
			    (const char *[]){
				fe_json_get_str(u, "name"), fe_json_get_str(u, "peer"),
				fe_json_get_str(u, "pod"),
				cli_fmt_bytes(fe_json_get_int(u, "rx_bytes", 0), rx, sizeof(rx)),
				cli_fmt_bytes(fe_json_get_int(u, "tx_bytes", 0), tx, sizeof(tx))});
		}
		cli_table_print(&t);
		cli_table_free(&t);
	}
out:
	mr_api_free_body(raw);
	fe_json_free(ans);
	return 0;
}

static void human_status(const struct fe_json *ans)
{
	for (size_t i = 0; ans && ans->type == FE_JSON_OBJECT && i < ans->n; i++) {
		const struct fe_json *v = ans->items[i];

		if (v->type == FE_JSON_OBJECT) {
			printf("%-10s", ans->keys[i]);
			for (size_t k = 0; k < v->n; k++) {
				char buf[64];

				printf(" %s=%s", v->keys[k],
				       cli_fmt_value(v->items[k], buf, sizeof(buf)));
			}
			printf("\n");
		} else {
			char buf[64];

			printf("%-10s %s\n", ans->keys[i], cli_fmt_value(v, buf, sizeof(buf)));
		}
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

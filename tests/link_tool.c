/* SPDX-License-Identifier: MIT */
/*
 * Helper of tests/link-ip.sh: one link operation per run, through the
 * shared library's public API, in the caller's network namespace.
 *
 *   link_tool [-v] create-wg NAME
 *   link_tool [-v] delete NAME
 *   link_tool [-v] exists NAME              -> "yes" | "no"
 *   link_tool [-v] get NAME                 -> "NAME IFINDEX MTU up|down KIND"
 *   link_tool [-v] list [PREFIX]            -> one such line per link
 *   link_tool [-v] set-mtu NAME MTU
 *   link_tool [-v] set-up NAME up|down
 *   link_tool [-v] get-addrs NAME           -> one address per line
 *   link_tool [-v] set-addrs NAME [ADDR...] -> "added N removed M"
 *   link_tool [-v] default-routes [0|4|6]   -> one interface name per line
 *
 * KIND is "-" for links without one. ADDR is an interface address
 * ("10.0.0.1/24"), or "raw:FAMILY:LEN:ADDRESS" to hand the library a
 * prefix with any family and length (for bad-input tests). -v sends the
 * library's log to stderr. Exit status: 0 ok, 1 the library refused
 * ("error: CODE_NAME: DETAIL" on stderr), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/myrelay.h>

static int usage(void)
{
	fprintf(stderr, "usage: link_tool [-v] COMMAND ARGS (see tests/link_tool.c)\n");
	return 2;
}

static int fail(int rc)
{
	fprintf(stderr, "error: %s: %s\n", mr_error_name(rc), mr_error_message());
	return 1;
}

static void log_stderr(int level, const char *message, void *userdata)
{
	(void)userdata;
	fprintf(stderr, "log %d: %s\n", level, message);
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s)
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_addr(const char *s, mr_prefix *out)
{
	char buf[128];
	char *fam, *len, *addr;
	uint32_t f, l;

	if (strncmp(s, "raw:", 4) != 0)
		return mr_cidr_parse_interface(out, s) == 0 ? 0 : -1;
	snprintf(buf, sizeof(buf), "%s", s + 4);
	fam = strtok(buf, ":");
	len = strtok(NULL, ":");
	addr = strtok(NULL, "");
	if (!fam || !len || !addr || parse_u32(fam, &f) || parse_u32(len, &l) || f > 255 ||
	    l > 255 || mr_cidr_parse_address(out, addr))
		return -1;
	out->family = (uint8_t)f;
	out->len = (uint8_t)l;
	return 0;
}

static void print_links(const mr_link_list *list)
{
	for (size_t i = 0; i < mr_link_list_count(list); i++) {
		uint32_t ifindex, mtu;
		bool up;
		const char *kind;

		mr_link_list_info(list, i, &ifindex, &mtu, &up, &kind);
		printf("%s %u %u %s %s\n", mr_link_list_name(list, i), ifindex, mtu,
		       up ? "up" : "down", *kind ? kind : "-");
	}
}

static int run(mr_ctx *ctx, const char *cmd, int argc, char **argv)
{
	mr_link_list *list = NULL;
	int rc;

	if (!strcmp(cmd, "create-wg") && argc == 1)
		return mr_link_create_wireguard(ctx, argv[0]);
	if (!strcmp(cmd, "delete") && argc == 1)
		return mr_link_delete(ctx, argv[0]);
	if (!strcmp(cmd, "exists") && argc == 1) {
		bool yes;

		rc = mr_link_exists(ctx, argv[0], &yes);
		if (rc == 0)
			printf("%s\n", yes ? "yes" : "no");
		return rc;
	}
	if ((!strcmp(cmd, "get") && argc == 1) || (!strcmp(cmd, "list") && argc <= 1)) {
		if (cmd[0] == 'g')
			rc = mr_link_get(ctx, argv[0], &list);
		else
			rc = mr_link_dump(ctx, argc ? argv[0] : NULL, &list);
		if (rc == 0)
			print_links(list);
		mr_link_list_free(list);
		return rc;
	}
	if (!strcmp(cmd, "set-mtu") && argc == 2) {
		uint32_t mtu;

		if (parse_u32(argv[1], &mtu))
			return usage();
		return mr_link_set_mtu(ctx, argv[0], mtu);
	}
	if (!strcmp(cmd, "set-up") && argc == 2) {
		if (strcmp(argv[1], "up") && strcmp(argv[1], "down"))
			return usage();
		return mr_link_set_up(ctx, argv[0], !strcmp(argv[1], "up"));
	}
	if (!strcmp(cmd, "get-addrs") && argc == 1) {
		mr_prefix *addrs;
		size_t n;
		char text[MR_CIDR_STRLEN];

		rc = mr_link_get_addresses(ctx, argv[0], &addrs, &n);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			mr_cidr_format(text, sizeof(text), &addrs[i]);
			printf("%s\n", text);
		}
		if (rc == 0)
			mr_free(addrs);
		return rc;
	}
	if (!strcmp(cmd, "set-addrs") && argc >= 1) {
		mr_prefix *addrs = calloc((size_t)argc, sizeof(*addrs));
		size_t added, removed;

		if (!addrs)
			return MR_ENOMEM;
		for (int i = 1; i < argc; i++)
			if (parse_addr(argv[i], &addrs[i - 1])) {
				free(addrs);
				return usage();
			}
		rc = mr_link_set_addresses(ctx, argv[0], addrs, (size_t)argc - 1, &added, &removed);
		if (rc == 0)
			printf("added %zu removed %zu\n", added, removed);
		free(addrs);
		return rc;
	}
	if (!strcmp(cmd, "default-routes") && argc <= 1) {
		uint32_t family = 0;

		if (argc && parse_u32(argv[0], &family))
			return usage();
		rc = mr_link_default_route_ifaces(ctx, (int)family, &list);
		for (size_t i = 0; rc == 0 && i < mr_link_list_count(list); i++)
			printf("%s\n", mr_link_list_name(list, i));
		if (rc == 0)
			mr_link_list_free(list);
		return rc;
	}
	return usage();
}

int main(int argc, char **argv)
{
	mr_ctx *ctx;
	bool verbose = false;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "-v")) {
		verbose = true;
		argc--;
		argv++;
	}
	if (argc < 2)
		return usage();
	if (mr_ctx_new(&ctx) < 0)
		return fail(mr_error_last());
	if (verbose)
		mr_ctx_set_log(ctx, log_stderr, MR_LOG_DEBUG, NULL);
	rc = run(ctx, argv[1], argc - 2, argv + 2);
	mr_ctx_free(ctx);
	if (rc == 2)
		return 2;
	if (rc < 0)
		return fail(rc);
	return 0;
}

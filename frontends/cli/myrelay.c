/* SPDX-License-Identifier: MIT */
/*
 * myrelay: the command-line client of a MyRelay server, for operators
 * (admin token) and customers (pod token), plus wg(8)-compatible key tools.
 *
 * Commands are dispatched through tables of {name, handler, usage, help},
 * the way wg(8) does it; groups (peer, node, ...) have tables of their own.
 */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/error.h>
#include <myrelay/version.h>

struct cli_state cli;

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

/* clang-format off */
static const struct command commands[] = {
	{ "genkey", cmd_genkey, "", "Generate a private key and print it in base64 (as `wg genkey`)." },
	{ "pubkey", cmd_pubkey, "< PRIVATE_KEY", "Read a private key on standard input, print its public key (as `wg pubkey`)." },
	{ "genpsk", cmd_genpsk, "", "Generate a preshared key and print it in base64 (as `wg genpsk`)." },
	{ "login", cli_login, "URL (--token TOKEN | --token-file FILE) [--ca FILE] [--allow-http]",
	  "Check and store the server, the token and the server's CA certificate.\n\n"
	  "The server is asked first; then URL, token and a copy of the CA certificate are\n"
	  "stored in $XDG_CONFIG_HOME/myrelay (default ~/.config/myrelay), mode 0600.\n\n"
	  "  --token TOKEN       the admin or pod token (\"-\" reads it from standard input)\n"
	  "  --token-file FILE   read the token from FILE\n"
	  "  --ca FILE           the server's CA certificate (myrelay-server's ca.crt);\n"
	  "                      without it, the system's trust store is used\n"
	  "  --allow-http        allow a plain http:// URL on a loopback address\n"
	  "                      (a test server run with --insecure)\n\n"
	  "MYRELAY_URL, MYRELAY_TOKEN and MYRELAY_CA override the stored values." },
	{ "logout", cli_logout, "", "Forget the stored server, token and CA certificate." },
	{ "peer", cmd_peer, "SUBCOMMAND ...", "Devices of a pod (pod token): add, list, show, remove, enable, disable, expire." },
	{ "config", cmd_config, "NAME [--out FILE] [--qr] [--pod ID]", "Print a device's wg-quick configuration again, from the key kept locally." },
	{ "pod", cmd_pod, "SUBCOMMAND ...", "Pods: show (pod or admin token); create, list, remove (admin token)." },
	{ "node", cmd_node, "SUBCOMMAND ...", "VPN nodes (admin token): add, list, show, drain, remove." },
	{ "customer", cmd_customer, "SUBCOMMAND ...", "Customers (admin token): add, list, show, plan, remove." },
	{ "token", cmd_token, "SUBCOMMAND ...", "API tokens (admin token): create, list, revoke." },
	{ "audit", cmd_audit, "[--subject ID] [--actor ID] [--action NAME] [--since TIME] [--limit N]", "Read the audit log, newest first (admin token)." },
	{ "usage", cmd_usage, "[--customer ID|NAME] [--month YYYY-MM]", "Transfer used per customer (and per device for one customer) in a month (admin token)." },
	{ "status", cmd_status, "", "Overview of nodes, customers, pods, peers and tokens (admin token)." },
	{ "version", cmd_version, "", "Print the version of myrelay and of the library." },
	{ "help", cmd_help, "[COMMAND]", "Show help for all commands or one." },
};
/* clang-format on */

static void vmessage(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", PROG);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_usage(const char *usage, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	if (usage)
		fprintf(stderr, "Usage: %s %s %s\nTry `%s %s --help` for more.\n", PROG,
			cli.cmd_path ? cli.cmd_path : "", usage, PROG,
			cli.cmd_path ? cli.cmd_path : "");
	return EXIT_USAGE;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(fmt, ap);
	va_end(ap);
	return EXIT_FAIL;
}

int cli_exit_code(int code)
{
	/* A request the server refused as malformed is bad input too. */
	return code == MR_EINVAL || code == MR_ETOOBIG ? EXIT_USAGE : EXIT_FAIL;
}

int cli_fail_mr(int code, const char *what)
{
	const char *detail = mr_error_message();
	long status = cli.api ? mr_api_last_status(cli.api) : 0;

	if (!detail[0])
		detail = mr_strerror(code);
	fprintf(stderr, "%s: %s: %s\n", PROG, what, detail);
	switch (code) {
	case MR_EAUTH:
		if (status == 401)
			fprintf(stderr,
				"hint: the server refused the token; log in again with "
				"`%s login URL --token TOKEN` (or check MYRELAY_TOKEN)\n",
				PROG);
		else if (status == 0)
			fprintf(stderr,
				"hint: give the server's CA certificate with `%s login URL "
				"--ca ca.crt ...` (or MYRELAY_CA); it is ca.crt in "
				"myrelay-server's data directory\n",
				PROG);
		break;
	case MR_EPERM:
		if (status == 403)
			fprintf(stderr, "hint: this token may not do that (operator commands need "
					"an admin token, device commands a pod token)\n");
		break;
	case MR_ENETWORK:
	case MR_ETIMEOUT:
		if (status == 0)
			fprintf(stderr,
				"hint: check the URL (`%s login`, MYRELAY_URL) and that the "
				"server is running and reachable\n",
				PROG);
		break;
	case MR_ERATELIMIT:
		if (cli.api && mr_api_retry_after(cli.api))
			fprintf(stderr, "hint: retry in %u s\n", mr_api_retry_after(cli.api));
		break;
	default:
		break;
	}
	return cli_exit_code(code);
}

static void print_help(FILE *f, const char *usage, const char *help)
{
	fprintf(f, "Usage: %s %s%s%s\n\n%s\n", PROG, cli.cmd_path ? cli.cmd_path : "",
		usage && usage[0] ? " " : "", usage ? usage : "", help);
	fprintf(f, "\nCommon options:\n  --json              print the server's answer as JSON\n"
		   "  -h, --help          show this help\n");
}

int cli_getopt(int argc, char **argv, const struct option *opts)
{
	const char *usage = cli.usage, *help = cli.help;

	static struct option all[40];
	size_t n = 0;
	int c;

	for (; opts && opts[n].name && n < ARRAY_SIZE(all) - 3; n++)
		all[n] = opts[n];
	all[n++] = (struct option){"help", no_argument, NULL, 'h'};
	all[n++] = (struct option){"json", no_argument, NULL, 'J'};
	all[n] = (struct option){NULL, 0, NULL, 0};
	for (;;) {
		opterr = 0;
		c = getopt_long(argc, argv, ":h", all, NULL);
		if (c == 'h') {
			print_help(stdout, usage, help);
			exit(EXIT_OK);
		}
		if (c == 'J') {
			cli.json = true;
			continue;
		}
		if (c == '?') {
			if (optopt)
				cli_usage(usage, "unknown option -%c", optopt);
			else
				cli_usage(usage, "unknown option %s", argv[optind - 1]);
			return '?';
		}
		if (c == ':') {
			cli_usage(usage, "option %s needs a value", argv[optind - 1]);
			return '?';
		}
		return c;
	}
}

void cli_print_group_help(const struct command *table, size_t n, const char *group)
{
	printf("Usage: %s %s%sCOMMAND [ARGS]\n\n", PROG, group ? group : "", group ? " " : "");
	if (!group)
		printf("The command-line client of a MyRelay server, for operators (admin "
		       "token)\nand customers (pod token).\n\n");
	printf("Commands:\n");
	/* The first line of each help; the rest is the command's own --help. */
	for (size_t i = 0; i < n; i++)
		printf("  %-10s %.*s\n", table[i].name, (int)strcspn(table[i].help, "\n"),
		       table[i].help);
	printf("\n`%s %s%sCOMMAND --help` shows a command's options. Add --json to print\n"
	       "the server's answer as JSON. Exit codes: 0 success, 1 failure, 2 usage or\n"
	       "bad input.\n",
	       PROG, group ? group : "", group ? " " : "");
}

int cli_dispatch(const struct command *table, size_t n, const char *group, int argc, char **argv)
{
	static char path[64];
	const char *name;

	/* Options before the subcommand: --json, --help. */
	while (argc > 1 && argv[1][0] == '-') {
		if (strcmp(argv[1], "--json") == 0) {
			cli.json = true;
		} else if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
			cli_print_group_help(table, n, group);
			return EXIT_OK;
		} else if (!group && strcmp(argv[1], "--version") == 0) {
			optind = 0;
			return cmd_version(1, argv);
		} else {
			cli.cmd_path = group;
			return cli_usage(group ? "COMMAND ..." : "COMMAND ...", "unknown option %s",
					 argv[1]);
		}
		argc--;
		argv++;
	}
	if (argc < 2) {
		cli.cmd_path = group;
		return cli_usage("COMMAND ...", "%s",
				 group ? "which subcommand?" : "which command?");
	}
	name = argv[1];
	for (size_t i = 0; i < n; i++) {
		if (strcmp(table[i].name, name) != 0)
			continue;
		snprintf(path, sizeof(path), "%s%s%s", group ? group : "", group ? " " : "", name);
		cli.cmd_path = path;
		cli.usage = table[i].usage;
		cli.help = table[i].help;
		/* getopt_long restarts from argv[1] of the subcommand; every leaf
		 * command parses with cli_getopt(), which answers --help. */
		optind = 0;
		return table[i].handler(argc - 1, argv + 1);
	}
	cli.cmd_path = group;
	fprintf(stderr, "%s: unknown %scommand \"%s\"\n", PROG, group ? "sub" : "", name);
	fprintf(stderr, "Try `%s %s%s--help` for the list.\n", PROG, group ? group : "",
		group ? " " : "");
	return EXIT_USAGE;
}

static int cmd_help(int argc, char **argv)
{
	int c;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 2) {
		cli_print_group_help(commands, ARRAY_SIZE(commands), NULL);
		return EXIT_OK;
	}
	if (argc > 2 || strcmp(argv[1], "help") == 0)
		return cli_usage("[COMMAND]", "help takes one command name");
	return cli_dispatch(commands, ARRAY_SIZE(commands), NULL, 3,
			    (char *[]){(char *)PROG, argv[1], (char *)"--help", NULL});
}

static int cmd_version(int argc, char **argv)
{
	int c;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	if (optind < argc)
		return cli_usage("", "version takes no arguments");
	if (cli.json) {
		json_t *v =
		    json_pack("{s:s, s:s}", "version", MR_VERSION_STRING, "library", mr_version());

		if (!v)
			return cli_fail("out of memory");
		cli_print_json_value(v);
		json_decref(v);
	} else
		printf("myrelay %s (libmyrelay %s)\n", MR_VERSION_STRING, mr_version());
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	int rc;

	/* Tokens and keys pass through jansson trees (ours and the
	 * library's): wipe whatever it frees. */
	fe_json_wipe_on_free();
	rc = cli_dispatch(commands, ARRAY_SIZE(commands), NULL, argc, argv);
	mr_api_free(cli.api);
	if (cli.token) {
		explicit_bzero(cli.token, strlen(cli.token));
		free(cli.token);
	}
	free(cli.url);
	free(cli.ca);
	free(cli.config_dir);
	free(cli.pod_id);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror(PROG ": standard output");
		return EXIT_FAIL;
	}
	return rc;
}

/* SPDX-License-Identifier: MIT */
/* Options of `myrelay-agent run` and `check`, from the command line and an
 * optional configuration file (the command line wins). */
#include "agent.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../common/conffile.h"

enum {
	O_SERVER = 256,
	O_CA,
	O_TOKEN_FILE,
	O_DESIRED_FILE,
	O_STATE_DIR,
	O_BACKEND,
	O_WIREGUARD_GO,
	O_UPLINK,
	O_REPORT_INTERVAL,
	O_RECONCILE_INTERVAL,
	O_POLL_TIMEOUT,
	O_LISTEN_METRICS,
	O_USER,
	O_LOG_LEVEL,
	O_CONFIG,
	O_HELP,
};

static const struct option long_opts[] = {
    {"server", required_argument, NULL, O_SERVER},
    {"ca", required_argument, NULL, O_CA},
    {"token-file", required_argument, NULL, O_TOKEN_FILE},
    {"desired-file", required_argument, NULL, O_DESIRED_FILE},
    {"state-dir", required_argument, NULL, O_STATE_DIR},
    {"backend", required_argument, NULL, O_BACKEND},
    {"wireguard-go", required_argument, NULL, O_WIREGUARD_GO},
    {"uplink", required_argument, NULL, O_UPLINK},
    {"report-interval", required_argument, NULL, O_REPORT_INTERVAL},
    {"reconcile-interval", required_argument, NULL, O_RECONCILE_INTERVAL},
    {"poll-timeout", required_argument, NULL, O_POLL_TIMEOUT},
    {"listen-metrics", required_argument, NULL, O_LISTEN_METRICS},
    {"user", required_argument, NULL, O_USER},
    {"log-level", required_argument, NULL, O_LOG_LEVEL},
    {"config", required_argument, NULL, O_CONFIG},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

void options_usage(FILE *f)
{
	fputs("usage: " PROG " run --server URL --ca FILE --token-file FILE [options]\n"
	      "       " PROG " run --desired-file FILE [options]\n"
	      "       " PROG " check --desired-file FILE\n"
	      "       " PROG " --version | --help\n"
	      "\n"
	      "Makes this node's WireGuard pods match their desired state: from the\n"
	      "MyRelay server (managed mode), or from a local JSON file (standalone\n"
	      "mode), re-applied whenever it changes.\n"
	      "\n"
	      "Managed mode:\n"
	      "  --server URL            the API, https://HOST:PORT\n"
	      "  --ca FILE               CA certificate the server's certificate must chain to\n"
	      "  --token-file FILE       file holding this node's token (read before the\n"
	      "                          privilege drop)\n"
	      "  --poll-timeout SEC      long-poll wait asked of the server (default 25)\n"
	      "  --report-interval SEC   report counters every SEC seconds (default 30)\n"
	      "Standalone mode:\n"
	      "  --desired-file FILE     desired state (same JSON schema), watched with inotify\n"
	      "Both:\n"
	      "  --state-dir DIR         pod keys and ownership records (default\n"
	      "                          " DEFAULT_STATE_DIR ")\n"
	      "  --backend auto|kernel|userspace\n"
	      "                          WireGuard implementation (default auto: the kernel\n"
	      "                          module if loaded, else wireguard-go)\n"
	      "  --wireguard-go PATH     the userspace program to start for each pod\n"
	      "  --uplink IF             masquerade pod traffic out of IF (repeatable; default:\n"
	      "                          the interfaces of the default routes; \"none\": no\n"
	      "                          masquerade)\n"
	      "  --reconcile-interval SEC  re-check every pod every SEC seconds (default 10)\n"
	      "  --listen-metrics ADDR:PORT  /healthz and /metrics (default " DEFAULT_METRICS ";\n"
	      "                          \"none\" to disable)\n"
	      "  --user NAME             unprivileged user to run as (default " DEFAULT_USER ")\n"
	      "  --log-level LEVEL       error, warning, info (default) or debug\n"
	      "  --config FILE           read \"name = value\" lines of these options first\n",
	      f);
}

void options_init(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->backend = MR_BACKEND_AUTO;
	o->report_interval = DEFAULT_REPORT_INTERVAL;
	o->reconcile_interval = DEFAULT_RECONCILE_INTERVAL;
	o->poll_timeout = DEFAULT_POLL_TIMEOUT;
	o->log_level = MR_LOG_INFO;
}

static void clear_uplinks(struct options *o)
{
	for (size_t i = 0; i < o->n_uplinks; i++)
		free(o->uplinks[i]);
	o->n_uplinks = 0;
}

void options_free(struct options *o)
{
	free(o->server);
	free(o->ca);
	free(o->token_file);
	free(o->desired_file);
	free(o->state_dir);
	free(o->wireguard_go);
	clear_uplinks(o);
	free(o->listen_metrics);
	free(o->user);
}

static int set_str(char **slot, const char *value)
{
	char *v = strdup(value);

	if (!v)
		return -1;
	free(*slot);
	*slot = v;
	return 0;
}

static int parse_seconds(const char *v, unsigned min, unsigned max, unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] < '0' || v[0] > '9' || n < min || n > max)
		return -1;
	*out = (unsigned)n;
	return 0;
}

/* Apply one option; err receives a message on failure. from_file: the list
 * options add to the file's list; the command line's first --uplink
 * replaces it. */
static int apply(struct options *o, int opt, const char *v, bool from_file, bool *cli_uplink,
		 char *err, size_t size)
{
	switch (opt) {
	case O_SERVER:
		return set_str(&o->server, v);
	case O_CA:
		return set_str(&o->ca, v);
	case O_TOKEN_FILE:
		return set_str(&o->token_file, v);
	case O_DESIRED_FILE:
		return set_str(&o->desired_file, v);
	case O_STATE_DIR:
		return set_str(&o->state_dir, v);
	case O_WIREGUARD_GO:
		return set_str(&o->wireguard_go, v);
	case O_USER:
		return set_str(&o->user, v);
	case O_BACKEND:
		if (!strcmp(v, "auto"))
			o->backend = MR_BACKEND_AUTO;
		else if (!strcmp(v, "kernel"))
			o->backend = MR_BACKEND_KERNEL;
		else if (!strcmp(v, "userspace"))
			o->backend = MR_BACKEND_USERSPACE;
		else {
			snprintf(err, size, "--backend: expected auto, kernel or userspace");
			return -2;
		}
		return 0;
	case O_UPLINK:
		if (!from_file && !*cli_uplink) {
			clear_uplinks(o);
			*cli_uplink = true;
		}
		o->uplinks_set = true;
		if (!strcmp(v, "none"))
			return 0;
		if (mr_name_validate_interface(v) < 0) {
			snprintf(err, size, "--uplink: %s", mr_error_message());
			return -2;
		}
		if (o->n_uplinks >= MR_POD_UPLINKS_MAX) {
			snprintf(err, size, "--uplink: at most %d", MR_POD_UPLINKS_MAX);
			return -2;
		}
		o->uplinks[o->n_uplinks] = strdup(v);
		if (!o->uplinks[o->n_uplinks])
			return -1;
		o->n_uplinks++;
		return 0;
	case O_REPORT_INTERVAL:
		if (parse_seconds(v, 1, 86400, &o->report_interval) < 0) {
			snprintf(err, size, "--report-interval: expected seconds from 1 to 86400");
			return -2;
		}
		return 0;
	case O_RECONCILE_INTERVAL:
		if (parse_seconds(v, 1, 86400, &o->reconcile_interval) < 0) {
			snprintf(err, size,
				 "--reconcile-interval: expected seconds from 1 to 86400");
			return -2;
		}
		return 0;
	case O_POLL_TIMEOUT:
		if (parse_seconds(v, 0, 3600, &o->poll_timeout) < 0) {
			snprintf(err, size, "--poll-timeout: expected seconds from 0 to 3600");
			return -2;
		}
		return 0;
	case O_LISTEN_METRICS:
		o->metrics_set = true;
		if (!strcmp(v, "none")) {
			free(o->listen_metrics);
			o->listen_metrics = NULL;
			return 0;
		}
		return set_str(&o->listen_metrics, v);
	case O_LOG_LEVEL:
		if (!strcmp(v, "error"))
			o->log_level = MR_LOG_ERROR;
		else if (!strcmp(v, "warning"))
			o->log_level = MR_LOG_WARNING;
		else if (!strcmp(v, "info"))
			o->log_level = MR_LOG_INFO;
		else if (!strcmp(v, "debug"))
			o->log_level = MR_LOG_DEBUG;
		else {
			snprintf(err, size, "--log-level: expected error, warning, info or debug");
			return -2;
		}
		return 0;
	}
	snprintf(err, size, "unknown option");
	return -2;
}

struct file_ctx {
	struct options *o;
	const char *path;
	bool cli_uplink;
	char err[256];
};

static int file_cb(const char *key, const char *value, unsigned line, void *userdata)
{
	struct file_ctx *fc = userdata;
	char err[200] = "";

	for (const struct option *lo = long_opts; lo->name; lo++) {
		if (strcmp(lo->name, key) != 0 || lo->val == O_CONFIG || lo->val == O_HELP)
			continue;
		if (apply(fc->o, lo->val, value, true, &fc->cli_uplink, err, sizeof(err)) < 0) {
			fprintf(stderr, PROG ": %s:%u: %s\n", fc->path, line,
				err[0] ? err : "out of memory");
			return -1;
		}
		return 0;
	}
	fprintf(stderr, PROG ": %s:%u: unknown setting \"%s\"\n", fc->path, line, key);
	return -1;
}

int options_parse(struct options *o, int argc, char **argv, bool run)
{
	const char *config = NULL;
	bool cli_uplink = false;
	char err[256];
	int c;

	/* The file first, so that the command line wins. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
	}
	if (config) {
		struct file_ctx fc = {.o = o, .path = config};

		if (fe_conffile_read(config, file_cb, &fc, err, sizeof(err)) < 0) {
			if (err[0])
				fprintf(stderr, PROG ": %s\n", err);
			return EXIT_USAGE;
		}
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		int rc;

		if (c == O_HELP) {
			options_usage(stdout);
			return -1;
		}
		if (c == O_CONFIG)
			continue;
		if (c == '?' || c == ':') {
			if (optopt && optopt < 256)
				fprintf(stderr, PROG ": unknown option -%c\n", optopt);
			else if (optopt)
				fprintf(stderr, PROG ": %s needs a value\n", argv[optind - 1]);
			else
				fprintf(stderr, PROG ": unknown option %s\n", argv[optind - 1]);
			fputs("Try '" PROG " --help'.\n", stderr);
			return EXIT_USAGE;
		}
		err[0] = '\0';
		rc = apply(o, c, optarg, false, &cli_uplink, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, PROG ": %s\n", rc == -1 ? "out of memory" : err);
			return rc == -1 ? EXIT_FAIL : EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument \"%s\"\nTry '" PROG " --help'.\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (!run) {
		if (!o->desired_file) {
			fputs(PROG ": check needs --desired-file FILE\n", stderr);
			return EXIT_USAGE;
		}
		return 0;
	}
	if (o->desired_file && (o->server || o->token_file || o->ca)) {
		fputs(PROG ": --desired-file (standalone) and --server/--ca/--token-file (managed) "
			   "exclude each other\n",
		      stderr);
		return EXIT_USAGE;
	}
	if (!o->desired_file && (!o->server || !o->ca || !o->token_file)) {
		fputs(PROG ": managed mode needs --server, --ca and --token-file (or give "
			   "--desired-file for standalone mode)\n",
		      stderr);
		return EXIT_USAGE;
	}
	if ((!o->state_dir && set_str(&o->state_dir, DEFAULT_STATE_DIR) < 0) ||
	    (!o->user && set_str(&o->user, DEFAULT_USER) < 0) ||
	    (!o->metrics_set && set_str(&o->listen_metrics, DEFAULT_METRICS) < 0))
		return EXIT_FAIL;
	if (o->state_dir[0] != '/') {
		fputs(PROG ": --state-dir must be an absolute path\n", stderr);
		return EXIT_USAGE;
	}
	return 0;
}

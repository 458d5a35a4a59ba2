/* SPDX-License-Identifier: MIT */
/*
 * myrelay-server: subcommands, options and the configuration file.
 *
 * Every long option of a subcommand can also be given in a configuration
 * file (--config FILE) as "name = value" lines; the command line wins over
 * the file. Exit codes: 0 success, 1 failure, 2 usage or bad input.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <myrelay/error.h>
#include <myrelay/token.h>
#include <myrelay/version.h>

#include "../common/conffile.h"

int pki_check_name(const char *name, char *err, size_t err_size);

#define CMD_INIT 0x1u
#define CMD_RUN 0x2u
#define CMD_CERT 0x4u

enum opt_type { O_STR, O_BOOL, O_UINT, O_DOUBLE, O_LIST };

struct opt_def {
	const char *name;
	enum opt_type type;
	size_t offset;
	unsigned cmds;
	const char *arg;
	double min, max;
	const char *help;
};

#define OFF(f) offsetof(struct server_config, f)

/* clang-format off */
static const struct opt_def opts[] = {
	{ "config", O_STR, OFF(config), CMD_INIT | CMD_RUN | CMD_CERT, "FILE", 0, 0,
	  "read options from FILE (\"name = value\" lines, '#' comments); the command line wins" },
	{ "data-dir", O_STR, OFF(data_dir), CMD_INIT | CMD_RUN | CMD_CERT, "DIR", 0, 0,
	  "the data directory (database, CA, certificate, backup key); required" },
	{ "name", O_LIST, OFF(names), CMD_INIT | CMD_CERT, "HOST", 0, 0,
	  "host name or IP address the server certificate is valid for; repeat for more (at least one)" },
	{ "ca-days", O_UINT, OFF(ca_days), CMD_INIT, "DAYS", 1, 36500,
	  "validity of the internal CA (default 3650)" },
	{ "cert-days", O_UINT, OFF(cert_days), CMD_INIT | CMD_CERT, "DAYS", 1, 3650,
	  "validity of the server certificate (default 825)" },
	{ "listen", O_STR, OFF(listen), CMD_RUN, "ADDR:PORT", 0, 0,
	  "address and port to serve on, numeric: 0.0.0.0:8443, 127.0.0.1:8443, [::]:8443 (dual stack); port 0 picks a free one (default 0.0.0.0:8443)" },
	{ "db", O_STR, OFF(db), CMD_RUN, "FILE", 0, 0, "database file (default DIR/store.db)" },
	{ "cert", O_STR, OFF(cert), CMD_RUN, "FILE", 0, 0,
	  "PEM certificate (chain) to serve (default DIR/server.crt)" },
	{ "key", O_STR, OFF(key), CMD_RUN, "FILE", 0, 0,
	  "PEM private key of the certificate (default DIR/server.key)" },
	{ "insecure", O_BOOL, OFF(insecure), CMD_RUN, NULL, 0, 0,
	  "serve plain HTTP without TLS (tests and local debugging only; warns on every start)" },
	{ "tls-priorities", O_STR, OFF(tls_priorities), CMD_RUN, "STRING", 0, 0,
	  "GnuTLS priority string (default: TLS 1.3 and 1.2 only, AEAD ciphers, ECDHE)" },
	{ "rate", O_DOUBLE, OFF(rate), CMD_RUN, "N", 0, 1e6,
	  "requests per second each client address (IPv4 /32, IPv6 /64) may make on average; 0 disables the limit (default 10)" },
	{ "burst", O_UINT, OFF(burst), CMD_RUN, "N", 1, 1000000,
	  "requests a client may make at once before the rate applies (default 40)" },
	{ "max-connections", O_UINT, OFF(max_connections), CMD_RUN, "N", 1, 1000000,
	  "open connections in total (default 1024)" },
	{ "max-connections-per-ip", O_UINT, OFF(max_connections_per_ip), CMD_RUN, "N", 1, 1000000,
	  "open connections per client IP address (default 32)" },
	{ "connection-timeout", O_UINT, OFF(connection_timeout), CMD_RUN, "SECONDS", 1, 3600,
	  "close a connection idle (or trickling) this long (default 15)" },
	{ "poll-timeout", O_UINT, OFF(poll_timeout), CMD_RUN, "SECONDS", 1, 3600,
	  "longest wait of a node's long poll before 304 Not Modified (default 30)" },
	{ "shutdown-timeout", O_UINT, OFF(shutdown_timeout), CMD_RUN, "SECONDS", 0, 3600,
	  "on SIGTERM/SIGINT, how long in-flight requests may take to finish (default 10)" },
	{ "metrics-public", O_BOOL, OFF(metrics_public), CMD_RUN, NULL, 0, 0,
	  "serve /metrics without a token (default: an admin token is required)" },
	{ "quiet", O_BOOL, OFF(quiet), CMD_RUN, NULL, 0, 0,
	  "do not log libmicrohttpd's connection-level messages" },
};
/* clang-format on */
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

struct command {
	const char *name;
	unsigned bit;
	int (*fn)(struct server_config *cfg);
	const char *usage;
	const char *help;
};

static int cmd_init(struct server_config *cfg);
static int cmd_run(struct server_config *cfg);
static int cmd_cert(struct server_config *cfg);

static const struct command commands[] = {
    {"init", CMD_INIT, cmd_init, "init --data-dir DIR --name HOST [--name HOST_OR_IP ...]",
     "create a data directory (database, internal CA, server certificate, backup key)\n"
     "and print the first admin token, once, on standard output"},
    {"run", CMD_RUN, cmd_run, "run --data-dir DIR [--listen ADDR:PORT] [OPTIONS]",
     "serve the API over HTTPS (SIGTERM/SIGINT: stop accepting, finish, close the database)"},
    {"cert", CMD_CERT, cmd_cert, "cert --data-dir DIR --name HOST [--name ...]",
     "issue a new server key and certificate from the data directory's CA\n"
     "(restart the server to use it)"},
    {"routes", 0, NULL, "routes", "print the route table: method, path, credential, summary"},
    {"version", 0, NULL, "version", "print the version"},
};

void log_msg(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "myrelay-server: %s\n", msg);
}

char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static void usage_main(FILE *f)
{
	fprintf(f, "Usage: myrelay-server COMMAND [OPTIONS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *h = commands[i].help, *nl = strchr(h, '\n');

		fprintf(f, "  %-8s %.*s\n", commands[i].name, nl ? (int)(nl - h) : (int)strlen(h),
			h);
	}
	fprintf(f, "\n`myrelay-server COMMAND --help` lists a command's options.\n");
}

/* Print text from column `indent` on, breaking lines at spaces before `width`. */
static void print_wrapped(FILE *f, const char *text, int indent, int width)
{
	int col = indent;

	while (*text) {
		const char *sp = strchr(text, ' ');
		int word = sp ? (int)(sp - text) : (int)strlen(text);

		if (col > indent && col + 1 + word > width) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", word, text);
		col += word;
		text += word;
		while (*text == ' ')
			text++;
	}
	fputc('\n', f);
}

static void usage_cmd(FILE *f, const struct command *c)
{
	fprintf(f, "Usage: myrelay-server %s\n\n%s\n", c->usage, c->help);
	if (!c->bit)
		return;
	fprintf(f, "\nOptions (also as \"name = value\" in the --config file):\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		char left[64];

		if (!(opts[i].cmds & c->bit))
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
			 opts[i].arg ? opts[i].arg : "");
		fprintf(f, "  %-30s ", left);
		print_wrapped(f, opts[i].help, 33, 100);
	}
	fprintf(f, "  %-30s %s\n", "-h, --help", "show this help");
}

static void cfg_defaults(struct server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->rate = 10;
	cfg->burst = 40;
	cfg->max_connections = 1024;
	cfg->max_connections_per_ip = 32;
	cfg->connection_timeout = 15;
	cfg->poll_timeout = 30;
	cfg->shutdown_timeout = 10;
	cfg->ca_days = 3650;
	cfg->cert_days = 825;
}

static void cfg_free(struct server_config *cfg)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		void *field = (char *)cfg + opts[i].offset;

		if (opts[i].type == O_STR)
			free(*(char **)field);
	}
	for (size_t i = 0; i < cfg->n_names; i++)
		free(cfg->names[i]);
	free(cfg->names);
}

/* Set one option from text; 0, or -1 with a message. */
static int set_opt(struct server_config *cfg, const struct opt_def *o, const char *value,
		   const char *where)
{
	void *field = (char *)cfg + o->offset;
	char *end;

	switch (o->type) {
	case O_STR: {
		char *copy = strdup(value);

		if (!copy)
			return -1;
		free(*(char **)field);
		*(char **)field = copy;
		return 0;
	}
	case O_LIST: {
		char **list = realloc(cfg->names, (cfg->n_names + 1) * sizeof(*list));

		if (!list)
			return -1;
		cfg->names = list;
		if (!(list[cfg->n_names] = strdup(value)))
			return -1;
		cfg->n_names++;
		return 0;
	}
	case O_BOOL:
		if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1")) {
			*(bool *)field = true;
			return 0;
		}
		if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0")) {
			*(bool *)field = false;
			return 0;
		}
		log_msg("%s%s: expected true or false", where, o->name);
		return -1;
	case O_UINT: {
		unsigned long v;

		errno = 0;
		v = strtoul(value, &end, 10);
		if (errno || end == value || *end || value[0] == '-' || v < o->min || v > o->max) {
			log_msg("%s%s: expected a whole number from %.0f to %.0f", where, o->name,
				o->min, o->max);
			return -1;
		}
		*(unsigned *)field = (unsigned)v;
		return 0;
	}
	case O_DOUBLE: {
		double v;

		errno = 0;
		v = strtod(value, &end);
		if (errno || end == value || *end || !(v >= o->min && v <= o->max)) {
			log_msg("%s%s: expected a number from %g to %g", where, o->name, o->min,
				o->max);
			return -1;
		}
		*(double *)field = v;
		return 0;
	}
	}
	return -1;
}

static const struct opt_def *find_opt(const char *name, size_t len, unsigned cmd)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len) &&
		    (opts[i].cmds & cmd))
			return &opts[i];
	return NULL;
}

struct file_ctx {
	struct server_config *cfg;
	unsigned cmd;
	const char *path;
};

static int file_opt(const char *key, const char *value, unsigned line, void *userdata)
{
	struct file_ctx *fc = userdata;
	const struct opt_def *o = find_opt(key, strlen(key), fc->cmd);
	char where[PATH_MAX + 32];

	snprintf(where, sizeof(where), "%s:%u: ", fc->path, line);
	if (!o || !strcmp(key, "config")) {
		log_msg("%sunknown option \"%s\" for this command", where, key);
		return -1;
	}
	return set_opt(fc->cfg, o, value, where);
}

/* Parse argv[2..]: the configuration file first, then the command line over
 * it. Returns 0, 1 (help shown) or 2 (usage error). */
static int parse_args(struct server_config *cfg, const struct command *c, int argc, char **argv)
{
	const char *config = NULL;
	bool cli_names = false;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage_cmd(stdout, c);
			return 1;
		}
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			config = argv[i] + 9;
	}
	if (config && (c->bit & (CMD_INIT | CMD_RUN | CMD_CERT))) {
		struct file_ctx fc = {cfg, c->bit, config};
		char err[256];

		if (fe_conffile_read(config, file_opt, &fc, err, sizeof(err)) < 0) {
			if (err[0])
				log_msg("%s", err);
			return 2;
		}
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *eq, *value;
		const struct opt_def *o;
		size_t len;

		if (strncmp(a, "--", 2) != 0 || !a[2]) {
			log_msg("unexpected argument \"%s\" (see --help)", a);
			return 2;
		}
		a += 2;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		o = find_opt(a, len, c->bit);
		if (!o) {
			log_msg("unknown option --%.*s for %s (see --help)", (int)len, a, c->name);
			return 2;
		}
		if (o->type == O_BOOL && !eq) {
			value = "true";
		} else if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			log_msg("--%s needs a value", o->name);
			return 2;
		}
		if (o->type == O_LIST && !cli_names) {
			/* The command line's names replace the file's. */
			for (size_t k = 0; k < cfg->n_names; k++)
				free(cfg->names[k]);
			cfg->n_names = 0;
			cli_names = true;
		}
		if (set_opt(cfg, o, value, "--") < 0)
			return 2;
	}
	if (c->bit && !cfg->data_dir) {
		log_msg("--data-dir is required (see --help)");
		return 2;
	}
	return 0;
}

static int check_names(struct server_config *cfg)
{
	char err[160];

	if (cfg->n_names == 0) {
		log_msg("at least one --name HOST_OR_IP is required (what clients connect to)");
		return -1;
	}
	for (size_t i = 0; i < cfg->n_names; i++) {
		if (pki_check_name(cfg->names[i], err, sizeof(err)) < 0) {
			log_msg("%s", err);
			return -1;
		}
	}
	return 0;
}

/* --- init ---------------------------------------------------------------- */

static const char *const data_files[] = {
    FILE_DB,	  FILE_DB "-wal", FILE_DB "-shm", FILE_DB "-journal", FILE_CA_KEY,
    FILE_CA_CERT, FILE_KEY,	  FILE_CERT,	  FILE_BACKUP_KEY,
};

static void remove_created(const char *dir)
{
	for (size_t i = 0; i < sizeof(data_files) / sizeof(data_files[0]); i++) {
		char *p = path_join(dir, data_files[i]);

		if (p)
			unlink(p);
		free(p);
	}
}

static int prepare_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_msg("cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_msg("%s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_msg("%s belongs to another user", dir);
		return -1;
	}
	for (size_t i = 0; i < sizeof(data_files) / sizeof(data_files[0]); i++) {
		char *p = path_join(dir, data_files[i]);
		struct stat fst;
		int exists = p ? lstat(p, &fst) == 0 : 0;

		free(p);
		if (exists) {
			log_msg("%s/%s exists: refusing to overwrite an existing installation", dir,
				data_files[i]);
			return -2;
		}
	}
	if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0) {
		log_msg("cannot make %s private (0700): %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int cmd_init(struct server_config *cfg)
{
	char *db = NULL, *bk = NULL, *out = NULL;
	unsigned char backup_key[32];
	struct fe_json *v = NULL;
	mr_store *s = NULL;
	const char *secret;
	int rc, ret = 1;

	if (check_names(cfg) < 0)
		return 2;
	umask(077);
	rc = prepare_dir(cfg->data_dir);
	if (rc < 0)
		return 1;
	db = path_join(cfg->data_dir, FILE_DB);
	bk = path_join(cfg->data_dir, FILE_BACKUP_KEY);
	if (!db || !bk)
		goto out;
	rc = mr_store_open(&s, db, MR_STORE_CREATE | MR_STORE_EXCLUSIVE);
	if (rc < 0) {
		log_msg("%s: %s", db, mr_error_message());
		if (rc == MR_EEXIST) {
			free(db);
			free(bk);
			return 1; /* not ours: do not remove anything */
		}
		goto fail;
	}
	if (pki_init(cfg->data_dir, cfg->names, cfg->n_names, cfg->ca_days, cfg->cert_days) < 0)
		goto fail;
	if (getrandom(backup_key, sizeof(backup_key), 0) != sizeof(backup_key) ||
	    write_secret_file(bk, backup_key, sizeof(backup_key), 0600) < 0) {
		explicit_bzero(backup_key, sizeof(backup_key));
		goto fail;
	}
	explicit_bzero(backup_key, sizeof(backup_key));
	rc = mr_store_token_issue(s, "{\"kind\":\"admin\",\"label\":\"init\"}", &out);
	if (rc < 0) {
		log_msg("first admin token: %s", mr_error_message());
		goto fail;
	}
	v = fe_json_parse(out, strlen(out));
	secret = fe_json_get_str(v, "secret");
	if (!secret)
		goto fail;
	log_msg("initialised %s: %s (0600), %s and %s (CA), %s and %s (server, for %zu name%s), "
		"%s (0600)",
		cfg->data_dir, FILE_DB, FILE_CA_CERT, FILE_CA_KEY, FILE_CERT, FILE_KEY,
		cfg->n_names, cfg->n_names == 1 ? "" : "s", FILE_BACKUP_KEY);
	log_msg("the first admin token follows on standard output; it is shown this once");
	printf("%s\n", secret);
	fflush(stdout);
	ret = 0;
	goto out;
fail:
	mr_store_close(s);
	s = NULL;
	remove_created(cfg->data_dir);
	log_msg("init failed; nothing was left behind");
out:
	if (v) {
		const char *sec = fe_json_get_str(v, "secret");

		if (sec)
			explicit_bzero((char *)sec, strlen(sec));
	}
	fe_json_free(v);
	if (out) {
		explicit_bzero(out, strlen(out));
		mr_free(out);
	}
	mr_store_close(s);
	free(db);
	free(bk);
	return ret;
}

/* --- cert ---------------------------------------------------------------- */

static int cmd_cert(struct server_config *cfg)
{
	if (check_names(cfg) < 0)
		return 2;
	umask(077);
	if (pki_reissue(cfg->data_dir, cfg->names, cfg->n_names, cfg->cert_days) < 0)
		return 1;
	log_msg("new server key and certificate in %s; restart the server to use them",
		cfg->data_dir);
	return 0;
}

/* --- run ----------------------------------------------------------------- */

static int default_path(char **field, const char *dir, const char *name)
{
	if (*field)
		return 0;
	*field = path_join(dir, name);
	return *field ? 0 : -1;
}

static void warn_mode(const char *path, const char *what)
{
	struct stat st;

	if (stat(path, &st) == 0 && (st.st_mode & 0077))
		log_msg("WARNING: %s %s is accessible by other users (mode %03o); it should be "
			"0600",
			what, path, (unsigned)(st.st_mode & 0777));
}

static int cmd_run(struct server_config *cfg)
{
	struct server srv;
	int rc, ret = 1;

	if ((!cfg->listen && !(cfg->listen = strdup("0.0.0.0:8443"))) ||
	    default_path(&cfg->db, cfg->data_dir, FILE_DB) < 0 ||
	    default_path(&cfg->cert, cfg->data_dir, FILE_CERT) < 0 ||
	    default_path(&cfg->key, cfg->data_dir, FILE_KEY) < 0)
		return 1;
	umask(077);
	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	srv.started = (int64_t)time(NULL);
	if (!cfg->insecure)
		warn_mode(cfg->key, "the TLS key");
	rc = mr_store_open(&srv.store, cfg->db, 0);
	if (rc < 0) {
		log_msg("%s: %s%s", cfg->db, mr_error_message(),
			rc == MR_ENOTFOUND ? " (run `myrelay-server init` first)" : "");
		return 1;
	}
	rc = mr_store_open(&srv.timer_store, cfg->db, 0);
	if (rc < 0) {
		log_msg("%s: %s", cfg->db, mr_error_message());
		goto out;
	}
	srv.rl = ratelimit_new(cfg->rate, cfg->burst);
	if (!srv.rl || metrics_init(&srv.metrics) < 0) {
		log_msg("out of memory");
		goto out;
	}
	ret = server_run(&srv);
out:
	metrics_free(&srv.metrics);
	ratelimit_free(srv.rl);
	/* The last step of a graceful stop: WAL checkpointed, file closed. */
	mr_store_close(srv.timer_store);
	mr_store_close(srv.store);
	return ret;
}

int main(int argc, char **argv)
{
	struct server_config cfg;
	const struct command *c = NULL;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage_main(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version"))
		argv[1] = "version";
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			c = &commands[i];
	if (!c) {
		log_msg("unknown command \"%s\"", argv[1]);
		usage_main(stderr);
		return 2;
	}
	if (!c->fn) {
		if (argc > 2 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
			usage_cmd(stdout, c);
			return 0;
		}
		if (argc > 2) {
			log_msg("%s takes no arguments", c->name);
			return 2;
		}
		if (!strcmp(c->name, "routes"))
			routes_print();
		else
			printf("myrelay-server %s (libmyrelay %s)\n", MR_VERSION_STRING,
			       mr_version());
		return 0;
	}
	cfg_defaults(&cfg);
	rc = parse_args(&cfg, c, argc, argv);
	if (rc == 0)
		rc = c->fn(&cfg);
	else if (rc == 1)
		rc = 0;
	cfg_free(&cfg);
	return rc;
}

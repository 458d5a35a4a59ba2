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
#include <sys/file.h>
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
#define CMD_BACKUP 0x8u
#define CMD_RESTORE 0x10u
#define CMD_ALL (CMD_INIT | CMD_RUN | CMD_CERT | CMD_BACKUP | CMD_RESTORE)

/* O_DURATION: seconds, written as 90s, 30m, 24h, 7d or 2w (a bare number is
 * seconds). */
enum opt_type { O_STR, O_BOOL, O_UINT, O_DOUBLE, O_LIST, O_DURATION };

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
	{ "config", O_STR, OFF(config), CMD_ALL, "FILE", 0, 0,
	  "read options from FILE (\"name = value\" lines, '#' comments; options of other commands are ignored there); the command line wins" },
	{ "data-dir", O_STR, OFF(data_dir), CMD_ALL, "DIR", 0, 0,
	  "the data directory (database, CA, certificate, backup key); required" },
	{ "name", O_LIST, OFF(names), CMD_INIT | CMD_CERT, "HOST", 0, 0,
	  "host name or IP address the server certificate is valid for; repeat for more (at least one)" },
	{ "ca-days", O_UINT, OFF(ca_days), CMD_INIT, "DAYS", 1, 36500,
	  "validity of the internal CA (default 3650)" },
	{ "cert-days", O_UINT, OFF(cert_days), CMD_INIT | CMD_CERT, "DAYS", 1, 3650,
	  "validity of the server certificate (default 825)" },
	{ "listen", O_STR, OFF(listen), CMD_RUN, "ADDR:PORT", 0, 0,
	  "address and port to serve on, numeric: 0.0.0.0:8443, 127.0.0.1:8443, [::]:8443 (dual stack); port 0 picks a free one (default 0.0.0.0:8443)" },
	{ "db", O_STR, OFF(db), CMD_RUN | CMD_BACKUP | CMD_RESTORE, "FILE", 0, 0,
	  "database file (default DIR/store.db)" },
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
	{ "backup-interval", O_DURATION, OFF(backup_interval), CMD_RUN, "DURATION", 0, 3650.0 * 86400,
	  "time between scheduled backups: 90s, 30m, 24h, 7d (default 24h); 0 disables them. The first is made at start unless the newest backup in --backup-dir is younger than that" },
	{ "backup-keep", O_UINT, OFF(backup_keep), CMD_RUN, "N", 1, 100000,
	  "scheduled backups to keep: after each one, all but the newest N myrelay-*.bak files in --backup-dir are deleted (default 7)" },
	{ "backup-dir", O_STR, OFF(backup_dir), CMD_RUN | CMD_BACKUP, "DIR", 0, 0,
	  "where backups go (default DIR/backups, created 0700); files are named myrelay-YYYYmmdd-HHMMSS.bak (UTC), mode 0600" },
	{ "backup-key", O_STR, OFF(backup_key), CMD_RUN | CMD_BACKUP | CMD_RESTORE, "FILE", 0, 0,
	  "the 32-byte key backups are encrypted and authenticated with (default DIR/backup.key)" },
	{ "out", O_STR, OFF(out), CMD_BACKUP, "FILE", 0, 0,
	  "write the backup to FILE (which must not exist) instead of a new file in --backup-dir" },
	{ "from", O_STR, OFF(from), CMD_RESTORE, "FILE", 0, 0, "the backup file to restore; required" },
	{ "force", O_BOOL, OFF(force), CMD_RESTORE, NULL, 0, 0,
	  "replace an existing database (it is kept beside as DB.replaced-YYYYmmdd-HHMMSS)" },
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
static int cmd_backup(struct server_config *cfg);
static int cmd_restore(struct server_config *cfg);

static const struct command commands[] = {
    {"init", CMD_INIT, cmd_init, "init --data-dir DIR --name HOST [--name HOST_OR_IP ...]",
     "create a data directory (database, internal CA, server certificate, backup key)\n"
     "and print the first admin token, once, on standard output"},
    {"run", CMD_RUN, cmd_run, "run --data-dir DIR [--listen ADDR:PORT] [OPTIONS]",
     "serve the API over HTTPS (SIGTERM/SIGINT: stop accepting, finish, close the database)"},
    {"cert", CMD_CERT, cmd_cert, "cert --data-dir DIR --name HOST [--name ...]",
     "issue a new server key and certificate from the data directory's CA\n"
     "(restart the server to use it)"},
    {"backup", CMD_BACKUP, cmd_backup, "backup --data-dir DIR [--out FILE] [OPTIONS]",
     "write an encrypted backup of the database (also while the server runs)\n"
     "and print its path"},
    {"restore", CMD_RESTORE, cmd_restore,
     "restore --data-dir DIR --from FILE [--force] [OPTIONS]",
     "restore the database from a backup (refused while a server runs on DIR)\n"
     "A file that was changed or made with another key is refused, and the database\n"
     "is then left as it was."},
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
	cfg->backup_interval = 86400;
	cfg->backup_keep = 7;
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
	case O_DURATION: {
		static const struct {
			char unit;
			unsigned long mult;
		} units[] = {{'\0', 1},	  {'s', 1},	{'m', 60},
			     {'h', 3600}, {'d', 86400}, {'w', 604800}};
		unsigned long v;
		size_t u;

		errno = 0;
		v = strtoul(value, &end, 10);
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++)
			if (*end == units[u].unit && (!*end || !end[1]))
				break;
		if (errno || end == value || value[0] == '-' ||
		    u == sizeof(units) / sizeof(units[0]) ||
		    v > (unsigned long)o->max / units[u].mult) {
			log_msg("%s%s: expected a duration such as 90s, 30m, 24h or 7d (at most "
				"%.0f days), or 0",
				where, o->name, o->max / 86400);
			return -1;
		}
		*(unsigned *)field = (unsigned)(v * units[u].mult);
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
	if (!o && find_opt(key, strlen(key), CMD_ALL) && strcmp(key, "config") != 0)
		return 0; /* one file for every command: another command's option */
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
	if (config && (c->bit & CMD_ALL)) {
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
	json_t *v = NULL;
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
	rc = mr_store_backup_key_create(bk);
	if (rc < 0) {
		log_msg("backup key: %s", mr_error_message());
		goto fail;
	}
	rc = mr_store_token_issue(s, "{\"kind\":\"admin\",\"label\":\"init\"}", &out);
	if (rc < 0) {
		log_msg("first admin token: %s", mr_error_message());
		goto fail;
	}
	/* The tree holds the secret too: jansson wipes what it frees (main). */
	v = json_loads(out, 0, NULL);
	secret = json_string_value(json_object_get(v, "secret"));
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
	json_decref(v);
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

/* Lock DIR/server.lock: shared by every running server, exclusive for a
 * restore. The descriptor, or -1 after saying who holds it. */
static int take_lock(const char *dir, int how)
{
	char *path = path_join(dir, FILE_LOCK);
	int fd;

	if (!path)
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_msg("cannot open %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, how | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK && how == LOCK_EX)
			log_msg("a myrelay-server is running on %s (it holds %s): stop it "
				"before restoring",
				dir, path);
		else if (errno == EWOULDBLOCK)
			log_msg("a restore is in progress on %s (it holds %s): start the "
				"server when it is done",
				dir, path);
		else
			log_msg("cannot lock %s: %s", path, strerror(errno));
		close(fd);
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

static int cmd_run(struct server_config *cfg)
{
	struct server srv;
	int rc, ret = 1, lock;

	if ((!cfg->listen && !(cfg->listen = strdup("0.0.0.0:8443"))) ||
	    default_path(&cfg->db, cfg->data_dir, FILE_DB) < 0 ||
	    default_path(&cfg->cert, cfg->data_dir, FILE_CERT) < 0 ||
	    default_path(&cfg->key, cfg->data_dir, FILE_KEY) < 0 ||
	    default_path(&cfg->backup_dir, cfg->data_dir, DIR_BACKUPS) < 0 ||
	    default_path(&cfg->backup_key, cfg->data_dir, FILE_BACKUP_KEY) < 0)
		return 1;
	umask(077);
	/* Shared: servers may run side by side on one database; a restore
	 * takes the lock exclusively and so waits for none of them. */
	lock = take_lock(cfg->data_dir, LOCK_SH);
	if (lock < 0)
		return 1;
	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	srv.started = (int64_t)time(NULL);
	if (!cfg->insecure)
		warn_mode(cfg->key, "the TLS key");
	rc = mr_store_open(&srv.store, cfg->db, 0);
	if (rc < 0) {
		log_msg("%s: %s%s", cfg->db, mr_error_message(),
			rc == MR_ENOTFOUND ? " (run `myrelay-server init` first)" : "");
		close(lock);
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
	close(lock);
	return ret;
}

/* --- backup and restore --------------------------------------------------- */

static int cmd_backup(struct server_config *cfg)
{
	mr_store *s = NULL;
	char *path = NULL;
	int rc;

	if (default_path(&cfg->db, cfg->data_dir, FILE_DB) < 0 ||
	    default_path(&cfg->backup_dir, cfg->data_dir, DIR_BACKUPS) < 0 ||
	    default_path(&cfg->backup_key, cfg->data_dir, FILE_BACKUP_KEY) < 0)
		return 1;
	umask(077);
	rc = mr_store_open(&s, cfg->db, 0);
	if (rc < 0) {
		log_msg("%s: %s", cfg->db, mr_error_message());
		return 1;
	}
	if (cfg->out) {
		rc = mr_store_backup(s, cfg->out, cfg->backup_key);
		if (rc < 0)
			log_msg("backup to %s: %s", cfg->out, mr_error_message());
		else
			path = strdup(cfg->out);
	} else {
		rc = backup_into_dir(s, cfg->backup_dir, cfg->backup_key, &path);
	}
	mr_store_close(s);
	if (rc < 0)
		return 1;
	if (path)
		printf("%s\n", path);
	fflush(stdout);
	free(path);
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Move the database file and its companions (a WAL left by a crash must go
 * with the file it belongs to, never be applied to another) from one name
 * to another; -1 after logging. */
static int move_db(const char *from, const char *to)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char a[PATH_MAX], b[PATH_MAX];

		if ((size_t)snprintf(a, sizeof(a), "%s%s", from, suffix[i]) >= sizeof(a) ||
		    (size_t)snprintf(b, sizeof(b), "%s%s", to, suffix[i]) >= sizeof(b)) {
			log_msg("%s: path too long", from);
			return -1;
		}
		if (i > 0 && !exists(a))
			continue;
		if (rename(a, b) < 0) {
			log_msg("cannot rename %s to %s: %s", a, b, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void remove_db(const char *path)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		char a[PATH_MAX];

		if ((size_t)snprintf(a, sizeof(a), "%s%s", path, suffix[i]) < sizeof(a))
			unlink(a);
	}
}

static int cmd_restore(struct server_config *cfg)
{
	char *tmpdir = NULL, *tmpdb = NULL, kept[PATH_MAX] = "", stamp[32];
	bool replace;
	time_t now = time(NULL);
	struct tm tm;
	int lock, rc, ret = 1;

	if (!cfg->from) {
		log_msg("--from FILE is required: the backup to restore (see --help)");
		return 2;
	}
	if (default_path(&cfg->db, cfg->data_dir, FILE_DB) < 0 ||
	    default_path(&cfg->backup_key, cfg->data_dir, FILE_BACKUP_KEY) < 0)
		return 1;
	umask(077);
	lock = take_lock(cfg->data_dir, LOCK_EX);
	if (lock < 0)
		return 1;
	replace = exists(cfg->db);
	if (replace && !cfg->force) {
		log_msg("%s exists: give --force to replace it (it is then kept beside as "
			"%s.replaced-TIME)",
			cfg->db, cfg->db);
		goto out;
	}
	/* Restored next to the database (same file system: renamed into
	 * place at the end), in a private directory of its own. */
	{
		char *slash = strrchr(cfg->db, '/');
		size_t n = slash ? (size_t)(slash - cfg->db) + 1 : 0;

		tmpdir = malloc(n + sizeof(".restore-XXXXXX"));
		if (!tmpdir)
			goto out;
		memcpy(tmpdir, cfg->db, n);
		memcpy(tmpdir + n, ".restore-XXXXXX", sizeof(".restore-XXXXXX"));
	}
	if (!mkdtemp(tmpdir)) {
		log_msg("cannot create a directory next to %s: %s", cfg->db, strerror(errno));
		free(tmpdir);
		tmpdir = NULL;
		goto out;
	}
	tmpdb = path_join(tmpdir, FILE_DB);
	if (!tmpdb)
		goto out;
	/* Authenticated before anything is written: a changed file or another
	 * key stops here, with the database as it was. */
	rc = mr_store_restore(cfg->from, cfg->backup_key, tmpdb);
	if (rc < 0) {
		log_msg("%s: %s", cfg->from, mr_error_message());
		log_msg("nothing was restored; %s is unchanged", cfg->db);
		goto out;
	}
	if (replace) {
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		if ((size_t)snprintf(kept, sizeof(kept), "%s.replaced-%s", cfg->db, stamp) >=
			sizeof(kept) ||
		    exists(kept)) {
			log_msg("%s exists (or the name is too long): try again in a second", kept);
			goto out;
		}
		if (move_db(cfg->db, kept) < 0)
			goto out;
	}
	if (move_db(tmpdb, cfg->db) < 0) {
		if (replace && move_db(kept, cfg->db) < 0)
			log_msg("the previous database is in %s", kept);
		goto out;
	}
	log_msg("restored %s from %s", cfg->db, cfg->from);
	if (replace)
		log_msg("the previous database is kept as %s", kept);
	ret = 0;
out:
	if (tmpdb) {
		remove_db(tmpdb);
		free(tmpdb);
	}
	if (tmpdir) {
		rmdir(tmpdir);
		free(tmpdir);
	}
	close(lock);
	return ret;
}

int main(int argc, char **argv)
{
	struct server_config cfg;
	const struct command *c = NULL;
	int rc;

	/* Tokens and keys pass through jansson trees (ours and the
	 * library's): wipe whatever it frees. */
	fe_json_wipe_on_free();
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

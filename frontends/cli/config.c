/* SPDX-License-Identifier: MIT */
/*
 * Where the CLI keeps its state: $XDG_CONFIG_HOME/myrelay (default
 * ~/.config/myrelay), mode 0700, holding
 *
 *   server            "url = ...", "ca = ...", "allow_http = true" lines
 *   token             the token, mode 0600
 *   ca.crt            a copy of the CA certificate given to `login --ca`
 *   peers/<pod>/<name>.json   a device's private key and local settings
 *
 * Every file is written 0600 through a temporary file and rename(), so a
 * crash never leaves a half-written token or key behind.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <myrelay/error.h>
#include <myrelay/token.h>
#include <myrelay/version.h>

#define FILE_SERVER "server"
#define FILE_TOKEN "token"
#define FILE_CA "ca.crt"
#define MAX_SMALL_FILE (1024 * 1024)

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

int cli_config_dir(char **out)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	char *base = NULL;

	if (cli.config_dir) {
		*out = cli.config_dir;
		return 0;
	}
	if (xdg && xdg[0] == '/') {
		base = strdup(xdg);
	} else {
		const char *home = getenv("HOME");
		struct passwd *pw;

		if (!home || home[0] != '/') {
			pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return cli_fail("cannot find the configuration directory: set "
					"XDG_CONFIG_HOME or HOME");
		base = join(home, ".config");
	}
	if (!base)
		return cli_fail("out of memory");
	cli.config_dir = join(base, "myrelay");
	free(base);
	if (!cli.config_dir)
		return cli_fail("out of memory");
	*out = cli.config_dir;
	return 0;
}

/* mkdir -p with mode 0700 for the last component and missing parents. */
static int make_private_dir(const char *path)
{
	char tmp[PATH_MAX];
	struct stat st;

	if (strlen(path) >= sizeof(tmp))
		return cli_fail("%s: path too long", path);
	strcpy(tmp, path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return cli_fail("cannot create %s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return cli_fail("cannot create %s: %s", tmp, strerror(errno));
	if (lstat(tmp, &st) < 0)
		return cli_fail("%s: %s", tmp, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cli_fail("%s: not a directory", tmp);
	/* Our own directory opened up by someone: close it again. */
	if ((st.st_mode & 077) && st.st_uid == getuid() && chmod(tmp, 0700) < 0)
		return cli_fail("%s: cannot set mode 0700: %s", tmp, strerror(errno));
	return 0;
}

int cli_write_private(const char *path, const char *data, size_t len, bool exclusive)
{
	char *tmp = NULL;
	size_t off = 0;
	int fd;

	if (exclusive) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				return cli_usage(cli.usage,
						 "%s exists: choose another file with --out, "
						 "or remove it first",
						 path);
			return cli_fail("cannot create %s: %s", path, strerror(errno));
		}
	} else {
		size_t n = strlen(path) + 16;

		tmp = malloc(n);
		if (!tmp)
			return cli_fail("out of memory");
		snprintf(tmp, n, "%s.tmp.XXXXXX", path);
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd < 0) {
			int e = errno;

			free(tmp);
			return cli_fail("cannot create a file next to %s: %s", path, strerror(e));
		}
	}
	/* Whatever the umask: these files hold keys and tokens. */
	if (fchmod(fd, 0600) < 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (tmp && rename(tmp, path) < 0)
		goto fail;
	free(tmp);
	return 0;
fail : {
	int e = errno;

	if (fd >= 0)
		close(fd);
	unlink(tmp ? tmp : path);
	free(tmp);
	return cli_fail("cannot write %s: %s", path, strerror(e));
}
}

void cli_path_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

/* --- the stored login -------------------------------------------------------- */

struct login {
	char *url;
	char *ca;
	bool allow_http;
};

static void login_free(struct login *l)
{
	free(l->url);
	free(l->ca);
	memset(l, 0, sizeof(*l));
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* 0: read (or absent: all NULL); an exit code on a damaged file. */
static int login_read(const char *dir, struct login *l)
{
	char *path = join(dir, FILE_SERVER), *text, *line, *save = NULL;
	int lineno = 0;

	memset(l, 0, sizeof(*l));
	if (!path)
		return cli_fail("out of memory");
	text = fe_read_file(path, 65536, NULL);
	if (!text) {
		int e = errno;

		if (e == ENOENT) {
			free(path);
			return 0;
		}
		cli_fail("cannot read %s: %s", path, strerror(e));
		free(path);
		return EXIT_FAIL;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq, *key, *value;

		lineno++;
		line = trim(line);
		if (!line[0] || line[0] == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			goto bad;
		*eq = '\0';
		key = trim(line);
		value = trim(eq + 1);
		if (strcmp(key, "url") == 0) {
			free(l->url);
			l->url = strdup(value);
		} else if (strcmp(key, "ca") == 0) {
			free(l->ca);
			l->ca = strdup(value);
		} else if (strcmp(key, "allow_http") == 0) {
			l->allow_http = strcmp(value, "true") == 0;
		} else {
			goto bad;
		}
	}
	free(text);
	free(path);
	return 0;
bad:
	cli_fail("%s: line %d is not understood; run `%s login` again", path, lineno, PROG);
	free(text);
	free(path);
	login_free(l);
	return EXIT_FAIL;
}

static char *read_token_file(const char *path, int *err)
{
	char *t = fe_read_file(path, 4096, NULL);
	size_t n;

	if (!t) {
		*err = errno;
		return NULL;
	}
	/* One line; surrounding whitespace (an editor's newline) is dropped. */
	n = strlen(t);
	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t'))
		t[--n] = '\0';
	if (t[0] == ' ' || t[0] == '\t') {
		size_t k = strspn(t, " \t");

		memmove(t, t + k, n - k + 1);
	}
	return t;
}

int cli_connect(void)
{
	const char *env_url = getenv("MYRELAY_URL"), *env_token = getenv("MYRELAY_TOKEN");
	const char *env_ca = getenv("MYRELAY_CA"), *env_http = getenv("MYRELAY_ALLOW_HTTP");
	struct login l;
	char *dir;
	int rc;

	if (cli.api)
		return 0;
	rc = cli_config_dir(&dir);
	if (rc)
		return rc;
	rc = login_read(dir, &l);
	if (rc)
		return rc;
	if (env_url && env_url[0]) {
		cli.url = strdup(env_url);
	} else {
		cli.url = l.url;
		l.url = NULL;
	}
	if (env_ca) {
		/* Set but empty: the system's trust store. */
		cli.ca = env_ca[0] ? strdup(env_ca) : NULL;
	} else {
		cli.ca = l.ca;
		l.ca = NULL;
	}
	cli.allow_http = (env_http && strcmp(env_http, "1") == 0) || l.allow_http;
	login_free(&l);
	if (!cli.url)
		return cli_usage(NULL,
				 "not logged in: run `%s login URL --token TOKEN [--ca FILE]`, "
				 "or set MYRELAY_URL and MYRELAY_TOKEN",
				 PROG);
	if (env_token && env_token[0]) {
		cli.token = strdup(env_token);
	} else {
		char *path = join(dir, FILE_TOKEN);
		int e = 0;

		if (!path)
			return cli_fail("out of memory");
		cli.token = read_token_file(path, &e);
		if (!cli.token) {
			if (e == ENOENT)
				cli_usage(NULL,
					  "no token: run `%s login URL --token TOKEN` or set "
					  "MYRELAY_TOKEN",
					  PROG);
			else
				cli_fail("cannot read %s: %s", path, strerror(e));
			free(path);
			return e == ENOENT ? EXIT_USAGE : EXIT_FAIL;
		}
		free(path);
	}
	rc = mr_api_new(&cli.api, cli.url, cli.ca, cli.token);
	if (rc < 0)
		return cli_fail_mr(rc, "server settings");
	mr_api_set_user_agent(cli.api, "myrelay/" MR_VERSION_STRING);
	if (cli.allow_http)
		mr_api_set_allow_http(cli.api, true);
	return 0;
}

int cli_request(const char *method, const char *path, const char *body, json_t **out, char **raw)
{
	char *text = NULL;
	json_t *v;
	int rc;

	rc = cli_connect();
	if (rc)
		return rc;
	rc = mr_api_request(cli.api, method, path, body, NULL, &text);
	if (rc < 0)
		return cli_fail_mr(rc, cli.cmd_path ? cli.cmd_path : path);
	v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	if (!v && text[0]) {
		mr_api_free_body(text);
		return cli_fail("%s %s: the server's answer is not JSON (is %s a MyRelay server?)",
				method, path, cli.url);
	}
	if (out)
		*out = v;
	else
		json_decref(v);
	if (raw)
		*raw = text;
	else
		mr_api_free_body(text);
	return 0;
}

/* --- login / logout ------------------------------------------------------- */

static char *read_stdin_token(void)
{
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, stdin);
	char *t;

	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	t = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return t;
}

int cli_login(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"token", required_argument, NULL, 't'},
	    {"token-file", required_argument, NULL, 'T'},
	    {"ca", required_argument, NULL, 'c'},
	    {"allow-http", no_argument, NULL, 'H'},
	    {NULL, 0, NULL, 0},
	};
	const char *url, *ca = NULL, *token_arg = NULL, *token_file = NULL;
	char *token = NULL, *dir, *path = NULL, *ca_copy = NULL, *ca_text = NULL;
	char token_id[MR_TOKEN_ID_SIZE], check_path[32], *server = NULL;
	size_t server_len = 0;
	FILE *sf;
	json_t *ans = NULL;
	bool allow_http = false;
	size_t ca_len = 0;
	mr_api *api = NULL;
	char *body = NULL;
	int c, rc, kind;

	while ((c = cli_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 't':
			token_arg = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'c':
			ca = optarg;
			break;
		case 'H':
			allow_http = true;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return USAGE_ERR("the server's URL is missing");
	if (optind + 1 < argc)
		return USAGE_ERR("unexpected argument \"%s\"", argv[optind + 1]);
	url = argv[optind];
	if (!!token_arg == !!token_file)
		return USAGE_ERR("give the token with --token TOKEN or --token-file FILE");
	if (token_file) {
		int e = 0;

		token = read_token_file(token_file, &e);
		if (!token)
			return cli_usage(cli.usage, "cannot read the token file %s: %s", token_file,
					 strerror(e));
	} else if (strcmp(token_arg, "-") == 0) {
		token = read_stdin_token();
	} else {
		token = strdup(token_arg);
	}
	if (!token)
		return cli_fail("out of memory");
	rc = mr_token_parse(token, &kind, token_id, sizeof(token_id), NULL);
	if (rc < 0) {
		rc = cli_usage(NULL, "%s (copy the whole token as the server printed it)",
			       mr_error_message());
		goto out;
	}
	if (kind == MR_TOKEN_NODE) {
		rc = cli_usage(NULL, "this is a node token: it belongs in myrelay-agent's token "
				     "file, not in the CLI");
		goto out;
	}
	if (ca) {
		ca_text = fe_read_file(ca, MAX_SMALL_FILE, &ca_len);
		if (!ca_text) {
			rc = cli_usage(cli.usage, "cannot read the CA file %s: %s", ca,
				       strerror(errno));
			goto out;
		}
		if (!strstr(ca_text, "-----BEGIN CERTIFICATE-----")) {
			rc = cli_usage(cli.usage,
				       "%s: not a PEM certificate (expected the server's "
				       "ca.crt)",
				       ca);
			goto out;
		}
	}

	/* Check before storing anything: a login that cannot reach the server
	 * or whose token is refused keeps the previous one. */
	rc = mr_api_new(&api, url, ca, token);
	if (rc < 0) {
		rc = cli_fail_mr(rc, "login");
		goto out;
	}
	mr_api_set_user_agent(api, "myrelay/" MR_VERSION_STRING);
	if (allow_http)
		mr_api_set_allow_http(api, true);
	snprintf(check_path, sizeof(check_path), "%s",
		 kind == MR_TOKEN_ADMIN ? "/v1/status" : "/v1/pod");
	rc = mr_api_request(api, "GET", check_path, NULL, NULL, &body);
	if (rc < 0) {
		cli.api = api;
		rc = cli_fail_mr(rc, "login");
		cli.api = NULL;
		goto out;
	}
	ans = json_loads(body, 0, NULL);

	rc = cli_config_dir(&dir);
	if (rc)
		goto out;
	rc = make_private_dir(dir);
	if (rc)
		goto out;
	if (ca) {
		ca_copy = join(dir, FILE_CA);
		rc = ca_copy ? cli_write_private(ca_copy, ca_text, ca_len, false) : EXIT_FAIL;
		if (rc)
			goto out;
	}
	sf = open_memstream(&server, &server_len);
	if (sf) {
		fprintf(sf, "# written by `%s login`\nurl = %s\n", PROG, url);
		if (ca)
			fprintf(sf, "ca = %s\n", ca_copy);
		if (allow_http)
			fputs("allow_http = true\n", sf);
	}
	if (!cli_text_end(sf, &server)) {
		rc = cli_fail("out of memory");
		goto out;
	}
	path = join(dir, FILE_TOKEN);
	rc = path ? cli_write_private(path, token, strlen(token), false) : EXIT_FAIL;
	free(path);
	path = join(dir, FILE_SERVER);
	if (!rc)
		rc = path ? cli_write_private(path, server, strlen(server), false) : EXIT_FAIL;
	if (rc)
		goto out;
	if (!ca) {
		/* A stale CA copy of an earlier login must not linger unused. */
		ca_copy = join(dir, FILE_CA);
		if (ca_copy)
			unlink(ca_copy);
	}
	if (cli.json) {
		cli_print_json(body);
	} else if (kind == MR_TOKEN_ADMIN) {
		printf("Logged in to %s with admin token %s.\n", url, token_id);
	} else {
		const char *pod_id = jstr(json_object_get(ans, "pod"), "id");

		printf("Logged in to %s with the token %s of pod %s.\n", url, token_id,
		       pod_id ? pod_id : "?");
	}
	rc = 0;
out:
	json_decref(ans);
	if (body)
		mr_api_free_body(body);
	mr_api_free(api);
	fe_secret_free(token);
	free(server);
	free(ca_text);
	free(ca_copy);
	free(path);
	return rc;
}

int cli_logout(int argc, char **argv)
{
	static const char *const files[] = {FILE_TOKEN, FILE_SERVER, FILE_CA};
	char *dir;
	int c, rc;

	while ((c = cli_getopt(argc, argv, NULL)) != -1)
		return EXIT_USAGE;
	if (optind < argc)
		return USAGE_ERR("logout takes no arguments");
	rc = cli_config_dir(&dir);
	if (rc)
		return rc;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char *p = join(dir, files[i]);

		if (!p)
			return cli_fail("out of memory");
		if (unlink(p) < 0 && errno != ENOENT) {
			rc = cli_fail("cannot remove %s: %s", p, strerror(errno));
			free(p);
			return rc;
		}
		free(p);
	}
	printf("Logged out (device keys in %s/peers are kept).\n", dir);
	return EXIT_OK;
}

/* Used by peer.c: the directory of a pod's device keys, created 0700. */
int cli_peer_dir(const char *pod_id, char **out)
{
	char *dir, *peers, *pod;
	int rc;

	rc = cli_config_dir(&dir);
	if (rc)
		return rc;
	peers = join(dir, "peers");
	pod = peers ? join(peers, pod_id) : NULL;
	free(peers);
	if (!pod)
		return cli_fail("out of memory");
	rc = make_private_dir(pod);
	if (rc) {
		free(pod);
		return rc;
	}
	*out = pod;
	return 0;
}

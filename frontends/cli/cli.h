/* SPDX-License-Identifier: MIT */
/*
 * myrelay, the command-line client: shared declarations of its files.
 *
 * The CLI is thin: it parses arguments, calls libmyrelay (keys, cidr, conf,
 * token, and the api module for every server request), and formats the
 * answers. Exit codes: 0 success, 1 failure, 2 usage or bad input.
 */
#ifndef MYRELAY_CLI_H
#define MYRELAY_CLI_H

#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include <myrelay/api.h>

#include "../common/secret.h"

#define PROG "myrelay"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A command or subcommand: dispatched from a table, as wg(8) does. */
struct command {
	const char *name;
	int (*handler)(int argc, char **argv);
	const char *usage; /* arguments after the command's name */
	const char *help;
};

/* Process-wide state of one invocation. */
struct cli_state {
	bool json;	      /* --json: print the server's JSON, pretty */
	const char *cmd_path; /* "peer add": for messages */
	const char *usage;    /* of the running command */
	const char *help;
	mr_api *api;
	char *url;
	char *ca;
	char *token;
	bool allow_http;
	char *config_dir;
	char *pod_id; /* the pod token's pod, once asked */
};

extern struct cli_state cli;

/* myrelay.c: dispatch and messages */
int cli_dispatch(const struct command *table, size_t n, const char *group, int argc, char **argv);
void cli_print_group_help(const struct command *table, size_t n, const char *group);
/* Print "myrelay: <message>" and the command's usage to stderr; returns 2. */
int cli_usage(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "myrelay: <message>"; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "myrelay: <what>: <library detail>" and a hint; returns the exit
 * code of the library code (2 for bad input, else 1). */
int cli_fail_mr(int code, const char *what);
int cli_exit_code(int code);

/*
 * Option parsing for the running command (cli.usage, cli.help): getopt_long
 * over its options plus --help (prints help, exits 0) and --json. Returns
 * the option's value, -1 at the end, or '?' after printing a usage error
 * (the caller returns EXIT_USAGE).
 */
int cli_getopt(int argc, char **argv, const struct option *opts);
/* cli_usage() with the running command's usage. */
#define USAGE_ERR(...) cli_usage(cli.usage, __VA_ARGS__)

/* config.c: login data, the API handle, local peer keys */
int cli_config_dir(char **out);
int cli_login(int argc, char **argv);
int cli_logout(int argc, char **argv);
/* Open the API client from the environment and the stored login. Returns an
 * exit code (0: cli.api is ready). */
int cli_connect(void);
/* One request: 0 with the answer parsed in *out (and the text in *raw, if
 * raw is given), or an exit code after printing the error. */
int cli_request(const char *method, const char *path, const char *body, json_t **out, char **raw);
/* The compact JSON text of a request body made with json_pack() (whose
 * reference is taken): 0 with *out (free with fe_secret_free), or an exit
 * code after a message (NULL v: no memory, or an argument not UTF-8). */
int cli_body(json_t *v, char **out);
/* Write a file of mode 0600 atomically (temporary file, fsync, rename). */
int cli_write_private(const char *path, const char *data, size_t len, bool exclusive);
/* The directory of a pod's device keys (created 0700); caller frees. */
int cli_peer_dir(const char *pod_id, char **out);
/* Percent-encode a path segment onto f. */
void cli_path_escape(FILE *f, const char *segment);
/* End text written with stdio into memory (open_memstream(&p, ...)): *p,
 * or NULL (freed) when f is NULL or a write failed. */
char *cli_text_end(FILE *f, char **p);

/* Members of a JSON object: a string (NULL when absent or not a string), an
 * integer (0 when absent or not an integer). */
static inline const char *jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static inline int64_t jint(const json_t *obj, const char *key)
{
	return (int64_t)json_integer_value(json_object_get(obj, key));
}

/* output.c */
void cli_print_json(const char *text);
void cli_print_json_value(const json_t *v);
const char *cli_fmt_bytes(int64_t n, char *buf, size_t size);
const char *cli_fmt_time(const json_t *v, char *buf, size_t size);
const char *cli_fmt_value(const json_t *v, char *buf, size_t size);
/* A table printed with aligned columns. */
struct cli_table {
	size_t ncol;
	size_t nrow;
	char **cells; /* nrow * ncol, row 0 is the header */
	bool failed;
};
void cli_table_init(struct cli_table *t, size_t ncol, const char *const *header);
void cli_table_add(struct cli_table *t, const char *const *row);
void cli_table_print(struct cli_table *t);
void cli_table_free(struct cli_table *t);
/* Print "key: value" lines of an object's scalar members. */
void cli_print_object(const json_t *obj, const char *const *keys);
/* Parse a duration "90s", "15m", "12h", "7d" (a bare number is seconds). */
int cli_parse_duration(const char *text, int64_t *out);
/* Parse a byte size "0", "500000", "10G", "1.5TiB", "unlimited". */
int cli_parse_bytes(const char *text, int64_t *out);

/* keys.c */
int cmd_genkey(int argc, char **argv);
int cmd_genpsk(int argc, char **argv);
int cmd_pubkey(int argc, char **argv);

/* peer.c: customer commands */
int cmd_peer(int argc, char **argv);
int cmd_config(int argc, char **argv);

/* admin.c: operator commands (and pod show for customers) */
int cmd_node(int argc, char **argv);
int cmd_customer(int argc, char **argv);
int cmd_pod(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_usage(int argc, char **argv);
int cmd_status(int argc, char **argv);
/* Resolve a node, customer or pod given by id or name; 0 or an exit code. */
int cli_resolve(const char *kind, const char *arg, char **out_id);

/* qr.c */
/* Print text as a QR code with UTF-8 half blocks (as `qrencode -t UTF8`). */
int cli_print_qr(const char *text);

#endif

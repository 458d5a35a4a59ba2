/* SPDX-License-Identifier: MIT */
/*
 * A thin command-line driver of the store's public API, for script tests
 * that inspect the database with the real sqlite3 program:
 *
 *     store_tool [--create] [--now UNIX] [--key FILE] DB OPERATION [ARGUMENT]
 *     store_tool --key FILE --restore BACKUP DB
 *     store_tool --new-key FILE
 *
 * OPERATION is the name of an mr_store_<operation> function taking a JSON
 * request (ARGUMENT, default "{}"), or one of desired NODE_ID, generation
 * NODE_ID, verify TOKEN, overview, tick, next_expiry, backup FILE (with
 * --key), report NODE_ID (the report JSON on stdin). The result goes to
 * stdout; a failure prints "error: <name>: <detail>" to stderr and exits 1
 * (2 for usage errors).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <myrelay/error.h>
#include <myrelay/store.h>

typedef int (*op_fn)(mr_store *, const char *, char **);

static const struct {
	const char *name;
	op_fn fn;
} ops[] = {
    {"node_register", mr_store_node_register},
    {"node_list", mr_store_node_list},
    {"node_show", mr_store_node_show},
    {"node_set_status", mr_store_node_set_status},
    {"node_delete", mr_store_node_delete},
    {"customer_create", mr_store_customer_create},
    {"customer_list", mr_store_customer_list},
    {"customer_show", mr_store_customer_show},
    {"customer_set_plan", mr_store_customer_set_plan},
    {"customer_delete", mr_store_customer_delete},
    {"pod_create", mr_store_pod_create},
    {"pod_list", mr_store_pod_list},
    {"pod_show", mr_store_pod_show},
    {"pod_delete", mr_store_pod_delete},
    {"peer_add", mr_store_peer_add},
    {"peer_list", mr_store_peer_list},
    {"peer_show", mr_store_peer_show},
    {"peer_enable", mr_store_peer_enable},
    {"peer_disable", mr_store_peer_disable},
    {"peer_rename", mr_store_peer_rename},
    {"peer_set_expiry", mr_store_peer_set_expiry},
    {"peer_remove", mr_store_peer_remove},
    {"token_issue", mr_store_token_issue},
    {"token_list", mr_store_token_list},
    {"token_revoke", mr_store_token_revoke},
    {"token_set_expiry", mr_store_token_set_expiry},
    {"audit_list", mr_store_audit_list},
};

static int64_t fixed_now;

static int64_t fixed_clock(void *userdata)
{
	(void)userdata;
	return fixed_now;
}

static int usage(void)
{
	fprintf(stderr, "usage: store_tool [--create] [--now UNIX] [--key FILE] DB OPERATION "
			"[ARGUMENT]\n       store_tool --key FILE --restore BACKUP DB\n"
			"       store_tool --new-key FILE\n");
	return 2;
}

static int fail(int rc)
{
	fprintf(stderr, "error: %s: %s\n", mr_error_name(rc), mr_error_message());
	return 1;
}

static char *read_stdin(void)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	size_t n;

	while (buf && (n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += n;
		if (cap - len < 2) {
			char *b = realloc(buf, cap * 2);

			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

int main(int argc, char **argv)
{
	const char *db, *op, *arg, *key = NULL, *restore = NULL;
	uint32_t flags = 0;
	char *out = NULL;
	int64_t value;
	mr_store *s;
	int i = 1, rc = MR_EINVAL;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--create") == 0) {
			flags |= MR_STORE_CREATE;
		} else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
			fixed_now = strtoll(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
			key = argv[++i];
		} else if (strcmp(argv[i], "--restore") == 0 && i + 1 < argc) {
			restore = argv[++i];
		} else if (strcmp(argv[i], "--new-key") == 0 && i + 1 == argc - 1) {
			rc = mr_store_backup_key_create(argv[i + 1]);
			return rc < 0 ? fail(rc) : 0;
		} else {
			return usage();
		}
	}
	if (restore) {
		if (!key || argc - i != 1)
			return usage();
		rc = mr_store_restore(restore, key, argv[i]);
		return rc < 0 ? fail(rc) : 0;
	}
	if (argc - i < 2 || argc - i > 3)
		return usage();
	db = argv[i];
	op = argv[i + 1];
	arg = argc - i == 3 ? argv[i + 2] : "{}";
	rc = mr_store_open(&s, db, flags);
	if (rc < 0)
		return fail(rc);
	if (fixed_now)
		mr_store_set_clock(s, fixed_clock, NULL);
	if (strcmp(op, "desired") == 0) {
		rc = mr_store_node_desired(s, arg, &out);
	} else if (strcmp(op, "verify") == 0) {
		rc = mr_store_token_verify(s, arg, &out);
	} else if (strcmp(op, "overview") == 0) {
		rc = mr_store_overview(s, &out);
	} else if (strcmp(op, "tick") == 0) {
		rc = mr_store_tick(s);
	} else if (strcmp(op, "backup") == 0) {
		rc = key && argc - i == 3 ? mr_store_backup(s, arg, key) : MR_EINVAL;
	} else if (strcmp(op, "report") == 0) {
		char *body = read_stdin();

		rc = body ? mr_store_node_report(s, arg, body, &out) : MR_ENOMEM;
		free(body);
	} else if (strcmp(op, "generation") == 0 || strcmp(op, "next_expiry") == 0) {
		rc = op[0] == 'g' ? mr_store_node_generation(s, arg, &value)
				  : mr_store_next_expiry(s, &value);
		if (rc == 0)
			printf("%lld\n", (long long)value);
	} else {
		size_t n;

		for (n = 0; n < sizeof(ops) / sizeof(ops[0]); n++)
			if (strcmp(ops[n].name, op) == 0)
				break;
		if (n == sizeof(ops) / sizeof(ops[0])) {
			mr_store_close(s);
			return usage();
		}
		rc = ops[n].fn(s, arg, &out);
	}
	if (rc < 0)
		fail(rc);
	else if (out)
		printf("%s\n", out);
	mr_free(out);
	mr_store_close(s);
	return rc < 0 ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * The control-plane store: every operation with good and bad input, the
 * allocators, generations, desired state, expiry, tokens, audit, file modes,
 * migration from schema version 1 and concurrent writers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include <myrelay/myrelay.h>
#include <myrelay/store.h>
#include "../libmyrelay/store-internal.h"
#include "testutil.h"

#define T0 1700000000LL

static char tmpdir[256];
static char dbpath[300];
static mr_store *st;
static int64_t now_value;

static int64_t fake_clock(void *userdata)
{
	return *(int64_t *)userdata;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_store.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/store.db", tmpdir);
}

static void remove_tmpdir(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

static void open_store(void)
{
	ck_mr_ok(mr_store_open(&st, dbpath, MR_STORE_CREATE));
	now_value = T0;
	mr_store_set_clock(st, fake_clock, &now_value);
}

static void setup(void)
{
	make_tmpdir();
	open_store();
}

static void teardown(void)
{
	mr_store_close(st);
	st = NULL;
	remove_tmpdir();
}

typedef int (*op_fn)(mr_store *, const char *, char **);

/* Run an operation that must succeed; returns the parsed result. */
static json_t *ok(op_fn fn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *ok(op_fn fn, const char *fmt, ...)
{
	char req[4096], *out = NULL;
	json_error_t jerr;
	json_t *j;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	rc = fn(st, req, &out);
	ck_assert_msg(rc == 0, "request %s failed: %d %s", req, rc, mr_error_message());
	ck_assert_ptr_nonnull(out);
	j = json_loads(out, 0, &jerr);
	ck_assert_msg(j != NULL, "result is not JSON: %s", out);
	mr_free(out);
	return j;
}

/* Run an operation that must fail with code; returns nothing. */
static void fails(int code, const char *want, op_fn fn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fails(int code, const char *want, op_fn fn, const char *fmt, ...)
{
	char req[4096], *out = (char *)"untouched";
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	rc = fn(st, req, &out);
	ck_assert_msg(rc == code, "request %s: got %d (%s), wanted %d", req, rc, mr_error_message(),
		      code);
	ck_assert_str_eq(out, "untouched");
	if (want)
		ck_assert_msg(strstr(mr_error_message(), want) != NULL,
			      "request %s: detail \"%s\" lacks \"%s\"", req, mr_error_message(),
			      want);
}

static const char *sget(json_t *j, const char *path)
{
	json_t *v = json_object_get(j, path);

	ck_assert_msg(v && json_is_string(v), "member %s is not a string", path);
	return json_string_value(v);
}

static json_int_t iget(json_t *j, const char *path)
{
	json_t *v = json_object_get(j, path);

	ck_assert_msg(v && json_is_integer(v), "member %s is not an integer", path);
	return json_integer_value(v);
}

/* Copy a string member into a caller buffer (ids outlive the JSON). */
static void take(char *dst, size_t size, json_t *j, const char *obj, const char *member)
{
	json_t *o = obj ? json_object_get(j, obj) : j;

	snprintf(dst, size, "%s", sget(o, member));
}

static void new_public_key(char out[MR_KEY_BASE64_SIZE])
{
	mr_key k;

	ck_mr_ok(mr_key_generate_private(&k));
	ck_mr_ok(mr_key_public_from_private(&k, &k));
	ck_mr_ok(mr_key_to_base64(out, MR_KEY_BASE64_SIZE, &k));
}

static void make_node(char id[32], const char *name, const char *extra)
{
	json_t *j =
	    ok(mr_store_node_register,
	       "{\"name\": \"%s\", \"region\": \"eu1\", \"endpoint\": \"vpn.example.com\"%s}", name,
	       extra ? extra : "");

	take(id, 32, j, "node", "id");
	json_decref(j);
}

static void make_customer(char id[32], const char *name)
{
	json_t *j = ok(mr_store_customer_create, "{\"name\": \"%s\"}", name);

	take(id, 32, j, "customer", "id");
	json_decref(j);
}

static void make_pod(char id[32], const char *customer, const char *node)
{
	json_t *j =
	    ok(mr_store_pod_create, "{\"customer\": \"%s\", \"node\": \"%s\"}", customer, node);

	take(id, 32, j, "pod", "id");
	json_decref(j);
}

static void make_peer(char id[32], const char *pod, const char *name)
{
	char key[MR_KEY_BASE64_SIZE];
	json_t *j;

	new_public_key(key);
	j = ok(mr_store_peer_add, "{\"pod\": \"%s\", \"name\": \"%s\", \"public_key\": \"%s\"}",
	       pod, name, key);
	take(id, 32, j, "peer", "id");
	json_decref(j);
}

static int64_t generation(const char *node)
{
	int64_t g = -1;

	ck_mr_ok(mr_store_node_generation(st, node, &g));
	return g;
}

static int dump_row(void *arg, int n, char **vals, char **cols)
{
	char **buf = arg;
	size_t len = strlen(*buf);

	for (int i = 0; i < n; i++) {
		size_t add = strlen(cols[i]) + (vals[i] ? strlen(vals[i]) : 4) + 3;

		*buf = realloc(*buf, len + add + 2);
		len += (size_t)sprintf(*buf + len, "%s=%s|", cols[i], vals[i] ? vals[i] : "NULL");
	}
	strcat(*buf, "\n");
	return 0;
}

/* Every row of every table, through a connection of its own. */
static char *dump_db(void)
{
	static const char *const tables[] = {"nodes", "customers", "pods",  "peers",	 "tokens",
					     "audit", "meta",	   "usage", "peer_usage"};
	sqlite3 *db;
	char *buf = calloc(1, 1), sql[128];

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY rowid", tables[i]);
		ck_assert_int_eq(sqlite3_exec(db, sql, dump_row, &buf, NULL), SQLITE_OK);
	}
	sqlite3_close(db);
	return buf;
}

/* A scalar from the database through a connection of its own. */
static int64_t db_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v = -1;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* ------------------------------------------------------------------------ */
/* Opening, file modes, pragmas                                              */
/* ------------------------------------------------------------------------ */

static void assert_mode(const char *path, unsigned mode)
{
	struct stat sb;

	ck_assert_msg(stat(path, &sb) == 0, "%s: %s", path, strerror(errno));
	ck_assert_msg((sb.st_mode & 07777) == mode, "%s: mode %o, wanted %o", path,
		      sb.st_mode & 07777, mode);
}

START_TEST(test_file_modes)
{
	char wal[320], shm[320], other[320];
	mode_t old = umask(0);
	json_t *j;
	mr_store *s2;
	int fd;

	make_tmpdir();
	open_store();
	j = ok(mr_store_customer_create, "{\"name\": \"acme\"}");
	json_decref(j);
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	snprintf(shm, sizeof(shm), "%s-shm", dbpath);
	assert_mode(dbpath, 0600);
	assert_mode(wal, 0600);
	assert_mode(shm, 0600);
	/* A umask that would take the owner's write bit: still 0600. */
	umask(0277);
	snprintf(other, sizeof(other), "%s/strict.db", tmpdir);
	ck_mr_ok(mr_store_open(&s2, other, MR_STORE_CREATE));
	umask(old);
	assert_mode(other, 0600);
	mr_store_close(s2);

	/* A file made readable by others gets tightened on open. */
	snprintf(other, sizeof(other), "%s/other.db", tmpdir);
	fd = open(other, O_CREAT | O_WRONLY, 0644);
	ck_assert_int_ge(fd, 0);
	fchmod(fd, 0644);
	close(fd);
	ck_mr_ok(mr_store_open(&s2, other, 0));
	assert_mode(other, 0600);
	mr_store_close(s2);
	teardown();
}
END_TEST

START_TEST(test_open_errors)
{
	char path[320];
	mr_store *s2 = (mr_store *)0x1;
	sqlite3 *db;
	FILE *f;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/missing.db", tmpdir);
	ck_mr_err(mr_store_open(&s2, path, 0), MR_ENOTFOUND);
	ck_assert_ptr_eq(s2, (mr_store *)0x1);
	ck_mr_err(mr_store_open(NULL, path, MR_STORE_CREATE), MR_EINVAL);
	ck_mr_err(mr_store_open(&s2, NULL, MR_STORE_CREATE), MR_EINVAL);
	ck_mr_err(mr_store_open(&s2, "", MR_STORE_CREATE), MR_EINVAL);
	ck_mr_err(mr_store_open(&s2, path, 0x80), MR_EINVAL);
	ck_mr_err(mr_store_open(&s2, path, MR_STORE_EXCLUSIVE), MR_EINVAL);
	ck_mr_ok(mr_store_open(&s2, path, MR_STORE_CREATE | MR_STORE_EXCLUSIVE));
	mr_store_close(s2);
	ck_mr_err(mr_store_open(&s2, path, MR_STORE_CREATE | MR_STORE_EXCLUSIVE), MR_EEXIST);
	ck_mr_ok(mr_store_open(&s2, path, 0));
	mr_store_close(s2);
	ck_mr_err(mr_store_open(&s2, tmpdir, 0), MR_EINVAL);

	/* Not a database at all. */
	snprintf(path, sizeof(path), "%s/garbage.db", tmpdir);
	f = fopen(path, "w");
	for (int i = 0; i < 200; i++)
		fputs("this is not a database file. ", f);
	fclose(f);
	ck_mr_err(mr_store_open(&s2, path, 0), MR_EDB);

	/* Someone else's SQLite database. */
	snprintf(path, sizeof(path), "%s/foreign.db", tmpdir);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_mr_err(mr_store_open(&s2, path, 0), MR_EINVAL);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "not a MyRelay database"));
	/* ...and left as it was: not switched to WAL. */
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	{
		sqlite3_stmt *s;

		ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL),
				 SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "delete");
		sqlite3_finalize(s);
	}
	sqlite3_close(db);

	/* A schema newer than this library. */
	snprintf(path, sizeof(path), "%s/future.db", tmpdir);
	ck_mr_ok(mr_store_open(&s2, path, MR_STORE_CREATE));
	mr_store_close(s2);
	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_mr_err(mr_store_open(&s2, path, 0), MR_ENOTSUP);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "99"));
	remove_tmpdir();
}
END_TEST

START_TEST(test_pragmas)
{
	sqlite3 *db = mr__store_db(st);
	sqlite3_stmt *s;
	struct {
		const char *sql, *want;
	} checks[] = {
	    {"PRAGMA journal_mode", "wal"}, {"PRAGMA foreign_keys", "1"},
	    {"PRAGMA user_version", "3"},   {"PRAGMA application_id", "1299796601"},
	    {"PRAGMA secure_delete", "1"},  {"PRAGMA synchronous", "2"},
	};

	for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		ck_assert_int_eq(sqlite3_prepare_v2(db, checks[i].sql, -1, &s, NULL), SQLITE_OK);
		ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
		ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), checks[i].want);
		sqlite3_finalize(s);
	}
	ck_assert_int_eq(MR_STORE_SCHEMA_VERSION, 3);
	ck_assert_int_eq(db_int("SELECT count(*) FROM pragma_integrity_check WHERE "
				"integrity_check = 'ok'"),
			 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Migration from schema version 1                                           */
/* ------------------------------------------------------------------------ */

/* Schema version 1 exactly as the first release created it. */
static const char schema_v1[] =
    "PRAGMA application_id = 1299796601;"
    "CREATE TABLE nodes (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE,"
    " region TEXT NOT NULL, endpoint TEXT NOT NULL, ipv4_pool TEXT NOT NULL,"
    " ipv6_pool TEXT NOT NULL, ipv4_prefix INTEGER NOT NULL, ipv6_prefix INTEGER NOT NULL,"
    " port_min INTEGER NOT NULL, port_max INTEGER NOT NULL, max_pods INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('provisioning', 'active', 'draining',"
    " 'offline')), generation INTEGER NOT NULL DEFAULT 1, created INTEGER NOT NULL,"
    " last_seen INTEGER);"
    "CREATE TABLE customers (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL UNIQUE,"
    " transfer_limit INTEGER NOT NULL DEFAULT 0 CHECK (transfer_limit >= 0),"
    " status TEXT NOT NULL DEFAULT 'active', created INTEGER NOT NULL);"
    "CREATE TABLE pods (id TEXT PRIMARY KEY NOT NULL,"
    " customer_id TEXT NOT NULL REFERENCES customers(id),"
    " node_id TEXT NOT NULL REFERENCES nodes(id), interface TEXT NOT NULL,"
    " listen_port INTEGER NOT NULL, ipv4_subnet TEXT NOT NULL, ipv6_subnet TEXT NOT NULL,"
    " public_key TEXT, status TEXT NOT NULL CHECK (status IN ('pending', 'active',"
    " 'deleting', 'failed')), error TEXT, created INTEGER NOT NULL,"
    " UNIQUE (customer_id, node_id), UNIQUE (node_id, interface),"
    " UNIQUE (node_id, listen_port), UNIQUE (node_id, ipv4_subnet),"
    " UNIQUE (node_id, ipv6_subnet));"
    "CREATE TABLE peers (id TEXT PRIMARY KEY NOT NULL,"
    " pod_id TEXT NOT NULL REFERENCES pods(id) ON DELETE CASCADE, name TEXT NOT NULL,"
    " public_key TEXT NOT NULL, ipv4_address TEXT NOT NULL, ipv6_address TEXT NOT NULL,"
    " preshared_key TEXT, enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
    " disabled_reason TEXT, expires INTEGER, rx_bytes INTEGER NOT NULL DEFAULT 0,"
    " tx_bytes INTEGER NOT NULL DEFAULT 0, last_handshake INTEGER, created INTEGER NOT NULL,"
    " UNIQUE (pod_id, public_key), UNIQUE (pod_id, name), UNIQUE (pod_id, ipv4_address),"
    " UNIQUE (pod_id, ipv6_address));"
    "CREATE TABLE tokens (id TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL CHECK (kind IN"
    " ('admin', 'node', 'pod')), subject TEXT, hash TEXT NOT NULL,"
    " label TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL, expires INTEGER,"
    " revoked INTEGER, last_used INTEGER);"
    "CREATE INDEX tokens_subject ON tokens (subject);"
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    " actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT,"
    " detail TEXT NOT NULL DEFAULT '{}');"
    "PRAGMA user_version = 1;";

static const char data_v1[] =
    "INSERT INTO nodes VALUES ('nd_aaaaaaaaaaaa', 'old-node', 'eu1', '192.0.2.1',"
    " '10.64.0.0/16', 'fd00:1::/48', 24, 64, 51820, 52819, 1000, 'active', 7, 1600000000,"
    " NULL);"
    "INSERT INTO customers VALUES ('cu_aaaaaaaaaaaa', 'old-customer', 0, 'active',"
    " 1600000000);"
    "INSERT INTO pods VALUES ('pd_aaaaaaaaaaaa', 'cu_aaaaaaaaaaaa', 'nd_aaaaaaaaaaaa',"
    " 'wg-000001', 51820, '10.64.0.0/24', 'fd00:1::/64', NULL, 'pending', NULL,"
    " 1600000000);"
    "INSERT INTO peers (id, pod_id, name, public_key, ipv4_address, ipv6_address, enabled,"
    " expires, created) VALUES ('pr_aaaaaaaaaaaa', 'pd_aaaaaaaaaaaa', 'laptop',"
    " 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=', '10.64.0.2', 'fd00:1::2', 1,"
    " 1650000000, 1600000000);"
    "INSERT INTO audit (time, actor, action, subject) VALUES (1600000000, 'system',"
    " 'node.register', 'nd_aaaaaaaaaaaa');";

/* Columns of every table and the names of every index, as one string. */
static char *schema_shape(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	char *buf = calloc(1, 8192);

	ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "SELECT m.name, p.name, p.type, p.\"notnull\", p.pk, "
					    "coalesce(p.dflt_value, '') FROM sqlite_master m, "
					    "pragma_table_info(m.name) p WHERE m.type = 'table' "
					    "ORDER BY m.name, p.cid",
					    -1, &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW)
		snprintf(buf + strlen(buf), 8192 - strlen(buf), "%s.%s %s %d %d %s\n",
			 sqlite3_column_text(s, 0), sqlite3_column_text(s, 1),
			 sqlite3_column_text(s, 2), sqlite3_column_int(s, 3),
			 sqlite3_column_int(s, 4), sqlite3_column_text(s, 5));
	sqlite3_finalize(s);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "SELECT name, tbl_name FROM sqlite_master WHERE "
					    "type = 'index' ORDER BY name",
					    -1, &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW)
		snprintf(buf + strlen(buf), 8192 - strlen(buf), "index %s on %s\n",
			 sqlite3_column_text(s, 0), sqlite3_column_text(s, 1));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return buf;
}

START_TEST(test_migrate_from_v1)
{
	char fresh[320], *shape_old, *shape_new;
	sqlite3 *db;
	mr_store *s2;
	json_t *j, *desired;
	char *out;

	make_tmpdir();
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, data_v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(db_int("PRAGMA user_version"), 1);

	open_store();
	ck_assert_int_eq(db_int("PRAGMA user_version"), MR_STORE_SCHEMA_VERSION);
	ck_assert_int_eq(db_int("SELECT value FROM meta WHERE name = 'last_tick'"), 0);
	ck_assert_int_eq(db_int("SELECT count(*) FROM sqlite_master WHERE name = "
				"'peers_expires'"),
			 1);

	/* Data preserved and usable through the operations. */
	j = ok(mr_store_node_show, "{\"id\": \"nd_aaaaaaaaaaaa\"}");
	ck_assert_str_eq(sget(json_object_get(j, "node"), "name"), "old-node");
	ck_assert_int_eq(iget(json_object_get(j, "node"), "generation"), 7);
	ck_assert_int_eq(iget(json_object_get(j, "node"), "pods"), 1);
	json_decref(j);
	j = ok(mr_store_peer_show, "{\"id\": \"pr_aaaaaaaaaaaa\"}");
	ck_assert_str_eq(sget(json_object_get(j, "peer"), "name"), "laptop");
	json_decref(j);
	/* The old peer's expiry (long past) is applied by the first tick. */
	ck_mr_ok(mr_store_tick(st));
	ck_assert_int_eq(generation("nd_aaaaaaaaaaaa"), 8);
	ck_mr_ok(mr_store_node_desired(st, "nd_aaaaaaaaaaaa", &out));
	desired = json_loads(out, 0, NULL);
	mr_free(out);
	ck_assert_int_eq(json_array_size(json_object_get(
			     json_array_get(json_object_get(desired, "pods"), 0), "peers")),
			 0);
	json_decref(desired);
	/* New rows fit beside the old ones: the next subnet and port. */
	j = ok(mr_store_customer_create, "{\"name\": \"new-customer\"}");
	{
		char cu[32], pod[32];
		json_t *p;

		take(cu, sizeof(cu), j, "customer", "id");
		make_pod(pod, cu, "nd_aaaaaaaaaaaa");
		p = ok(mr_store_pod_show, "{\"id\": \"%s\"}", pod);
		ck_assert_str_eq(sget(json_object_get(p, "pod"), "ipv4_subnet"), "10.64.1.0/24");
		ck_assert_int_eq(iget(json_object_get(p, "pod"), "listen_port"), 51821);
		json_decref(p);
	}
	json_decref(j);

	/* The migrated schema is the schema of a new database. */
	snprintf(fresh, sizeof(fresh), "%s/fresh.db", tmpdir);
	ck_mr_ok(mr_store_open(&s2, fresh, MR_STORE_CREATE));
	mr_store_close(s2);
	shape_old = schema_shape(dbpath);
	shape_new = schema_shape(fresh);
	ck_assert_str_eq(shape_old, shape_new);
	free(shape_old);
	free(shape_new);

	/* Opening again is a no-op. */
	mr_store_close(st);
	open_store();
	ck_assert_int_eq(db_int("SELECT count(*) FROM meta"), 2);
	teardown();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Bad requests: refused, and the database unchanged                          */
/* ------------------------------------------------------------------------ */

static int report_fx(mr_store *s, const char *req, char **out);

struct bad_case {
	op_fn fn;
	const char *request; /* %N %C %P %R %T are replaced by ids of the fixture */
	int code;
	const char *detail;
};

#define KEY_OK "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define KEY_43 "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg"
#define KEY_ZERO "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static const struct bad_case bad_cases[] = {
    /* JSON shape */
    {mr_store_customer_create, "", MR_EINVAL, "invalid JSON"},
    {mr_store_customer_create, "{", MR_EINVAL, "unexpected end of input"},
    {mr_store_customer_create, "[]", MR_EINVAL, "expected a JSON object"},
    {mr_store_customer_create, "\"acme\"", MR_EINVAL, "expected a JSON object"},
    {mr_store_customer_create, "{\"name\": \"a\"} x", MR_EINVAL, "invalid JSON"},
    {mr_store_customer_create, "{\"name\": \"a\", \"name\": \"b\"}", MR_EINVAL, "duplicate member"},
    {mr_store_customer_create, "{\"name\": \"a\", \"extra\": 1}", MR_EINVAL,
     "unknown member \"extra\""},
    {mr_store_customer_create, "{\"name\": \"a\", \"\\u0001x\": 1}", MR_EINVAL, "unknown member"},
    {mr_store_customer_create, "{}", MR_EINVAL, "name: missing"},
    {mr_store_customer_create, "{\"name\": null}", MR_EINVAL, "name: must not be null"},
    {mr_store_customer_create, "{\"name\": 5}", MR_EINVAL, "name: expected a string, got a number"},
    {mr_store_customer_create, "{\"name\": \"a\\u0000b\"}", MR_EINVAL, "invalid JSON"},
    {mr_store_customer_create, "{\"name\": \"\"}", MR_EINVAL, "name: empty"},
    {mr_store_customer_create, "{\"name\": \"bad name\"}", MR_EINVAL, "name: invalid"},
    {mr_store_customer_create, "{\"name\": \"a;rm -rf\"}", MR_EINVAL, "name: invalid"},
    {mr_store_customer_create, "{\"name\": \"acme\", \"transfer_limit\": -1}", MR_EINVAL,
     "transfer_limit: -1 out of range"},
    {mr_store_customer_create, "{\"name\": \"acme\", \"transfer_limit\": 1.5}", MR_EINVAL,
     "transfer_limit: expected an integer"},
    {mr_store_customer_create, "{\"name\": \"acme\", \"transfer_limit\": \"5\"}", MR_EINVAL,
     "transfer_limit: expected an integer, got a string"},
    {mr_store_customer_create, "{\"name\": \"taken\"}", MR_EEXIST, "name:"},
    /* nodes */
    {mr_store_node_register, "{\"name\": \"n\", \"region\": \"eu\"}", MR_EINVAL,
     "endpoint: missing"},
    {mr_store_node_register, "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"-x\"}",
     MR_EINVAL, "endpoint: not an IP address or host name"},
    {mr_store_node_register, "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"1.2.3.999\"}",
     MR_EINVAL, "endpoint:"},
    {mr_store_node_register, "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"a b\"}",
     MR_EINVAL, "endpoint:"},
    {mr_store_node_register,
     "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"h\", \"ipv4_pool\": "
     "\"10.0.0.1/16\"}",
     MR_EINVAL, "ipv4_pool:"},
    {mr_store_node_register,
     "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"h\", \"ipv4_pool\": "
     "\"fd00::/48\"}",
     MR_EINVAL, "ipv4_pool: not an IPv4 network"},
    {mr_store_node_register,
     "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"h\", \"ipv6_pool\": "
     "\"10.0.0.0/8\"}",
     MR_EINVAL, "ipv6_pool: not an IPv6 network"},
    {mr_store_node_register,
     "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"h\", \"ipv4_prefix\": 31}", MR_EINVAL,
     "ipv4_prefix: 31 out of range"},
    {mr_store_node_register,
     "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"h\", \"ipv4_pool\": "
     "\"10.0.0.0/24\", \"ipv4_prefix\": 24}",
     MR_EINVAL, "ipv4_prefix: /24 is not longer than the pool's /24"},
    {mr_store_node_register,
     "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"h\", \"port_min\": 0}", MR_EINVAL,
     "port_min: 0 out of range"},
    {mr_store_node_register,
     "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"h\", \"port_max\": 70000}", MR_EINVAL,
     "port_max: 70000 out of range"},
    {mr_store_node_register,
     "{\"name\": \"n\", \"region\": \"eu\", \"endpoint\": \"h\", \"port_min\": 600, "
     "\"port_max\": 500}",
     MR_EINVAL, "port_max: 500 is below port_min 600"},
    {mr_store_node_register, "{\"name\": \"taken-node\", \"region\": \"eu\", \"endpoint\": \"h\"}",
     MR_EEXIST, "name:"},
    {mr_store_node_show, "{\"id\": \"nd_\"}", MR_EINVAL, "id: not a node id"},
    {mr_store_node_show, "{\"id\": \"%C\"}", MR_EINVAL, "id: not a node id"},
    {mr_store_node_show, "{\"id\": \"nd_zzzzzzzzzzzz\"}", MR_ENOTFOUND, "id: no such node"},
    {mr_store_node_show, "{\"id\": \"ND_AAAAAAAAAAAA\"}", MR_EINVAL, "id:"},
    {mr_store_node_show, "{\"id\": \"nd_aaaaaaaaaaa1\"}", MR_EINVAL, "id:"},
    {mr_store_node_show, "{\"id\": \"nd_aaaaaaaaaaaa' OR '1'='1\"}", MR_EINVAL, "id:"},
    {mr_store_node_set_status, "{\"id\": \"%N\", \"status\": \"broken\"}", MR_EINVAL,
     "status: expected"},
    {mr_store_node_set_status, "{\"id\": \"%N\"}", MR_EINVAL, "status: missing"},
    {mr_store_node_delete, "{\"id\": \"%N\"}", MR_ECONFLICT, "pod"},
    {mr_store_node_delete, "{\"id\": \"%N\", \"force\": \"yes\"}", MR_EINVAL,
     "force: expected a boolean"},
    {mr_store_node_list, "{\"status\": \"up\"}", MR_EINVAL, "status:"},
    /* customers */
    {mr_store_customer_show, "{\"id\": \"cu_zzzzzzzzzzzz\"}", MR_ENOTFOUND, "id:"},
    {mr_store_customer_set_plan, "{\"id\": \"%C\"}", MR_EINVAL, "transfer_limit: missing"},
    {mr_store_customer_delete, "{\"id\": \"%C\"}", MR_ECONFLICT, "pod"},
    {mr_store_customer_list, "{\"name\": \"x\"}", MR_EINVAL, "unknown member"},
    /* pods */
    {mr_store_pod_create, "{\"customer\": \"%C\", \"node\": \"%N\"}", MR_EEXIST, "node:"},
    {mr_store_pod_create, "{\"customer\": \"cu_zzzzzzzzzzzz\", \"node\": \"%N\"}", MR_ENOTFOUND,
     "customer:"},
    {mr_store_pod_create, "{\"customer\": \"%C\", \"node\": \"nd_zzzzzzzzzzzz\"}", MR_ENOTFOUND,
     "node:"},
    {mr_store_pod_create, "{\"customer\": \"%N\", \"node\": \"%N\"}", MR_EINVAL,
     "customer: not a customer id"},
    {mr_store_pod_create, "{\"customer\": \"%C\"}", MR_EINVAL, "node: missing"},
    {mr_store_pod_list, "{\"status\": \"gone\"}", MR_EINVAL, "status:"},
    {mr_store_pod_delete, "{\"id\": \"pd_zzzzzzzzzzzz\"}", MR_ENOTFOUND, "id:"},
    /* peers */
    {mr_store_peer_add, "{\"pod\": \"%P\", \"name\": \"x\", \"public_key\": \"" KEY_43 "\"}",
     MR_EINVAL, "public_key: expected 44 characters, got 43"},
    {mr_store_peer_add, "{\"pod\": \"%P\", \"name\": \"x\", \"public_key\": \"" KEY_ZERO "\"}",
     MR_EINVAL, "public_key: all zeros"},
    {mr_store_peer_add,
     "{\"pod\": \"%P\", \"name\": \"x\", \"public_key\": "
     "\"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8D!=\"}",
     MR_EINVAL, "public_key: invalid base64"},
    {mr_store_peer_add,
     "{\"pod\": \"%P\", \"name\": \"x\", \"public_key\": \"" KEY_OK "\\nEndpoint = evil\"}",
     MR_EINVAL, "public_key:"},
    {mr_store_peer_add, "{\"pod\": \"%P\", \"name\": \"x\", \"public_key\": \"%K\"}", MR_EEXIST,
     "public_key: the pod has a peer with this key"},
    {mr_store_peer_add, "{\"pod\": \"%P\", \"name\": \"phone\", \"public_key\": \"" KEY_OK "\"}",
     MR_EEXIST, "name:"},
    {mr_store_peer_add,
     "{\"pod\": \"%P\", \"name\": \"x\", \"public_key\": \"" KEY_OK "\", \"preshared_key\": "
     "\"short\"}",
     MR_EINVAL, "preshared_key: expected 44 characters, got 5"},
    {mr_store_peer_add,
     "{\"pod\": \"%P\", \"name\": \"x\", \"public_key\": \"" KEY_OK "\", \"expires\": -5}",
     MR_EINVAL, "expires:"},
    {mr_store_peer_add,
     "{\"pod\": \"pd_zzzzzzzzzzzz\", \"name\": \"x\", \"public_key\": \"" KEY_OK "\"}",
     MR_ENOTFOUND, "pod:"},
    {mr_store_peer_add,
     "{\"pod\": \"%P\", \"name\": \"x\", \"public_key\": \"" KEY_OK "\", \"private_key\": "
     "\"" KEY_OK "\"}",
     MR_EINVAL, "unknown member \"private_key\""},
    {mr_store_peer_show, "{\"id\": \"%R\", \"pod\": \"pd_zzzzzzzzzzzz\"}", MR_ENOTFOUND,
     "id: no such peer"},
    {mr_store_peer_disable, "{\"id\": \"%R\", \"reason\": \"line\\nbreak\"}", MR_EINVAL,
     "reason: invalid character"},
    {mr_store_peer_disable, "{\"id\": \"%R\", \"reason\": \"\"}", MR_EINVAL, "reason: empty"},
    {mr_store_peer_rename, "{\"id\": \"%R\", \"name\": \"laptop\"}", MR_EEXIST, "name:"},
    {mr_store_peer_rename, "{\"id\": \"%R\"}", MR_EINVAL, "name: missing"},
    {mr_store_peer_set_expiry, "{\"id\": \"%R\"}", MR_EINVAL, "expires: missing"},
    {mr_store_peer_set_expiry, "{\"id\": \"%R\", \"expires\": true}", MR_EINVAL,
     "expires: expected an integer, got a boolean"},
    {mr_store_peer_remove, "{\"id\": \"pr_zzzzzzzzzzzz\"}", MR_ENOTFOUND, "id:"},
    {mr_store_peer_list, "{}", MR_EINVAL, "pod: missing"},
    {mr_store_peer_enable, "{\"id\": [\"%R\"]}", MR_EINVAL, "id: expected a string, got an array"},
    /* tokens */
    {mr_store_token_issue, "{\"kind\": \"root\"}", MR_EINVAL, "kind:"},
    {mr_store_token_issue, "{\"kind\": \"admin\", \"subject\": \"%N\"}", MR_EINVAL,
     "subject: admin tokens have no subject"},
    {mr_store_token_issue, "{\"kind\": \"node\"}", MR_EINVAL, "subject: missing"},
    {mr_store_token_issue, "{\"kind\": \"node\", \"subject\": \"%P\"}", MR_EINVAL,
     "subject: not a node id"},
    {mr_store_token_issue, "{\"kind\": \"pod\", \"subject\": \"pd_zzzzzzzzzzzz\"}", MR_ENOTFOUND,
     "subject:"},
    {mr_store_token_issue, "{\"kind\": \"admin\", \"label\": \"has space\"}", MR_EINVAL, "label:"},
    {mr_store_token_revoke, "{\"id\": \"short\"}", MR_EINVAL, "id: not a token id"},
    {mr_store_token_revoke, "{\"id\": \"aaaaaaaaaaaaaaaa\"}", MR_ENOTFOUND, "id:"},
    {mr_store_token_set_expiry, "{\"id\": \"%T\", \"expires\": \"soon\"}", MR_EINVAL, "expires:"},
    /* audit */
    {mr_store_audit_list, "{\"limit\": 0}", MR_EINVAL, "limit: 0 out of range"},
    {mr_store_audit_list, "{\"limit\": 100000}", MR_EINVAL, "limit:"},
    /* usage */
    {mr_store_usage, "{\"month\": \"2023-13\"}", MR_EINVAL, "month: expected YYYY-MM"},
    {mr_store_usage, "{\"month\": \"23-01\"}", MR_EINVAL, "month:"},
    {mr_store_usage, "{\"customer\": \"cu_zzzzzzzzzzzz\"}", MR_ENOTFOUND, "customer:"},
    /* node reports (for the fixture's node) */
    {report_fx, "[]", MR_EINVAL, "expected a JSON object"},
    {report_fx, "{\"generation\": -1}", MR_EINVAL, "generation: -1 out of range"},
    {report_fx, "{\"pods\": \"all\"}", MR_EINVAL, "pods: expected an array, got a string"},
    {report_fx, "{\"pods\": [5]}", MR_EINVAL, "pods[0]: expected a JSON object, got a number"},
    {report_fx, "{\"pods\": [{}]}", MR_EINVAL, "pods[0].id: missing"},
    {report_fx, "{\"pods\": [{\"id\": \"%P\", \"color\": 1}]}", MR_EINVAL,
     "pods[0]: unknown member \"color\""},
    {report_fx, "{\"pods\": [{\"id\": \"%P\", \"public_key\": \"" KEY_43 "\"}]}", MR_EINVAL,
     "pods[0].public_key: expected 44 characters, got 43"},
    {report_fx, "{\"pods\": [{\"id\": \"%P\", \"error\": \"a\\u0007b\"}]}", MR_EINVAL,
     "pods[0].error: invalid character"},
    {report_fx,
     "{\"pods\": [{\"id\": \"%P\", \"peers\": [{\"public_key\": \"%K\", \"rx_bytes\": -1, "
     "\"tx_bytes\": 0}]}]}",
     MR_EINVAL, "pods[0].peers[0].rx_bytes: -1 out of range"},
    {report_fx,
     "{\"pods\": [{\"id\": \"%P\", \"peers\": [{\"public_key\": \"%K\", \"rx_bytes\": 1}]}]}",
     MR_EINVAL, "pods[0].peers[0].tx_bytes: missing"},
    /* A valid first pod does not get applied when a later one is bad. */
    {report_fx, "{\"pods\": [{\"id\": \"%P\", \"public_key\": \"" KEY_OK "\"}, {\"id\": \"x\"}]}",
     MR_EINVAL, "pods[1].id: not a pod id"},
};

struct fixture {
	char node[32], customer[32], pod[32], peer[32], token[32];
	char key[MR_KEY_BASE64_SIZE];
};

static struct fixture fx;

static int report_fx(mr_store *s, const char *req, char **out)
{
	return mr_store_node_report(s, fx.node, req, out);
}

static void setup_fixture(void)
{
	char taken_node[32], tmp[32];
	json_t *j;

	setup();
	make_node(fx.node, "node-a", NULL);
	make_node(taken_node, "taken-node", NULL);
	make_customer(fx.customer, "taken");
	make_pod(fx.pod, fx.customer, fx.node);
	new_public_key(fx.key);
	j = ok(mr_store_peer_add, "{\"pod\": \"%s\", \"name\": \"laptop\", \"public_key\": \"%s\"}",
	       fx.pod, fx.key);
	json_decref(j);
	make_peer(fx.peer, fx.pod, "phone");
	j = ok(mr_store_token_issue, "{\"kind\": \"admin\", \"label\": \"ops\"}");
	take(fx.token, sizeof(fx.token), j, "token", "id");
	json_decref(j);
	(void)tmp;
}

static void expand(char *out, size_t size, const char *tmpl)
{
	size_t o = 0;

	for (const char *p = tmpl; *p && o + 64 < size; p++) {
		const char *sub = NULL;

		if (p[0] == '%') {
			switch (p[1]) {
			case 'N':
				sub = fx.node;
				break;
			case 'C':
				sub = fx.customer;
				break;
			case 'P':
				sub = fx.pod;
				break;
			case 'R':
				sub = fx.peer;
				break;
			case 'T':
				sub = fx.token;
				break;
			case 'K':
				sub = fx.key;
				break;
			}
		}
		if (sub) {
			o += (size_t)snprintf(out + o, size - o, "%s", sub);
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

START_TEST(test_bad_requests)
{
	const struct bad_case *c = &bad_cases[_i];
	char req[2048], *before, *after, *out = (char *)"untouched";
	int rc;

	expand(req, sizeof(req), c->request);
	before = dump_db();
	mr_error_clear();
	rc = c->fn(st, req, &out);
	ck_assert_msg(rc == c->code, "case %d %s: got %d (%s), wanted %d", _i, req, rc,
		      mr_error_message(), c->code);
	ck_assert_str_eq(out, "untouched");
	ck_assert_msg(strstr(mr_error_message(), c->detail) != NULL,
		      "case %d %s: detail \"%s\" lacks \"%s\"", _i, req, mr_error_message(),
		      c->detail);
	/* The detail never echoes a key given in the request. */
	ck_assert_ptr_null(strstr(mr_error_message(), "xTIBA5rb"));
	after = dump_db();
	ck_assert_msg(strcmp(before, after) == 0, "case %d changed the database", _i);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_null_arguments)
{
	char *out = NULL;
	int64_t v;
	static const op_fn fns[] = {
	    mr_store_node_register,   mr_store_node_list,	 mr_store_node_show,
	    mr_store_node_set_status, mr_store_node_delete,	 mr_store_customer_create,
	    mr_store_customer_list,   mr_store_customer_show,	 mr_store_customer_set_plan,
	    mr_store_customer_delete, mr_store_pod_create,	 mr_store_pod_list,
	    mr_store_pod_show,	      mr_store_pod_delete,	 mr_store_peer_add,
	    mr_store_peer_list,	      mr_store_peer_show,	 mr_store_peer_enable,
	    mr_store_peer_disable,    mr_store_peer_rename,	 mr_store_peer_set_expiry,
	    mr_store_peer_remove,     mr_store_token_issue,	 mr_store_token_list,
	    mr_store_token_revoke,    mr_store_token_set_expiry, mr_store_audit_list,
	    mr_store_usage,
	};

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		ck_mr_err(fns[i](NULL, "{}", &out), MR_EINVAL);
		ck_mr_err(fns[i](st, "{}", NULL), MR_EINVAL);
		ck_mr_err(fns[i](st, NULL, &out), MR_EINVAL);
		ck_assert_ptr_null(out);
	}
	ck_mr_err(mr_store_node_desired(st, NULL, &out), MR_EINVAL);
	ck_mr_err(mr_store_node_desired(st, "x", &out), MR_EINVAL);
	ck_mr_err(mr_store_node_desired(NULL, "nd_aaaaaaaaaaaa", &out), MR_EINVAL);
	ck_mr_err(mr_store_node_desired(st, "nd_aaaaaaaaaaaa", &out), MR_ENOTFOUND);
	ck_mr_err(mr_store_node_generation(st, "nd_aaaaaaaaaaaa", &v), MR_ENOTFOUND);
	ck_mr_err(mr_store_node_generation(st, "nd_aaaaaaaaaaaa", NULL), MR_EINVAL);
	ck_mr_err(mr_store_token_verify(NULL, "x", &out), MR_EINVAL);
	ck_mr_err(mr_store_token_verify(st, NULL, &out), MR_EAUTH);
	ck_mr_err(mr_store_overview(NULL, &out), MR_EINVAL);
	ck_mr_err(mr_store_overview(st, NULL), MR_EINVAL);
	ck_mr_err(mr_store_tick(NULL), MR_EINVAL);
	ck_mr_err(mr_store_next_expiry(st, NULL), MR_EINVAL);
	ck_mr_err(mr_store_set_actor(NULL, NULL), MR_EINVAL);
	ck_mr_err(mr_store_set_actor(st, "not a token"), MR_EINVAL);
	mr_store_close(NULL);
	mr_store_set_clock(NULL, NULL, NULL);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(test_request_too_big)
{
	size_t n = 70 * 1024;
	char *req = malloc(n + 1), *out = NULL;

	memset(req, ' ', n);
	req[0] = '{';
	req[n - 1] = '}';
	req[n] = '\0';
	ck_mr_err(mr_store_customer_create(st, req, &out), MR_ETOOBIG);
	free(req);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Nodes and customers                                                       */
/* ------------------------------------------------------------------------ */

START_TEST(test_node_register_defaults)
{
	json_t *j, *n, *t;
	char secret[MR_TOKEN_SIZE], tid[MR_TOKEN_ID_SIZE], *out;
	int kind;

	j = ok(mr_store_node_register,
	       "{\"name\": \"fra-1\", \"region\": \"eu-central\", \"endpoint\": \"203.0.113.7\"}");
	n = json_object_get(j, "node");
	t = json_object_get(j, "token");
	ck_assert(mr__store_is_id(sget(n, "id"), "nd_"));
	ck_assert_str_eq(sget(n, "name"), "fra-1");
	ck_assert_str_eq(sget(n, "region"), "eu-central");
	ck_assert_str_eq(sget(n, "endpoint"), "203.0.113.7");
	ck_assert_str_eq(sget(n, "ipv4_pool"), "10.64.0.0/16");
	ck_assert_int_eq(strncmp(sget(n, "ipv6_pool"), "fd", 2), 0);
	ck_assert_ptr_nonnull(strstr(sget(n, "ipv6_pool"), "::/48"));
	ck_assert_int_eq(iget(n, "ipv4_prefix"), 24);
	ck_assert_int_eq(iget(n, "ipv6_prefix"), 64);
	ck_assert_int_eq(iget(n, "port_min"), 51820);
	ck_assert_int_eq(iget(n, "port_max"), 52819);
	ck_assert_int_eq(iget(n, "max_pods"), 1000);
	ck_assert_str_eq(sget(n, "status"), "provisioning");
	ck_assert_int_eq(iget(n, "generation"), 1);
	ck_assert_int_eq(iget(n, "created"), T0);
	ck_assert(json_is_null(json_object_get(n, "last_seen")));
	ck_assert_int_eq(iget(n, "pods"), 0);
	/* The node token: shown once, of kind node, for this node. */
	snprintf(secret, sizeof(secret), "%s", sget(j, "secret"));
	ck_mr_ok(mr_token_parse(secret, &kind, tid, sizeof(tid), NULL));
	ck_assert_int_eq(kind, MR_TOKEN_NODE);
	ck_assert_str_eq(sget(t, "id"), tid);
	ck_assert_str_eq(sget(t, "kind"), "node");
	ck_assert_str_eq(sget(t, "subject"), sget(n, "id"));
	ck_assert_ptr_null(json_object_get(t, "hash"));
	ck_mr_ok(mr_store_token_verify(st, secret, &out));
	ck_assert_ptr_nonnull(strstr(out, sget(n, "id")));
	mr_free(out);
	json_decref(j);

	/* The next node gets the next free /16 and another ULA. */
	j = ok(mr_store_node_register, "{\"name\": \"fra-2\", \"region\": \"eu-central\", "
				       "\"endpoint\": \"fra2.example.net\"}");
	ck_assert_str_eq(sget(json_object_get(j, "node"), "ipv4_pool"), "10.65.0.0/16");
	json_decref(j);
	/* A given pool that covers 10.66/16 and 10.67/16 is skipped over. */
	j = ok(mr_store_node_register,
	       "{\"name\": \"big\", \"region\": \"x\", \"endpoint\": \"2001:db8::1\", "
	       "\"ipv4_pool\": \"10.66.0.0/15\", \"ipv6_pool\": \"FD00:AB:0::/48\", "
	       "\"ipv4_prefix\": 28, \"ipv6_prefix\": 120, \"port_min\": 1000, \"port_max\": 1009, "
	       "\"max_pods\": 5}");
	n = json_object_get(j, "node");
	ck_assert_str_eq(sget(n, "ipv4_pool"), "10.66.0.0/15");
	ck_assert_str_eq(sget(n, "ipv6_pool"), "fd00:ab::/48");
	ck_assert_int_eq(iget(n, "ipv4_prefix"), 28);
	ck_assert_int_eq(iget(n, "max_pods"), 5);
	json_decref(j);
	j = ok(mr_store_node_register,
	       "{\"name\": \"n4\", \"region\": \"x\", \"endpoint\": \"h4\"}");
	ck_assert_str_eq(sget(json_object_get(j, "node"), "ipv4_pool"), "10.68.0.0/16");
	json_decref(j);
}
END_TEST

START_TEST(test_node_default_pool_exhausted)
{
	char id[32];
	json_t *j;

	/* One node taking the whole 10.64.0.0/10 leaves no default /16. */
	make_node(id, "all", ", \"ipv4_pool\": \"10.64.0.0/10\"");
	fails(MR_EEXHAUSTED, "ipv4_pool:", mr_store_node_register,
	      "{\"name\": \"n2\", \"region\": \"x\", \"endpoint\": \"h\"}");
	j = ok(mr_store_node_register,
	       "{\"name\": \"n3\", \"region\": \"x\", \"endpoint\": \"h\", \"ipv4_pool\": "
	       "\"192.168.0.0/16\"}");
	json_decref(j);
}
END_TEST

START_TEST(test_node_list_show_status_delete)
{
	char a[32], b[32], cu[32], pod[32], secret[MR_TOKEN_SIZE];
	json_t *j, *arr;
	char *out;

	make_node(a, "b-node", NULL);
	j = ok(mr_store_node_register,
	       "{\"name\": \"a-node\", \"region\": \"us\", \"endpoint\": \"h\"}");
	take(b, sizeof(b), j, "node", "id");
	snprintf(secret, sizeof(secret), "%s", sget(j, "secret"));
	json_decref(j);

	j = ok(mr_store_node_list, "{}");
	arr = json_object_get(j, "nodes");
	ck_assert_int_eq(json_array_size(arr), 2);
	ck_assert_str_eq(sget(json_array_get(arr, 0), "name"), "a-node");
	ck_assert_str_eq(sget(json_array_get(arr, 1), "name"), "b-node");
	json_decref(j);
	j = ok(mr_store_node_list, "{\"region\": \"us\"}");
	ck_assert_int_eq(json_array_size(json_object_get(j, "nodes")), 1);
	json_decref(j);

	j = ok(mr_store_node_set_status, "{\"id\": \"%s\", \"status\": \"active\"}", a);
	ck_assert_str_eq(sget(json_object_get(j, "node"), "status"), "active");
	/* Status is not desired state. */
	ck_assert_int_eq(iget(json_object_get(j, "node"), "generation"), 1);
	json_decref(j);
	j = ok(mr_store_node_list, "{\"status\": \"active\"}");
	ck_assert_int_eq(json_array_size(json_object_get(j, "nodes")), 1);
	json_decref(j);
	j = ok(mr_store_node_show, "{\"id\": \"%s\"}", a);
	ck_assert_str_eq(sget(json_object_get(j, "node"), "status"), "active");
	json_decref(j);

	/* Draining nodes get no new pods. */
	make_customer(cu, "c1");
	j = ok(mr_store_node_set_status, "{\"id\": \"%s\", \"status\": \"draining\"}", a);
	json_decref(j);
	fails(MR_ECONFLICT, "draining", mr_store_pod_create,
	      "{\"customer\": \"%s\", \"node\": \"%s\"}", cu, a);
	j = ok(mr_store_node_set_status, "{\"id\": \"%s\", \"status\": \"offline\"}", a);
	json_decref(j);
	make_pod(pod, cu, a);

	/* Delete: refused with a pod, forced it takes the pod and its tokens. */
	fails(MR_ECONFLICT, "1 pod", mr_store_node_delete, "{\"id\": \"%s\"}", a);
	j = ok(mr_store_node_delete, "{\"id\": \"%s\", \"force\": true}", a);
	ck_assert_str_eq(sget(j, "deleted"), a);
	ck_assert_int_eq(iget(j, "pods"), 1);
	json_decref(j);
	fails(MR_ENOTFOUND, "id:", mr_store_node_show, "{\"id\": \"%s\"}", a);
	fails(MR_ENOTFOUND, "id:", mr_store_pod_show, "{\"id\": \"%s\"}", pod);
	ck_assert_int_eq(db_int("SELECT count(*) FROM tokens WHERE revoked IS NULL AND "
				"kind != 'admin'"),
			 1);
	/* The node without pods goes without force; its token stops working. */
	j = ok(mr_store_node_delete, "{\"id\": \"%s\"}", b);
	ck_assert_int_eq(iget(j, "pods"), 0);
	json_decref(j);
	ck_mr_err(mr_store_token_verify(st, secret, &out), MR_EAUTH);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "revoked"));
	j = ok(mr_store_node_list, "{}");
	ck_assert_int_eq(json_array_size(json_object_get(j, "nodes")), 0);
	json_decref(j);
}
END_TEST

START_TEST(test_customers)
{
	char a[32], b[32], node[32], pod[32];
	json_t *j, *c;

	j = ok(mr_store_customer_create, "{\"name\": \"zeta\", \"transfer_limit\": 1000000}");
	c = json_object_get(j, "customer");
	ck_assert(mr__store_is_id(sget(c, "id"), "cu_"));
	ck_assert_int_eq(iget(c, "transfer_limit"), 1000000);
	ck_assert_str_eq(sget(c, "status"), "active");
	take(a, sizeof(a), j, "customer", "id");
	json_decref(j);
	make_customer(b, "alpha");
	j = ok(mr_store_customer_show, "{\"id\": \"%s\"}", b);
	ck_assert_int_eq(iget(json_object_get(j, "customer"), "transfer_limit"), 0);
	json_decref(j);
	j = ok(mr_store_customer_list, "{}");
	ck_assert_int_eq(json_array_size(json_object_get(j, "customers")), 2);
	ck_assert_str_eq(sget(json_array_get(json_object_get(j, "customers"), 0), "name"), "alpha");
	json_decref(j);
	j = ok(mr_store_customer_set_plan, "{\"id\": \"%s\", \"transfer_limit\": 5}", a);
	ck_assert_int_eq(iget(json_object_get(j, "customer"), "transfer_limit"), 5);
	json_decref(j);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action = 'customer.plan'"), 1);
	/* The same plan again changes (and records) nothing. */
	json_decref(ok(mr_store_customer_set_plan, "{\"id\": \"%s\", \"transfer_limit\": 5}", a));
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action = 'customer.plan'"), 1);

	make_node(node, "n1", NULL);
	make_pod(pod, a, node);
	fails(MR_ECONFLICT, "1 pod", mr_store_customer_delete, "{\"id\": \"%s\"}", a);
	j = ok(mr_store_customer_delete, "{\"id\": \"%s\", \"force\": true}", a);
	ck_assert_int_eq(iget(j, "pods"), 1);
	json_decref(j);
	ck_assert_int_eq(generation(node), 3); /* create and delete of the pod */
	j = ok(mr_store_customer_delete, "{\"id\": \"%s\"}", b);
	json_decref(j);
	fails(MR_ENOTFOUND, "id:", mr_store_customer_show, "{\"id\": \"%s\"}", b);
	ck_assert_int_eq(db_int("SELECT count(*) FROM customers"), 0);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action = 'pod.delete' AND "
				"detail LIKE '%customer.delete%'"),
			 1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Pods: allocation, exhaustion, reuse                                       */
/* ------------------------------------------------------------------------ */

START_TEST(test_pod_create_allocates)
{
	char node[32], cu1[32], cu2[32], ifname[MR_NAME_IFNAMSIZ], secret[MR_TOKEN_SIZE];
	json_t *j, *p, *t;
	char *out;
	int kind;

	j = ok(mr_store_node_register,
	       "{\"name\": \"n1\", \"region\": \"eu\", \"endpoint\": \"2001:db8::7\", "
	       "\"ipv6_pool\": \"fd12:3456:789a::/48\"}");
	take(node, sizeof(node), j, "node", "id");
	json_decref(j);
	make_customer(cu1, "c1");
	make_customer(cu2, "c2");
	j = ok(mr_store_pod_create, "{\"customer\": \"%s\", \"node\": \"%s\"}", cu1, node);
	p = json_object_get(j, "pod");
	t = json_object_get(j, "token");
	ck_assert(mr__store_is_id(sget(p, "id"), "pd_"));
	ck_assert_str_eq(sget(p, "customer"), cu1);
	ck_assert_str_eq(sget(p, "node"), node);
	ck_mr_ok(mr_name_pod_interface(ifname, sizeof(ifname), sget(p, "id")));
	ck_assert_str_eq(sget(p, "interface"), ifname);
	ck_assert_int_eq(iget(p, "listen_port"), 51820);
	ck_assert_str_eq(sget(p, "ipv4_subnet"), "10.64.0.0/24");
	ck_assert_str_eq(sget(p, "ipv6_subnet"), "fd12:3456:789a::/64");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "addresses"), 0)),
			 "10.64.0.1/24");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "addresses"), 1)),
			 "fd12:3456:789a::1/64");
	ck_assert_str_eq(sget(p, "status"), "pending");
	ck_assert(json_is_null(json_object_get(p, "public_key")));
	ck_assert_str_eq(sget(p, "endpoint"), "[2001:db8::7]:51820");
	ck_assert_str_eq(sget(t, "kind"), "pod");
	ck_assert_str_eq(sget(t, "subject"), sget(p, "id"));
	snprintf(secret, sizeof(secret), "%s", sget(j, "secret"));
	ck_mr_ok(mr_token_parse(secret, &kind, NULL, 0, NULL));
	ck_assert_int_eq(kind, MR_TOKEN_POD);
	ck_mr_ok(mr_store_token_verify(st, secret, &out));
	ck_assert_ptr_nonnull(strstr(out, sget(p, "id")));
	mr_free(out);
	json_decref(j);

	j = ok(mr_store_pod_create, "{\"customer\": \"%s\", \"node\": \"%s\"}", cu2, node);
	p = json_object_get(j, "pod");
	ck_assert_int_eq(iget(p, "listen_port"), 51821);
	ck_assert_str_eq(sget(p, "ipv4_subnet"), "10.64.1.0/24");
	ck_assert_str_eq(sget(p, "ipv6_subnet"), "fd12:3456:789a:1::/64");
	json_decref(j);
	/* One pod per customer and node. */
	fails(MR_EEXIST, "already", mr_store_pod_create, "{\"customer\": \"%s\", \"node\": \"%s\"}",
	      cu1, node);

	j = ok(mr_store_pod_list, "{\"customer\": \"%s\"}", cu2);
	ck_assert_int_eq(json_array_size(json_object_get(j, "pods")), 1);
	json_decref(j);
	j = ok(mr_store_pod_list, "{\"node\": \"%s\", \"status\": \"pending\"}", node);
	ck_assert_int_eq(json_array_size(json_object_get(j, "pods")), 2);
	json_decref(j);
	j = ok(mr_store_pod_list, "{\"status\": \"active\"}");
	ck_assert_int_eq(json_array_size(json_object_get(j, "pods")), 0);
	json_decref(j);
}
END_TEST

START_TEST(test_pod_exhaustion_and_reuse)
{
	char node[32], cu[8][32], pod[8][32];
	char name[16];
	json_t *j;

	/* A /22 cut into /24s holds four pods; ports are plentiful. */
	make_node(node, "small", ", \"ipv4_pool\": \"10.9.0.0/22\"");
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		make_customer(cu[i], name);
	}
	for (int i = 0; i < 4; i++)
		make_pod(pod[i], cu[i], node);
	fails(MR_EEXHAUSTED, "IPv4", mr_store_pod_create,
	      "{\"customer\": \"%s\", \"node\": \"%s\"}", cu[4], node);
	/* Deleting the second pod frees its subnet and port for the next. */
	j = ok(mr_store_pod_delete, "{\"id\": \"%s\"}", pod[1]);
	ck_assert_str_eq(sget(j, "deleted"), pod[1]);
	json_decref(j);
	j = ok(mr_store_pod_create, "{\"customer\": \"%s\", \"node\": \"%s\"}", cu[4], node);
	ck_assert_str_eq(sget(json_object_get(j, "pod"), "ipv4_subnet"), "10.9.1.0/24");
	ck_assert_int_eq(iget(json_object_get(j, "pod"), "listen_port"), 51821);
	json_decref(j);

	/* Ports: a range of two. */
	make_node(node, "ports", ", \"port_min\": 40000, \"port_max\": 40001, \"max_pods\": 10");
	make_pod(pod[5], cu[0], node);
	make_pod(pod[6], cu[1], node);
	fails(MR_EEXHAUSTED, "port", mr_store_pod_create,
	      "{\"customer\": \"%s\", \"node\": \"%s\"}", cu[2], node);

	/* max_pods. */
	make_node(node, "capped", ", \"max_pods\": 1");
	make_pod(pod[7], cu[0], node);
	fails(MR_EEXHAUSTED, "max_pods", mr_store_pod_create,
	      "{\"customer\": \"%s\", \"node\": \"%s\"}", cu[1], node);

	/* IPv6 exhaustion: a /125 pool holds two /126 pod subnets. */
	make_node(node, "v6", ", \"ipv6_pool\": \"fd00:1::/125\", \"ipv6_prefix\": 126");
	make_pod(pod[0], cu[0], node);
	make_pod(pod[1], cu[1], node);
	fails(MR_EEXHAUSTED, "IPv6", mr_store_pod_create,
	      "{\"customer\": \"%s\", \"node\": \"%s\"}", cu[2], node);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Peers                                                                     */
/* ------------------------------------------------------------------------ */

START_TEST(test_peer_add_and_addresses)
{
	char node[32], cu[32], cu2[32], pod[32], pod2[32], key[MR_KEY_BASE64_SIZE];
	char peers[3][32];
	json_t *j, *p;

	make_node(node, "n1", ", \"ipv6_pool\": \"fd00:9::/48\"");
	make_customer(cu, "c1");
	make_customer(cu2, "c2");
	make_pod(pod, cu, node);
	make_pod(pod2, cu2, node);
	new_public_key(key);
	j = ok(mr_store_peer_add,
	       "{\"pod\": \"%s\", \"name\": \"laptop\", \"public_key\": \"%s\", "
	       "\"preshared_key\": \"" KEY_OK "\"}",
	       pod, key);
	p = json_object_get(j, "peer");
	ck_assert(mr__store_is_id(sget(p, "id"), "pr_"));
	ck_assert_str_eq(sget(p, "pod"), pod);
	ck_assert_str_eq(sget(p, "name"), "laptop");
	ck_assert_str_eq(sget(p, "public_key"), key);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "addresses"), 0)),
			 "10.64.0.2/32");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(p, "addresses"), 1)),
			 "fd00:9::2/128");
	ck_assert(json_is_true(json_object_get(p, "enabled")));
	ck_assert(json_is_true(json_object_get(p, "has_preshared_key")));
	ck_assert_ptr_null(json_object_get(p, "preshared_key"));
	ck_assert(json_is_null(json_object_get(p, "expires")));
	/* The pod comes along: what the device's config needs. */
	ck_assert_str_eq(sget(json_object_get(j, "pod"), "endpoint"), "vpn.example.com:51820");
	take(peers[0], 32, j, "peer", "id");
	json_decref(j);
	/* The same key is fine in another pod, and gets that pod's addresses. */
	j = ok(mr_store_peer_add, "{\"pod\": \"%s\", \"name\": \"laptop\", \"public_key\": \"%s\"}",
	       pod2, key);
	ck_assert_str_eq(json_string_value(json_array_get(
			     json_object_get(json_object_get(j, "peer"), "addresses"), 0)),
			 "10.64.1.2/32");
	ck_assert(json_is_false(json_object_get(json_object_get(j, "peer"), "has_preshared_key")));
	json_decref(j);

	make_peer(peers[1], pod, "phone");
	make_peer(peers[2], pod, "tablet");
	j = ok(mr_store_peer_show, "{\"id\": \"%s\"}", peers[2]);
	ck_assert_str_eq(json_string_value(json_array_get(
			     json_object_get(json_object_get(j, "peer"), "addresses"), 0)),
			 "10.64.0.4/32");
	json_decref(j);
	/* Removing frees the address for the next peer. */
	json_decref(ok(mr_store_peer_remove, "{\"id\": \"%s\"}", peers[1]));
	make_peer(peers[1], pod, "watch");
	j = ok(mr_store_peer_show, "{\"id\": \"%s\", \"pod\": \"%s\"}", peers[1], pod);
	ck_assert_str_eq(json_string_value(json_array_get(
			     json_object_get(json_object_get(j, "peer"), "addresses"), 0)),
			 "10.64.0.3/32");
	ck_assert_str_eq(json_string_value(json_array_get(
			     json_object_get(json_object_get(j, "peer"), "addresses"), 1)),
			 "fd00:9::3/128");
	json_decref(j);

	j = ok(mr_store_peer_list, "{\"pod\": \"%s\"}", pod);
	ck_assert_int_eq(json_array_size(json_object_get(j, "peers")), 3);
	ck_assert_str_eq(sget(json_array_get(json_object_get(j, "peers"), 0), "name"), "laptop");
	json_decref(j);
	/* Scoping: another pod's id answers "not found". */
	fails(MR_ENOTFOUND, "no such peer", mr_store_peer_show, "{\"id\": \"%s\", \"pod\": \"%s\"}",
	      peers[0], pod2);
	fails(MR_ENOTFOUND, "no such peer", mr_store_peer_remove,
	      "{\"id\": \"%s\", \"pod\": \"%s\"}", peers[0], pod2);
	fails(MR_ENOTFOUND, "pod:", mr_store_peer_list, "{\"pod\": \"pd_zzzzzzzzzzzz\"}");
}
END_TEST

START_TEST(test_peer_exhaustion)
{
	char node[32], cu[32], pod[32], peer[32];

	/* A /30 has one host besides network, gateway and broadcast. */
	make_node(node, "n1", ", \"ipv4_prefix\": 30");
	make_customer(cu, "c1");
	make_pod(pod, cu, node);
	make_peer(peer, pod, "one");
	{
		char key[MR_KEY_BASE64_SIZE];

		new_public_key(key);
		fails(MR_EEXHAUSTED, "IPv4", mr_store_peer_add,
		      "{\"pod\": \"%s\", \"name\": \"two\", \"public_key\": \"%s\"}", pod, key);
		json_decref(ok(mr_store_peer_remove, "{\"id\": \"%s\"}", peer));
		json_decref(ok(mr_store_peer_add,
			       "{\"pod\": \"%s\", \"name\": \"two\", \"public_key\": \"%s\"}", pod,
			       key));
	}
}
END_TEST

START_TEST(test_peer_state_changes)
{
	char node[32], cu[32], pod[32], peer[32];
	json_t *j, *p;

	make_node(node, "n1", NULL);
	make_customer(cu, "c1");
	make_pod(pod, cu, node);
	make_peer(peer, pod, "laptop");
	j = ok(mr_store_peer_disable, "{\"id\": \"%s\", \"reason\": \"lost device\"}", peer);
	p = json_object_get(j, "peer");
	ck_assert(json_is_false(json_object_get(p, "enabled")));
	ck_assert_str_eq(sget(p, "disabled_reason"), "lost device");
	json_decref(j);
	j = ok(mr_store_peer_list, "{\"pod\": \"%s\", \"enabled\": true}", pod);
	ck_assert_int_eq(json_array_size(json_object_get(j, "peers")), 0);
	json_decref(j);
	j = ok(mr_store_peer_enable, "{\"id\": \"%s\"}", peer);
	p = json_object_get(j, "peer");
	ck_assert(json_is_true(json_object_get(p, "enabled")));
	ck_assert(json_is_null(json_object_get(p, "disabled_reason")));
	json_decref(j);
	j = ok(mr_store_peer_disable, "{\"id\": \"%s\"}", peer);
	ck_assert_str_eq(sget(json_object_get(j, "peer"), "disabled_reason"), "disabled");
	json_decref(j);
	j = ok(mr_store_peer_rename, "{\"id\": \"%s\", \"name\": \"work-laptop\"}", peer);
	ck_assert_str_eq(sget(json_object_get(j, "peer"), "name"), "work-laptop");
	json_decref(j);
	j = ok(mr_store_peer_set_expiry, "{\"id\": \"%s\", \"expires\": %lld}", peer, T0 + 3600);
	ck_assert_int_eq(iget(json_object_get(j, "peer"), "expires"), T0 + 3600);
	ck_assert(json_is_false(json_object_get(json_object_get(j, "peer"), "expired")));
	json_decref(j);
	j = ok(mr_store_peer_set_expiry, "{\"id\": \"%s\", \"expires\": null}", peer);
	ck_assert(json_is_null(json_object_get(json_object_get(j, "peer"), "expires")));
	json_decref(j);
	j = ok(mr_store_peer_remove, "{\"id\": \"%s\", \"pod\": \"%s\"}", peer, pod);
	ck_assert_str_eq(sget(j, "deleted"), peer);
	json_decref(j);
	fails(MR_ENOTFOUND, "id:", mr_store_peer_show, "{\"id\": \"%s\"}", peer);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action IN ('peer.add', "
				"'peer.disable', 'peer.enable', 'peer.rename', 'peer.expiry', "
				"'peer.remove')"),
			 8);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Generations and desired state                                              */
/* ------------------------------------------------------------------------ */

START_TEST(test_generation_rises_on_changes)
{
	char a[32], b[32], cu[32], cu2[32], pod[32], podb[32], peer[32], peer2[32];
	int64_t ga, gb;

	make_node(a, "a", NULL);
	make_node(b, "b", NULL);
	make_customer(cu, "c1");
	make_customer(cu2, "c2");
	ck_assert_int_eq(generation(a), 1);
	gb = generation(b);

#define EXPECT(delta_a, stmt)                                                                      \
	do {                                                                                       \
		ga = generation(a);                                                                \
		stmt;                                                                              \
		ck_assert_msg(generation(a) == ga + (delta_a), "%s: generation %lld -> %lld",      \
			      #stmt, (long long)ga, (long long)generation(a));                     \
		ck_assert_int_eq(generation(b), gb);                                               \
	} while (0)

	EXPECT(1, make_pod(pod, cu, a));
	EXPECT(1, make_peer(peer, pod, "laptop"));
	EXPECT(1, make_peer(peer2, pod, "phone"));
	EXPECT(1, json_decref(ok(mr_store_peer_disable, "{\"id\": \"%s\"}", peer)));
	/* Disabling again (same reason) changes nothing. */
	EXPECT(0, json_decref(ok(mr_store_peer_disable, "{\"id\": \"%s\"}", peer)));
	/* A new reason is recorded but the node sees nothing new. */
	EXPECT(0,
	       json_decref(ok(mr_store_peer_disable, "{\"id\": \"%s\", \"reason\": \"x\"}", peer)));
	EXPECT(1, json_decref(ok(mr_store_peer_enable, "{\"id\": \"%s\"}", peer)));
	EXPECT(0, json_decref(ok(mr_store_peer_enable, "{\"id\": \"%s\"}", peer)));
	EXPECT(0,
	       json_decref(ok(mr_store_peer_rename, "{\"id\": \"%s\", \"name\": \"pc\"}", peer)));
	/* A future expiry does not change what the node sees today... */
	EXPECT(0, json_decref(ok(mr_store_peer_set_expiry, "{\"id\": \"%s\", \"expires\": %lld}",
				 peer, T0 + 100)));
	/* ...a past one does, and clearing it brings the peer back. */
	EXPECT(1, json_decref(ok(mr_store_peer_set_expiry, "{\"id\": \"%s\", \"expires\": %lld}",
				 peer, T0 - 1)));
	EXPECT(1, json_decref(
		      ok(mr_store_peer_set_expiry, "{\"id\": \"%s\", \"expires\": null}", peer)));
	/* Expiry of a disabled peer: invisible either way. */
	EXPECT(1, json_decref(ok(mr_store_peer_disable, "{\"id\": \"%s\"}", peer2)));
	EXPECT(0, json_decref(ok(mr_store_peer_set_expiry, "{\"id\": \"%s\", \"expires\": %lld}",
				 peer2, T0 - 1)));
	EXPECT(0, json_decref(ok(mr_store_peer_remove, "{\"id\": \"%s\"}", peer2)));
	EXPECT(1, json_decref(ok(mr_store_peer_remove, "{\"id\": \"%s\"}", peer)));
	EXPECT(0, json_decref(
		      ok(mr_store_node_set_status, "{\"id\": \"%s\", \"status\": \"active\"}", a)));
	EXPECT(0, json_decref(ok(mr_store_customer_set_plan,
				 "{\"id\": \"%s\", \"transfer_limit\": 9}", cu)));
	EXPECT(0, json_decref(
		      ok(mr_store_token_issue, "{\"kind\": \"pod\", \"subject\": \"%s\"}", pod)));
	/* The other node moves only with its own pods. */
	make_pod(podb, cu2, b);
	ck_assert_int_eq(generation(b), gb + 1);
	gb++;
	EXPECT(1, json_decref(ok(mr_store_pod_delete, "{\"id\": \"%s\"}", pod)));
	EXPECT(0, json_decref(ok(mr_store_customer_delete, "{\"id\": \"%s\"}", cu)));
#undef EXPECT
}
END_TEST

START_TEST(test_desired_state)
{
	char node[32], other[32], cu[32], cu2[32], pod[32], pod2[32], p1[32], p2[32], p3[32];
	char k1[MR_KEY_BASE64_SIZE], k2[MR_KEY_BASE64_SIZE];
	json_t *d, *pods, *pd, *peers, *peer;
	char *out;

	make_node(node, "n1", ", \"ipv6_pool\": \"fd00:77::/48\"");
	make_node(other, "n2", NULL);
	make_customer(cu, "c1");
	make_customer(cu2, "c2");
	make_pod(pod, cu, node);
	make_pod(pod2, cu2, other);
	new_public_key(k1);
	new_public_key(k2);
	{
		json_t *j = ok(mr_store_peer_add,
			       "{\"pod\": \"%s\", \"name\": \"a\", \"public_key\": \"%s\", "
			       "\"preshared_key\": \"" KEY_OK "\"}",
			       pod, k1);
		take(p1, 32, j, "peer", "id");
		json_decref(j);
		j = ok(mr_store_peer_add,
		       "{\"pod\": \"%s\", \"name\": \"b\", \"public_key\": \"%s\"}", pod, k2);
		take(p2, 32, j, "peer", "id");
		json_decref(j);
	}
	make_peer(p3, pod, "c");
	json_decref(ok(mr_store_peer_disable, "{\"id\": \"%s\"}", p3));
	make_peer(p3, pod2, "elsewhere");

	ck_mr_ok(mr_store_node_desired(st, node, &out));
	d = json_loads(out, 0, NULL);
	mr_free(out);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(json_object_size(d), 2);
	ck_assert_int_eq(iget(d, "generation"), generation(node));
	pods = json_object_get(d, "pods");
	ck_assert_int_eq(json_array_size(pods), 1);
	pd = json_array_get(pods, 0);
	ck_assert_int_eq(json_object_size(pd), 5);
	ck_assert_str_eq(sget(pd, "id"), pod);
	ck_assert(mr_name_is_pod_interface(sget(pd, "interface")));
	ck_assert_int_eq(iget(pd, "listen_port"), 51820);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(pd, "addresses"), 0)),
			 "10.64.0.1/24");
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(pd, "addresses"), 1)),
			 "fd00:77::1/64");
	peers = json_object_get(pd, "peers");
	/* The disabled peer and the other node's peer are not here. */
	ck_assert_int_eq(json_array_size(peers), 2);
	for (size_t i = 0; i < 2; i++) {
		peer = json_array_get(peers, i);
		ck_assert(json_is_true(json_object_get(peer, "enabled")));
		if (strcmp(sget(peer, "public_key"), k1) == 0) {
			ck_assert_str_eq(sget(peer, "preshared_key"), KEY_OK);
			ck_assert_str_eq(json_string_value(json_array_get(
					     json_object_get(peer, "allowed_ips"), 0)),
					 "10.64.0.2/32");
			ck_assert_str_eq(json_string_value(json_array_get(
					     json_object_get(peer, "allowed_ips"), 1)),
					 "fd00:77::2/128");
			ck_assert_int_eq(json_object_size(peer), 4);
		} else {
			ck_assert_str_eq(sget(peer, "public_key"), k2);
			ck_assert_ptr_null(json_object_get(peer, "preshared_key"));
			ck_assert_int_eq(json_object_size(peer), 3);
		}
	}
	json_decref(d);

	/* Ordered by id: the output of two calls is byte-identical. */
	{
		char *a, *b;

		ck_mr_ok(mr_store_node_desired(st, node, &a));
		ck_mr_ok(mr_store_node_desired(st, node, &b));
		ck_assert_str_eq(a, b);
		mr_free(a);
		mr_free(b);
	}
	/* A node without pods. */
	json_decref(ok(mr_store_pod_delete, "{\"id\": \"%s\"}", pod));
	ck_mr_ok(mr_store_node_desired(st, node, &out));
	d = json_loads(out, 0, NULL);
	ck_assert_int_eq(json_array_size(json_object_get(d, "pods")), 0);
	json_decref(d);
	mr_free(out);
	(void)p1;
	(void)p2;
}
END_TEST

START_TEST(test_expiry_tick)
{
	char node[32], other[32], cu[32], cu2[32], pod[32], pod2[32], peer[32], peer2[32];
	int64_t g, g2, next, changes;
	char *out;
	json_t *d;

	make_node(node, "n1", NULL);
	make_node(other, "n2", NULL);
	make_customer(cu, "c1");
	make_customer(cu2, "c2");
	make_pod(pod, cu, node);
	make_pod(pod2, cu2, other);
	make_peer(peer, pod, "laptop");
	make_peer(peer2, pod2, "keeps");
	ck_mr_ok(mr_store_next_expiry(st, &next));
	ck_assert_int_eq(next, 0);
	json_decref(
	    ok(mr_store_peer_set_expiry, "{\"id\": \"%s\", \"expires\": %lld}", peer, T0 + 10));
	json_decref(
	    ok(mr_store_peer_set_expiry, "{\"id\": \"%s\", \"expires\": %lld}", peer2, T0 + 50));
	ck_mr_ok(mr_store_next_expiry(st, &next));
	ck_assert_int_eq(next, T0 + 10);
	g = generation(node);
	g2 = generation(other);

	/* Before the moment: a tick changes nothing and writes nothing. */
	now_value = T0 + 9;
	changes = sqlite3_total_changes(mr__store_db(st));
	ck_mr_ok(mr_store_tick(st));
	ck_assert_int_eq(sqlite3_total_changes(mr__store_db(st)), changes);
	ck_assert_int_eq(generation(node), g);

	/* At the moment of expiry the peer leaves desired state, and the
	 * tick raises the generation of its node only. */
	now_value = T0 + 10;
	ck_mr_ok(mr_store_node_desired(st, node, &out));
	d = json_loads(out, 0, NULL);
	mr_free(out);
	ck_assert_int_eq(json_array_size(json_object_get(
			     json_array_get(json_object_get(d, "pods"), 0), "peers")),
			 0);
	json_decref(d);
	ck_mr_ok(mr_store_set_actor(st, "aaaaaaaaaaaaaaaa"));
	ck_mr_ok(mr_store_tick(st));
	ck_assert_int_eq(generation(node), g + 1);
	ck_assert_int_eq(generation(other), g2);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action = 'peer.expire' AND "
				"actor = 'system'"),
			 1);
	/* Ticking again is idle. */
	changes = sqlite3_total_changes(mr__store_db(st));
	ck_mr_ok(mr_store_tick(st));
	ck_assert_int_eq(sqlite3_total_changes(mr__store_db(st)), changes);
	ck_assert_int_eq(generation(node), g + 1);
	ck_mr_ok(mr_store_next_expiry(st, &next));
	ck_assert_int_eq(next, T0 + 50);
	/* The peer shows as expired; its row is kept. */
	d = ok(mr_store_peer_show, "{\"id\": \"%s\"}", peer);
	ck_assert(json_is_true(json_object_get(json_object_get(d, "peer"), "expired")));
	json_decref(d);

	/* A server that slept past several expiries catches up in one tick. */
	now_value = T0 + 1000;
	ck_mr_ok(mr_store_tick(st));
	ck_assert_int_eq(generation(other), g2 + 1);
	ck_mr_ok(mr_store_next_expiry(st, &next));
	ck_assert_int_eq(next, 0);
	/* Extending the expiry brings the peer back at once. */
	json_decref(
	    ok(mr_store_peer_set_expiry, "{\"id\": \"%s\", \"expires\": %lld}", peer, T0 + 2000));
	ck_assert_int_eq(generation(node), g + 2);
	ck_mr_ok(mr_store_next_expiry(st, &next));
	ck_assert_int_eq(next, T0 + 2000);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Tokens                                                                    */
/* ------------------------------------------------------------------------ */

static uint32_t crc30(const char *s, size_t n)
{
	uint32_t crc = 0x3fffffff;

	for (size_t i = 0; i < n; i++) {
		crc ^= (uint32_t)(unsigned char)s[i] << 22;
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x20000000) ? ((crc << 1) ^ 0x2030b9c7) : (crc << 1);
		crc &= 0x3fffffff;
	}
	return crc ^ 0x3fffffff;
}

/* Rewrite a token's kind letter and fix its checksum: well formed, but not
 * what was issued. */
static void forge_kind(char *tok, char kind)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint32_t crc;

	tok[2] = kind;
	crc = crc30(tok, 73);
	for (int i = 0; i < 6; i++)
		tok[73 + i] = b32[(crc >> (25 - 5 * i)) & 31];
}

START_TEST(test_token_verify)
{
	char node[32], secret[MR_TOKEN_SIZE], copy[MR_TOKEN_SIZE], tid[32], *out;
	json_t *j, *v;
	int64_t changes;

	ck_assert_uint_eq(crc30("123456789", 9), 0x04c34abf);
	make_node(node, "n1", NULL);
	j = ok(mr_store_token_issue, "{\"kind\": \"admin\", \"label\": \"ops\", \"expires\": %lld}",
	       T0 + 100);
	snprintf(secret, sizeof(secret), "%s", sget(j, "secret"));
	take(tid, sizeof(tid), j, "token", "id");
	ck_assert_str_eq(sget(json_object_get(j, "token"), "label"), "ops");
	ck_assert(json_is_null(json_object_get(json_object_get(j, "token"), "subject")));
	json_decref(j);

	/* Good. */
	ck_mr_ok(mr_store_token_verify(st, secret, &out));
	v = json_loads(out, 0, NULL);
	mr_free(out);
	ck_assert_str_eq(sget(v, "token_id"), tid);
	ck_assert_str_eq(sget(v, "kind"), "admin");
	ck_assert(json_is_null(json_object_get(v, "subject")));
	json_decref(v);
	ck_assert_int_eq(db_int("SELECT last_used FROM tokens WHERE kind = 'admin'"), T0);

	/* last used: no write within a minute, one after. */
	now_value = T0 + 30;
	changes = sqlite3_total_changes(mr__store_db(st));
	ck_mr_ok(mr_store_token_verify(st, secret, &out));
	mr_free(out);
	ck_assert_int_eq(sqlite3_total_changes(mr__store_db(st)), changes);
	ck_assert_int_eq(db_int("SELECT last_used FROM tokens WHERE kind = 'admin'"), T0);
	now_value = T0 + 61;
	ck_mr_ok(mr_store_token_verify(st, secret, &out));
	mr_free(out);
	ck_assert_int_eq(db_int("SELECT last_used FROM tokens WHERE kind = 'admin'"), T0 + 61);

	/* Typos: one character changed, one dropped, an extra one. */
	strcpy(copy, secret);
	copy[10] = copy[10] == 'a' ? 'b' : 'a';
	ck_mr_err(mr_store_token_verify(st, copy, &out), MR_EAUTH);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "checksum"));
	strcpy(copy, secret);
	copy[78] = '\0';
	ck_mr_err(mr_store_token_verify(st, copy, &out), MR_EAUTH);
	ck_mr_err(mr_store_token_verify(st, "", &out), MR_EAUTH);
	ck_mr_err(mr_store_token_verify(st, "Bearer x", &out), MR_EAUTH);
	/* Well formed but wrong kind. */
	strcpy(copy, secret);
	forge_kind(copy, 'n');
	ck_mr_err(mr_store_token_verify(st, copy, &out), MR_EAUTH);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "kind"));
	/* Well formed, never issued. */
	{
		char other[MR_TOKEN_SIZE];

		ck_mr_ok(mr_token_generate(other, sizeof(other), MR_TOKEN_ADMIN, NULL, 0, NULL));
		ck_mr_err(mr_store_token_verify(st, other, &out), MR_EAUTH);
		ck_assert_ptr_nonnull(strstr(mr_error_message(), "not recognised"));
	}
	/* Right id, wrong secret (checksum fixed). */
	strcpy(copy, secret);
	copy[30] = copy[30] == 'a' ? 'b' : 'a';
	forge_kind(copy, 'a');
	ck_mr_err(mr_store_token_verify(st, copy, &out), MR_EAUTH);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "secret"));

	/* Expired. */
	now_value = T0 + 100;
	ck_mr_err(mr_store_token_verify(st, secret, &out), MR_EAUTH);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "expired"));
	/* Extended, then revoked. */
	j = ok(mr_store_token_set_expiry, "{\"id\": \"%s\", \"expires\": null}", tid);
	json_decref(j);
	ck_mr_ok(mr_store_token_verify(st, secret, &out));
	mr_free(out);
	j = ok(mr_store_token_revoke, "{\"id\": \"%s\"}", tid);
	ck_assert_int_eq(iget(json_object_get(j, "token"), "revoked"), T0 + 100);
	json_decref(j);
	ck_mr_err(mr_store_token_verify(st, secret, &out), MR_EAUTH);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "revoked"));
	ck_assert_ptr_null(strstr(mr_error_message(), secret + 5));
	/* Revoking again is harmless; a revoked token cannot be extended. */
	json_decref(ok(mr_store_token_revoke, "{\"id\": \"%s\"}", tid));
	fails(MR_ECONFLICT, "revoked", mr_store_token_set_expiry,
	      "{\"id\": \"%s\", \"expires\": 5}", tid);

	/* Listing shows no secrets or hashes. */
	j = ok(mr_store_token_list, "{}");
	ck_assert_int_eq(json_array_size(json_object_get(j, "tokens")), 2);
	{
		char *text = json_dumps(j, 0);

		ck_assert_ptr_null(strstr(text, "hash"));
		ck_assert_ptr_null(strstr(text, secret + 21));
		free(text);
	}
	json_decref(j);
	j = ok(mr_store_token_list, "{\"kind\": \"node\", \"subject\": \"%s\"}", node);
	ck_assert_int_eq(json_array_size(json_object_get(j, "tokens")), 1);
	json_decref(j);
	j = ok(mr_store_token_list, "{\"revoked\": true}");
	ck_assert_int_eq(json_array_size(json_object_get(j, "tokens")), 1);
	json_decref(j);
	j = ok(mr_store_token_list, "{\"revoked\": false}");
	ck_assert_int_eq(json_array_size(json_object_get(j, "tokens")), 1);
	json_decref(j);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Audit                                                                     */
/* ------------------------------------------------------------------------ */

/* Every secret handed out, to look for in the database afterwards. */
static char secrets[16][MR_TOKEN_SIZE];
static int nsecrets;

static void keep_secret(json_t *j)
{
	snprintf(secrets[nsecrets++], MR_TOKEN_SIZE, "%s", sget(j, "secret"));
}

START_TEST(test_audit_log)
{
	char node[32], cu[32], pod[32], peer[32], admin[32], *text;
	json_t *j, *ev;
	sqlite3 *db;
	sqlite3_stmt *s;

	nsecrets = 0;
	j = ok(mr_store_token_issue, "{\"kind\": \"admin\"}");
	keep_secret(j);
	take(admin, sizeof(admin), j, "token", "id");
	json_decref(j);
	ck_mr_ok(mr_store_set_actor(st, admin));
	j = ok(mr_store_node_register,
	       "{\"name\": \"n1\", \"region\": \"r\", \"endpoint\": \"h\"}");
	keep_secret(j);
	take(node, sizeof(node), j, "node", "id");
	json_decref(j);
	make_customer(cu, "c1");
	now_value = T0 + 5;
	j = ok(mr_store_pod_create, "{\"customer\": \"%s\", \"node\": \"%s\"}", cu, node);
	keep_secret(j);
	take(pod, sizeof(pod), j, "pod", "id");
	json_decref(j);
	j = ok(mr_store_peer_add,
	       "{\"pod\": \"%s\", \"name\": \"laptop\", \"public_key\": \"" KEY_OK "\", "
	       "\"preshared_key\": \"" KEY_OK "\"}",
	       pod);
	take(peer, sizeof(peer), j, "peer", "id");
	json_decref(j);
	ck_mr_ok(mr_store_set_actor(st, NULL));
	json_decref(ok(mr_store_peer_disable, "{\"id\": \"%s\"}", peer));

	j = ok(mr_store_audit_list, "{}");
	ck_assert_int_eq(json_array_size(json_object_get(j, "events")), 6);
	ev = json_array_get(json_object_get(j, "events"), 0);
	ck_assert_str_eq(sget(ev, "action"), "peer.disable");
	ck_assert_str_eq(sget(ev, "actor"), "system");
	ck_assert_str_eq(sget(ev, "subject"), peer);
	ck_assert_str_eq(sget(json_object_get(ev, "detail"), "reason"), "disabled");
	ck_assert_int_eq(iget(ev, "time"), T0 + 5);
	ev = json_array_get(json_object_get(j, "events"), 4);
	ck_assert_str_eq(sget(ev, "action"), "node.register");
	ck_assert_str_eq(sget(ev, "actor"), admin);
	json_decref(j);
	j = ok(mr_store_audit_list, "{\"actor\": \"%s\"}", admin);
	ck_assert_int_eq(json_array_size(json_object_get(j, "events")), 4);
	json_decref(j);
	j = ok(mr_store_audit_list, "{\"subject\": \"%s\"}", peer);
	ck_assert_int_eq(json_array_size(json_object_get(j, "events")), 2);
	json_decref(j);
	j = ok(mr_store_audit_list, "{\"action\": \"pod.create\", \"since\": %lld}", T0 + 5);
	ck_assert_int_eq(json_array_size(json_object_get(j, "events")), 1);
	json_decref(j);
	j = ok(mr_store_audit_list, "{\"until\": %lld, \"limit\": 2}", T0);
	ck_assert_int_eq(json_array_size(json_object_get(j, "events")), 2);
	ck_assert_str_eq(sget(json_array_get(json_object_get(j, "events"), 0), "action"),
			 "customer.create");
	{
		json_int_t seq = iget(json_array_get(json_object_get(j, "events"), 1), "seq");

		json_decref(j);
		j = ok(mr_store_audit_list, "{\"before\": %lld}", (long long)seq);
		ck_assert_int_eq(json_array_size(json_object_get(j, "events")), 1);
		ck_assert_str_eq(sget(json_array_get(json_object_get(j, "events"), 0), "action"),
				 "token.issue");
	}
	json_decref(j);

	/* No secret, no hash, no preshared key anywhere in the audit table. */
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "SELECT actor || action || coalesce(subject, '') "
					    "|| detail FROM audit",
					    -1, &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		text = (char *)sqlite3_column_text(s, 0);
		for (int i = 0; i < nsecrets; i++)
			ck_assert_ptr_null(strstr(text, secrets[i] + 21));
		ck_assert_ptr_null(strstr(text, KEY_OK));
		ck_assert_ptr_null(strstr(text, "hash"));
	}
	sqlite3_finalize(s);
	/* The stored hashes are not in the audit table either. */
	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM audit a, tokens t WHERE "
					    "instr(a.detail, t.hash) > 0",
					    -1, &s, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);
	/* The tokens table holds 64-hex-digit hashes; no table holds a secret. */
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT hash FROM tokens", -1, &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW)
		ck_assert_uint_eq(strlen((const char *)sqlite3_column_text(s, 0)), 64);
	sqlite3_finalize(s);
	sqlite3_close(db);
	text = dump_db();
	for (int i = 0; i < nsecrets; i++)
		ck_assert_ptr_null(strstr(text, secrets[i] + 21));
	free(text);
}
END_TEST

START_TEST(test_overview)
{
	char node[32], cu[32], pod[32], peer[32];
	json_t *j;

	make_node(node, "n1", NULL);
	make_customer(cu, "c1");
	make_pod(pod, cu, node);
	make_peer(peer, pod, "a");
	make_peer(peer, pod, "b");
	json_decref(ok(mr_store_peer_disable, "{\"id\": \"%s\"}", peer));
	{
		char *out;

		ck_mr_ok(mr_store_overview(st, &out));
		j = json_loads(out, 0, NULL);
		mr_free(out);
	}
	ck_assert_int_eq(iget(json_object_get(j, "nodes"), "total"), 1);
	ck_assert_int_eq(iget(json_object_get(j, "nodes"), "provisioning"), 1);
	ck_assert_int_eq(iget(json_object_get(j, "nodes"), "active"), 0);
	ck_assert_int_eq(iget(j, "customers"), 1);
	ck_assert_int_eq(iget(json_object_get(j, "pods"), "pending"), 1);
	ck_assert_int_eq(iget(json_object_get(j, "peers"), "total"), 2);
	ck_assert_int_eq(iget(json_object_get(j, "peers"), "enabled"), 1);
	ck_assert_int_eq(iget(json_object_get(j, "tokens"), "active"), 2);
	json_decref(j);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Reports, usage, quota                                                     */
/* ------------------------------------------------------------------------ */

static json_t *report(const char *node, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *report(const char *node, const char *fmt, ...)
{
	char req[8192], *out = NULL;
	json_t *j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(req, sizeof(req), fmt, ap);
	va_end(ap);
	ck_assert_msg(mr_store_node_report(st, node, req, &out) == 0, "report %s: %s", req,
		      mr_error_message());
	j = json_loads(out, 0, NULL);
	mr_free(out);
	return j;
}

static json_t *pod_of(const char *pod)
{
	json_t *j = ok(mr_store_pod_show, "{\"id\": \"%s\"}", pod);
	json_t *p = json_incref(json_object_get(j, "pod"));

	json_decref(j);
	return p;
}

START_TEST(test_report_pod_state)
{
	char node[32], other[32], cu[32], cu2[32], pod[32], pod2[32];
	char k1[MR_KEY_BASE64_SIZE], k2[MR_KEY_BASE64_SIZE];
	json_t *r, *p, *n;
	int64_t g;

	make_node(node, "n1", NULL);
	make_node(other, "n2", NULL);
	make_customer(cu, "c1");
	make_customer(cu2, "c2");
	make_pod(pod, cu, node);
	make_pod(pod2, cu2, other);
	new_public_key(k1);
	new_public_key(k2);
	g = generation(node);

	now_value = T0 + 30;
	r = report(node,
		   "{\"generation\": %lld, \"pods\": [{\"id\": \"%s\", \"public_key\": \"%s\"}, "
		   "{\"id\": \"%s\", \"public_key\": \"%s\"}]}",
		   (long long)g, pod, k1, pod2, k2);
	ck_assert_int_eq(iget(r, "pods"), 1);
	ck_assert_int_eq(iget(json_object_get(r, "ignored"), "pods"), 1);
	ck_assert_int_eq(iget(r, "generation"), g);
	json_decref(r);
	/* The pod is active with its key; the other node's pod untouched. */
	p = pod_of(pod);
	ck_assert_str_eq(sget(p, "status"), "active");
	ck_assert_str_eq(sget(p, "public_key"), k1);
	json_decref(p);
	p = pod_of(pod2);
	ck_assert_str_eq(sget(p, "status"), "pending");
	ck_assert(json_is_null(json_object_get(p, "public_key")));
	json_decref(p);
	/* The node: active, seen, applied generation known; reports do not
	 * change desired state. */
	n = ok(mr_store_node_show, "{\"id\": \"%s\"}", node);
	ck_assert_str_eq(sget(json_object_get(n, "node"), "status"), "active");
	ck_assert_int_eq(iget(json_object_get(n, "node"), "last_seen"), T0 + 30);
	ck_assert_int_eq(iget(json_object_get(n, "node"), "applied_generation"), g);
	json_decref(n);
	ck_assert_int_eq(generation(node), g);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action = 'pod.activate'"), 1);

	/* The same report again changes nothing but last_seen. */
	json_decref(
	    report(node, "{\"pods\": [{\"id\": \"%s\", \"public_key\": \"%s\"}]}", pod, k1));
	/* pod.create twice, pod.activate, pod.status. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action LIKE 'pod.%'"), 4);

	/* An error makes it failed; null clears it; a new key is recorded. */
	json_decref(report(node, "{\"pods\": [{\"id\": \"%s\", \"error\": \"link down\"}]}", pod));
	p = pod_of(pod);
	ck_assert_str_eq(sget(p, "status"), "failed");
	ck_assert_str_eq(sget(p, "error"), "link down");
	ck_assert_str_eq(sget(p, "public_key"), k1);
	json_decref(p);
	/* Without an "error" member the error stands. */
	json_decref(report(node, "{\"pods\": [{\"id\": \"%s\"}]}", pod));
	p = pod_of(pod);
	ck_assert_str_eq(sget(p, "status"), "failed");
	json_decref(p);
	json_decref(report(node,
			   "{\"pods\": [{\"id\": \"%s\", \"error\": null, \"public_key\": "
			   "\"%s\"}]}",
			   pod, k2));
	p = pod_of(pod);
	ck_assert_str_eq(sget(p, "status"), "active");
	ck_assert(json_is_null(json_object_get(p, "error")));
	ck_assert_str_eq(sget(p, "public_key"), k2);
	json_decref(p);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action = 'pod.key'"), 1);
	ck_mr_err(mr_store_node_report(st, "nd_zzzzzzzzzzzz", "{}", &(char *){NULL}), MR_ENOTFOUND);
	ck_mr_err(mr_store_node_report(st, "bad", "{}", &(char *){NULL}), MR_EINVAL);
}
END_TEST

static json_int_t usage_total(const char *customer)
{
	json_t *u = ok(mr_store_usage, "{\"customer\": \"%s\"}", customer);
	json_int_t t = iget(json_array_get(json_object_get(u, "customers"), 0), "total");

	json_decref(u);
	return t;
}

START_TEST(test_report_counters)
{
	char node[32], cu[32], pod[32], peer[32], key[MR_KEY_BASE64_SIZE];
	json_t *j, *u, *pr;

	make_node(node, "n1", NULL);
	make_customer(cu, "c1");
	make_pod(pod, cu, node);
	new_public_key(key);
	j = ok(mr_store_peer_add, "{\"pod\": \"%s\", \"name\": \"a\", \"public_key\": \"%s\"}", pod,
	       key);
	take(peer, sizeof(peer), j, "peer", "id");
	json_decref(j);

#define COUNTERS(rx, tx, hs)                                                                       \
	json_decref(                                                                               \
	    report(node,                                                                           \
		   "{\"pods\": [{\"id\": \"%s\", \"peers\": [{\"public_key\": \"%s\", "            \
		   "\"rx_bytes\": %lld, \"tx_bytes\": %lld, \"last_handshake\": %lld}]}]}",        \
		   pod, key, (long long)(rx), (long long)(tx), (long long)(hs)))

	COUNTERS(100, 50, T0 - 5);
	ck_assert_int_eq(usage_total(cu), 150);
	COUNTERS(300, 50, 0); /* 0: no handshake news */
	ck_assert_int_eq(usage_total(cu), 350);
	/* The interface was recreated: counters start again. */
	COUNTERS(10, 5, T0);
	ck_assert_int_eq(usage_total(cu), 365);
	j = ok(mr_store_peer_show, "{\"id\": \"%s\"}", peer);
	pr = json_object_get(j, "peer");
	ck_assert_int_eq(iget(pr, "rx_bytes"), 310);
	ck_assert_int_eq(iget(pr, "tx_bytes"), 55);
	ck_assert_int_eq(iget(pr, "last_handshake"), T0);
	json_decref(j);

	/* Usage per calendar month: the next month starts from zero. */
	now_value = 1701388800; /* 2023-12-01T00:00:00Z */
	COUNTERS(40, 5, 0);
	ck_assert_int_eq(usage_total(cu), 30);
	u = ok(mr_store_usage, "{\"customer\": \"%s\", \"month\": \"2023-11\"}", cu);
	ck_assert_str_eq(sget(u, "month"), "2023-11");
	ck_assert_int_eq(iget(json_array_get(json_object_get(u, "customers"), 0), "rx_bytes"), 310);
	ck_assert_int_eq(iget(json_array_get(json_object_get(u, "customers"), 0), "tx_bytes"), 55);
	pr = json_array_get(json_object_get(u, "peers"), 0);
	ck_assert_str_eq(sget(pr, "peer"), peer);
	ck_assert_int_eq(iget(pr, "rx_bytes"), 310);
	ck_assert_int_eq(iget(pr, "total_rx_bytes"), 340);
	json_decref(u);
	u = ok(mr_store_usage, "{}");
	ck_assert_str_eq(sget(u, "month"), "2023-12");
	ck_assert_int_eq(json_array_size(json_object_get(u, "customers")), 1);
	ck_assert_ptr_null(json_object_get(u, "peers"));
	json_decref(u);

	/* Unknown keys are ignored; counters never overflow into reals. */
	j = report(node,
		   "{\"pods\": [{\"id\": \"%s\", \"peers\": [{\"public_key\": \"" KEY_OK "\", "
		   "\"rx_bytes\": 1, \"tx_bytes\": 1}]}]}",
		   pod);
	ck_assert_int_eq(iget(json_object_get(j, "ignored"), "peers"), 1);
	json_decref(j);
	COUNTERS(INT64_MAX, 0, 0);
	COUNTERS(5, 0, 0);
	ck_assert_int_eq(db_int("SELECT rx_bytes = 9223372036854775807 AND typeof(rx_bytes) = "
				"'integer' FROM peers"),
			 1);
	ck_assert_int_eq(db_int("SELECT typeof(rx_bytes) = 'integer' FROM usage WHERE month = "
				"'2023-12'"),
			 1);
	/* Counters are not audited. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action LIKE '%usage%' OR "
				"action LIKE 'peer.%' AND action != 'peer.add'"),
			 0);
#undef COUNTERS
}
END_TEST

START_TEST(test_quota)
{
	char node[32], node2[32], cu[32], other[32], pod[32], pod2[32], podo[32];
	char k1[MR_KEY_BASE64_SIZE], k2[MR_KEY_BASE64_SIZE];
	char peer2[32], peero[32];
	int64_t g, g2, next;
	json_t *j;

	now_value = 1700000000; /* 2023-11-14 */
	make_node(node, "n1", NULL);
	make_node(node2, "n2", NULL);
	j = ok(mr_store_customer_create, "{\"name\": \"small\", \"transfer_limit\": 1000}");
	take(cu, sizeof(cu), j, "customer", "id");
	json_decref(j);
	make_customer(other, "unlimited");
	make_pod(pod, cu, node);
	make_pod(pod2, cu, node2);
	make_pod(podo, other, node);
	new_public_key(k1);
	new_public_key(k2);
	json_decref(ok(mr_store_peer_add,
		       "{\"pod\": \"%s\", \"name\": \"a\", \"public_key\": \"%s\"}", pod, k1));
	make_peer(peer2, pod2, "b");
	make_peer(peero, podo, "c");
	g = generation(node);
	g2 = generation(node2);

	json_decref(report(node,
			   "{\"pods\": [{\"id\": \"%s\", \"peers\": [{\"public_key\": \"%s\", "
			   "\"rx_bytes\": 600, \"tx_bytes\": 0}]}]}",
			   pod, k1));
	ck_assert_int_eq(db_int("SELECT count(*) FROM peers WHERE enabled = 0"), 0);
	ck_mr_ok(mr_store_next_expiry(st, &next));
	ck_assert_int_eq(next, 0);
	/* Over the limit: every peer of the customer, on both nodes, is held;
	 * each node's generation rises once; the other customer is untouched. */
	json_decref(report(node,
			   "{\"pods\": [{\"id\": \"%s\", \"peers\": [{\"public_key\": \"%s\", "
			   "\"rx_bytes\": 700, \"tx_bytes\": 300}]}]}",
			   pod, k1));
	ck_assert_int_eq(db_int("SELECT count(*) FROM peers WHERE enabled = 0 AND "
				"disabled_reason = 'quota'"),
			 2);
	ck_assert_int_eq(generation(node), g + 1);
	ck_assert_int_eq(generation(node2), g2 + 1);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action = 'customer.quota'"), 1);
	j = ok(mr_store_usage, "{\"customer\": \"%s\"}", cu);
	ck_assert(json_is_true(
	    json_object_get(json_array_get(json_object_get(j, "customers"), 0), "over_limit")));
	json_decref(j);
	{
		char *out;
		json_t *d;

		ck_mr_ok(mr_store_node_desired(st, node2, &out));
		d = json_loads(out, 0, NULL);
		mr_free(out);
		ck_assert_int_eq(json_array_size(json_object_get(
				     json_array_get(json_object_get(d, "pods"), 0), "peers")),
				 0);
		json_decref(d);
	}
	/* Until the month turns. */
	ck_mr_ok(mr_store_next_expiry(st, &next));
	ck_assert_int_eq(next, 1701388800);
	/* More traffic while held changes nothing more. */
	json_decref(report(node,
			   "{\"pods\": [{\"id\": \"%s\", \"peers\": [{\"public_key\": \"%s\", "
			   "\"rx_bytes\": 800, \"tx_bytes\": 300}]}]}",
			   pod, k1));
	ck_assert_int_eq(generation(node), g + 1);
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action = 'customer.quota'"), 1);

	/* A bigger plan gives the peers back; a smaller one holds them. */
	json_decref(
	    ok(mr_store_customer_set_plan, "{\"id\": \"%s\", \"transfer_limit\": 5000}", cu));
	ck_assert_int_eq(db_int("SELECT count(*) FROM peers WHERE enabled = 0"), 0);
	ck_assert_int_eq(generation(node), g + 2);
	json_decref(
	    ok(mr_store_customer_set_plan, "{\"id\": \"%s\", \"transfer_limit\": 1000}", cu));
	ck_assert_int_eq(db_int("SELECT count(*) FROM peers WHERE enabled = 0"), 2);
	ck_assert_int_eq(generation(node), g + 3);

	/* The month turns: the first tick of December gives them back. */
	now_value = 1701388799;
	ck_mr_ok(mr_store_tick(st));
	ck_assert_int_eq(db_int("SELECT count(*) FROM peers WHERE enabled = 0"), 2);
	now_value = 1701388800;
	ck_mr_ok(mr_store_tick(st));
	ck_assert_int_eq(db_int("SELECT count(*) FROM peers WHERE enabled = 0"), 0);
	ck_assert_int_eq(generation(node), g + 4);
	ck_assert_int_eq(generation(node2), g2 + 4);
	/* Two peers given back twice: by the plan, then by the month. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action = 'peer.enable' AND "
				"actor = 'system' AND detail LIKE '%quota%'"),
			 4);
	ck_mr_ok(mr_store_next_expiry(st, &next));
	ck_assert_int_eq(next, 0);
	/* A manually disabled peer is not given back by the quota clock. */
	json_decref(ok(mr_store_peer_disable, "{\"id\": \"%s\"}", peer2));
	now_value = 1704067200; /* 2024-01-01 */
	ck_mr_ok(mr_store_tick(st));
	ck_assert_int_eq(db_int("SELECT count(*) FROM peers WHERE enabled = 0"), 1);
	(void)peero;
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Backups                                                                   */
/* ------------------------------------------------------------------------ */

static void file_path(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
}

static void flip_byte(const char *path, long offset)
{
	FILE *f = fopen(path, "r+b");
	int c;

	ck_assert_ptr_nonnull(f);
	fseek(f, offset, offset < 0 ? SEEK_END : SEEK_SET);
	c = fgetc(f);
	fseek(f, -1, SEEK_CUR);
	fputc(c ^ 0x01, f);
	fclose(f);
}

static void copy_file(const char *from, const char *to)
{
	char buf[4096];
	FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
	size_t n;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
		fwrite(buf, 1, n, b);
	fclose(a);
	fclose(b);
}

static bool file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0, cap = 1 << 20, len = strlen(needle);
	char *buf = malloc(cap);
	bool found = false;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	for (size_t i = 0; i + len <= n && !found; i++)
		found = memcmp(buf + i, needle, len) == 0;
	free(buf);
	return found;
}

START_TEST(test_backup_round_trip)
{
	char key[320], key2[320], bak[320], bad[320], out_db[320], *before, *after, *saved;
	char node[32], cu[32], pod[32], peer[32];
	mr_store *r;
	mode_t old;

	make_node(node, "n1", NULL);
	make_customer(cu, "secretive-customer");
	make_pod(pod, cu, node);
	make_peer(peer, pod, "laptop");
	file_path(key, sizeof(key), "backup.key");
	file_path(key2, sizeof(key2), "other.key");
	file_path(bak, sizeof(bak), "store.bak");
	file_path(out_db, sizeof(out_db), "restored.db");

	old = umask(0);
	ck_mr_ok(mr_store_backup_key_create(key));
	umask(old);
	assert_mode(key, 0600);
	ck_mr_err(mr_store_backup_key_create(key), MR_EEXIST);
	ck_mr_ok(mr_store_backup_key_create(key2));
	old = umask(0);
	ck_mr_ok(mr_store_backup(st, bak, key));
	umask(old);
	assert_mode(bak, 0600);
	ck_mr_err(mr_store_backup(st, bak, key), MR_EEXIST);
	/* Encrypted: the plaintext of the database is nowhere in the file. */
	ck_assert(!file_contains(bak, "secretive-customer"));
	ck_assert(!file_contains(bak, "SQLite format 3"));
	ck_assert(file_contains(bak, "MRBACKUP"));

	/* Round trip: the restored database is the same, row for row. */
	before = dump_db();
	ck_mr_ok(mr_store_restore(bak, key, out_db));
	assert_mode(out_db, 0600);
	ck_mr_err(mr_store_restore(bak, key, out_db), MR_EEXIST);
	saved = strdup(dbpath);
	snprintf(dbpath, sizeof(dbpath), "%s", out_db);
	after = dump_db();
	ck_assert_int_eq(db_int("SELECT count(*) FROM pragma_integrity_check WHERE "
				"integrity_check = 'ok'"),
			 1);
	snprintf(dbpath, sizeof(dbpath), "%s", saved);
	free(saved);
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	ck_mr_ok(mr_store_open(&r, out_db, 0));
	{
		char *out;

		ck_assert_int_eq(mr_store_node_desired(r, node, &out), 0);
		ck_assert_ptr_nonnull(strstr(out, pod));
		mr_free(out);
	}
	mr_store_close(r);

	/* Tampering anywhere, another key, truncation: refused, nothing made. */
	{
		/* (Byte 8, the format version, is refused as MR_ENOTSUP below.) */
		static const long offsets[] = {0, 9, 12, 24, 31, 40, -1, -20};

		for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
			char target[340];

			file_path(bad, sizeof(bad), "tampered.bak");
			unlink(bad);
			copy_file(bak, bad);
			flip_byte(bad, offsets[i]);
			snprintf(target, sizeof(target), "%s/t%zu.db", tmpdir, i);
			ck_mr_err(mr_store_restore(bad, key, target), MR_EINTEGRITY);
			ck_assert_int_eq(access(target, F_OK), -1);
		}
	}
	file_path(out_db, sizeof(out_db), "other.db");
	unlink(bad);
	copy_file(bak, bad);
	flip_byte(bad, 8);
	ck_mr_err(mr_store_restore(bad, key, out_db), MR_ENOTSUP);
	ck_assert_int_eq(access(out_db, F_OK), -1);
	ck_mr_err(mr_store_restore(bak, key2, out_db), MR_EINTEGRITY);
	ck_assert_ptr_nonnull(strstr(mr_error_message(), "another key"));
	ck_assert_int_eq(access(out_db, F_OK), -1);
	unlink(bad);
	copy_file(bak, bad);
	ck_assert_int_eq(truncate(bad, 100), 0);
	ck_mr_err(mr_store_restore(bad, key, out_db), MR_EINTEGRITY);
	ck_mr_err(mr_store_restore(dbpath, key, out_db), MR_EINTEGRITY);
	ck_assert_int_eq(access(out_db, F_OK), -1);

	/* Key files: wrong size, readable by others, missing. */
	ck_assert_int_eq(chmod(key2, 0644), 0);
	ck_mr_err(mr_store_backup(st, bad, key2), MR_EPERM);
	ck_assert_int_eq(chmod(key2, 0600), 0);
	ck_assert_int_eq(truncate(key2, 31), 0);
	ck_mr_err(mr_store_restore(bak, key2, out_db), MR_EINVAL);
	file_path(key2, sizeof(key2), "missing.key");
	ck_mr_err(mr_store_backup(st, bad, key2), MR_ENOTFOUND);
	ck_mr_err(mr_store_backup(NULL, bad, key), MR_EINVAL);
	ck_mr_err(mr_store_restore(NULL, key, out_db), MR_EINVAL);
}
END_TEST

static void *customer_writer(void *arg)
{
	char req[64], *out;
	mr_store *s;
	int *failures = arg;

	if (mr_store_open(&s, dbpath, 0) < 0) {
		(*failures)++;
		return NULL;
	}
	for (int i = 0; i < 150; i++) {
		snprintf(req, sizeof(req), "{\"name\": \"bg%d\"}", i);
		if (mr_store_customer_create(s, req, &out) < 0)
			(*failures)++;
		else
			mr_free(out);
	}
	mr_store_close(s);
	return NULL;
}

/* A backup taken while another connection writes is one consistent state. */
START_TEST(test_backup_during_writes)
{
	char key[320], bak[320], out_db[320];
	pthread_t t;
	int failures = 0;
	int64_t n;

	file_path(key, sizeof(key), "k");
	file_path(bak, sizeof(bak), "b");
	file_path(out_db, sizeof(out_db), "r.db");
	ck_mr_ok(mr_store_backup_key_create(key));
	ck_assert_int_eq(pthread_create(&t, NULL, customer_writer, &failures), 0);
	usleep(20000);
	ck_mr_ok(mr_store_backup(st, bak, key));
	pthread_join(t, NULL);
	ck_assert_int_eq(failures, 0);
	ck_mr_ok(mr_store_restore(bak, key, out_db));
	snprintf(dbpath, sizeof(dbpath), "%s", out_db);
	ck_assert_int_eq(db_int("SELECT count(*) FROM pragma_integrity_check WHERE "
				"integrity_check = 'ok'"),
			 1);
	/* Every customer in the copy has its audit event, and vice versa. */
	n = db_int("SELECT count(*) FROM customers");
	ck_assert_int_eq(db_int("SELECT count(*) FROM audit WHERE action = 'customer.create'"), n);
	ck_assert_int_le(n, 150);
	snprintf(dbpath, sizeof(dbpath), "%s/store.db", tmpdir);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Concurrent writers                                                        */
/* ------------------------------------------------------------------------ */

#define WRITES_PER_THREAD 60

struct writer {
	const char *pod;
	int index;
	int failures;
	char detail[256];
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char req[512], key[MR_KEY_BASE64_SIZE], *out;
	mr_store *s;
	mr_key k;

	if (mr_store_open(&s, dbpath, 0) < 0) {
		w->failures = -1;
		snprintf(w->detail, sizeof(w->detail), "%s", mr_error_message());
		return NULL;
	}
	for (int i = 0; i < WRITES_PER_THREAD; i++) {
		mr_key_generate_private(&k);
		mr_key_public_from_private(&k, &k);
		mr_key_to_base64(key, sizeof(key), &k);
		snprintf(req, sizeof(req),
			 "{\"pod\": \"%s\", \"name\": \"t%d-%d\", \"public_key\": \"%s\"}", w->pod,
			 w->index, i, key);
		if (mr_store_peer_add(s, req, &out) < 0) {
			w->failures++;
			snprintf(w->detail, sizeof(w->detail), "%s", mr_error_message());
			continue;
		}
		mr_free(out);
		/* Interleave a customer write with its own uniqueness check. */
		snprintf(req, sizeof(req), "{\"name\": \"w%d-%d\"}", w->index, i);
		if (mr_store_customer_create(s, req, &out) < 0) {
			w->failures++;
			snprintf(w->detail, sizeof(w->detail), "%s", mr_error_message());
			continue;
		}
		mr_free(out);
	}
	mr_store_close(s);
	return NULL;
}

START_TEST(test_concurrent_writers)
{
	char node[32], cu[32], pod[32];
	struct writer w[2];
	pthread_t t[2];
	int64_t g;

	/* A /16 pod subnet: room for every peer of both threads. */
	make_node(node, "n1", ", \"ipv4_pool\": \"10.0.0.0/8\", \"ipv4_prefix\": 16");
	make_customer(cu, "c1");
	make_pod(pod, cu, node);
	g = generation(node);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct writer){.pod = pod, .index = i};
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(w[i].failures == 0, "writer %d: %d failures, last: %s", i,
			      w[i].failures, w[i].detail);
	}
	/* No lost updates: every peer is there with an address of its own,
	 * and the generation counted every one. */
	ck_assert_int_eq(db_int("SELECT count(*) FROM peers"), 2 * WRITES_PER_THREAD);
	ck_assert_int_eq(db_int("SELECT count(DISTINCT ipv4_address) FROM peers"),
			 2 * WRITES_PER_THREAD);
	ck_assert_int_eq(db_int("SELECT count(DISTINCT ipv6_address) FROM peers"),
			 2 * WRITES_PER_THREAD);
	ck_assert_int_eq(db_int("SELECT count(*) FROM customers"), 2 * WRITES_PER_THREAD + 1);
	ck_assert_int_eq(generation(node), g + 2 * WRITES_PER_THREAD);
	ck_assert_int_eq(db_int("SELECT count(*) FROM pragma_integrity_check WHERE "
				"integrity_check = 'ok'"),
			 1);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("open");
	tcase_add_test(tc, test_file_modes);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_migrate_from_v1);
	suite_add_tcase(s, tc);

	tc = tcase_create("validation");
	tcase_add_checked_fixture(tc, setup_fixture, teardown);
	tcase_add_loop_test(tc, test_bad_requests, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_null_arguments);
	tcase_add_test(tc, test_request_too_big);
	suite_add_tcase(s, tc);

	tc = tcase_create("operations");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pragmas);
	tcase_add_test(tc, test_node_register_defaults);
	tcase_add_test(tc, test_node_default_pool_exhausted);
	tcase_add_test(tc, test_node_list_show_status_delete);
	tcase_add_test(tc, test_customers);
	tcase_add_test(tc, test_pod_create_allocates);
	tcase_add_test(tc, test_pod_exhaustion_and_reuse);
	tcase_add_test(tc, test_peer_add_and_addresses);
	tcase_add_test(tc, test_peer_exhaustion);
	tcase_add_test(tc, test_peer_state_changes);
	tcase_add_test(tc, test_generation_rises_on_changes);
	tcase_add_test(tc, test_desired_state);
	tcase_add_test(tc, test_expiry_tick);
	tcase_add_test(tc, test_token_verify);
	tcase_add_test(tc, test_audit_log);
	tcase_add_test(tc, test_overview);
	tcase_add_test(tc, test_report_pod_state);
	tcase_add_test(tc, test_report_counters);
	tcase_add_test(tc, test_quota);
	suite_add_tcase(s, tc);

	tc = tcase_create("backup");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_backup_round_trip);
	tcase_add_test(tc, test_backup_during_writes);
	suite_add_tcase(s, tc);

	tc = tcase_create("concurrency");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_concurrent_writers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mr_test_run_suite(store_suite());
}

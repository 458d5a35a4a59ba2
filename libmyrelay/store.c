/* SPDX-License-Identifier: MIT */
/*
 * The control-plane store: opening the database, its schema migrations,
 * transactions, the statement cache, ids, audit events, generations and the
 * expiry clock. The domain operations live in store-*.c.
 *
 * One handle is one SQLite connection. Every operation is one transaction;
 * writers take the write lock up front (BEGIN IMMEDIATE) so that two handles
 * never deadlock upgrading a read lock, and the busy timeout makes a writer
 * wait for another instead of failing.
 */
#include "store-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <myrelay/name.h>

/* "MyRy": marks a database as ours in its header (PRAGMA application_id). */
#define STORE_APPLICATION_ID 1299796601 /* 0x4d795279 */

/* How long a writer waits for another connection's write lock (ms). */
#define STORE_BUSY_TIMEOUT_MS 10000

/*
 * The schema, as an ordered list of migrations. Migration i takes a database
 * from user_version i to i+1; all pending ones run in one transaction when a
 * handle opens the file. Never edit a released migration: append a new one.
 */
static const char migration_1[] =
    "PRAGMA application_id = 1299796601;\n"
    "CREATE TABLE nodes (\n"
    "	id TEXT PRIMARY KEY NOT NULL,\n"
    "	name TEXT NOT NULL UNIQUE,\n"
    "	region TEXT NOT NULL,\n"
    "	endpoint TEXT NOT NULL,\n"
    "	ipv4_pool TEXT NOT NULL,\n"
    "	ipv6_pool TEXT NOT NULL,\n"
    "	ipv4_prefix INTEGER NOT NULL,\n"
    "	ipv6_prefix INTEGER NOT NULL,\n"
    "	port_min INTEGER NOT NULL,\n"
    "	port_max INTEGER NOT NULL,\n"
    "	max_pods INTEGER NOT NULL,\n"
    "	status TEXT NOT NULL CHECK (status IN "
    "('provisioning', 'active', 'draining', 'offline')),\n"
    "	generation INTEGER NOT NULL DEFAULT 1,\n"
    "	created INTEGER NOT NULL,\n"
    "	last_seen INTEGER\n"
    ");\n"
    "CREATE TABLE customers (\n"
    "	id TEXT PRIMARY KEY NOT NULL,\n"
    "	name TEXT NOT NULL UNIQUE,\n"
    "	transfer_limit INTEGER NOT NULL DEFAULT 0 CHECK (transfer_limit >= 0),\n"
    "	status TEXT NOT NULL DEFAULT 'active',\n"
    "	created INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE pods (\n"
    "	id TEXT PRIMARY KEY NOT NULL,\n"
    "	customer_id TEXT NOT NULL REFERENCES customers(id),\n"
    "	node_id TEXT NOT NULL REFERENCES nodes(id),\n"
    "	interface TEXT NOT NULL,\n"
    "	listen_port INTEGER NOT NULL,\n"
    "	ipv4_subnet TEXT NOT NULL,\n"
    "	ipv6_subnet TEXT NOT NULL,\n"
    "	public_key TEXT,\n"
    "	status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'deleting', 'failed')),\n"
    "	error TEXT,\n"
    "	created INTEGER NOT NULL,\n"
    "	UNIQUE (customer_id, node_id),\n"
    "	UNIQUE (node_id, interface),\n"
    "	UNIQUE (node_id, listen_port),\n"
    "	UNIQUE (node_id, ipv4_subnet),\n"
    "	UNIQUE (node_id, ipv6_subnet)\n"
    ");\n"
    "CREATE TABLE peers (\n"
    "	id TEXT PRIMARY KEY NOT NULL,\n"
    "	pod_id TEXT NOT NULL REFERENCES pods(id) ON DELETE CASCADE,\n"
    "	name TEXT NOT NULL,\n"
    "	public_key TEXT NOT NULL,\n"
    "	ipv4_address TEXT NOT NULL,\n"
    "	ipv6_address TEXT NOT NULL,\n"
    "	preshared_key TEXT,\n"
    "	enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),\n"
    "	disabled_reason TEXT,\n"
    "	expires INTEGER,\n"
    "	rx_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "	tx_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "	last_handshake INTEGER,\n"
    "	created INTEGER NOT NULL,\n"
    "	UNIQUE (pod_id, public_key),\n"
    "	UNIQUE (pod_id, name),\n"
    "	UNIQUE (pod_id, ipv4_address),\n"
    "	UNIQUE (pod_id, ipv6_address)\n"
    ");\n"
    "CREATE TABLE tokens (\n"
    "	id TEXT PRIMARY KEY NOT NULL,\n"
    "	kind TEXT NOT NULL CHECK (kind IN ('admin', 'node', 'pod')),\n"
    "	subject TEXT,\n"
    "	hash TEXT NOT NULL,\n"
    "	label TEXT NOT NULL DEFAULT '',\n"
    "	created INTEGER NOT NULL,\n"
    "	expires INTEGER,\n"
    "	revoked INTEGER,\n"
    "	last_used INTEGER\n"
    ");\n"
    "CREATE INDEX tokens_subject ON tokens (subject);\n"
    "CREATE TABLE audit (\n"
    "	seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "	time INTEGER NOT NULL,\n"
    "	actor TEXT NOT NULL,\n"
    "	action TEXT NOT NULL,\n"
    "	subject TEXT,\n"
    "	detail TEXT NOT NULL DEFAULT '{}'\n"
    ");\n";

/* Version 2: the expiry clock (which expiries have already raised a
 * generation) and the indexes that the expiry scan and the audit filters
 * need once the tables are large. */
static const char migration_2[] =
    "CREATE TABLE meta (\n"
    "	name TEXT PRIMARY KEY NOT NULL,\n"
    "	value INTEGER NOT NULL\n"
    ");\n"
    "INSERT INTO meta (name, value) VALUES ('last_tick', 0);\n"
    "CREATE INDEX peers_expires ON peers (expires) WHERE expires IS NOT NULL;\n"
    "CREATE INDEX audit_subject ON audit (subject, seq);\n"
    "CREATE INDEX audit_actor ON audit (actor, seq);\n";

/* Version 3: what nodes report. The generation a node has applied, the last
 * raw counters of each peer (to tell traffic from a counter reset), and
 * usage per calendar month for customers and peers; the month the quota
 * clock last saw. */
static const char migration_3[] =
    "ALTER TABLE nodes ADD COLUMN applied_generation INTEGER;\n"
    "ALTER TABLE peers ADD COLUMN rx_raw INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE peers ADD COLUMN tx_raw INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE TABLE usage (\n"
    "	customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,\n"
    "	month TEXT NOT NULL,\n"
    "	rx_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "	tx_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "	PRIMARY KEY (customer_id, month)\n"
    ");\n"
    "CREATE TABLE peer_usage (\n"
    "	peer_id TEXT NOT NULL REFERENCES peers(id) ON DELETE CASCADE,\n"
    "	month TEXT NOT NULL,\n"
    "	rx_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "	tx_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "	PRIMARY KEY (peer_id, month)\n"
    ");\n"
    "CREATE INDEX peers_disabled_reason ON peers (disabled_reason) "
    "WHERE disabled_reason IS NOT NULL;\n"
    "INSERT INTO meta (name, value) VALUES ('usage_month', 0);\n";

static const char *const migrations[] = {migration_1, migration_2, migration_3};

_Static_assert(MR_ARRAY_SIZE(migrations) == MR_STORE_SCHEMA_VERSION,
	       "MR_STORE_SCHEMA_VERSION must match the list of migrations");

static int64_t default_clock(void *userdata)
{
	(void)userdata;
	return (int64_t)time(NULL);
}

sqlite3 *mr__store_db(mr_store *s)
{
	return s->db;
}

int64_t mr__store_now(mr_store *s)
{
	return s->now(s->now_userdata);
}

int mr__store_db_error(mr_store *s, int rc, const char *context)
{
	const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return mr__error_set(MR_ETIMEOUT, "%s: database is busy", context);
	case SQLITE_NOMEM:
		return mr__error_set(MR_ENOMEM, "%s: out of memory", context);
	case SQLITE_CONSTRAINT:
		/* Callers check uniqueness first to give a precise detail; a
		 * constraint firing here is a race with another writer or a
		 * reference that vanished. SQLite names only columns, never
		 * values, so its message is safe to pass on. */
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return mr__error_set(MR_EEXIST, "%s: %s", context, msg);
		return mr__error_set(MR_ECONFLICT, "%s: %s", context, msg);
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		return mr__error_set(MR_EIO, "%s: %s", context, msg);
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return mr__error_set(MR_EPERM, "%s: %s", context, msg);
	default:
		return mr__error_set(MR_EDB, "%s: %s", context, msg);
	}
}

static size_t stmt_hash(const char *sql)
{
	uintptr_t p = (uintptr_t)sql;

	p ^= p >> 17;
	p *= (uintptr_t)0x9e3779b97f4a7c15ull;
	return (size_t)(p >> 7) % STORE_STMT_SLOTS;
}

int mr__store_prepare(mr_store *s, const char *sql, sqlite3_stmt **out)
{
	size_t h = stmt_hash(sql);
	int rc;

	for (size_t i = 0; i < STORE_STMT_SLOTS; i++) {
		struct store_stmt_slot *slot = &s->stmts[(h + i) % STORE_STMT_SLOTS];

		if (slot->sql == sql) {
			sqlite3_reset(slot->stmt);
			sqlite3_clear_bindings(slot->stmt);
			*out = slot->stmt;
			return 0;
		}
		if (slot->sql)
			continue;
		rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot->stmt,
					NULL);
		if (rc != SQLITE_OK) {
			slot->stmt = NULL;
			return mr__store_db_error(s, rc, "prepare statement");
		}
		slot->sql = sql;
		*out = slot->stmt;
		return 0;
	}
	return mr__error_set(MR_EDB, "prepare statement: statement cache full");
}

int mr__store_step(mr_store *s, sqlite3_stmt *st, const char *context)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	rc = mr__store_db_error(s, rc, context);
	sqlite3_reset(st);
	return rc;
}

int mr__store_exec_stmt(mr_store *s, sqlite3_stmt *st, const char *context)
{
	int rc = mr__store_step(s, st, context);

	sqlite3_reset(st);
	return rc < 0 ? rc : 0;
}

static int exec_sql(mr_store *s, const char *sql, const char *context)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return mr__store_db_error(s, rc, context);
	return 0;
}

/* Statements left mid-result hold a read snapshot open past the end of the
 * transaction (and block WAL checkpoints): reset every one of them. */
static void reset_statements(mr_store *s)
{
	for (size_t i = 0; i < STORE_STMT_SLOTS; i++)
		if (s->stmts[i].stmt && sqlite3_stmt_busy(s->stmts[i].stmt))
			sqlite3_reset(s->stmts[i].stmt);
}

int mr__store_begin(mr_store *s, bool write)
{
	static const char begin_write[] = "BEGIN IMMEDIATE";
	static const char begin_read[] = "BEGIN";
	int rc;

	if (s->in_tx)
		return mr__error_set(MR_EDB, "begin: a transaction is already open");
	/* The busy handler normally absorbs contention; a few more attempts
	 * cover the cases where SQLite reports BUSY without calling it (e.g.
	 * while another connection recovers the WAL). */
	for (int attempt = 0;; attempt++) {
		rc = sqlite3_exec(s->db, write ? begin_write : begin_read, NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY || attempt >= 3)
			break;
	}
	if (rc != SQLITE_OK)
		return mr__store_db_error(s, rc, "begin transaction");
	s->in_tx = true;
	return 0;
}

int mr__store_commit(mr_store *s)
{
	int rc;

	reset_statements(s);
	rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = mr__store_db_error(s, rc, "commit");
		mr__store_rollback(s);
		return rc;
	}
	s->in_tx = false;
	return 0;
}

void mr__store_rollback(mr_store *s)
{
	if (!s->in_tx)
		return;
	reset_statements(s);
	/* ROLLBACK does not touch the thread's error detail: that lives in our
	 * own storage, not in SQLite's. */
	if (sqlite3_get_autocommit(s->db) == 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_tx = false;
}

int mr__store_new_id(char out[STORE_ID_SIZE], const char *prefix)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t rnd[STORE_ID_LEN - 3];
	int rc;

	rc = mr__random(rnd, sizeof(rnd));
	if (rc < 0)
		return rc;
	memcpy(out, prefix, 3);
	/* 256 is a multiple of 32, so masking keeps every character equally
	 * likely. */
	for (size_t i = 0; i < sizeof(rnd); i++)
		out[3 + i] = alphabet[rnd[i] & 31];
	out[STORE_ID_LEN] = '\0';
	return 0;
}

bool mr__store_is_id(const char *text, const char *prefix)
{
	if (strnlen(text, STORE_ID_SIZE) != STORE_ID_LEN || memcmp(text, prefix, 3) != 0)
		return false;
	for (size_t i = 3; i < STORE_ID_LEN; i++) {
		char c = text[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')))
			return false;
	}
	return true;
}

int mr__store_bind_text(sqlite3_stmt *st, int idx, const char *text)
{
	int rc = text ? sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT)
		      : sqlite3_bind_null(st, idx);

	if (rc != SQLITE_OK)
		return mr__error_set(rc == SQLITE_NOMEM ? MR_ENOMEM : MR_EDB, "bind: %s",
				     sqlite3_errstr(rc));
	return 0;
}

int mr__store_bind_opt_int(sqlite3_stmt *st, int idx, bool present, int64_t v)
{
	int rc = present ? sqlite3_bind_int64(st, idx, v) : sqlite3_bind_null(st, idx);

	if (rc != SQLITE_OK)
		return mr__error_set(MR_EDB, "bind: %s", sqlite3_errstr(rc));
	return 0;
}

json_t *mr__store_col_str(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_string((const char *)sqlite3_column_text(st, col));
}

json_t *mr__store_col_int(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, col));
}

const char *mr__store_col_text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t ? (const char *)t : "";
}

int mr__store_audit(mr_store *s, const char *action, const char *subject, json_t *detail)
{
	static const char sql[] = "INSERT INTO audit (time, actor, action, subject, detail) "
				  "VALUES (?1, ?2, ?3, ?4, ?5)";
	sqlite3_stmt *st;
	char *text = NULL;
	int rc;

	if (!detail)
		detail = json_object();
	if (!detail)
		return mr__error_set(MR_ENOMEM, "audit: out of memory");
	text = json_dumps(detail, JSON_COMPACT);
	json_decref(detail);
	if (!text)
		return mr__error_set(MR_ENOMEM, "audit: out of memory");
	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		goto out;
	sqlite3_bind_int64(st, 1, mr__store_now(s));
	if ((rc = mr__store_bind_text(st, 2, s->actor)) < 0 ||
	    (rc = mr__store_bind_text(st, 3, action)) < 0 ||
	    (rc = mr__store_bind_text(st, 4, subject)) < 0 ||
	    (rc = mr__store_bind_text(st, 5, text)) < 0)
		goto out;
	rc = mr__store_exec_stmt(s, st, "audit");
out:
	free(text);
	return rc;
}

int mr__store_bump(mr_store *s, const char *node_id)
{
	static const char sql[] = "UPDATE nodes SET generation = generation + 1 WHERE id = ?1";
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		return rc;
	if ((rc = mr__store_bind_text(st, 1, node_id)) < 0)
		return rc;
	return mr__store_exec_stmt(s, st, "raise generation");
}

/* --- opening ------------------------------------------------------------ */

/* Create the file ourselves, so that it is 0600 from its first moment
 * whatever the umask. Only a file that does not exist yet is opened here:
 * closing a descriptor of a file that another SQLite connection of this
 * process has open would drop that connection's POSIX locks. SQLite gives
 * the -wal, -shm and -journal files the mode of the database file. */
static int create_file(const char *path, bool exclusive)
{
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST && !exclusive)
			return 0;
		return mr__error_sys(errno, "database %s", path);
	}
	if (fchmod(fd, 0600) < 0) {
		int err = errno;

		close(fd);
		unlink(path);
		return mr__error_sys(err, "database %s: chmod", path);
	}
	close(fd);
	return 0;
}

static int check_file(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return mr__error_sys(errno, "database %s", path);
	if (!S_ISREG(st.st_mode))
		return mr__error_set(MR_EINVAL, "database %s: not a regular file", path);
	/* A database that others can read leaks token hashes and preshared
	 * keys: take the permissions away rather than run with them. */
	if ((st.st_mode & 077) && chmod(path, st.st_mode & 0700) < 0)
		return mr__error_sys(errno, "database %s: chmod", path);
	return 0;
}

/* The WAL and shared-memory files follow the mode of the database file; this
 * only repairs files that an older program left behind with other modes. */
static int check_side_files(const char *path)
{
	static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
	char buf[4096];
	struct stat st;

	for (size_t i = 0; i < MR_ARRAY_SIZE(suffixes); i++) {
		if ((size_t)snprintf(buf, sizeof(buf), "%s%s", path, suffixes[i]) >= sizeof(buf))
			return mr__error_set(MR_EINVAL, "database: path too long");
		if (stat(buf, &st) < 0)
			continue;
		if ((st.st_mode & 077) && chmod(buf, st.st_mode & 0700) < 0)
			return mr__error_sys(errno, "database %s: chmod", buf);
	}
	return 0;
}

static int query_int(mr_store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mr__store_db_error(s, rc, "open");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else {
		rc = mr__store_db_error(s, rc, "open");
	}
	sqlite3_finalize(st);
	return rc;
}

/* Refuse a database that is not ours (another program's SQLite file) or is
 * newer than us, before anything is changed in it, even its journal mode. */
static int check_identity(mr_store *s)
{
	int64_t version, app_id, tables;
	int rc;

	rc = mr__store_begin(s, false);
	if (rc < 0)
		return rc;
	if ((rc = query_int(s, "PRAGMA user_version", &version)) < 0 ||
	    (rc = query_int(s, "PRAGMA application_id", &app_id)) < 0 ||
	    (rc = query_int(s, "SELECT count(*) FROM sqlite_master", &tables)) < 0)
		goto out;
	if (app_id != STORE_APPLICATION_ID && (app_id != 0 || tables != 0 || version != 0)) {
		rc = mr__error_set(MR_EINVAL, "database %s: not a MyRelay database", s->path);
		goto out;
	}
	if (version > MR_STORE_SCHEMA_VERSION)
		rc = mr__error_set(MR_ENOTSUP,
				   "database %s: schema version %lld is newer than this "
				   "library's (%d)",
				   s->path, (long long)version, MR_STORE_SCHEMA_VERSION);
out:
	mr__store_rollback(s);
	return rc;
}

static int migrate(mr_store *s)
{
	int64_t version, bad;
	char sql[64];
	int rc;

	rc = mr__store_begin(s, true);
	if (rc < 0)
		return rc;
	/* Read again under the write lock: another handle may have migrated
	 * the file since check_identity() looked. */
	if ((rc = query_int(s, "PRAGMA user_version", &version)) < 0)
		goto fail;
	if (version >= MR_STORE_SCHEMA_VERSION) {
		mr__store_rollback(s);
		return 0;
	}
	for (int64_t v = version; v < MR_STORE_SCHEMA_VERSION; v++) {
		rc = exec_sql(s, migrations[v], "schema migration");
		if (rc < 0)
			goto fail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", MR_STORE_SCHEMA_VERSION);
	if ((rc = exec_sql(s, sql, "schema migration")) < 0)
		goto fail;
	/* A migration that broke a reference must not be committed. */
	if ((rc = query_int(s, "SELECT count(*) FROM pragma_foreign_key_check", &bad)) < 0)
		goto fail;
	if (bad != 0) {
		rc = mr__error_set(MR_EDB, "schema migration: foreign key check failed");
		goto fail;
	}
	return mr__store_commit(s);
fail:
	mr__store_rollback(s);
	return rc;
}

static int configure_connection(mr_store *s)
{
	int64_t dummy;
	int rc;

	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
	/* Defensive mode stops SQL from corrupting the file on purpose
	 * (writable_schema, direct page writes); trusted_schema off keeps
	 * functions with side effects out of views and triggers. */
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	if ((rc = exec_sql(s, "PRAGMA foreign_keys = ON", "open")) < 0)
		return rc;
	/* Freed pages held token hashes and preshared keys: overwrite them. */
	if ((rc = exec_sql(s, "PRAGMA secure_delete = ON", "open")) < 0)
		return rc;
	/* Reading the schema early turns "file is not a database" into an
	 * error here rather than in the first operation. */
	if ((rc = query_int(s, "PRAGMA schema_version", &dummy)) < 0)
		return rc;
	return check_identity(s);
}

static int enable_wal(mr_store *s)
{
	char *mode = NULL;
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return mr__store_db_error(s, rc, "open: journal mode");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_text(st, 0))
		mode = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return mr__store_db_error(s, rc, "open: journal mode");
	if (!mode)
		return mr__error_set(MR_ENOMEM, "open: out of memory");
	rc = strcmp(mode, "wal") == 0
		 ? 0
		 : mr__error_set(MR_EDB, "open: journal mode is %s, not wal", mode);
	free(mode);
	if (rc < 0)
		return rc;
	/* WAL with FULL syncs each commit: a token shown once or an address
	 * handed to a device must still exist after a power cut. */
	return exec_sql(s, "PRAGMA synchronous = FULL", "open");
}

MR_API int mr_store_open(mr_store **out, const char *path, uint32_t flags)
{
	mr_store *s;
	int rc;

	if (!out)
		return mr__error_set(MR_EINVAL, "store open: output is NULL");
	if (!path || !*path)
		return mr__error_set(MR_EINVAL, "store open: path is missing");
	if (flags & ~(MR_STORE_CREATE | MR_STORE_EXCLUSIVE))
		return mr__error_set(MR_EINVAL, "store open: unknown flags 0x%x",
				     (unsigned)(flags & ~(MR_STORE_CREATE | MR_STORE_EXCLUSIVE)));
	if ((flags & MR_STORE_EXCLUSIVE) && !(flags & MR_STORE_CREATE))
		return mr__error_set(MR_EINVAL, "store open: EXCLUSIVE needs CREATE");
	if (flags & MR_STORE_CREATE) {
		rc = create_file(path, flags & MR_STORE_EXCLUSIVE);
		if (rc < 0)
			return rc;
	}
	rc = check_file(path);
	if (rc < 0)
		return rc;
	rc = check_side_files(path);
	if (rc < 0)
		return rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return mr__error_set(MR_ENOMEM, "store open: out of memory");
	s->now = default_clock;
	strcpy(s->actor, "system");
	s->path = mr__strdup(path);
	if (!s->path) {
		rc = MR_ENOMEM;
		goto fail;
	}
	/* A handle is used by one thread at a time (the library's rule), so
	 * SQLite's own per-connection mutex is not needed. */
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = mr__store_db_error(s, rc, "store open");
		goto fail;
	}
	rc = configure_connection(s);
	if (rc < 0)
		goto fail;
	rc = enable_wal(s);
	if (rc < 0)
		goto fail;
	rc = migrate(s);
	if (rc < 0)
		goto fail;
	rc = check_side_files(path);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	mr_store_close(s);
	return rc;
}

MR_API void mr_store_close(mr_store *s)
{
	if (!s)
		return;
	mr__store_rollback(s);
	for (size_t i = 0; i < STORE_STMT_SLOTS; i++)
		sqlite3_finalize(s->stmts[i].stmt);
	/* close_v2 would defer the close if a statement were still alive;
	 * every statement is finalized above, so this closes now. */
	sqlite3_close_v2(s->db);
	free(s->path);
	free(s);
}

MR_API void mr_store_set_clock(mr_store *s, int64_t (*now)(void *userdata), void *userdata)
{
	if (!s)
		return;
	s->now = now ? now : default_clock;
	s->now_userdata = now ? userdata : NULL;
}

MR_API int mr_store_set_actor(mr_store *s, const char *token_id)
{
	int rc;

	if (!s)
		return mr__error_set(MR_EINVAL, "set actor: store is NULL");
	if (!token_id) {
		strcpy(s->actor, "system");
		return 0;
	}
	rc = mr_name_validate_label(token_id);
	if (rc < 0)
		return mr__error_set(rc, "actor: not a valid token id");
	/* A label is at most 63 bytes, which fits. */
	strcpy(s->actor, token_id);
	return 0;
}

/* --- the expiry clock ---------------------------------------------------- */

static const char sql_last_tick[] = "SELECT value FROM meta WHERE name = 'last_tick'";

static int read_last_tick(mr_store *s, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql_last_tick, &st);
	if (rc < 0)
		return rc;
	rc = mr__store_step(s, st, "read expiry clock");
	if (rc < 0)
		return rc;
	*out = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}

/* Enabled peers whose expiry passed in (last, now]: their nodes' desired
 * state changed at that moment. Disabled peers were already out of it. */
static const char sql_expired_since[] =
    "SELECT p.id, d.node_id FROM peers p JOIN pods d ON d.id = p.pod_id "
    "WHERE p.expires > ?1 AND p.expires <= ?2 AND p.enabled = 1 "
    "ORDER BY d.node_id, p.id";

static int any_expired(mr_store *s, int64_t last, int64_t now, bool *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql_expired_since, &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, last);
	sqlite3_bind_int64(st, 2, now);
	rc = mr__store_step(s, st, "expiry scan");
	if (rc < 0)
		return rc;
	*out = rc == 1;
	sqlite3_reset(st);
	return 0;
}

static int apply_expiries(mr_store *s, int64_t last, int64_t now)
{
	static const char sql_set[] = "UPDATE meta SET value = ?1 WHERE name = 'last_tick'";
	char prev_node[STORE_ID_SIZE] = "";
	sqlite3_stmt *st, *set;
	char **ids = NULL, **nodes = NULL;
	size_t n = 0, cap = 0;
	int rc;

	rc = mr__store_prepare(s, sql_expired_since, &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, last);
	sqlite3_bind_int64(st, 2, now);
	/* Collect first: the bump and audit statements write to tables this
	 * query is reading. */
	while ((rc = mr__store_step(s, st, "expiry scan")) == 1) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **a = realloc(ids, ncap * sizeof(*a));
			char **b = a ? realloc(nodes, ncap * sizeof(*b)) : NULL;

			if (a)
				ids = a;
			if (b)
				nodes = b;
			if (!a || !b) {
				rc = mr__error_set(MR_ENOMEM, "expiry scan: out of memory");
				goto out;
			}
			cap = ncap;
		}
		ids[n] = strdup(mr__store_col_text(st, 0));
		nodes[n] = strdup(mr__store_col_text(st, 1));
		n++;
		if (!ids[n - 1] || !nodes[n - 1]) {
			rc = mr__error_set(MR_ENOMEM, "expiry scan: out of memory");
			goto out;
		}
	}
	sqlite3_reset(st);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(prev_node, nodes[i]) != 0) {
			rc = mr__store_bump(s, nodes[i]);
			if (rc < 0)
				goto out;
			snprintf(prev_node, sizeof(prev_node), "%s", nodes[i]);
		}
		rc =
		    mr__store_audit(s, "peer.expire", ids[i], json_pack("{s:s}", "node", nodes[i]));
		if (rc < 0)
			goto out;
	}
	rc = mr__store_prepare(s, sql_set, &set);
	if (rc < 0)
		goto out;
	sqlite3_bind_int64(set, 1, now);
	rc = mr__store_exec_stmt(s, set, "expiry clock");
out:
	for (size_t i = 0; i < n; i++) {
		free(ids[i]);
		free(nodes[i]);
	}
	free(ids);
	free(nodes);
	return rc;
}

MR_API int mr_store_tick(mr_store *s)
{
	char actor[sizeof(s->actor)];
	int64_t now, last;
	bool found = false, new_month = false;
	int rc;

	if (!s)
		return mr__error_set(MR_EINVAL, "tick: store is NULL");
	now = mr__store_now(s);
	/* Look before taking the write lock: on almost every tick nothing has
	 * expired, the month is the same, and the tick must not cost a write. */
	rc = mr__store_begin(s, false);
	if (rc < 0)
		return rc;
	rc = read_last_tick(s, &last);
	if (rc == 0)
		rc = any_expired(s, last, now, &found);
	if (rc == 0)
		rc = mr__store_quota_month_turn(s, false, &new_month);
	if (rc < 0) {
		mr__store_rollback(s);
		return rc;
	}
	rc = mr__store_commit(s);
	if (rc < 0 || (!found && !new_month))
		return rc;

	rc = mr__store_begin(s, true);
	if (rc < 0)
		return rc;
	/* Expiry is the clock's doing, not the last request's: record it as
	 * "system" whoever the handle's actor is. */
	memcpy(actor, s->actor, sizeof(actor));
	strcpy(s->actor, "system");
	rc = read_last_tick(s, &last);
	/* Another handle may have ticked meanwhile; the clock only moves on. */
	if (rc == 0 && now > last)
		rc = apply_expiries(s, last, now);
	if (rc == 0)
		rc = mr__store_quota_month_turn(s, true, &new_month);
	memcpy(s->actor, actor, sizeof(actor));
	if (rc < 0) {
		mr__store_rollback(s);
		return rc;
	}
	return mr__store_commit(s);
}

MR_API int mr_store_next_expiry(mr_store *s, int64_t *out)
{
	static const char sql[] =
	    "SELECT min(expires) FROM peers WHERE enabled = 1 AND expires > ?1";
	static const char sql_held[] = "SELECT count(*) FROM peers WHERE enabled = 0 AND "
				       "disabled_reason = 'quota'";
	sqlite3_stmt *st;
	int64_t last, next = 0, turn;
	bool new_month;
	int rc;

	if (!s)
		return mr__error_set(MR_EINVAL, "next expiry: store is NULL");
	if (!out)
		return mr__error_set(MR_EINVAL, "next expiry: output is NULL");
	rc = mr__store_begin(s, false);
	if (rc < 0)
		return rc;
	rc = read_last_tick(s, &last);
	if (rc < 0)
		goto fail;
	rc = mr__store_prepare(s, sql, &st);
	if (rc < 0)
		goto fail;
	sqlite3_bind_int64(st, 1, last);
	rc = mr__store_step(s, st, "next expiry");
	if (rc < 0)
		goto fail;
	if (rc == 1 && sqlite3_column_type(st, 0) != SQLITE_NULL)
		next = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	/* Peers held back for quota come back when the month turns. */
	rc = mr__store_prepare(s, sql_held, &st);
	if (rc == 0)
		rc = mr__store_step(s, st, "next expiry");
	if (rc == 1 && sqlite3_column_int64(st, 0) > 0) {
		sqlite3_reset(st);
		rc = mr__store_quota_month_turn(s, false, &new_month);
		turn = new_month ? mr__store_now(s) : mr__store_next_month(mr__store_now(s));
		if (next == 0 || turn < next)
			next = turn;
	}
	if (rc < 0)
		goto fail;
	rc = mr__store_commit(s);
	if (rc < 0)
		return rc;
	*out = next;
	return 0;
fail:
	mr__store_rollback(s);
	return rc;
}

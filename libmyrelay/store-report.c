/* SPDX-License-Identifier: MIT */
/*
 * What nodes report (pod keys and errors, per-peer counters, handshakes),
 * usage per calendar month, and the monthly transfer quota.
 *
 * WireGuard's counters are cumulative per interface peer and start again
 * from zero when the interface or the peer is recreated. The store keeps the
 * last raw values a node reported for each peer: a value at or above it is
 * traffic since then, a value below it is a reset, and then the whole value
 * is new traffic. Totals therefore survive agent restarts and never go
 * down.
 */
#include "store-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <myrelay/key.h>

/* A node with thousands of peers reports more than a request may hold. */
#define REPORT_MAX (1024 * 1024)
#define REPORT_MAX_PODS 65535
#define REPORT_MAX_PEERS 65535
#define REASON_QUOTA "quota"
#define ERROR_MAX 500

/* Saturating addition of two non-negative counters, in SQL, so that a
 * hostile report cannot overflow a column into a floating-point value. */
#define SAT_ADD(col, param)                                                                        \
	"CASE WHEN " col " > 9223372036854775807 - " param " THEN 9223372036854775807 ELSE " col   \
	" + " param " END"

static int64_t sat_add(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

void mr__store_month(int64_t t, char out[STORE_MONTH_SIZE], int64_t *index)
{
	time_t tt = (time_t)t;
	struct tm tm = {0};

	gmtime_r(&tt, &tm);
	snprintf(out, STORE_MONTH_SIZE, "%04d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1);
	if (index)
		*index = (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon;
}

int64_t mr__store_next_month(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm = {0};

	gmtime_r(&tt, &tm);
	tm.tm_mon += 1;
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	return (int64_t)timegm(&tm);
}

/* --- quota ---------------------------------------------------------------- */

static const char sql_usage_month[] = "SELECT value FROM meta WHERE name = 'usage_month'";
static const char sql_set_usage_month[] = "UPDATE meta SET value = ?1 WHERE name = 'usage_month'";

/* The quota clock remembers the month in which peers were last held back,
 * so that the first tick of a later month gives them back. */
static int set_usage_month(mr_store *s, int64_t index)
{
	sqlite3_stmt *st;
	int rc = mr__store_prepare(s, sql_set_usage_month, &st);

	if (rc == 0) {
		sqlite3_bind_int64(st, 1, index);
		rc = mr__store_exec_stmt(s, st, "usage month");
	}
	return rc;
}

struct quota_peer {
	char id[STORE_ID_SIZE];
	char node[STORE_ID_SIZE];
	bool was_visible;
};

/* Disable every enabled peer of a customer with reason "quota", or enable
 * every peer disabled for that reason; raises each affected node's
 * generation once. */
static int set_quota_peers(mr_store *s, const char *customer, bool disable)
{
	static const char sql_disable_list[] =
	    "SELECT p.id, d.node_id, p.expires FROM peers p JOIN pods d ON d.id = p.pod_id "
	    "WHERE d.customer_id = ?1 AND p.enabled = 1 ORDER BY d.node_id, p.id";
	static const char sql_enable_list[] =
	    "SELECT p.id, d.node_id, p.expires FROM peers p JOIN pods d ON d.id = p.pod_id "
	    "WHERE d.customer_id = ?1 AND p.enabled = 0 AND p.disabled_reason = 'quota' "
	    "ORDER BY d.node_id, p.id";
	static const char sql_disable[] = "UPDATE peers SET enabled = 0, disabled_reason = "
					  "'quota' WHERE id = ?1";
	static const char sql_enable[] = "UPDATE peers SET enabled = 1, disabled_reason = NULL "
					 "WHERE id = ?1";
	char actor[sizeof(s->actor)], last_node[STORE_ID_SIZE] = "";
	struct quota_peer *list = NULL;
	size_t n = 0, cap = 0;
	int64_t now = mr__store_now(s);
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, disable ? sql_disable_list : sql_enable_list, &st);
	if (rc == 0)
		rc = mr__store_bind_text(st, 1, customer);
	while (rc == 0 && (rc = mr__store_step(s, st, "quota")) == 1) {
		if (n == cap) {
			struct quota_peer *l = realloc(list, (cap ? cap * 2 : 16) * sizeof(*l));

			if (!l) {
				rc = mr__error_set(MR_ENOMEM, "quota: out of memory");
				break;
			}
			list = l;
			cap = cap ? cap * 2 : 16;
		}
		snprintf(list[n].id, STORE_ID_SIZE, "%s", mr__store_col_text(st, 0));
		snprintf(list[n].node, STORE_ID_SIZE, "%s", mr__store_col_text(st, 1));
		list[n].was_visible =
		    sqlite3_column_type(st, 2) == SQLITE_NULL || sqlite3_column_int64(st, 2) > now;
		n++;
		rc = 0;
	}
	sqlite3_reset(st);
	/* The clock's doing, not the requester's. */
	memcpy(actor, s->actor, sizeof(actor));
	strcpy(s->actor, "system");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = mr__store_prepare(s, disable ? sql_disable : sql_enable, &st);
		if (rc == 0 && (rc = mr__store_bind_text(st, 1, list[i].id)) == 0)
			rc = mr__store_exec_stmt(s, st, "quota");
		/* A disabled peer was visible if it had not expired; an enabled
		 * one becomes visible on the same condition. */
		if (rc == 0 && list[i].was_visible && strcmp(last_node, list[i].node) != 0) {
			rc = mr__store_bump(s, list[i].node);
			snprintf(last_node, sizeof(last_node), "%s", list[i].node);
		}
		if (rc == 0)
			rc =
			    mr__store_audit(s, disable ? "peer.disable" : "peer.enable", list[i].id,
					    json_pack("{s:s}", "reason", REASON_QUOTA));
	}
	memcpy(s->actor, actor, sizeof(actor));
	free(list);
	return rc;
}

/* Limit and use of a customer in a month (MR_ENOTFOUND if no customer). */
static int customer_use(mr_store *s, const char *customer, const char *month, int64_t *limit,
			int64_t *used)
{
	static const char sql[] = "SELECT c.transfer_limit, coalesce(u.rx_bytes, 0), "
				  "coalesce(u.tx_bytes, 0) FROM customers c LEFT JOIN usage u ON "
				  "u.customer_id = c.id AND u.month = ?2 WHERE c.id = ?1";
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, customer)) == 0 &&
	    (rc = mr__store_bind_text(st, 2, month)) == 0)
		rc = mr__store_step(s, st, "usage");
	if (rc == 0)
		rc = mr__error_set(MR_ENOTFOUND, "customer: no such customer");
	if (rc < 0)
		return rc;
	*limit = sqlite3_column_int64(st, 0);
	*used = sat_add(sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2));
	sqlite3_reset(st);
	return 0;
}

int mr__store_quota_update(mr_store *s, const char *customer)
{
	char month[STORE_MONTH_SIZE];
	int64_t limit, used, index;
	bool over;
	int rc;

	mr__store_month(mr__store_now(s), month, &index);
	rc = customer_use(s, customer, month, &limit, &used);
	if (rc < 0)
		return rc;
	over = limit > 0 && used >= limit;
	rc = set_quota_peers(s, customer, over);
	if (rc == 0 && over)
		rc = mr__store_audit(s, "customer.quota", customer,
				     json_pack("{s:s, s:I, s:I}", "month", month, "used",
					       (json_int_t)used, "limit", (json_int_t)limit));
	if (rc == 0 && over)
		rc = set_usage_month(s, index);
	return rc;
}

/* Only customers that are over their limit and still have enabled peers, or
 * that are under it and have peers disabled for quota, need work; this
 * keeps reports from touching rows (and writing audit events) needlessly. */
static int quota_needs_update(mr_store *s, const char *customer, bool *out)
{
	static const char sql[] =
	    "SELECT sum(p.enabled = 1), sum(p.enabled = 0 AND p.disabled_reason = 'quota') "
	    "FROM peers p JOIN pods d ON d.id = p.pod_id WHERE d.customer_id = ?1";
	char month[STORE_MONTH_SIZE];
	int64_t limit, used, enabled, held;
	sqlite3_stmt *st;
	int rc;

	mr__store_month(mr__store_now(s), month, NULL);
	rc = customer_use(s, customer, month, &limit, &used);
	if (rc < 0)
		return rc;
	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, customer)) == 0)
		rc = mr__store_step(s, st, "quota");
	if (rc < 0)
		return rc;
	enabled = rc == 1 ? sqlite3_column_int64(st, 0) : 0;
	held = rc == 1 ? sqlite3_column_int64(st, 1) : 0;
	sqlite3_reset(st);
	if (limit > 0 && used >= limit)
		*out = enabled > 0;
	else
		*out = held > 0;
	return 0;
}

int mr__store_quota_check(mr_store *s, const char *customer)
{
	bool needed;
	int rc = quota_needs_update(s, customer, &needed);

	if (rc == 0 && needed)
		rc = mr__store_quota_update(s, customer);
	return rc;
}

int mr__store_quota_month_turn(mr_store *s, bool apply, bool *pending)
{
	static const char sql_held[] = "SELECT DISTINCT d.customer_id FROM peers p JOIN pods d "
				       "ON d.id = p.pod_id WHERE p.enabled = 0 AND "
				       "p.disabled_reason = 'quota' ORDER BY d.customer_id";
	char month[STORE_MONTH_SIZE], (*ids)[STORE_ID_SIZE] = NULL;
	size_t n = 0, cap = 0;
	int64_t index, seen;
	sqlite3_stmt *st;
	int rc;

	mr__store_month(mr__store_now(s), month, &index);
	rc = mr__store_prepare(s, sql_usage_month, &st);
	if (rc == 0)
		rc = mr__store_step(s, st, "usage month");
	if (rc < 0)
		return rc;
	seen = rc == 1 ? sqlite3_column_int64(st, 0) : index;
	sqlite3_reset(st);
	*pending = false;
	if (seen == index)
		return 0;
	rc = mr__store_prepare(s, sql_held, &st);
	while (rc == 0 && (rc = mr__store_step(s, st, "quota")) == 1) {
		*pending = true;
		if (!apply) {
			rc = 0;
			break;
		}
		if (n == cap) {
			char(*a)[STORE_ID_SIZE] = realloc(ids, (cap ? cap * 2 : 16) * sizeof(*a));

			if (!a) {
				rc = mr__error_set(MR_ENOMEM, "quota: out of memory");
				break;
			}
			ids = a;
			cap = cap ? cap * 2 : 16;
		}
		snprintf(ids[n++], STORE_ID_SIZE, "%s", mr__store_col_text(st, 0));
		rc = 0;
	}
	sqlite3_reset(st);
	/* A new month starts every customer's use from zero: whoever was held
	 * back for quota gets their peers again (quota_update checks the new
	 * month's use, in case traffic was already counted in it). */
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = mr__store_quota_update(s, ids[i]);
	free(ids);
	if (rc == 0 && apply && *pending)
		rc = set_usage_month(s, index);
	return rc;
}

/* --- reports ------------------------------------------------------------- */

static const struct store_field report_fields[] = {
    F_INT("generation", RF_NULLABLE, 0, INT64_MAX),
    F_ARRAY("pods", 0, REPORT_MAX_PODS),
};

static const struct store_field report_pod_fields[] = {
    F_STR("id", RF_REQUIRED, mr__store_check_pod_id),
    F_STR("public_key", RF_NULLABLE, mr__store_check_public_key),
    {"error", RT_STRING, RF_NULLABLE, 1, ERROR_MAX, mr__store_check_text},
    F_ARRAY("peers", 0, REPORT_MAX_PEERS),
};

static const struct store_field report_peer_fields[] = {
    F_STR("public_key", RF_REQUIRED, mr__store_check_public_key),
    F_INT("rx_bytes", RF_REQUIRED, 0, INT64_MAX),
    F_INT("tx_bytes", RF_REQUIRED, 0, INT64_MAX),
    F_INT("last_handshake", RF_NULLABLE, 0, INT64_MAX),
};

/* Validate the nested arrays: every element before anything is written. */
static int validate_report(json_t *req)
{
	char path[64];
	json_t *pod, *peer, *peers;
	size_t i, j;
	int rc;

	json_array_foreach(json_object_get(req, "pods"), i, pod)
	{
		snprintf(path, sizeof(path), "pods[%zu].", i);
		rc = mr__store_validate(pod, report_pod_fields, MR_ARRAY_SIZE(report_pod_fields),
					path);
		if (rc < 0)
			return rc;
		peers = json_object_get(pod, "peers");
		json_array_foreach(peers, j, peer)
		{
			snprintf(path, sizeof(path), "pods[%zu].peers[%zu].", i, j);
			rc = mr__store_validate(peer, report_peer_fields,
						MR_ARRAY_SIZE(report_peer_fields), path);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

struct report_counts {
	int64_t pods, peers, ignored_pods, ignored_peers;
};

/* The pod's key and error as reported: "active" once its key is known,
 * "failed" while the node reports an error (an absent "error" member leaves
 * the error as it was; null clears it). */
static int report_pod_state(mr_store *s, const char *pod_id, json_t *pod, const char *old_key,
			    const char *old_status, const char *old_err)
{
	static const char sql[] = "UPDATE pods SET public_key = ?2, status = ?3, error = ?4 "
				  "WHERE id = ?1";
	const char *key = mr__store_req_str(pod, "public_key");
	const char *new_key = key ? key : (old_key[0] ? old_key : NULL);
	const char *new_err = mr__store_req_has(pod, "error") ? mr__store_req_str(pod, "error")
							      : (old_err[0] ? old_err : NULL);
	const char *status;
	sqlite3_stmt *st;
	int rc;

	if (strcmp(old_status, "deleting") == 0)
		status = old_status;
	else if (new_err)
		status = "failed";
	else
		status = new_key ? "active" : "pending";
	if (strcmp(status, old_status) == 0 && strcmp(new_key ? new_key : "", old_key) == 0 &&
	    strcmp(new_err ? new_err : "", old_err) == 0)
		return 0;
	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, pod_id)) == 0 &&
	    (rc = mr__store_bind_text(st, 2, new_key)) == 0 &&
	    (rc = mr__store_bind_text(st, 3, status)) == 0 &&
	    (rc = mr__store_bind_text(st, 4, new_err)) == 0)
		rc = mr__store_exec_stmt(s, st, "report pod");
	/* The pod's key is what customers' configs point at: its first report
	 * and any change are recorded. */
	if (rc == 0 && key && strcmp(key, old_key) != 0)
		rc = mr__store_audit(s, old_key[0] ? "pod.key" : "pod.activate", pod_id,
				     json_pack("{s:s}", "public_key", key));
	if (rc == 0 && strcmp(status, old_status) != 0)
		rc = mr__store_audit(s, "pod.status", pod_id,
				     json_pack("{s:s, s:s, s:o}", "from", old_status, "to", status,
					       "error",
					       new_err ? json_string(new_err) : json_null()));
	return rc;
}

/* One peer's counters; *customer_touched set when usage grew. */
static int report_peer(mr_store *s, const char *pod_id, const char *customer, json_t *peer,
		       const char *month, bool *grew, struct report_counts *c)
{
	static const char sql_get[] = "SELECT id, rx_raw, tx_raw FROM peers WHERE pod_id = ?1 "
				      "AND public_key = ?2";
	static const char sql_set[] =
	    "UPDATE peers SET rx_raw = ?2, tx_raw = ?3, "
	    "rx_bytes = " SAT_ADD("rx_bytes", "?4") ", tx_bytes = " SAT_ADD(
		"tx_bytes", "?5") ", "
				  "last_handshake = CASE WHEN ?6 > 0 THEN ?6 ELSE last_handshake "
				  "END WHERE id = ?1";
	static const char sql_usage[] =
	    "INSERT INTO usage (customer_id, month, rx_bytes, tx_bytes) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT (customer_id, month) DO UPDATE SET "
	    "rx_bytes = " SAT_ADD("rx_bytes",
				  "excluded.rx_bytes") ", "
						       "tx_bytes = " SAT_ADD("tx_bytes",
									     "excluded.tx_bytes");
	static const char sql_peer_usage[] =
	    "INSERT INTO peer_usage (peer_id, month, rx_bytes, tx_bytes) VALUES (?1, ?2, ?3, ?4) "
	    "ON CONFLICT (peer_id, month) DO UPDATE SET "
	    "rx_bytes = " SAT_ADD("rx_bytes",
				  "excluded.rx_bytes") ", "
						       "tx_bytes = " SAT_ADD("tx_bytes",
									     "excluded.tx_bytes");
	int64_t rx = mr__store_req_int(peer, "rx_bytes", 0);
	int64_t tx = mr__store_req_int(peer, "tx_bytes", 0);
	int64_t hs = mr__store_req_int(peer, "last_handshake", 0);
	int64_t old_rx, old_tx, drx, dtx;
	char id[STORE_ID_SIZE];
	sqlite3_stmt *st;
	int rc;

	rc = mr__store_prepare(s, sql_get, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, pod_id)) == 0 &&
	    (rc = mr__store_bind_text(st, 2, mr__store_req_str(peer, "public_key"))) == 0)
		rc = mr__store_step(s, st, "report peer");
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* Removed since the node's last poll: nothing to account. */
		c->ignored_peers++;
		return 0;
	}
	snprintf(id, sizeof(id), "%s", mr__store_col_text(st, 0));
	old_rx = sqlite3_column_int64(st, 1);
	old_tx = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	/* Below the last value: the counter restarted (interface recreated),
	 * so all of it is new traffic; never negative. */
	drx = rx >= old_rx ? rx - old_rx : rx;
	dtx = tx >= old_tx ? tx - old_tx : tx;
	rc = mr__store_prepare(s, sql_set, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, id)) == 0) {
		sqlite3_bind_int64(st, 2, rx);
		sqlite3_bind_int64(st, 3, tx);
		sqlite3_bind_int64(st, 4, drx);
		sqlite3_bind_int64(st, 5, dtx);
		sqlite3_bind_int64(st, 6, hs);
		rc = mr__store_exec_stmt(s, st, "report peer");
	}
	c->peers++;
	if (rc < 0 || (drx == 0 && dtx == 0))
		return rc;
	*grew = true;
	rc = mr__store_prepare(s, sql_usage, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, customer)) == 0 &&
	    (rc = mr__store_bind_text(st, 2, month)) == 0) {
		sqlite3_bind_int64(st, 3, drx);
		sqlite3_bind_int64(st, 4, dtx);
		rc = mr__store_exec_stmt(s, st, "usage");
	}
	if (rc == 0)
		rc = mr__store_prepare(s, sql_peer_usage, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, id)) == 0 &&
	    (rc = mr__store_bind_text(st, 2, month)) == 0) {
		sqlite3_bind_int64(st, 3, drx);
		sqlite3_bind_int64(st, 4, dtx);
		rc = mr__store_exec_stmt(s, st, "usage");
	}
	return rc;
}

static int report_pod(mr_store *s, const char *node_id, json_t *pod, const char *month,
		      struct report_counts *c, json_t *customers)
{
	static const char sql[] = "SELECT customer_id, public_key, status, error FROM pods "
				  "WHERE id = ?1 AND node_id = ?2";
	char customer[STORE_ID_SIZE], old_key[MR_KEY_BASE64_SIZE], old_status[16];
	char old_err[ERROR_MAX + 1];
	const char *pod_id = mr__store_req_str(pod, "id");
	bool grew = false;
	sqlite3_stmt *st;
	json_t *peer;
	size_t i;
	int rc;

	rc = mr__store_prepare(s, sql, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, pod_id)) == 0 &&
	    (rc = mr__store_bind_text(st, 2, node_id)) == 0)
		rc = mr__store_step(s, st, "report pod");
	if (rc < 0)
		return rc;
	if (rc == 0) {
		/* Deleted meanwhile, or not this node's: a node never touches
		 * another node's pods. */
		c->ignored_pods++;
		return 0;
	}
	snprintf(customer, sizeof(customer), "%s", mr__store_col_text(st, 0));
	snprintf(old_key, sizeof(old_key), "%s", mr__store_col_text(st, 1));
	snprintf(old_status, sizeof(old_status), "%s", mr__store_col_text(st, 2));
	snprintf(old_err, sizeof(old_err), "%s", mr__store_col_text(st, 3));
	sqlite3_reset(st);
	c->pods++;
	rc = report_pod_state(s, pod_id, pod, old_key, old_status, old_err);
	json_array_foreach(json_object_get(pod, "peers"), i, peer)
	{
		if (rc < 0)
			break;
		rc = report_peer(s, pod_id, customer, peer, month, &grew, c);
	}
	if (rc == 0 && grew && json_object_set_new(customers, customer, json_true()) < 0)
		rc = mr__error_set(MR_ENOMEM, "report: out of memory");
	return rc;
}

MR_API int mr_store_node_report(mr_store *s, const char *node_id, const char *report, char **out)
{
	static const char sql_node[] = "SELECT status FROM nodes WHERE id = ?1";
	static const char sql_seen[] =
	    "UPDATE nodes SET last_seen = ?2, applied_generation = coalesce(?3, "
	    "applied_generation), status = CASE WHEN status = 'provisioning' THEN 'active' "
	    "ELSE status END WHERE id = ?1";
	static const char sql_gen[] = "SELECT generation FROM nodes WHERE id = ?1";
	struct report_counts c = {0};
	char month[STORE_MONTH_SIZE], old_status[16];
	json_t *req = NULL, *customers = NULL, *pod, *v;
	const char *key;
	int64_t now, gen = 0;
	sqlite3_stmt *st;
	size_t i;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "node report: %s is NULL", s ? "output" : "store");
	if (!node_id || !mr__store_is_id(node_id, "nd_"))
		return mr__error_set(MR_EINVAL, "node: not a node id");
	rc = mr__store_parse_max(report, REPORT_MAX, report_fields, MR_ARRAY_SIZE(report_fields),
				 &req);
	if (rc < 0)
		return rc;
	rc = validate_report(req);
	if (rc < 0)
		goto out;
	customers = json_object();
	if (!customers) {
		rc = mr__error_set(MR_ENOMEM, "report: out of memory");
		goto out;
	}
	now = mr__store_now(s);
	mr__store_month(now, month, NULL);
	rc = mr__store_begin(s, true);
	if (rc < 0)
		goto out;
	rc = mr__store_prepare(s, sql_node, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, node_id)) == 0)
		rc = mr__store_step(s, st, "node report");
	if (rc == 0)
		rc = mr__error_set(MR_ENOTFOUND, "node: no such node");
	if (rc < 0)
		goto rollback;
	snprintf(old_status, sizeof(old_status), "%s", mr__store_col_text(st, 0));
	sqlite3_reset(st);
	rc = mr__store_prepare(s, sql_seen, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, node_id)) == 0 &&
	    (rc = mr__store_bind_opt_int(st, 3,
					 !mr__store_req_is_null(req, "generation") &&
					     mr__store_req_has(req, "generation"),
					 mr__store_req_int(req, "generation", 0))) == 0) {
		sqlite3_bind_int64(st, 2, now);
		rc = mr__store_exec_stmt(s, st, "node report");
	}
	if (rc == 0 && strcmp(old_status, "provisioning") == 0)
		rc = mr__store_audit(s, "node.status", node_id,
				     json_pack("{s:s, s:s}", "from", old_status, "to", "active"));
	json_array_foreach(json_object_get(req, "pods"), i, pod)
	{
		if (rc < 0)
			break;
		rc = report_pod(s, node_id, pod, month, &c, customers);
	}
	json_object_foreach(customers, key, v)
	{
		if (rc < 0)
			break;
		rc = mr__store_quota_check(s, key);
	}
	if (rc == 0)
		rc = mr__store_prepare(s, sql_gen, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, node_id)) == 0 &&
	    (rc = mr__store_step(s, st, "node report")) == 1) {
		gen = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		rc = 0;
	}
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0)
		goto rollback;
	rc = mr__store_result(json_pack("{s:s, s:I, s:I, s:I, s:{s:I, s:I}}", "node", node_id,
					"generation", (json_int_t)gen, "pods", (json_int_t)c.pods,
					"peers", (json_int_t)c.peers, "ignored", "pods",
					(json_int_t)c.ignored_pods, "peers",
					(json_int_t)c.ignored_peers),
			      NULL, NULL, out);
	goto out;
rollback:
	mr__store_rollback(s);
out:
	json_decref(customers);
	json_decref(req);
	return rc;
}

/* --- usage ------------------------------------------------------------------ */

static int check_month(const char *v)
{
	if (strlen(v) != 7 || v[4] != '-')
		goto bad;
	for (int i = 0; i < 7; i++)
		if (i != 4 && !(v[i] >= '0' && v[i] <= '9'))
			goto bad;
	if (!((v[5] == '0' && v[6] >= '1') || (v[5] == '1' && v[6] <= '2')))
		goto bad;
	return 0;
bad:
	return mr__error_set(MR_EINVAL, "expected YYYY-MM");
}

static const struct store_field usage_fields[] = {
    F_STR("customer", 0, mr__store_check_customer_id),
    F_STR("month", 0, check_month),
};

MR_API int mr_store_usage(mr_store *s, const char *request, char **out)
{
	static const char sql_customers[] =
	    "SELECT c.id, c.name, c.transfer_limit, coalesce(u.rx_bytes, 0), "
	    "coalesce(u.tx_bytes, 0) FROM customers c LEFT JOIN usage u ON "
	    "u.customer_id = c.id AND u.month = ?2 WHERE (?1 IS NULL OR c.id = ?1) "
	    "ORDER BY c.name";
	static const char sql_peers[] =
	    "SELECT p.id, p.pod_id, p.name, coalesce(pu.rx_bytes, 0), coalesce(pu.tx_bytes, 0), "
	    "p.rx_bytes, p.tx_bytes, p.last_handshake FROM peers p JOIN pods d ON "
	    "d.id = p.pod_id LEFT JOIN peer_usage pu ON pu.peer_id = p.id AND pu.month = ?2 "
	    "WHERE d.customer_id = ?1 ORDER BY p.pod_id, p.name";
	char month[STORE_MONTH_SIZE];
	json_t *req = NULL, *custs = NULL, *peers = NULL, *result;
	const char *customer;
	sqlite3_stmt *st;
	int rc;

	if (!s || !out)
		return mr__error_set(MR_EINVAL, "usage: %s is NULL", s ? "output" : "store");
	rc = mr__store_parse(request, usage_fields, MR_ARRAY_SIZE(usage_fields), &req);
	if (rc < 0)
		return rc;
	customer = mr__store_req_str(req, "customer");
	if (mr__store_req_str(req, "month"))
		snprintf(month, sizeof(month), "%s", mr__store_req_str(req, "month"));
	else
		mr__store_month(mr__store_now(s), month, NULL);
	custs = json_array();
	peers = customer ? json_array() : NULL;
	if (!custs || (customer && !peers)) {
		rc = mr__error_set(MR_ENOMEM, "usage: out of memory");
		goto out;
	}
	rc = mr__store_begin(s, false);
	if (rc == 0)
		rc = mr__store_prepare(s, sql_customers, &st);
	if (rc == 0 && (rc = mr__store_bind_text(st, 1, customer)) == 0)
		rc = mr__store_bind_text(st, 2, month);
	while (rc == 0 && (rc = mr__store_step(s, st, "usage")) == 1) {
		int64_t limit = sqlite3_column_int64(st, 2);
		int64_t used = sat_add(sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4));
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b}", "customer",
				      mr__store_col_text(st, 0), "name", mr__store_col_text(st, 1),
				      "transfer_limit", (json_int_t)limit, "rx_bytes",
				      (json_int_t)sqlite3_column_int64(st, 3), "tx_bytes",
				      (json_int_t)sqlite3_column_int64(st, 4), "total",
				      (json_int_t)used, "over_limit", limit > 0 && used >= limit);

		rc = !o || json_array_append_new(custs, o) < 0
			 ? mr__error_set(MR_ENOMEM, "usage: out of memory")
			 : 0;
	}
	if (rc == 0 && customer && json_array_size(custs) == 0)
		rc = mr__error_set(MR_ENOTFOUND, "customer: no such customer");
	if (rc == 0 && customer)
		rc = mr__store_prepare(s, sql_peers, &st);
	if (rc == 0 && customer && (rc = mr__store_bind_text(st, 1, customer)) == 0)
		rc = mr__store_bind_text(st, 2, month);
	while (rc == 0 && customer && (rc = mr__store_step(s, st, "usage")) == 1) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o}", "peer",
				      mr__store_col_text(st, 0), "pod", mr__store_col_text(st, 1),
				      "name", mr__store_col_text(st, 2), "rx_bytes",
				      (json_int_t)sqlite3_column_int64(st, 3), "tx_bytes",
				      (json_int_t)sqlite3_column_int64(st, 4), "total_rx_bytes",
				      (json_int_t)sqlite3_column_int64(st, 5), "total_tx_bytes",
				      (json_int_t)sqlite3_column_int64(st, 6), "last_handshake",
				      mr__store_col_int(st, 7));

		rc = !o || json_array_append_new(peers, o) < 0
			 ? mr__error_set(MR_ENOMEM, "usage: out of memory")
			 : 0;
	}
	if (rc == 0)
		rc = mr__store_commit(s);
	if (rc < 0) {
		mr__store_rollback(s);
		goto out;
	}
	result = json_pack("{s:s, s:O}", "month", month, "customers", custs);
	if (result && peers && json_object_set(result, "peers", peers) < 0) {
		json_decref(result);
		result = NULL;
	}
	rc = mr__store_result(result, NULL, NULL, out);
out:
	json_decref(custs);
	json_decref(peers);
	json_decref(req);
	return rc;
}

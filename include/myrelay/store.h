/* SPDX-License-Identifier: MIT */
/*
 * The control-plane store: nodes, customers, pods, peers, tokens and the
 * audit log in one SQLite database, and the domain operations on them.
 *
 * Operations take a request and give a result as JSON text, the shapes the
 * HTTP API passes through (docs/api/store.md describes every one):
 *
 *     int mr_store_<object>_<verb>(mr_store *s, const char *request, char **out);
 *
 * Requests are validated strictly: unknown members, wrong types and invalid
 * values are refused with MR_EINVAL and a detail naming the member
 * ("public_key: expected 44 characters, got 43"). Every operation is one
 * transaction: on any error nothing changes. Results are compact JSON objects
 * allocated for the caller (free them with mr_free()); a result that carries
 * a token's secret (node registration, pod creation, token issue) shows it
 * this once: the database keeps only its hash.
 *
 * Ids are text: "nd_", "cu_", "pd_" or "pr_" followed by 12 base32
 * characters for nodes, customers, pods and peers; tokens use their 16-
 * character token id (see <myrelay/token.h>). A well-formed id of an object
 * that does not exist gives MR_ENOTFOUND; a malformed one MR_EINVAL.
 *
 * Each node has a generation that rises in the same transaction as every
 * change to its desired state (pods, their peers, enabling, expiry).
 *
 * Common error codes of every operation: MR_EINVAL (NULL argument, bad
 * request), MR_ETOOBIG (request over 64 KiB), MR_ENOMEM, MR_ETIMEOUT (the
 * database stayed locked by another writer for 10 seconds), MR_EIO and MR_EDB
 * (the database failed). Each function lists its others.
 *
 * A handle is used by one thread at a time; several handles (in one process
 * or many) may use one database file at once.
 */
#ifndef MYRELAY_STORE_H
#define MYRELAY_STORE_H

#include <myrelay/common.h>

MR_BEGIN_DECLS

/** An open store (one database connection). Opaque. */
typedef struct mr_store mr_store;

/** mr_store_open() flag: create the database file (mode 0600) if missing. */
#define MR_STORE_CREATE 0x1u
/** mr_store_open() flag, with MR_STORE_CREATE: fail with MR_EEXIST if the
 *  file exists already. */
#define MR_STORE_EXCLUSIVE 0x2u

/** Schema version this library writes (PRAGMA user_version). */
#define MR_STORE_SCHEMA_VERSION 3

/**
 * Open (and with MR_STORE_CREATE create) a store. The file is created with
 * mode 0600 whatever the umask; an existing file readable by group or others
 * has those permissions removed. SQLite's -wal and -shm files get the same
 * mode. The database runs in WAL mode with foreign keys enforced; an older
 * schema is migrated to MR_STORE_SCHEMA_VERSION in one transaction.
 *
 * @param out receives the handle; close it with mr_store_close(). Written
 *        only on success.
 * @param path path of the database file.
 * @param flags 0 or MR_STORE_CREATE, optionally with MR_STORE_EXCLUSIVE.
 * @return 0; MR_EINVAL (NULL argument, unknown flags, not a regular file, not
 *         a MyRelay database); MR_ENOTFOUND (missing and MR_STORE_CREATE not
 *         given); MR_EEXIST (MR_STORE_EXCLUSIVE and the file exists);
 *         MR_EPERM; MR_ENOTSUP (the schema is newer than this library's);
 *         MR_ENOMEM; MR_EIO; MR_EDB; MR_ETIMEOUT.
 */
MR_API int mr_store_open(mr_store **out, const char *path, uint32_t flags);

/**
 * Close a store. Any open transaction is rolled back (operations never leave
 * one open).
 *
 * @param s the store, or NULL.
 */
MR_API void mr_store_close(mr_store *s);

/**
 * Replace the clock the store reads (unix seconds): for tests, and for
 * servers that keep their own time.
 *
 * @param s the store (NULL: nothing happens).
 * @param now function returning the current time; NULL restores the system
 *        clock.
 * @param userdata passed to now.
 */
MR_API void mr_store_set_clock(mr_store *s, int64_t (*now)(void *userdata), void *userdata);

/**
 * Set the actor recorded in audit events of the following operations on this
 * handle: the id of the token that authorised the request.
 *
 * @param s the store.
 * @param token_id a token id (copied), or NULL for "system".
 * @return 0 or MR_EINVAL (NULL store, malformed id).
 */
MR_API int mr_store_set_actor(mr_store *s, const char *token_id);

/* --- nodes --------------------------------------------------------------- */

/**
 * Register a node and issue its node token.
 *
 * Request: {"name": label, "region": label, "endpoint": IP address or host
 * name, and optionally "ipv4_pool" (default: the lowest /16 of
 * 10.64.0.0/10 that no other node's pool overlaps), "ipv6_pool" (default: a
 * random ULA /48 in fd00::/8), "ipv4_prefix" (pod subnet length, default 24,
 * at most 30), "ipv6_prefix" (default 64, at most 126), "port_min",
 * "port_max" (pod listen ports, default 51820-52819), "max_pods" (default:
 * the number of ports)}.
 *
 * Result: {"node": node, "token": token, "secret": the node token's text}.
 *
 * @param s the store.
 * @param request JSON text.
 * @param out receives the result (free with mr_free()); written only on
 *        success.
 * @return 0; MR_EEXIST (a node of that name exists); MR_EEXHAUSTED (no
 *         default IPv4 pool left); common codes.
 */
MR_API int mr_store_node_register(mr_store *s, const char *request, char **out);

/**
 * List nodes, ordered by name.
 *
 * Request: {} or {"status": status, "region": label}. Result: {"nodes": [node...]}.
 *
 * @return 0 or a common code.
 */
MR_API int mr_store_node_list(mr_store *s, const char *request, char **out);

/**
 * Show one node. Request: {"id": node id}. Result: {"node": node}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_node_show(mr_store *s, const char *request, char **out);

/**
 * Change a node's status. A draining node gets no new pods.
 *
 * Request: {"id": node id, "status": "provisioning", "active", "draining" or
 * "offline"}. Result: {"node": node}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_node_set_status(mr_store *s, const char *request, char **out);

/**
 * Delete a node and revoke its tokens. A node with pods is refused unless
 * "force" is true; then its pods and their peers are deleted too and the pod
 * tokens revoked.
 *
 * Request: {"id": node id, "force": bool (default false)}. Result:
 * {"deleted": node id, "pods": number of pods deleted}.
 *
 * @return 0, MR_ENOTFOUND, MR_ECONFLICT (pods and no force) or a common code.
 */
MR_API int mr_store_node_delete(mr_store *s, const char *request, char **out);

/**
 * The desired state of a node, what its agent applies:
 * {"generation": N, "pods": [{"id", "interface", "listen_port", "addresses":
 * [gateway addresses, e.g. "10.64.1.1/24", "fd12:3456:789a:1::1/64"],
 * "peers": [{"public_key", "allowed_ips": ["10.64.1.2/32", "...::2/128"],
 * "preshared_key" (only when set), "enabled": true}]}]}. Pods and peers are
 * ordered by id. Disabled peers and peers whose expiry has passed (by the
 * store's clock) are left out.
 *
 * @param s the store.
 * @param node_id the node's id.
 * @param out receives the JSON text (free with mr_free()); it holds
 *        preshared keys. Written only on success.
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_node_desired(mr_store *s, const char *node_id, char **out);

/**
 * The current generation of a node's desired state (cheap: for long polls).
 *
 * @param s the store.
 * @param node_id the node's id.
 * @param out receives the generation (>= 1); written only on success.
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_node_generation(mr_store *s, const char *node_id, int64_t *out);

/**
 * Ingest a node's report, from its agent: the generation it has applied,
 * each pod's public key (a pod becomes "active" when its key is first
 * reported) and error (the pod is "failed" while one is reported; null
 * clears it), and per-peer cumulative counters and last handshake. Counters
 * below the last reported value are a reset (the interface was recreated):
 * the whole value counts as new traffic, never negative. The traffic is
 * added to the peers' totals and to the customer's and peer's use of the
 * calendar month (UTC); a customer at or over the plan's limit has every
 * peer disabled with reason "quota" (their nodes' generations rise). The
 * node becomes "active" at its first report and its last_seen is set. Pods
 * of other nodes and unknown peers are ignored (counted in the result).
 *
 * Report (at most 1 MiB): {"generation": N, "pods": [{"id", "public_key",
 * "error": text or null, "peers": [{"public_key", "rx_bytes", "tx_bytes",
 * "last_handshake": unix time or 0}]}]}; all members but ids and peers'
 * keys and counters are optional.
 * Result: {"node", "generation" (current), "pods", "peers" (counts
 * applied), "ignored": {"pods", "peers"}}.
 *
 * @param s the store.
 * @param node_id the reporting node (from its token, never from the body).
 * @param report JSON text.
 * @param out receives the result (free with mr_free()).
 * @return 0, MR_ENOTFOUND (node) or a common code (MR_ETOOBIG over 1 MiB).
 */
MR_API int mr_store_node_report(mr_store *s, const char *node_id, const char *report, char **out);

/* --- customers ----------------------------------------------------------- */

/**
 * Create a customer. Request: {"name": label, "transfer_limit": bytes per
 * calendar month (default 0, unlimited)}. Result: {"customer": customer}.
 *
 * @return 0, MR_EEXIST (the name is taken) or a common code.
 */
MR_API int mr_store_customer_create(mr_store *s, const char *request, char **out);

/**
 * List customers, ordered by name. Request: {}. Result: {"customers": [...]}.
 *
 * @return 0 or a common code.
 */
MR_API int mr_store_customer_list(mr_store *s, const char *request, char **out);

/**
 * Show a customer. Request: {"id": customer id}. Result: {"customer": customer}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_customer_show(mr_store *s, const char *request, char **out);

/**
 * Change a customer's plan. Peers held back for quota are given back when
 * the new limit is above this month's use (or 0), and held back when it is
 * not. Request: {"id": customer id, "transfer_limit": bytes per month, 0
 * unlimited}. Result: {"customer": customer}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_customer_set_plan(mr_store *s, const char *request, char **out);

/**
 * Transfer use per calendar month (UTC). Request: {} or {"customer": id,
 * "month": "YYYY-MM" (default: the current month)}. Result: {"month",
 * "customers": [{"customer", "name", "transfer_limit", "rx_bytes",
 * "tx_bytes", "total", "over_limit"}]} and, with a customer, "peers":
 * [{"peer", "pod", "name", "rx_bytes", "tx_bytes" (the month's),
 * "total_rx_bytes", "total_tx_bytes", "last_handshake"}].
 *
 * @return 0, MR_ENOTFOUND (customer) or a common code.
 */
MR_API int mr_store_usage(mr_store *s, const char *request, char **out);

/**
 * Delete a customer. A customer with pods is refused unless "force" is true;
 * then the pods (on every node, raising their generations) and their peers
 * are deleted and the pod tokens revoked.
 *
 * Request: {"id": customer id, "force": bool}. Result: {"deleted": id,
 * "pods": number of pods deleted}.
 *
 * @return 0, MR_ENOTFOUND, MR_ECONFLICT or a common code.
 */
MR_API int mr_store_customer_delete(mr_store *s, const char *request, char **out);

/* --- pods ---------------------------------------------------------------- */

/**
 * Create a customer's pod on a node: allocates the lowest free IPv4 and IPv6
 * subnets of the node's pools, the lowest free listen port of its range, an
 * interface name unique on the node, and issues a pod token. The pod starts
 * "pending" until its node reports the pod's public key.
 *
 * Request: {"customer": customer id, "node": node id}.
 * Result: {"pod": pod, "token": token, "secret": the pod token's text}.
 *
 * @return 0; MR_ENOTFOUND (customer or node); MR_EEXIST (the customer has a
 *         pod on that node); MR_ECONFLICT (the node is draining);
 *         MR_EEXHAUSTED (max_pods, subnets or ports used up); common codes.
 */
MR_API int mr_store_pod_create(mr_store *s, const char *request, char **out);

/**
 * List pods, ordered by id. Request: {} with any of "customer", "node",
 * "status" as filters. Result: {"pods": [pod...]}.
 *
 * @return 0 or a common code.
 */
MR_API int mr_store_pod_list(mr_store *s, const char *request, char **out);

/**
 * Show a pod. Request: {"id": pod id}. Result: {"pod": pod}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_pod_show(mr_store *s, const char *request, char **out);

/**
 * Delete a pod: it leaves its node's desired state (the generation rises),
 * its peers are deleted, its tokens revoked; its subnets and port become
 * free again.
 *
 * Request: {"id": pod id}. Result: {"deleted": pod id, "peers": number of
 * peers deleted}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_pod_delete(mr_store *s, const char *request, char **out);

/* --- peers --------------------------------------------------------------- */

/*
 * Every peer operation on an existing peer takes {"id": peer id} and
 * optionally {"pod": pod id}: when given, a peer of another pod answers
 * MR_ENOTFOUND, so that a server can scope a pod token's request in the
 * same transaction.
 */

/**
 * Add a peer (a customer's device) to a pod: the next free host address of
 * each pod subnet, enabled.
 *
 * Request: {"pod": pod id, "name": label (unique in the pod), "public_key":
 * the device's WireGuard public key (unique in the pod), optionally
 * "preshared_key" (generated on the device and stored because the node needs
 * it), "expires": unix time or null}.
 * Result: {"peer": peer, "pod": pod}.
 *
 * @return 0; MR_ENOTFOUND (pod); MR_EEXIST (name or key taken in the pod);
 *         MR_EEXHAUSTED (no address left); common codes.
 */
MR_API int mr_store_peer_add(mr_store *s, const char *request, char **out);

/**
 * List a pod's peers, ordered by name. Request: {"pod": pod id, "enabled":
 * bool (optional filter)}. Result: {"peers": [peer...]}.
 *
 * @return 0, MR_ENOTFOUND (pod) or a common code.
 */
MR_API int mr_store_peer_list(mr_store *s, const char *request, char **out);

/**
 * Show a peer. Request: {"id", "pod"?}. Result: {"peer": peer}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_peer_show(mr_store *s, const char *request, char **out);

/**
 * Enable a peer (clears the reason). Request: {"id", "pod"?}.
 * Result: {"peer": peer}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_peer_enable(mr_store *s, const char *request, char **out);

/**
 * Disable a peer: it leaves its node's desired state. Request: {"id", "pod"?,
 * "reason": printable ASCII, 1-200 bytes (default "disabled")}.
 * Result: {"peer": peer}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_peer_disable(mr_store *s, const char *request, char **out);

/**
 * Rename a peer. Request: {"id", "pod"?, "name": label}. Result: {"peer": peer}.
 *
 * @return 0, MR_ENOTFOUND, MR_EEXIST (name taken in the pod) or a common code.
 */
MR_API int mr_store_peer_rename(mr_store *s, const char *request, char **out);

/**
 * Set or clear a peer's expiry. From that moment on (see mr_store_tick())
 * the peer is left out of desired state.
 *
 * Request: {"id", "pod"?, "expires": unix time, or null to clear}.
 * Result: {"peer": peer}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_peer_set_expiry(mr_store *s, const char *request, char **out);

/**
 * Remove a peer; its addresses become free again. Request: {"id", "pod"?}.
 * Result: {"deleted": peer id}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_peer_remove(mr_store *s, const char *request, char **out);

/* --- tokens -------------------------------------------------------------- */

/**
 * Issue a token. Request: {"kind": "admin", "node" or "pod", "subject": the
 * node or pod id (required for node and pod tokens, absent for admin),
 * "label": label (optional), "expires": unix time (optional)}.
 * Result: {"token": token, "secret": the token's text, shown once}.
 *
 * @return 0, MR_ENOTFOUND (subject) or a common code.
 */
MR_API int mr_store_token_issue(mr_store *s, const char *request, char **out);

/**
 * List tokens (never their secrets or hashes), newest first. Request: {} with
 * any of "kind", "subject", "revoked": bool as filters.
 * Result: {"tokens": [token...]}.
 *
 * @return 0 or a common code.
 */
MR_API int mr_store_token_list(mr_store *s, const char *request, char **out);

/**
 * Revoke a token. Revoking a revoked token changes nothing and succeeds.
 * Request: {"id": token id}. Result: {"token": token}.
 *
 * @return 0, MR_ENOTFOUND or a common code.
 */
MR_API int mr_store_token_revoke(mr_store *s, const char *request, char **out);

/**
 * Set or clear a token's expiry. Request: {"id": token id, "expires": unix
 * time or null}. Result: {"token": token}.
 *
 * @return 0, MR_ENOTFOUND, MR_ECONFLICT (revoked) or a common code.
 */
MR_API int mr_store_token_set_expiry(mr_store *s, const char *request, char **out);

/**
 * Verify a presented token: the checksum is checked before any lookup, the
 * row is found by the token's id, the secret's hash compared in constant
 * time, and revoked or expired tokens refused. "last_used" is written at
 * most once a minute per token, so verification is a read on almost every
 * request.
 *
 * @param s the store.
 * @param token the token's text as presented (without "Bearer ").
 * @param out receives {"token_id", "kind", "subject" (null for admin)}
 *        (free with mr_free()); written only on success.
 * @return 0; MR_EAUTH (malformed, mistyped, unknown, wrong secret, revoked or
 *         expired; the detail says which and never contains the text);
 *         common codes.
 */
MR_API int mr_store_token_verify(mr_store *s, const char *token, char **out);

/* --- audit, overview, expiry clock --------------------------------------- */

/**
 * Read the audit log, newest first. Request: {} with any of "subject",
 * "actor" (token id or "system"), "action", "since", "until" (unix times,
 * inclusive), "before" (an event's seq, for paging), "limit" (1-1000,
 * default 100). Result: {"events": [{"seq", "time", "actor", "action",
 * "subject", "detail": object}...]}.
 *
 * @return 0 or a common code.
 */
MR_API int mr_store_audit_list(mr_store *s, const char *request, char **out);

/**
 * Counts for a status page: {"nodes": {"total", "provisioning", "active",
 * "draining", "offline"}, "customers": N, "pods": {"total", "pending",
 * "active", "deleting", "failed"}, "peers": {"total", "enabled"},
 * "tokens": {"active"}}.
 *
 * @param s the store.
 * @param out receives the JSON text (free with mr_free()).
 * @return 0 or a common code.
 */
MR_API int mr_store_overview(mr_store *s, char **out);

/**
 * Advance the store's clock: raise the generation of every node with a peer
 * whose expiry passed since the last tick (and record a "peer.expire" audit
 * event for it); when the calendar month has turned, give back the peers
 * held for quota. Call it when mr_store_next_expiry() says, or every second.
 * A tick with nothing to do does not write.
 *
 * @param s the store.
 * @return 0 or a common code.
 */
MR_API int mr_store_tick(mr_store *s);

/**
 * When mr_store_tick() next has work: the earliest expiry of an enabled peer
 * not yet ticked (possibly in the past: then tick now), or the start of the
 * next month while peers are held for quota.
 *
 * @param s the store.
 * @param out receives the unix time, or 0 when no expiry is pending.
 * @return 0 or a common code.
 */
MR_API int mr_store_next_expiry(mr_store *s, int64_t *out);

/* --- backups ------------------------------------------------------------- */

/**
 * Create a backup key file: 32 random bytes, mode 0600 whatever the umask.
 *
 * @param path the new file (refused if it exists).
 * @return 0, MR_EINVAL, MR_EEXIST, MR_EIO or MR_ECRYPTO.
 */
MR_API int mr_store_backup_key_create(const char *path);

/**
 * Write an encrypted backup: a consistent snapshot of the database (SQLite's
 * online backup API, taken in memory while other writers carry on),
 * encrypted and authenticated with AES-256-GCM under the key file. The file
 * is created with mode 0600 and appears under its name only when complete.
 * Memory use is about twice the database's size.
 *
 * @param s the store (no operation in progress).
 * @param path the backup file to create (refused if it exists).
 * @param key_path the key file: exactly 32 bytes, not readable by group or
 *        others.
 * @return 0; MR_EINVAL; MR_EEXIST (path exists); MR_ENOTFOUND (no key file);
 *         MR_EPERM (key file readable by others); MR_ENOMEM; MR_EIO;
 *         MR_ECRYPTO; MR_EDB.
 */
MR_API int mr_store_backup(mr_store *s, const char *path, const char *key_path);

/**
 * Restore a backup into a new database file (mode 0600): the file is
 * authenticated first, so a changed file or another key is refused and
 * nothing is written; the restored database is then opened as a store
 * (migrated if older) and checked with PRAGMA integrity_check, and removed
 * again if that fails.
 *
 * @param backup_path the backup file.
 * @param key_path the key file it was made with.
 * @param db_path the database to create (refused if it exists).
 * @return 0; MR_EINTEGRITY (not a backup, truncated, changed, another key,
 *         damaged database); MR_ENOTSUP (newer backup format); MR_EEXIST;
 *         MR_ENOTFOUND; MR_EPERM; MR_EINVAL; MR_ENOMEM; MR_EIO; MR_ECRYPTO.
 */
MR_API int mr_store_restore(const char *backup_path, const char *key_path, const char *db_path);

MR_END_DECLS

#endif

/* SPDX-License-Identifier: MIT */
/*
 * The JSON wire formats between a node and the control plane: a node's
 * desired state (what the server answers on GET /v1/node/desired, and the
 * schema of the agent's standalone file) parsed and validated into an object
 * with getters, turned into pod specs (<myrelay/pod.h>); and the agent's
 * report (POST /v1/node/report: pod public keys, pod errors, per-peer
 * counters), encoded in parts that each fit the server's limit.
 *
 * Desired state (DESIGN.md section 5):
 *
 *     {"generation": 7, "pods": [
 *       {"id": "pd_...", "interface": "wg-2c26b4", "listen_port": 51820,
 *        "addresses": ["10.64.0.1/24", "fd12:3456:789a::1/64"],
 *        "peers": [{"public_key": "...", "allowed_ips": ["10.64.0.2/32"],
 *                   "preshared_key": "...", "enabled": true}]}]}
 *
 * Parsing is strict about everything it reads: types (an integer is never a
 * string or a real), ranges, keys (key module), prefixes (cidr module),
 * names (name module), duplicates (pod ids, interfaces, listen ports, peer
 * keys in a pod, overlapping subnets between pods, overlapping allowed IPs
 * between peers of a pod) and allowed IPs outside their pod's subnets. A
 * refusal is MR_EINVAL with a detail naming the place, e.g.
 *     pods[1].peers[3].public_key: public key: expected 44 characters, got 43
 * Members this version does not know are ignored by default (a newer server
 * may send more), and refused with MR_STATE_STRICT (for files written by
 * hand, where an unknown member is most likely a typing mistake).
 *
 * Preshared keys are secrets: they are wiped when the object is freed, and
 * text holding them (mr_state_format()) is released with
 * mr_state_free_text(). Nothing here talks to the kernel or the network.
 */
#ifndef MYRELAY_STATE_H
#define MYRELAY_STATE_H

#include <myrelay/common.h>
#include <myrelay/cidr.h>
#include <myrelay/key.h>
#include <myrelay/pod.h>
#include <myrelay/wg.h>

MR_BEGIN_DECLS

/** Parse flag: refuse members this version does not know. */
#define MR_STATE_STRICT 0x1u

/** Largest desired-state text accepted, in bytes (64 MiB). */
#define MR_STATE_TEXT_MAX (64u * 1024u * 1024u)
/** Most pods in one desired state (and in one report). */
#define MR_STATE_PODS_MAX 65535
/** Most peers of one pod (and of one pod in one report). */
#define MR_STATE_PEERS_MAX 65535
/** Most allowed IPs of one peer. */
#define MR_STATE_ALLOWED_IPS_MAX 256
/** Longest pod id in bytes (a label, see mr_name_validate_label()). */
#define MR_STATE_ID_MAX 63
/** Longest pod error text in a report, in bytes (longer text is cut). */
#define MR_STATE_ERROR_MAX 500
/** Default (and the server's) largest report part, in bytes (1 MiB). */
#define MR_STATE_REPORT_MAX (1024u * 1024u)
/** Smallest max_bytes accepted by mr_state_report_encode(). */
#define MR_STATE_REPORT_MIN 2048u

/** A parsed, validated desired state (opaque). */
typedef struct mr_state mr_state;
/** One pod of a desired state (opaque, borrowed from its mr_state). */
typedef struct mr_state_pod mr_state_pod;
/** One peer of a pod (opaque, borrowed from its mr_state). */
typedef struct mr_state_peer mr_state_peer;
/** A report being built (opaque). */
typedef struct mr_state_report mr_state_report;

/* ---------------------------------------------------------------------- */
/* Desired state                                                           */
/* ---------------------------------------------------------------------- */

/**
 * Parse and validate a desired state.
 *
 * Members: "generation" (integer >= 0) and "pods" (array) are required. In
 * a pod, "id" (a label: 1-63 bytes of A-Z a-z 0-9 . _ @ -, starting with a
 * letter or digit), "interface" (a pod interface name: "wg-" and six
 * lowercase hex digits), "listen_port" (1-65535) and "addresses" (1 to
 * MR_POD_ADDRESSES_MAX gateway addresses with their subnet length, as
 * "10.64.0.1/24", refused as mr_pod_spec_add_address() refuses them) are
 * required; "peers" (array) is optional. In a peer, "public_key" and
 * "allowed_ips" (1 to MR_STATE_ALLOWED_IPS_MAX networks, each inside one of
 * the pod's subnets) are required; "preshared_key" (a key, or null for
 * none) and "enabled" (boolean, default true) are optional. A member given
 * twice is refused.
 *
 * @param out receives the state; written only on success. Free it with
 *        mr_state_free().
 * @param text the JSON text; need not be NUL-terminated.
 * @param len its length in bytes, at most MR_STATE_TEXT_MAX.
 * @param flags 0 or MR_STATE_STRICT.
 * @return 0; MR_EINVAL (NULL argument, unknown flags, invalid JSON with its
 *         line and column, any invalid or inconsistent value: the detail
 *         names its path and never quotes a key); MR_ETOOBIG (text over
 *         MR_STATE_TEXT_MAX, or more than MR_STATE_PODS_MAX pods or
 *         MR_STATE_PEERS_MAX peers in a pod); MR_ENOMEM.
 */
MR_API int mr_state_parse(mr_state **out, const char *text, size_t len, uint32_t flags);

/**
 * Free a state, wiping its preshared keys.
 * @param state the state, or NULL (then nothing happens).
 */
MR_API void mr_state_free(mr_state *state);

/**
 * The state's generation.
 * @param state the state.
 * @return the generation (>= 0), or -1 for NULL.
 */
MR_API int64_t mr_state_get_generation(const mr_state *state);

/**
 * Number of pods.
 * @param state the state (NULL gives 0).
 */
MR_API size_t mr_state_pod_count(const mr_state *state);

/**
 * A pod by position (the order of the text).
 * @param state the state.
 * @param i 0 to mr_state_pod_count() - 1.
 * @return the pod, borrowed: valid while the state lives; NULL for a NULL
 *         state or i out of range.
 */
MR_API const mr_state_pod *mr_state_pod_at(const mr_state *state, size_t i);

/**
 * A pod by id.
 * @param state the state.
 * @param id the pod id.
 * @return the pod (borrowed, as mr_state_pod_at()), or NULL when there is
 *         none with that id or an argument is NULL.
 */
MR_API const mr_state_pod *mr_state_find_pod(const mr_state *state, const char *id);

/**
 * The pod's id. Borrowed: valid while the state lives.
 * @param pod the pod (NULL gives NULL).
 */
MR_API const char *mr_state_pod_get_id(const mr_state_pod *pod);

/**
 * The pod's interface name. Borrowed: valid while the state lives.
 * @param pod the pod (NULL gives NULL).
 */
MR_API const char *mr_state_pod_get_interface(const mr_state_pod *pod);

/**
 * The pod's UDP listen port (1-65535; 0 for NULL).
 * @param pod the pod.
 */
MR_API uint32_t mr_state_pod_get_listen_port(const mr_state_pod *pod);

/**
 * Number of addresses of the pod (0 for NULL).
 * @param pod the pod.
 */
MR_API size_t mr_state_pod_address_count(const mr_state_pod *pod);

/**
 * One address of the pod: the gateway in interface form ("10.64.0.1/24").
 * @param pod the pod.
 * @param i 0 to mr_state_pod_address_count() - 1.
 * @param out receives the address; written only on success.
 * @return 0 or MR_EINVAL (NULL argument, i out of range).
 */
MR_API int mr_state_pod_get_address(const mr_state_pod *pod, size_t i, mr_prefix *out);

/**
 * Number of peers of the pod, enabled or not (0 for NULL).
 * @param pod the pod.
 */
MR_API size_t mr_state_pod_peer_count(const mr_state_pod *pod);

/**
 * A peer of the pod by position.
 * @param pod the pod.
 * @param i 0 to mr_state_pod_peer_count() - 1.
 * @return the peer, borrowed: valid while the state lives; NULL for a NULL
 *         pod or i out of range.
 */
MR_API const mr_state_peer *mr_state_pod_peer_at(const mr_state_pod *pod, size_t i);

/**
 * The peer's public key.
 * @param peer the peer.
 * @param out receives the key; written only on success.
 * @return 0 or MR_EINVAL.
 */
MR_API int mr_state_peer_get_public_key(const mr_state_peer *peer, mr_key *out);

/**
 * Whether the peer has a preshared key (false for NULL).
 * @param peer the peer.
 */
MR_API bool mr_state_peer_has_preshared_key(const mr_state_peer *peer);

/**
 * The peer's preshared key, a secret: wipe the copy with mr_key_wipe().
 * @param peer the peer.
 * @param out receives the key; written only on success.
 * @return 0, MR_EINVAL (NULL argument) or MR_ENOTFOUND (the peer has none).
 */
MR_API int mr_state_peer_get_preshared_key(const mr_state_peer *peer, mr_key *out);

/**
 * Whether the peer is enabled (false for NULL). Disabled peers are left out
 * of the pod spec built by mr_state_pod_spec().
 * @param peer the peer.
 */
MR_API bool mr_state_peer_get_enabled(const mr_state_peer *peer);

/**
 * Number of allowed IPs of the peer (0 for NULL).
 * @param peer the peer.
 */
MR_API size_t mr_state_peer_allowed_ip_count(const mr_state_peer *peer);

/**
 * One allowed IP of the peer (a network, host bits zero).
 * @param peer the peer.
 * @param i 0 to mr_state_peer_allowed_ip_count() - 1.
 * @param out receives the prefix; written only on success.
 * @return 0 or MR_EINVAL (NULL argument, i out of range).
 */
MR_API int mr_state_peer_get_allowed_ip(const mr_state_peer *peer, size_t i, mr_prefix *out);

/**
 * Whether two pods (of the same or of different states) are equal in every
 * member: id, interface, listen port, addresses, and peers in the same
 * order with equal keys (preshared keys compared in constant time),
 * allowed IPs and enabled flags. A node uses it to re-apply only the pods
 * that changed between two generations.
 * @param a a pod.
 * @param b another pod.
 * @return true when both are non-NULL and equal.
 */
MR_API bool mr_state_pod_equal(const mr_state_pod *a, const mr_state_pod *b);

/**
 * Build the pod spec of a pod: its interface, the given private key, its
 * listen port and addresses, and its enabled peers (with their preshared
 * keys); MTU, options and uplinks keep the spec's defaults (set them on the
 * result if needed). The private key lives on the node, never in the
 * desired state.
 *
 * @param pod the pod.
 * @param private_key the pod's private key (copied into the spec).
 * @param out receives the spec; written only on success. Free it with
 *        mr_pod_spec_free().
 * @return 0, MR_EINVAL (NULL argument), MR_ENOMEM, or an error of the pod
 *         module (the detail names the pod).
 */
MR_API int mr_state_pod_spec(const mr_state_pod *pod, const mr_key *private_key, mr_pod_spec **out);

/**
 * Encode a state as compact JSON in the schema above: members in a fixed
 * order, pods and peers in the state's order, "preshared_key" only when
 * set, "enabled" always, prefixes in canonical form. Parsing the result
 * gives an equal state, and formatting equal states gives equal text.
 *
 * @param state the state.
 * @param out receives the NUL-terminated text; written only on success. It
 *        holds preshared keys: release it with mr_state_free_text().
 * @return 0, MR_EINVAL or MR_ENOMEM.
 */
MR_API int mr_state_format(const mr_state *state, char **out);

/**
 * Wipe and free text returned by mr_state_format().
 * @param text the text, or NULL (then nothing happens).
 */
MR_API void mr_state_free_text(char *text);

/* ---------------------------------------------------------------------- */
/* Reports                                                                 */
/* ---------------------------------------------------------------------- */

/**
 * Start a report (the body of POST /v1/node/report):
 *
 *     {"generation": 12,
 *      "pods": [{"id": "pd_...", "public_key": "...", "error": null,
 *                "peers": [{"public_key": "...", "rx_bytes": 123,
 *                           "tx_bytes": 45, "last_handshake": 1700000000}]}]}
 *
 * @param out receives the report; written only on success. Free it with
 *        mr_state_report_free().
 * @param generation the generation the node has applied (>= 0), or -1 to
 *        leave "generation" out.
 * @return 0, MR_EINVAL or MR_ENOMEM.
 */
MR_API int mr_state_report_new(mr_state_report **out, int64_t generation);

/**
 * Free a report.
 * @param report the report, or NULL (then nothing happens).
 */
MR_API void mr_state_report_free(mr_state_report *report);

/**
 * Add a pod; the peers added next belong to it.
 *
 * @param report the report.
 * @param pod_id the pod's id (a label, as in the desired state).
 * @param public_key the pod's public key, or NULL to leave it out (the
 *        server then keeps what it has).
 * @param error NULL when the pod is fine ("error": null, which clears a
 *        pod's earlier error on the server), or a description of what is
 *        wrong with it. Bytes other than printable ASCII become '?', and
 *        text longer than MR_STATE_ERROR_MAX bytes is cut, because the
 *        server refuses a whole report over one such error.
 * @return 0; MR_EINVAL (NULL report or id, an id that is not a label, an
 *         empty error); MR_EEXIST (the pod is already in the report);
 *         MR_ETOOBIG (MR_STATE_PODS_MAX pods already); MR_ENOMEM.
 */
MR_API int mr_state_report_add_pod(mr_state_report *report, const char *pod_id,
				   const mr_key *public_key, const char *error);

/**
 * Add a peer's counters to the pod added last.
 *
 * @param report the report.
 * @param public_key the peer's public key.
 * @param rx_bytes bytes received from the peer (WireGuard's cumulative
 *        counter); values above INT64_MAX are sent as INT64_MAX.
 * @param tx_bytes bytes sent to the peer, likewise.
 * @param last_handshake Unix time of the last handshake in seconds, or 0 for
 *        none (then "last_handshake" is left out).
 * @return 0; MR_EINVAL (NULL argument, no pod added yet, negative
 *         last_handshake, a zero key); MR_EEXIST (this pod already has the
 *         peer); MR_ETOOBIG (MR_STATE_PEERS_MAX peers in the pod); MR_ENOMEM.
 */
MR_API int mr_state_report_add_peer(mr_state_report *report, const mr_key *public_key,
				    uint64_t rx_bytes, uint64_t tx_bytes, int64_t last_handshake);

/**
 * Add every peer of a device read with mr_wg_get() to the pod added last
 * (public key, counters, last handshake), as mr_state_report_add_peer().
 *
 * @param report the report.
 * @param device the device.
 * @return as mr_state_report_add_peer(); on error the pod keeps the peers
 *         added before the failing one.
 */
MR_API int mr_state_report_add_device(mr_state_report *report, const mr_wg_device *device);

/**
 * Number of pods in the report (0 for NULL).
 * @param report the report.
 */
MR_API size_t mr_state_report_pod_count(const mr_state_report *report);

/**
 * Encode a report as one or more JSON texts, each at most max_bytes long,
 * to be POSTed in order (the server applies each part on its own). A pod
 * whose peers do not fit in one part continues in the next with its id
 * and more peers only (without "public_key" and "error", which the server
 * then leaves as they are). Every part carries the generation.
 *
 * @param report the report.
 * @param max_bytes the largest part, at least MR_STATE_REPORT_MIN; 0 means
 *        MR_STATE_REPORT_MAX (the server's limit).
 * @param out receives a NULL-terminated array of *count texts in one
 *        allocation; free it with mr_free(). Written only on success.
 * @param count receives the number of parts (at least 1: a report with no
 *        pod is one part with an empty "pods").
 * @return 0, MR_EINVAL (NULL argument, max_bytes too small) or MR_ENOMEM.
 */
MR_API int mr_state_report_encode(const mr_state_report *report, size_t max_bytes, char ***out,
				  size_t *count);

MR_END_DECLS

#endif

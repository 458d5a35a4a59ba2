/* SPDX-License-Identifier: MIT */
/*
 * WireGuard device configuration, with one API over two backends:
 *
 *  - the kernel module, through generic netlink (WG_CMD_SET_DEVICE and the
 *    WG_CMD_GET_DEVICE dump). Peer lists larger than one netlink message are
 *    split across several messages the way wireguard-tools splits them;
 *  - a userspace implementation such as wireguard-go, through its control
 *    socket `<userspace dir>/<ifname>.sock` and the text protocol
 *    (`set=1` / `get=1`) it speaks.
 *
 * The backend is chosen per call from the context (mr_ctx_set_backend()):
 * MR_BACKEND_KERNEL, MR_BACKEND_USERSPACE, or MR_BACKEND_AUTO, which takes
 * the kernel when the WireGuard generic-netlink family exists, else the
 * device's userspace socket when it exists, else fails with MR_ENOTFOUND.
 * (On a machine that has the kernel module, reach a wireguard-go device by
 * choosing MR_BACKEND_USERSPACE explicitly.) Both backends give the same
 * results for the same operations.
 *
 * A device configuration (mr_wg_device) is built with the setters below and
 * handed to mr_wg_set() (apply it as it is) or mr_wg_sync() (make the device
 * match it with the smallest change). mr_wg_get() reads a device back into
 * the same type, with per-peer counters and handshake times.
 *
 * Fields are optional: a setter marks its field as set, and only set fields
 * are sent by mr_wg_set(). Every value is validated when it is set (keys,
 * ports, prefixes, endpoints, limits); a refused call leaves the object as it
 * was. mr_wg_set() and mr_wg_sync() validate the whole configuration again
 * (for example that no allowed IP is given to two peers) before anything is
 * sent, so bad input changes nothing on the device.
 *
 * Secrets: the device's private key and the peers' preshared keys are wiped
 * when the object is freed, never appear in error messages or logs, and are
 * only returned by the explicit getters mr_wg_device_get_private_key() and
 * mr_wg_peer_get_preshared_key(). This includes devices read back with
 * mr_wg_get().
 *
 * An object is used by one thread at a time. Peers (mr_wg_peer) are borrowed
 * from their device: they stay valid until the device is freed (adding more
 * peers does not move them).
 */
#ifndef MYRELAY_WG_H
#define MYRELAY_WG_H

#include <myrelay/common.h>
#include <myrelay/key.h>
#include <myrelay/cidr.h>
#include <myrelay/ctx.h>

MR_BEGIN_DECLS

/** Most peers in one device configuration (MR_EINVAL beyond: an oversize list is bad input). */
#define MR_WG_MAX_PEERS 1000000
/** Most allowed IPs of one peer (MR_EINVAL beyond). */
#define MR_WG_MAX_ALLOWED_IPS 65536
/** Most allowed IPs of all peers of one device together (MR_EINVAL beyond). */
#define MR_WG_MAX_DEVICE_ALLOWED_IPS 4000000
/** Largest listen port. */
#define MR_WG_PORT_MAX 65535
/** Largest persistent keepalive interval, in seconds. */
#define MR_WG_KEEPALIVE_MAX 65535
/**
 * Buffer size that holds any endpoint text written by
 * mr_wg_peer_get_endpoint(), with its NUL (the longest is
 * "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535").
 */
#define MR_WG_ENDPOINT_STRLEN 64

/** mr_wg_sync() flag: compute and report the changes, send nothing. */
#define MR_WG_SYNC_DRY_RUN 0x1u

/** A device configuration, or a snapshot of a device read back (opaque). */
typedef struct mr_wg_device mr_wg_device;

/** One peer of a device (opaque, borrowed from its device). */
typedef struct mr_wg_peer mr_wg_peer;

/**
 * What mr_wg_sync() changed (or, with MR_WG_SYNC_DRY_RUN, would change).
 * A transparent value type; reserved fields are zero.
 */
typedef struct mr_wg_sync_stats {
	uint32_t added;		 /**< peers added */
	uint32_t removed;	 /**< peers removed */
	uint32_t updated;	 /**< peers present before whose fields changed */
	uint32_t unchanged;	 /**< peers left exactly as they were */
	uint32_t device_changed; /**< 1 when the private key, port or fwmark changed */
	uint32_t messages;	 /**< netlink messages, or socket operations, sent */
	uint64_t bytes_sent;	 /**< bytes of those messages (0 when nothing changed) */
	uint64_t reserved[4];	 /**< zero; room for later fields */
} mr_wg_sync_stats;

/* ---------------------------------------------------------------------- */
/* Device configuration                                                    */
/* ---------------------------------------------------------------------- */

/**
 * Create an empty device configuration: no field set, no peers.
 *
 * @param out receives the object; written only on success. Free it with
 *        mr_wg_device_free().
 * @return 0, MR_EINVAL (out is NULL), MR_ENOMEM or MR_ECRYPTO (no random
 *         seed for the peer index).
 */
MR_API int mr_wg_device_new(mr_wg_device **out);

/**
 * Free a device and its peers, wiping the private key and every preshared
 * key first.
 *
 * @param dev the device, or NULL (then nothing happens).
 */
MR_API void mr_wg_device_free(mr_wg_device *dev);

/**
 * Set the device's private key (the public key is derived from it). The key
 * is kept clamped, as X25519 uses it and as the kernel stores it (keys from
 * mr_key_generate_private() or `wg genkey` already are), so
 * mr_wg_device_get_private_key() may differ from an unclamped input in the
 * bits clamping fixes.
 *
 * @param dev the device.
 * @param key the private key (copied; any 32 bytes except all zero), or NULL
 *        to remove the device's key (the device stops working).
 * @return 0, MR_EINVAL (dev is NULL, all-zero key; the detail says so and
 *         never quotes the key) or MR_ECRYPTO.
 */
MR_API int mr_wg_device_set_private_key(mr_wg_device *dev, const mr_key *key);

/**
 * Whether the device has a private key (set, or read back).
 * @return false for NULL, for no key and for a key set to NULL.
 */
MR_API bool mr_wg_device_has_private_key(const mr_wg_device *dev);

/**
 * The device's private key. A secret: wipe the copy after use.
 *
 * @param dev the device.
 * @param out receives the key; written only on success.
 * @return 0, MR_EINVAL (NULL argument) or MR_ENOTFOUND (no private key).
 */
MR_API int mr_wg_device_get_private_key(const mr_wg_device *dev, mr_key *out);

/**
 * The device's public key, derived from its private key.
 *
 * @param dev the device.
 * @param out receives the key; written only on success.
 * @return 0, MR_EINVAL (NULL argument) or MR_ENOTFOUND (no private key).
 */
MR_API int mr_wg_device_get_public_key(const mr_wg_device *dev, mr_key *out);

/**
 * Set the UDP listen port.
 *
 * @param dev the device.
 * @param port 0 to 65535; 0 lets the implementation pick a random port.
 * @return 0 or MR_EINVAL (dev is NULL, port above 65535).
 */
MR_API int mr_wg_device_set_listen_port(mr_wg_device *dev, uint32_t port);

/** Whether the listen port is set (always true for a device read back). */
MR_API bool mr_wg_device_has_listen_port(const mr_wg_device *dev);

/**
 * The listen port: as set, or as read back (the port actually bound).
 * @return the port, 0 when unset or for NULL.
 */
MR_API uint32_t mr_wg_device_get_listen_port(const mr_wg_device *dev);

/**
 * Set the firewall mark of the device's outgoing packets.
 *
 * @param dev the device.
 * @param fwmark the mark; 0 turns marking off.
 * @return 0 or MR_EINVAL (dev is NULL).
 */
MR_API int mr_wg_device_set_fwmark(mr_wg_device *dev, uint32_t fwmark);

/** Whether the fwmark is set (always true for a device read back). */
MR_API bool mr_wg_device_has_fwmark(const mr_wg_device *dev);

/** The fwmark; 0 when unset, off, or for NULL. */
MR_API uint32_t mr_wg_device_get_fwmark(const mr_wg_device *dev);

/**
 * Whether mr_wg_set() first removes every peer of the device that this
 * configuration does not list (WGDEVICE_F_REPLACE_PEERS, `replace_peers`).
 * Default false: peers are added or updated, others are left alone.
 * mr_wg_sync() ignores this flag (it always converges the peer list).
 *
 * @return 0 or MR_EINVAL (dev is NULL).
 */
MR_API int mr_wg_device_set_replace_peers(mr_wg_device *dev, bool replace);

/** The replace-peers flag (false for NULL and for a device read back). */
MR_API bool mr_wg_device_get_replace_peers(const mr_wg_device *dev);

/**
 * Add a peer.
 *
 * @param dev the device.
 * @param public_key the peer's public key (copied; not all zero).
 * @param out receives the new peer, borrowed from dev; may be NULL.
 * @return 0, MR_EINVAL (NULL dev or key, all-zero key, the device's own
 *         public key), MR_EEXIST (a peer with this key is already in dev),
 *         MR_EINVAL (MR_WG_MAX_PEERS reached) or MR_ENOMEM.
 */
MR_API int mr_wg_device_add_peer(mr_wg_device *dev, const mr_key *public_key, mr_wg_peer **out);

/** Number of peers (0 for NULL). */
MR_API size_t mr_wg_device_peer_count(const mr_wg_device *dev);

/**
 * The i-th peer, in the order they were added, or for a device read back, in
 * the backend's order (the kernel: creation order; wireguard-go: no
 * particular order; use mr_wg_device_find_peer() to look a peer up).
 *
 * @return the peer, borrowed from dev; NULL when i is out of range or dev is
 *         NULL.
 */
MR_API mr_wg_peer *mr_wg_device_peer(const mr_wg_device *dev, size_t i);

/**
 * Find a peer by public key (through a hash index: constant time on
 * average, also for keys chosen to collide).
 *
 * @return the peer, borrowed from dev; NULL when there is none or an argument
 *         is NULL.
 */
MR_API mr_wg_peer *mr_wg_device_find_peer(const mr_wg_device *dev, const mr_key *public_key);

/* ---------------------------------------------------------------------- */
/* Peers                                                                   */
/* ---------------------------------------------------------------------- */

/**
 * The peer's public key.
 * @param out receives the key.
 * @return 0 or MR_EINVAL (NULL argument).
 */
MR_API int mr_wg_peer_get_public_key(const mr_wg_peer *peer, mr_key *out);

/**
 * Set or clear the peer's preshared key.
 *
 * @param peer the peer.
 * @param key the preshared key (copied), or NULL (or an all-zero key) for no
 *        preshared key: mr_wg_set() then clears any key the device has.
 * @return 0 or MR_EINVAL (peer is NULL).
 */
MR_API int mr_wg_peer_set_preshared_key(mr_wg_peer *peer, const mr_key *key);

/** Whether the peer has a (non-zero) preshared key. */
MR_API bool mr_wg_peer_has_preshared_key(const mr_wg_peer *peer);

/**
 * The peer's preshared key. A secret: wipe the copy after use.
 * @param out receives the key; written only on success.
 * @return 0, MR_EINVAL (NULL argument) or MR_ENOTFOUND (no preshared key).
 */
MR_API int mr_wg_peer_get_preshared_key(const mr_wg_peer *peer, mr_key *out);

/**
 * Set the peer's endpoint. IP literals only (host names are not resolved):
 * "192.0.2.1:51820", "[2001:db8::1]:51820", or with a numeric IPv6 scope id
 * "[fe80::1%2]:51820". The port must be 1 to 65535.
 *
 * @param peer the peer.
 * @param endpoint NUL-terminated text.
 * @return 0 or MR_EINVAL (NULL argument, malformed text; the detail quotes
 *         the endpoint, which is not secret).
 */
MR_API int mr_wg_peer_set_endpoint(mr_wg_peer *peer, const char *endpoint);

/** Whether the peer has an endpoint (set, or known to the device). */
MR_API bool mr_wg_peer_has_endpoint(const mr_wg_peer *peer);

/**
 * The endpoint as text, in the form mr_wg_peer_set_endpoint() accepts
 * (IPv6 in RFC 5952 form).
 *
 * @param out buffer; MR_WG_ENDPOINT_STRLEN bytes is always enough.
 * @param size size of out.
 * @return 0, MR_EINVAL (NULL argument), MR_ENOTFOUND (no endpoint) or
 *         MR_ETOOBIG (out too small; then out is not written).
 */
MR_API int mr_wg_peer_get_endpoint(const mr_wg_peer *peer, char *out, size_t size);

/**
 * Set the persistent keepalive interval.
 *
 * @param seconds 0 (off) to 65535.
 * @return 0 or MR_EINVAL (peer is NULL, value above 65535).
 */
MR_API int mr_wg_peer_set_keepalive(mr_wg_peer *peer, uint32_t seconds);

/** Whether the keepalive is set (always true for a peer read back). */
MR_API bool mr_wg_peer_has_keepalive(const mr_wg_peer *peer);

/** The persistent keepalive interval in seconds; 0 when off or unset. */
MR_API uint32_t mr_wg_peer_get_keepalive(const mr_wg_peer *peer);

/**
 * Add an allowed IP (a network: host bits must be zero).
 *
 * @param peer the peer.
 * @param prefix the network (copied), e.g. from mr_cidr_parse().
 * @return 0, MR_EINVAL (NULL argument, bad family or length, host bits set;
 *         the detail quotes the prefix), MR_EINVAL (MR_WG_MAX_ALLOWED_IPS
 *         for this peer, or MR_WG_MAX_DEVICE_ALLOWED_IPS for the device) or
 *         MR_ENOMEM. Duplicates are refused later, by mr_wg_set() and
 *         mr_wg_sync().
 */
MR_API int mr_wg_peer_add_allowed_ip(mr_wg_peer *peer, const mr_prefix *prefix);

/** Number of allowed IPs of the peer (0 for NULL). */
MR_API size_t mr_wg_peer_allowed_ip_count(const mr_wg_peer *peer);

/**
 * The i-th allowed IP of the peer, in the order added (or read back).
 * @param out receives the prefix.
 * @return 0 or MR_EINVAL (NULL argument, i out of range).
 */
MR_API int mr_wg_peer_get_allowed_ip(const mr_wg_peer *peer, size_t i, mr_prefix *out);

/**
 * Whether mr_wg_set() replaces the peer's allowed IPs on the device by this
 * peer's list (WGPEER_F_REPLACE_ALLOWEDIPS, `replace_allowed_ips`) instead
 * of adding to them. Default false.
 * @return 0 or MR_EINVAL (peer is NULL).
 */
MR_API int mr_wg_peer_set_replace_allowed_ips(mr_wg_peer *peer, bool replace);

/** The replace-allowed-IPs flag (false for NULL). */
MR_API bool mr_wg_peer_get_replace_allowed_ips(const mr_wg_peer *peer);

/**
 * Whether mr_wg_set() removes this peer from the device (WGPEER_F_REMOVE_ME,
 * `remove`). The peer's other fields are then not sent. Default false.
 * @return 0 or MR_EINVAL (peer is NULL).
 */
MR_API int mr_wg_peer_set_remove(mr_wg_peer *peer, bool remove);

/** The remove flag (false for NULL). */
MR_API bool mr_wg_peer_get_remove(const mr_wg_peer *peer);

/**
 * Whether mr_wg_set() only updates this peer if the device already has it,
 * and never creates it (WGPEER_F_UPDATE_ONLY, `update_only`). Default false.
 * @return 0 or MR_EINVAL (peer is NULL).
 */
MR_API int mr_wg_peer_set_update_only(mr_wg_peer *peer, bool update_only);

/** The update-only flag (false for NULL). */
MR_API bool mr_wg_peer_get_update_only(const mr_wg_peer *peer);

/** Bytes received from the peer (read back; 0 otherwise or for NULL). */
MR_API uint64_t mr_wg_peer_get_rx_bytes(const mr_wg_peer *peer);

/** Bytes sent to the peer (read back; 0 otherwise or for NULL). */
MR_API uint64_t mr_wg_peer_get_tx_bytes(const mr_wg_peer *peer);

/**
 * Time of the last completed handshake with the peer (read back), as
 * seconds and nanoseconds since the Unix epoch (CLOCK_REALTIME); both 0 when
 * there was none.
 *
 * @param sec receives the seconds; may be NULL.
 * @param nsec receives the nanoseconds (0 to 999999999); may be NULL.
 * @return 0 or MR_EINVAL (peer is NULL).
 */
MR_API int mr_wg_peer_get_last_handshake(const mr_wg_peer *peer, int64_t *sec, int64_t *nsec);

/** The WireGuard protocol version the device reports for the peer (1), or 0
 * when not read back. */
MR_API uint32_t mr_wg_peer_get_protocol_version(const mr_wg_peer *peer);

/* ---------------------------------------------------------------------- */
/* Operations on a device                                                  */
/* ---------------------------------------------------------------------- */

/**
 * Apply a configuration as it is: the set fields of the device, the
 * replace-peers flag, and every peer with its set fields and flags (remove,
 * update-only, replace-allowed-IPs). Fields that are not set are left as
 * they are on the device.
 *
 * The whole configuration is validated first (besides what the setters
 * check: no allowed IP given twice, no peer carrying the device's own public
 * key); nothing is sent if it is refused. With the kernel backend, large
 * configurations are sent as several netlink messages; should the kernel
 * fail in the middle (out of memory), the messages before have been applied,
 * as with `wg setconf`.
 *
 * @param ctx the context (selects the backend).
 * @param ifname the WireGuard interface (validated as an interface name).
 * @param config the configuration.
 * @return 0, MR_EINVAL (bad argument or configuration), MR_ENOTFOUND (no such
 *         device, or no backend has it), MR_ENOTSUP (MR_BACKEND_KERNEL without
 *         the kernel module), MR_EEXIST (listen port in use), MR_EPERM,
 *         MR_EKERNEL, MR_EIO, MR_ETIMEOUT, MR_ENOMEM or another code for what
 *         the backend reports; the detail names the device.
 */
MR_API int mr_wg_set(mr_ctx *ctx, const char *ifname, const mr_wg_device *config);

/**
 * Read a device back: private key (see the explicit getter), public key,
 * listen port, fwmark, and every peer with its preshared key, endpoint,
 * keepalive, allowed IPs, counters, last handshake and protocol version.
 *
 * @param ctx the context (selects the backend).
 * @param ifname the WireGuard interface.
 * @param out receives a new device; written only on success. Free it with
 *        mr_wg_device_free().
 * @return 0, MR_EINVAL, MR_ENOTFOUND, MR_ENOTSUP, MR_EPERM, MR_EINVAL (the
 *         device exceeds the MR_WG_MAX_* limits), MR_ECONFLICT (the kernel's
 *         peer list kept changing during the dump), MR_EKERNEL, MR_EIO,
 *         MR_ETIMEOUT or MR_ENOMEM.
 */
MR_API int mr_wg_get(mr_ctx *ctx, const char *ifname, mr_wg_device **out);

/**
 * Make a device match a desired configuration with the smallest change:
 * read the device, compare peer by peer, and send one update holding only
 * the differences, so that peers that did not change keep their session
 * (their handshake and counters are not touched). Rules:
 *
 *  - the private key, listen port and fwmark are changed only when set in
 *    desired and different on the device (a desired listen port of 0 means
 *    "any port" and never causes a change);
 *  - peers of the device that desired does not list, or lists with the
 *    remove flag, are removed; peers missing from the device are added;
 *  - for a peer on both sides, desired is the truth for the preshared key
 *    (unset means none), the keepalive (unset means 0) and the set of
 *    allowed IPs (compared as sets, order does not matter; replaced as a
 *    whole only when the sets differ); the endpoint is changed only when
 *    desired sets one that differs (an endpoint learned by roaming is
 *    kept: neither backend can clear it). Changed peers are sent with the
 *    update-only flag so that a peer removed meanwhile is not re-created.
 *  - desired's replace-peers flag and per-peer replace / update-only flags
 *    are ignored.
 *
 * Adding one peer to a device of 10,000 sends one small message.
 *
 * @param ctx the context (selects the backend).
 * @param ifname the WireGuard interface.
 * @param desired the desired configuration (validated as by mr_wg_set()).
 * @param flags 0 or MR_WG_SYNC_DRY_RUN.
 * @param out receives the statistics; may be NULL. Written only on success.
 * @return as mr_wg_get() and mr_wg_set(); MR_EINVAL also for unknown flags.
 */
MR_API int mr_wg_sync(mr_ctx *ctx, const char *ifname, const mr_wg_device *desired, uint32_t flags,
		      mr_wg_sync_stats *out);

/* ---------------------------------------------------------------------- */
/* Userspace implementation                                                */
/* ---------------------------------------------------------------------- */

/**
 * Start the userspace WireGuard program (mr_ctx_get_wireguard_go()) for an
 * interface, for nodes without the kernel module: it creates a TUN device
 * named ifname in the caller's network namespace and the control socket
 * `<userspace dir>/<ifname>.sock` (wireguard-go always uses
 * /var/run/wireguard, the default userspace dir).
 *
 * The program runs in the foreground (WG_PROCESS_FOREGROUND=1), so the pid
 * returned is the daemon itself and the caller can supervise it: it is a
 * child of the calling process, in a session of its own (a terminal's
 * signals do not reach it), with standard input and output on /dev/null.
 * Reap it with waitpid() or mr_wg_stop_userspace(). Its environment is the
 * caller's plus WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 (Debian's
 * wireguard-go refuses to start on recent kernels without it).
 *
 * Returns once the control socket accepts connections.
 *
 * @param ctx the context.
 * @param ifname the interface name (validated).
 * @param out_pid receives the process id; may be NULL. Written only on
 *        success.
 * @return 0, MR_EINVAL, MR_EEXIST (a process already serves this socket),
 *         MR_ENOTFOUND (the program cannot be run), MR_ESYS (it exited at
 *         start; the detail has its exit status), MR_ETIMEOUT (no socket
 *         within 5 seconds; the process is killed) or MR_ENOMEM.
 */
MR_API int mr_wg_start_userspace(mr_ctx *ctx, const char *ifname, pid_t *out_pid);

/**
 * Stop a userspace WireGuard process: SIGTERM, wait up to 5 seconds for it
 * to exit (reaping it when it is a child of the caller), then SIGKILL. The
 * process removes its TUN device and socket when it exits; a socket left
 * behind by a killed process is removed here.
 *
 * @param ctx the context.
 * @param ifname the interface the process serves (validated; used for the
 *        socket).
 * @param pid the process, as returned by mr_wg_start_userspace().
 * @return 0 (also when the process had already exited), MR_EINVAL (bad
 *         argument, pid <= 0), MR_EPERM or MR_ESYS.
 */
MR_API int mr_wg_stop_userspace(mr_ctx *ctx, const char *ifname, pid_t pid);

MR_END_DECLS

#endif

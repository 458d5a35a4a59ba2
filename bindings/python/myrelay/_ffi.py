# SPDX-License-Identifier: MIT
"""Loading libmyrelay and its prototype table.

The library is ``$MYRELAY_LIBRARY`` if set, else the SONAME
``libmyrelay.so.0`` (never the unversioned development symlink). Every
exported function has exactly one entry in ``PROTOTYPES``:
``name -> (restype, argtypes, errcheck)``; the table is applied once at
import, and a test compares it with the library's symbol map.
"""
import ctypes
import os
from ctypes import (POINTER, Structure, c_bool, c_char, c_char_p, c_int,
                    c_size_t, c_uint, c_uint8, c_uint32, c_uint64, c_void_p)

from . import errors

SONAME = "libmyrelay.so.0"


def _load():
    path = os.environ.get("MYRELAY_LIBRARY") or SONAME
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"cannot load libmyrelay from {path!r}: {e}. "
                          "Install libmyrelay or set MYRELAY_LIBRARY.") from e


lib = _load()


def check(result, func, args):
    """errcheck for functions returning 0 or a negative MR_E* code."""
    if result < 0:
        raise errors.from_code(result, lib.mr_error_message().decode("utf-8", "replace"))
    return result


def take_string(ptr):
    """Copy a library-allocated C string (a c_void_p) and free it."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib.mr_free(ptr)


def encode(s, what="value"):
    """str -> bytes for a const char * argument; NUL is refused here because
    C would silently cut the string at it."""
    if isinstance(s, bytes):
        b = s
    elif isinstance(s, str):
        b = s.encode("utf-8")
    else:
        raise TypeError(f"{what}: expected str, got {type(s).__name__}")
    if b"\0" in b:
        raise errors.InvalidInputError(f"{what}: contains a NUL character", -1)
    return b


# ---------------------------------------------------------------------------
# Shared C types
# ---------------------------------------------------------------------------

# key
class MrKey(Structure):
    """struct mr_key: 32 bytes (a private, public or preshared key)."""
    _fields_ = [("bytes", c_uint8 * 32)]


# cidr
class MrPrefix(Structure):
    """struct mr_prefix: an IPv4 or IPv6 address with a prefix length."""
    _fields_ = [("family", c_uint8), ("len", c_uint8), ("pad", c_uint8 * 2),
                ("addr", c_uint8 * 16)]


class MrCidrPool(Structure):
    """struct mr_cidr_pool: an opaque subnet pool (handle only)."""


class MrCidrHosts(Structure):
    """struct mr_cidr_hosts: an opaque host-address allocator (handle only)."""


# conf
class MrConf(Structure):
    """struct mr_conf: an opaque client configuration (handle only)."""


# ctx
class MrCtx(Structure):
    """struct mr_ctx: an opaque node-side context (handle only)."""


class MrLogUserdata(Structure):
    """Opaque user data of the log callback (void *userdata)."""


# void (*mr_log_fn)(int level, const char *message, void *userdata)
MrLogFn = ctypes.CFUNCTYPE(None, c_int, c_char_p, POINTER(MrLogUserdata))


# link
class MrLinkList(Structure):
    """struct mr_link_list: an opaque snapshot of links (handle only)."""


# wg
class MrWgDevice(Structure):
    """struct mr_wg_device: an opaque WireGuard device configuration (handle only)."""


class MrWgPeer(Structure):
    """struct mr_wg_peer: an opaque peer, borrowed from its device (handle only)."""


class MrWgSyncStats(Structure):
    """struct mr_wg_sync_stats: what mr_wg_sync() changed."""
    _fields_ = [("added", c_uint32), ("removed", c_uint32), ("updated", c_uint32),
                ("unchanged", c_uint32), ("device_changed", c_uint32), ("messages", c_uint32),
                ("bytes_sent", c_uint64), ("reserved", c_uint64 * 4)]


# fw
class MrFwPod(Structure):
    """struct mr_fw_pod: an opaque pod firewall spec (handle only)."""


# pod
class MrPodSpec(Structure):
    """struct mr_pod_spec: an opaque desired pod (handle only)."""


class MrPodReport(Structure):
    """struct mr_pod_report: what mr_pod_apply() changed."""
    _fields_ = [("link_created", c_uint32), ("mtu_changed", c_uint32),
                ("up_changed", c_uint32), ("addresses_added", c_uint32),
                ("addresses_removed", c_uint32), ("userspace_pid", ctypes.c_int32),
                ("peers", MrWgSyncStats), ("reserved", c_uint64 * 4)]


# api
class MrApi(Structure):
    """struct mr_api: an opaque API client (handle only)."""


# store
class MrStore(Structure):
    """struct mr_store: an opaque open store (handle only)."""


class MrUserdata(Structure):
    """Opaque user data handed back to a callback (void *userdata)."""


# int64_t (*now)(void *userdata), the clock of mr_store_set_clock().
MrStoreClock = ctypes.CFUNCTYPE(ctypes.c_int64, POINTER(MrUserdata))


# state
class MrState(Structure):
    """struct mr_state: an opaque parsed desired state (handle only)."""


class MrStatePod(Structure):
    """struct mr_state_pod: a pod, borrowed from its state (handle only)."""


class MrStatePeer(Structure):
    """struct mr_state_peer: a peer, borrowed from its state (handle only)."""


class MrStateReport(Structure):
    """struct mr_state_report: an opaque report being built (handle only)."""


# ---------------------------------------------------------------------------
# The prototype table
# ---------------------------------------------------------------------------
PROTOTYPES = {
    # error
    "mr_strerror": (c_char_p, [c_int], None),
    "mr_error_name": (c_char_p, [c_int], None),
    "mr_error_message": (c_char_p, [], None),
    "mr_error_last": (c_int, [], None),
    "mr_error_clear": (None, [], None),
    "mr_free": (None, [c_void_p], None),
    "mr_version": (c_char_p, [], None),
    "mr_version_number": (c_uint32, [], None),

    # key
    "mr_key_generate_private": (c_int, [POINTER(MrKey)], check),
    "mr_key_generate_preshared": (c_int, [POINTER(MrKey)], check),
    "mr_key_public_from_private": (c_int, [POINTER(MrKey), POINTER(MrKey)], check),
    "mr_key_to_base64": (c_int, [POINTER(c_char), c_size_t, POINTER(MrKey)], check),
    "mr_key_from_base64": (c_int, [POINTER(MrKey), c_char_p], check),
    "mr_key_public_from_base64": (c_int, [POINTER(MrKey), c_char_p], check),
    "mr_key_validate_public": (c_int, [c_char_p], check),
    "mr_key_is_zero": (c_bool, [POINTER(MrKey)], None),
    "mr_key_equal": (c_bool, [POINTER(MrKey), POINTER(MrKey)], None),
    "mr_key_wipe": (None, [POINTER(MrKey)], None),

    # cidr
    "mr_cidr_parse_network": (c_int, [POINTER(MrPrefix), c_char_p], check),
    "mr_cidr_parse_interface": (c_int, [POINTER(MrPrefix), c_char_p], check),
    "mr_cidr_parse_address": (c_int, [POINTER(MrPrefix), c_char_p], check),
    "mr_cidr_parse": (c_int, [POINTER(MrPrefix), c_char_p], check),
    "mr_cidr_format": (c_int, [POINTER(c_char), c_size_t, POINTER(MrPrefix)], check),
    "mr_cidr_format_address": (c_int, [POINTER(c_char), c_size_t, POINTER(MrPrefix)], check),
    "mr_cidr_contains": (c_bool, [POINTER(MrPrefix), POINTER(MrPrefix)], None),
    "mr_cidr_overlaps": (c_bool, [POINTER(MrPrefix), POINTER(MrPrefix)], None),
    "mr_cidr_network": (c_int, [POINTER(MrPrefix), POINTER(MrPrefix)], check),
    "mr_cidr_subtract": (c_int, [POINTER(POINTER(MrPrefix)), POINTER(c_size_t),
                                 POINTER(MrPrefix), c_size_t, POINTER(MrPrefix), c_size_t],
                         check),
    "mr_cidr_pool_new": (c_int, [POINTER(POINTER(MrCidrPool)), POINTER(MrPrefix), c_uint],
                         check),
    "mr_cidr_pool_free": (None, [POINTER(MrCidrPool)], None),
    "mr_cidr_pool_alloc": (c_int, [POINTER(MrCidrPool), POINTER(MrPrefix)], check),
    "mr_cidr_pool_mark_used": (c_int, [POINTER(MrCidrPool), POINTER(MrPrefix)], check),
    "mr_cidr_pool_release": (c_int, [POINTER(MrCidrPool), POINTER(MrPrefix)], check),
    "mr_cidr_pool_count_free": (c_int, [POINTER(MrCidrPool), POINTER(c_uint64)], check),
    "mr_cidr_hosts_new": (c_int, [POINTER(POINTER(MrCidrHosts)), POINTER(MrPrefix)], check),
    "mr_cidr_hosts_free": (None, [POINTER(MrCidrHosts)], None),
    "mr_cidr_hosts_gateway": (c_int, [POINTER(MrCidrHosts), POINTER(MrPrefix)], check),
    "mr_cidr_hosts_alloc": (c_int, [POINTER(MrCidrHosts), POINTER(MrPrefix)], check),
    "mr_cidr_hosts_mark_used": (c_int, [POINTER(MrCidrHosts), POINTER(MrPrefix)], check),
    "mr_cidr_hosts_release": (c_int, [POINTER(MrCidrHosts), POINTER(MrPrefix)], check),
    "mr_cidr_hosts_count_free": (c_int, [POINTER(MrCidrHosts), POINTER(c_uint64)], check),

    # token
    "mr_token_generate": (c_int, [POINTER(c_char), c_size_t, c_int, POINTER(c_char), c_size_t,
                                  POINTER(c_uint8)], check),
    "mr_token_parse": (c_int, [c_char_p, POINTER(c_int), POINTER(c_char), c_size_t,
                               POINTER(c_uint8)], check),
    "mr_token_verify": (c_int, [c_char_p, c_int, c_char_p, POINTER(c_uint8)], check),
    "mr_token_hash_hex": (c_int, [POINTER(c_char), c_size_t, POINTER(c_uint8)], check),
    "mr_token_hash_from_hex": (c_int, [POINTER(c_uint8), c_char_p], check),
    "mr_token_kind_name": (c_char_p, [c_int], None),
    "mr_token_kind_from_name": (c_int, [c_char_p], check),
    "mr_token_kind_scopes": (c_uint32, [c_int], None),
    "mr_token_kind_allows": (c_bool, [c_int, c_uint32], None),
    "mr_token_wipe": (None, [POINTER(c_char), c_size_t], None),

    # conf
    "mr_conf_new": (c_int, [POINTER(POINTER(MrConf))], check),
    "mr_conf_free": (None, [POINTER(MrConf)], None),
    "mr_conf_set_private_key": (c_int, [POINTER(MrConf), c_char_p], check),
    "mr_conf_add_address": (c_int, [POINTER(MrConf), c_char_p], check),
    "mr_conf_add_dns": (c_int, [POINTER(MrConf), c_char_p], check),
    "mr_conf_set_mtu": (c_int, [POINTER(MrConf), c_uint32], check),
    "mr_conf_set_peer_public_key": (c_int, [POINTER(MrConf), c_char_p], check),
    "mr_conf_set_preshared_key": (c_int, [POINTER(MrConf), c_char_p], check),
    "mr_conf_set_endpoint": (c_int, [POINTER(MrConf), c_char_p], check),
    "mr_conf_add_allowed_ip": (c_int, [POINTER(MrConf), c_char_p], check),
    "mr_conf_set_keepalive": (c_int, [POINTER(MrConf), c_uint32], check),
    "mr_conf_render": (c_int, [POINTER(MrConf), POINTER(c_void_p)], check),
    "mr_conf_free_text": (None, [POINTER(c_char)], None),
    "mr_conf_parse": (c_int, [POINTER(POINTER(MrConf)), c_char_p], check),
    "mr_conf_get_private_key": (c_char_p, [POINTER(MrConf)], None),
    "mr_conf_address_count": (c_size_t, [POINTER(MrConf)], None),
    "mr_conf_get_address": (c_char_p, [POINTER(MrConf), c_size_t], None),
    "mr_conf_dns_count": (c_size_t, [POINTER(MrConf)], None),
    "mr_conf_get_dns": (c_char_p, [POINTER(MrConf), c_size_t], None),
    "mr_conf_get_mtu": (c_uint32, [POINTER(MrConf)], None),
    "mr_conf_get_peer_public_key": (c_char_p, [POINTER(MrConf)], None),
    "mr_conf_get_preshared_key": (c_char_p, [POINTER(MrConf)], None),
    "mr_conf_get_endpoint": (c_char_p, [POINTER(MrConf)], None),
    "mr_conf_allowed_ip_count": (c_size_t, [POINTER(MrConf)], None),
    "mr_conf_get_allowed_ip": (c_char_p, [POINTER(MrConf), c_size_t], None),
    "mr_conf_get_keepalive": (c_uint32, [POINTER(MrConf)], None),

    # name
    "mr_name_validate_interface": (c_int, [c_char_p], check),
    "mr_name_pod_interface": (c_int, [POINTER(c_char), c_size_t, c_char_p], check),
    "mr_name_is_pod_interface": (c_bool, [c_char_p], None),
    "mr_name_validate_label": (c_int, [c_char_p], check),

    # ctx
    "mr_ctx_new": (c_int, [POINTER(POINTER(MrCtx))], check),
    "mr_ctx_free": (None, [POINTER(MrCtx)], None),
    "mr_ctx_set_log": (c_int, [POINTER(MrCtx), MrLogFn, c_int, POINTER(MrLogUserdata)], check),
    "mr_ctx_set_backend": (c_int, [POINTER(MrCtx), c_int], check),
    "mr_ctx_get_backend": (c_int, [POINTER(MrCtx)], check),
    "mr_ctx_has_kernel_wireguard": (c_int, [POINTER(MrCtx), POINTER(c_bool)], check),
    "mr_ctx_set_userspace_dir": (c_int, [POINTER(MrCtx), c_char_p], check),
    "mr_ctx_get_userspace_dir": (c_char_p, [POINTER(MrCtx)], None),
    "mr_ctx_set_wireguard_go": (c_int, [POINTER(MrCtx), c_char_p], check),
    "mr_ctx_get_wireguard_go": (c_char_p, [POINTER(MrCtx)], None),

    # link
    "mr_link_create_wireguard": (c_int, [POINTER(MrCtx), c_char_p], check),
    "mr_link_delete": (c_int, [POINTER(MrCtx), c_char_p], check),
    "mr_link_exists": (c_int, [POINTER(MrCtx), c_char_p, POINTER(c_bool)], check),
    "mr_link_dump": (c_int, [POINTER(MrCtx), c_char_p, POINTER(POINTER(MrLinkList))], check),
    "mr_link_get": (c_int, [POINTER(MrCtx), c_char_p, POINTER(POINTER(MrLinkList))], check),
    "mr_link_list_free": (None, [POINTER(MrLinkList)], None),
    "mr_link_list_count": (c_size_t, [POINTER(MrLinkList)], None),
    "mr_link_list_name": (c_char_p, [POINTER(MrLinkList), c_size_t], None),
    "mr_link_list_info": (c_int, [POINTER(MrLinkList), c_size_t, POINTER(c_uint32),
                                  POINTER(c_uint32), POINTER(c_bool), POINTER(c_char_p)], check),
    "mr_link_set_mtu": (c_int, [POINTER(MrCtx), c_char_p, c_uint32], check),
    "mr_link_set_up": (c_int, [POINTER(MrCtx), c_char_p, c_bool], check),
    "mr_link_get_addresses": (c_int, [POINTER(MrCtx), c_char_p, POINTER(POINTER(MrPrefix)),
                                      POINTER(c_size_t)], check),
    "mr_link_set_addresses": (c_int, [POINTER(MrCtx), c_char_p, POINTER(MrPrefix), c_size_t,
                                      POINTER(c_size_t), POINTER(c_size_t)], check),
    "mr_link_default_route_ifaces": (c_int, [POINTER(MrCtx), c_int,
                                             POINTER(POINTER(MrLinkList))], check),

    # wg
    "mr_wg_device_new": (c_int, [POINTER(POINTER(MrWgDevice))], check),
    "mr_wg_device_free": (None, [POINTER(MrWgDevice)], None),
    "mr_wg_device_set_private_key": (c_int, [POINTER(MrWgDevice), POINTER(MrKey)], check),
    "mr_wg_device_has_private_key": (c_bool, [POINTER(MrWgDevice)], None),
    "mr_wg_device_get_private_key": (c_int, [POINTER(MrWgDevice), POINTER(MrKey)], check),
    "mr_wg_device_get_public_key": (c_int, [POINTER(MrWgDevice), POINTER(MrKey)], check),
    "mr_wg_device_set_listen_port": (c_int, [POINTER(MrWgDevice), c_uint32], check),
    "mr_wg_device_has_listen_port": (c_bool, [POINTER(MrWgDevice)], None),
    "mr_wg_device_get_listen_port": (c_uint32, [POINTER(MrWgDevice)], None),
    "mr_wg_device_set_fwmark": (c_int, [POINTER(MrWgDevice), c_uint32], check),
    "mr_wg_device_has_fwmark": (c_bool, [POINTER(MrWgDevice)], None),
    "mr_wg_device_get_fwmark": (c_uint32, [POINTER(MrWgDevice)], None),
    "mr_wg_device_set_replace_peers": (c_int, [POINTER(MrWgDevice), c_bool], check),
    "mr_wg_device_get_replace_peers": (c_bool, [POINTER(MrWgDevice)], None),
    "mr_wg_device_add_peer": (c_int, [POINTER(MrWgDevice), POINTER(MrKey),
                                      POINTER(POINTER(MrWgPeer))], check),
    "mr_wg_device_peer_count": (c_size_t, [POINTER(MrWgDevice)], None),
    "mr_wg_device_peer": (POINTER(MrWgPeer), [POINTER(MrWgDevice), c_size_t], None),
    "mr_wg_device_find_peer": (POINTER(MrWgPeer), [POINTER(MrWgDevice), POINTER(MrKey)], None),
    "mr_wg_peer_get_public_key": (c_int, [POINTER(MrWgPeer), POINTER(MrKey)], check),
    "mr_wg_peer_set_preshared_key": (c_int, [POINTER(MrWgPeer), POINTER(MrKey)], check),
    "mr_wg_peer_has_preshared_key": (c_bool, [POINTER(MrWgPeer)], None),
    "mr_wg_peer_get_preshared_key": (c_int, [POINTER(MrWgPeer), POINTER(MrKey)], check),
    "mr_wg_peer_set_endpoint": (c_int, [POINTER(MrWgPeer), c_char_p], check),
    "mr_wg_peer_has_endpoint": (c_bool, [POINTER(MrWgPeer)], None),
    "mr_wg_peer_get_endpoint": (c_int, [POINTER(MrWgPeer), POINTER(c_char), c_size_t], check),
    "mr_wg_peer_set_keepalive": (c_int, [POINTER(MrWgPeer), c_uint32], check),
    "mr_wg_peer_has_keepalive": (c_bool, [POINTER(MrWgPeer)], None),
    "mr_wg_peer_get_keepalive": (c_uint32, [POINTER(MrWgPeer)], None),
    "mr_wg_peer_add_allowed_ip": (c_int, [POINTER(MrWgPeer), POINTER(MrPrefix)], check),
    "mr_wg_peer_allowed_ip_count": (c_size_t, [POINTER(MrWgPeer)], None),
    "mr_wg_peer_get_allowed_ip": (c_int, [POINTER(MrWgPeer), c_size_t, POINTER(MrPrefix)],
                                  check),
    "mr_wg_peer_set_replace_allowed_ips": (c_int, [POINTER(MrWgPeer), c_bool], check),
    "mr_wg_peer_get_replace_allowed_ips": (c_bool, [POINTER(MrWgPeer)], None),
    "mr_wg_peer_set_remove": (c_int, [POINTER(MrWgPeer), c_bool], check),
    "mr_wg_peer_get_remove": (c_bool, [POINTER(MrWgPeer)], None),
    "mr_wg_peer_set_update_only": (c_int, [POINTER(MrWgPeer), c_bool], check),
    "mr_wg_peer_get_update_only": (c_bool, [POINTER(MrWgPeer)], None),
    "mr_wg_peer_get_rx_bytes": (c_uint64, [POINTER(MrWgPeer)], None),
    "mr_wg_peer_get_tx_bytes": (c_uint64, [POINTER(MrWgPeer)], None),
    "mr_wg_peer_get_last_handshake": (c_int, [POINTER(MrWgPeer), POINTER(ctypes.c_int64),
                                              POINTER(ctypes.c_int64)], check),
    "mr_wg_peer_get_protocol_version": (c_uint32, [POINTER(MrWgPeer)], None),
    "mr_wg_set": (c_int, [POINTER(MrCtx), c_char_p, POINTER(MrWgDevice)], check),
    "mr_wg_get": (c_int, [POINTER(MrCtx), c_char_p, POINTER(POINTER(MrWgDevice))], check),
    "mr_wg_sync": (c_int, [POINTER(MrCtx), c_char_p, POINTER(MrWgDevice), c_uint32,
                           POINTER(MrWgSyncStats)], check),
    "mr_wg_start_userspace": (c_int, [POINTER(MrCtx), c_char_p, POINTER(c_int)], check),
    "mr_wg_stop_userspace": (c_int, [POINTER(MrCtx), c_char_p, c_int], check),

    # fw
    "mr_fw_pod_new": (c_int, [POINTER(POINTER(MrFwPod)), c_char_p], check),
    "mr_fw_pod_free": (None, [POINTER(MrFwPod)], None),
    "mr_fw_pod_add_subnet": (c_int, [POINTER(MrFwPod), POINTER(MrPrefix)], check),
    "mr_fw_pod_set_listen_port": (c_int, [POINTER(MrFwPod), c_uint32], check),
    "mr_fw_pod_set_options": (c_int, [POINTER(MrFwPod), c_uint32], check),
    "mr_fw_apply_pod": (c_int, [POINTER(MrCtx), POINTER(MrFwPod), POINTER(c_char_p), c_size_t],
                        check),
    "mr_fw_apply_pod_auto": (c_int, [POINTER(MrCtx), POINTER(MrFwPod)], check),
    "mr_fw_remove_pod": (c_int, [POINTER(MrCtx), c_char_p], check),
    "mr_fw_list_pods": (c_int, [POINTER(MrCtx), POINTER(POINTER(c_char_p)), POINTER(c_size_t)],
                        check),
    "mr_fw_counter_name": (c_char_p, [c_int], None),
    "mr_fw_pod_counters": (c_int, [POINTER(MrCtx), c_char_p, POINTER(c_uint64),
                                   POINTER(c_uint64), c_size_t], check),
    "mr_fw_destroy": (c_int, [POINTER(MrCtx)], check),

    # pod
    "mr_pod_spec_new": (c_int, [POINTER(POINTER(MrPodSpec)), c_char_p], check),
    "mr_pod_spec_free": (None, [POINTER(MrPodSpec)], None),
    "mr_pod_spec_get_ifname": (c_char_p, [POINTER(MrPodSpec)], None),
    "mr_pod_spec_set_private_key": (c_int, [POINTER(MrPodSpec), POINTER(MrKey)], check),
    "mr_pod_spec_set_listen_port": (c_int, [POINTER(MrPodSpec), c_uint32], check),
    "mr_pod_spec_set_mtu": (c_int, [POINTER(MrPodSpec), c_uint32], check),
    "mr_pod_spec_add_address": (c_int, [POINTER(MrPodSpec), POINTER(MrPrefix)], check),
    "mr_pod_spec_set_options": (c_int, [POINTER(MrPodSpec), c_uint32], check),
    "mr_pod_spec_set_uplinks": (c_int, [POINTER(MrPodSpec), POINTER(c_char_p), c_size_t], check),
    "mr_pod_spec_add_peer": (c_int, [POINTER(MrPodSpec), POINTER(MrKey), POINTER(MrKey),
                                     POINTER(MrPrefix), c_size_t], check),
    "mr_pod_spec_peer_count": (c_size_t, [POINTER(MrPodSpec)], None),
    "mr_pod_apply": (c_int, [POINTER(MrCtx), POINTER(MrPodSpec), POINTER(MrPodReport)], check),
    "mr_pod_teardown": (c_int, [POINTER(MrCtx), c_char_p], check),
    "mr_pod_list": (c_int, [POINTER(MrCtx), POINTER(POINTER(c_char_p)),
                            POINTER(POINTER(c_uint32)), POINTER(c_size_t)], check),

    # store
    "mr_store_open": (c_int, [POINTER(POINTER(MrStore)), c_char_p, c_uint32], check),
    "mr_store_close": (None, [POINTER(MrStore)], None),
    "mr_store_set_clock": (None, [POINTER(MrStore), MrStoreClock, POINTER(MrUserdata)], None),
    "mr_store_set_actor": (c_int, [POINTER(MrStore), c_char_p], check),
    "mr_store_node_register": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_node_list": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_node_show": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_node_set_status": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_node_delete": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_customer_create": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_customer_list": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_customer_show": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_customer_set_plan": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_customer_delete": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_pod_create": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_pod_list": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_pod_show": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_pod_delete": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_peer_add": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_peer_list": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_peer_show": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_peer_enable": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_peer_disable": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_peer_rename": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_peer_set_expiry": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_peer_remove": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_token_issue": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_token_list": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_token_revoke": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_token_set_expiry": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_audit_list": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_node_desired": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_node_generation": (c_int, [POINTER(MrStore), c_char_p, POINTER(ctypes.c_int64)],
                                 check),
    "mr_store_token_verify": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_overview": (c_int, [POINTER(MrStore), POINTER(c_void_p)], check),
    "mr_store_tick": (c_int, [POINTER(MrStore)], check),
    "mr_store_next_expiry": (c_int, [POINTER(MrStore), POINTER(ctypes.c_int64)], check),
    "mr_store_node_report": (c_int, [POINTER(MrStore), c_char_p, c_char_p, POINTER(c_void_p)],
                             check),
    "mr_store_usage": (c_int, [POINTER(MrStore), c_char_p, POINTER(c_void_p)], check),
    "mr_store_backup_key_create": (c_int, [c_char_p], check),
    "mr_store_backup": (c_int, [POINTER(MrStore), c_char_p, c_char_p], check),
    "mr_store_restore": (c_int, [c_char_p, c_char_p, c_char_p], check),

    # api
    "mr_api_new": (c_int, [POINTER(POINTER(MrApi)), c_char_p, c_char_p, c_char_p], check),
    "mr_api_free": (None, [POINTER(MrApi)], None),
    "mr_api_set_allow_http": (c_int, [POINTER(MrApi), c_bool], check),
    "mr_api_set_timeout": (c_int, [POINTER(MrApi), c_uint32], check),
    "mr_api_set_connect_timeout": (c_int, [POINTER(MrApi), c_uint32], check),
    "mr_api_set_user_agent": (c_int, [POINTER(MrApi), c_char_p], check),
    "mr_api_set_max_response": (c_int, [POINTER(MrApi), c_size_t], check),
    "mr_api_request": (c_int, [POINTER(MrApi), c_char_p, c_char_p, c_char_p,
                               POINTER(ctypes.c_long), POINTER(c_void_p)], check),
    "mr_api_request_timeout": (c_int, [POINTER(MrApi), c_char_p, c_char_p, c_char_p, c_uint32,
                                       POINTER(ctypes.c_long), POINTER(c_void_p)], check),
    "mr_api_last_status": (ctypes.c_long, [POINTER(MrApi)], None),
    "mr_api_retry_after": (c_uint32, [POINTER(MrApi)], None),
    "mr_api_get_url": (c_char_p, [POINTER(MrApi)], None),
    "mr_api_free_body": (None, [POINTER(c_char)], None),

    # state
    "mr_state_parse": (c_int, [POINTER(POINTER(MrState)), POINTER(c_char), c_size_t, c_uint32],
                       check),
    "mr_state_free": (None, [POINTER(MrState)], None),
    "mr_state_get_generation": (ctypes.c_int64, [POINTER(MrState)], None),
    "mr_state_pod_count": (c_size_t, [POINTER(MrState)], None),
    "mr_state_pod_at": (POINTER(MrStatePod), [POINTER(MrState), c_size_t], None),
    "mr_state_find_pod": (POINTER(MrStatePod), [POINTER(MrState), c_char_p], None),
    "mr_state_pod_get_id": (c_char_p, [POINTER(MrStatePod)], None),
    "mr_state_pod_get_interface": (c_char_p, [POINTER(MrStatePod)], None),
    "mr_state_pod_get_listen_port": (c_uint32, [POINTER(MrStatePod)], None),
    "mr_state_pod_address_count": (c_size_t, [POINTER(MrStatePod)], None),
    "mr_state_pod_get_address": (c_int, [POINTER(MrStatePod), c_size_t, POINTER(MrPrefix)],
                                 check),
    "mr_state_pod_peer_count": (c_size_t, [POINTER(MrStatePod)], None),
    "mr_state_pod_peer_at": (POINTER(MrStatePeer), [POINTER(MrStatePod), c_size_t], None),
    "mr_state_peer_get_public_key": (c_int, [POINTER(MrStatePeer), POINTER(MrKey)], check),
    "mr_state_peer_has_preshared_key": (c_bool, [POINTER(MrStatePeer)], None),
    "mr_state_peer_get_preshared_key": (c_int, [POINTER(MrStatePeer), POINTER(MrKey)], check),
    "mr_state_peer_get_enabled": (c_bool, [POINTER(MrStatePeer)], None),
    "mr_state_peer_allowed_ip_count": (c_size_t, [POINTER(MrStatePeer)], None),
    "mr_state_peer_get_allowed_ip": (c_int, [POINTER(MrStatePeer), c_size_t, POINTER(MrPrefix)],
                                     check),
    "mr_state_pod_equal": (c_bool, [POINTER(MrStatePod), POINTER(MrStatePod)], None),
    "mr_state_pod_spec": (c_int, [POINTER(MrStatePod), POINTER(MrKey),
                                  POINTER(POINTER(MrPodSpec))], check),
    "mr_state_format": (c_int, [POINTER(MrState), POINTER(c_void_p)], check),
    "mr_state_free_text": (None, [POINTER(c_char)], None),
    "mr_state_report_new": (c_int, [POINTER(POINTER(MrStateReport)), ctypes.c_int64], check),
    "mr_state_report_free": (None, [POINTER(MrStateReport)], None),
    "mr_state_report_add_pod": (c_int, [POINTER(MrStateReport), c_char_p, POINTER(MrKey),
                                        c_char_p], check),
    "mr_state_report_add_peer": (c_int, [POINTER(MrStateReport), POINTER(MrKey), c_uint64,
                                         c_uint64, ctypes.c_int64], check),
    "mr_state_report_add_device": (c_int, [POINTER(MrStateReport), POINTER(MrWgDevice)], check),
    "mr_state_report_pod_count": (c_size_t, [POINTER(MrStateReport)], None),
    "mr_state_report_encode": (c_int, [POINTER(MrStateReport), c_size_t,
                                       POINTER(POINTER(c_char_p)), POINTER(c_size_t)], check),
}


def _apply():
    for name, (restype, argtypes, errcheck) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
        if errcheck is not None:
            fn.errcheck = errcheck


_apply()

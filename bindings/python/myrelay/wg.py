# SPDX-License-Identifier: MIT
"""WireGuard device configuration over the kernel module or a userspace
implementation (wireguard-go), through one API.

    >>> from myrelay import wg
    >>> from myrelay.ctx import Context
    >>> from myrelay.key import Key
    >>> dev = wg.Device(private_key=Key.generate(), listen_port=51820)
    >>> peer = dev.add_peer(client_pub, allowed_ips=["10.64.3.2/32"], keepalive=25)
    >>> with Context() as ctx:
    ...     stats = wg.sync(ctx, "wg-abc123", dev)   # smallest change
    ...     now = wg.get(ctx, "wg-abc123")
    ...     now.find_peer(client_pub).rx_bytes
    0

Fields are optional: only what is set is sent by :func:`set`; :func:`sync`
makes the device match (see its documentation). Every value is validated
when it is set; bad values raise :class:`myrelay.errors.InvalidInputError`
(a ``ValueError``) and change nothing. Keys may be :class:`myrelay.key.Key`
objects or base64 text; prefixes :class:`myrelay.cidr.Prefix` objects or text.

Secrets (the private key, preshared keys) are only returned by the explicit
methods :meth:`Device.private_key` and :meth:`Peer.preshared_key`, as
:class:`~myrelay.key.Key` objects that hide themselves when printed. The
library wipes its own copies when a :class:`Device` is closed.
"""
import ctypes
import weakref
from collections import namedtuple
from ctypes import POINTER, byref

from . import _ffi, cidr, errors
from ._ffi import MrPrefix, MrWgDevice, MrWgPeer, MrWgSyncStats, lib
from .key import PRESHARED, PRIVATE, PUBLIC, Key

__all__ = ["Device", "Peer", "SyncStats", "get", "set", "sync", "start_userspace",
           "stop_userspace", "MAX_PEERS", "MAX_ALLOWED_IPS", "MAX_DEVICE_ALLOWED_IPS",
           "PORT_MAX", "KEEPALIVE_MAX"]

MAX_PEERS = 1000000
MAX_ALLOWED_IPS = 65536
MAX_DEVICE_ALLOWED_IPS = 4000000
PORT_MAX = 65535
KEEPALIVE_MAX = 65535
_ENDPOINT_STRLEN = 64
_SYNC_DRY_RUN = 0x1

SyncStats = namedtuple("SyncStats", "added removed updated unchanged device_changed "
                                    "messages bytes_sent")
SyncStats.__doc__ = """What :func:`sync` changed (or would change, with dry_run)."""

_UINT32_MAX = 0xFFFFFFFF


def _uint32(value, what):
    """ctypes would silently wrap 2**32 + 5 to 5: refuse it here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what}: expected int, got {type(value).__name__}")
    if value < 0 or value > _UINT32_MAX:
        raise errors.InvalidInputError(f"{what}: {value} is out of range", -1)
    return value


def _key(value, kind):
    """A Key of the given kind from a Key or base64 text. Keep the result in
    a variable for as long as its buffer is used: a Key wipes its bytes when
    it is collected."""
    if isinstance(value, Key):
        return value
    if isinstance(value, (str, bytes)):
        if kind == PUBLIC:
            return Key.public_from_base64(value)
        return Key.from_base64(value, kind)
    raise TypeError(f"{kind} key: expected Key or base64 str, got {type(value).__name__}")


def _prefix(value):
    if isinstance(value, cidr.Prefix):
        return value
    return cidr.Prefix(value)


class Peer:
    """A peer of a :class:`Device` (borrowed: it keeps its device alive and
    becomes unusable when the device is closed)."""

    __slots__ = ("_device", "_ptr", "__weakref__")

    def __init__(self, device, ptr):
        self._device = device
        self._ptr = ptr

    @property
    def _h(self):
        self._device._handle_or_raise()
        return self._ptr

    # -- identity -----------------------------------------------------------
    @property
    def public_key(self):
        k = Key._empty(PUBLIC)
        lib.mr_wg_peer_get_public_key(self._h, byref(k._raw))
        return k

    # -- preshared key ------------------------------------------------------
    @property
    def has_preshared_key(self):
        return bool(lib.mr_wg_peer_has_preshared_key(self._h))

    def preshared_key(self):
        """The preshared key (a secret), or None."""
        if not lib.mr_wg_peer_has_preshared_key(self._h):
            return None
        k = Key._empty(PRESHARED)
        lib.mr_wg_peer_get_preshared_key(self._h, byref(k._raw))
        return k

    def set_preshared_key(self, key):
        """Set the preshared key; None means no preshared key (clears it on
        the device)."""
        if key is None:
            lib.mr_wg_peer_set_preshared_key(self._h, None)
        else:
            k = _key(key, PRESHARED)
            lib.mr_wg_peer_set_preshared_key(self._h, byref(k._raw))

    # -- endpoint, keepalive ------------------------------------------------
    @property
    def endpoint(self):
        """"ip:port" or "[ip6]:port", or None."""
        if not lib.mr_wg_peer_has_endpoint(self._h):
            return None
        buf = ctypes.create_string_buffer(_ENDPOINT_STRLEN)
        lib.mr_wg_peer_get_endpoint(self._h, buf, _ENDPOINT_STRLEN)
        return buf.value.decode("ascii")

    @endpoint.setter
    def endpoint(self, value):
        lib.mr_wg_peer_set_endpoint(self._h, _ffi.encode(value, "endpoint"))

    @property
    def keepalive(self):
        """Persistent keepalive interval in seconds (0: off), or None if unset."""
        if not lib.mr_wg_peer_has_keepalive(self._h):
            return None
        return lib.mr_wg_peer_get_keepalive(self._h)

    @keepalive.setter
    def keepalive(self, seconds):
        lib.mr_wg_peer_set_keepalive(self._h, _uint32(seconds, "keepalive"))

    # -- allowed IPs --------------------------------------------------------
    @property
    def allowed_ips(self):
        """The allowed IPs as a list of :class:`myrelay.cidr.Prefix`."""
        h = self._h
        out = []
        for i in range(lib.mr_wg_peer_allowed_ip_count(h)):
            raw = MrPrefix()
            lib.mr_wg_peer_get_allowed_ip(h, i, byref(raw))
            out.append(cidr.Prefix._wrap(raw))
        return out

    def add_allowed_ip(self, prefix):
        """Add a network ("10.0.0.0/24", host bits zero) or a Prefix."""
        lib.mr_wg_peer_add_allowed_ip(self._h, byref(_prefix(prefix)._raw))

    # -- flags --------------------------------------------------------------
    @property
    def replace_allowed_ips(self):
        return bool(lib.mr_wg_peer_get_replace_allowed_ips(self._h))

    @replace_allowed_ips.setter
    def replace_allowed_ips(self, value):
        lib.mr_wg_peer_set_replace_allowed_ips(self._h, bool(value))

    @property
    def remove(self):
        return bool(lib.mr_wg_peer_get_remove(self._h))

    @remove.setter
    def remove(self, value):
        lib.mr_wg_peer_set_remove(self._h, bool(value))

    @property
    def update_only(self):
        return bool(lib.mr_wg_peer_get_update_only(self._h))

    @update_only.setter
    def update_only(self, value):
        lib.mr_wg_peer_set_update_only(self._h, bool(value))

    # -- read back ----------------------------------------------------------
    @property
    def rx_bytes(self):
        return lib.mr_wg_peer_get_rx_bytes(self._h)

    @property
    def tx_bytes(self):
        return lib.mr_wg_peer_get_tx_bytes(self._h)

    @property
    def last_handshake(self):
        """(seconds, nanoseconds) since the epoch; (0, 0) when none."""
        sec, nsec = ctypes.c_int64(), ctypes.c_int64()
        lib.mr_wg_peer_get_last_handshake(self._h, byref(sec), byref(nsec))
        return sec.value, nsec.value

    @property
    def protocol_version(self):
        return lib.mr_wg_peer_get_protocol_version(self._h)

    def __repr__(self):
        return (f"<Peer {self.public_key.to_base64()} allowed_ips="
                f"{[str(p) for p in self.allowed_ips]} endpoint={self.endpoint}>")


def _free(handle):
    lib.mr_wg_device_free(handle)


class Device:
    """A WireGuard device configuration, or a device read back by :func:`get`.

    Keyword arguments set the corresponding fields; ``peers`` is an iterable
    of dicts of :meth:`add_peer` keyword arguments.
    """

    def __init__(self, *, private_key=None, listen_port=None, fwmark=None,
                 replace_peers=False, peers=()):
        handle = POINTER(MrWgDevice)()
        lib.mr_wg_device_new(byref(handle))
        self._adopt(handle)
        try:
            if private_key is not None:
                self.set_private_key(private_key)
            if listen_port is not None:
                self.listen_port = listen_port
            if fwmark is not None:
                self.fwmark = fwmark
            if replace_peers:
                self.replace_peers = True
            for p in peers:
                self.add_peer(**p)
        except BaseException:
            self.close()
            raise

    def _adopt(self, handle):
        self._handle = handle
        self._finalizer = weakref.finalize(self, _free, handle)

    @classmethod
    def _wrap(cls, handle):
        d = cls.__new__(cls)
        d._adopt(handle)
        return d

    def _handle_or_raise(self):
        if self._handle is None:
            raise ValueError("WireGuard device is closed")
        return self._handle

    @property
    def handle(self):
        """The underlying POINTER(MrWgDevice)."""
        return self._handle_or_raise()

    def close(self):
        """Free the device, wiping its keys (idempotent). Its peers become
        unusable."""
        if self._handle is not None:
            self._finalizer()
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- keys ---------------------------------------------------------------
    def set_private_key(self, key):
        """Set the private key (a Key or base64 text); None removes it."""
        if key is None:
            lib.mr_wg_device_set_private_key(self.handle, None)
        else:
            k = _key(key, PRIVATE)
            lib.mr_wg_device_set_private_key(self.handle, byref(k._raw))

    @property
    def has_private_key(self):
        return bool(lib.mr_wg_device_has_private_key(self.handle))

    def private_key(self):
        """The private key (a secret), or None."""
        if not lib.mr_wg_device_has_private_key(self.handle):
            return None
        k = Key._empty(PRIVATE)
        lib.mr_wg_device_get_private_key(self.handle, byref(k._raw))
        return k

    @property
    def public_key(self):
        """The public key derived from the private key, or None."""
        if not lib.mr_wg_device_has_private_key(self.handle):
            return None
        k = Key._empty(PUBLIC)
        lib.mr_wg_device_get_public_key(self.handle, byref(k._raw))
        return k

    # -- port, fwmark, flags ------------------------------------------------
    @property
    def listen_port(self):
        """The listen port, or None when unset."""
        if not lib.mr_wg_device_has_listen_port(self.handle):
            return None
        return lib.mr_wg_device_get_listen_port(self.handle)

    @listen_port.setter
    def listen_port(self, port):
        lib.mr_wg_device_set_listen_port(self.handle, _uint32(port, "listen port"))

    @property
    def fwmark(self):
        """The fwmark (0: off), or None when unset."""
        if not lib.mr_wg_device_has_fwmark(self.handle):
            return None
        return lib.mr_wg_device_get_fwmark(self.handle)

    @fwmark.setter
    def fwmark(self, mark):
        lib.mr_wg_device_set_fwmark(self.handle, _uint32(mark, "fwmark"))

    @property
    def replace_peers(self):
        return bool(lib.mr_wg_device_get_replace_peers(self.handle))

    @replace_peers.setter
    def replace_peers(self, value):
        lib.mr_wg_device_set_replace_peers(self.handle, bool(value))

    # -- peers --------------------------------------------------------------
    def add_peer(self, public_key, *, allowed_ips=(), preshared_key=None, endpoint=None,
                 keepalive=None, replace_allowed_ips=False, remove=False, update_only=False):
        """Add a peer and set the given fields; returns the :class:`Peer`.
        Raises ExistsError (a FileExistsError) for a key already present."""
        ptr = POINTER(MrWgPeer)()
        k = _key(public_key, PUBLIC)
        lib.mr_wg_device_add_peer(self.handle, byref(k._raw), byref(ptr))
        peer = Peer(self, ptr)
        for a in allowed_ips:
            peer.add_allowed_ip(a)
        if preshared_key is not None:
            peer.set_preshared_key(preshared_key)
        if endpoint is not None:
            peer.endpoint = endpoint
        if keepalive is not None:
            peer.keepalive = keepalive
        if replace_allowed_ips:
            peer.replace_allowed_ips = True
        if remove:
            peer.remove = True
        if update_only:
            peer.update_only = True
        return peer

    def __len__(self):
        return lib.mr_wg_device_peer_count(self.handle)

    @property
    def peers(self):
        """The peers, in order (see mr_wg_device_peer())."""
        h = self.handle
        return [Peer(self, lib.mr_wg_device_peer(h, i))
                for i in range(lib.mr_wg_device_peer_count(h))]

    def __iter__(self):
        return iter(self.peers)

    def find_peer(self, public_key):
        """The peer with this public key, or None."""
        k = _key(public_key, PUBLIC)
        ptr = lib.mr_wg_device_find_peer(self.handle, byref(k._raw))
        return Peer(self, ptr) if ptr else None

    def __repr__(self):
        if self._handle is None:
            return "<Device (closed)>"
        return f"<Device public_key={self.public_key} listen_port={self.listen_port} " \
               f"peers={len(self)}>"


def _ifname(ifname):
    return _ffi.encode(ifname, "interface name")


def get(ctx, ifname):
    """Read a device back (a new :class:`Device`, with counters and
    handshakes)."""
    handle = POINTER(MrWgDevice)()
    lib.mr_wg_get(ctx.handle, _ifname(ifname), byref(handle))
    return Device._wrap(handle)


def set(ctx, ifname, device):  # noqa: A001 - mirrors mr_wg_set
    """Apply a configuration as it is (see mr_wg_set())."""
    lib.mr_wg_set(ctx.handle, _ifname(ifname), device.handle)


def sync(ctx, ifname, device, dry_run=False):
    """Make the device match ``device`` with the smallest change; returns
    :class:`SyncStats`."""
    st = MrWgSyncStats()
    lib.mr_wg_sync(ctx.handle, _ifname(ifname), device.handle,
                   _SYNC_DRY_RUN if dry_run else 0, byref(st))
    return SyncStats(st.added, st.removed, st.updated, st.unchanged, st.device_changed,
                     st.messages, st.bytes_sent)


def start_userspace(ctx, ifname):
    """Start wireguard-go for ``ifname`` in the caller's network namespace;
    returns its pid once its control socket answers. The process is a child
    of this one: stop it with :func:`stop_userspace`."""
    pid = ctypes.c_int()
    lib.mr_wg_start_userspace(ctx.handle, _ifname(ifname), byref(pid))
    return pid.value


def stop_userspace(ctx, ifname, pid):
    """Stop a process started by :func:`start_userspace` (SIGTERM, then
    SIGKILL after 5 s) and reap it."""
    lib.mr_wg_stop_userspace(ctx.handle, _ifname(ifname), _uint32(pid, "pid"))

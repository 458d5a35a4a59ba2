# SPDX-License-Identifier: MIT
"""Pods on a node: a desired pod (Spec) applied to the kernel as a reconcile.

    >>> from myrelay import pod, ctx
    >>> spec = pod.Spec("wg-abc123", private_key=node_key, listen_port=51820,
    ...                 addresses=["10.64.1.1/24"])
    >>> spec.add_peer(device_public_key, allowed_ips=["10.64.1.2/32"])
    >>> with ctx.Context() as c:
    ...     report = pod.apply(c, spec)     # only what differs changes
    ...     pod.teardown(c, "wg-abc123")
"""
import ctypes
from collections import namedtuple

from . import _ffi
from ._ffi import MrKey, MrPrefix, MrPodReport, MrPodSpec, lib
from ._handle import Handle
from .cidr import _coerce, parse_interface
from .key import Key

OPT_INTRA_POD = 0x1
OPT_DNS = 0x2
OPT_DEFAULT = OPT_INTRA_POD
HAS_LINK = 0x1
HAS_FIREWALL = 0x2

Report = namedtuple("Report", [
    "link_created", "mtu_changed", "up_changed", "addresses_added", "addresses_removed",
    "userspace_pid", "peers_added", "peers_removed", "peers_updated", "peers_unchanged",
    "bytes_sent"])


def _key(value, what, public=False):
    if isinstance(value, Key):
        return value._raw
    if isinstance(value, (str, bytes)):
        k = Key.public_from_base64(value) if public else Key.from_base64(value)
        return k._raw
    raise TypeError(f"{what}: expected a Key or base64 text, got {type(value).__name__}")


class Spec(Handle):
    """A desired pod. Keyword arguments set the fields at creation."""

    _free = staticmethod(lib.mr_pod_spec_free)

    def __init__(self, ifname, *, private_key=None, listen_port=None, mtu=None,
                 addresses=(), options=None, uplinks=None):
        h = ctypes.POINTER(MrPodSpec)()
        lib.mr_pod_spec_new(ctypes.byref(h), _ffi.encode(ifname, "interface name"))
        self._own(h)
        if private_key is not None:
            self.set_private_key(private_key)
        if listen_port is not None:
            lib.mr_pod_spec_set_listen_port(self._h(), int(listen_port))
        if mtu is not None:
            lib.mr_pod_spec_set_mtu(self._h(), int(mtu))
        for a in addresses:
            self.add_address(a)
        if options is not None:
            lib.mr_pod_spec_set_options(self._h(), int(options))
        if uplinks is not None:
            self.set_uplinks(uplinks)

    @property
    def ifname(self):
        return lib.mr_pod_spec_get_ifname(self._h()).decode()

    def set_private_key(self, key):
        lib.mr_pod_spec_set_private_key(self._h(), ctypes.byref(_key(key, "private key")))

    def add_address(self, address):
        """The gateway's interface address with the subnet length, "10.64.1.1/24"."""
        p = address if not isinstance(address, (str, bytes)) else parse_interface(address)
        lib.mr_pod_spec_add_address(self._h(), ctypes.byref(p._raw))

    def set_uplinks(self, names):
        names = [_ffi.encode(n, "uplink") for n in names]
        arr = (ctypes.c_char_p * max(len(names), 1))(*names)
        lib.mr_pod_spec_set_uplinks(self._h(), arr, len(names))

    def add_peer(self, public_key, allowed_ips, preshared_key=None):
        ips = [_coerce(x) for x in allowed_ips]
        arr = (MrPrefix * max(len(ips), 1))()
        for i, p in enumerate(ips):
            arr[i] = p._raw
        psk = ctypes.byref(_key(preshared_key, "preshared key")) if preshared_key else None
        lib.mr_pod_spec_add_peer(self._h(), ctypes.byref(_key(public_key, "public key", True)),
                                 psk, arr, len(ips))

    def __len__(self):
        return lib.mr_pod_spec_peer_count(self._h())


def apply(ctx, spec):
    """Make the kernel match spec; returns a Report of what changed."""
    r = MrPodReport()
    lib.mr_pod_apply(ctx.handle, spec._h(), ctypes.byref(r))
    return Report(r.link_created, r.mtu_changed, r.up_changed, r.addresses_added,
                  r.addresses_removed, r.userspace_pid, r.peers.added, r.peers.removed,
                  r.peers.updated, r.peers.unchanged, r.peers.bytes_sent)


def teardown(ctx, ifname):
    """Remove a pod's firewall rules and interface."""
    lib.mr_pod_teardown(ctx.handle, _ffi.encode(ifname, "interface name"))


def list_pods(ctx):
    """[(name, flags)] for the pods on the node (HAS_LINK | HAS_FIREWALL)."""
    names = ctypes.POINTER(ctypes.c_char_p)()
    state = ctypes.POINTER(ctypes.c_uint32)()
    n = ctypes.c_size_t()
    lib.mr_pod_list(ctx.handle, ctypes.byref(names), ctypes.byref(state), ctypes.byref(n))
    try:
        return [(names[i].decode(), state[i]) for i in range(n.value)]
    finally:
        lib.mr_free(ctypes.cast(names, ctypes.c_void_p))
        lib.mr_free(ctypes.cast(state, ctypes.c_void_p))

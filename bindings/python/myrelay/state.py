# SPDX-License-Identifier: MIT
"""A node's desired state and its report, the JSON between a node and the
control plane.

    >>> from myrelay import state
    >>> st = state.parse(text)                 # validated; ValueError names the path
    >>> st.generation, [p.interface for p in st.pods]
    (7, ['wg-2c26b4'])
    >>> spec = st.pod_spec("pd_...", private_key)  # a myrelay.pod.Spec
    >>> r = state.Report(7)
    >>> r.add_pod("pd_...", public_key=pub, error=None)
    >>> r.add_peer(device_pub, rx_bytes=10, tx_bytes=20, last_handshake=1700000000)
    >>> parts = r.encode()                     # [json text, ...] each <= 1 MiB

Pods and peers are returned as plain named tuples (copies): keys as
:class:`myrelay.key.Key`, prefixes as :class:`myrelay.cidr.Prefix`.
"""
import ctypes
from collections import namedtuple

from . import _ffi
from ._ffi import MrKey, MrPodSpec, MrPrefix, MrState, MrStateReport, lib
from ._handle import Handle
from .cidr import Prefix
from .key import PRESHARED, PUBLIC, Key
from .pod import Spec

STRICT = 0x1
TEXT_MAX = 64 * 1024 * 1024
PODS_MAX = 65535
PEERS_MAX = 65535
ALLOWED_IPS_MAX = 256
ERROR_MAX = 500
REPORT_MAX = 1024 * 1024
REPORT_MIN = 2048

Pod = namedtuple("Pod", ["id", "interface", "listen_port", "addresses", "peers"])
Peer = namedtuple("Peer", ["public_key", "allowed_ips", "preshared_key", "enabled"])


def _key(value, what, kind):
    if isinstance(value, Key):
        return value._raw
    if isinstance(value, (str, bytes)):
        return Key.from_base64(value, kind)._raw
    raise TypeError(f"{what}: expected a Key or base64 text, got {type(value).__name__}")


def _read_peer(p):
    pub = Key._empty(PUBLIC)
    lib.mr_state_peer_get_public_key(p, ctypes.byref(pub._raw))
    psk = None
    if lib.mr_state_peer_has_preshared_key(p):
        psk = Key._empty(PRESHARED)
        lib.mr_state_peer_get_preshared_key(p, ctypes.byref(psk._raw))
    ips = []
    for k in range(lib.mr_state_peer_allowed_ip_count(p)):
        raw = MrPrefix()
        lib.mr_state_peer_get_allowed_ip(p, k, ctypes.byref(raw))
        ips.append(Prefix._wrap(raw))
    return Peer(pub, ips, psk, bool(lib.mr_state_peer_get_enabled(p)))


def _read_pod(pod):
    addrs = []
    for k in range(lib.mr_state_pod_address_count(pod)):
        raw = MrPrefix()
        lib.mr_state_pod_get_address(pod, k, ctypes.byref(raw))
        addrs.append(Prefix._wrap(raw))
    peers = [_read_peer(lib.mr_state_pod_peer_at(pod, j))
             for j in range(lib.mr_state_pod_peer_count(pod))]
    return Pod(lib.mr_state_pod_get_id(pod).decode(), lib.mr_state_pod_get_interface(pod).decode(),
               lib.mr_state_pod_get_listen_port(pod), addrs, peers)


class State(Handle):
    """A parsed, validated desired state (see :func:`parse`)."""

    _free = staticmethod(lib.mr_state_free)

    def __init__(self, text, strict=False):
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        h = ctypes.POINTER(MrState)()
        buf = ctypes.create_string_buffer(data, len(data))
        try:
            lib.mr_state_parse(ctypes.byref(h), buf, len(data), STRICT if strict else 0)
        finally:
            # The text may hold preshared keys: do not leave our copy about.
            ctypes.memset(buf, 0, len(data))
        self._own(h)

    @property
    def generation(self):
        return lib.mr_state_get_generation(self._h())

    def __len__(self):
        return lib.mr_state_pod_count(self._h())

    def _pod(self, which):
        h = self._h()
        if isinstance(which, int) and not isinstance(which, bool):
            p = lib.mr_state_pod_at(h, which) if which >= 0 else None
        else:
            p = lib.mr_state_find_pod(h, _ffi.encode(which, "pod id"))
        if not p:
            raise KeyError(which)
        return p

    @property
    def pods(self):
        """Every pod, in the text's order, as :class:`Pod` tuples."""
        h = self._h()
        return [_read_pod(lib.mr_state_pod_at(h, i)) for i in range(len(self))]

    def pod(self, which):
        """One pod by position or by id (KeyError if there is none)."""
        return _read_pod(self._pod(which))

    def pod_spec(self, which, private_key):
        """The :class:`myrelay.pod.Spec` of a pod (by position or id) with the
        pod's private key: its enabled peers only."""
        h = ctypes.POINTER(MrPodSpec)()
        lib.mr_state_pod_spec(self._pod(which), ctypes.byref(_key(private_key, "private key",
                                                                  "private")),
                              ctypes.byref(h))
        spec = Spec.__new__(Spec)
        spec._own(h)
        return spec

    def same_pod(self, other, pod_id):
        """Whether the pod ``pod_id`` is in both states and equal in every
        member (what a node needs to re-apply after a new generation)."""
        a = lib.mr_state_find_pod(self._h(), _ffi.encode(pod_id, "pod id"))
        b = lib.mr_state_find_pod(other._h(), _ffi.encode(pod_id, "pod id"))
        return bool(a and b and lib.mr_state_pod_equal(a, b))

    def to_json(self):
        """The canonical compact text (holds preshared keys)."""
        out = ctypes.c_void_p()
        lib.mr_state_format(self._h(), ctypes.byref(out))
        try:
            return ctypes.string_at(out.value).decode("ascii")
        finally:
            lib.mr_state_free_text(ctypes.cast(out, ctypes.POINTER(ctypes.c_char)))

    def __repr__(self):
        if self.closed:
            return "<State closed>"
        return f"<State generation={self.generation} pods={len(self)}>"


def parse(text, strict=False):
    """Parse and validate a desired state (str or bytes). ``strict=True``
    refuses members this version does not know. Raises InvalidInputError (a
    ValueError) whose message names the path, e.g.
    ``pods[1].peers[3].public_key: ...``."""
    return State(text, strict)


class Report(Handle):
    """A node's report (POST /v1/node/report), built pod by pod."""

    _free = staticmethod(lib.mr_state_report_free)

    def __init__(self, generation=None):
        """``generation``: the generation the node has applied, or None to
        leave it out."""
        h = ctypes.POINTER(MrStateReport)()
        lib.mr_state_report_new(ctypes.byref(h), -1 if generation is None else int(generation))
        self._own(h)

    def add_pod(self, pod_id, public_key=None, error=None):
        """Add a pod; peers added next belong to it. ``error=None`` reports
        the pod as fine (and clears an earlier error on the server)."""
        pk = ctypes.byref(_key(public_key, "public key", PUBLIC)) if public_key is not None \
            else None
        err = _ffi.encode(error, "error") if error is not None else None
        lib.mr_state_report_add_pod(self._h(), _ffi.encode(pod_id, "pod id"), pk, err)

    def add_peer(self, public_key, rx_bytes=0, tx_bytes=0, last_handshake=0):
        lib.mr_state_report_add_peer(self._h(), ctypes.byref(_key(public_key, "public key",
                                                                   PUBLIC)),
                                     int(rx_bytes), int(tx_bytes), int(last_handshake))

    def add_device(self, device):
        """Add every peer of a :class:`myrelay.wg.Device` read back with
        :func:`myrelay.wg.get` to the pod added last."""
        lib.mr_state_report_add_device(self._h(), device.handle)

    def __len__(self):
        return lib.mr_state_report_pod_count(self._h())

    def encode(self, max_bytes=0):
        """The report as a list of JSON texts, each at most ``max_bytes``
        (default: the server's 1 MiB), to be sent in order."""
        parts = ctypes.POINTER(ctypes.c_char_p)()
        n = ctypes.c_size_t()
        lib.mr_state_report_encode(self._h(), int(max_bytes), ctypes.byref(parts),
                                   ctypes.byref(n))
        try:
            return [parts[i].decode("ascii") for i in range(n.value)]
        finally:
            lib.mr_free(ctypes.cast(parts, ctypes.c_void_p))

# SPDX-License-Identifier: MIT
"""Per-pod firewall rules in nftables (table ``inet myrelay``): isolation
between pods, anti-spoofing, no access to the node except echo (and
optionally DNS) to the pod's gateway, masquerade out of the uplinks, the
pod's listen port opened, and named counters per pod.

    from myrelay import fw
    from myrelay.ctx import Context

    with Context() as ctx, fw.PodSpec("wg-abc123", ["10.64.1.1/24", "fd00:64:1::1/64"],
                                      listen_port=51820) as spec:
        fw.apply_pod(ctx, spec, uplinks=["eth0"])
        fw.list_pods(ctx)                              # ['wg-abc123']
        fw.pod_counters(ctx, "wg-abc123")["drop-spoof"]  # (packets, bytes)

Every call that changes rules is one atomic nftables batch. Bad input
raises :class:`myrelay.errors.InvalidInputError` (a ``ValueError``) and
changes nothing; a subnet or port already used by another pod raises
:class:`myrelay.errors.ConflictError`; a pod without rules
:class:`myrelay.errors.NotFoundError` (a ``LookupError``).
"""
import ctypes

from . import _ffi, cidr, errors
from ._ffi import MrFwPod, lib
from ._handle import Handle

__all__ = ["PodSpec", "apply_pod", "apply_pod_auto", "remove_pod", "list_pods", "pod_counters",
           "destroy", "COUNTERS", "TABLE", "OPT_INTRA_POD", "OPT_DNS", "SUBNETS_MAX",
           "UPLINKS_MAX"]

TABLE = "myrelay"
OPT_INTRA_POD = 0x1
OPT_DNS = 0x2
SUBNETS_MAX = 16
UPLINKS_MAX = 16
_N_COUNTERS = 4
#: Counter names, in the library's index order.
COUNTERS = tuple(lib.mr_fw_counter_name(i).decode() for i in range(_N_COUNTERS))


def _prefix(value):
    """A gateway in interface form ("10.64.1.1/24") or a cidr.Prefix."""
    if isinstance(value, cidr.Prefix):
        return value
    return cidr.parse_interface(value)


class PodSpec(Handle):
    """A pod's firewall specification (owns an ``mr_fw_pod``).

    ``subnets`` are gateway addresses with the subnet's length
    ("10.64.1.1/24": subnet 10.64.1.0/24, gateway 10.64.1.1); ``listen_port``
    0 means none.
    """

    _free = staticmethod(lib.mr_fw_pod_free)

    def __init__(self, ifname, subnets=(), *, listen_port=0, intra_pod=True, dns=False):
        handle = ctypes.POINTER(MrFwPod)()
        lib.mr_fw_pod_new(ctypes.byref(handle), _ffi.encode(ifname, "interface name"))
        self._own(handle)
        self.ifname = ifname
        try:
            for s in subnets:
                self.add_subnet(s)
            self.set_listen_port(listen_port)
            self.set_options(intra_pod=intra_pod, dns=dns)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add_subnet(self, gateway):
        """Add a subnet given by its gateway address, e.g. "10.64.1.1/24"."""
        p = _prefix(gateway)
        lib.mr_fw_pod_add_subnet(self._h(), ctypes.byref(p._raw))

    def set_listen_port(self, port):
        """The pod's UDP listen port (0: none)."""
        # ctypes would wrap what does not fit a uint32_t: refuse it here
        if not isinstance(port, int) or isinstance(port, bool):
            raise TypeError(f"listen port: expected int, got {type(port).__name__}")
        if port < 0 or port > 0xffffffff:
            raise errors.InvalidInputError(f"listen port {port}: expected 0-65535", -1)
        lib.mr_fw_pod_set_listen_port(self._h(), port)

    def set_options(self, *, intra_pod=True, dns=False):
        """Whether the pod's devices may reach each other, and DNS to the
        gateway."""
        lib.mr_fw_pod_set_options(self._h(), (OPT_INTRA_POD if intra_pod else 0) |
                                  (OPT_DNS if dns else 0))


def _ctx(ctx):
    return ctx.handle


def apply_pod(ctx, spec, uplinks=()):
    """Install or replace the pod's rules; ``uplinks`` are the interfaces
    its subnets are masqueraded out of (none: no masquerade)."""
    names = [_ffi.encode(u, "uplink") for u in uplinks]
    arr = (ctypes.c_char_p * max(len(names), 1))(*names)
    lib.mr_fw_apply_pod(_ctx(ctx), spec._h(), arr, len(names))


def apply_pod_auto(ctx, spec):
    """apply_pod() with the interfaces of the default routes as uplinks."""
    lib.mr_fw_apply_pod_auto(_ctx(ctx), spec._h())


def remove_pod(ctx, ifname):
    """Remove everything of the pod (the last pod takes the table along)."""
    lib.mr_fw_remove_pod(_ctx(ctx), _ffi.encode(ifname, "interface name"))


def list_pods(ctx):
    """Names of the pods that have rules, sorted."""
    out = ctypes.POINTER(ctypes.c_char_p)()
    count = ctypes.c_size_t()
    lib.mr_fw_list_pods(_ctx(ctx), ctypes.byref(out), ctypes.byref(count))
    if not out:
        return []
    try:
        return [out[i].decode() for i in range(count.value)]
    finally:
        lib.mr_free(ctypes.cast(out, ctypes.c_void_p))


def pod_counters(ctx, ifname):
    """``{name: (packets, bytes)}`` for the pod's counters (see COUNTERS)."""
    packets = (ctypes.c_uint64 * _N_COUNTERS)()
    nbytes = (ctypes.c_uint64 * _N_COUNTERS)()
    lib.mr_fw_pod_counters(_ctx(ctx), _ffi.encode(ifname, "interface name"), packets, nbytes,
                           _N_COUNTERS)
    return {COUNTERS[i]: (packets[i], nbytes[i]) for i in range(_N_COUNTERS)}


def destroy(ctx):
    """Remove our table and every pod in it; other tables are untouched."""
    lib.mr_fw_destroy(_ctx(ctx))

# SPDX-License-Identifier: MIT
"""IPv4 and IPv6 prefixes: strict parsing, RFC 5952 formatting, set
subtraction and the pod subnet / host address allocators of libmyrelay.

    >>> from myrelay import cidr
    >>> [str(p) for p in cidr.subtract(["0.0.0.0/0"], ["128.0.0.0/1"])]
    ['0.0.0.0/1']
    >>> p = cidr.Prefix("10.0.0.0/24")
    >>> p.family, p.length, p.address
    (4, 24, '10.0.0.0')
    >>> p.contains("10.0.0.7")
    True
    >>> with cidr.HostAllocator("10.0.0.0/24") as hosts:
    ...     str(hosts.gateway), str(hosts.alloc())
    ('10.0.0.1/24', '10.0.0.2/32')

Parsing is as strict as the C library (no whitespace, no leading zeros, no
zone ids, no netmasks); bad text raises
:class:`myrelay.errors.InvalidInputError` (a ``ValueError``) whose message
quotes the input and says what is wrong.
"""
import ctypes

from . import _ffi, errors
from ._ffi import MrCidrHosts, MrCidrPool, MrPrefix, lib
from ._handle import Handle

__all__ = ["Prefix", "parse", "parse_network", "parse_interface", "parse_address",
           "subtract", "SubnetPool", "HostAllocator", "INET", "INET6"]

INET = 4
INET6 = 6
_STRLEN = 50


def _new_raw(fn, text, what):
    raw = MrPrefix()
    fn(ctypes.byref(raw), _ffi.encode(text, what))
    return raw


class Prefix:
    """An immutable IPv4 or IPv6 address with a prefix length: a network
    ("10.0.0.0/24"), an interface address ("10.0.0.5/24", host bits set) or a
    single address (a /32 or /128).

    ``Prefix("10.0.0.0/24")`` and ``Prefix("10.0.0.5")`` parse as
    :func:`parse` does (host bits must be zero when a length is given); use
    :func:`parse_interface` for the interface form. From fields:
    ``Prefix(address="10.0.0.5", length=24)`` or
    ``Prefix(family=4, address=b"\\x0a\\0\\0\\x05", length=24)``.
    """

    __slots__ = ("_raw",)

    def __init__(self, text=None, *, family=None, address=None, length=None):
        if text is not None:
            if family is not None or address is not None or length is not None:
                raise TypeError("Prefix: give either text or fields, not both")
            if isinstance(text, Prefix):
                raw = MrPrefix.from_buffer_copy(text._raw)
            else:
                raw = _new_raw(lib.mr_cidr_parse, text, "prefix")
        else:
            raw = self._from_fields(family, address, length)
        object.__setattr__(self, "_raw", raw)

    @staticmethod
    def _from_fields(family, address, length):
        if address is None:
            raise TypeError("Prefix: text or address required")
        if isinstance(address, str):
            raw = _new_raw(lib.mr_cidr_parse_address, address, "address")
            if family is not None and family != raw.family:
                raise errors.InvalidInputError(
                    f"address {address!r} is IPv{raw.family}, not IPv{family}", -1)
        else:
            data = bytes(address)
            if family is None:
                family = {4: INET, 16: INET6}.get(len(data))
            want = {INET: 4, INET6: 16}.get(family)
            if want is None or len(data) != want:
                raise errors.InvalidInputError(
                    f"address: {len(data)} bytes do not make an address of family {family}", -1)
            raw = MrPrefix()
            raw.family = family
            raw.len = 32 if family == INET else 128
            ctypes.memmove(raw.addr, data, want)
        if length is not None:
            if not isinstance(length, int) or isinstance(length, bool):
                raise TypeError(f"length: expected int, got {type(length).__name__}")
            maxlen = 32 if raw.family == INET else 128
            if not 0 <= length <= maxlen:
                raise errors.InvalidInputError(
                    f"prefix length {length} out of range for IPv{raw.family} (0-{maxlen})", -1)
            raw.len = length
        return raw

    @classmethod
    def _wrap(cls, raw):
        p = cls.__new__(cls)
        object.__setattr__(p, "_raw", raw)
        return p

    def __setattr__(self, name, value):
        raise AttributeError("Prefix is immutable")

    # -- fields -------------------------------------------------------------
    @property
    def family(self):
        """4 or 6."""
        return self._raw.family

    @property
    def length(self):
        """The prefix length (0-32 or 0-128)."""
        return self._raw.len

    @property
    def max_length(self):
        """32 for IPv4, 128 for IPv6."""
        return 32 if self._raw.family == INET else 128

    @property
    def address(self):
        """The address alone as text ("10.0.0.5", "fd00::5")."""
        buf = ctypes.create_string_buffer(_STRLEN)
        lib.mr_cidr_format_address(buf, _STRLEN, ctypes.byref(self._raw))
        return buf.value.decode("ascii")

    @property
    def packed(self):
        """The address as 4 or 16 bytes in network order."""
        return bytes(self._raw.addr)[:4 if self._raw.family == INET else 16]

    # -- operations ---------------------------------------------------------
    def network(self):
        """This prefix with its host bits zeroed."""
        raw = MrPrefix()
        lib.mr_cidr_network(ctypes.byref(raw), ctypes.byref(self._raw))
        return Prefix._wrap(raw)

    @property
    def is_network(self):
        """Whether the host bits are zero."""
        return self.network() == self

    def contains(self, other):
        """Whether every address of ``other`` (a Prefix or text) is in this
        prefix; both are taken as networks, families must match."""
        o = _coerce(other)
        return bool(lib.mr_cidr_contains(ctypes.byref(self._raw), ctypes.byref(o._raw)))

    def __contains__(self, other):
        return self.contains(other)

    def overlaps(self, other):
        """Whether this prefix and ``other`` share an address."""
        o = _coerce(other)
        return bool(lib.mr_cidr_overlaps(ctypes.byref(self._raw), ctypes.byref(o._raw)))

    # -- dunder -------------------------------------------------------------
    def __str__(self):
        buf = ctypes.create_string_buffer(_STRLEN)
        lib.mr_cidr_format(buf, _STRLEN, ctypes.byref(self._raw))
        return buf.value.decode("ascii")

    def __repr__(self):
        return f"Prefix({str(self)!r})"

    def _key(self):
        return (self._raw.family, self.packed, self._raw.len)

    def __eq__(self, other):
        if not isinstance(other, Prefix):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __lt__(self, other):
        if not isinstance(other, Prefix):
            return NotImplemented
        return self._key() < other._key()

    def __reduce__(self):
        return (_from_state, (self.family, self.packed, self.length))


def _from_state(family, packed, length):
    return Prefix(family=family, address=packed, length=length)


def _coerce(x, fn=None):
    if isinstance(x, Prefix):
        return x
    if isinstance(x, (str, bytes)):
        return Prefix._wrap(_new_raw(fn or lib.mr_cidr_parse, x, "prefix"))
    raise TypeError(f"expected a Prefix or str, got {type(x).__name__}")


def parse(text):
    """An address or a network (the AllowedIPs form): a bare address becomes a
    /32 or /128; with a "/", the host bits must be zero."""
    return Prefix._wrap(_new_raw(lib.mr_cidr_parse, text, "prefix"))


def parse_network(text):
    """A network "10.0.0.0/24": length required, host bits zero."""
    return Prefix._wrap(_new_raw(lib.mr_cidr_parse_network, text, "prefix"))


def parse_interface(text):
    """An interface address "10.0.0.5/24": length required, host bits allowed."""
    return Prefix._wrap(_new_raw(lib.mr_cidr_parse_interface, text, "prefix"))


def parse_address(text):
    """A bare address "10.0.0.5" as a /32 (or /128)."""
    return Prefix._wrap(_new_raw(lib.mr_cidr_parse_address, text, "address"))


def _array(items):
    items = [_coerce(x) for x in items]
    arr = (MrPrefix * max(len(items), 1))()
    for i, p in enumerate(items):
        arr[i] = p._raw
    return arr, len(items)


def subtract(include, exclude):
    """The minimal sorted list of prefixes covering the addresses of
    ``include`` that are not in ``exclude`` (IPv4 first, then IPv6).
    Items are Prefix objects or text (as :func:`parse` reads it)::

        subtract(["0.0.0.0/0", "::/0"], ["192.168.0.0/16", "fc00::/7"])
    """
    if isinstance(include, (str, bytes, Prefix)) or isinstance(exclude, (str, bytes, Prefix)):
        raise TypeError("subtract: include and exclude must be lists of prefixes")
    inc, ni = _array(include)
    exc, ne = _array(exclude)
    out = ctypes.POINTER(MrPrefix)()
    count = ctypes.c_size_t()
    lib.mr_cidr_subtract(ctypes.byref(out), ctypes.byref(count), inc, ni, exc, ne)
    try:
        return [Prefix._wrap(MrPrefix.from_buffer_copy(out[i])) for i in range(count.value)]
    finally:
        if out:
            lib.mr_free(ctypes.cast(out, ctypes.c_void_p))


class SubnetPool(Handle):
    """Equal-length subnets handed out lowest-first from a pool prefix, e.g.
    /24s of 10.64.0.0/16 or /64s of an IPv6 /48. Released subnets are reused
    before higher ones; memory never depends on the pool size."""

    _free = staticmethod(lib.mr_cidr_pool_free)

    def __init__(self, pool, subnet_len):
        self.pool = _coerce(pool, lib.mr_cidr_parse_network)
        self.subnet_len = subnet_len
        handle = ctypes.POINTER(MrCidrPool)()
        lib.mr_cidr_pool_new(ctypes.byref(handle), ctypes.byref(self.pool._raw), subnet_len)
        self._own(handle)

    def alloc(self):
        """The lowest free subnet; raises ExhaustedError when none is left."""
        raw = MrPrefix()
        lib.mr_cidr_pool_alloc(self._h(), ctypes.byref(raw))
        return Prefix._wrap(raw)

    def mark_used(self, subnet):
        """Record a subnet as taken (rebuilding from stored state); raises
        ExistsError if it already is."""
        p = _coerce(subnet, lib.mr_cidr_parse_network)
        lib.mr_cidr_pool_mark_used(self._h(), ctypes.byref(p._raw))

    def release(self, subnet):
        """Give a subnet back; raises NotFoundError if it is not in use."""
        p = _coerce(subnet, lib.mr_cidr_parse_network)
        lib.mr_cidr_pool_release(self._h(), ctypes.byref(p._raw))

    def count_free(self):
        """Free subnets left (saturated at 2**64 - 1)."""
        n = ctypes.c_uint64()
        lib.mr_cidr_pool_count_free(self._h(), ctypes.byref(n))
        return n.value

    def __repr__(self):
        return f"SubnetPool({str(self.pool)!r}, {self.subnet_len})"


class HostAllocator(Handle):
    """Host addresses of a pod subnet, lowest-first, as /32 or /128. The
    network address, the gateway (".1" / "::1") and the IPv4 broadcast are
    never handed out; /31, /32, /127 and /128 subnets are refused."""

    _free = staticmethod(lib.mr_cidr_hosts_free)

    def __init__(self, subnet):
        self.subnet = _coerce(subnet, lib.mr_cidr_parse_network)
        handle = ctypes.POINTER(MrCidrHosts)()
        lib.mr_cidr_hosts_new(ctypes.byref(handle), ctypes.byref(self.subnet._raw))
        self._own(handle)

    @property
    def gateway(self):
        """The gateway in interface form ("10.0.0.1/24")."""
        raw = MrPrefix()
        lib.mr_cidr_hosts_gateway(self._h(), ctypes.byref(raw))
        return Prefix._wrap(raw)

    def alloc(self):
        """The lowest free host address; raises ExhaustedError when full."""
        raw = MrPrefix()
        lib.mr_cidr_hosts_alloc(self._h(), ctypes.byref(raw))
        return Prefix._wrap(raw)

    def mark_used(self, address):
        """Record an address ("10.0.0.5" or a /32 Prefix) as taken."""
        p = _coerce(address)
        lib.mr_cidr_hosts_mark_used(self._h(), ctypes.byref(p._raw))

    def release(self, address):
        """Give an address back; raises NotFoundError if it is not in use."""
        p = _coerce(address)
        lib.mr_cidr_hosts_release(self._h(), ctypes.byref(p._raw))

    def count_free(self):
        """Free host addresses left (saturated at 2**64 - 1)."""
        n = ctypes.c_uint64()
        lib.mr_cidr_hosts_count_free(self._h(), ctypes.byref(n))
        return n.value

    def __repr__(self):
        return f"HostAllocator({str(self.subnet)!r})"

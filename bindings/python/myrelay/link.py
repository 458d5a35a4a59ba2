# SPDX-License-Identifier: MIT
"""Network links through rtnetlink: create and delete WireGuard links, list
links by name prefix, MTU, up/down, interface addresses (replacing the set
with the smallest change) and the interfaces carrying the default routes.

Every function takes a :class:`myrelay.ctx.Context` and works in the network
namespace of that context's netlink socket::

    from myrelay import link
    from myrelay.ctx import Context

    with Context() as ctx:
        link.set_mtu(ctx, "wg-abc123", link.MTU_DEFAULT)
        link.set_up(ctx, "wg-abc123")
        changes = link.set_addresses(ctx, "wg-abc123", ["10.64.1.1/24", "fd00:1::1/64"])
        print(changes.added, changes.removed)
        print([l.name for l in link.list_links(ctx, "wg-")])
        print(link.default_route_interfaces(ctx))     # e.g. ['eth0']

Bad input raises :class:`myrelay.errors.InvalidInputError` (a
``ValueError``) and changes nothing; a missing link raises
:class:`myrelay.errors.NotFoundError` (a ``LookupError``); a kernel without
WireGuard makes :func:`create_wireguard` raise
:class:`myrelay.errors.NotSupportedError` (a ``NotImplementedError``).
"""
import collections
import ctypes

from . import _ffi, cidr, errors
from ._ffi import MrLinkList, MrPrefix, lib

__all__ = ["Link", "Changes", "create_wireguard", "delete", "exists", "list_links", "get",
           "set_mtu", "set_up", "get_addresses", "set_addresses",
           "default_route_interfaces", "MTU_DEFAULT", "MTU_MIN", "MTU_MAX", "ADDRESSES_MAX"]

MTU_DEFAULT = 1420
MTU_MIN = 1280
MTU_MAX = 65535
ADDRESSES_MAX = 256

Link = collections.namedtuple("Link", "name ifindex mtu up kind")
Link.__doc__ = """One link: name, interface index, MTU, whether it is administratively
up, and its rtnetlink kind ("wireguard", "tun", "veth", ... or "" for none)."""

Changes = collections.namedtuple("Changes", "added removed")
Changes.__doc__ = "What set_addresses() did: numbers of addresses added and removed."


def _name(name, what="interface name"):
    return _ffi.encode(name, what)


def _take_list(handle):
    """Copy a mr_link_list into Link tuples and free it."""
    try:
        out = []
        for i in range(lib.mr_link_list_count(handle)):
            ifindex, mtu = ctypes.c_uint32(), ctypes.c_uint32()
            up, kind = ctypes.c_bool(), ctypes.c_char_p()
            lib.mr_link_list_info(handle, i, ctypes.byref(ifindex), ctypes.byref(mtu),
                                  ctypes.byref(up), ctypes.byref(kind))
            out.append(Link(lib.mr_link_list_name(handle, i).decode("utf-8", "replace"),
                            ifindex.value, mtu.value, up.value,
                            kind.value.decode("utf-8", "replace")))
        return out
    finally:
        lib.mr_link_list_free(handle)


def create_wireguard(ctx, name):
    """Create a WireGuard link (down, no address, MTU 1420). Raises
    ExistsError if the name is taken, NotSupportedError without the kernel
    module (use wireguard-go then)."""
    lib.mr_link_create_wireguard(ctx.handle, _name(name))


def delete(ctx, name):
    """Delete a link of any kind; NotFoundError if there is none."""
    lib.mr_link_delete(ctx.handle, _name(name))


def exists(ctx, name):
    """Whether a link of that name exists."""
    out = ctypes.c_bool()
    lib.mr_link_exists(ctx.handle, _name(name), ctypes.byref(out))
    return out.value


def list_links(ctx, prefix=None):
    """The links whose name starts with ``prefix`` (None or "" for all),
    as :class:`Link` tuples sorted by name."""
    handle = ctypes.POINTER(MrLinkList)()
    lib.mr_link_dump(ctx.handle, None if prefix is None else _name(prefix, "prefix"),
                     ctypes.byref(handle))
    return _take_list(handle)


def get(ctx, name):
    """One link as a :class:`Link`; NotFoundError if there is none."""
    handle = ctypes.POINTER(MrLinkList)()
    lib.mr_link_get(ctx.handle, _name(name), ctypes.byref(handle))
    return _take_list(handle)[0]


def set_mtu(ctx, name, mtu):
    """Set the MTU (1280..65535; pods use MTU_DEFAULT, 1420)."""
    if not isinstance(mtu, int) or isinstance(mtu, bool):
        raise TypeError(f"mtu: expected int, got {type(mtu).__name__}")
    if not 0 <= mtu <= 0xFFFFFFFF:
        # ctypes would silently wrap it into a valid-looking value
        raise errors.InvalidInputError(f"set MTU: {mtu} is outside {MTU_MIN}..{MTU_MAX}", -1)
    lib.mr_link_set_mtu(ctx.handle, _name(name), mtu)


def set_up(ctx, name, up=True):
    """Set the link administratively up (or down with ``up=False``)."""
    if not isinstance(up, bool):
        raise TypeError(f"up: expected bool, got {type(up).__name__}")
    lib.mr_link_set_up(ctx.handle, _name(name), up)


def get_addresses(ctx, name):
    """The link's interface addresses as :class:`myrelay.cidr.Prefix`
    ("10.64.1.1/24"), IPv4 first, sorted; IPv6 link-local ones left out."""
    out = ctypes.POINTER(MrPrefix)()
    count = ctypes.c_size_t()
    lib.mr_link_get_addresses(ctx.handle, _name(name), ctypes.byref(out), ctypes.byref(count))
    try:
        return [cidr.Prefix._wrap(MrPrefix.from_buffer_copy(out[i]))
                for i in range(count.value)]
    finally:
        if out:
            lib.mr_free(ctypes.cast(out, ctypes.c_void_p))


def _as_interface(x):
    if isinstance(x, cidr.Prefix):
        return x
    if isinstance(x, (str, bytes)):
        return cidr.parse_interface(x)
    raise TypeError(f"address: expected a Prefix or str, got {type(x).__name__}")


def set_addresses(ctx, name, addresses):
    """Make the link's addresses exactly ``addresses`` (Prefix objects or
    text such as "10.64.1.1/24", host bits kept): missing ones are added,
    others removed, matching ones left alone; IPv6 link-local addresses are
    never touched. Everything is validated first: a bad list raises
    InvalidInputError and changes nothing. Returns :class:`Changes`."""
    if isinstance(addresses, (str, bytes, cidr.Prefix)):
        raise TypeError("addresses: expected a list of addresses")
    items = [_as_interface(x) for x in addresses]
    arr = (MrPrefix * max(len(items), 1))()
    for i, p in enumerate(items):
        arr[i] = p._raw
    added, removed = ctypes.c_size_t(), ctypes.c_size_t()
    lib.mr_link_set_addresses(ctx.handle, _name(name), arr, len(items), ctypes.byref(added),
                              ctypes.byref(removed))
    return Changes(added.value, removed.value)


def default_route_interfaces(ctx, family=0):
    """Names of the interfaces carrying default routes of the main table,
    sorted and deduplicated: ``family`` 0 for both, 4 or 6 for one."""
    if not isinstance(family, int) or isinstance(family, bool):
        raise TypeError(f"family: expected int, got {type(family).__name__}")
    if family not in (0, cidr.INET, cidr.INET6):
        raise errors.InvalidInputError(f"default routes: family {family} is not 0, 4 or 6",
                                       -1)
    handle = ctypes.POINTER(MrLinkList)()
    lib.mr_link_default_route_ifaces(ctx.handle, family, ctypes.byref(handle))
    return [l.name for l in _take_list(handle)]

# SPDX-License-Identifier: MIT
"""The client's wg-quick configuration: build, render, parse.

    >>> from myrelay.conf import Config
    >>> with Config(private_key=priv, addresses=["10.64.3.2/32"],
    ...             public_key=pod_pub, endpoint="vpn.example.com:51820",
    ...             allowed_ips=["0.0.0.0/0", "::/0"], keepalive=25) as cfg:
    ...     text = cfg.render()
    >>> Config.parse(text).endpoint
    'vpn.example.com:51820'

Every value is validated by libmyrelay when it is set. A value that could
inject a directive (a newline, carriage return, NUL, control character,
non-ASCII character, space, ``=``, ``#``, ``,`` or a bracket where the field
does not allow one) raises :class:`myrelay.errors.InvalidInputError` (a
``ValueError``) and leaves the configuration unchanged; nothing is ever
stripped. Keys may be given as base64 text or as :class:`myrelay.key.Key`
objects.

The object and the rendered text hold the private key. The library wipes its
own copies when the object is closed; Python strings (what :meth:`render`
and the key properties return) cannot be wiped, so keep them short-lived.
"""
import ctypes
from ctypes import POINTER, byref, c_char, c_void_p

from . import errors
from ._ffi import MrConf, encode, lib
from ._handle import Handle

__all__ = ["Config", "MTU_MIN", "MTU_MIN_IPV6", "MTU_MAX", "KEEPALIVE_MAX",
           "MAX_ADDRESSES", "MAX_DNS", "MAX_ALLOWED_IPS", "MAX_TEXT"]

MTU_MIN = 576
MTU_MIN_IPV6 = 1280
MTU_MAX = 9000
KEEPALIVE_MAX = 65535
MAX_ADDRESSES = 32
MAX_DNS = 16
MAX_ALLOWED_IPS = 1024
MAX_TEXT = 65536

_UINT32_MAX = 0xFFFFFFFF


def _key_text(value, field):
    # A myrelay.key.Key (or anything with to_base64()) gives its text.
    if hasattr(value, "to_base64"):
        value = value.to_base64()
    return encode(value, f"conf: {field}")


def _uint32(value, field):
    """ctypes would silently wrap 2**32 + 1420 to 1420: refuse it here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"conf: {field}: expected int, got {type(value).__name__}")
    if value < 0 or value > _UINT32_MAX:
        raise errors.InvalidInputError(f"conf: {field}: {value} is out of range", -1)
    return value


def _text(b):
    return None if b is None else b.decode("ascii")


class Config(Handle):
    """A wg-quick client configuration: one [Interface], one [Peer].

    Keyword arguments set the fields in a fixed order (keys, addresses, DNS,
    MTU, endpoint, allowed IPs, keepalive); ``mtu`` and ``keepalive`` of 0
    mean unset / off. ``close()`` (idempotent; also at the end of a ``with``
    block) wipes the keys and frees the configuration.
    """

    _free = staticmethod(lib.mr_conf_free)
    _closed_message = "conf: the configuration is closed"

    def __init__(self, *, private_key=None, addresses=(), dns=(), mtu=0,
                 public_key=None, preshared_key=None, endpoint=None,
                 allowed_ips=(), keepalive=0):
        handle = POINTER(MrConf)()
        lib.mr_conf_new(byref(handle))
        self._own(handle)
        try:
            if private_key is not None:
                self.private_key = private_key
            for a in _items(addresses, "addresses"):
                self.add_address(a)
            for d in _items(dns, "dns"):
                self.add_dns(d)
            self.mtu = mtu
            if public_key is not None:
                self.public_key = public_key
            if preshared_key is not None:
                self.preshared_key = preshared_key
            if endpoint is not None:
                self.endpoint = endpoint
            for p in _items(allowed_ips, "allowed_ips"):
                self.add_allowed_ip(p)
            self.keepalive = keepalive
        except BaseException:
            self.close()
            raise

    @classmethod
    def parse(cls, text):
        """Parse wg-quick text (str or bytes, at most 64 KiB). Raises
        InvalidInputError with "conf: line N: ..." for anything refused
        (hooks such as PostUp, unknown keys, a second [Peer], bad values),
        TooLargeError for larger text, ExistsError for a repeated item."""
        data = encode(text, "conf")
        handle = POINTER(MrConf)()
        lib.mr_conf_parse(byref(handle), data)
        obj = cls.__new__(cls)
        obj._own(handle)
        return obj

    def __repr__(self):
        if self.closed:
            return "<myrelay.conf.Config (closed)>"
        return (f"<myrelay.conf.Config addresses={self.addresses!r} "
                f"endpoint={self.endpoint!r} allowed_ips={self.allowed_ips!r}>")

    # -- [Interface] --------------------------------------------------------
    @property
    def private_key(self):
        """The private key (base64 str) or None. A secret."""
        return _text(lib.mr_conf_get_private_key(self._h()))

    @private_key.setter
    def private_key(self, value):
        lib.mr_conf_set_private_key(self._h(), _key_text(value, "PrivateKey"))

    @property
    def addresses(self):
        """Interface addresses in canonical form, e.g. ("10.64.3.2/32",)."""
        h = self._h()
        return tuple(_text(lib.mr_conf_get_address(h, i))
                     for i in range(lib.mr_conf_address_count(h)))

    def add_address(self, cidr):
        """Add an interface address with its prefix length."""
        lib.mr_conf_add_address(self._h(), encode(cidr, "conf: Address"))

    @property
    def dns(self):
        """DNS server addresses in canonical form."""
        h = self._h()
        return tuple(_text(lib.mr_conf_get_dns(h, i)) for i in range(lib.mr_conf_dns_count(h)))

    def add_dns(self, ip):
        """Add a DNS server (an IP address; no search domains)."""
        lib.mr_conf_add_dns(self._h(), encode(ip, "conf: DNS"))

    @property
    def mtu(self):
        """The MTU, 0 if unset."""
        return lib.mr_conf_get_mtu(self._h())

    @mtu.setter
    def mtu(self, value):
        lib.mr_conf_set_mtu(self._h(), _uint32(0 if value is None else value, "MTU"))

    # -- [Peer] -------------------------------------------------------------
    @property
    def public_key(self):
        """The peer's (the pod's) public key (base64 str) or None."""
        return _text(lib.mr_conf_get_peer_public_key(self._h()))

    @public_key.setter
    def public_key(self, value):
        lib.mr_conf_set_peer_public_key(self._h(), _key_text(value, "PublicKey"))

    @property
    def preshared_key(self):
        """The preshared key (base64 str) or None. A secret."""
        return _text(lib.mr_conf_get_preshared_key(self._h()))

    @preshared_key.setter
    def preshared_key(self, value):
        lib.mr_conf_set_preshared_key(self._h(), _key_text(value, "PresharedKey"))

    @property
    def endpoint(self):
        """"host:port" or "[v6]:port", or None."""
        return _text(lib.mr_conf_get_endpoint(self._h()))

    @endpoint.setter
    def endpoint(self, value):
        lib.mr_conf_set_endpoint(self._h(), encode(value, "conf: Endpoint"))

    @property
    def allowed_ips(self):
        """AllowedIPs prefixes in canonical form."""
        h = self._h()
        return tuple(_text(lib.mr_conf_get_allowed_ip(h, i))
                     for i in range(lib.mr_conf_allowed_ip_count(h)))

    def add_allowed_ip(self, cidr):
        """Add a network prefix (host bits zero) to AllowedIPs."""
        lib.mr_conf_add_allowed_ip(self._h(), encode(cidr, "conf: AllowedIPs"))

    @property
    def keepalive(self):
        """PersistentKeepalive in seconds, 0 if off."""
        return lib.mr_conf_get_keepalive(self._h())

    @keepalive.setter
    def keepalive(self, value):
        lib.mr_conf_set_keepalive(self._h(),
                                  _uint32(0 if value is None else value, "PersistentKeepalive"))

    # -- output -------------------------------------------------------------
    def render(self):
        """The complete wg-quick text (str). Raises InvalidInputError naming
        the missing fields if the configuration is incomplete. The library's
        copy is wiped; the returned str holds the private key."""
        ptr = c_void_p()
        lib.mr_conf_render(self._h(), byref(ptr))
        try:
            return ctypes.string_at(ptr).decode("ascii")
        finally:
            lib.mr_conf_free_text(ctypes.cast(ptr, POINTER(c_char)))


def _items(values, what):
    # A lone string would otherwise be taken as a list of characters.
    if isinstance(values, (str, bytes)):
        raise TypeError(f"conf: {what}: expected a list of strings, not a single string")
    return list(values)

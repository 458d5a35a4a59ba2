# SPDX-License-Identifier: MIT
"""WireGuard keys: X25519 private and public keys and preshared keys.

    >>> from myrelay.key import Key
    >>> priv = Key.generate()
    >>> pub = priv.public_key()
    >>> len(pub.to_base64())
    44
    >>> str(priv)            # a secret never shows itself
    '<private key (hidden)>'

A :class:`Key` holds 32 bytes in memory owned by the object, which
:meth:`Key.wipe` (or leaving a ``with`` block, or garbage collection)
overwrites with zeros. Private and preshared keys are secrets: ``str()`` and
``repr()`` mask them; ask for the text explicitly with :meth:`Key.to_base64`.
"""
import ctypes
import weakref

from . import _ffi
from ._ffi import MrKey, lib

__all__ = ["Key", "validate_public", "KEY_LEN", "BASE64_LEN",
           "PRIVATE", "PUBLIC", "PRESHARED"]

KEY_LEN = 32
BASE64_LEN = 44
_BASE64_SIZE = 45

PRIVATE = "private"
PUBLIC = "public"
PRESHARED = "preshared"
_KINDS = (PRIVATE, PUBLIC, PRESHARED)


def _wipe(raw):
    lib.mr_key_wipe(ctypes.byref(raw))


class Key:
    """An immutable 32-byte key of one kind: ``"private"``, ``"public"`` or
    ``"preshared"``. Equality (constant time) compares the bytes only."""

    __slots__ = ("_raw", "_kind", "_finalizer", "__weakref__")

    def __init__(self, data, kind=PRIVATE):
        """Wrap 32 raw bytes. Prefer the constructors below; this one is for
        bytes that come from elsewhere (a database, a netlink dump)."""
        if kind not in _KINDS:
            raise ValueError(f"key kind must be one of {', '.join(_KINDS)}, not {kind!r}")
        raw = MrKey()
        if data is not None:
            data = bytes(data)
            if len(data) != KEY_LEN:
                raise ValueError(f"key: expected {KEY_LEN} bytes, got {len(data)}")
            ctypes.memmove(raw.bytes, data, KEY_LEN)
        object.__setattr__(self, "_raw", raw)
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_finalizer", weakref.finalize(self, _wipe, raw))

    # -- constructors -------------------------------------------------------
    @classmethod
    def _empty(cls, kind):
        return cls(None, kind)

    @classmethod
    def generate(cls):
        """A new random private key, clamped like ``wg genkey``."""
        k = cls._empty(PRIVATE)
        lib.mr_key_generate_private(ctypes.byref(k._raw))
        return k

    @classmethod
    def generate_preshared(cls):
        """A new random preshared key (``wg genpsk``)."""
        k = cls._empty(PRESHARED)
        lib.mr_key_generate_preshared(ctypes.byref(k._raw))
        return k

    @classmethod
    def from_base64(cls, text, kind=PRIVATE):
        """Decode a private (default) or preshared key as WireGuard does.
        Any 32-byte value is accepted. Raises InvalidInputError (a
        ValueError) for text that is not a canonical 44-character key."""
        if kind == PUBLIC:
            return cls.public_from_base64(text)
        k = cls._empty(kind)
        lib.mr_key_from_base64(ctypes.byref(k._raw), _ffi.encode(text, "key"))
        return k

    @classmethod
    def public_from_base64(cls, text):
        """Decode a public key; as :meth:`from_base64`, and the all-zero key
        is refused."""
        k = cls._empty(PUBLIC)
        lib.mr_key_public_from_base64(ctypes.byref(k._raw), _ffi.encode(text, "public key"))
        return k

    # -- operations ---------------------------------------------------------
    @property
    def kind(self):
        """``"private"``, ``"public"`` or ``"preshared"``."""
        return self._kind

    @property
    def is_secret(self):
        """True for private and preshared keys."""
        return self._kind != PUBLIC

    def public_key(self):
        """The X25519 public key of this private key (what ``wg pubkey``
        prints)."""
        if self._kind != PRIVATE:
            raise TypeError(f"public_key() needs a private key, this is a {self._kind} key")
        k = Key._empty(PUBLIC)
        lib.mr_key_public_from_private(ctypes.byref(k._raw), ctypes.byref(self._raw))
        return k

    def to_base64(self):
        """The canonical 44-character base64 text. For a secret key this is
        the secret itself: handle the result with care."""
        buf = ctypes.create_string_buffer(_BASE64_SIZE)
        try:
            lib.mr_key_to_base64(buf, _BASE64_SIZE, ctypes.byref(self._raw))
            return buf.value.decode("ascii")
        finally:
            ctypes.memset(buf, 0, _BASE64_SIZE)

    def __bytes__(self):
        return bytes(self._raw.bytes)

    def is_zero(self):
        """Whether all 32 bytes are zero (constant time)."""
        return bool(lib.mr_key_is_zero(ctypes.byref(self._raw)))

    def wipe(self):
        """Overwrite the key's memory with zeros. The object then holds the
        all-zero key. Python copies made earlier (``bytes(key)``,
        ``to_base64()``) are not affected."""
        _wipe(self._raw)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.wipe()

    # -- value semantics ----------------------------------------------------
    def __eq__(self, other):
        if not isinstance(other, Key):
            return NotImplemented
        return bool(lib.mr_key_equal(ctypes.byref(self._raw), ctypes.byref(other._raw)))

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self):
        # Python's bytes hash is keyed (SipHash), so it reveals nothing
        # usable about a secret key.
        return hash(bytes(self._raw.bytes))

    def __setattr__(self, name, value):
        raise AttributeError("Key is immutable")

    def __delattr__(self, name):
        raise AttributeError("Key is immutable")

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        raise TypeError("Key objects cannot be pickled; store to_base64() explicitly")

    def __str__(self):
        if self.is_secret:
            return f"<{self._kind} key (hidden)>"
        return self.to_base64()

    def __repr__(self):
        if self.is_secret:
            return f"<Key {self._kind} (hidden)>"
        return f"<Key public {self.to_base64()}>"

    def __format__(self, spec):
        return format(str(self), spec)


def validate_public(text):
    """Raise InvalidInputError (a ValueError) unless ``text`` is a valid
    public key: 44 canonical base64 characters, not all zeros. Returns
    ``text``."""
    lib.mr_key_validate_public(_ffi.encode(text, "public key"))
    return text

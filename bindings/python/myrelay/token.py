# SPDX-License-Identifier: MIT
"""API bearer tokens: admin, node and pod tokens.

A token is ``mr<k>_<id>_<secret><check>`` (79 characters): ``<k>`` is ``a``,
``n`` or ``p``; the id (16 base32 characters) is stored in clear; the secret
(52 base32 characters, 256 bits) is never stored, only its SHA-256; the six
check characters (CRC-30) refuse typos before any lookup.

    >>> from myrelay import token
    >>> text, token_id, hash_hex = token.generate("pod")   # show text once
    >>> token.parse(text).id == token_id
    True
    >>> token.verify(text, "pod", token_id, hash_hex)
    True

A malformed token raises :class:`myrelay.errors.AuthenticationError` from
:func:`parse` and makes :func:`verify` return ``False``. Programming errors
(an unknown kind, a malformed stored id or hash, a non-string argument) raise
``InvalidInputError``/``ValueError`` or ``TypeError``.

Python strings cannot be wiped: the C buffers used here are, but the text
returned by :func:`generate` lives as long as Python keeps it.
"""
import ctypes
from collections import namedtuple
from types import MappingProxyType

from . import errors
from ._ffi import encode, lib

__all__ = ["ADMIN", "NODE", "POD", "KINDS", "STRLEN", "SCOPE_ADMIN", "SCOPE_NODE_STATE",
           "SCOPE_POD_PEERS", "Generated", "Parsed", "generate", "parse", "verify",
           "kind_name", "kind_value", "scopes", "allows"]

ADMIN = 1
NODE = 2
POD = 3
#: Kind names and their numbers: {"admin": 1, "node": 2, "pod": 3}.
KINDS = MappingProxyType({"admin": ADMIN, "node": NODE, "pod": POD})
#: Length of a token's text.
STRLEN = 79

SCOPE_ADMIN = 0x1
SCOPE_NODE_STATE = 0x2
SCOPE_POD_PEERS = 0x4

_SIZE = STRLEN + 1
_ID_SIZE = 17
_HASH_LEN = 32
_HASH_HEX_SIZE = 65

#: Result of generate(): the token's text (a secret), its id, its hash in hex.
Generated = namedtuple("Generated", ["token", "id", "hash_hex"])
#: Result of parse(): kind name ("admin", "node", "pod"), id, hash in hex.
Parsed = namedtuple("Parsed", ["kind", "id", "hash_hex"])


def kind_value(kind):
    """The number of a kind given as a name ("admin") or a number (1)."""
    if isinstance(kind, bool):
        raise TypeError("token kind: expected str or int, got bool")
    if isinstance(kind, int):
        if lib.mr_token_kind_name(kind) is None:
            raise errors.InvalidInputError(f"token kind: unknown {kind}", -1)
        return kind
    if isinstance(kind, str):
        return lib.mr_token_kind_from_name(encode(kind, "token kind"))
    raise TypeError(f"token kind: expected str or int, got {type(kind).__name__}")


def kind_name(kind):
    """The name of a kind given as a number or a name."""
    return lib.mr_token_kind_name(kind_value(kind)).decode()


def _hash_hex(hash_buf):
    out = ctypes.create_string_buffer(_HASH_HEX_SIZE)
    lib.mr_token_hash_hex(out, _HASH_HEX_SIZE, hash_buf)
    return out.value.decode()


def _text(text):
    if not isinstance(text, (str, bytes)):
        raise TypeError(f"token: expected str, got {type(text).__name__}")
    b = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if b"\0" in b:
        # C would cut the text at the NUL; it is a malformed token, not a
        # programming error.
        raise errors.AuthenticationError("token: contains a NUL character", -6)
    return b


def generate(kind):
    """Generate a token of a kind ("admin", "node", "pod" or 1..3).

    Returns ``Generated(token, id, hash_hex)``: show ``token`` once, store
    ``id`` and ``hash_hex``.
    """
    k = kind_value(kind)
    out = ctypes.create_string_buffer(_SIZE)
    out_id = ctypes.create_string_buffer(_ID_SIZE)
    hash_buf = (ctypes.c_uint8 * _HASH_LEN)()
    try:
        lib.mr_token_generate(out, _SIZE, k, out_id, _ID_SIZE, hash_buf)
        return Generated(out.value.decode(), out_id.value.decode(), _hash_hex(hash_buf))
    finally:
        lib.mr_token_wipe(out, _SIZE)


def parse(text):
    """Check a presented token and return ``Parsed(kind, id, hash_hex)``.

    Raises AuthenticationError (a PermissionError) with the reason when the
    text is not a well-formed token (unknown prefix, wrong length, checksum
    mismatch, malformed).
    """
    b = _text(text)
    kind = ctypes.c_int()
    out_id = ctypes.create_string_buffer(_ID_SIZE)
    hash_buf = (ctypes.c_uint8 * _HASH_LEN)()
    lib.mr_token_parse(b, ctypes.byref(kind), out_id, _ID_SIZE, hash_buf)
    return Parsed(lib.mr_token_kind_name(kind.value).decode(), out_id.value.decode(),
                  _hash_hex(hash_buf))


def verify(text, kind, token_id, hash_hex):
    """Whether a presented token is the one stored as (kind, id, hash_hex).

    Returns False for any mismatch or malformed text; raises
    InvalidInputError for an unknown kind or a malformed stored id or hash.
    """
    k = kind_value(kind)
    stored = (ctypes.c_uint8 * _HASH_LEN)()
    lib.mr_token_hash_from_hex(stored, encode(hash_hex, "token hash"))
    id_bytes = encode(token_id, "token id")
    try:
        b = _text(text)
        lib.mr_token_verify(b, k, id_bytes, stored)
    except errors.AuthenticationError:
        return False
    return True


def scopes(kind):
    """The MR_TOKEN_SCOPE_* bits a kind holds."""
    return lib.mr_token_kind_scopes(kind_value(kind))


def allows(kind, scope):
    """Whether a kind holds every scope bit in ``scope`` (False for 0 or
    unknown bits)."""
    return bool(lib.mr_token_kind_allows(kind_value(kind), scope))

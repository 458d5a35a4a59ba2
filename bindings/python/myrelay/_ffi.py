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

    # cidr

    # token

    # conf

    # name

}


def _apply():
    for name, (restype, argtypes, errcheck) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
        if errcheck is not None:
            fn.errcheck = errcheck


_apply()

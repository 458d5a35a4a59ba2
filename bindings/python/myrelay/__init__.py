# SPDX-License-Identifier: MIT
"""Python bindings for libmyrelay (ctypes).

    >>> import myrelay
    >>> myrelay.version()
    '0.1.0'
"""
from . import errors
from ._ffi import lib as _lib
from .errors import MyRelayError
from . import key, cidr, token, conf, name, ctx, link, wg, fw, pod, store, state, api
from .key import Key
from .cidr import Prefix
from .conf import Config

__all__ = ["errors", "MyRelayError", "version", "version_number", "strerror",
           "error_name", "key", "cidr", "token", "conf", "name", "ctx", "link", "wg",
           "fw", "pod", "store", "state", "api", "Key", "Prefix", "Config"]


def version():
    """Version of the loaded libmyrelay ("0.1.0")."""
    return _lib.mr_version().decode()


def version_number():
    """Version of the loaded libmyrelay as 0xMMmmpp."""
    return _lib.mr_version_number()


def strerror(code):
    """English description of an MR_E* code."""
    return _lib.mr_strerror(code).decode()


def error_name(code):
    """Stable name of an MR_E* code ("invalid", "not_found", ...)."""
    return _lib.mr_error_name(code).decode()

# SPDX-License-Identifier: MIT
"""Names: interface names, labels, and pod interface names.

    >>> from myrelay import name
    >>> name.pod_interface("pod-1")
    'wg-0f0668'
    >>> name.is_pod_interface("wg-0f0668")
    True
    >>> name.validate_label("-x")
    Traceback (most recent call last):
      ...
    myrelay.errors.InvalidInputError: label: invalid character '-' at position 1

The validators raise :class:`myrelay.errors.InvalidInputError` (a
``ValueError``) whose message names the problem and the position of a bad
character (counting from 1).
"""
import ctypes

from . import _ffi
from ._ffi import lib

__all__ = ["validate_interface", "pod_interface", "is_pod_interface",
           "validate_label", "IFNAMSIZ", "IFNAME_MAX", "LABEL_MAX", "POD_PREFIX"]

IFNAMSIZ = 16
IFNAME_MAX = 15
LABEL_MAX = 63
POD_PREFIX = "wg-"


def validate_interface(s):
    """Raise InvalidInputError unless ``s`` is 1-15 bytes of A-Z a-z 0-9 _ -
    (and not "." or ".."). Returns ``s``."""
    lib.mr_name_validate_interface(_ffi.encode(s, "interface name"))
    return s


def validate_label(s):
    """Raise InvalidInputError unless ``s`` is a valid label (the name of a
    customer, node, peer or pod): 1-63 bytes, first A-Z a-z 0-9, the rest
    A-Z a-z 0-9 . _ @ -. Returns ``s``."""
    lib.mr_name_validate_label(_ffi.encode(s, "label"))
    return s


def pod_interface(pod_id):
    """The interface name of a pod: "wg-" and the first 6 hex digits of
    SHA-256(pod_id). ``pod_id`` must be a valid label."""
    buf = ctypes.create_string_buffer(IFNAMSIZ)
    lib.mr_name_pod_interface(buf, IFNAMSIZ, _ffi.encode(pod_id, "pod id"))
    return buf.value.decode("ascii")


def is_pod_interface(s):
    """Whether ``s`` is exactly "wg-" and 6 lowercase hex digits."""
    if not isinstance(s, (str, bytes)):
        return False
    try:
        b = _ffi.encode(s)
    except ValueError:
        return False
    return bool(lib.mr_name_is_pod_interface(b))

# SPDX-License-Identifier: MIT
"""Exceptions raised by the binding: one class per libmyrelay error code.

Each class also inherits the closest built-in exception, so ordinary Python
code can catch ``ValueError``, ``LookupError`` or ``PermissionError``.
"""


class MyRelayError(Exception):
    """A libmyrelay call failed. ``code`` is the negative MR_E* value,
    ``name`` its stable name, ``message`` the library's detail."""

    code = None
    name = "unknown"

    def __init__(self, message, code=None):
        Exception.__init__(self, message)
        if code is not None:
            self.code = code
        self.message = message

    def __str__(self):
        return self.message


class InvalidInputError(MyRelayError, ValueError):
    code, name = -1, "invalid"


class OutOfMemoryError(MyRelayError, MemoryError):
    code, name = -2, "no_memory"


class NotFoundError(MyRelayError, LookupError):
    code, name = -3, "not_found"


class ExistsError(MyRelayError, FileExistsError):
    code, name = -4, "exists"


class ForbiddenError(MyRelayError, PermissionError):
    code, name = -5, "forbidden"


class AuthenticationError(MyRelayError, PermissionError):
    code, name = -6, "unauthenticated"


class TooLargeError(MyRelayError, ValueError):
    code, name = -7, "too_large"


class RateLimitedError(MyRelayError):
    code, name = -8, "rate_limited"


class ExhaustedError(MyRelayError):
    code, name = -9, "exhausted"


class IOFailureError(MyRelayError, IOError):
    code, name = -10, "io"


class SystemFailureError(MyRelayError, OSError):
    code, name = -11, "system"


class CryptoError(MyRelayError):
    code, name = -12, "crypto"


class NotSupportedError(MyRelayError, NotImplementedError):
    code, name = -13, "not_supported"


class KernelError(MyRelayError, OSError):
    code, name = -14, "kernel"


class DatabaseError(MyRelayError):
    code, name = -15, "database"


class OperationTimeoutError(MyRelayError, TimeoutError):
    code, name = -16, "timeout"


class ConflictError(MyRelayError):
    code, name = -17, "conflict"


class IntegrityError(MyRelayError, ValueError):
    code, name = -18, "integrity"


class NetworkError(MyRelayError, ConnectionError):
    code, name = -19, "network"


_BY_CODE = {cls.code: cls for cls in MyRelayError.__subclasses__()}


def from_code(code, message):
    """The exception instance for a negative return code."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return MyRelayError(message or f"unknown error {code}", code)
    return cls(message or cls.name, code)

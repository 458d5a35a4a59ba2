# SPDX-License-Identifier: MIT
"""The node-side context: netlink sockets, WireGuard backend, logging.

    >>> from myrelay.ctx import Context, BACKEND_USERSPACE
    >>> with Context(backend=BACKEND_USERSPACE) as ctx:
    ...     ctx.has_kernel_wireguard()
    False
"""
import ctypes
import weakref

from . import _ffi
from ._ffi import lib

BACKEND_AUTO = 0
BACKEND_KERNEL = 1
BACKEND_USERSPACE = 2

LOG_ERROR = 3
LOG_WARNING = 4
LOG_INFO = 6
LOG_DEBUG = 7


def _free(handle):
    lib.mr_ctx_free(handle)


class Context:
    """Owns an mr_ctx. ``log`` is a callable ``(level, message)`` or None."""

    def __init__(self, backend=BACKEND_AUTO, userspace_dir=None, wireguard_go=None,
                 log=None, log_level=LOG_INFO):
        handle = ctypes.POINTER(_ffi.MrCtx)()
        lib.mr_ctx_new(ctypes.byref(handle))
        self._handle = handle
        self._finalizer = weakref.finalize(self, _free, handle)
        self._log_cb = None
        self.backend = backend
        if userspace_dir is not None:
            self.userspace_dir = userspace_dir
        if wireguard_go is not None:
            self.wireguard_go = wireguard_go
        if log is not None:
            self.set_log(log, log_level)

    @property
    def handle(self):
        """The underlying POINTER(MrCtx), for other modules of the binding."""
        if self._handle is None:
            raise ValueError("context is closed")
        return self._handle

    def close(self):
        """Close the sockets and free the context (idempotent)."""
        if self._handle is not None:
            self._finalizer()
            self._handle = None
            self._log_cb = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def set_log(self, fn, level=LOG_INFO):
        """Send the library's log lines to ``fn(level, message)``; None stops."""
        if fn is None:
            lib.mr_ctx_set_log(self.handle, _ffi.MrLogFn(), level, None)
            self._log_cb = None
            return

        def trampoline(lvl, msg, _userdata):
            fn(lvl, msg.decode("utf-8", "replace"))

        cb = _ffi.MrLogFn(trampoline)
        lib.mr_ctx_set_log(self.handle, cb, level, None)
        self._log_cb = cb  # the C side keeps the pointer: keep the object alive

    @property
    def backend(self):
        return lib.mr_ctx_get_backend(self.handle)

    @backend.setter
    def backend(self, value):
        lib.mr_ctx_set_backend(self.handle, int(value))

    @property
    def userspace_dir(self):
        return lib.mr_ctx_get_userspace_dir(self.handle).decode()

    @userspace_dir.setter
    def userspace_dir(self, value):
        lib.mr_ctx_set_userspace_dir(self.handle, _ffi.encode(value, "userspace dir"))

    @property
    def wireguard_go(self):
        return lib.mr_ctx_get_wireguard_go(self.handle).decode()

    @wireguard_go.setter
    def wireguard_go(self, value):
        lib.mr_ctx_set_wireguard_go(self.handle, _ffi.encode(value, "wireguard-go path"))

    def has_kernel_wireguard(self):
        """Whether the running kernel has the WireGuard netlink family."""
        out = ctypes.c_bool()
        lib.mr_ctx_has_kernel_wireguard(self.handle, ctypes.byref(out))
        return out.value

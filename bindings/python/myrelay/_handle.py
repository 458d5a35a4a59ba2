# SPDX-License-Identifier: MIT
"""Ownership of a libmyrelay handle, shared by the binding's classes."""
import weakref


class Handle:
    """An owned libmyrelay handle with close(), context management and a
    finalizer.

    A subclass sets ``_free`` to the library function that frees its handle
    (``staticmethod(lib.mr_x_free)``), calls ``self._own(handle)`` once the
    library has created it, and reaches it through ``self._h()``. It may set
    ``_closed_message``, the ValueError text of ``_h()`` once closed (default
    "<ClassName> is closed").
    """

    _free = None
    _closed_message = None

    def _own(self, handle):
        self._handle = handle
        # The finalizer holds the free function and the handle, not self, so
        # a forgotten object is still freed when it is collected.
        self._finalizer = weakref.finalize(self, type(self)._free, handle)

    def close(self):
        """Free the handle now (idempotent)."""
        if getattr(self, "_finalizer", None) is not None:
            self._finalizer()
        self._handle = None

    @property
    def closed(self):
        return getattr(self, "_handle", None) is None

    def _h(self):
        if self.closed:
            raise ValueError(self._closed_message or f"{type(self).__name__} is closed")
        return self._handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

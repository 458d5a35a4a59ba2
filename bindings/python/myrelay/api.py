# SPDX-License-Identifier: MIT
"""Client of the MyRelay control-plane API (HTTPS, JSON), through libmyrelay.

    >>> from myrelay.api import Client
    >>> with Client("https://ctl.example.com:8443", token, ca="/etc/myrelay/ca.crt") as c:
    ...     status, answer = c.request("GET", "/v1/pod/peers")
    ...     status, answer = c.request("POST", "/v1/pod/peers",
    ...                                {"name": "laptop", "public_key": pub})

The server's certificate is always verified: against the CA file given as
``ca`` (only that CA is trusted), else against the system's trust store.
There is no switch to turn verification off. Plain ``http://`` is accepted
only for a loopback URL and ``allow_http=True`` (a test server run with
``--insecure``).

Error answers raise the classes of :mod:`myrelay.errors` chosen by the
server's ``"error"`` name, with the server's message: ``NotFoundError``
(a ``LookupError``) for 404 ``not_found``, ``InvalidInputError`` (a
``ValueError``) for 400, ``AuthenticationError`` for 401, ``ForbiddenError``
for 403, ``RateLimitedError`` for 429 (see :attr:`Client.retry_after`)...
Transport failures raise ``NetworkError`` (a ``ConnectionError``),
``OperationTimeoutError`` (a ``TimeoutError``), and ``AuthenticationError``
when the server's certificate does not verify.
"""
import ctypes
import json
from ctypes import POINTER, byref, c_char, c_long, c_void_p

from ._ffi import MrApi, encode, lib
from ._handle import Handle

__all__ = ["Client", "DEFAULT_TIMEOUT", "DEFAULT_CONNECT_TIMEOUT"]

DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0


def _ms(seconds, what):
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what}: expected seconds as a number")
    ms = int(round(seconds * 1000))
    if ms < 1 or ms > 0xFFFFFFFF:
        raise ValueError(f"{what}: {seconds} s out of range")
    return ms


def _take_body(ptr):
    """Copy an answer body and wipe and free the library's copy."""
    if not ptr.value:
        return ""
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        lib.mr_api_free_body(ctypes.cast(ptr.value, POINTER(c_char)))


class Client(Handle):
    """A client of one MyRelay server. Use it from one thread at a time;
    it keeps its connection open between requests."""

    _free = staticmethod(lib.mr_api_free)
    _closed_message = "api: the client is closed"

    def __init__(self, url, token=None, ca=None, allow_http=False, timeout=None,
                 connect_timeout=None, user_agent=None):
        """url: "https://HOST[:PORT]"; token: the bearer token (None: send
        none); ca: path of the CA certificate file to trust (None: the
        system's trust store); allow_http: accept a loopback http:// URL;
        timeout / connect_timeout: seconds."""
        handle = POINTER(MrApi)()
        lib.mr_api_new(byref(handle), encode(str(url), "url"),
                       None if ca is None else encode(str(ca), "ca"),
                       None if token is None else encode(token, "token"))
        self._own(handle)
        if allow_http:
            lib.mr_api_set_allow_http(handle, True)
        if timeout is not None:
            lib.mr_api_set_timeout(handle, _ms(timeout, "timeout"))
        if connect_timeout is not None:
            lib.mr_api_set_connect_timeout(handle, _ms(connect_timeout, "connect timeout"))
        if user_agent is not None:
            lib.mr_api_set_user_agent(handle, encode(user_agent, "user agent"))

    @property
    def url(self):
        """The base URL, without a trailing '/'."""
        return lib.mr_api_get_url(self._h()).decode()

    @property
    def last_status(self):
        """HTTP status of the last answer (also after an error); 0 if none."""
        return lib.mr_api_last_status(self._h())

    @property
    def retry_after(self):
        """Seconds the server asked to wait in its last answer (429, 503); 0 if none."""
        return lib.mr_api_retry_after(self._h())

    def set_max_response(self, max_bytes):
        """Largest answer body accepted (TooLargeError above it)."""
        lib.mr_api_set_max_response(self._h(), int(max_bytes))

    def request(self, method, path, body=None, timeout=None):
        """Send one request; return (status, answer) where answer is the
        parsed JSON (None for an empty body, e.g. 304 Not Modified).

        body: a dict or list (sent as JSON), a str/bytes of JSON text, or
        None. timeout: seconds for this request only (long polls)."""
        h = self._h()
        if body is None:
            data = None
        elif isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        else:
            data = encode(body, "body")
        status = c_long()
        out = c_void_p()
        if timeout is None:
            lib.mr_api_request(h, encode(method, "method"), encode(path, "path"), data,
                               byref(status), byref(out))
        else:
            lib.mr_api_request_timeout(h, encode(method, "method"), encode(path, "path"), data,
                                       _ms(timeout, "timeout"), byref(status), byref(out))
        text = _take_body(out)
        return status.value, (json.loads(text) if text.strip() else None)

    def get(self, path, timeout=None):
        return self.request("GET", path, timeout=timeout)

    def post(self, path, body=None, timeout=None):
        return self.request("POST", path, body, timeout=timeout)

    def delete(self, path, timeout=None):
        return self.request("DELETE", path, timeout=timeout)

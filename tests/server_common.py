# SPDX-License-Identifier: MIT
"""Helpers for the myrelay-server tests: a real server on a free loopback
port in a temporary data directory, and clients that speak to it the way
real ones do (Python's http.client over TLS verified with the generated CA,
and curl). Nothing here mocks the server."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time

BUILDDIR = os.environ.get("top_builddir", os.path.abspath("."))
SRCDIR = os.environ.get("top_srcdir", os.path.abspath("."))
SERVER = os.path.join(BUILDDIR, "frontends", "server", "myrelay-server")

# A well-formed WireGuard public key that no fixture uses.
def wg_key(n):
    """Deterministic distinct valid public keys (32 bytes, not all zero)."""
    import base64
    raw = bytes([(n >> 8) & 0xFF, n & 0xFF, 7]) + bytes(range(1, 30))
    return base64.b64encode(raw).decode()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.raw[:300])


class Server:
    """One myrelay-server: init'ed data directory, running process."""

    def __init__(self, tmp=None, names=("localhost", "127.0.0.1"), init=True):
        self.tmp = tmp or tempfile.mkdtemp(prefix="mr-server-")
        self.owns_tmp = tmp is None
        self.data = os.path.join(self.tmp, "data")
        self.proc = None
        self.port = None
        self.log = []
        self.history = []      # logs of earlier runs
        self.exit_codes = []   # of runs stopped by stop()
        self.log_lock = threading.Lock()
        self.admin = None
        self.tls = True
        if init:
            self.init(names)

    # --- processes -------------------------------------------------------
    def init(self, names=("localhost", "127.0.0.1"), extra=()):
        args = [SERVER, "init", "--data-dir", self.data]
        for n in names:
            args += ["--name", n]
        p = subprocess.run(args + list(extra), capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("init failed: %s" % p.stderr)
        self.admin = p.stdout.strip()
        return p

    @property
    def db(self):
        return os.path.join(self.data, "store.db")

    @property
    def ca(self):
        return os.path.join(self.data, "ca.crt")

    def start(self, *extra, rate="0", insecure=False, expect_fail=False, listen="127.0.0.1:0"):
        args = [SERVER, "run", "--data-dir", self.data, "--listen", listen]
        if rate is not None:
            args += ["--rate", str(rate)]
        if insecure:
            args.append("--insecure")
        args += list(extra)
        self.tls = not insecure
        self.history.extend(self.log)
        self.log = []
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.port = None
        listening = threading.Event()
        threading.Thread(target=self._drain, args=(self.proc, listening), daemon=True).start()
        deadline = time.time() + 15
        while time.time() < deadline and not listening.is_set():
            if self.proc.poll() is not None:
                break
            listening.wait(0.05)
        if listening.is_set():
            return self
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        time.sleep(0.1)  # let the reader thread collect the last lines
        self.proc = None
        if expect_fail:
            return rc
        raise RuntimeError("server did not start (rc %s): %s" % (rc, self.logtext()))

    def _drain(self, proc, listening):
        for line in proc.stderr:
            with self.log_lock:
                self.log.append(line)
            m = re.search(r"listening on https?://\[?[0-9a-f.:]+\]?:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                listening.set()
        proc.stderr.close()

    def logtext(self):
        with self.log_lock:
            return "".join(self.log)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if not self.proc:
            return None
        proc = self.proc
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        self.proc = None
        self.exit_codes.append(rc)
        return rc

    def close(self):
        """Stop the server; a non-zero exit status or a sanitizer report in
        its log (leaks are reported at exit) fails the test."""
        self.stop()
        if self.owns_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        time.sleep(0.05)  # the reader thread's last lines
        log = "".join(self.history) + self.logtext()
        if any(self.exit_codes) or re.search(r"Sanitizer|runtime error:", log):
            raise AssertionError("server exit statuses %s\n%s" % (self.exit_codes, log[-4000:]))

    # --- clients ---------------------------------------------------------
    def context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        return ctx

    def connection(self, source=None, timeout=20, host="localhost"):
        src = (source, 0) if source else None
        if self.tls:
            return http.client.HTTPSConnection(host, self.port, context=self.context(),
                                               timeout=timeout, source_address=src)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=src)

    def request(self, method, path, token=None, body=None, headers=None, source=None,
                timeout=20, raw=False, host="localhost"):
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if body is not None and not raw:
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None:
            hdrs.setdefault("Content-Type", "application/json")
        conn = self.connection(source=source, timeout=timeout, host=host)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read().decode("utf-8", "replace")
            return Response(resp.status, resp.getheaders(), data)
        finally:
            conn.close()

    def ok(self, method, path, token=None, body=None, status=None, **kw):
        r = self.request(method, path, token=token or self.admin, body=body, **kw)
        want = status or (200, 201)
        if isinstance(want, int):
            want = (want,)
        if r.status not in want:
            raise AssertionError("%s %s: wanted %s, got %r" % (method, path, want, r))
        return r.json

    def raw_exchange(self, data, source=None, timeout=10):
        """Send raw bytes over TLS and read one response: (status, body)."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout,
                                       source_address=(source, 0) if source else None)
        sock = self.context().wrap_socket(raw, server_hostname="localhost") if self.tls else raw
        try:
            sock.sendall(data)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
            head, _, body = buf.partition(b"\r\n\r\n")
            m = re.search(rb"content-length:\s*(\d+)", head, re.I)
            while m and len(body) < int(m.group(1)):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            status = int(head.split(b" ")[1]) if head else 0
            return status, body.decode("utf-8", "replace")
        finally:
            sock.close()

    def curl(self, method, path, token=None, body=None, extra=()):
        args = ["curl", "-sS", "-X", method, "--cacert", self.ca, "-w", "\n%{http_code}",
                "https://localhost:%d%s" % (self.port, path)]
        if token:
            args += ["-H", "Authorization: Bearer " + token]
        if body is not None:
            text = body if isinstance(body, str) else json.dumps(body)
            path = os.path.join(self.tmp, "curl-body")
            with open(path, "w") as f:
                f.write(text)
            args += ["-H", "Content-Type: application/json", "--data-binary", "@" + path]
        p = subprocess.run(args + list(extra), capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise AssertionError("curl failed: %s" % p.stderr)
        text, _, code = p.stdout.rpartition("\n")
        return int(code), (json.loads(text) if text.strip() else None)

    # --- database --------------------------------------------------------
    def dump(self):
        """The database as the sqlite3 program dumps it, with each token's
        last_used blanked: verifying a token may record it (at most once a
        minute), and that is not a change a refused request made."""
        p = subprocess.run(["sqlite3", self.db, ".dump"], capture_output=True, text=True,
                           timeout=30)
        if p.returncode != 0:
            raise RuntimeError("sqlite3 .dump: " + p.stderr)
        return normalise_dump(p.stdout.splitlines())

    def quick_dump(self):
        """Same as dump() through Python's sqlite3 (fast enough for one
        dump per request)."""
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True)
        try:
            return normalise_dump(list(con.iterdump()))
        finally:
            con.close()


_TOKEN_ROW = re.compile(r"^(INSERT INTO \"?tokens\"? VALUES\(.*),(NULL|-?\d+)\);$")


def normalise_dump(lines):
    out = []
    for line in lines:
        m = _TOKEN_ROW.match(line)
        if m:
            line = m.group(1) + ",<last_used>);"
        out.append(line)
    return "\n".join(out)


def routes():
    """The server's own route table: [(method, path, auth)]."""
    p = subprocess.run([SERVER, "routes"], capture_output=True, text=True, check=True)
    table = []
    for line in p.stdout.splitlines():
        parts = line.split()
        table.append((parts[0], parts[1], parts[2]))
    return table


def require_server():
    import sys
    if not os.access(SERVER, os.X_OK):
        print("SKIP: %s not built" % SERVER)
        sys.exit(77)

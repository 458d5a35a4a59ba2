# SPDX-License-Identifier: MIT
"""myrelay.api: the API client.

Argument checks run everywhere. The rest runs against a real myrelay-server
started from the build tree (top_builddir) on a free loopback port, and is
skipped, loudly, when the server is not built.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from myrelay import errors, token
from myrelay.api import Client

BUILD = os.environ.get("top_builddir", "")
SERVER = os.path.join(BUILD, "frontends", "server", "myrelay-server") if BUILD else ""


class TestClientArguments(unittest.TestCase):
    def test_bad_urls(self):
        for url in ("", "ftp://x.example", "http://x.example", "https://u:p@x.example",
                    "https://x.example/?q=1", "https://x example"):
            with self.assertRaises(errors.InvalidInputError, msg=url) as cm:
                Client(url, None)
            self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(errors.InvalidInputError):
            Client("https://x.example", "mra_with space")
        with self.assertRaises(errors.InvalidInputError):
            Client("https://x.example", "a\0b")
        with self.assertRaises(errors.NotFoundError):
            Client("https://x.example", None, ca="/nonexistent/ca.crt")

    def test_url_and_options(self):
        with Client("https://x.example:8443/", "tok", timeout=5, connect_timeout=1,
                    user_agent="test/1") as c:
            self.assertEqual(c.url, "https://x.example:8443")
            self.assertEqual(c.last_status, 0)
            self.assertEqual(c.retry_after, 0)
            c.set_max_response(4096)
            with self.assertRaises(errors.InvalidInputError):
                c.set_max_response(10)
            with self.assertRaises(errors.InvalidInputError):
                c.request("GET", "no-slash")
            with self.assertRaises(errors.InvalidInputError):
                c.request("BREW", "/v1/pot")
            with self.assertRaises(ValueError):
                c.request("GET", "/v1/x", timeout=0)
        self.assertTrue(c.closed)
        with self.assertRaises(ValueError):
            c.request("GET", "/v1/x")
        with self.assertRaises(ValueError):
            Client("https://x.example", None, timeout=-1)

    def test_plain_http_needs_allow(self):
        with Client("http://127.0.0.1:9", None) as c:
            with self.assertRaises(errors.InvalidInputError) as cm:
                c.get("/healthz")
            self.assertIn("plain http", str(cm.exception))
        with Client("http://127.0.0.1:9", None, allow_http=True, timeout=2) as c:
            # Port 9 (discard) is closed on loopback: a network error now.
            with self.assertRaises(errors.NetworkError) as cm:
                c.get("/healthz")
            self.assertIsInstance(cm.exception, ConnectionError)

    def test_connection_refused(self):
        with Client("https://127.0.0.1:9", "mra_x", timeout=2) as c:
            with self.assertRaises(errors.NetworkError):
                c.get("/v1/status")


class Server:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="mr-pyapi-")
        self.data = os.path.join(self.tmp, "data")
        p = subprocess.run([SERVER, "init", "--data-dir", self.data, "--name", "localhost"],
                           capture_output=True, text=True, timeout=30)
        if p.returncode:
            raise RuntimeError(p.stderr)
        self.admin = p.stdout.strip()
        self.ca = os.path.join(self.data, "ca.crt")
        self.log = open(os.path.join(self.tmp, "log"), "w+")
        self.proc = subprocess.Popen([SERVER, "run", "--data-dir", self.data, "--listen",
                                      "127.0.0.1:0", "--rate", "0", "--poll-timeout", "2"],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        deadline = time.monotonic() + 10
        while self.port is None and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
            self.log.seek(0)
            m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", self.log.read())
            self.port = int(m.group(1)) if m else None
        if self.port is None:
            self.close()
            raise RuntimeError("myrelay-server did not start")
        self.url = f"https://localhost:{self.port}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


@unittest.skipUnless(SERVER and os.access(SERVER, os.X_OK),
                     "myrelay-server is not built (top_builddir/frontends/server): "
                     "the client is not tested against a real server")
class TestAgainstServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = Server()
        cls.admin = Client(cls.srv.url, cls.srv.admin, ca=cls.srv.ca)

    @classmethod
    def tearDownClass(cls):
        cls.admin.close()
        cls.srv.close()

    def test_admin_calls(self):
        status, ov = self.admin.get("/v1/status")
        self.assertEqual(status, 200)
        self.assertIn("nodes", ov)
        status, cu = self.admin.post("/v1/customers", {"name": "py-acme"})
        self.assertEqual(status, 201)
        self.assertEqual(cu["customer"]["name"], "py-acme")
        with self.assertRaises(errors.ExistsError) as cm:
            self.admin.post("/v1/customers", '{"name": "py-acme"}')
        self.assertEqual(self.admin.last_status, 409)
        with self.assertRaises(errors.NotFoundError) as cm:
            self.admin.get("/v1/customers/cu_aaaaaaaaaaaa")
        self.assertIsInstance(cm.exception, LookupError)
        self.assertEqual(self.admin.last_status, 404)
        with self.assertRaises(errors.InvalidInputError) as cm:
            self.admin.post("/v1/customers", {"name": "py acme"})
        self.assertIn("name", str(cm.exception))
        status, body = self.admin.delete("/v1/customers/" + cu["customer"]["id"])
        self.assertEqual(status, 200)

    def test_unknown_and_wrong_tokens(self):
        never_issued = token.generate("admin").token
        typo = self.srv.admin[:-6] + ("aaaaaa" if not self.srv.admin.endswith("aaaaaa")
                                      else "bbbbbb")
        for text in (never_issued, typo):
            with Client(self.srv.url, text, ca=self.srv.ca) as c:
                with self.assertRaises(errors.AuthenticationError) as cm:
                    c.get("/v1/status")
                self.assertEqual(c.last_status, 401)
                self.assertNotIn(text, str(cm.exception))
        with Client(self.srv.url, None, ca=self.srv.ca) as c:
            with self.assertRaises(errors.AuthenticationError):
                c.get("/v1/status")
            status, health = c.get("/healthz")
            self.assertEqual((status, health["status"]), (200, "ok"))

    def test_node_long_poll(self):
        status, reg = self.admin.post("/v1/nodes", {"name": "py-node", "region": "eu",
                                                     "endpoint": "vpn.example.com"})
        self.assertEqual(status, 201)
        with Client(self.srv.url, reg["secret"], ca=self.srv.ca) as node:
            # A node token may not use admin routes.
            with self.assertRaises(errors.ForbiddenError):
                node.get("/v1/nodes")
            status, desired = node.get("/v1/node/desired")
            self.assertEqual(status, 200)
            gen = desired["generation"]
            # Nothing changes: 304 after the server's poll timeout (2 s here).
            t = time.monotonic()
            status, body = node.get(f"/v1/node/desired?after={gen}&timeout=1", timeout=10)
            self.assertEqual((status, body), (304, None))
            self.assertGreater(time.monotonic() - t, 0.8)
            # A client-side limit shorter than the poll: a timeout error.
            with self.assertRaises(errors.OperationTimeoutError) as cm:
                node.get(f"/v1/node/desired?after={gen}", timeout=0.3)
            self.assertIsInstance(cm.exception, TimeoutError)
        self.admin.delete("/v1/nodes/" + reg["node"]["id"] + "?force=true")

    def test_wrong_ca(self):
        other = os.path.join(self.srv.tmp, "other")
        os.makedirs(other, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                        os.path.join(other, "k"), "-out", os.path.join(other, "c"), "-days",
                        "1", "-subj", "/CN=x"], capture_output=True, check=True)
        with Client(self.srv.url, self.srv.admin, ca=os.path.join(other, "c")) as c:
            with self.assertRaises(errors.AuthenticationError) as cm:
                c.get("/v1/status")
            self.assertIn("does not verify", str(cm.exception))
            self.assertEqual(c.last_status, 0)


if __name__ == "__main__":
    unittest.main()

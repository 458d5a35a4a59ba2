#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TLS verification of the API client against real certificates.

openssl(1) makes two ECDSA CAs and server certificates; Python's ssl module
serves HTTPS with them; the client under test is libmyrelay's mr_api (through
the Python binding). Checks that the right CA is accepted, and that another
CA, the system store, a wrong host name and a garbage CA file are refused
before any request reaches the server, with clear errors that never contain
the token.
"""
import http.server
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from myrelay import errors
from myrelay.api import Client

TOKEN = "mra_abcdefghijklmnop_" + "s" * 52 + "checks"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d)
    openssl("req", "-new", "-x509", "-key", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def make_leaf(d, name, ca, sans):
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=d)
    openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
            cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


class Handler(http.server.BaseHTTPRequestHandler):
    seen = []

    def log_message(self, *args):
        pass

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        Handler.seen.append((self.command, self.path, self.headers.get("Authorization")))
        if self.path == "/v1/missing":
            self.answer(404, {"error": "not_found", "message": "id: no such node"})
        elif self.path == "/v1/slow":
            time.sleep(1.5)
            self.answer(200, {})
        else:
            self.answer(200, {"path": self.path})

    do_POST = do_GET


class Server:
    def __init__(self, d, leaf):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(d, f"{leaf}.crt"), os.path.join(d, f"{leaf}.key"))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class TestTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.d = cls.tmp.name
        make_ca(d, "ca1")
        make_ca(d, "ca2")
        make_leaf(d, "good", "ca1", "DNS:localhost,IP:127.0.0.1")
        make_leaf(d, "otherhost", "ca1", "DNS:other.example")
        with open(os.path.join(d, "bundle.crt"), "w") as f:
            for n in ("ca2", "ca1"):
                with open(os.path.join(d, f"{n}.crt")) as ca:
                    f.write(ca.read())
        with open(os.path.join(d, "garbage.crt"), "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        cls.good = Server(d, "good")
        cls.other = Server(d, "otherhost")

    @classmethod
    def tearDownClass(cls):
        cls.good.close()
        cls.other.close()
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.d, name)

    def setUp(self):
        Handler.seen.clear()

    def refused(self, exc_class, url, ca, fragment):
        with Client(url, TOKEN, ca=ca, timeout=10) as c:
            with self.assertRaises(exc_class) as cm:
                c.request("GET", "/v1/nodes")
            self.assertEqual(c.last_status, 0)
        msg = str(cm.exception)
        if os.environ.get("VERBOSE"):
            print(f"\n    {type(cm.exception).__name__}: {msg}", file=sys.stderr)
        self.assertIn(fragment, msg)
        self.assertNotIn(TOKEN, msg)
        self.assertNotIn(TOKEN[:30], msg)
        # Refused during the handshake: no request reached the server.
        self.assertEqual(Handler.seen, [])
        return msg

    def test_right_ca_by_name_and_ip(self):
        for host in ("localhost", "127.0.0.1"):
            with Client(f"https://{host}:{self.good.port}", TOKEN, ca=self.path("ca1.crt")) as c:
                status, answer = c.request("GET", "/v1/nodes?status=active")
                self.assertEqual(status, 200)
                self.assertEqual(answer, {"path": "/v1/nodes?status=active"})
                self.assertEqual(c.last_status, 200)
        self.assertEqual(Handler.seen[-1], ("GET", "/v1/nodes?status=active",
                                            f"Bearer {TOKEN}"))

    def test_bundle_with_the_right_ca(self):
        with Client(f"https://localhost:{self.good.port}", TOKEN,
                    ca=self.path("bundle.crt")) as c:
            self.assertEqual(c.request("POST", "/v1/x", {"a": 1})[0], 200)

    def test_keepalive_several_requests(self):
        with Client(f"https://localhost:{self.good.port}", TOKEN, ca=self.path("ca1.crt")) as c:
            for i in range(5):
                self.assertEqual(c.get(f"/v1/n{i}")[1], {"path": f"/v1/n{i}"})
        self.assertEqual(len(Handler.seen), 5)

    def test_other_ca_refused(self):
        msg = self.refused(errors.AuthenticationError, f"https://localhost:{self.good.port}",
                           self.path("ca2.crt"), "does not verify")
        self.assertIn(self.path("ca2.crt"), msg)

    def test_system_store_refuses_internal_ca(self):
        msg = self.refused(errors.AuthenticationError, f"https://localhost:{self.good.port}",
                           None, "does not verify")
        self.assertIn("system", msg)

    def test_wrong_host_name_refused(self):
        self.refused(errors.AuthenticationError, f"https://localhost:{self.other.port}",
                     self.path("ca1.crt"), "does not verify")

    def test_ip_not_in_certificate_refused(self):
        self.refused(errors.AuthenticationError, f"https://127.0.0.1:{self.other.port}",
                     self.path("ca1.crt"), "does not verify")

    def test_garbage_ca_file(self):
        self.refused(errors.InvalidInputError, f"https://localhost:{self.good.port}",
                     self.path("garbage.crt"), "garbage.crt")

    def test_plain_http_to_tls_server(self):
        # http:// to a TLS server: allowed only explicitly; then not HTTP.
        with self.assertRaises(errors.InvalidInputError):
            Client(f"http://localhost:{self.good.port}", TOKEN).get("/v1/nodes")
        with Client(f"http://localhost:{self.good.port}", TOKEN, allow_http=True,
                    timeout=5) as c:
            with self.assertRaises(errors.MyRelayError):
                c.get("/v1/nodes")

    def test_error_answer_over_tls(self):
        with Client(f"https://localhost:{self.good.port}", TOKEN, ca=self.path("ca1.crt")) as c:
            with self.assertRaises(errors.NotFoundError) as cm:
                c.get("/v1/missing")
            self.assertEqual(str(cm.exception), "id: no such node")
            self.assertIsInstance(cm.exception, LookupError)
            self.assertEqual(c.last_status, 404)

    def test_per_request_timeout(self):
        with Client(f"https://localhost:{self.good.port}", TOKEN, ca=self.path("ca1.crt"),
                    timeout=30) as c:
            t = time.monotonic()
            with self.assertRaises(errors.OperationTimeoutError):
                c.get("/v1/slow", timeout=0.3)
            self.assertLess(time.monotonic() - t, 1.4)


if __name__ == "__main__":
    unittest.main(verbosity=2)

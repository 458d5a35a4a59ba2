# SPDX-License-Identifier: MIT
"""Tests of myrelay.wg: building and validating configurations, get/set/sync
through a fake userspace control socket (no privileges needed), and, as
root, a real wireguard-go device in a private network namespace (a
subprocess under `unshare -n`) cross-checked with wg(8)."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest

from myrelay import cidr, errors, wg
from myrelay.ctx import BACKEND_USERSPACE, Context
from myrelay.key import Key

PRIV = Key.from_base64("iABzX42ApUXr07yml1VxC5C8DTstqPU2oBvGxiS6DXU=")
PRIV_PUB = "AFg+HiTKNMgF0vlZiGzHd6mmhMn1vRaSnV2Z6MTbdQc="
PEER1 = "+V+9Jju8EOQWHYDaq2ZJmVggRX6k38cqCNBXNGEGf1E="
PEER2 = "HVJ38c5Gnmvuzm9ZGgoljjDwYwVG+BM0u/5dNrjfRw0="
PSK = "VVwJd/CMLdK3jVN5VYWYs3+2TKAr5eoojJHNRY7cA8w="


def hexkey(b64):
    return bytes(Key.from_base64(b64)).hex()


class TestBuild(unittest.TestCase):
    def test_device_fields(self):
        with wg.Device(private_key=PRIV, listen_port=51820, fwmark=7) as d:
            self.assertTrue(d.has_private_key)
            self.assertEqual(d.public_key.to_base64(), PRIV_PUB)
            self.assertEqual(d.private_key(), PRIV)
            self.assertEqual(d.listen_port, 51820)
            self.assertEqual(d.fwmark, 7)
            self.assertFalse(d.replace_peers)
            d.replace_peers = True
            self.assertTrue(d.replace_peers)
            # secrets do not show themselves
            self.assertNotIn(PRIV.to_base64(), repr(d))
            self.assertIn("hidden", str(d.private_key()))
        with wg.Device() as d:
            self.assertIsNone(d.listen_port)
            self.assertIsNone(d.fwmark)
            self.assertIsNone(d.public_key)
            self.assertIsNone(d.private_key())

    def test_peers(self):
        d = wg.Device()
        p = d.add_peer(PEER1, allowed_ips=["10.0.0.0/24", cidr.Prefix("fd00::/64")],
                       preshared_key=PSK, endpoint="[2001:DB8::1]:51820", keepalive=25)
        self.assertEqual(p.public_key.to_base64(), PEER1)
        self.assertEqual([str(a) for a in p.allowed_ips], ["10.0.0.0/24", "fd00::/64"])
        self.assertEqual(p.endpoint, "[2001:db8::1]:51820")
        self.assertEqual(p.keepalive, 25)
        self.assertEqual(p.preshared_key().to_base64(), PSK)
        p.set_preshared_key(None)
        self.assertIsNone(p.preshared_key())
        q = d.add_peer(PEER2, remove=True)
        self.assertTrue(q.remove)
        self.assertIsNone(q.keepalive)
        self.assertEqual(len(d), 2)
        self.assertEqual([x.public_key.to_base64() for x in d], [PEER1, PEER2])
        self.assertEqual(d.find_peer(PEER2).remove, True)
        self.assertIsNone(d.find_peer(PRIV_PUB))
        with self.assertRaises(errors.ExistsError):
            d.add_peer(PEER1)
        # a peer keeps its device alive; after close it refuses to work
        del d
        self.assertEqual(p.keepalive, 25)
        p._device.close()
        with self.assertRaises(ValueError):
            p.keepalive

    def test_refused_values_change_nothing(self):
        d = wg.Device(private_key=PRIV, listen_port=1)
        p = d.add_peer(PEER1, endpoint="192.0.2.1:5", keepalive=3)
        bad = [
            (lambda: setattr(d, "listen_port", 65536), "listen port"),
            (lambda: setattr(d, "listen_port", 2**32 + 1), "out of range"),
            (lambda: setattr(p, "keepalive", 65536), "keepalive"),
            (lambda: setattr(p, "endpoint", "vpn.example.com:51820"), "host names"),
            (lambda: setattr(p, "endpoint", "192.0.2.1:5\n"), "position"),
            (lambda: p.add_allowed_ip("10.0.0.1/24"), "host bits"),
            (lambda: d.add_peer("A" * 43 + "="), "public key"),
            (lambda: d.add_peer(PRIV_PUB), "own public key"),
        ]
        for fn, msg in bad:
            with self.assertRaises(ValueError) as cm:
                fn()
            self.assertIn(msg, str(cm.exception))
        self.assertEqual(d.listen_port, 1)
        self.assertEqual(p.endpoint, "192.0.2.1:5")
        self.assertEqual(p.keepalive, 3)
        self.assertEqual(p.allowed_ips, [])
        self.assertEqual(len(d), 1)
        with self.assertRaises(TypeError):
            p.keepalive = "25"


class FakeDaemon:
    """A userspace control socket: answers get=1 with `answer`, records set
    requests and answers them with errno=0."""

    def __init__(self, ifname, answer):
        self.dir = tempfile.mkdtemp(prefix="mr-wg-py.")
        self.answer = answer.encode()
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(os.path.join(self.dir, ifname + ".sock"))
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c, c.makefile("rb") as f:
                op = f.readline()
                if op == b"get=1\n":
                    f.readline()
                    c.sendall(self.answer)
                elif op == b"set=1\n":
                    lines = [op]
                    while True:
                        line = f.readline()
                        lines.append(line)
                        if line in (b"\n", b""):
                            break
                    self.requests.append(b"".join(lines).decode())
                    c.sendall(b"errno=0\n\n")

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class TestFakeDaemon(unittest.TestCase):
    def setUp(self):
        answer = (f"private_key={bytes(PRIV).hex()}\nlisten_port=51820\n"
                  f"public_key={hexkey(PEER1)}\npreshared_key={'0' * 64}\n"
                  "protocol_version=1\nendpoint=192.0.2.1:51820\n"
                  "last_handshake_time_sec=1700000000\nlast_handshake_time_nsec=42\n"
                  "tx_bytes=100\nrx_bytes=200\npersistent_keepalive_interval=0\n"
                  "allowed_ip=10.0.1.0/24\nerrno=0\n\n")
        self.fake = FakeDaemon("wgpy0", answer)
        self.ctx = Context(backend=BACKEND_USERSPACE, userspace_dir=self.fake.dir)

    def tearDown(self):
        self.ctx.close()
        self.fake.close()

    def test_get(self):
        with wg.get(self.ctx, "wgpy0") as d:
            self.assertEqual(d.public_key.to_base64(), PRIV_PUB)
            self.assertEqual(d.listen_port, 51820)
            self.assertEqual(d.fwmark, 0)
            p = d.find_peer(PEER1)
            self.assertEqual((p.rx_bytes, p.tx_bytes), (200, 100))
            self.assertEqual(p.last_handshake, (1700000000, 42))
            self.assertEqual(p.endpoint, "192.0.2.1:51820")
            self.assertEqual(p.protocol_version, 1)
            self.assertEqual(p.keepalive, 0)
            self.assertFalse(p.has_preshared_key)

    def test_set(self):
        with wg.Device() as d:
            d.add_peer(PEER2, allowed_ips=["10.0.2.0/24"], keepalive=5)
            wg.set(self.ctx, "wgpy0", d)
        self.assertEqual(self.fake.requests,
                         [f"set=1\npublic_key={hexkey(PEER2)}\n"
                          "persistent_keepalive_interval=5\nallowed_ip=10.0.2.0/24\n\n"])

    def test_sync(self):
        with wg.Device(private_key=PRIV, listen_port=51820) as d:
            d.add_peer(PEER1, allowed_ips=["10.0.1.0/24"])
            st = wg.sync(self.ctx, "wgpy0", d)
            self.assertEqual(st, wg.SyncStats(0, 0, 0, 1, 0, 0, 0))
            self.assertEqual(self.fake.requests, [])
            d.add_peer(PEER2, allowed_ips=["10.0.2.0/24"])
            st = wg.sync(self.ctx, "wgpy0", d, dry_run=True)
            self.assertEqual((st.added, st.unchanged, st.bytes_sent), (1, 1, 0))
            self.assertEqual(self.fake.requests, [])
            st = wg.sync(self.ctx, "wgpy0", d)
            self.assertEqual((st.added, st.unchanged, st.messages), (1, 1, 1))
            self.assertEqual(st.bytes_sent, len(self.fake.requests[0]))
            self.assertNotIn(hexkey(PEER1), self.fake.requests[0])

    def test_errors(self):
        with self.assertRaises(errors.NotFoundError):
            wg.get(self.ctx, "wgnothere")
        with self.assertRaises(errors.InvalidInputError):
            wg.get(self.ctx, "bad/name")
        d = wg.Device()
        d.add_peer(PEER1, allowed_ips=["10.0.0.0/24"])
        d.add_peer(PEER2, allowed_ips=["10.0.0.0/24"])
        with self.assertRaises(errors.InvalidInputError) as cm:
            wg.set(self.ctx, "wgpy0", d)
        self.assertIn("given to two peers", str(cm.exception))
        self.assertEqual(self.fake.requests, [])


# Runs inside `unshare -n` as root: a real wireguard-go device, set through
# the binding, read back by wg(8) and by the binding, synced, stopped.
NETNS_SCRIPT = textwrap.dedent("""
    import subprocess, sys
    from myrelay import wg
    from myrelay.ctx import Context
    from myrelay.key import Key
    ifname, peer1, peer2 = sys.argv[1:4]
    with Context() as ctx:
        pid = wg.start_userspace(ctx, ifname)
        try:
            priv = Key.generate()
            d = wg.Device(private_key=priv, listen_port=0, replace_peers=True)
            d.add_peer(peer1, allowed_ips=["10.0.1.0/24", "fd00:1::/64"], keepalive=25,
                       endpoint="192.0.2.1:51820")
            wg.set(ctx, ifname, d)
            dump = subprocess.run(["wg", "show", ifname, "dump"], check=True,
                                  capture_output=True, text=True).stdout.split("\\n")
            f = dump[1].split("\\t")
            assert dump[0].split("\\t")[1] == priv.public_key().to_base64(), dump[0]
            assert f[0] == peer1 and f[2] == "192.0.2.1:51820", f
            assert sorted(f[3].split(",")) == ["10.0.1.0/24", "fd00:1::/64"], f
            assert f[7] == "25", f
            got = wg.get(ctx, ifname)
            assert got.public_key == priv.public_key()
            assert int(dump[0].split("\\t")[2]) == got.listen_port != 0
            p = got.find_peer(peer1)
            assert p.keepalive == 25 and p.endpoint == "192.0.2.1:51820"
            d.add_peer(peer2, allowed_ips=["10.0.2.0/24"])
            st = wg.sync(ctx, ifname, d)
            assert (st.added, st.unchanged, st.removed) == (1, 1, 0), st
            assert len(wg.get(ctx, ifname)) == 2
        finally:
            wg.stop_userspace(ctx, ifname, pid)
    print("netns ok")
""")


@unittest.skipUnless(os.geteuid() == 0, "not root: no private network namespace (CI runs this)")
@unittest.skipUnless(shutil.which("wireguard-go") and shutil.which("wg") and
                     shutil.which("unshare"), "wireguard-go, wg or unshare missing")
class TestNetns(unittest.TestCase):
    def test_real_device(self):
        ifname = f"mrpy{os.getpid() % 65536:x}"
        env = dict(os.environ)
        p = subprocess.run(["unshare", "-n", sys.executable, "-c", NETNS_SCRIPT, ifname,
                            PEER1, PEER2], capture_output=True, text=True, env=env,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("netns ok", p.stdout)
        self.assertFalse(os.path.exists(f"/var/run/wireguard/{ifname}.sock"))


if __name__ == "__main__":
    unittest.main()

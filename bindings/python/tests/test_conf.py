# SPDX-License-Identifier: MIT
import gc
import unittest

from myrelay import conf, errors
from myrelay.conf import Config

PRIV = "iABzX42ApUXr07yml1VxC5C8DTstqPU2oBvGxiS6DXU="
PRIV_PUB = "AFg+HiTKNMgF0vlZiGzHd6mmhMn1vRaSnV2Z6MTbdQc="
PEER = "+V+9Jju8EOQWHYDaq2ZJmVggRX6k38cqCNBXNGEGf1E="
PSK = "VVwJd/CMLdK3jVN5VYWYs3+2TKAr5eoojJHNRY7cA8w="

FULL = dict(private_key=PRIV, addresses=["10.64.3.2/32", "fd00::2/128"], dns=["10.64.3.1"],
            mtu=1420, public_key=PEER, preshared_key=PSK, endpoint="vpn.example.com:51820",
            allowed_ips=["0.0.0.0/0", "::/0"], keepalive=25)

FULL_TEXT = f"""[Interface]
PrivateKey = {PRIV}
Address = 10.64.3.2/32, fd00::2/128
DNS = 10.64.3.1
MTU = 1420

[Peer]
PublicKey = {PEER}
PresharedKey = {PSK}
Endpoint = vpn.example.com:51820
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 25
"""

# (setter, value, expected message): each must be refused and change nothing.
INJECTIONS = [
    ("add_address", "10.0.0.1/32\nPostUp = rm -rf /", "conf: Address: contains a newline"),
    ("add_address", "10.0.0.1/32\r\n[Peer]", "conf: Address: contains a carriage return"),
    ("add_address", "x = y", "conf: Address: contains a space"),
    ("add_address", "10.0.0.1/32#", "conf: Address: contains '#'"),
    ("add_address", "10.0.0.1/32,10.0.0.2/32", "conf: Address: contains ','"),
    ("add_address", "10.0.0.1/32\u00a0", "conf: Address: contains a non-ASCII character"),
    ("add_dns", "10.64.3.1\nPostUp = id", "conf: DNS: contains a newline"),
    ("add_dns", "example.com", "conf: DNS: not an IP address (search domains are not supported)"),
    ("add_allowed_ip", "0.0.0.0/0\nPostDown = id", "conf: AllowedIPs: contains a newline"),
    ("add_allowed_ip", "10.0.0.1/8",
     "conf: AllowedIPs: host bits set (network is 10.0.0.0/8)"),
    ("endpoint", "1.2.3.4:51820\r\n[Peer]", "conf: Endpoint: contains a carriage return"),
    ("endpoint", "1.2.3.4:51820\n[Peer]", "conf: Endpoint: contains a newline"),
    ("endpoint", "[1.2.3.4]:51820", "conf: Endpoint: brackets are only for IPv6 addresses"),
    ("endpoint", "a=b:1", "conf: Endpoint: contains '='"),
    ("endpoint", "2001:db8::1:51820", "conf: Endpoint: an IPv6 address must be in brackets"),
    ("private_key", PRIV + "\n", "conf: PrivateKey: contains a newline"),
    ("private_key", PRIV[:-2] + "=", "conf: PrivateKey: expected 44 characters, got 43"),
    ("public_key", PEER + "\nPostUp = id", "conf: PublicKey: contains a newline"),
    ("preshared_key", " " + PSK, "conf: PresharedKey: contains a space"),
]


def apply(cfg, setter, value):
    attr = getattr(type(cfg), setter)
    if isinstance(attr, property):
        setattr(cfg, setter, value)
    else:
        getattr(cfg, setter)(value)


class TestConfig(unittest.TestCase):
    def test_render_full(self):
        with Config(**FULL) as c:
            self.assertEqual(c.render(), FULL_TEXT)

    def test_properties(self):
        c = Config()
        self.assertIsNone(c.private_key)
        self.assertEqual(c.addresses, ())
        self.assertEqual(c.mtu, 0)
        c.private_key = PRIV
        c.add_address("FD00:0::2/128")
        c.add_dns("2001:DB8::53")
        c.mtu = 1280
        c.public_key = PEER
        c.preshared_key = PSK
        c.endpoint = "[2001:DB8::1]:51820"
        c.add_allowed_ip("::/0")
        c.keepalive = 10
        self.assertEqual(c.private_key, PRIV)
        self.assertEqual(c.addresses, ("fd00::2/128",))
        self.assertEqual(c.dns, ("2001:db8::53",))
        self.assertEqual(c.mtu, 1280)
        self.assertEqual(c.public_key, PEER)
        self.assertEqual(c.preshared_key, PSK)
        self.assertEqual(c.endpoint, "[2001:db8::1]:51820")
        self.assertEqual(c.allowed_ips, ("::/0",))
        self.assertEqual(c.keepalive, 10)
        c.close()

    def test_round_trip(self):
        with Config(**FULL) as c:
            text = c.render()
        with Config.parse(text) as back:
            self.assertEqual(back.render(), text)
            self.assertEqual(back.addresses, ("10.64.3.2/32", "fd00::2/128"))
            self.assertEqual(back.endpoint, "vpn.example.com:51820")
            self.assertEqual(back.keepalive, 25)
        # bytes work too
        with Config.parse(text.encode()) as back:
            self.assertEqual(back.private_key, PRIV)

    def test_injections_refused_and_nothing_changes(self):
        for setter, value, msg in INJECTIONS:
            with self.subTest(setter=setter, value=value), Config(**FULL) as c:
                before = c.render()
                with self.assertRaises(errors.InvalidInputError) as cm:
                    apply(c, setter, value)
                self.assertIsInstance(cm.exception, ValueError)
                self.assertTrue(str(cm.exception).startswith(msg), str(cm.exception))
                self.assertNotIn(PRIV[:8], str(cm.exception))
                self.assertEqual(c.render(), before)

    def test_nul_refused(self):
        # C would cut the string at the NUL: the binding must refuse it.
        for setter, value in [("add_address", "10.0.0.1/32\0PostUp = id"),
                              ("add_dns", "10.64.3.1\0"),
                              ("add_allowed_ip", "0.0.0.0/0\0x"),
                              ("endpoint", "1.2.3.4:51820\0\n[Peer]"),
                              ("private_key", PRIV + "\0"),
                              ("public_key", PEER + "\0"),
                              ("preshared_key", PSK + "\0")]:
            with self.subTest(setter=setter), Config(**FULL) as c:
                before = c.render()
                with self.assertRaises(errors.InvalidInputError) as cm:
                    apply(c, setter, value)
                self.assertIn("contains a NUL character", str(cm.exception))
                self.assertEqual(c.render(), before)
        with self.assertRaises(errors.InvalidInputError):
            Config.parse(FULL_TEXT + "\0PostUp = id\n")

    def test_parse_refusals(self):
        cases = [
            (FULL_TEXT.replace("MTU = 1420", "PostUp = rm -rf /"),
             errors.InvalidInputError, "conf: line 5: PostUp is refused"),
            (FULL_TEXT.replace("MTU = 1420", "table = off"),
             errors.InvalidInputError, "conf: line 5: Table is refused"),
            (FULL_TEXT + "[Peer]\n", errors.InvalidInputError,
             "conf: line 13: only one [Peer] is supported"),
            (FULL_TEXT.replace("MTU = 1420", "Foo = 1"), errors.InvalidInputError,
             "conf: line 5: unknown key 'Foo'"),
            (FULL_TEXT.replace("DNS = 10.64.3.1", "DNS = 10.64.3.1, 10.64.3.1"),
             errors.ExistsError, "conf: line 4: DNS: 10.64.3.1 is already present"),
            (FULL_TEXT + "#" * conf.MAX_TEXT, errors.TooLargeError,
             "conf: text is larger than 65536 bytes"),
        ]
        for text, exc, msg in cases:
            with self.subTest(msg=msg):
                with self.assertRaises(exc) as cm:
                    Config.parse(text)
                self.assertTrue(str(cm.exception).startswith(msg), str(cm.exception))

    def test_incomplete_render(self):
        with Config(private_key=PRIV, addresses=["10.0.0.2/32"]) as c:
            with self.assertRaises(errors.InvalidInputError) as cm:
                c.render()
            self.assertEqual(str(cm.exception), "conf: incomplete configuration: "
                             "missing PublicKey, Endpoint, AllowedIPs")

    def test_numbers(self):
        with Config(**FULL) as c:
            with self.assertRaises(errors.InvalidInputError):
                c.mtu = 575
            # would wrap to 1420 in a C uint32_t
            with self.assertRaises(errors.InvalidInputError):
                c.mtu = 2**32 + 1420
            with self.assertRaises(errors.InvalidInputError):
                c.keepalive = -1
            with self.assertRaises(errors.InvalidInputError):
                c.mtu = 1000  # an IPv6 address needs 1280
            with self.assertRaises(TypeError):
                c.mtu = "1420"
            with self.assertRaises(TypeError):
                c.keepalive = True
            self.assertEqual((c.mtu, c.keepalive), (1420, 25))
            c.mtu = None
            c.keepalive = 0
            self.assertNotIn("MTU", c.render())
            self.assertNotIn("PersistentKeepalive", c.render())

    def test_constructor_refusal_and_types(self):
        with self.assertRaises(errors.InvalidInputError):
            Config(private_key=PRIV, endpoint="vpn.example.com:51820\nPostUp = id")
        with self.assertRaises(TypeError):
            Config(addresses="10.0.0.2/32")
        with self.assertRaises(TypeError):
            Config(endpoint=51820)
        with self.assertRaises(errors.ExistsError):
            Config(allowed_ips=["0.0.0.0/0", "0.0.0.0/0"])

    def test_self_peer_refused(self):
        with Config(**dict(FULL, public_key=PRIV_PUB)) as c:
            with self.assertRaises(errors.InvalidInputError) as cm:
                c.render()
            self.assertIn("own public key", str(cm.exception))

    def test_key_objects(self):
        try:
            from myrelay.key import Key
        except ImportError:
            self.skipTest("myrelay.key not available")
        if not hasattr(Key, "from_base64"):
            self.skipTest("myrelay.key.Key.from_base64 not available")
        k = Key.from_base64(PRIV)
        with Config(**dict(FULL, private_key=k)) as c:
            self.assertEqual(c.private_key, PRIV)

    def test_close_and_context(self):
        c = Config(**FULL)
        with c:
            self.assertFalse(c.closed)
        self.assertTrue(c.closed)
        c.close()  # idempotent
        with self.assertRaises(ValueError):
            c.render()
        with self.assertRaises(ValueError):
            _ = c.endpoint
        self.assertIn("closed", repr(c))
        # garbage collection frees the handle through the finalizer
        d = Config(**FULL)
        fin = d._finalizer
        del d
        gc.collect()
        self.assertFalse(fin.alive)

    def test_repr_hides_keys(self):
        with Config(**FULL) as c:
            r = repr(c)
            self.assertIn("vpn.example.com:51820", r)
            self.assertNotIn(PRIV, r)
            self.assertNotIn(PSK, r)


if __name__ == "__main__":
    unittest.main()

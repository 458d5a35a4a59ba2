# SPDX-License-Identifier: MIT
import copy
import gc
import ipaddress
import pickle
import random
import unittest

from myrelay import cidr, errors
from myrelay.cidr import HostAllocator, Prefix, SubnetPool


class TestParse(unittest.TestCase):
    def test_forms(self):
        self.assertEqual(str(cidr.parse("10.0.0.0/24")), "10.0.0.0/24")
        self.assertEqual(str(cidr.parse("10.0.0.5")), "10.0.0.5/32")
        self.assertEqual(str(cidr.parse_network("fd00:1::/64")), "fd00:1::/64")
        self.assertEqual(str(cidr.parse_interface("10.0.0.5/24")), "10.0.0.5/24")
        self.assertEqual(str(cidr.parse_address("2001:DB8:0:0:1:0:0:1")), "2001:db8::1:0:0:1/128")
        self.assertEqual(str(cidr.parse("::ffff:1.2.3.4")), "::ffff:1.2.3.4/128")

    def test_refusals_are_value_errors_naming_the_input(self):
        cases = [
            (cidr.parse_network, "10.0.0.1/24", "host bits set (network is 10.0.0.0/24)"),
            (cidr.parse_network, "10.0.0.0", "missing prefix length"),
            (cidr.parse_interface, "10.0.0.5", "missing prefix length"),
            (cidr.parse_address, "10.0.0.5/32", "bare address"),
            (cidr.parse, "010.0.0.1", "leading zero"),
            (cidr.parse, "10.0.0.0/024", "leading zero"),
            (cidr.parse, "fe80::1%eth0", "zone ids"),
            (cidr.parse, " 10.0.0.1", "leading whitespace"),
            (cidr.parse, "1::2::3", "more than one"),
            (cidr.parse, "10.0.0.0/33", "out of range"),
            (cidr.parse, "", "empty"),
        ]
        for fn, text, detail in cases:
            with self.subTest(text=text):
                with self.assertRaises(errors.InvalidInputError) as cm:
                    fn(text)
                self.assertIsInstance(cm.exception, ValueError)
                self.assertIn(detail, str(cm.exception))
                if text:
                    self.assertIn(f'"{text}"', str(cm.exception))

    def test_nul_and_types(self):
        with self.assertRaises(errors.InvalidInputError):
            cidr.parse("10.0.0.0\0/8")
        with self.assertRaises(TypeError):
            cidr.parse(10)

    def test_agrees_with_ipaddress(self):
        rng = random.Random(7)
        for _ in range(500):
            v = rng.getrandbits(128)
            ln = rng.randint(0, 128)
            net = ipaddress.IPv6Network((v, ln), strict=False)
            self.assertEqual(str(cidr.parse_network(net.compressed)), str(net))
            self.assertEqual(str(cidr.parse_network(net.exploded)), str(net))
            v4 = ipaddress.IPv4Network((rng.getrandbits(32), rng.randint(0, 32)), strict=False)
            self.assertEqual(str(cidr.parse(str(v4))), str(v4))


class TestPrefix(unittest.TestCase):
    def test_fields(self):
        p = Prefix("10.1.0.0/16")
        self.assertEqual((p.family, p.length, p.address), (4, 16, "10.1.0.0"))
        self.assertEqual(p.packed, bytes([10, 1, 0, 0]))
        self.assertEqual(p.max_length, 32)
        q = Prefix("fd00::/8")
        self.assertEqual((q.family, q.length, q.address, q.max_length), (6, 8, "fd00::", 128))
        self.assertEqual(len(q.packed), 16)

    def test_from_fields(self):
        self.assertEqual(str(Prefix(address="10.0.0.5", length=24)), "10.0.0.5/24")
        self.assertEqual(str(Prefix(address="10.0.0.5")), "10.0.0.5/32")
        self.assertEqual(str(Prefix(family=4, address=b"\x0a\0\0\x05", length=8)), "10.0.0.5/8")
        self.assertEqual(str(Prefix(address=bytes(16), length=0)), "::/0")
        with self.assertRaises(ValueError):
            Prefix(address="10.0.0.5", length=33)
        with self.assertRaises(ValueError):
            Prefix(family=6, address="10.0.0.5")
        with self.assertRaises(ValueError):
            Prefix(family=4, address=bytes(16))
        with self.assertRaises(TypeError):
            Prefix("10.0.0.0/8", length=8)
        with self.assertRaises(TypeError):
            Prefix()

    def test_value_semantics(self):
        a, b = Prefix("10.0.0.0/8"), cidr.parse("10.0.0.0/8")
        self.assertEqual(a, b)
        self.assertEqual(hash(a), hash(b))
        self.assertNotEqual(a, Prefix("10.0.0.0/9"))
        self.assertEqual(len({a, b, Prefix("::/0")}), 2)
        self.assertEqual(repr(a), "Prefix('10.0.0.0/8')")
        self.assertEqual(sorted([Prefix("::/0"), Prefix("10.0.0.0/8"), Prefix("1.0.0.0/8")]),
                         [Prefix("1.0.0.0/8"), Prefix("10.0.0.0/8"), Prefix("::/0")])
        self.assertEqual(copy.copy(a), a)
        self.assertEqual(pickle.loads(pickle.dumps(Prefix(address="10.0.0.5", length=24))),
                         cidr.parse_interface("10.0.0.5/24"))
        with self.assertRaises(AttributeError):
            a.length = 3
        self.assertEqual(Prefix(a), a)

    def test_relations(self):
        net = Prefix("10.0.0.0/8")
        self.assertTrue(net.contains("10.1.2.3"))
        self.assertTrue("10.1.0.0/16" in net)
        self.assertFalse(net.contains("11.0.0.0/8"))
        self.assertFalse(net.contains("::/0"))
        self.assertTrue(Prefix("10.1.0.0/16").overlaps(net))
        self.assertFalse(Prefix("10.0.0.0/25").overlaps("10.0.0.128/25"))
        with self.assertRaises(TypeError):
            net.contains(3)

    def test_network(self):
        p = cidr.parse_interface("10.1.2.3/9")
        self.assertFalse(p.is_network)
        self.assertEqual(str(p.network()), "10.0.0.0/9")
        self.assertTrue(p.network().is_network)


class TestSubtract(unittest.TestCase):
    def test_readme_example(self):
        got = cidr.subtract(["0.0.0.0/0", "::/0"], ["10.0.0.0/8", "fc00::/7"])
        self.assertTrue(all(isinstance(p, Prefix) for p in got))
        self.assertEqual([str(p) for p in got],
                         ["0.0.0.0/5", "8.0.0.0/7", "11.0.0.0/8", "12.0.0.0/6", "16.0.0.0/4",
                          "32.0.0.0/3", "64.0.0.0/2", "128.0.0.0/1",
                          "::/1", "8000::/2", "c000::/3", "e000::/4", "f000::/5", "f800::/6",
                          "fe00::/7"])

    def test_mixed_inputs_and_empty(self):
        self.assertEqual(cidr.subtract([], []), [])
        self.assertEqual(cidr.subtract([Prefix("10.0.0.0/8")], ["10.0.0.0/8"]), [])
        self.assertEqual(cidr.subtract(("10.0.0.0/25", "10.0.0.128/25"), []),
                         [Prefix("10.0.0.0/24")])
        with self.assertRaises(TypeError):
            cidr.subtract("10.0.0.0/8", [])
        with self.assertRaises(ValueError):
            cidr.subtract(["10.0.0.1/8"], [])

    def test_against_ipaddress(self):
        rng = random.Random(3)
        for _ in range(100):
            exc = [ipaddress.IPv4Network((rng.getrandbits(32), rng.randint(4, 32)), strict=False)
                   for _ in range(rng.randint(0, 8))]
            want = [ipaddress.ip_network("0.0.0.0/0")]
            for e in exc:
                want = [x for n in want
                        for x in ((n,) if not n.overlaps(e) else
                                  (n.address_exclude(e) if e.subnet_of(n) else ()))]
            want = [str(n) for n in ipaddress.collapse_addresses(want)]
            got = [str(p) for p in cidr.subtract(["0.0.0.0/0"], [str(e) for e in exc])]
            self.assertEqual(got, want)


class TestSubnetPool(unittest.TestCase):
    def test_alloc_release_reuse(self):
        with SubnetPool("10.64.0.0/16", 24) as pool:
            self.assertEqual(pool.count_free(), 256)
            got = [str(pool.alloc()) for _ in range(256)]
            self.assertEqual(got[0], "10.64.0.0/24")
            self.assertEqual(got[-1], "10.64.255.0/24")
            with self.assertRaises(errors.ExhaustedError):
                pool.alloc()
            pool.release("10.64.9.0/24")
            with self.assertRaises(errors.NotFoundError):
                pool.release("10.64.9.0/24")
            self.assertEqual(str(pool.alloc()), "10.64.9.0/24")
        self.assertTrue(pool.closed)
        with self.assertRaises(ValueError):
            pool.alloc()
        pool.close()  # idempotent

    def test_mark_used(self):
        pool = SubnetPool(Prefix("fd00:1::/48"), 64)
        pool.mark_used("fd00:1::/64")
        with self.assertRaises(errors.ExistsError):
            pool.mark_used("fd00:1::/64")
        with self.assertRaises(errors.InvalidInputError):
            pool.mark_used("fd00:2::/64")
        self.assertEqual(str(pool.alloc()), "fd00:1:0:1::/64")
        self.assertEqual(repr(pool), "SubnetPool('fd00:1::/48', 64)")
        del pool
        gc.collect()

    def test_bad_pool(self):
        with self.assertRaises(errors.InvalidInputError):
            SubnetPool("10.64.0.0/16", 8)
        with self.assertRaises(errors.InvalidInputError):
            SubnetPool("10.64.0.1/16", 24)


class TestHostAllocator(unittest.TestCase):
    def test_fill_slash24(self):
        with HostAllocator("10.0.0.0/24") as hosts:
            self.assertEqual(str(hosts.gateway), "10.0.0.1/24")
            self.assertEqual(hosts.count_free(), 253)
            got = [str(hosts.alloc()) for _ in range(253)]
            self.assertEqual(got, [f"10.0.0.{i}/32" for i in range(2, 255)])
            with self.assertRaises(errors.ExhaustedError):
                hosts.alloc()
            hosts.release("10.0.0.77")
            hosts.release(Prefix("10.0.0.20"))
            self.assertEqual(str(hosts.alloc()), "10.0.0.20/32")
            self.assertEqual(str(hosts.alloc()), "10.0.0.77/32")

    def test_mark_used_and_errors(self):
        hosts = HostAllocator("fd00::/64")
        self.assertEqual(str(hosts.gateway), "fd00::1/64")
        hosts.mark_used("fd00::2")
        hosts.mark_used("fd00::3/128")
        self.assertEqual(str(hosts.alloc()), "fd00::4/128")
        with self.assertRaises(errors.ExistsError):
            hosts.mark_used("fd00::2")
        with self.assertRaises(errors.InvalidInputError) as cm:
            hosts.mark_used("fd00::1")
        self.assertIn("gateway", str(cm.exception))
        with self.assertRaises(errors.NotFoundError):
            hosts.release("fd00::99")
        self.assertEqual(hosts.count_free(), 2 ** 64 - 2 - 3)
        hosts.close()

    def test_too_small(self):
        for s in ("10.0.0.0/31", "10.0.0.0/32", "fd00::/127"):
            with self.subTest(s=s), self.assertRaises(errors.InvalidInputError):
                HostAllocator(s)
        with HostAllocator("10.0.0.0/30") as h:
            self.assertEqual(str(h.alloc()), "10.0.0.2/32")
            with self.assertRaises(errors.ExhaustedError):
                h.alloc()


if __name__ == "__main__":
    unittest.main()

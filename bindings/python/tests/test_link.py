# SPDX-License-Identifier: MIT
"""The link module from Python. Validation runs anywhere; the kernel tests
run as root in a private network namespace: this file re-runs itself under
``unshare -n`` and the body checks the library against ip(8)."""
import json
import os
import shutil
import subprocess
import sys
import unittest

from myrelay import cidr, errors, link
from myrelay.ctx import Context, LOG_INFO

BAD_NAMES = ["", "a b", "../x", "0123456789abcdef", "eth0:1", "wg-\u00e9"]


def _raw_prefix(family, length, address):
    """A Prefix carrying any family/length, to reach the library's checks."""
    p = cidr.parse_address(address)
    raw = cidr.MrPrefix.from_buffer_copy(p._raw)
    raw.family, raw.len = family, length
    return cidr.Prefix._wrap(raw)


class TestValidation(unittest.TestCase):
    """Refused before any netlink traffic: no privileges needed."""

    def setUp(self):
        self.ctx = Context()

    def tearDown(self):
        self.ctx.close()

    def test_bad_names(self):
        for name in BAD_NAMES:
            with self.subTest(name=name):
                for call in (lambda: link.create_wireguard(self.ctx, name),
                             lambda: link.delete(self.ctx, name),
                             lambda: link.exists(self.ctx, name),
                             lambda: link.get(self.ctx, name),
                             lambda: link.set_mtu(self.ctx, name, 1420),
                             lambda: link.set_up(self.ctx, name),
                             lambda: link.get_addresses(self.ctx, name),
                             lambda: link.set_addresses(self.ctx, name, ["10.0.0.1/24"])):
                    with self.assertRaises(errors.InvalidInputError) as cm:
                        call()
                    self.assertIn("interface name", str(cm.exception))
                    self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(ValueError):
            link.delete(self.ctx, "a\0b")
        with self.assertRaises(TypeError):
            link.delete(self.ctx, None)
        with self.assertRaises(errors.InvalidInputError):
            link.list_links(self.ctx, "a b")

    def test_bad_mtu(self):
        for mtu in (0, 1279, 65536, 2**32 - 1, 2**32 + 1420, -1):
            with self.subTest(mtu=mtu):
                with self.assertRaises(errors.InvalidInputError):
                    link.set_mtu(self.ctx, "mr-none0", mtu)
        with self.assertRaises(TypeError):
            link.set_mtu(self.ctx, "mr-none0", "1420")
        with self.assertRaises(TypeError):
            link.set_mtu(self.ctx, "mr-none0", True)

    def test_bad_addresses(self):
        cases = [
            (["10.0.0.1/24", "224.0.0.1/24"], "multicast"),
            (["10.0.0.1/24", "fe80::1/64"], "link-local"),
            (["10.0.0.1/24", "10.0.0.1/16"], "repeats"),
            (["0.0.0.0/8"], "unspecified"),
            (["::1/128"], "loopback"),
            (["10.0.0.1/24", _raw_prefix(5, 24, "10.0.0.2")], "family 5"),
            (["10.0.0.1/24", _raw_prefix(4, 33, "10.0.0.2")], "prefix length 33"),
            ([_raw_prefix(4, 64, "fd00::2")], "too long for IPv4"),
            (["10.%d.%d.1/24" % (i // 256, i % 256) for i in range(257)], "at most 256"),
        ]
        for addrs, detail in cases:
            with self.subTest(detail=detail):
                # the link does not even exist: validation comes first
                with self.assertRaises(errors.InvalidInputError) as cm:
                    link.set_addresses(self.ctx, "mr-none0", addrs)
                self.assertIn(detail, str(cm.exception))
        with self.assertRaises(ValueError):
            link.set_addresses(self.ctx, "mr-none0", ["10.0.0.1"])  # no length
        with self.assertRaises(TypeError):
            link.set_addresses(self.ctx, "mr-none0", "10.0.0.1/24")
        with self.assertRaises(TypeError):
            link.set_addresses(self.ctx, "mr-none0", [42])

    def test_bad_family(self):
        for family in (1, 5, 10, -1):
            with self.assertRaises(errors.InvalidInputError):
                link.default_route_interfaces(self.ctx, family)

    def test_closed_context(self):
        ctx = Context()
        ctx.close()
        with self.assertRaises(ValueError):
            link.exists(ctx, "lo")


def _ip_json(*args):
    return json.loads(subprocess.run(["ip", "-j", *args], check=True, capture_output=True,
                                     text=True).stdout or "[]")


def _sh(cmd):
    subprocess.run(cmd, shell=True, check=True)


def _ip_addrs(name):
    return sorted(f"{a['local']}/{a['prefixlen']}" for a in _ip_json("addr", "show", "dev", name)[0]
                  ["addr_info"] if not a["local"].startswith("fe80:"))


def _netns_suite():
    """The kernel tests; defined in a function so that discovery outside the
    namespace does not collect them."""

    class InNetns(unittest.TestCase):
        def setUp(self):
            self.lines = []
            self.ctx = Context(log=lambda lvl, msg: self.lines.append((lvl, msg)),
                               log_level=LOG_INFO)
            _sh("ip link add mrp0 type veth peer name mrq0")

        def tearDown(self):
            self.ctx.close()
            subprocess.run("ip link del mrp0 2>/dev/null", shell=True)

        def test_link_state(self):
            self.assertTrue(link.exists(self.ctx, "mrp0"))
            self.assertFalse(link.exists(self.ctx, "mrp9"))
            info = link.get(self.ctx, "mrp0")
            ipl = _ip_json("link", "show", "dev", "mrp0")[0]
            self.assertEqual(info, link.Link("mrp0", ipl["ifindex"], ipl["mtu"], False, "veth"))
            link.set_mtu(self.ctx, "mrp0", link.MTU_DEFAULT)
            link.set_up(self.ctx, "mrp0")
            ipl = _ip_json("link", "show", "dev", "mrp0")[0]
            self.assertEqual(ipl["mtu"], 1420)
            self.assertIn("UP", ipl["flags"])
            self.assertEqual(link.get(self.ctx, "mrp0")[2:4], (1420, True))
            link.set_up(self.ctx, "mrp0", False)
            self.assertNotIn("UP", _ip_json("link", "show", "dev", "mrp0")[0]["flags"])
            self.assertIn((LOG_INFO, "link mrp0: MTU 1500 -> 1420"), self.lines)
            with self.assertRaises(errors.NotFoundError) as cm:
                link.get(self.ctx, "mrp9")
            self.assertIsInstance(cm.exception, LookupError)

        def test_list(self):
            names = [l.name for l in link.list_links(self.ctx, "mr")]
            self.assertEqual(names, ["mrp0", "mrq0"])
            everything = link.list_links(self.ctx)
            self.assertEqual([l.name for l in everything],
                             sorted(l["ifname"] for l in _ip_json("link", "show")))
            self.assertEqual([l.kind for l in everything if l.name == "lo"], [""])
            self.assertEqual(link.list_links(self.ctx, "zz"), [])

        def test_addresses(self):
            changes = link.set_addresses(self.ctx, "mrp0", ["fd77::1/64", "10.77.0.1/24"])
            self.assertEqual(changes, link.Changes(2, 0))
            self.assertEqual([str(p) for p in link.get_addresses(self.ctx, "mrp0")],
                             ["10.77.0.1/24", "fd77::1/64"])
            self.assertEqual(_ip_addrs("mrp0"), ["10.77.0.1/24", "fd77::1/64"])
            self.lines.clear()
            changes = link.set_addresses(self.ctx, "mrp0", [cidr.parse_interface("10.77.0.1/24"),
                                                            "10.78.0.1/24"])
            self.assertEqual(changes, link.Changes(1, 1))
            self.assertEqual(_ip_addrs("mrp0"), ["10.77.0.1/24", "10.78.0.1/24"])
            self.assertEqual(sorted(m for _, m in self.lines),
                             ["link mrp0: added address 10.78.0.1/24",
                              "link mrp0: removed address fd77::1/64"])
            self.assertEqual(link.set_addresses(self.ctx, "mrp0",
                                                ["10.77.0.1/24", "10.78.0.1/24"]),
                             link.Changes(0, 0))
            # bad input changes nothing
            before = _ip_json("addr", "show", "dev", "mrp0")
            for bad in (["10.77.0.1/24", "224.0.0.1/24"], ["fe80::2/64"],
                        ["10.9.0.1/24", "10.9.0.1/25"]):
                with self.assertRaises(errors.InvalidInputError):
                    link.set_addresses(self.ctx, "mrp0", bad)
            self.assertEqual(_ip_json("addr", "show", "dev", "mrp0"), before)
            self.assertEqual(link.set_addresses(self.ctx, "mrp0", []), link.Changes(0, 2))
            self.assertEqual(link.get_addresses(self.ctx, "mrp0"), [])
            with self.assertRaises(errors.NotFoundError):
                link.set_addresses(self.ctx, "mrp9", [])

        def test_default_routes(self):
            self.assertEqual(link.default_route_interfaces(self.ctx), [])
            _sh("ip link set mrp0 up && ip link set mrq0 up && "
                "ip addr add 192.0.2.1/24 dev mrp0 && "
                "ip route add default via 192.0.2.2 dev mrp0 && "
                "ip -6 route add default dev mrq0")
            self.assertEqual(link.default_route_interfaces(self.ctx), ["mrp0", "mrq0"])
            self.assertEqual(link.default_route_interfaces(self.ctx, 4), ["mrp0"])
            self.assertEqual(link.default_route_interfaces(self.ctx, 6), ["mrq0"])

        def test_create_wireguard_and_delete(self):
            with self.assertRaises(errors.ExistsError):
                link.create_wireguard(self.ctx, "mrp0")
            if os.path.exists("/sys/module/wireguard"):
                link.create_wireguard(self.ctx, "mrwg0")
                self.assertEqual(link.get(self.ctx, "mrwg0").kind, "wireguard")
                link.delete(self.ctx, "mrwg0")
            else:
                with self.assertRaises(errors.NotSupportedError) as cm:
                    link.create_wireguard(self.ctx, "mrwg0")
                self.assertIn("no WireGuard module", str(cm.exception))
                self.assertFalse(link.exists(self.ctx, "mrwg0"))
            link.delete(self.ctx, "mrp0")
            self.assertFalse(link.exists(self.ctx, "mrq0"))  # the pair goes together
            with self.assertRaises(errors.NotFoundError):
                link.delete(self.ctx, "mrp0")

    return unittest.defaultTestLoader.loadTestsFromTestCase(InNetns)


class TestInNetns(unittest.TestCase):
    def test_kernel(self):
        if os.geteuid() != 0:
            self.skipTest("NOT ROOT: the link tests in a private network namespace are NOT "
                          "run (CI runs them as root)")
        for prog in ("unshare", "ip"):
            if not shutil.which(prog):
                self.skipTest(f"{prog} NOT FOUND: the namespace tests are NOT run")
        env = dict(os.environ, MR_TEST_LINK_IN_NETNS="1")
        r = subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__)],
                           env=env, capture_output=True, text=True, timeout=120)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("Ran 5 tests", out)
        self.assertRegex(out, r"\nOK\s*$")


if __name__ == "__main__":
    if os.environ.get("MR_TEST_LINK_IN_NETNS") == "1":
        result = unittest.TextTestRunner(verbosity=2).run(_netns_suite())
        sys.exit(0 if result.wasSuccessful() else 1)
    unittest.main()

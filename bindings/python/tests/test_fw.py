# SPDX-License-Identifier: MIT
"""The firewall module from Python. Spec validation runs anywhere; the
kernel tests run as root in a private network namespace: this file re-runs
itself under ``unshare -n`` and the body checks the library against
``nft -j`` (nftables keeps one ruleset per namespace)."""
import json
import os
import shutil
import subprocess
import sys
import unittest

from myrelay import cidr, errors, fw
from myrelay.ctx import Context


class TestSpec(unittest.TestCase):
    """Refused before any netlink traffic: no privileges needed."""

    def test_good_spec(self):
        with fw.PodSpec("wg-abc123", ["10.64.1.1/24", cidr.parse_interface("fd00::1/64")],
                        listen_port=51820, intra_pod=False, dns=True) as spec:
            spec.add_subnet("10.65.0.1/16")
            self.assertFalse(spec.closed)
        self.assertTrue(spec.closed)
        spec.close()  # idempotent
        with self.assertRaises(ValueError):
            spec.add_subnet("10.66.0.1/24")

    def test_bad_names(self):
        for name in ["", "a b", "wg-0123456789abc", "a/b", "..", "wg-\u00e9"]:
            with self.subTest(name=name), self.assertRaises(errors.InvalidInputError):
                fw.PodSpec(name)
        with self.assertRaises(errors.InvalidInputError):
            fw.PodSpec("wg-a\0b")

    def test_bad_subnets(self):
        for gw in ["10.64.1.0/24", "10.64.1.255/24", "10.0.0.1/31", "0.0.0.1/0", "fd00::/64",
                   "fd00::1/127"]:
            with self.subTest(gateway=gw), self.assertRaises(errors.InvalidInputError) as cm:
                fw.PodSpec("wg-abc123", [gw])
            self.assertIn("wg-abc123", str(cm.exception))
        with self.assertRaises(errors.InvalidInputError):
            fw.PodSpec("wg-abc123", ["10.64.1.1/24", "10.64.1.9/16"])  # overlap
        with self.assertRaises(errors.InvalidInputError):
            fw.PodSpec("wg-abc123", ["10.64.1.1"])  # not the interface form
        with self.assertRaises(errors.InvalidInputError):
            fw.PodSpec("wg-abc123", [f"10.{i}.0.1/24" for i in range(fw.SUBNETS_MAX + 1)])

    def test_bad_ports(self):
        for port in [65536, -1, 2**32, 2**40]:
            with self.subTest(port=port), self.assertRaises(errors.InvalidInputError):
                fw.PodSpec("wg-abc123", listen_port=port)
        with self.assertRaises(TypeError):
            fw.PodSpec("wg-abc123", listen_port="51820")

    def test_bad_uplinks_refused_before_the_kernel(self):
        with Context() as ctx, fw.PodSpec("wg-abc123", ["10.64.1.1/24"]) as spec:
            for uplinks in [["e/th0"], ["wg-abc123"], ["eth0", "eth0"],
                            [f"u{i}" for i in range(fw.UPLINKS_MAX + 1)]]:
                with self.subTest(uplinks=uplinks), self.assertRaises(errors.InvalidInputError):
                    fw.apply_pod(ctx, spec, uplinks)
        with Context() as ctx, fw.PodSpec("wg-abc123") as spec:
            with self.assertRaises(errors.InvalidInputError) as cm:
                fw.apply_pod(ctx, spec)
            self.assertIn("no subnet", str(cm.exception))
            with self.assertRaises(errors.InvalidInputError):
                fw.remove_pod(ctx, "bad name")

    def test_counter_names(self):
        self.assertEqual(fw.COUNTERS, ("accept", "drop-isolation", "drop-spoof", "drop-node"))


def _nft_table():
    r = subprocess.run(["nft", "-j", "list", "table", "inet", fw.TABLE], capture_output=True,
                       text=True)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)["nftables"]


def _objects(table, kind):
    return sorted(item[kind]["name"] for item in table if kind in item)


def _elements(table, name):
    for item in table:
        obj = item.get("set") or item.get("map")
        if obj and obj["name"] == name:
            return obj.get("elem", [])
    raise AssertionError(f"set {name} not found")


def _netns_suite():
    """The kernel tests; defined in a function so that discovery outside the
    namespace does not collect them."""

    class InNetns(unittest.TestCase):
        def setUp(self):
            self.ctx = Context()
            subprocess.run(["nft", "add", "table", "ip", "bystander"], check=True)
            subprocess.run(["nft", "add", "chain", "ip", "bystander", "c",
                            "{ type filter hook forward priority 0; }"], check=True)

        def tearDown(self):
            fw.destroy(self.ctx)
            self.ctx.close()
            subprocess.run(["nft", "delete", "table", "ip", "bystander"], check=True)

        def test_apply_list_counters_remove(self):
            with fw.PodSpec("wg-aaa111", ["10.64.1.1/24", "fd00:64:1::1/64"],
                            listen_port=51820, dns=True) as a, \
                    fw.PodSpec("wg-bbb222", ["10.64.2.1/24"], intra_pod=False) as b:
                fw.apply_pod(self.ctx, a, uplinks=["eth0", "eth1"])
                fw.apply_pod(self.ctx, b, uplinks=["eth0"])
                fw.apply_pod(self.ctx, a, uplinks=["eth0", "eth1"])  # idempotent
            self.assertEqual(fw.list_pods(self.ctx), ["wg-aaa111", "wg-bbb222"])
            table = _nft_table()
            chains = _objects(table, "chain")
            for pod in ("wg-aaa111", "wg-bbb222"):
                for kind in ("fwd", "in", "post"):
                    self.assertIn(f"pod-{pod}-{kind}", chains)
            self.assertEqual(_objects(table, "counter"),
                             sorted(f"{p}-{c}" for p in ("wg-aaa111", "wg-bbb222")
                                    for c in fw.COUNTERS))
            self.assertEqual(sorted(_elements(table, "pod_ifaces")), ["wg-aaa111", "wg-bbb222"])
            ports = _elements(table, "pod_ports")
            self.assertEqual(ports, [{"elem": {"val": 51820, "comment": "wg-aaa111"}}])
            counters = fw.pod_counters(self.ctx, "wg-aaa111")
            self.assertEqual(counters, {c: (0, 0) for c in fw.COUNTERS})

            fw.remove_pod(self.ctx, "wg-aaa111")
            self.assertEqual(fw.list_pods(self.ctx), ["wg-bbb222"])
            self.assertNotIn("aaa111", json.dumps(_nft_table()))
            with self.assertRaises(errors.NotFoundError):
                fw.remove_pod(self.ctx, "wg-aaa111")
            with self.assertRaises(LookupError):
                fw.pod_counters(self.ctx, "wg-aaa111")
            fw.remove_pod(self.ctx, "wg-bbb222")
            self.assertIsNone(_nft_table())
            self.assertEqual(fw.list_pods(self.ctx), [])

        def test_conflicts_change_nothing(self):
            with fw.PodSpec("wg-aaa111", ["10.64.1.1/24"], listen_port=51820) as a:
                fw.apply_pod(self.ctx, a)
            before = _nft_table()
            for subnets, port in [(["10.64.1.129/25"], 0), (["10.64.0.1/16"], 0),
                                  (["10.64.2.1/24"], 51820)]:
                with self.subTest(subnets=subnets, port=port), \
                        fw.PodSpec("wg-bbb222", subnets, listen_port=port) as b, \
                        self.assertRaises(errors.ConflictError) as cm:
                    fw.apply_pod(self.ctx, b)
                self.assertIn("wg-aaa111", str(cm.exception))
            self.assertEqual(_nft_table(), before)

        def test_destroy_keeps_other_tables(self):
            with fw.PodSpec("wg-aaa111", ["10.64.1.1/24"]) as a:
                fw.apply_pod(self.ctx, a)
            fw.destroy(self.ctx)
            fw.destroy(self.ctx)  # nothing left: fine
            self.assertIsNone(_nft_table())
            r = subprocess.run(["nft", "list", "table", "ip", "bystander"], capture_output=True)
            self.assertEqual(r.returncode, 0)

    return unittest.defaultTestLoader.loadTestsFromTestCase(InNetns)


class TestInNetns(unittest.TestCase):
    def test_kernel(self):
        if os.geteuid() != 0:
            self.skipTest("NOT ROOT: the firewall tests in a private network namespace are NOT "
                          "run (CI runs them as root)")
        for prog in ("unshare", "nft"):
            if not shutil.which(prog):
                self.skipTest(f"{prog} NOT FOUND: the namespace tests are NOT run")
        env = dict(os.environ, MR_TEST_FW_IN_NETNS="1")
        r = subprocess.run(["unshare", "-n", sys.executable, os.path.abspath(__file__)],
                           env=env, capture_output=True, text=True, timeout=120)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertIn("Ran 3 tests", out)
        self.assertRegex(out, r"\nOK\s*$")


if __name__ == "__main__":
    if os.environ.get("MR_TEST_FW_IN_NETNS") == "1":
        result = unittest.TextTestRunner(verbosity=2).run(_netns_suite())
        sys.exit(0 if result.wasSuccessful() else 1)
    unittest.main()

# SPDX-License-Identifier: MIT
"""The pod binding: spec validation, and (as root) a real reconcile inside a
private network namespace, on wireguard-go, read back with ip, wg and nft."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import unittest

from myrelay import errors, pod
from myrelay.key import Key


class TestSpec(unittest.TestCase):
    def test_fields(self):
        k = Key.generate()
        with pod.Spec("wg-abc123", private_key=k, listen_port=51820, mtu=1420,
                      addresses=["10.64.1.1/24", "fd00:1:2:3::1/64"],
                      options=pod.OPT_INTRA_POD | pod.OPT_DNS, uplinks=["eth0"]) as s:
            self.assertEqual(s.ifname, "wg-abc123")
            s.add_peer(Key.generate().public_key(), ["10.64.1.2/32", "fd00:1:2:3::2/128"],
                       preshared_key=Key.generate_preshared())
            self.assertEqual(len(s), 1)

    def test_refusals(self):
        with self.assertRaises(errors.InvalidInputError):
            pod.Spec("no spaces allowed")
        s = pod.Spec("wg-abc123")
        for bad in ("10.64.1.0/24", "10.64.1.255/24", "10.64.1.1/32"):
            with self.assertRaises(ValueError, msg=bad):
                s.add_address(bad)
        with self.assertRaises(ValueError):
            s.add_peer(Key.generate().public_key(), ["10.64.1.2/24"])  # host bits
        pub = Key.generate().public_key()
        s.add_peer(pub, ["10.64.1.2/32"])
        with self.assertRaises(errors.ExistsError):
            s.add_peer(pub, ["10.64.1.3/32"])
        self.assertEqual(len(s), 1)
        s.close()
        with self.assertRaises(ValueError):
            len(s)


RECONCILE = textwrap.dedent(r"""
    import json, subprocess, sys
    from myrelay import ctx, name, pod
    from myrelay.key import Key

    ifname = sys.argv[1]
    def sh(*cmd):
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    node_key = Key.generate()
    devices = [Key.generate() for _ in range(3)]
    def spec(n_peers):
        s = pod.Spec(ifname, private_key=node_key, listen_port=51999,
                     addresses=["10.90.1.1/24", "fd90::1/64"], uplinks=[])
        for i, d in enumerate(devices[:n_peers]):
            s.add_peer(d.public_key(), [f"10.90.1.{i + 2}/32", f"fd90::{i + 2}/128"])
        return s
    out = {}
    with ctx.Context(backend=ctx.BACKEND_USERSPACE) as c:
        r1 = pod.apply(c, spec(2))
        out["first"] = r1._asdict()
        out["ip"] = json.loads(sh("ip", "-j", "addr", "show", "dev", ifname))
        out["wg"] = sh("wg", "show", ifname, "dump")
        out["nft"] = json.loads(sh("nft", "-j", "list", "table", "inet", "myrelay"))
        r2 = pod.apply(c, spec(2))
        out["again"] = r2._asdict()
        r3 = pod.apply(c, spec(3))
        out["third"] = r3._asdict()
        out["wg3"] = sh("wg", "show", ifname, "dump")
        out["list"] = pod.list_pods(c)
        pod.teardown(c, ifname)
        out["links_after"] = json.loads(sh("ip", "-j", "link", "show"))
        out["nft_after"] = subprocess.run(["nft", "list", "table", "inet", "myrelay"],
                                          capture_output=True, text=True).returncode
        out["list_after"] = pod.list_pods(c)
    print(json.dumps(out))
""")


@unittest.skipUnless(os.geteuid() == 0, "NOT ROOT: the pod reconcile test needs root "
                     "(network namespaces); CI runs it")
@unittest.skipUnless(all(shutil.which(p) for p in ("unshare", "wireguard-go", "wg", "nft", "ip")),
                     "wireguard-go, wg, nft, ip or unshare missing")
class TestReconcileInNamespace(unittest.TestCase):
    def test_apply_again_add_teardown(self):
        from myrelay import name
        ifname = name.pod_interface(f"pytest-{os.getpid()}")
        env = dict(os.environ, WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD="1")
        r = subprocess.run(["unshare", "-n", sys.executable, "-c", RECONCILE, ifname],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        first = out["first"]
        self.assertEqual(first["link_created"], 1)
        self.assertGreater(first["userspace_pid"], 0)
        self.assertEqual((first["peers_added"], first["addresses_added"]), (2, 2))
        addrs = {f'{a["local"]}/{a["prefixlen"]}' for a in out["ip"][0]["addr_info"]
                 if a.get("scope") != "link"}
        self.assertEqual(addrs, {"10.90.1.1/24", "fd90::1/64"})
        self.assertEqual(out["ip"][0]["mtu"], 1420)
        lines = out["wg"].strip().split("\n")
        self.assertEqual(lines[0].split("\t")[2], "51999")  # listen port
        self.assertEqual(len(lines) - 1, 2)  # two peers
        chains = {o["chain"]["name"] for o in out["nft"]["nftables"] if "chain" in o}
        self.assertTrue(any(ifname in c for c in chains), chains)
        # the same spec again: nothing to do
        again = out["again"]
        self.assertEqual((again["link_created"], again["peers_added"], again["peers_removed"],
                          again["peers_updated"], again["addresses_added"],
                          again["addresses_removed"], again["mtu_changed"]),
                         (0, 0, 0, 0, 0, 0, 0))
        self.assertEqual(again["peers_unchanged"], 2)
        self.assertEqual(again["bytes_sent"], 0)
        # one more peer: one addition, the others untouched
        third = out["third"]
        self.assertEqual((third["peers_added"], third["peers_unchanged"]), (1, 2))
        self.assertEqual(len(out["wg3"].strip().split("\n")) - 1, 3)
        self.assertEqual(out["list"], [[ifname, pod.HAS_LINK | pod.HAS_FIREWALL]])
        # teardown leaves no link, no table, no socket
        self.assertFalse(any(l["ifname"] == ifname for l in out["links_after"]))
        self.assertNotEqual(out["nft_after"], 0)
        self.assertEqual(out["list_after"], [])
        self.assertFalse(os.path.exists(f"/var/run/wireguard/{ifname}.sock"))


if __name__ == "__main__":
    unittest.main()

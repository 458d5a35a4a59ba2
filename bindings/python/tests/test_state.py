# SPDX-License-Identifier: MIT
"""The state binding: desired state parsed into tuples, refusals naming the
path, pod specs, canonical text checked against Python's json, and reports
split and read back with json."""
import json
import unittest

from myrelay import errors, state, wg
from myrelay.cidr import Prefix
from myrelay.key import Key


def doc(pods, generation=7):
    return json.dumps({"generation": generation, "pods": pods})


def pod(id="pd_aaaaaaaaaaaa", interface="wg-abc123", port=51820, peers=(), **extra):
    p = {"id": id, "interface": interface, "listen_port": port,
         "addresses": ["10.64.1.1/24", "fd00:1::1/64"], "peers": list(peers)}
    p.update(extra)
    return p


class TestParse(unittest.TestCase):
    def setUp(self):
        self.k1 = Key.generate().public_key()
        self.k2 = Key.generate().public_key()
        self.psk = Key.generate_preshared()

    def test_fields(self):
        text = doc([pod(peers=[
            {"public_key": self.k1.to_base64(), "allowed_ips": ["10.64.1.2/32", "fd00:1::2/128"]},
            {"public_key": self.k2.to_base64(), "allowed_ips": ["10.64.1.3"],
             "preshared_key": self.psk.to_base64(), "enabled": False}])])
        with state.parse(text, strict=True) as st:
            self.assertEqual(st.generation, 7)
            self.assertEqual(len(st), 1)
            p = st.pods[0]
            self.assertEqual((p.id, p.interface, p.listen_port),
                             ("pd_aaaaaaaaaaaa", "wg-abc123", 51820))
            self.assertEqual([str(a) for a in p.addresses], ["10.64.1.1/24", "fd00:1::1/64"])
            self.assertEqual(p.peers[0].public_key, self.k1)
            self.assertEqual([str(a) for a in p.peers[0].allowed_ips],
                             ["10.64.1.2/32", "fd00:1::2/128"])
            self.assertIsNone(p.peers[0].preshared_key)
            self.assertTrue(p.peers[0].enabled)
            self.assertEqual(p.peers[1].preshared_key, self.psk)
            self.assertEqual(p.peers[1].allowed_ips, [Prefix("10.64.1.3/32")])
            self.assertFalse(p.peers[1].enabled)
            self.assertEqual(st.pod("pd_aaaaaaaaaaaa"), p)
            self.assertEqual(st.pod(0), p)
            with self.assertRaises(KeyError):
                st.pod("nope")
            with self.assertRaises(KeyError):
                st.pod(1)
            # The spec carries the enabled peer only.
            with st.pod_spec("pd_aaaaaaaaaaaa", Key.generate()) as spec:
                self.assertEqual(spec.ifname, "wg-abc123")
                self.assertEqual(len(spec), 1)
            # Canonical text: the same data as Python reads it.
            canon = st.to_json()
            self.assertEqual(json.loads(canon), {
                "generation": 7, "pods": [{
                    "id": "pd_aaaaaaaaaaaa", "interface": "wg-abc123", "listen_port": 51820,
                    "addresses": ["10.64.1.1/24", "fd00:1::1/64"],
                    "peers": [
                        {"public_key": self.k1.to_base64(),
                         "allowed_ips": ["10.64.1.2/32", "fd00:1::2/128"], "enabled": True},
                        {"public_key": self.k2.to_base64(), "allowed_ips": ["10.64.1.3/32"],
                         "preshared_key": self.psk.to_base64(), "enabled": False}]}]})
            self.assertEqual(state.parse(canon).to_json(), canon)
        self.assertIn("closed", repr(st))
        with self.assertRaises(ValueError):
            st.generation

    def test_same_pod(self):
        peer = {"public_key": self.k1.to_base64(), "allowed_ips": ["10.64.1.2/32"]}
        a = state.parse(doc([pod(peers=[peer])]))
        b = state.parse(doc([pod(id="x", interface="wg-abc124", port=1,
                                 addresses=["10.9.0.1/24"]), pod(peers=[dict(peer)])], 9))
        c = state.parse(doc([pod(peers=[dict(peer, enabled=False)])]))
        self.assertTrue(a.same_pod(b, "pd_aaaaaaaaaaaa"))
        self.assertFalse(a.same_pod(c, "pd_aaaaaaaaaaaa"))
        self.assertFalse(a.same_pod(b, "x"))

    def test_bytes_and_unknown_members(self):
        text = doc([pod(mtu=1400)]).encode()
        self.assertEqual(len(state.parse(text)), 1)
        with self.assertRaises(errors.InvalidInputError) as cm:
            state.parse(text, strict=True)
        self.assertEqual(str(cm.exception), 'pods[0]: unknown member "mtu"')

    def test_refusals_name_the_path(self):
        good = {"public_key": self.k1.to_base64(), "allowed_ips": ["10.64.1.2/32"]}
        cases = [
            ("[]", "desired state: expected a JSON object, got an array"),
            ('{"generation": 1}', "pods: missing"),
            (doc([pod(port=0)]), "pods[0].listen_port: 0 is out of range (1 to 65535)"),
            (doc([pod(interface="eth0")]), "pods[0].interface: not a pod interface name"),
            (doc([pod(peers=[good, dict(good, public_key="x")])]),
             "pods[0].peers[1].public_key: "),
            (doc([pod(peers=[good, dict(good, public_key=self.k2.to_base64())])]),
             "pods[0].peers[1].allowed_ips[0]: 10.64.1.2/32 overlaps 10.64.1.2/32 of "
             "pods[0].peers[0]"),
            (doc([pod(peers=[dict(good, allowed_ips=["192.168.0.1/32"])])]),
             "pods[0].peers[0].allowed_ips[0]: 192.168.0.1/32 is outside the pod's subnets"),
            (doc([pod(), pod(id="q", interface="wg-abc124")]),
             "pods[1].listen_port: 51820 is also pods[0]'s"),
        ]
        for text, detail in cases:
            with self.subTest(detail=detail):
                with self.assertRaises(ValueError) as cm:
                    state.parse(text)
                self.assertIn(detail, str(cm.exception))

    def test_secret_not_in_error(self):
        bad = "Z" * 43 + "="  # not canonical: the last character has low bits set
        text = doc([pod(peers=[{"public_key": self.k1.to_base64(),
                                "allowed_ips": ["10.64.1.2/32"], "preshared_key": bad}])])
        with self.assertRaises(ValueError) as cm:
            state.parse(text)
        self.assertNotIn("ZZZZ", str(cm.exception))
        self.assertIn("pods[0].peers[0].preshared_key", str(cm.exception))


class TestReport(unittest.TestCase):
    def test_roundtrip_and_split(self):
        r = state.Report(3)
        pub = Key.generate().public_key()
        r.add_pod("pd_aaaaaaaaaaaa", public_key=pub)
        keys = [Key.generate().public_key() for _ in range(300)]
        for i, k in enumerate(keys):
            r.add_peer(k, rx_bytes=i, tx_bytes=2 * i, last_handshake=1700000000 + i)
        r.add_pod("q", error="broken\n\"badly\"")
        self.assertEqual(len(r), 2)
        one = r.encode()
        self.assertEqual(len(one), 1)
        j = json.loads(one[0])
        self.assertEqual(j["generation"], 3)
        self.assertEqual(j["pods"][0]["public_key"], pub.to_base64())
        self.assertIsNone(j["pods"][0]["error"])
        self.assertEqual(j["pods"][1]["error"], 'broken?"badly"')
        self.assertNotIn("public_key", j["pods"][1])
        parts = r.encode(4096)
        self.assertGreater(len(parts), 5)
        seen = []
        for p in parts:
            self.assertLessEqual(len(p), 4096)
            for pd in json.loads(p)["pods"]:
                seen += [(pd["id"], x["public_key"], x["rx_bytes"]) for x in pd["peers"]]
        self.assertEqual(seen, [("pd_aaaaaaaaaaaa", k.to_base64(), i) for i, k in enumerate(keys)])
        with self.assertRaises(ValueError):
            r.encode(100)

    def test_no_generation_and_errors(self):
        r = state.Report()
        self.assertEqual(r.encode(), ['{"pods":[]}'])
        with self.assertRaises(ValueError):
            r.add_peer(Key.generate().public_key())   # no pod yet
        with self.assertRaises(ValueError):
            r.add_pod("bad id")
        with self.assertRaises(ValueError):
            r.add_pod("p", error="")
        r.add_pod("p")
        r.add_pod("p")
        with self.assertRaises(errors.ExistsError):
            r.encode()

    def test_device(self):
        k = Key.generate().public_key()
        dev = wg.Device(peers=[{"public_key": k}])
        r = state.Report(1)
        r.add_pod("p")
        r.add_device(dev)
        j = json.loads(r.encode()[0])
        self.assertEqual(j["pods"][0]["peers"],
                         [{"public_key": k.to_base64(), "rx_bytes": 0, "tx_bytes": 0}])
        dev.close()


if __name__ == "__main__":
    unittest.main()

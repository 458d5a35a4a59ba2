# SPDX-License-Identifier: MIT
"""The store through the Python binding, checked with Python's own sqlite3."""
import base64
import gc
import json
import os
import sqlite3
import stat
import tempfile
import unittest

from myrelay import errors
from myrelay import store
from myrelay.store import Store

T0 = 1700000000


def pubkey(n):
    """A valid (non-zero) public key text, distinct for each n."""
    return base64.b64encode(bytes([n % 256 or 1]) * 31 + bytes([n // 256 + 1])).decode()


class StoreTestCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "store.db")
        self.now = T0
        self.st = Store(self.path, create=True)
        self.st.set_clock(lambda: self.now)

    def tearDown(self):
        self.st.close()
        self.dir.cleanup()

    def world(self):
        reg = self.st.node_register("fra-1", region="eu", endpoint="vpn.example.com",
                                    ipv6_pool="fd00:42::/48")
        cu = self.st.customer_create("acme", transfer_limit=10**12)["customer"]
        pod = self.st.pod_create(cu["id"], reg["node"]["id"])
        return reg, cu, pod


class TestStore(StoreTestCase):
    def test_full_flow(self):
        reg, cu, pod = self.world()
        node_id = reg["node"]["id"]
        self.assertEqual(reg["node"]["ipv4_pool"], "10.64.0.0/16")
        self.assertTrue(reg["secret"].startswith("mrn_"))
        self.assertEqual(self.st.token_verify(reg["secret"]),
                         {"token_id": reg["token"]["id"], "kind": "node", "subject": node_id})
        p = pod["pod"]
        self.assertEqual(p["addresses"], ["10.64.0.1/24", "fd00:42::1/64"])
        self.assertEqual(p["endpoint"], "vpn.example.com:51820")
        self.assertEqual(self.st.token_verify(pod["secret"])["subject"], p["id"])
        psk = base64.b64encode(os.urandom(32)).decode()
        added = self.st.peer_add(p["id"], "laptop", pubkey(1), preshared_key=psk)
        self.assertEqual(added["peer"]["addresses"], ["10.64.0.2/32", "fd00:42::2/128"])
        self.assertTrue(added["peer"]["has_preshared_key"])
        self.assertNotIn("preshared_key", added["peer"])
        other = self.st.peer_add(p["id"], "phone", pubkey(2))["peer"]
        self.st.peer_disable(other["id"], reason="lost")

        desired = self.st.node_desired(node_id)
        self.assertEqual(desired["generation"], self.st.node_generation(node_id))
        self.assertEqual(desired["pods"], [{
            "id": p["id"], "interface": p["interface"], "listen_port": 51820,
            "addresses": ["10.64.0.1/24", "fd00:42::1/64"],
            "peers": [{"public_key": pubkey(1),
                       "allowed_ips": ["10.64.0.2/32", "fd00:42::2/128"],
                       "preshared_key": psk, "enabled": True}]}])
        self.assertEqual([x["name"] for x in self.st.peer_list(p["id"])], ["laptop", "phone"])
        self.assertEqual(len(self.st.peer_list(p["id"], enabled=False)), 1)
        self.assertEqual(self.st.overview()["peers"], {"total": 2, "enabled": 1})

    def test_errors_map_to_exceptions(self):
        reg, cu, pod = self.world()
        pod_id = pod["pod"]["id"]
        with self.assertRaises(errors.InvalidInputError) as cm:
            self.st.peer_add(pod_id, "laptop", pubkey(1)[:-1])
        self.assertEqual(str(cm.exception), "public_key: expected 44 characters, got 43")
        self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(errors.InvalidInputError) as cm:
            self.st.call("customer_create", {"name": "x", "plan": "gold"})
        self.assertIn('unknown member "plan"', str(cm.exception))
        with self.assertRaises(errors.InvalidInputError):
            self.st.call("customer_create", "not json")
        with self.assertRaises(LookupError):
            self.st.node_show("nd_zzzzzzzzzzzz")
        with self.assertRaises(errors.ExistsError):
            self.st.pod_create(cu["id"], reg["node"]["id"])
        with self.assertRaises(errors.ConflictError):
            self.st.customer_delete(cu["id"])
        with self.assertRaises(errors.AuthenticationError):
            self.st.token_verify(pod["secret"][:-1] + ("a" if pod["secret"][-1] != "a" else "b"))
        with self.assertRaises(AttributeError):
            self.st.call("open", {})
        # Nothing of the failed calls reached the database.
        self.assertEqual(len(self.st.customer_list()), 1)

    def test_generic_call_matches_methods(self):
        self.st.customer_create("acme")
        self.assertEqual(self.st.call("customer_list", "{}")["customers"],
                         self.st.customer_list())

    def test_expiry_and_tick(self):
        reg, cu, pod = self.world()
        node_id = reg["node"]["id"]
        peer = self.st.peer_add(pod["pod"]["id"], "laptop", pubkey(1), expires=T0 + 10)["peer"]
        self.assertEqual(self.st.next_expiry(), T0 + 10)
        gen = self.st.node_generation(node_id)
        self.now = T0 + 10
        self.assertEqual(self.st.node_desired(node_id)["pods"][0]["peers"], [])
        self.st.tick()
        self.assertEqual(self.st.node_generation(node_id), gen + 1)
        self.assertIsNone(self.st.next_expiry())
        self.assertTrue(self.st.peer_show(peer["id"])["expired"])
        self.st.peer_set_expiry(peer["id"], None)
        self.assertIsNone(self.st.peer_show(peer["id"])["expires"])
        self.assertEqual(self.st.node_generation(node_id), gen + 2)

    def test_tokens_and_audit(self):
        admin = self.st.token_issue("admin", label="ops")
        self.st.set_actor(admin["token"]["id"])
        self.st.customer_create("acme")
        self.st.set_actor(None)
        self.st.token_revoke(admin["token"]["id"])
        with self.assertRaises(errors.AuthenticationError) as cm:
            self.st.token_verify(admin["secret"])
        self.assertIn("revoked", str(cm.exception))
        events = self.st.audit_list()
        self.assertEqual([e["action"] for e in events],
                         ["token.revoke", "customer.create", "token.issue"])
        self.assertEqual(events[1]["actor"], admin["token"]["id"])
        self.assertEqual(self.st.audit_list(actor=admin["token"]["id"], limit=5)[0]["action"],
                         "customer.create")
        # Python's sqlite3 reads the same file: hashes only, no secrets.
        db = sqlite3.connect(self.path)
        try:
            rows = db.execute("SELECT * FROM tokens").fetchall()
            dump = "\n".join(db.iterdump())
        finally:
            db.close()
        self.assertEqual(len(rows), 1)
        self.assertNotIn(admin["secret"][21:], dump)
        self.assertIn(rows[0][3], dump)  # the hash, 64 hex digits
        self.assertEqual(len(rows[0][3]), 64)

    def test_report_usage_quota(self):
        reg, cu, pod = self.world()
        node_id, pod_id = reg["node"]["id"], pod["pod"]["id"]
        self.st.customer_set_plan(cu["id"], 1000)
        self.st.peer_add(pod_id, "laptop", pubkey(1))
        pod_key = pubkey(9)
        res = self.st.node_report(node_id, {
            "generation": self.st.node_generation(node_id),
            "pods": [{"id": pod_id, "public_key": pod_key,
                      "peers": [{"public_key": pubkey(1), "rx_bytes": 400, "tx_bytes": 100,
                                 "last_handshake": T0}]}]})
        self.assertEqual((res["pods"], res["peers"]), (1, 1))
        self.assertEqual(self.st.pod_show(pod_id)["status"], "active")
        self.assertEqual(self.st.pod_show(pod_id)["public_key"], pod_key)
        self.assertEqual(self.st.node_show(node_id)["status"], "active")
        use = self.st.usage(customer=cu["id"])
        self.assertEqual(use["month"], "2023-11")
        self.assertEqual(use["customers"][0]["total"], 500)
        self.assertEqual(use["peers"][0]["rx_bytes"], 400)
        # rx went down (a reset: all 300 count), tx grew by 200: 1000 in all,
        # the limit: held.
        self.st.node_report(node_id, json.dumps({"pods": [{"id": pod_id, "peers": [
            {"public_key": pubkey(1), "rx_bytes": 300, "tx_bytes": 300}]}]}))
        self.assertEqual(self.st.usage(customer=cu["id"])["customers"][0]["total"], 1000)
        peer = self.st.peer_list(pod_id)[0]
        self.assertFalse(peer["enabled"])
        self.assertEqual(peer["disabled_reason"], "quota")
        self.assertEqual(self.st.next_expiry(), 1701388800)
        self.now = 1701388800
        self.st.tick()
        self.assertTrue(self.st.peer_list(pod_id)[0]["enabled"])
        with self.assertRaises(errors.InvalidInputError) as cm:
            self.st.node_report(node_id, {"pods": [{"id": pod_id, "peers": [{}]}]})
        self.assertEqual(str(cm.exception), "pods[0].peers[0].public_key: missing")

    def test_backup_restore(self):
        reg, cu, pod = self.world()
        key = os.path.join(self.dir.name, "backup.key")
        bak = os.path.join(self.dir.name, "store.bak")
        store.backup_key_create(key)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        self.assertEqual(os.path.getsize(key), 32)
        self.st.backup(bak, key)
        with open(bak, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"MRBACKUP"))
        self.assertNotIn(b"acme", data)
        restored = os.path.join(self.dir.name, "restored.db")
        store.restore(bak, key, restored)
        with Store(restored) as r:
            self.assertEqual(r.pod_show(pod["pod"]["id"]), self.st.pod_show(pod["pod"]["id"]))
        # One changed byte, anywhere: refused, nothing written.
        bad = os.path.join(self.dir.name, "bad.bak")
        with open(bad, "wb") as f:
            f.write(data[:100] + bytes([data[100] ^ 0x80]) + data[101:])
        target = os.path.join(self.dir.name, "never.db")
        with self.assertRaises(errors.IntegrityError):
            store.restore(bad, key, target)
        self.assertFalse(os.path.exists(target))
        with self.assertRaises(errors.ExistsError):
            store.restore(bak, key, restored)

    def test_file_mode_and_reopen(self):
        self.world()
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        for suffix in ("-wal", "-shm"):
            self.assertEqual(stat.S_IMODE(os.stat(self.path + suffix).st_mode), 0o600)
        with Store(self.path) as again:
            self.assertEqual(len(again.node_list()), 1)
        self.assertTrue(again.closed)
        with self.assertRaises(ValueError):
            again.node_list()
        with self.assertRaises(errors.ExistsError):
            Store(self.path, exclusive=True)
        with self.assertRaises(LookupError):
            Store(os.path.join(self.dir.name, "missing.db"))

    def test_finalizer_closes(self):
        st = Store(os.path.join(self.dir.name, "other.db"), create=True)
        st.customer_create("x")
        fin = st._finalizer
        del st
        gc.collect()
        self.assertFalse(fin.alive)


if __name__ == "__main__":
    unittest.main()

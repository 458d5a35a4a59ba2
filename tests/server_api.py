# SPDX-License-Identifier: MIT
"""myrelay-server API tests against a running server on loopback: the full
admin flow, the customer flow with a pod token, every route against every
kind of credential, and more than a hundred bad inputs, each refused with a
4xx and a clear message while the database stays exactly as it was."""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_common as sc  # noqa: E402

CREDS = ["none", "malformed", "badsum", "revoked", "expired",
         "admin", "nodeA", "nodeB", "podA", "podB"]

# Every route against every credential. Placeholders name fixture objects of
# tenant A; "T" objects are fresh throwaway ones when the request is allowed
# to write (and tenant A's real ones when it must be refused). {u} is unique.
#   method  path                                  body                                   none mal sum rev exp admin nA  nB  pA  pB
MATRIX = """
GET    /healthz                                   -                                       200 200 200 200 200 200 200 200 200 200
GET    /metrics                                   -                                       401 401 401 401 401 200 403 403 403 403
GET    /v1/status                                 -                                       401 401 401 401 401 200 403 403 403 403
POST   /v1/nodes                                  {"name":"n{u}","region":"eu","endpoint":"192.0.2.9"} 401 401 401 401 401 201 403 403 403 403
GET    /v1/nodes                                  -                                       401 401 401 401 401 200 403 403 403 403
GET    /v1/nodes/{nodeA}                          -                                       401 401 401 401 401 200 403 403 403 403
POST   /v1/nodes/{nodeA}/status                   {"status":"active"}                     401 401 401 401 401 200 403 403 403 403
PATCH  /v1/nodes/{nodeA}/status                   {"status":"active"}                     401 401 401 401 401 200 403 403 403 403
DELETE /v1/nodes/{nodeT}                          -                                       401 401 401 401 401 200 403 403 403 403
POST   /v1/customers                              {"name":"c{u}"}                         401 401 401 401 401 201 403 403 403 403
GET    /v1/customers                              -                                       401 401 401 401 401 200 403 403 403 403
GET    /v1/customers/{custX}                      -                                       401 401 401 401 401 200 403 403 403 403
POST   /v1/customers/{custX}/plan                 {"transfer_limit":0}                    401 401 401 401 401 200 403 403 403 403
PATCH  /v1/customers/{custX}/plan                 {"transfer_limit":0}                    401 401 401 401 401 200 403 403 403 403
DELETE /v1/customers/{custT}                      -                                       401 401 401 401 401 200 403 403 403 403
GET    /v1/usage                                  -                                       401 401 401 401 401 200 403 403 403 403
POST   /v1/pods                                   {"customer":"{custT}","node":"{nodeA}"} 401 401 401 401 401 201 403 403 403 403
GET    /v1/pods                                   -                                       401 401 401 401 401 200 403 403 403 403
GET    /v1/pods/{podA}                            -                                       401 401 401 401 401 200 403 403 200 404
DELETE /v1/pods/{podT}                            -                                       401 401 401 401 401 200 403 403 403 403
GET    /v1/pods/{podA}/peers                      -                                       401 401 401 401 401 200 403 403 200 404
POST   /v1/pods/{podA}/peers                      {"name":"p{u}","public_key":"{key}"}    401 401 401 401 401 201 403 403 201 404
GET    /v1/pods/{podA}/peers/{peerA}              -                                       401 401 401 401 401 200 403 403 200 404
DELETE /v1/pods/{podA}/peers/{peerT}              -                                       401 401 401 401 401 200 403 403 200 404
POST   /v1/pods/{podA}/peers/{peerA}/enable       -                                       401 401 401 401 401 200 403 403 200 404
POST   /v1/pods/{podA}/peers/{peerA}/disable      {"reason":"matrix"}                     401 401 401 401 401 200 403 403 200 404
POST   /v1/pods/{podA}/peers/{peerA}/rename       {"name":"r{u}"}                         401 401 401 401 401 200 403 403 200 404
POST   /v1/pods/{podA}/peers/{peerA}/expiry       {"expires":null}                        401 401 401 401 401 200 403 403 200 404
POST   /v1/tokens                                 {"kind":"admin","label":"m{u}"}         401 401 401 401 401 201 403 403 403 403
GET    /v1/tokens                                 -                                       401 401 401 401 401 200 403 403 403 403
POST   /v1/tokens/{tokT}/revoke                   -                                       401 401 401 401 401 200 403 403 403 403
POST   /v1/tokens/{tokT}/expiry                   {"expires":null}                        401 401 401 401 401 200 403 403 403 403
GET    /v1/audit                                  -                                       401 401 401 401 401 200 403 403 403 403
GET    /v1/pod                                    -                                       401 401 401 401 401 403 403 403 200 200
GET    /v1/pod/peers                              -                                       401 401 401 401 401 403 403 403 200 200
POST   /v1/pod/peers                              {"name":"q{u}","public_key":"{key}"}    401 401 401 401 401 403 403 403 201 201
GET    /v1/pod/peers/{peerA}                      -                                       401 401 401 401 401 403 403 403 200 404
DELETE /v1/pod/peers/{peerT}                      -                                       401 401 401 401 401 403 403 403 200 404
POST   /v1/pod/peers/{peerA}/enable               -                                       401 401 401 401 401 403 403 403 200 404
POST   /v1/pod/peers/{peerA}/disable              {"reason":"matrix"}                     401 401 401 401 401 403 403 403 200 404
POST   /v1/pod/peers/{peerA}/rename               {"name":"s{u}"}                         401 401 401 401 401 403 403 403 200 404
POST   /v1/pod/peers/{peerA}/expiry               {"expires":null}                        401 401 401 401 401 403 403 403 200 404
GET    /v1/node                                   -                                       401 401 401 401 401 403 200 200 403 403
GET    /v1/node/desired                           -                                       401 401 401 401 401 403 200 200 403 403
POST   /v1/node/report                            {"generation":1,"pods":[]}              401 401 401 401 401 403 200 200 403 403
"""


def parse_matrix():
    rows = []
    for line in MATRIX.strip().splitlines():
        m = re.match(r"(\S+)\s+(\S+)\s+(-|\{.*\})\s+((?:\d{3}\s*){10})$", line.strip())
        assert m, "bad matrix line: " + line
        codes = [int(c) for c in m.group(4).split()]
        rows.append((m.group(1), m.group(2), None if m.group(3) == "-" else m.group(3), codes))
    return rows


def corrupt(token):
    """Change one character of the secret: the checksum no longer matches."""
    i = 30
    c = "b" if token[i] != "b" else "c"
    return token[:i] + c + token[i + 1:]


class ServerAPI(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = sc.Server()
        cls.s.start()
        cls.counter = 1000
        s = cls.s
        a = s.ok("POST", "/v1/nodes", body={"name": "node-a", "region": "eu",
                                            "endpoint": "203.0.113.10"})
        b = s.ok("POST", "/v1/nodes", body={"name": "node-b", "region": "us",
                                            "endpoint": "198.51.100.20"})
        cls.nodeA, cls.nodeA_tok = a["node"]["id"], a["secret"]
        cls.nodeB, cls.nodeB_tok = b["node"]["id"], b["secret"]
        cls.custX = s.ok("POST", "/v1/customers", body={"name": "cust-x"})["customer"]["id"]
        cls.custY = s.ok("POST", "/v1/customers", body={"name": "cust-y"})["customer"]["id"]
        pa = s.ok("POST", "/v1/pods", body={"customer": cls.custX, "node": cls.nodeA})
        pb = s.ok("POST", "/v1/pods", body={"customer": cls.custY, "node": cls.nodeB})
        cls.podA, cls.podA_tok = pa["pod"]["id"], pa["secret"]
        cls.podB, cls.podB_tok = pb["pod"]["id"], pb["secret"]
        cls.peerA = s.ok("POST", "/v1/pods/%s/peers" % cls.podA,
                         body={"name": "laptop-a", "public_key": sc.wg_key(1)})["peer"]["id"]
        cls.peerB = s.ok("POST", "/v1/pods/%s/peers" % cls.podB,
                         body={"name": "laptop-b", "public_key": sc.wg_key(2)})["peer"]["id"]
        rev = s.ok("POST", "/v1/tokens", body={"kind": "admin", "label": "old"})
        s.ok("POST", "/v1/tokens/%s/revoke" % rev["token"]["id"])
        exp = s.ok("POST", "/v1/tokens", body={"kind": "admin", "label": "gone", "expires": 1})
        cls.tokT = s.ok("POST", "/v1/tokens", body={"kind": "admin", "label": "spare"})["token"]["id"]
        cls.tokens = {
            "none": None,
            "malformed": "not-a-token",
            "badsum": corrupt(s.admin),
            "revoked": rev["secret"],
            "expired": exp["secret"],
            "admin": s.admin,
            "nodeA": cls.nodeA_tok,
            "nodeB": cls.nodeB_tok,
            "podA": cls.podA_tok,
            "podB": cls.podB_tok,
        }

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def uniq(self):
        ServerAPI.counter += 1
        return ServerAPI.counter

    # --- helpers ----------------------------------------------------------
    def fresh(self, name):
        s, u = self.s, self.uniq()
        if name == "nodeT":
            return s.ok("POST", "/v1/nodes", body={"name": "t%d" % u, "region": "x",
                                                   "endpoint": "192.0.2.1"})["node"]["id"]
        if name == "custT":
            return s.ok("POST", "/v1/customers", body={"name": "t%d" % u})["customer"]["id"]
        if name == "podT":
            c = self.fresh("custT")
            return s.ok("POST", "/v1/pods", body={"customer": c, "node": self.nodeA})["pod"]["id"]
        if name == "peerT":
            return s.ok("POST", "/v1/pods/%s/peers" % self.podA,
                        body={"name": "t%d" % u, "public_key": sc.wg_key(u)})["peer"]["id"]
        if name == "tokT":
            return s.ok("POST", "/v1/tokens", body={"kind": "admin", "label": "t%d" % u})["token"]["id"]
        raise KeyError(name)

    def resolve(self, text, fresh):
        real = {"nodeA": self.nodeA, "custX": self.custX, "podA": self.podA,
                "peerA": self.peerA, "nodeT": self.nodeA, "custT": self.custY,
                "podT": self.podA, "peerT": self.peerA, "tokT": self.tokT}
        u = self.uniq()

        def sub(m):
            name = m.group(1)
            if name == "u":
                return str(u)
            if name == "key":
                return sc.wg_key(u)
            if fresh and name.endswith("T"):
                return self.fresh(name)
            return real[name]
        return re.sub(r"\{(\w+)\}", sub, text)

    def assert_error_body(self, r, where):
        self.assertIsInstance(r.json, dict, "%s: error body is not JSON: %r" % (where, r))
        self.assertEqual(set(r.json), {"error", "message"}, where)
        self.assertTrue(r.json["error"] and r.json["message"], where)
        self.assertNotRegex(r.json["message"], r"[\x00-\x1f]", where)

    # --- tests ------------------------------------------------------------
    def test_1_matrix_covers_every_route(self):
        table = {(m, p) for m, p, _ in sc.routes()}
        rows = {(m, re.sub(r"\{(\w+?)[AT]?\}", lambda x: "{%s}" % x.group(1), p))
                for m, p, _, _ in parse_matrix()}
        norm = set()
        for m, p in table:
            norm.add((m, re.sub(r"\{(pod|id)\}", "{X}", p)))
        mine = set()
        for m, p, _, _ in parse_matrix():
            p = re.sub(r"\{(nodeA|nodeT|custX|custT|podA|podT|peerA|peerT|tokT)\}", "{X}", p)
            mine.add((m, p))
        self.assertEqual(norm, mine, "matrix rows and `myrelay-server routes` differ")
        self.assertTrue(rows)

    def test_2_credentials_matrix(self):
        s = self.s
        rows = parse_matrix()
        secret_words = ["laptop-a", self.peerA]
        before = s.dump()
        printed = []
        # Phase 1: every refused request and every read, bracketed by
        # `sqlite3 .dump`: nothing may change.
        for method, path, body, codes in rows:
            for cred, want in zip(CREDS, codes):
                if want < 300 and method != "GET":
                    continue
                p = self.resolve(path, fresh=False)
                b = self.resolve(body, fresh=False) if body else None
                r = s.request(method, p, token=self.tokens[cred], body=b, raw=True)
                where = "%s %s as %s" % (method, path, cred)
                self.assertEqual(r.status, want, "%s: %r" % (where, r))
                if want >= 400:
                    self.assert_error_body(r, where)
                    if want == 401:
                        self.assertTrue(r.header("WWW-Authenticate"), where)
                    if cred in ("nodeB", "podB"):
                        for w in secret_words:
                            self.assertNotIn(w, r.raw, where)
                printed.append(want)
        after = s.dump()
        self.assertEqual(before, after, "a refused request or a read changed the database")
        # Phase 2: the allowed writes, each on fresh objects where it destroys.
        for method, path, body, codes in rows:
            for cred, want in zip(CREDS, codes):
                if not (want < 300 and method != "GET"):
                    continue
                p = self.resolve(path, fresh=True)
                b = self.resolve(body, fresh=True) if body else None
                r = s.request(method, p, token=self.tokens[cred], body=b, raw=True)
                self.assertEqual(r.status, want, "%s %s as %s: %r" % (method, path, cred, r))
                printed.append(want)
        print("\ncredential matrix: %d routes x %d credentials = %d requests"
              % (len(rows), len(CREDS), len(printed)), file=sys.stderr)

    def test_3_no_cross_tenant_reads(self):
        s, t = self.s, self.tokens
        pod = s.ok("GET", "/v1/pod", token=t["podB"])["pod"]
        self.assertEqual(pod["id"], self.podB)
        peers = s.ok("GET", "/v1/pod/peers", token=t["podB"])["peers"]
        self.assertNotIn(self.peerA, [p["id"] for p in peers])
        self.assertIn(self.peerB, [p["id"] for p in peers])
        node = s.ok("GET", "/v1/node", token=t["nodeB"])["node"]
        self.assertEqual(node["id"], self.nodeB)
        desired = s.ok("GET", "/v1/node/desired", token=t["nodeB"])
        self.assertNotIn(self.podA, json.dumps(desired))
        self.assertNotIn(sc.wg_key(1), json.dumps(desired))
        # A pod token naming another pod, existing or not, gets the same 404.
        r1 = s.request("GET", "/v1/pods/%s/peers" % self.podA, token=t["podB"])
        r2 = s.request("GET", "/v1/pods/pd_aaaaaaaaaaaa/peers", token=t["podB"])
        self.assertEqual((r1.status, r1.json), (r2.status, r2.json))
        self.assertEqual(r1.status, 404)
        r1 = s.request("GET", "/v1/pod/peers/%s" % self.peerA, token=t["podB"])
        r2 = s.request("GET", "/v1/pod/peers/pr_aaaaaaaaaaaa", token=t["podB"])
        self.assertEqual((r1.status, r1.json), (r2.status, r2.json))
        # Node B reporting pod A's key changes nothing of pod A.
        rep = s.ok("POST", "/v1/node/report", token=t["nodeB"], body={
            "generation": 1, "pods": [{"id": self.podA, "public_key": sc.wg_key(77)}]})
        self.assertEqual(rep["ignored"]["pods"], 1)
        self.assertIsNone(s.ok("GET", "/v1/pods/%s" % self.podA)["pod"]["public_key"])
        # A pod token cannot smuggle another pod in through the body.
        r = s.request("POST", "/v1/pod/peers", token=t["podB"],
                      body={"pod": self.podA, "name": "evil", "public_key": sc.wg_key(78)})
        self.assertEqual(r.status, 400, r)
        r = s.request("GET", "/v1/pod/peers/%s" % self.peerB, token=t["podB"],
                      body={"pod": self.podA})
        self.assertEqual(r.status, 400, r)

    def test_4_admin_flow(self):
        s = self.s
        # curl, the real command-line client, with the generated CA.
        code, body = s.curl("GET", "/healthz")
        self.assertEqual((code, body["status"]), (200, "ok"))
        code, body = s.curl("POST", "/v1/nodes", token=s.admin,
                            body={"name": "flow-node", "region": "ap", "endpoint": "203.0.113.99",
                                  "ipv4_pool": "10.99.0.0/16", "port_min": 40000,
                                  "port_max": 40009})
        self.assertEqual(code, 201, body)
        node = body["node"]
        self.assertTrue(body["secret"].startswith("mrn_"))
        self.assertEqual((node["ipv4_pool"], node["max_pods"]), ("10.99.0.0/16", 10))
        code, body = s.curl("GET", "/v1/nodes?region=ap", token=s.admin)
        self.assertEqual([n["id"] for n in body["nodes"]], [node["id"]])
        self.assertEqual(s.ok("GET", "/v1/nodes/" + node["id"])["node"]["name"], "flow-node")
        self.assertEqual(s.ok("PATCH", "/v1/nodes/%s/status" % node["id"],
                              body={"status": "draining"})["node"]["status"], "draining")
        cu = s.ok("POST", "/v1/customers", body={"name": "flow-cust",
                                                 "transfer_limit": 10 ** 9})["customer"]
        r = s.request("POST", "/v1/pods", s.admin, body={"customer": cu["id"], "node": node["id"]})
        self.assertEqual((r.status, r.json["error"]), (409, "conflict"))
        s.ok("POST", "/v1/nodes/%s/status" % node["id"], body={"status": "active"})
        pod = s.ok("POST", "/v1/pods", body={"customer": cu["id"], "node": node["id"]})
        self.assertTrue(pod["secret"].startswith("mrp_"))
        self.assertEqual(pod["pod"]["listen_port"], 40000)
        pid = pod["pod"]["id"]
        r = s.request("POST", "/v1/pods", s.admin, body={"customer": cu["id"], "node": node["id"]})
        self.assertEqual((r.status, r.json["error"]), (409, "exists"))
        self.assertEqual([p["id"] for p in s.ok("GET", "/v1/pods?customer=" + cu["id"])["pods"]],
                         [pid])
        self.assertEqual([p["id"] for p in s.ok(
            "GET", "/v1/pods?node=%s&status=pending" % node["id"])["pods"]], [pid])
        self.assertEqual(s.ok("GET", "/v1/pods?status=failed")["pods"], [])
        self.assertEqual(s.ok("GET", "/v1/pods/" + pid)["pod"]["customer"], cu["id"])
        peer = s.ok("POST", "/v1/pods/%s/peers" % pid,
                    body={"name": "phone", "public_key": sc.wg_key(500)})["peer"]
        self.assertEqual(peer["addresses"][0], "10.99.0.2/32")
        self.assertEqual(s.ok("GET", "/v1/pods/%s/peers?enabled=true" % pid)["peers"][0]["id"],
                         peer["id"])
        s.ok("POST", "/v1/pods/%s/peers/%s/disable" % (pid, peer["id"]), body={"reason": "unpaid"})
        self.assertEqual(s.ok("GET", "/v1/pods/%s/peers?enabled=true" % pid)["peers"], [])
        self.assertEqual(s.ok("PATCH", "/v1/customers/%s/plan" % cu["id"],
                              body={"transfer_limit": 5})["customer"]["transfer_limit"], 5)
        self.assertEqual(s.ok("GET", "/v1/customers/" + cu["id"])["customer"]["pods"], 1)
        self.assertIn(cu["id"], [c["id"] for c in s.ok("GET", "/v1/customers")["customers"]])
        usage = s.ok("GET", "/v1/usage?customer=" + cu["id"])
        self.assertEqual(usage["customers"][0]["customer"], cu["id"])
        # Tokens: issue, list, expire, revoke; a revoked token stops working.
        t = s.ok("POST", "/v1/tokens", body={"kind": "pod", "subject": pid, "label": "second"})
        self.assertEqual(s.ok("GET", "/v1/pod", token=t["secret"])["pod"]["id"], pid)
        listed = s.ok("GET", "/v1/tokens?subject=" + pid)["tokens"]
        self.assertEqual(len(listed), 2)
        self.assertNotIn("secret", json.dumps(listed))
        s.ok("POST", "/v1/tokens/%s/expiry" % t["token"]["id"], body={"expires": 4102444800})
        s.ok("POST", "/v1/tokens/%s/revoke" % t["token"]["id"])
        self.assertEqual(s.request("GET", "/v1/pod", token=t["secret"]).status, 401)
        self.assertEqual(len(s.ok("GET", "/v1/tokens?subject=%s&revoked=true" % pid)["tokens"]), 1)
        # Audit: by subject, actor, time.
        ev = s.ok("GET", "/v1/audit?subject=" + peer["id"])["events"]
        self.assertEqual([e["action"] for e in ev], ["peer.disable", "peer.add"])
        admin_id = s.admin[4:20]
        now = int(time.time())
        ev = s.ok("GET", "/v1/audit?actor=%s&since=%d&until=%d&limit=5" %
                  (admin_id, now - 600, now + 5))["events"]
        self.assertEqual(len(ev), 5)
        self.assertTrue(all(e["actor"] == admin_id for e in ev))
        self.assertEqual(s.ok("GET", "/v1/audit?since=%d" % (now + 1000))["events"], [])
        # Deletion: refused while pods exist, then forced.
        r = s.request("DELETE", "/v1/customers/" + cu["id"], token=s.admin)
        self.assertEqual((r.status, r.json["error"]), (409, "conflict"))
        self.assertEqual(s.ok("DELETE", "/v1/customers/%s?force=true" % cu["id"])["pods"], 1)
        self.assertEqual(s.request("GET", "/v1/pods/" + pid, token=s.admin).status, 404)
        self.assertEqual(s.request("GET", "/v1/pod", token=pod["secret"]).status, 401)
        self.assertEqual(s.ok("DELETE", "/v1/nodes/" + node["id"])["deleted"], node["id"])
        self.assertEqual(s.request("GET", "/v1/nodes/" + node["id"], token=s.admin).status, 404)
        st = s.ok("GET", "/v1/status")
        self.assertGreaterEqual(st["nodes"]["total"], 2)
        code, text = 0, None
        r = s.request("GET", "/metrics", token=s.admin)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.header("Content-Type").startswith("text/plain"))
        for needle in ['myrelay_http_requests_total{method="POST",route="/v1/nodes",status="201"}',
                       "myrelay_http_request_duration_seconds_bucket{le=\"+Inf\"}",
                       'myrelay_nodes{status="active"}', 'myrelay_pods{status="pending"}',
                       'myrelay_peers{state="enabled"}', "myrelay_node_generation_lag{node=\"%s\"" % self.nodeA,
                       "myrelay_http_rate_limited_total 0"]:
            self.assertIn(needle, r.raw)

    def test_5_customer_flow(self):
        """A customer with nothing but a pod token, watched by the node."""
        s = self.s
        cu = s.ok("POST", "/v1/customers", body={"name": "flow-customer"})["customer"]["id"]
        pod = s.ok("POST", "/v1/pods", body={"customer": cu, "node": self.nodeB})
        tok, pid = pod["secret"], pod["pod"]["id"]
        node_tok = self.nodeB_tok

        def desired_keys():
            d = s.ok("GET", "/v1/node/desired", token=node_tok)
            for p in d["pods"]:
                if p["id"] == pid:
                    return d["generation"], {x["public_key"] for x in p["peers"]}
            raise AssertionError("pod missing from its node's desired state")

        me = s.ok("GET", "/v1/pod", token=tok)["pod"]
        self.assertEqual((me["id"], me["status"], me["public_key"]), (pid, "pending", None))
        self.assertTrue(me["endpoint"].startswith("198.51.100.20:"))
        self.assertEqual(len(me["addresses"]), 2)
        gen0, keys = desired_keys()
        self.assertEqual(keys, set())
        key = sc.wg_key(900)
        code, added = s.curl("POST", "/v1/pod/peers", token=tok,
                             body={"name": "laptop", "public_key": key})
        self.assertEqual(code, 201, added)
        peer = added["peer"]
        self.assertEqual(added["pod"]["id"], pid)
        gen1, keys = desired_keys()
        self.assertGreater(gen1, gen0)
        self.assertEqual(keys, {key})
        self.assertEqual([p["id"] for p in s.ok("GET", "/v1/pod/peers", token=tok)["peers"]],
                         [peer["id"]])
        self.assertEqual(s.ok("GET", "/v1/pod/peers/" + peer["id"], token=tok)["peer"]["name"],
                         "laptop")
        r = s.request("POST", "/v1/pod/peers", token=tok, body={"name": "other", "public_key": key})
        self.assertEqual((r.status, r.json["error"]), (409, "exists"))
        s.ok("POST", "/v1/pod/peers/%s/disable" % peer["id"], token=tok, body={"reason": "lost"})
        self.assertEqual(desired_keys()[1], set())
        p = s.ok("GET", "/v1/pod/peers/" + peer["id"], token=tok)["peer"]
        self.assertEqual((p["enabled"], p["disabled_reason"]), (False, "lost"))
        s.ok("POST", "/v1/pod/peers/%s/enable" % peer["id"], token=tok)
        self.assertEqual(desired_keys()[1], {key})
        gen2, _ = desired_keys()
        s.ok("POST", "/v1/pod/peers/%s/rename" % peer["id"], token=tok, body={"name": "work-laptop"})
        self.assertEqual(desired_keys()[0], gen2, "a rename must not move the generation")
        self.assertEqual(s.ok("GET", "/v1/pod/peers/" + peer["id"], token=tok)["peer"]["name"],
                         "work-laptop")
        future = int(time.time()) + 86400
        p = s.ok("POST", "/v1/pod/peers/%s/expiry" % peer["id"], token=tok,
                 body={"expires": future})["peer"]
        self.assertEqual(p["expires"], future)
        self.assertEqual(desired_keys()[1], {key})
        s.ok("POST", "/v1/pod/peers/%s/expiry" % peer["id"], token=tok, body={"expires": 1})
        self.assertEqual(desired_keys()[1], set(), "an expired peer stays out of desired state")
        s.ok("POST", "/v1/pod/peers/%s/expiry" % peer["id"], token=tok, body={"expires": None})
        self.assertEqual(desired_keys()[1], {key})
        self.assertEqual(s.ok("DELETE", "/v1/pod/peers/" + peer["id"], token=tok)["deleted"],
                         peer["id"])
        self.assertEqual(desired_keys()[1], set())
        self.assertEqual(s.request("GET", "/v1/pod/peers/" + peer["id"], token=tok).status, 404)
        self.assertEqual(s.ok("GET", "/v1/pod/peers", token=tok)["peers"], [])
        # The node reports the pod's key: the pod becomes active.
        s.ok("POST", "/v1/node/report", token=node_tok,
             body={"generation": desired_keys()[0], "pods": [{"id": pid, "public_key": sc.wg_key(901)}]})
        me = s.ok("GET", "/v1/pod", token=tok)["pod"]
        self.assertEqual((me["status"], me["public_key"]), ("active", sc.wg_key(901)))
        # Every change the customer made is in the audit log under its token.
        actions = [e["action"] for e in s.ok("GET", "/v1/audit?actor=" + tok[4:20])["events"]]
        self.assertEqual(sorted(set(actions)), ["peer.add", "peer.disable", "peer.enable",
                                                "peer.expiry", "peer.remove", "peer.rename"])

    def test_6_bad_inputs(self):
        s, adm, pod = self.s, self.s.admin, self.podA_tok
        key_ok = sc.wg_key(4000)
        peer_path = "/v1/pod/peers"

        def peer(**kw):
            body = {"name": "good-name", "public_key": key_ok}
            body.update(kw)
            return ("POST", peer_path, pod, json.dumps(body))

        def node(**kw):
            body = {"name": "bad-node", "region": "eu", "endpoint": "192.0.2.50"}
            body.update(kw)
            return ("POST", "/v1/nodes", adm, json.dumps(body))

        cases = []
        # Keys
        for k in ["", "abc", key_ok[:43], key_ok + "A", "!" * 43 + "=", key_ok[:42] + "==",
                  "A" * 43 + "=", key_ok[:-1] + "\n", " " + key_ok[1:], "00" * 32,
                  key_ok[:-2] + "B=", key_ok.replace("=", "%3D"), "x\n[Peer]\nPublicKey = " + key_ok]:
            cases.append(peer(public_key=k))
        for k in [123, None, [], {}, True]:
            cases.append(peer(public_key=k))
        cases.append(peer(public_key=sc.wg_key(1)))  # pod A's existing device key: 409
        for k in ["short", key_ok + "x", 7]:
            cases.append(peer(preshared_key=k))
        # Names (and injection attempts)
        for n in ["", " ", "a b", "a\nb", "a\rb", "x" * 64, "-lead", ".dot", "name\u0000x",
                  "laptop\n[Peer]\nAllowedIPs = 0.0.0.0/0", "a;rm -rf /", "$(reboot)",
                  "\u202egnp.exe", "caf\u00e9", "a/b", "../etc", "<script>", "a\tb",
                  "AllowedIPs=0.0.0.0/0",
                  s.ok("GET", "/v1/pod/peers/" + self.peerA, token=pod)["peer"]["name"]]:
            cases.append(peer(name=n))
        for n in [1, None, ["a"], {"a": 1}]:
            cases.append(peer(name=n))
        # Expiry values
        for e in ["tomorrow", -5, 1.5, True, 10 ** 30]:
            cases.append(peer(expires=e))
        cases.append(("POST", "/v1/pod/peers/%s/expiry" % self.peerA, pod, "{}"))
        cases.append(("POST", "/v1/pod/peers/%s/disable" % self.peerA, pod,
                      json.dumps({"reason": "bad\nreason"})))
        cases.append(("POST", "/v1/pod/peers/%s/disable" % self.peerA, pod,
                      json.dumps({"reason": "r" * 201})))
        cases.append(("POST", "/v1/pod/peers/%s/rename" % self.peerA, pod,
                      json.dumps({"name": "evil\nname"})))
        # Ids in paths: malformed, wrong prefix, wrong length, traversal
        for pid in ["pr_", "pr_AAAAAAAAAAAA", "nd_aaaaaaaaaaaa", "pr_aaaaaaaaaaaa1", "pr_aaaaaaaaaaa",
                    "%00", "..", "pr_aaaaaaaaaaa!", "x" * 1000, "pr_aaaaaaaaaaaa%0a",
                    "pr_1111111111111"]:
            cases.append(("GET", "/v1/pod/peers/" + pid, pod, None))
        for nid in ["nd_", "pd_aaaaaaaaaaaa", "nd_AAAAAAAAAAAA", "nd_aaaa'--"]:
            cases.append(("GET", "/v1/nodes/" + nid, adm, None))
        cases.append(("GET", "/v1/pods/pd_aaaaaaaaaaaa%27%20OR%201=1", adm, None))
        cases.append(("POST", "/v1/tokens/not-an-id/revoke", adm, None))
        cases.append(("POST", "/v1/tokens/aaaaaaaaaaaaaaaa/revoke", adm, None))
        # Prefixes, pools, ports of a node
        for kw in [{"ipv4_pool": "10.0.0.0/33"}, {"ipv4_pool": "10.0.0.1/16"}, {"ipv4_pool": "abc"},
                   {"ipv4_pool": "fd00::/48"}, {"ipv6_pool": "fd00::/129"}, {"ipv6_pool": "10.0.0.0/8"},
                   {"ipv4_prefix": 31}, {"ipv4_prefix": 0}, {"ipv4_prefix": -1}, {"ipv4_prefix": "24"},
                   {"ipv6_prefix": 127}, {"port_min": 70000}, {"port_min": 50000, "port_max": 40000},
                   {"max_pods": -1}, {"endpoint": "bad host!"}, {"endpoint": ""}, {"region": ""},
                   {"name": "node-a"}, {"name": "bad\nnode"}, {"extra": 1}, {"endpoint": "1.2.3.4\n"}]:
            cases.append(node(**kw))
        # JSON of the wrong shape
        for body in ["[]", '"str"', "123", "null", "{", "{}}", '{"name": 1}', "{,}",
                     '{"name":"a","name":"b","public_key":"%s"}' % key_ok,
                     '{"name":"a","public_key":"%s",}' % key_ok, "{'name': 'a'}",
                     '{"name":"a"} {"name":"b"}', '{"name":"a" /* c */}', '{"name": NaN}',
                     '{"name": 1e999}', "[" * 5000 + "]" * 5000, '{"x":' * 3000 + "1" + "}" * 3000,
                     b'{"name":"\xff\xfe","public_key":"' + key_ok.encode() + b'"}',
                     '{"name":"a\x00b","public_key":"%s"}' % key_ok,
                     '{"name":"ok","public_key":"%s"}\x00trailing' % key_ok,
                     "\ufeff{}", '{"pod":"%s","name":"x","public_key":"%s"}' % (self.podB, key_ok),
                     '{"\\u0070od":"%s","name":"x","public_key":"%s"}' % (self.podB, key_ok)]:
            cases.append(("POST", peer_path, pod, body))
        cases.append(("POST", "/v1/customers", adm, '{"name":"ok","transfer_limit":-1}'))
        cases.append(("POST", "/v1/customers", adm, '{"name":"ok","transfer_limit":"lots"}'))
        cases.append(("POST", "/v1/customers", adm, '{"name":"ok","transfer_limit":1.5}'))
        cases.append(("POST", "/v1/customers", adm, '{"name":"cust-x"}'))
        cases.append(("POST", "/v1/nodes/%s/status" % self.nodeA, adm, '{"status":"broken"}'))
        cases.append(("POST", "/v1/nodes/%s/status" % self.nodeA, adm, '{"status":""}'))
        cases.append(("POST", "/v1/nodes/%s/status" % self.nodeA, adm, '{"id":"%s","status":"active"}' % self.nodeB))
        cases.append(("POST", "/v1/pods", adm, '{"customer":"%s"}' % self.custX))
        cases.append(("POST", "/v1/pods", adm, '{"customer":"%s","node":"%s"}' % (self.custX, self.nodeA)))
        cases.append(("POST", "/v1/tokens", adm, '{"kind":"root"}'))
        cases.append(("POST", "/v1/tokens", adm, '{"kind":"pod"}'))
        cases.append(("POST", "/v1/tokens", adm, '{"kind":"admin","subject":"%s"}' % self.nodeA))
        cases.append(("POST", "/v1/tokens", adm, '{"kind":"node","subject":"nd_aaaaaaaaaaaa"}'))
        cases.append(("POST", "/v1/node/report", self.nodeA_tok, None))
        cases.append(("POST", "/v1/node/report", self.nodeA_tok, '{"pods":"many"}'))
        # Query strings: tokens are never taken from them, unknown names refused
        for q in ["/v1/nodes?token=" + adm, "/v1/nodes?access_token=x", "/v1/nodes/%s?force=maybe" % self.nodeA,
                  "/v1/audit?limit=abc", "/v1/audit?since=", "/v1/audit?limit=0", "/v1/audit?limit=100000",
                  "/v1/pods?status=a&status=b", "/v1/pod/peers?enabled=yes", "/v1/usage?month=2024-13",
                  "/v1/node/desired?after=-1", "/v1/node/desired?timeout=99999", "/v1/node/desired?after=x",
                  "/v1/nodes?status=%0a"]:
            tok = self.nodeA_tok if "/node/" in q else (pod if "/pod/" in q else adm)
            method = "DELETE" if "force=" in q else "GET"
            cases.append((method, q, tok, None))
        cases.append(("GET", "/v1/nodes?token=" + adm, None, None))
        # Token prefixes and shapes
        for t in ["mrx" + adm[3:], "mrp" + adm[3:], "mrn" + pod[3:], adm + " ", adm[:-1],
                  adm + "a", adm.upper(), adm + " " + adm, "mra_", pod.replace("_", "-")]:
            cases.append(("GET", "/v1/pod/peers", t, None))
        # Methods and headers
        cases.append(("PUT", "/v1/nodes", adm, "{}"))
        cases.append(("GET", "/v1/nodes", "Basic xyz", None))
        cases.append(("TRACE", "/v1/pod", pod, None))
        cases.append(("GET", "/v1/status", adm, '{"x":1}'))

        before = s.dump()
        codes = {}
        for method, path, tok, body in cases:
            headers = {}
            if tok and tok.startswith("Basic"):
                headers["Authorization"] = tok
                tok = None
            b0 = s.quick_dump()
            r = s.request(method, path, token=tok, body=body, raw=True, headers=headers)
            where = "%s %s %r" % (method, path[:60], (body or "")[:80])
            self.assertTrue(400 <= r.status < 500, "%s: %r" % (where, r))
            self.assert_error_body(r, where)
            self.assertLess(len(r.json["message"]), 300, where)
            self.assertEqual(b0, s.quick_dump(), "%s changed the database" % where)
            codes[r.status] = codes.get(r.status, 0) + 1
            if os.environ.get("SERVER_TEST_VERBOSE"):
                print("%d %-70s %s" % (r.status, where[:70], r.json["message"]), file=sys.stderr)

        # Huge bodies: declared (refused before the body is read), chunked.
        # The declared one is answered from the headers alone: the client
        # has not sent a byte of the body when the 413 arrives.
        head = ("POST /v1/customers HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (adm, 1024 * 1024 + 1)).encode()
        status, text = s.raw_exchange(head)
        self.assertEqual(status, 413, text)
        self.assertEqual(json.loads(text)["error"], "too_large")
        code, body = s.curl("POST", "/v1/customers", token=adm,
                            body='{"name":"%s"}' % ("a" * (2 * 1024 * 1024)))
        self.assertEqual((code, body["error"]), (413, "too_large"))
        conn = s.connection()
        conn.request("POST", "/v1/customers", body=iter([b"{" + b" " * 65536] * 20),
                     headers={"Authorization": "Bearer " + adm, "Content-Type": "application/json"},
                     encode_chunked=True)
        r = conn.getresponse()
        self.assertEqual(r.status, 413)
        self.assertEqual(json.loads(r.read())["error"], "too_large")
        conn.close()
        codes[413] = codes.get(413, 0) + 3
        self.assertEqual(before, s.dump(), "bad inputs changed the database")
        n = len(cases) + 3
        print("\nbad inputs: %d, each 4xx with a JSON message, database unchanged (%s)"
              % (n, ", ".join("%d: %d" % kv for kv in sorted(codes.items()))), file=sys.stderr)
        self.assertGreaterEqual(n, 100)


if __name__ == "__main__":
    sc.require_server()
    unittest.main(verbosity=2)

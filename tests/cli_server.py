#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The myrelay CLI against a real myrelay-server.

A server is initialised in a temporary directory and run on a free loopback
port. The operator flow (login, node add, customer add, pod create), a node
report standing in for the agent (through the Python binding's API client),
then the customer flow with the pod token: devices added with --exclude and
--psk, their configs checked with wg-quick(8), with libmyrelay's own parser
and with Python's ipaddress, the database searched with sqlite3(1) and
strings(1) for the private key, every --json output parsed, exit codes of
bad input (2) and failures (1), and a wrong CA refused.
"""
import base64
import ipaddress
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from myrelay import errors
from myrelay.api import Client
from myrelay.conf import Config

BUILD = os.environ["top_builddir"]
SERVER = os.path.join(BUILD, "frontends", "server", "myrelay-server")
CLI = os.path.join(BUILD, "frontends", "cli", "myrelay")


def have(prog):
    return shutil.which(prog) is not None


def skip_note(what):
    print(f"\n    NOTE: {what}", file=sys.stderr)


def wg_pubkey(private):
    return subprocess.run(["wg", "pubkey"], input=private + "\n", capture_output=True,
                          text=True, check=True).stdout.strip()


class Fixture:
    """A running myrelay-server and the CLI's configuration directories."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="mr-cli-")
        self.data = os.path.join(self.tmp, "data")
        p = subprocess.run([SERVER, "init", "--data-dir", self.data, "--name", "localhost",
                            "--name", "127.0.0.1"], capture_output=True, text=True, timeout=30)
        if p.returncode:
            raise RuntimeError("myrelay-server init: " + p.stderr)
        self.admin = p.stdout.strip()
        self.ca = os.path.join(self.data, "ca.crt")
        self.errlog = open(os.path.join(self.tmp, "server.log"), "w+")
        self.proc = subprocess.Popen([SERVER, "run", "--data-dir", self.data, "--listen",
                                      "127.0.0.1:0", "--rate", "0"],
                                     stdout=subprocess.DEVNULL, stderr=self.errlog)
        deadline = time.monotonic() + 10
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            time.sleep(0.05)
            self.errlog.seek(0)
            m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", self.errlog.read())
            if m:
                self.port = int(m.group(1))
            if self.proc.poll() is not None:
                break
        if self.port is None:
            self.close()
            raise RuntimeError("myrelay-server did not start")
        self.url = f"https://localhost:{self.port}"

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errlog.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server_log(self):
        with open(os.path.join(self.tmp, "server.log")) as f:
            return f.read()


F = None


def setUpModule():
    global F
    F = Fixture()


def tearDownModule():
    if F:
        F.close()


class CliCase(unittest.TestCase):
    def home(self, name):
        d = os.path.join(F.tmp, name)
        os.makedirs(d, exist_ok=True)
        return d

    def run_cli(self, *args, home="admin", cwd=None, stdin=None, env=None, want=0):
        e = {k: v for k, v in os.environ.items() if not k.startswith("MYRELAY_")}
        # Under sanitizers the CLI is instrumented itself: it needs no
        # preloaded runtime, and its leaks are checked (Python's are not).
        e.pop("LD_PRELOAD", None)
        if "ASAN_OPTIONS" in e:
            e["ASAN_OPTIONS"] = ":".join(o for o in e["ASAN_OPTIONS"].split(":")
                                         if o and o != "detect_leaks=0")
        e["XDG_CONFIG_HOME"] = self.home(home)
        if env:
            e.update(env)
        p = subprocess.run([CLI, *args], capture_output=True, text=True, input=stdin,
                           cwd=cwd or self.home(home + "-cwd"), env=e, timeout=30)
        if want is not None:
            self.assertEqual(p.returncode, want,
                             f"myrelay {' '.join(args)}: exit {p.returncode}, wanted {want}\n"
                             f"stdout: {p.stdout}\nstderr: {p.stderr}")
        # A token never appears in a message.
        for tok in (F.admin,) + tuple(getattr(CliCase, "pod_tokens", ())):
            self.assertNotIn(tok, p.stderr)
        return p

    def cli_json(self, *args, home="admin", **kw):
        p = self.run_cli(*args, "--json", home=home, **kw)
        return json.loads(p.stdout)


class TestCli(CliCase):
    """One operator and one customer, step by step (tests run in name order)."""

    pod_tokens = []

    @classmethod
    def setUpClass(cls):
        cls.state = {}

    # --- operator ----------------------------------------------------------
    def test_01_admin_login(self):
        p = self.run_cli("login", F.url, "--token", F.admin, "--ca", F.ca)
        self.assertIn("admin token", p.stdout)
        d = os.path.join(self.home("admin"), "myrelay")
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        for name in ("server", "token", "ca.crt"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(d, name)).st_mode), 0o600, name)
        with open(os.path.join(d, "token")) as f:
            self.assertEqual(f.read(), F.admin)
        with open(os.path.join(d, "ca.crt"), "rb") as a, open(F.ca, "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(self.cli_json("status")["customers"], 0)

    def test_02_node_customer_pod(self):
        tok = os.path.join(self.home("admin-cwd"), "node.tok")
        p = self.run_cli("node", "add", "fra-1", "--region", "eu", "--endpoint",
                         "vpn.example.com", "--token-out", tok)
        self.assertNotIn("mrn_", p.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(tok).st_mode), 0o600)
        with open(tok) as f:
            self.state["node_token"] = f.read().strip()
        self.assertTrue(self.state["node_token"].startswith("mrn_"))
        reg = self.cli_json("node", "add", "ams-1", "--region", "eu", "--endpoint",
                            "198.51.100.7", "--max-pods", "5")
        self.assertTrue(reg["secret"].startswith("mrn_"))
        self.assertEqual(reg["node"]["max_pods"], 5)
        cu = self.cli_json("customer", "add", "acme", "--limit", "100G")["customer"]
        self.assertEqual(cu["transfer_limit"], 100 * 10**9)
        self.cli_json("customer", "add", "globex")
        ptok = os.path.join(self.home("admin-cwd"), "pod.tok")
        self.run_cli("pod", "create", "acme", "fra-1", "--token-out", ptok)
        self.assertEqual(stat.S_IMODE(os.stat(ptok).st_mode), 0o600)
        with open(ptok) as f:
            self.state["pod_token"] = f.read().strip()
        TestCli.pod_tokens.append(self.state["pod_token"])
        pods = self.cli_json("pod", "list", "--customer", "acme")["pods"]
        self.assertEqual(len(pods), 1)
        self.state["pod"] = pods[0]
        self.assertEqual(pods[0]["status"], "pending")
        # Names and ids both resolve.
        self.assertEqual(self.cli_json("node", "show", "fra-1")["node"]["id"], pods[0]["node"])
        self.assertEqual(self.cli_json("customer", "show", pods[0]["customer"])["customer"]["name"],
                         "acme")

    def test_03_agent_reports_pod_key(self):
        # Stand-in for myrelay-agent: the pod's keypair is made "on the node"
        # and its public key reported with the node token.
        priv = subprocess.run(["wg", "genkey"], capture_output=True, text=True,
                              check=True).stdout.strip()
        self.state["pod_public"] = wg_pubkey(priv)
        with Client(F.url, self.state["node_token"], ca=F.ca) as c:
            status, desired = c.get("/v1/node/desired")
            self.assertEqual(status, 200)
            self.assertEqual([p["id"] for p in desired["pods"]], [self.state["pod"]["id"]])
            status, ans = c.post("/v1/node/report", {
                "generation": desired["generation"],
                "pods": [{"id": self.state["pod"]["id"],
                          "public_key": self.state["pod_public"]}]})
            self.assertEqual(status, 200)
            self.assertEqual(ans["pods"], 1)

    # --- customer ------------------------------------------------------------
    def test_04_customer_login(self):
        tok = os.path.join(self.home("admin-cwd"), "pod.tok")
        p = self.run_cli("login", F.url, "--token-file", tok, "--ca", F.ca, home="cust")
        self.assertIn(self.state["pod"]["id"], p.stdout)
        pod = self.cli_json("pod", "show", home="cust")["pod"]
        self.assertEqual(pod["status"], "active")
        self.assertEqual(pod["public_key"], self.state["pod_public"])

    def test_05_peer_add_exclude_psk(self):
        cwd = self.home("cust-cwd")
        p = self.run_cli("peer", "add", "laptop", "--exclude", "192.168.0.0/16", "--psk",
                         "--dns", "10.64.0.1", home="cust")
        self.assertIn("laptop.conf", p.stdout)
        path = os.path.join(cwd, "laptop.conf")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            text = f.read()
        self.state["laptop_conf"] = text

        # wg-quick(8) reads it (strip drops the wg-quick-only lines).
        st = subprocess.run(["wg-quick", "strip", path], capture_output=True, text=True)
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertIn("PrivateKey = ", st.stdout)
        self.assertNotIn("Address", st.stdout)

        conf = Config.parse(text)
        want = sorted(ipaddress.collapse_addresses(
            ipaddress.ip_network("0.0.0.0/0").address_exclude(
                ipaddress.ip_network("192.168.0.0/16"))), key=str) + \
            [ipaddress.ip_network("::/0")]
        got = [ipaddress.ip_network(n) for n in conf.allowed_ips]
        self.assertEqual(sorted(got, key=lambda n: (n.version, n)),
                         sorted(want, key=lambda n: (n.version, n)))
        # Exactly the complement: no address of 192.168/16 and every other.
        for n in got:
            if n.version == 4:
                self.assertFalse(n.overlaps(ipaddress.ip_network("192.168.0.0/16")))
        self.assertEqual(sum(n.num_addresses for n in got if n.version == 4),
                         2**32 - 2**16)

        peer = self.cli_json("peer", "show", "laptop", home="cust")["peer"]
        self.state["laptop"] = peer
        self.assertEqual(wg_pubkey(conf.private_key), peer["public_key"])
        self.assertTrue(peer["has_preshared_key"])
        self.assertIsNotNone(conf.preshared_key)
        self.assertEqual(sorted(conf.addresses), sorted(peer["addresses"]))
        self.assertEqual(list(conf.dns), ["10.64.0.1"])
        self.assertEqual(conf.public_key, self.state["pod_public"])
        self.assertEqual(conf.endpoint, self.state["pod"]["endpoint"])
        self.assertEqual(conf.keepalive, 25)
        self.state["laptop_private"] = conf.private_key
        self.state["laptop_psk"] = conf.preshared_key

        # The key kept locally for `config NAME`: 0600 in a 0700 directory.
        kept = os.path.join(self.home("cust"), "myrelay", "peers", self.state["pod"]["id"],
                            "laptop.json")
        self.assertEqual(stat.S_IMODE(os.stat(kept).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(kept)).st_mode), 0o700)

    def test_06_private_key_never_on_server(self):
        priv = self.state["laptop_private"]
        psk = self.state["laptop_psk"]
        db = os.path.join(F.data, "store.db")
        dump = subprocess.run(["sqlite3", db, ".dump"], capture_output=True, text=True,
                              check=True).stdout
        # Positive control: the search finds what is there (the node needs
        # the preshared key, so the server stores it).
        self.assertIn(psk, dump)
        self.assertIn(self.state["laptop"]["public_key"], dump)
        self.assertNotIn(priv, dump)
        raw = base64.b64decode(priv)
        # Every file, also those under backups/ (scheduled backups).
        files = [os.path.join(d, n) for d, _, names in os.walk(F.data) for n in names]
        self.assertIn(os.path.join(F.data, "store.db"), files)
        for path in files:
            name = os.path.relpath(path, F.data)
            with open(path, "rb") as f:
                blob = f.read()
            self.assertNotIn(priv.encode(), blob, name)
            self.assertNotIn(raw, blob, name)
            if have("strings"):
                s = subprocess.run(["strings", "-n", "8", path], capture_output=True,
                                   text=True).stdout
                self.assertNotIn(priv, s, name)
        self.assertNotIn(priv, F.server_log())

    def test_07_config_renders_again(self):
        p = self.run_cli("config", "laptop", home="cust")
        self.assertEqual(p.stdout, self.state["laptop_conf"])
        out = os.path.join(self.home("cust-cwd"), "again.conf")
        self.run_cli("config", "laptop", "--out", out, home="cust")
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        with open(out) as f:
            self.assertEqual(f.read(), self.state["laptop_conf"])
        # Never replaces a file.
        p = self.run_cli("config", "laptop", "--out", out, home="cust", want=2)
        self.assertIn("exists", p.stderr)
        # By id too.
        p = self.run_cli("config", self.state["laptop"]["id"], home="cust")
        self.assertEqual(p.stdout, self.state["laptop_conf"])

    def test_08_list_show_disable_enable(self):
        p = self.run_cli("peer", "list", home="cust")
        self.assertIn("laptop", p.stdout)
        self.assertIn("NAME", p.stdout)
        peers = self.cli_json("peer", "list", home="cust")["peers"]
        self.assertEqual([x["name"] for x in peers], ["laptop"])
        ans = self.cli_json("peer", "disable", "laptop", "--reason", "lost", home="cust")
        self.assertFalse(ans["peer"]["enabled"])
        self.assertEqual(ans["peer"]["disabled_reason"], "lost")
        self.assertEqual(len(self.cli_json("peer", "list", "--disabled", home="cust")["peers"]), 1)
        self.assertEqual(len(self.cli_json("peer", "list", "--enabled", home="cust")["peers"]), 0)
        p = self.run_cli("peer", "enable", "laptop", home="cust")
        self.assertIn("enabled", p.stdout)
        self.assertTrue(self.cli_json("peer", "show", "laptop", home="cust")["peer"]["enabled"])

    def test_09_expire(self):
        now = time.time()
        ans = self.cli_json("peer", "expire", "laptop", "--in", "7d", home="cust")
        self.assertAlmostEqual(ans["peer"]["expires"], now + 7 * 86400, delta=60)
        ans = self.cli_json("peer", "expire", "laptop", "--in", "90m", home="cust")
        self.assertAlmostEqual(ans["peer"]["expires"], now + 90 * 60, delta=60)
        ans = self.cli_json("peer", "expire", "laptop", "--never", home="cust")
        self.assertIsNone(ans["peer"]["expires"])
        for bad in (["--in", "7x"], ["--in", "-1d"], ["--in", "0"], [], ["--in", "1d", "--never"]):
            self.run_cli("peer", "expire", "laptop", *bad, home="cust", want=2)

    def test_10_qr(self):
        cwd = self.home("cust-cwd")
        phone = os.path.join(cwd, "phone.conf")
        p = self.run_cli("peer", "add", "phone", "--qr", "--out", phone, home="cust")
        # an absolute path goes to wg-quick as it is (was "./" + path)
        self.assertIn("`wg-quick up %s`" % phone, p.stdout)
        with open(os.path.join(cwd, "phone.conf")) as f:
            text = f.read()
        blocks = "\u2588\u2580\u2584 "
        qr = [line for line in p.stdout.split("\n") if line and set(line) <= set(blocks)]
        self.assertGreater(len(qr), 10)
        if have("qrencode"):
            ref = subprocess.run(["qrencode", "-t", "UTF8", "-m", "2"], input=text.encode(),
                                 capture_output=True, check=True).stdout.decode()
            self.assertEqual("\n".join(qr) + "\n", ref)
        else:
            skip_note("qrencode(1) not installed: QR output not compared with it")
        if have("zbarimg"):
            self.assertEqual(decode_qr(qr, os.path.join(F.tmp, "qr.pbm")), text)
        else:
            skip_note("zbarimg(1) not installed (zbar-tools): QR output not decoded")
        q = self.run_cli("config", "phone", "--qr", home="cust")
        self.assertEqual(q.stdout, text + "\n".join(qr) + "\n")

    def test_11_rename_and_remove(self):
        self.run_cli("peer", "rename", "phone", "tablet", home="cust")
        p = self.run_cli("config", "tablet", home="cust")
        self.assertIn("PrivateKey", p.stdout)
        kept = os.path.join(self.home("cust"), "myrelay", "peers", self.state["pod"]["id"])
        self.assertEqual(sorted(os.listdir(kept)), ["laptop.json", "tablet.json"])
        ans = self.cli_json("peer", "remove", "tablet", home="cust")
        self.assertIn("deleted", ans)
        self.assertEqual(os.listdir(kept), ["laptop.json"])
        self.assertEqual([x["name"] for x in self.cli_json("peer", "list", home="cust")["peers"]],
                         ["laptop"])
        p = self.run_cli("config", "tablet", home="cust", want=1)
        self.assertIn("tablet", p.stderr)

    def test_12_json_everywhere(self):
        for args in (["node", "list"], ["node", "show", "fra-1"], ["customer", "list"],
                     ["customer", "show", "acme"], ["pod", "list"],
                     ["pod", "show", self.state["pod"]["id"]], ["token", "list"],
                     ["audit", "--limit", "5"], ["usage"], ["usage", "--customer", "acme"],
                     ["status"]):
            ans = self.cli_json(*args)
            self.assertIsInstance(ans, dict, args)
            # Human output works too.
            self.assertTrue(self.run_cli(*args).stdout, args)
        for args in (["peer", "list"], ["peer", "show", "laptop"], ["pod", "show"]):
            self.assertIsInstance(self.cli_json(*args, home="cust"), dict, args)
        # The global form: --json before the command.
        self.assertIn("nodes", json.loads(self.run_cli("--json", "node", "list").stdout))
        events = self.cli_json("audit", "--action", "peer.add")["events"]
        self.assertEqual({e["action"] for e in events}, {"peer.add"})
        self.assertGreaterEqual(len(events), 2)

    def test_13_bad_input_exit_2(self):
        cases = [
            (["peer", "add", "bad name"], "cust"),
            (["peer", "add", "x", "--exclude", "300.0.0.0/8"], "cust"),
            (["peer", "add", "x", "--exclude", "10.0.0.1/8"], "cust"),
            (["peer", "add", "x", "--exclude", "0.0.0.0/0", "--exclude", "::/0"], "cust"),
            (["peer", "add", "x", "--dns", "dns.example"], "cust"),
            (["peer", "add"], "cust"),
            (["peer", "add", "x", "y"], "cust"),
            (["peer", "add", "x", "--bogus"], "cust"),
            (["peer", "add", "x", "--out"], "cust"),
            (["peer", "frobnicate"], "cust"),
            (["frobnicate"], "admin"),
            (["customer", "add", "x", "--limit", "lots"], "admin"),
            (["node", "add", "x", "--endpoint", "h"], "admin"),
            (["node", "add", "x", "--region", "r", "--endpoint", "h", "--max-pods", "many"],
             "admin"),
            # Refused by the server (400): bad input too.
            (["node", "add", "bad-prefix", "--region", "r", "--endpoint", "h",
              "--ipv4-prefix", "99"], "admin"),
            (["token", "create", "--kind", "wizard"], "admin"),
            (["login", F.url, "--token", F.admin[:-1] + ("a" if F.admin[-1] != "a" else "b")],
             "admin-bad"),
            (["login", F.url], "admin-bad"),
            (["login", "http://example.com", "--token", F.admin], "admin-bad"),
        ]
        for args, home in cases:
            p = self.run_cli(*args, home=home, want=2)
            self.assertTrue(p.stderr.startswith("myrelay: "), (args, p.stderr))
        # A refused add changed nothing and wrote no file.
        self.assertFalse(os.path.exists(os.path.join(self.home("cust-cwd"), "x.conf")))
        self.assertEqual([x["name"] for x in self.cli_json("peer", "list", home="cust")["peers"]],
                         ["laptop"])
        # The config file of an existing name is never overwritten: refused first.
        p = self.run_cli("peer", "add", "laptop", home="cust", want=2)
        self.assertIn("exists", p.stderr)
        # A failed login kept nothing.
        self.assertFalse(os.path.exists(os.path.join(self.home("admin-bad"), "myrelay", "token")))
        # Not logged in at all.
        p = self.run_cli("peer", "list", home="nobody", want=2)
        self.assertIn("login", p.stderr)

    def test_14_server_errors_exit_1(self):
        p = self.run_cli("peer", "show", "nosuch", home="cust", want=1)
        self.assertIn("nosuch", p.stderr)
        p = self.run_cli("peer", "add", "laptop", "--out", "other.conf", home="cust", want=1)
        self.assertFalse(os.path.exists(os.path.join(self.home("cust-cwd"), "other.conf")))
        p = self.run_cli("customer", "add", "acme", want=1)
        p = self.run_cli("pod", "create", "acme", "fra-1", want=1)
        # A pod token cannot do operator work; the hint says why.
        p = self.run_cli("node", "list", home="cust", want=1)
        self.assertIn("hint:", p.stderr)
        p = self.run_cli("node", "remove", "fra-1", want=1)
        self.assertIn("--force", p.stderr)

    def test_15_wrong_ca_refused(self):
        other = os.path.join(F.tmp, "other-ca")
        os.makedirs(other, exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                        os.path.join(other, "ca.key"), "-out", os.path.join(other, "ca.crt"),
                        "-days", "1", "-subj", "/CN=other"], capture_output=True, check=True)
        bad = os.path.join(other, "ca.crt")
        p = self.run_cli("peer", "list", home="cust", env={"MYRELAY_CA": bad}, want=1)
        self.assertIn("does not verify", p.stderr)
        self.assertIn("hint:", p.stderr)
        p = self.run_cli("peer", "list", home="cust", env={"MYRELAY_CA": ""}, want=1)
        self.assertIn("system's trust store", p.stderr)
        before = os.listdir(os.path.join(self.home("cust"), "myrelay"))
        p = self.run_cli("login", F.url, "--token", F.admin, "--ca", bad, home="cust", want=1)
        self.assertIn("does not verify", p.stderr)
        # The previous login stays.
        self.assertEqual(os.listdir(os.path.join(self.home("cust"), "myrelay")), before)
        self.assertIn("laptop", self.run_cli("peer", "list", home="cust").stdout)

    def test_16_environment_overrides(self):
        env = {"MYRELAY_URL": f"https://127.0.0.1:{F.port}", "MYRELAY_TOKEN": F.admin,
               "MYRELAY_CA": F.ca}
        self.assertIn("nodes", self.cli_json("status", home="env-only", env=env))
        # The environment wins over the stored login (the customer's).
        self.assertIn("nodes", self.cli_json("status", home="cust", env=env))

    def test_17_operator_lifecycle(self):
        self.run_cli("node", "drain", "fra-1")
        self.assertEqual(self.cli_json("node", "show", "fra-1")["node"]["status"], "draining")
        self.run_cli("pod", "create", "globex", "fra-1", want=1)
        self.run_cli("node", "activate", "fra-1")
        ans = self.cli_json("customer", "plan", "acme", "--limit", "1.5TiB")
        self.assertEqual(ans["customer"]["transfer_limit"], int(1.5 * 2**40))
        # A second pod token, revoked: it stops working at once.
        tok = self.cli_json("token", "create", "--kind", "pod", "--subject",
                            self.state["pod"]["id"], "--label", "spare")
        TestCli.pod_tokens.append(tok["secret"])
        env = {"MYRELAY_URL": F.url, "MYRELAY_TOKEN": tok["secret"], "MYRELAY_CA": F.ca}
        self.assertIn("peers", self.cli_json("peer", "list", home="env2", env=env))
        self.run_cli("token", "revoke", tok["token"]["id"])
        p = self.run_cli("peer", "list", home="env2", env=env, want=1)
        self.assertIn("revoked", p.stderr)
        ids = [t["id"] for t in self.cli_json("token", "list", "--revoked")["tokens"]]
        self.assertIn(tok["token"]["id"], ids)

    def test_17b_admin_pod_option_and_pending_pod(self):
        # An operator adds a device to a pod whose node has not reported a
        # key yet: the device is added and its key kept, but no config can
        # be written until the pod has a public key.
        reg = self.cli_json("pod", "create", "globex", "ams-1")
        pod = reg["pod"]["id"]
        cwd = self.home("admin-cwd")
        p = self.run_cli("peer", "add", "kiosk", "--pod", pod, want=1)
        self.assertIn("no public key yet", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(cwd, "kiosk.conf")))
        kept = os.path.join(self.home("admin"), "myrelay", "peers", pod, "kiosk.json")
        self.assertTrue(os.path.exists(kept))
        self.run_cli("config", "kiosk", "--pod", pod, want=1)
        # The agent's report, with ams-1's token (issued afresh here).
        tok = self.cli_json("token", "create", "--kind", "node", "--subject",
                            reg["pod"]["node"])["secret"]
        key = wg_pubkey(subprocess.run(["wg", "genkey"], capture_output=True, text=True,
                                       check=True).stdout.strip())
        with Client(F.url, tok, ca=F.ca) as c:
            c.post("/v1/node/report", {"pods": [{"id": pod, "public_key": key}]})
        p = self.run_cli("config", "kiosk", "--pod", pod)
        conf = Config.parse(p.stdout)
        self.assertEqual(conf.public_key, key)
        self.assertEqual([x["name"] for x in
                          self.cli_json("peer", "list", "--pod", pod)["peers"]], ["kiosk"])
        self.run_cli("peer", "remove", "kiosk", "--pod", pod)
        self.assertFalse(os.path.exists(kept))

    def test_18_teardown(self):
        self.run_cli("peer", "remove", "laptop", home="cust")
        ans = self.cli_json("pod", "remove", self.state["pod"]["id"])
        self.assertIn("deleted", ans)
        # The pod's token is revoked with it.
        self.run_cli("peer", "list", home="cust", want=1)
        p = self.run_cli("customer", "remove", "globex", want=1)
        self.assertIn("--force", p.stderr)
        self.assertIn("pods", self.cli_json("customer", "remove", "globex", "--force"))
        self.run_cli("node", "remove", "ams-1", "--force")
        self.assertEqual([n["name"] for n in self.cli_json("node", "list")["nodes"]], ["fra-1"])
        self.run_cli("logout", home="cust")
        self.assertFalse(os.path.exists(os.path.join(self.home("cust"), "myrelay", "token")))


def decode_qr(lines, path):
    """Draw the half-block text as a bitmap and let zbarimg read it. A cell's
    blank part is a dark module: ' ' both, the lower block a dark top, the
    upper block a dark bottom."""
    rows = []
    for line in lines:
        top = [c in " \u2584" for c in line]
        bottom = [c in " \u2580" for c in line]
        rows += [top, bottom]
    scale, border = 4, 8
    w = len(rows[0]) * scale + 2 * border
    h = len(rows) * scale + 2 * border
    bits = [[0] * w for _ in range(h)]
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    for dx in range(scale):
                        bits[border + y * scale + dy][border + x * scale + dx] = 1
    with open(path, "w") as f:
        f.write(f"P1\n{w} {h}\n")
        for r in bits:
            f.write(" ".join(map(str, r)) + "\n")
    p = subprocess.run(["zbarimg", "-q", "--raw", "-Sbinary", path], capture_output=True)
    if p.returncode != 0:
        p = subprocess.run(["zbarimg", "-q", "--raw", path], capture_output=True)
    return p.stdout.decode()


if __name__ == "__main__":
    unittest.main(verbosity=2)

# SPDX-License-Identifier: MIT
"""myrelay-server backups against real servers in temporary data
directories: the `backup` and `restore` commands (the database after a
restore is the one backed up, as sqlite3 .dump prints it), tampered files
and files made with another key refused while the database stays exactly
as it was, no restore while a server holds the data directory, and the
scheduled backups of `run` (made at the interval, only the newest N kept,
failures logged and counted in /metrics but never fatal)."""

import fcntl
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_common as sc  # noqa: E402

NAME = re.compile(r"^myrelay-\d{8}-\d{6}(-\d+)?\.bak$")


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def raw_dump(db):
    """sqlite3 .dump, exactly as printed (nothing normalised)."""
    p = subprocess.run(["sqlite3", db, ".dump"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("sqlite3 .dump: " + p.stderr)
    return p.stdout


def cmd(*args):
    return subprocess.run([sc.SERVER] + list(args), capture_output=True, text=True, timeout=60)


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


class Backup(unittest.TestCase):
    def setUp(self):
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.close()

    def server(self, **kw):
        s = sc.Server(**kw)
        self.servers.append(s)
        return s

    def populate(self, s, tag):
        node = s.ok("POST", "/v1/nodes", body={"name": "node-" + tag, "region": "eu",
                                               "endpoint": "203.0.113.7"})["node"]["id"]
        cu = s.ok("POST", "/v1/customers", body={"name": "cust-" + tag})["customer"]["id"]
        pod = s.ok("POST", "/v1/pods", body={"customer": cu, "node": node})["pod"]["id"]
        s.ok("POST", "/v1/pods/%s/peers" % pod,
             body={"name": "dev-" + tag, "public_key": sc.wg_key(len(tag) * 7 + 11)})
        return cu

    def leftovers(self, s):
        return [n for n in os.listdir(s.data) if n.startswith(".restore-") or n.endswith("-wal")]

    # --- by hand -------------------------------------------------------------
    def test_round_trip(self):
        s = self.server()
        s.start("--backup-interval", "0")
        first = self.populate(s, "a")
        # Online: the server keeps running while the backup is taken.
        p = cmd("backup", "--data-dir", s.data)
        self.assertEqual(p.returncode, 0, p.stderr)
        path = p.stdout.strip()
        self.assertEqual(os.path.dirname(path), os.path.join(s.data, "backups"))
        self.assertRegex(os.path.basename(path), NAME)
        self.assertEqual(mode(path), 0o600)
        self.assertEqual(mode(os.path.dirname(path)), 0o700)
        with open(path, "rb") as f:
            blob = f.read()
        self.assertTrue(blob.startswith(b"MRBACKUP"))
        self.assertNotIn(b"SQLite format 3", blob)
        self.assertNotIn(b"cust-a", blob)
        self.assertEqual(s.request("GET", "/healthz").status, 200)
        s.stop()
        before = raw_dump(s.db)
        self.assertIn("cust-a", before)

        # Changes after the backup.
        s.start("--backup-interval", "0")
        self.populate(s, "b")
        s.ok("DELETE", "/v1/customers/%s?force=true" % first)
        s.stop()
        changed = raw_dump(s.db)
        self.assertNotEqual(before, changed)

        # An existing database is replaced only with --force.
        p = cmd("restore", "--data-dir", s.data, "--from", path)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--force", p.stderr)
        self.assertEqual(raw_dump(s.db), changed)

        # Never under a running server.
        s.start("--backup-interval", "0")
        p = cmd("restore", "--data-dir", s.data, "--from", path, "--force")
        self.assertEqual(p.returncode, 1)
        self.assertIn("running", p.stderr)
        self.assertEqual(s.request("GET", "/healthz").status, 200)
        s.stop()
        self.assertEqual(raw_dump(s.db), changed)

        p = cmd("restore", "--data-dir", s.data, "--from", path, "--force")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(raw_dump(s.db), before)
        self.assertEqual(mode(s.db), 0o600)
        kept = [n for n in os.listdir(s.data) if n.startswith("store.db.replaced-")]
        self.assertEqual(len(kept), 1, os.listdir(s.data))
        kept = os.path.join(s.data, kept[0])
        self.assertEqual(mode(kept), 0o600)
        self.assertEqual(raw_dump(kept), changed)
        self.assertEqual(self.leftovers(s), [])

        # The restored database serves: the old state, the old token.
        s.start("--backup-interval", "0")
        names = {c["name"] for c in s.ok("GET", "/v1/customers")["customers"]}
        self.assertEqual(names, {"cust-a"})
        s.stop()

    def test_tampered_and_wrong_key_refused(self):
        s = self.server()
        s.start("--backup-interval", "0")
        self.populate(s, "t")
        s.stop()
        good = os.path.join(s.tmp, "good.bak")
        p = cmd("backup", "--data-dir", s.data, "--out", good)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, good), p.stderr)
        self.assertEqual(mode(good), 0o600)
        # --out never replaces a file.
        p = cmd("backup", "--data-dir", s.data, "--out", good)
        self.assertEqual(p.returncode, 1)
        self.assertIn("exists", p.stderr)

        # A change made after the backup: a restore would undo it.
        s.start("--backup-interval", "0")
        self.populate(s, "later")
        s.stop()
        current = raw_dump(s.db)
        stamp = os.stat(s.db).st_mtime_ns
        with open(good, "rb") as f:
            blob = f.read()
        bad = os.path.join(s.tmp, "bad.bak")
        cases = {"nonce byte": 15, "first ciphertext byte": 32,
                 "middle byte": len(blob) // 2, "tag byte": len(blob) - 1}
        for what, off in cases.items():
            with open(bad, "wb") as f:
                f.write(blob[:off] + bytes([blob[off] ^ 0x01]) + blob[off + 1:])
            p = cmd("restore", "--data-dir", s.data, "--from", bad, "--force")
            self.assertEqual(p.returncode, 1, what)
            self.assertIn("authentication failed", p.stderr, what)
            self.assertIn("unchanged", p.stderr, what)
            self.assertEqual(raw_dump(s.db), current, what)
            self.assertEqual(os.stat(s.db).st_mtime_ns, stamp, what)
            self.assertEqual(self.leftovers(s), [], what)
        with open(bad, "wb") as f:
            f.write(blob[:-100])
        p = cmd("restore", "--data-dir", s.data, "--from", bad, "--force")
        self.assertEqual(p.returncode, 1, "truncated")
        self.assertEqual(raw_dump(s.db), current)

        # Made with another key.
        other = self.server()
        p = cmd("restore", "--data-dir", s.data, "--from", good, "--force",
                "--backup-key", os.path.join(other.data, "backup.key"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("authentication failed", p.stderr)
        self.assertEqual(raw_dump(s.db), current)
        self.assertEqual(os.stat(s.db).st_mtime_ns, stamp)
        self.assertEqual([n for n in os.listdir(s.data) if "replaced" in n], [])

        # Usage: --from is required; a missing file is a failure.
        self.assertEqual(cmd("restore", "--data-dir", s.data).returncode, 2)
        p = cmd("restore", "--data-dir", s.data, "--from", bad + ".none", "--force")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(raw_dump(s.db), current)

        # The good file restores into a new database (no --force needed).
        fresh = os.path.join(s.tmp, "fresh.db")
        p = cmd("restore", "--data-dir", s.data, "--from", good, "--db", fresh)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(mode(fresh), 0o600)
        self.assertNotIn("node-later", raw_dump(fresh))
        self.assertIn("node-t", raw_dump(fresh))

    def test_lock(self):
        s = self.server()
        lock = os.path.join(s.data, "server.lock")
        s.start("--backup-interval", "0")
        self.assertEqual(mode(lock), 0o600)
        s.stop()
        # A restore holding the lock: the server does not start.
        with open(lock, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            rc = s.start("--backup-interval", "0", expect_fail=True)
            self.assertEqual(rc, 1)
            self.assertIn("restore is in progress", s.logtext())
        # Servers share it: two on one data directory both start.
        s.start("--backup-interval", "0")
        t = sc.Server(tmp=s.tmp, init=False)
        t.admin = s.admin
        self.servers.append(t)
        t.start("--backup-interval", "0")
        self.assertEqual(t.request("GET", "/healthz").status, 200)
        t.stop()
        s.stop()

    # --- scheduled -----------------------------------------------------------
    def wait_metric(self, s, name, at_least, timeout=30):
        deadline = time.time() + timeout
        while True:
            r = s.request("GET", "/metrics", token=s.admin)
            self.assertEqual(r.status, 200)
            n = metric(r.raw, name)
            if n is not None and n >= at_least:
                return r.raw
            if time.time() > deadline:
                self.fail("%s stayed at %s: %s" % (name, n, s.logtext()[-2000:]))
            time.sleep(0.2)

    def test_scheduled_keeps_newest(self):
        s = self.server()
        out = os.path.join(s.tmp, "sched")
        s.start("--backup-interval", "1s", "--backup-keep", "2", "--backup-dir", out)
        self.populate(s, "s")
        text = self.wait_metric(s, 'myrelay_backups_total{result="ok"}', 4)
        self.assertEqual(metric(text, 'myrelay_backups_total{result="failed"}'), 0)
        self.assertGreater(metric(text, "myrelay_backup_last_success_seconds"), 0)
        s.stop()
        files = sorted(os.listdir(out))
        self.assertEqual(len(files), 2, files)
        for f in files:
            self.assertRegex(f, NAME)
            self.assertEqual(mode(os.path.join(out, f)), 0o600)
        self.assertEqual(mode(out), 0o700)
        self.assertGreaterEqual(len(re.findall(r"backup: wrote ", s.logtext())), 4)
        # The newest is a real backup of the database as it is now.
        newest = max(files, key=lambda f: os.stat(os.path.join(out, f)).st_mtime_ns)
        fresh = os.path.join(s.tmp, "fresh.db")
        p = cmd("restore", "--data-dir", s.data, "--from", os.path.join(out, newest), "--db",
                fresh)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(raw_dump(fresh), raw_dump(s.db))

    def test_scheduled_failures_not_fatal(self):
        s = self.server()
        blocker = os.path.join(s.tmp, "not-a-dir")
        with open(blocker, "w") as f:
            f.write("x")
        s.start("--backup-interval", "1s", "--backup-dir", blocker)
        text = self.wait_metric(s, 'myrelay_backups_total{result="failed"}', 2)
        self.assertEqual(metric(text, 'myrelay_backups_total{result="ok"}'), 0)
        self.assertEqual(s.request("GET", "/healthz").status, 200)
        self.assertIn("scheduled backup failed", s.logtext())
        s.stop()
        # A missing key: failed too, the server carries on.
        s.start("--backup-interval", "1s", "--backup-key", os.path.join(s.tmp, "no.key"))
        self.wait_metric(s, 'myrelay_backups_total{result="failed"}', 1)
        self.assertEqual(s.request("GET", "/healthz").status, 200)
        s.stop()
        self.assertEqual(s.exit_codes, [0, 0])

    def test_default_schedule_survives_restarts(self):
        s = self.server()
        backups = os.path.join(s.data, "backups")
        s.start()
        # Daily by default, the first one at start when there is none.
        self.wait_metric(s, 'myrelay_backups_total{result="ok"}', 1)
        s.stop()
        self.assertEqual(len(os.listdir(backups)), 1)
        # Restarted within the day: the newest backup is young enough.
        s.start()
        time.sleep(1.5)
        text = s.request("GET", "/metrics", token=s.admin).raw
        self.assertEqual(metric(text, 'myrelay_backups_total{result="ok"}'), 0)
        s.stop()
        self.assertEqual(len(os.listdir(backups)), 1)
        # Bad durations are usage errors.
        for bad in ("soon", "-1s", "5x", "3651d"):
            p = cmd("run", "--data-dir", s.data, "--backup-interval", bad)
            self.assertEqual(p.returncode, 2, bad)


if __name__ == "__main__":
    sc.require_server()
    unittest.main(verbosity=2)

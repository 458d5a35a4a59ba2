# SPDX-License-Identifier: MIT
import os
import unittest

from myrelay import ctx as mctx
from myrelay import errors


class TestContext(unittest.TestCase):
    def test_defaults_and_setters(self):
        with mctx.Context() as c:
            self.assertEqual(c.backend, mctx.BACKEND_AUTO)
            self.assertEqual(c.userspace_dir, "/var/run/wireguard")
            c.backend = mctx.BACKEND_USERSPACE
            self.assertEqual(c.backend, mctx.BACKEND_USERSPACE)
            c.userspace_dir = "/tmp/mr-sockets"
            self.assertEqual(c.userspace_dir, "/tmp/mr-sockets")
            c.wireguard_go = "/usr/local/bin/wireguard-go"
            self.assertEqual(c.wireguard_go, "/usr/local/bin/wireguard-go")

    def test_bad_values_refused_and_unchanged(self):
        with mctx.Context(backend=mctx.BACKEND_KERNEL) as c:
            with self.assertRaises(errors.InvalidInputError):
                c.backend = 7
            self.assertEqual(c.backend, mctx.BACKEND_KERNEL)
            with self.assertRaises(ValueError):
                c.userspace_dir = "relative"
            with self.assertRaises(ValueError):
                c.userspace_dir = "/tmp/\0x"
            self.assertEqual(c.userspace_dir, "/var/run/wireguard")

    def test_kernel_family_matches_sysfs(self):
        with mctx.Context() as c:
            self.assertEqual(c.has_kernel_wireguard(), os.path.exists("/sys/module/wireguard"))

    def test_closed(self):
        c = mctx.Context()
        c.close()
        c.close()
        with self.assertRaises(ValueError):
            c.backend

    def test_log_callback_kept_alive(self):
        lines = []
        with mctx.Context(log=lambda lvl, msg: lines.append((lvl, msg)),
                          log_level=mctx.LOG_DEBUG) as c:
            c.has_kernel_wireguard()  # logs at debug level
        self.assertTrue(any("WireGuard generic netlink family" in m for _, m in lines), lines)


if __name__ == "__main__":
    unittest.main()

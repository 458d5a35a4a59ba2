# SPDX-License-Identifier: MIT
import hashlib
import random
import string
import unittest

from myrelay import errors
from myrelay import name

GOOD_INTERFACES = ["wg0", "wg-abc123", "a", "A_b-9", "-", "eth0", "abcdefghijklmno"]
BAD_INTERFACES = [
    ("", "interface name: empty"),
    ("abcdefghijklmnop", "interface name: 16 bytes, at most 15 allowed"),
    (".", 'interface name: "." and ".." are not allowed'),
    ("..", 'interface name: "." and ".." are not allowed'),
    ("wg 0", "interface name: invalid byte 0x20 at position 3"),
    ("wg/0", "interface name: invalid character '/' at position 3"),
    ("wg:0", "interface name: invalid character ':' at position 3"),
    ("wg%0", "interface name: invalid character '%' at position 3"),
    ("wgé", "interface name: invalid byte 0xc3 at position 3"),
    ("wg0\n", "interface name: invalid byte 0x0a at position 4"),
]
GOOD_LABELS = ["a", "0", "customer-1", "alice@example.com", "node.eu-west_1", "x" * 63]
BAD_LABELS = [
    ("", "label: empty"),
    ("x" * 64, "label: 64 bytes, at most 63 allowed"),
    (".", "label: invalid character '.' at position 1"),
    ("..", "label: invalid character '.' at position 1"),
    ("-a", "label: invalid character '-' at position 1"),
    ("a b", "label: invalid byte 0x20 at position 2"),
    ("a/b", "label: invalid character '/' at position 2"),
    ("café", "label: invalid byte 0xc3 at position 4"),
]
LABEL_FIRST = string.ascii_letters + string.digits
LABEL_REST = LABEL_FIRST + "._@-"


def expected_pod_interface(pod_id):
    return "wg-" + hashlib.sha256(pod_id.encode()).hexdigest()[:6]


class TestName(unittest.TestCase):
    def test_interfaces(self):
        for s in GOOD_INTERFACES:
            self.assertEqual(name.validate_interface(s), s)
        for s, detail in BAD_INTERFACES:
            with self.subTest(s=s):
                with self.assertRaises(errors.InvalidInputError) as cm:
                    name.validate_interface(s)
                self.assertEqual(str(cm.exception), detail)
                self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(errors.InvalidInputError):
            name.validate_interface("wg\0x")
        with self.assertRaises(TypeError):
            name.validate_interface(None)

    def test_labels(self):
        for s in GOOD_LABELS:
            self.assertEqual(name.validate_label(s), s)
        for s, detail in BAD_LABELS:
            with self.subTest(s=s):
                with self.assertRaises(ValueError) as cm:
                    name.validate_label(s)
                self.assertEqual(str(cm.exception), detail)

    def test_pod_interface_matches_hashlib(self):
        rng = random.Random(7)
        ids = ["abc", "pod-1", "0"] + [
            rng.choice(LABEL_FIRST) + "".join(rng.choice(LABEL_REST)
                                              for _ in range(rng.randrange(63)))
            for _ in range(500)]
        for pod_id in ids:
            got = name.pod_interface(pod_id)
            self.assertEqual(got, expected_pod_interface(pod_id))
            self.assertTrue(name.is_pod_interface(got))
            name.validate_interface(got)
        self.assertEqual(name.pod_interface("abc"), "wg-ba7816")

    def test_pod_interface_bad_id(self):
        for pod_id in ("", "-x", "a b", "x" * 64):
            with self.assertRaisesRegex(errors.InvalidInputError, "^pod id: "):
                name.pod_interface(pod_id)

    def test_is_pod_interface(self):
        for s in ("wg-000000", "wg-abcdef", "wg-123abc"):
            self.assertTrue(name.is_pod_interface(s), s)
        for s in ("", "wg-", "wg-ABCDEF", "wg-abcde", "wg-abcdefa", "wg_abcdef",
                  "wg-abcdeg", "wg-abcde\n", "wg-abc\0ef", None, 5):
            self.assertFalse(name.is_pod_interface(s), repr(s))


if __name__ == "__main__":
    unittest.main()

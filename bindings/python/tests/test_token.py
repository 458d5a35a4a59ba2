# SPDX-License-Identifier: MIT
import base64
import hashlib
import re
import unittest

from myrelay import errors, token

SHAPE = re.compile(r"mr([anp])_([a-z2-7]{16})_([a-z2-7]{52})([a-z2-7]{6})\Z")
# Known answer computed with base64, hashlib and a reference CRC-30/CDMA.
KAT = ("mra_aebagbafaydqqcik_aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq2ni3sc",
       "admin", "aebagbafaydqqcik",
       "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd")


def secret_sha256(text):
    return hashlib.sha256(base64.b32decode(text[21:73].upper() + "====")).hexdigest()


class TestToken(unittest.TestCase):
    def test_kinds(self):
        self.assertEqual(dict(token.KINDS), {"admin": 1, "node": 2, "pod": 3})
        with self.assertRaises(TypeError):
            token.KINDS["root"] = 4
        for name, value in token.KINDS.items():
            self.assertEqual(token.kind_name(value), name)
            self.assertEqual(token.kind_value(name), value)

    def test_generate_each_kind(self):
        for kind in ("admin", "node", "pod", 1, 2, 3):
            with self.subTest(kind=kind):
                text, tid, hash_hex = token.generate(kind)
                m = SHAPE.match(text)
                self.assertIsNotNone(m)
                self.assertEqual(len(text), token.STRLEN)
                self.assertEqual(m.group(1), token.kind_name(kind)[0])
                self.assertEqual(m.group(2), tid)
                self.assertEqual(hash_hex, secret_sha256(text))
                parsed = token.parse(text)
                self.assertEqual(parsed, (token.kind_name(kind), tid, hash_hex))
                self.assertEqual(parsed.kind, token.kind_name(kind))
                self.assertTrue(token.verify(text, kind, tid, hash_hex))

    def test_generated_is_namedtuple(self):
        g = token.generate("pod")
        self.assertEqual(g.token[:4], "mrp_")
        self.assertEqual(g.id, g.token[4:20])
        self.assertEqual(len(g.hash_hex), 64)

    def test_distinct(self):
        tokens = [token.generate("node") for _ in range(500)]
        self.assertEqual(len({t.token for t in tokens}), 500)
        self.assertEqual(len({t.id for t in tokens}), 500)
        self.assertEqual(len({t.hash_hex for t in tokens}), 500)

    def test_known_answer(self):
        text, kind, tid, hash_hex = KAT
        self.assertEqual(token.parse(text), (kind, tid, hash_hex))
        self.assertEqual(secret_sha256(text), hash_hex)
        self.assertTrue(token.verify(text, kind, tid, hash_hex))
        self.assertTrue(token.verify(text.encode(), kind, tid, hash_hex.upper()))

    def test_verify_mismatch_is_false(self):
        text, kind, tid, hash_hex = KAT
        other = token.generate("admin")
        flipped = ("1" if hash_hex[0] != "1" else "2") + hash_hex[1:]
        cases = {
            "wrong hash": (text, kind, tid, flipped),
            "other token's hash": (text, kind, tid, other.hash_hex),
            "wrong id": (text, kind, other.id, hash_hex),
            "wrong kind": (text, "pod", tid, hash_hex),
            "wrong kind int": (text, token.NODE, tid, hash_hex),
            "other token": (other.token, kind, tid, hash_hex),
            "typo": (text[:30] + ("b" if text[30] != "b" else "c") + text[31:], kind, tid,
                     hash_hex),
            "truncated": (text[:-1], kind, tid, hash_hex),
            "whitespace": (text + "\n", kind, tid, hash_hex),
            "bearer": ("Bearer " + text, kind, tid, hash_hex),
            "uppercase": (text.upper(), kind, tid, hash_hex),
            "empty": ("", kind, tid, hash_hex),
            "embedded NUL": (text[:40] + "\0" + text[41:], kind, tid, hash_hex),
            "non-ascii": (text[:40] + "\u00e9" + text[41:], kind, tid, hash_hex),
        }
        for name, args in cases.items():
            with self.subTest(name):
                self.assertIs(token.verify(*args), False)

    def test_verify_programming_errors_raise(self):
        text, kind, tid, hash_hex = KAT
        cases = {
            "unknown kind name": ((text, "root", tid, hash_hex), errors.InvalidInputError),
            "unknown kind int": ((text, 7, tid, hash_hex), errors.InvalidInputError),
            "kind zero": ((text, 0, tid, hash_hex), errors.InvalidInputError),
            "kind bool": ((text, True, tid, hash_hex), TypeError),
            "kind None": ((text, None, tid, hash_hex), TypeError),
            "short id": ((text, kind, tid[:-1], hash_hex), errors.InvalidInputError),
            "uppercase id": ((text, kind, tid.upper(), hash_hex), errors.InvalidInputError),
            "short hash": ((text, kind, tid, hash_hex[:-1]), errors.InvalidInputError),
            "bad hash": ((text, kind, tid, "z" * 64), errors.InvalidInputError),
            "text None": ((None, kind, tid, hash_hex), TypeError),
            "text int": ((5, kind, tid, hash_hex), TypeError),
        }
        for name, (args, exc) in cases.items():
            with self.subTest(name):
                with self.assertRaises(exc):
                    token.verify(*args)
        self.assertTrue(issubclass(errors.InvalidInputError, ValueError))

    def test_parse_errors(self):
        text = KAT[0]
        cases = {
            "": "token: empty",
            "ghp_0123456789abcdef": "token: unknown prefix",
            text.upper(): "token: unknown prefix",
            " " + text: "token: unknown prefix",
            text[:-1]: "token: wrong length (expected 79 characters, got 78: truncated?)",
            text + " ": "token: wrong length (expected 79 characters, got 80)",
            text[:4] + text[4:].upper(): "token: checksum mismatch (typo or truncated?)",
            text[:50] + text[51] + text[50] + text[52:]:
                "token: checksum mismatch (typo or truncated?)",
            text[:10] + "\0" + text[11:]: "token: contains a NUL character",
        }
        for bad, detail in cases.items():
            with self.subTest(detail):
                with self.assertRaises(errors.AuthenticationError) as cm:
                    token.parse(bad)
                self.assertTrue(str(cm.exception).startswith(detail), str(cm.exception))
                self.assertIsInstance(cm.exception, PermissionError)
                self.assertNotIn(text[21:73], str(cm.exception))
                for i in range(21, 66, 8):
                    self.assertNotIn(text[i:i + 8], str(cm.exception))
        with self.assertRaises(TypeError):
            token.parse(None)

    def test_every_substitution_rejected(self):
        text = KAT[0]
        alphabet = "abcdefghijklmnopqrstuvwxyz234567"
        n = 0
        for pos in range(4, len(text)):
            for c in alphabet + "_":
                if c == text[pos]:
                    continue
                with self.assertRaises(errors.AuthenticationError):
                    token.parse(text[:pos] + c + text[pos + 1:])
                n += 1
        self.assertGreater(n, 75 * 31)

    def test_scopes(self):
        self.assertEqual(token.scopes("admin"), token.SCOPE_ADMIN | token.SCOPE_POD_PEERS)
        self.assertEqual(token.scopes("node"), token.SCOPE_NODE_STATE)
        self.assertEqual(token.scopes(token.POD), token.SCOPE_POD_PEERS)
        self.assertTrue(token.allows("admin", token.SCOPE_ADMIN))
        self.assertTrue(token.allows("pod", token.SCOPE_POD_PEERS))
        self.assertFalse(token.allows("pod", token.SCOPE_ADMIN))
        self.assertFalse(token.allows("node", token.SCOPE_POD_PEERS))
        self.assertFalse(token.allows("admin", token.SCOPE_NODE_STATE))
        self.assertFalse(token.allows("admin", 0))
        self.assertFalse(token.allows("admin", 0x100))
        with self.assertRaises(errors.InvalidInputError):
            token.scopes("customer")


if __name__ == "__main__":
    unittest.main()

# SPDX-License-Identifier: MIT
import base64
import copy
import os
import pickle
import unittest

from myrelay import errors
from myrelay import key
from myrelay.key import Key

# RFC 7748 section 6.1 (Alice, Bob) and 5.2 (scalar 9): private -> public.
RFC7748 = [
    ("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
     "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
    ("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
     "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
    ("0900000000000000000000000000000000000000000000000000000000000000",
     "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"),
]

VALID = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
ZERO = "A" * 43 + "="

BAD = [
    ("", "expected 44 characters, got 0"),
    (VALID[:-1], "expected 44 characters, got 43"),
    (VALID + "A", "expected 44 characters, got 45"),
    (VALID[:-1] + "A", "invalid base64"),
    (VALID[:-2] + "==", "invalid base64"),
    ("=" + VALID[:-1], "invalid base64"),
    (VALID[:12] + "-" + VALID[13:], "invalid base64"),
    (VALID[:12] + "_" + VALID[13:], "invalid base64"),
    (VALID[:12] + "é" + VALID[14:], "invalid base64"),  # 2 UTF-8 bytes
    (VALID[:42] + "p=", "not canonical"),
    ("A" * 42 + "B=", "not canonical"),
]


class TestKey(unittest.TestCase):
    def test_rfc7748(self):
        for priv_hex, pub_hex in RFC7748:
            priv = Key(bytes.fromhex(priv_hex))
            pub = priv.public_key()
            self.assertEqual(bytes(pub), bytes.fromhex(pub_hex))
            self.assertEqual(pub.kind, "public")
            self.assertEqual(pub.to_base64(), base64.b64encode(bytes.fromhex(pub_hex)).decode())
            self.assertEqual(Key.public_from_base64(pub.to_base64()), pub)

    def test_base64_matches_stdlib(self):
        for _ in range(500):
            raw = os.urandom(32)
            text = base64.b64encode(raw).decode()
            k = Key(raw)
            self.assertEqual(k.to_base64(), text)
            self.assertEqual(bytes(Key.from_base64(text)), raw)
            self.assertEqual(Key.from_base64(text.encode()), k)

    def test_bad_encodings(self):
        for text, detail in BAD:
            with self.subTest(text=text):
                with self.assertRaises(errors.InvalidInputError) as cm:
                    Key.from_base64(text)
                self.assertEqual(str(cm.exception), "key: " + detail)
                self.assertIsInstance(cm.exception, ValueError)
                with self.assertRaises(ValueError) as cm:
                    Key.public_from_base64(text)
                self.assertEqual(str(cm.exception), "public key: " + detail)
                with self.assertRaises(ValueError):
                    key.validate_public(text)
                if len(text) >= 8:
                    self.assertNotIn(text[4:12], str(cm.exception))

    def test_bad_types_and_nul(self):
        with self.assertRaises(errors.InvalidInputError):
            Key.from_base64(VALID[:10] + "\0" + VALID[11:])
        with self.assertRaises(TypeError):
            Key.from_base64(None)
        with self.assertRaises(TypeError):
            Key.from_base64(42)
        with self.assertRaises(ValueError):
            Key(b"short")
        with self.assertRaises(ValueError):
            Key(bytes(32), kind="secret")

    def test_zero(self):
        z = Key.from_base64(ZERO)
        self.assertTrue(z.is_zero())
        self.assertFalse(z.public_key().is_zero())
        with self.assertRaisesRegex(errors.InvalidInputError, "^public key: all zeros$"):
            Key.public_from_base64(ZERO)
        with self.assertRaisesRegex(ValueError, "^public key: all zeros$"):
            key.validate_public(ZERO)
        self.assertEqual(key.validate_public(VALID), VALID)

    def test_generate(self):
        keys = [Key.generate() for _ in range(50)]
        self.assertEqual(len(set(keys)), 50)
        for k in keys:
            raw = bytes(k)
            self.assertEqual(raw[0] & 7, 0)
            self.assertEqual(raw[31] & 0xC0, 0x40)
            self.assertEqual(k.kind, "private")
            key.validate_public(k.public_key().to_base64())
        psks = [Key.generate_preshared() for _ in range(50)]
        self.assertEqual(len(set(psks)), 50)
        self.assertTrue(all(p.kind == "preshared" and p.is_secret for p in psks))

    def test_secrets_are_masked(self):
        for k in (Key.generate(), Key.generate_preshared(), Key.from_base64(VALID)):
            text = k.to_base64()
            for shown in (str(k), repr(k), f"{k}", "%s" % k, str([k])):
                self.assertNotIn(text, shown)
                self.assertNotIn(text[:8], shown)
                self.assertIn("hidden", shown)
        pub = Key.from_base64(VALID).public_key()
        self.assertEqual(str(pub), pub.to_base64())
        self.assertIn(pub.to_base64(), repr(pub))

    def test_kinds(self):
        pub = Key.public_from_base64(VALID)
        self.assertFalse(pub.is_secret)
        with self.assertRaises(TypeError):
            pub.public_key()
        with self.assertRaises(TypeError):
            Key.generate_preshared().public_key()
        self.assertEqual(Key.from_base64(VALID, kind="public").kind, "public")
        self.assertEqual(Key.from_base64(VALID, kind="preshared").kind, "preshared")

    def test_equality_and_hash(self):
        a = Key.from_base64(VALID)
        b = Key.from_base64(VALID)
        c = Key.generate()
        self.assertEqual(a, b)
        self.assertEqual(hash(a), hash(b))
        self.assertNotEqual(a, c)
        self.assertNotEqual(a, VALID)
        self.assertEqual(len({a, b, c}), 2)

    def test_immutable(self):
        k = Key.generate()
        with self.assertRaises(AttributeError):
            k._kind = "public"
        with self.assertRaises(AttributeError):
            k.anything = 1
        self.assertIs(copy.copy(k), k)
        with self.assertRaises(TypeError):
            pickle.dumps(k)

    def test_wipe(self):
        k = Key.generate()
        self.assertFalse(k.is_zero())
        k.wipe()
        self.assertTrue(k.is_zero())
        with Key.generate_preshared() as p:
            self.assertFalse(p.is_zero())
        self.assertTrue(p.is_zero())


if __name__ == "__main__":
    unittest.main()

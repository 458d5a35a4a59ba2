# SPDX-License-Identifier: MIT
import unittest

import myrelay
from myrelay import errors


class TestError(unittest.TestCase):
    def test_version(self):
        v = myrelay.version()
        major, minor, patch = (int(x) for x in v.split("."))
        self.assertEqual(myrelay.version_number(), (major << 16) | (minor << 8) | patch)

    def test_every_code_has_a_class(self):
        # the classes must cover every code the library names
        for code in range(-1, -100, -1):
            name = myrelay.error_name(code)
            if name == "unknown":
                break
            exc = errors.from_code(code, "detail")
            self.assertIsInstance(exc, errors.MyRelayError)
            self.assertIsNot(type(exc), errors.MyRelayError, f"no class for {code}")
            self.assertEqual(exc.name, name)
            self.assertEqual(exc.code, code)
            self.assertEqual(str(exc), "detail")
        else:
            self.fail("no end of codes found")

    def test_builtin_bases(self):
        self.assertTrue(issubclass(errors.InvalidInputError, ValueError))
        self.assertTrue(issubclass(errors.NotFoundError, LookupError))
        self.assertTrue(issubclass(errors.ForbiddenError, PermissionError))
        self.assertTrue(issubclass(errors.AuthenticationError, PermissionError))

    def test_strerror(self):
        self.assertEqual(myrelay.strerror(-1), "invalid argument")
        self.assertEqual(myrelay.strerror(-999), "unknown error")


if __name__ == "__main__":
    unittest.main()

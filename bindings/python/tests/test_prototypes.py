# SPDX-License-Identifier: MIT
"""The binding cannot fall behind the ABI: its prototype table must name
exactly the symbols of libmyrelay.map, and each must resolve."""
import os
import pathlib
import re
import unittest

from myrelay import _ffi

MAP = pathlib.Path(os.environ.get("top_srcdir", pathlib.Path(__file__).parents[3])) \
    / "libmyrelay" / "libmyrelay.map"


def mapped_symbols():
    text = re.sub(r"/\*.*?\*/", "", MAP.read_text(), flags=re.S)
    names = set()
    for m in re.finditer(r"MYRELAY_\d+\.\d+\s*\{(.*?)\}", text, re.S):
        glob = m.group(1).split("local:")[0].replace("global:", "")
        names.update(re.findall(r"([A-Za-z0-9_]+)\s*;", glob))
    return names


class TestPrototypes(unittest.TestCase):
    def test_table_matches_map(self):
        mapped = mapped_symbols()
        table = set(_ffi.PROTOTYPES)
        self.assertGreater(len(mapped), 5)
        self.assertEqual(sorted(mapped - table), [], "exported but not in the binding")
        self.assertEqual(sorted(table - mapped), [], "in the binding but not exported")

    def test_entries_resolve_and_are_typed(self):
        for name, (restype, argtypes, errcheck) in _ffi.PROTOTYPES.items():
            fn = getattr(_ffi.lib, name)
            self.assertEqual(fn.argtypes, argtypes, name)
            self.assertIsInstance(argtypes, list, name)
            for a in argtypes:
                self.assertIsNot(a, _ffi.c_void_p if name != "mr_free" else None,
                                 f"{name}: use a typed handle pointer, not c_void_p")


if __name__ == "__main__":
    unittest.main()

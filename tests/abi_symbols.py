#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that the public headers, the symbol map and the built library agree.

Fails when:
  - a header declares an MR_API function missing from the map, or vice versa;
  - the built library exports a symbol that is not in the map, lacks the mr_
    prefix, or carries no MYRELAY_x.y version;
  - a mapped symbol is not exported by the library (or under another node);
  - a symbol is listed in two version nodes.
Usage: abi_symbols.py INCLUDE_DIR MAP_FILE LIBRARY
"""
import pathlib
import re
import subprocess
import sys

API_RE = re.compile(r"\bMR_API\b[^;{]*?\b(mr_[A-Za-z0-9_]+)\s*\(", re.S)


def header_symbols(include_dir):
    syms = {}
    for h in sorted(pathlib.Path(include_dir).glob("*.h")):
        text = h.read_text()
        # drop comments so that prose mentioning MR_API does not count
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        text = re.sub(r"//[^\n]*", "", text)
        text = text.replace("#define MR_API", "")
        for name in API_RE.findall(text):
            syms.setdefault(name, h.name)
    return syms


def map_symbols(map_file):
    text = re.sub(r"/\*.*?\*/", "", pathlib.Path(map_file).read_text(), flags=re.S)
    nodes = {}
    errors = []
    for m in re.finditer(r"(MYRELAY_\d+\.\d+)\s*\{(.*?)\}\s*([A-Za-z0-9_.]*)\s*;", text, re.S):
        node, body = m.group(1), m.group(2)
        glob = body.split("local:")[0].replace("global:", "")
        for name in re.findall(r"([A-Za-z0-9_]+)\s*;", glob):
            if name in nodes:
                errors.append(f"{name}: listed in both {nodes[name]} and {node}")
            nodes[name] = node
    return nodes, errors


def library_symbols(lib):
    out = subprocess.run(["readelf", "--dyn-syms", "--wide", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 8 or not parts[0].rstrip(":").isdigit():
            continue
        bind, ndx, name = parts[4], parts[6], parts[7]
        if ndx == "UND" or bind not in ("GLOBAL", "WEAK"):
            continue
        if parts[3] == "OBJECT" and ndx == "ABS":
            continue
        base, _, ver = name.partition("@")
        ver = ver.lstrip("@")
        if ndx == "ABS" and base == ver:
            continue  # the version node's own definition
        syms[base] = ver
    return syms


def main():
    include_dir, map_file, lib = sys.argv[1:4]
    errors = []
    hdr = header_symbols(include_dir)
    mapped, map_errors = map_symbols(map_file)
    errors += map_errors
    libsyms = library_symbols(lib)

    for name, h in sorted(hdr.items()):
        if name not in mapped:
            errors.append(f"{name} (declared MR_API in {h}) is missing from the map")
    for name in sorted(mapped):
        if name not in hdr:
            errors.append(f"{name} is in the map but no header declares it MR_API")
        if not name.startswith("mr_"):
            errors.append(f"{name}: mapped name lacks the mr_ prefix")
    for name, ver in sorted(libsyms.items()):
        if not name.startswith("mr_"):
            errors.append(f"library exports {name}, which lacks the mr_ prefix")
        if not ver.startswith("MYRELAY_"):
            errors.append(f"library exports {name} without a MYRELAY_ version ({ver or 'none'})")
        if name not in mapped:
            errors.append(f"library exports {name}, which is not in the map")
        elif mapped[name] != ver:
            errors.append(f"{name} exported as {ver}, map says {mapped[name]}")
    for name in sorted(mapped):
        if name not in libsyms:
            errors.append(f"{name} is in the map but the library does not export it")

    print(f"headers: {len(hdr)} MR_API functions; map: {len(mapped)} names; "
          f"library: {len(libsyms)} exports")
    for e in errors:
        print("FAIL:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

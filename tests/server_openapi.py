# SPDX-License-Identifier: MIT
"""docs/openapi.yaml against the server's own route table
(`myrelay-server routes`): every route documented, nothing documented that
the server lacks, and each operation's security (which tokens it takes)
equal to the route's credential. The YAML is read with a minimal,
indentation-based reader (stdlib only) that understands the layout of that
file: `paths:` at column 0, paths at 2 spaces, methods at 4, `security:` in
flow style at 6."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server_common as sc  # noqa: E402

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
AUTH = {"none": set(), "admin": {"adminToken"}, "admin,pod": {"adminToken", "podToken"},
        "pod": {"podToken"}, "node": {"nodeToken"}}


def read_operations(text):
    """{(METHOD, path): {"security": set or None, "responses": bool, "id": str}}"""
    ops, path, op, in_paths = {}, None, None, False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            in_paths = line.rstrip() == "paths:"
            path = op = None
            continue
        if not in_paths:
            continue
        m = re.match(r"^  (/\S*):\s*$", line)
        if m:
            path, op = m.group(1), None
            continue
        m = re.match(r"^    (\w+):", line)
        if m and indent == 4:
            op = None
            if m.group(1) in METHODS:
                if path is None:
                    raise ValueError("method outside a path: " + line)
                key = (m.group(1).upper(), path)
                if key in ops:
                    raise ValueError("operation listed twice: %s %s" % key)
                op = ops[key] = {"security": None, "responses": False, "id": None}
            continue
        if op is None or indent != 6:
            continue
        m = re.match(r"^      security: \[(.*)\]\s*$", line)
        if m:
            op["security"] = set(re.findall(r"\{(\w+): \[\]\}", m.group(1)))
        elif re.match(r"^      responses:", line):
            op["responses"] = True
        m = re.match(r"^      operationId: (\w+)\s*$", line)
        if m:
            op["id"] = m.group(1)
    return ops


def differences(ops, table):
    errors = []
    routes = {(m, p): auth for m, p, auth in table}
    for key in sorted(set(routes) - set(ops)):
        errors.append("route missing from docs/openapi.yaml: %s %s" % key)
    for key in sorted(set(ops) - set(routes)):
        errors.append("documented route the server does not have: %s %s" % key)
    ids = {}
    for key, op in sorted(ops.items()):
        if not op["responses"]:
            errors.append("%s %s: no responses" % key)
        if not op["id"]:
            errors.append("%s %s: no operationId" % key)
        elif op["id"] in ids:
            errors.append("%s %s: operationId %s used twice" % (key + (op["id"],)))
        ids[op["id"]] = key
        if key in routes:
            want = AUTH[routes[key]]
            got = op["security"] if op["security"] is not None else {"adminToken"}
            if got != want:
                errors.append("%s %s: security %s, the server takes %s"
                              % (key + (sorted(got), sorted(want))))
    return errors


class OpenAPI(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(sc.SRCDIR, "docs", "openapi.yaml")) as f:
            self.text = f.read()
        self.table = sc.routes()

    def test_every_route_documented_and_nothing_more(self):
        ops = read_operations(self.text)
        self.assertEqual(differences(ops, self.table), [])
        self.assertEqual(len(ops), len(self.table))
        print("\nopenapi: %d operations = %d routes" % (len(ops), len(self.table)),
              file=sys.stderr)

    def test_checker_catches_drift(self):
        """The comparison above can fail: remove a path, add one, change a
        security requirement; each must be reported."""
        dropped = re.sub(r"\n  /v1/audit:\n(    .*\n|      .*\n|\s*\n)*?(?=  /)", "\n",
                         self.text, count=1)
        self.assertNotEqual(dropped, self.text)
        errs = differences(read_operations(dropped), self.table)
        self.assertTrue(any("missing" in e and "/v1/audit" in e for e in errs), errs)
        extra = self.text.replace("\n  /v1/status:\n", "\n  /v1/bogus:\n    get:\n"
                                  "      operationId: bogus\n      responses: {}\n"
                                  "  /v1/status:\n", 1)
        errs = differences(read_operations(extra), self.table)
        self.assertTrue(any("does not have: GET /v1/bogus" in e for e in errs), errs)
        swapped = self.text.replace("operationId: myPod\n      summary: The token's own pod "
                                    "(endpoint, public key, subnets, status)\n      security: "
                                    "[{podToken: []}]",
                                    "operationId: myPod\n      summary: x\n      security: "
                                    "[{adminToken: []}]", 1)
        self.assertNotEqual(swapped, self.text)
        errs = differences(read_operations(swapped), self.table)
        self.assertTrue(any("GET /v1/pod: security" in e for e in errs), errs)

    def test_yaml_is_well_formed_when_pyyaml_is_there(self):
        try:
            import yaml
        except ImportError:
            self.skipTest("PyYAML not installed (optional cross-check)")
        doc = yaml.safe_load(self.text)
        ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in METHODS}
        self.assertEqual(ops, set(read_operations(self.text)))

        def walk(o):
            if isinstance(o, dict):
                for k, v in o.items():
                    if k == "$ref":
                        node = doc
                        for part in v[2:].split("/"):
                            node = node[part]
                    else:
                        walk(v)
            elif isinstance(o, list):
                for v in o:
                    walk(v)
        walk(doc)


if __name__ == "__main__":
    sc.require_server()
    unittest.main(verbosity=2)

#!/bin/sh
# SPDX-License-Identifier: MIT
# Cross-check generated tokens with code that knows nothing of libmyrelay:
# the Python binding makes a few hundred tokens; Python's base64.b32decode
# decodes their id and secret (and re-encoding must give the same text, so the
# encoding is canonical); a CRC-30/CDMA written here from the CRC catalogue's
# parameters checks their check characters; and one `openssl dgst -sha256` run
# over all the decoded secrets must print exactly the hashes the library gave.
set -eu

if ! command -v openssl >/dev/null 2>&1; then
	echo "SKIP: openssl not found"
	exit 77
fi

count=${TOKEN_OPENSSL_COUNT:-300}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export PYTHONPATH="$top_srcdir/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
preload=${LD_PRELOAD:-}
asan_options=${ASAN_OPTIONS:-}
if [ -n "${SANITIZER_FLAGS:-}" ] && [ -n "${ASAN_RUNTIME:-}" ]; then
	# As in python-binding.sh: the interpreter is not instrumented.
	preload="$ASAN_RUNTIME${preload:+ $preload}"
	asan_options="detect_leaks=0${asan_options:+:$asan_options}"
fi

LD_PRELOAD=$preload ASAN_OPTIONS=$asan_options "${PYTHON:-python3}" - "$tmp" "$count" <<'EOF'
import base64
import os
import re
import sys

from myrelay import token

tmp, count = sys.argv[1], int(sys.argv[2])
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
SHAPE = re.compile(r"mr[anp]_[a-z2-7]{16}_[a-z2-7]{52}[a-z2-7]{6}\Z")


def crc30_cdma(data):
    crc = 0x3FFFFFFF
    for b in data:
        crc ^= b << 22
        for _ in range(8):
            crc = (crc << 1) ^ 0x2030B9C7 if crc & 0x20000000 else crc << 1
            crc &= 0x3FFFFFFF
    return crc ^ 0x3FFFFFFF


assert crc30_cdma(b"123456789") == 0x04C34ABF, "reference CRC is wrong"

kinds = ["admin", "node", "pod"]
with open(os.path.join(tmp, "expected"), "w") as expected:
    for i in range(count):
        kind = kinds[i % 3]
        text, tid, hash_hex = token.generate(kind)
        assert SHAPE.match(text), f"token {i}: bad shape"
        assert text[2] == kind[0] and text[4:20] == tid, f"token {i}: prefix or id"

        raw_id = base64.b32decode(tid.upper())
        assert len(raw_id) == 10
        assert base64.b32encode(raw_id).decode().lower() == tid, "id not canonical"

        secret = text[21:73]
        raw = base64.b32decode(secret.upper() + "====")
        assert len(raw) == 32
        assert base64.b32encode(raw).decode().lower().rstrip("=") == secret, \
            f"token {i}: secret not canonical"

        crc = crc30_cdma(text[:73].encode())
        check = "".join(ALPHABET[(crc >> (25 - 5 * k)) & 31] for k in range(6))
        assert text[73:] == check, f"token {i}: check characters differ from CRC-30/CDMA"

        parsed = token.parse(text)
        assert (parsed.kind, parsed.id, parsed.hash_hex) == (kind, tid, hash_hex)

        name = f"{i:05d}.bin"
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(raw)
        expected.write(f"{hash_hex} *{name}\n")
print(f"{count} tokens decoded by base64.b32decode, CRC-30 checked")
EOF

# One openssl process for every secret; -r prints "<hex> *<file>".
(cd "$tmp" && openssl dgst -sha256 -r ./*.bin | sed 's| \*\./| *|') > "$tmp/actual"
if ! cmp -s "$tmp/expected" "$tmp/actual"; then
	echo "FAIL: openssl dgst -sha256 disagrees with the library's token hashes:"
	diff "$tmp/expected" "$tmp/actual" | head -20
	exit 1
fi
n=$(wc -l < "$tmp/actual")
if [ "$n" -ne "$count" ]; then
	echo "FAIL: openssl hashed $n secrets, expected $count"
	exit 1
fi
echo "openssl dgst -sha256 agrees on $n token hashes"

#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's C and Python examples must build and run as printed: extract
# each fenced block, compile the C one against this build, run both, and
# check what they print.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
readme="$top_srcdir/README.md"
"${PYTHON:-python3}" - "$readme" "$tmp" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
c = re.search(r"## Using the library from C.*?```c\n(.*?)```", text, re.S)
py = re.search(r"## Using the library from Python.*?```python\n(.*?)```", text, re.S)
assert c and py, "README examples not found"
open(sys.argv[2] + "/example.c", "w").write(c.group(1))
open(sys.argv[2] + "/example.py", "w").write(py.group(1))
PY
libdir=$(dirname "$MYRELAY_LIBRARY")
# shellcheck disable=SC2086
${CC:-cc} $SANITIZER_FLAGS -std=c99 -Wall -Werror -o "$tmp/example" "$tmp/example.c" \
	-I"$top_srcdir/include" -I"$top_builddir/include" -L"$libdir" -lmyrelay
LD_LIBRARY_PATH="$libdir" "$tmp/example" >"$tmp/c.out"
cat "$tmp/c.out"
grep -q '^public key [A-Za-z0-9+/]\{43\}=$' "$tmp/c.out" || { echo "FAIL: C example: no public key"; exit 1; }
grep -q '^AllowedIPs 192.0.0.0/9$' "$tmp/c.out" || { echo "FAIL: C example: AllowedIPs"; exit 1; }
grep -q '^AllowedIPs ::/0$' "$tmp/c.out" || { echo "FAIL: C example: ::/0"; exit 1; }
if [ -n "$SANITIZER_FLAGS" ] && [ -n "$ASAN_RUNTIME" ]; then
	export LD_PRELOAD="$ASAN_RUNTIME" ASAN_OPTIONS=detect_leaks=0
fi
PYTHONPATH="$top_srcdir/bindings/python" "${PYTHON:-python3}" "$tmp/example.py" >"$tmp/py.out"
cat "$tmp/py.out"
grep -q '^\[Interface\]$' "$tmp/py.out" || { echo "FAIL: Python example: no config"; exit 1; }
grep -q '^AllowedIPs = 0.0.0.0/1, 128.0.0.0/2, ' "$tmp/py.out" || { echo "FAIL: Python example: AllowedIPs"; exit 1; }
echo "ok: README examples build and run"

#!/bin/sh
# SPDX-License-Identifier: MIT
# The API client's TLS verification against real certificates made by
# openssl(1) and served by Python's ssl module (tests/api_tls.py).
: "${top_srcdir:?}"
set -e
command -v openssl >/dev/null 2>&1 || {
	echo "SKIP: openssl(1) not found: cannot make test certificates (apt-get install openssl)"
	exit 77
}
export PYTHONPATH="$top_srcdir/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "$SANITIZER_FLAGS" ] && [ -n "$ASAN_RUNTIME" ]; then
	export LD_PRELOAD="$ASAN_RUNTIME${LD_PRELOAD:+ $LD_PRELOAD}"
	export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
exec "${PYTHON:-python3}" "$top_srcdir/tests/api_tls.py"

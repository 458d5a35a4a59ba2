#!/bin/sh
# SPDX-License-Identifier: MIT
# The myrelay CLI against a real myrelay-server on a free loopback port
# (tests/cli_server.py): operator and customer flows, configs checked with
# wg-quick(8), the database with sqlite3(1), exit codes, a wrong CA.
: "${top_builddir:?}" "${top_srcdir:=.}"
set -e
server="$top_builddir/frontends/server/myrelay-server"
if [ ! -x "$server" ]; then
	echo "SKIP: $server is not built: the CLI cannot be tested against a server"
	exit 77
fi
for prog in wg wg-quick sqlite3 openssl; do
	command -v "$prog" >/dev/null 2>&1 || {
		echo "SKIP: $prog not found (tests/deps.sh installs it)"
		exit 77
	}
done
export PYTHONPATH="$top_srcdir/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "$SANITIZER_FLAGS" ] && [ -n "$ASAN_RUNTIME" ]; then
	export LD_PRELOAD="$ASAN_RUNTIME${LD_PRELOAD:+ $LD_PRELOAD}"
	export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
exec "${PYTHON:-python3}" "$top_srcdir/tests/cli_server.py"

#!/bin/sh
# SPDX-License-Identifier: MIT
# myrelay-server limits and operations: rate limiting, body/connection limits,
# timeouts, TLS versions and certificate (openssl s_client), refusal to start
# without TLS, file modes, configuration file, long polls, graceful shutdown.
set -eu
for tool in curl openssl sqlite3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done
exec "${PYTHON:-python3}" "$top_srcdir/tests/server_limits.py"

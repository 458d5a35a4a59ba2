#!/bin/sh
# SPDX-License-Identifier: MIT
# The API against a running myrelay-server on loopback: admin flow, customer
# flow with a pod token, every route against every credential, 160 bad inputs
# (database dumped with sqlite3 before and after), with curl and http.client
# over TLS verified with the generated CA.
set -eu
for tool in curl openssl sqlite3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done
exec "${PYTHON:-python3}" "$top_srcdir/tests/server_api.py"

#!/bin/sh
# SPDX-License-Identifier: MIT
# myrelay-server backups: `backup` and `restore` by hand (round trip compared
# with sqlite3 .dump, tampered files and another key refused with the
# database untouched, refusal while a server runs), scheduled backups in
# `run` (interval, how many are kept, failures counted in /metrics), modes.
set -eu
for tool in curl openssl sqlite3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not found"
		exit 77
	fi
done
exec "${PYTHON:-python3}" "$top_srcdir/tests/server_backup.py"

#!/bin/sh
# SPDX-License-Identifier: MIT
# Differential test of the key module against the real `wg` tool
# (wireguard-tools): public keys, base64 text and the set of accepted keys
# must agree. See key_wg.py.
set -e
if ! command -v wg >/dev/null 2>&1; then
	echo "##################################################################"
	echo "SKIP: wg (wireguard-tools) is not installed; the key module is NOT"
	echo "being compared with WireGuard. apt-get install wireguard-tools"
	echo "##################################################################"
	exit 77
fi
exec "${PYTHON:-python3}" "$top_srcdir/tests/key_wg.py" "$top_builddir/tests/key_tool"

#!/bin/sh
# SPDX-License-Identifier: MIT
# Headers, symbol map and built library must agree (see abi_symbols.py).
set -e
exec "${PYTHON:-python3}" "$top_srcdir/tests/abi_symbols.py" \
	"$top_srcdir/include/myrelay" "$top_srcdir/libmyrelay/libmyrelay.map" "$MYRELAY_LIBRARY"

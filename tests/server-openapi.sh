#!/bin/sh
# SPDX-License-Identifier: MIT
# docs/openapi.yaml against `myrelay-server routes`: a route missing from the
# document, or documented but absent, or with other credentials, fails.
set -eu
exec "${PYTHON:-python3}" "$top_srcdir/tests/server_openapi.py"

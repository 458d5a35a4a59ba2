#!/bin/sh
# SPDX-License-Identifier: MIT
# Differential test of the cidr module against Python's ipaddress: parsing,
# formatting, contains/overlaps, subtraction and allocation order must agree
# on tens of thousands of random cases. See cidr_diff.py.
set -e
exec "${PYTHON:-python3}" "$top_srcdir/tests/cidr_diff.py" "$top_builddir/tests/cidr_tool"

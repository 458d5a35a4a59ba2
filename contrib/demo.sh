#!/bin/sh
# SPDX-License-Identifier: MIT
# The MyRelay demo: install packages, build, then run contrib/demo.py, which
# sets up a node, two customers and their devices in network namespaces on
# this machine and shows traffic through a tunnel. Needs root (or sudo).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	exec sudo sh "$0" "$@"
fi
cd "$top"
if [ "${MR_SKIP_DEPS:-0}" != 1 ]; then
	sh tests/deps.sh
	# qrencode draws the device's config as a QR code in the terminal.
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qrencode >/dev/null
fi
build=$top/_build/demo
if [ ! -x "$build/libmyrelay/.libs/libmyrelay.so.0" ] || [ "${MR_REBUILD:-0}" = 1 ]; then
	echo "demo: building (log in $build/build.log)"
	[ -x configure ] || ./autogen.sh >/dev/null 2>&1
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q && make -j"$(nproc)") >"$top/_build/demo-build.log" 2>&1 ||
		{ tail -30 "$top/_build/demo-build.log"; exit 1; }
fi
export MYRELAY_LIBRARY="$build/libmyrelay/.libs/libmyrelay.so.0"
export PYTHONPATH="$top/bindings/python"
exec python3 "$top/contrib/demo.py" "$@"

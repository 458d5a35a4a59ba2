#!/bin/sh
# SPDX-License-Identifier: MIT
# The MyRelay demo: install packages, build, then run contrib/demo_service.py,
# which runs the real service on this machine, in network namespaces:
# myrelay-server, myrelay-agent on a node, two customers with a pod each and
# a device each (the myrelay CLI, the real wg-quick), traffic through the
# tunnels and refused across customers. Needs root (or sudo).
# `sh contrib/demo.sh --library-only` runs the older contrib/demo.py instead,
# which exercises only the library (wireguard-go and wg set as the node).
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
# (A build made before the server, agent and CLI existed lacks them: rebuild.)
if [ ! -x "$build/libmyrelay/.libs/libmyrelay.so.0" ] || [ ! -x "$build/frontends/agent/myrelay-agent" ] ||
	[ "${MR_REBUILD:-0}" = 1 ]; then
	echo "demo: building (log in $build/build.log)"
	[ -x configure ] || ./autogen.sh >/dev/null 2>&1
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q && make -j"$(nproc)") >"$top/_build/demo-build.log" 2>&1 ||
		{ tail -30 "$top/_build/demo-build.log"; exit 1; }
fi
export MYRELAY_LIBRARY="$build/libmyrelay/.libs/libmyrelay.so.0"
export PYTHONPATH="$top/bindings/python"
export PATH="$build/frontends/server:$build/frontends/agent:$build/frontends/cli:$PATH"
if [ "${1:-}" = --library-only ]; then
	shift
	exec python3 "$top/contrib/demo.py" "$@"
fi
exec python3 "$top/contrib/demo_service.py" "$@"

#!/bin/sh
# SPDX-License-Identifier: MIT
# myrelay-agent in managed mode against a real myrelay-server: the server and the
# agent in a node namespace (the agent verifying the server with its CA), pods
# made with wireguard-go, a wg-quick device, the server stopped and restarted.
# See agent_managed.py. Everything is removed on exit, also on failure.
set -e
skip() {
	echo "##################################################################"
	echo "SKIP: $*"
	echo "The agent is NOT being tested (agent-managed.sh)."
	echo "##################################################################"
	exit 77
}
[ "$(id -u)" = 0 ] || skip "not root (namespaces, TUN devices and the privilege drop need root)"
for p in ip wg wg-quick wireguard-go nft ping curl unshare useradd openssl; do
	command -v "$p" >/dev/null 2>&1 || skip "$p is not installed (tests/deps.sh installs it)"
done
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
# Unique per run: namespace and interface names are global to the machine.
sfx=$(printf '%04x' $(($$ % 65536)))
tmp=$(mktemp -d)
export MR_AGENT_TEST_SUFFIX="$sfx" MR_AGENT_TEST_TMP="$tmp"
export PYTHONPATH="$top_srcdir/tests:$top_srcdir/bindings/python${PYTHONPATH:+:$PYTHONPATH}"

cleanup() {
	# The Python side cleans up after itself; this catches a crash of it.
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -- "^mram-.-$sfx\$" || true); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
		sleep 0.2
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	[ -S "/var/run/wireguard/mrm$sfx.sock" ] && rm -f "/var/run/wireguard/mrm$sfx.sock"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

if [ -n "${SANITIZER_FLAGS:-}" ] && [ -n "${ASAN_RUNTIME:-}" ]; then
	# The interpreter is not instrumented: preload the ASan runtime (the
	# script takes it out of the environment of the programs it runs).
	export LD_PRELOAD="$ASAN_RUNTIME${LD_PRELOAD:+ $LD_PRELOAD}"
	export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi

"${PYTHON:-python3}" "$top_srcdir/tests/agent_managed.py"

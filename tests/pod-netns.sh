#!/bin/sh
# SPDX-License-Identifier: MIT
# Pods for real on the userspace backend: a node namespace with two pods
# (wireguard-go started by mr_pod_apply), client namespaces brought up by the
# real wg-quick on configurations rendered by the conf module, and checks
# with ping, wg, nft, ip and /proc: tunnels work, pods are isolated (the drop
# counters rise), spoofed sources are dropped, adding a peer keeps the other
# sessions, bad input changes nothing, teardown leaves nothing. See
# pod_netns.py. Everything is removed on exit, also on failure.
set -e
skip() {
	echo "##################################################################"
	echo "SKIP: $*"
	echo "Pods are NOT being tested with real clients (pod-netns.sh)."
	echo "##################################################################"
	exit 77
}
[ "$(id -u)" = 0 ] || skip "not root (network namespaces and TUN devices need root)"
for p in ip wg wg-quick wireguard-go nft ping; do
	command -v "$p" >/dev/null 2>&1 || skip "$p is not installed (tests/deps.sh installs it)"
done
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
# Unique per run: namespace and interface names are global to the machine
# (wireguard-go's socket directory is not namespaced).
sfx=$(printf '%04x' $(($$ % 65536)))
tmp=$(mktemp -d)
export MR_POD_TEST_SUFFIX="$sfx" MR_POD_TEST_TMP="$tmp"
export PYTHONPATH="$top_srcdir/bindings/python${PYTHONPATH:+:$PYTHONPATH}"

cleanup() {
	# The Python side cleans up after itself; this catches a crash of it.
	# Processes first: wg-quick's wireguard-go outlives its namespace.
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -- "^mrpn-.*-$sfx\$" || true); do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
		sleep 0.2
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	for s in /var/run/wireguard/mrc*-"$sfx".sock; do
		[ -S "$s" ] && rm -f "$s"
	done
	# the pods' names are random-looking: pod_netns.py lists them
	if [ -f "$tmp/pods" ]; then
		while read -r pod; do
			[ -S "/var/run/wireguard/$pod.sock" ] && rm -f "/var/run/wireguard/$pod.sock"
		done <"$tmp/pods"
	fi
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
"${PYTHON:-python3}" "$top_srcdir/tests/pod_netns.py"

#!/bin/sh
# SPDX-License-Identifier: MIT
# The wg module against the real thing on the userspace backend: wireguard-go
# devices in network namespaces made here, configured with libmyrelay and
# read back with wg(8) and the reverse, 1,000 peers, a tunnel between two
# namespaces over a veth pair, sync keeping sessions, bad input changing
# nothing. See wg_userspace.py. Everything is removed on exit, also on
# failure.
set -e
skip() {
	echo "##################################################################"
	echo "SKIP: $*"
	echo "The wg module is NOT being tested against wireguard-go and wg(8)."
	echo "##################################################################"
	exit 77
}
[ "$(id -u)" = 0 ] || skip "not root (network namespaces and TUN devices need root)"
for p in ip wg wireguard-go ping; do
	command -v "$p" >/dev/null 2>&1 || skip "$p is not installed (tests/deps.sh installs it)"
done
[ -c /dev/net/tun ] || skip "/dev/net/tun is missing"

# Unique per run: namespaces and interface names are global to the machine
# (wireguard-go's socket directory is not namespaced).
sfx=$(printf '%x' $(( $$ % 65536 )))
tmp=$(mktemp -d)
export MR_WG_TEST_SUFFIX="$sfx" MR_WG_TEST_TMP="$tmp"

cleanup() {
	# The Python side cleans up after itself; this catches a crash of it.
	if [ -f "$tmp/pids" ]; then
		while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$tmp/pids"
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -- "-$sfx\$" || true); do
		ip netns del "$ns" 2>/dev/null || true
	done
	for s in /var/run/wireguard/mrw?"$sfx".sock; do
		[ -S "$s" ] && rm -f "$s"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

"${PYTHON:-python3}" "$top_srcdir/tests/wg_userspace.py" "$top_builddir/tests/wg_tool"

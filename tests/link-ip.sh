#!/bin/sh
# SPDX-License-Identifier: MIT
# The link module against the real thing: in a fresh network namespace,
# wireguard-go makes a TUN exactly as a userspace pod has one; tests/link_tool
# (the public ABI of the shared library) sets its MTU, state and addresses,
# and ip(8) reads the result back as JSON. Also: replacing the address set
# touches only what differs (ip monitor sees one new and one deleted address,
# never the kept one), listing by prefix, default-route interfaces, bad input
# changing nothing, and deletion taking wireguard-go down with its link.
set -eu

PYTHON=${PYTHON:-python3}
tool="$top_builddir/tests/link_tool"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: link-ip.sh needs root (network namespaces); CI runs it as root"
	exit 77
fi
for prog in ip wireguard-go; do
	if ! command -v "$prog" >/dev/null 2>&1; then
		echo "SKIP: $prog is not installed (tests/deps.sh installs it)"
		exit 77
	fi
done

# wireguard-go's control socket directory is shared by all namespaces, so the
# interface name must be unique on the machine: use our pid.
ns="mr-link-$$"
ifname="mrl$$"
tmp=$(mktemp -d)
wgpid=
monpid=
cleanup() {
	[ -n "$monpid" ] && kill "$monpid" 2>/dev/null
	[ -n "$wgpid" ] && kill "$wgpid" 2>/dev/null && wait "$wgpid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -f "/var/run/wireguard/$ifname.sock"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail=0
check() { # description, expected, actual
	if [ "$2" = "$3" ]; then
		echo "ok: $1"
	else
		echo "FAIL: $1: expected [$2], got [$3]"
		fail=1
	fi
}

in_ns() {
	ip netns exec "$ns" "$@"
}

lt() {
	in_ns "$tool" "$@"
}

# Print a value computed from `ip -j ...` output (read on stdin as j).
json() {
	"$PYTHON" -c "import json, sys; j = json.load(sys.stdin); print($1)"
}

# The addresses of the TUN according to ip(8), sorted, link-local left out.
ip_addrs() {
	in_ns ip -j addr show dev "$ifname" | json "' '.join(sorted(
		'%s/%d' % (a['local'], a['prefixlen']) for a in j[0]['addr_info']
		if not a['local'].startswith('fe80:')))"
}

wait_for() { # description, shell condition; up to 5 s
	i=0
	until eval "$2"; do
		i=$((i + 1))
		if [ $i -ge 100 ]; then
			echo "FAIL: timed out waiting for $1"
			return 1
		fi
		sleep 0.05
	done
}

ip netns add "$ns"
in_ns ip link set lo up

# --- a userspace WireGuard device, as a pod on a node without the module ---
WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
	ip netns exec "$ns" wireguard-go -f "$ifname" >"$tmp/wg.log" 2>&1 &
wgpid=$!
wait_for "wireguard-go to create $ifname" "in_ns ip link show dev $ifname >/dev/null 2>&1" ||
	{ cat "$tmp/wg.log"; exit 1; }

check "link_tool sees the TUN" "$ifname" "$(lt get "$ifname" | cut -d' ' -f1)"
check "its kind is tun" "tun" "$(lt get "$ifname" | cut -d' ' -f5)"
check "exists" "yes" "$(lt exists "$ifname")"

lt set-mtu "$ifname" 1420
lt set-up "$ifname" up
out=$(lt set-addrs "$ifname" 10.77.0.1/24 fd77::1/64)
check "first address set: two added" "added 2 removed 0" "$out"
check "ip: MTU" "1420" "$(in_ns ip -j link show dev "$ifname" | json "j[0]['mtu']")"
check "ip: UP flag" "True" "$(in_ns ip -j link show dev "$ifname" | json "'UP' in j[0]['flags']")"
check "ip: exactly the addresses set" "10.77.0.1/24 fd77::1/64" "$(ip_addrs)"
check "library reads back the same, IPv4 first" "10.77.0.1/24 fd77::1/64" \
	"$(lt get-addrs "$ifname" | tr '\n' ' ' | sed 's/ $//')"
check "link_tool get: mtu and state" "1420 up tun" "$(lt get "$ifname" | cut -d' ' -f3-)"

# --- replace the set: only the differences reach the kernel ---
# ip monitor runs in the namespace; markers on lo prove it is listening before
# the change and has seen everything after it.
in_ns ip -o monitor address >"$tmp/mon" 2>&1 &
monpid=$!
wait_for "ip monitor to start" \
	"in_ns ip addr add 127.0.0.2/8 dev lo 2>/dev/null; in_ns ip addr del 127.0.0.2/8 dev lo; \
	 grep -q '127.0.0.2' '$tmp/mon'"
: >"$tmp/mon.before"
cp "$tmp/mon" "$tmp/mon.before"
out=$(lt -v set-addrs "$ifname" 10.77.0.1/24 10.78.0.1/24 2>"$tmp/log")
in_ns ip addr add 127.0.0.3/8 dev lo
wait_for "ip monitor to see the end marker" "grep -q '127.0.0.3' '$tmp/mon'"
kill "$monpid"
wait "$monpid" 2>/dev/null || true
monpid=
# only the lines between the markers, for our link
tail -n +"$(($(wc -l <"$tmp/mon.before") + 1))" "$tmp/mon" | grep " $ifname " >"$tmp/events" || true
check "library reports one added, one removed" "added 1 removed 1" "$out"
check "ip: fd77::1/64 gone, 10.78.0.1/24 there" "10.77.0.1/24 10.78.0.1/24" "$(ip_addrs)"
check "kernel saw one new address" "1" "$(grep -vc '^Deleted' "$tmp/events" || true)"
check "kernel saw one deleted address" "1" "$(grep -c '^Deleted' "$tmp/events" || true)"
check "the new one is 10.78.0.1/24" "1" "$(grep -v '^Deleted' "$tmp/events" | grep -c 'inet 10.78.0.1/24' || true)"
check "the deleted one is fd77::1/64" "1" "$(grep '^Deleted' "$tmp/events" | grep -c 'inet6 fd77::1/64' || true)"
check "10.77.0.1/24 was not touched" "0" "$(grep -c '10.77.0.1' "$tmp/events" || true)"
check "changes were logged" "2" "$(grep -c 'log 6: link .*address' "$tmp/log" || true)"
out=$(lt set-addrs "$ifname" 10.77.0.1/24 10.78.0.1/24)
check "same set again changes nothing" "added 0 removed 0" "$out"

# --- listing by prefix, checked against ip -j link ---
in_ns ip link add "${ifname}v" type veth peer name "q$ifname"
ip_names() { # prefix
	in_ns ip -j link show | json "' '.join(sorted(l['ifname'] for l in j
		if l['ifname'].startswith('$1')))"
}
check "list by prefix = ip's view" "$(ip_names "$ifname")" \
	"$(lt list "$ifname" | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')"
check "list by prefix: names and kinds" "$ifname tun|${ifname}v veth" \
	"$(lt list "$ifname" | cut -d' ' -f1,5 | tr '\n' '|' | sed 's/|$//')"
check "list by other prefix" "q$ifname" "$(lt list q | cut -d' ' -f1)"
check "list all = ip's view" "$(ip_names "")" "$(lt list | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')"

# --- default routes ---
check "no default route yet" "" "$(lt default-routes)"
in_ns sh -e -c '
	for p in up0 up2; do ip link add $p type veth peer name ${p}p; ip link set $p up; \
		ip link set ${p}p up; done
	ip addr add 192.0.2.1/24 dev up0
	ip route add default via 192.0.2.2 dev up0
	ip -6 addr add 2001:db8::1/64 dev up0 nodad
	ip -6 route add default via 2001:db8::2 dev up0
	ip -6 route add default dev up2 metric 2000'
ip_default() { # -4 | -6
	in_ns ip -j "$1" route show default | json "' '.join(sorted({r['dev'] for r in j}))"
}
check "IPv4 default route interfaces (ip agrees)" "up0|up0" \
	"$(lt default-routes 4 | tr '\n' ' ' | sed 's/ $//')|$(ip_default -4)"
check "IPv6 default route interfaces (ip agrees)" "up0 up2|up0 up2" \
	"$(lt default-routes 6 | tr '\n' ' ' | sed 's/ $//')|$(ip_default -6)"
check "both families, deduplicated" "up0 up2" \
	"$(lt default-routes | tr '\n' ' ' | sed 's/ $//')"

# --- bad input: refused with "invalid", nothing changes ---
before=$(in_ns ip -j addr show dev "$ifname")
before_link=$(in_ns ip -j link show dev "$ifname" | json "(j[0]['mtu'], j[0]['flags'])")
bad() { # expect exit 1 and "error: invalid:"
	if lt "$@" >/dev/null 2>"$tmp/err"; then
		echo "FAIL: accepted: $*"; fail=1
	elif ! grep -q '^error: invalid: ' "$tmp/err"; then
		echo "FAIL: not refused as invalid: $*: $(cat "$tmp/err")"; fail=1
	else
		echo "ok: refused: $* ($(cut -c1-90 "$tmp/err"))"
	fi
}
bad set-addrs "$ifname" 10.77.0.1/24 224.0.0.1/24
bad set-addrs "$ifname" 10.77.0.1/24 fe80::1/64
bad set-addrs "$ifname" 10.77.0.1/24 10.77.0.1/16
bad set-addrs "$ifname" 10.77.0.1/24 raw:5:24:10.0.0.9
bad set-addrs "$ifname" 10.77.0.1/24 raw:4:33:10.0.0.9
bad set-addrs "$ifname" 10.77.0.1/24 raw:4:64:fd00::9
bad set-addrs "$ifname" 0.0.0.0/8
bad set-addrs "$ifname" ::1/128
bad set-mtu "$ifname" 1279
bad set-mtu "$ifname" 65536
bad set-mtu "$ifname" 0
for name in "" "a b" "../x" "0123456789abcdef"; do
	bad set-addrs "$name" 10.9.9.9/24
	bad set-mtu "$name" 1420
	bad set-up "$name" down
	bad delete "$name"
	bad create-wg "$name"
done
bad list "a b"
check "bad input left the addresses unchanged" "$before" "$(in_ns ip -j addr show dev "$ifname")"
check "bad input left MTU and flags unchanged" "$before_link" \
	"$(in_ns ip -j link show dev "$ifname" | json "(j[0]['mtu'], j[0]['flags'])")"

# --- kernel WireGuard: refused clearly without the module ---
if [ -e /sys/module/wireguard ]; then
	lt create-wg mrlk0
	check "kernel WireGuard link" "wireguard" "$(lt get mrlk0 | cut -d' ' -f5)"
	lt delete mrlk0
else
	if lt create-wg mrlk0 2>"$tmp/err"; then
		echo "FAIL: create-wg succeeded without a WireGuard module"; fail=1
	fi
	check "no module: not_supported" "1" "$(grep -c '^error: not_supported: .*no WireGuard module' "$tmp/err" || true)"
	check "no module: nothing created" "no" "$(lt exists mrlk0)"
fi

# --- delete: the link goes, and wireguard-go with it ---
lt delete "$ifname"
check "deleted: ip no longer sees it" "1" "$(in_ns ip link show dev "$ifname" >/dev/null 2>&1 || echo 1)"
check "deleted: exists says no" "no" "$(lt exists "$ifname")"
wait_for "wireguard-go to exit" "! kill -0 $wgpid 2>/dev/null"
wait "$wgpid" 2>/dev/null || true
wgpid=
check "wireguard-go removed its socket" "1" "$([ -e "/var/run/wireguard/$ifname.sock" ] || echo 1)"
if lt delete "$ifname" 2>"$tmp/err"; then
	echo "FAIL: second delete succeeded"; fail=1
fi
check "second delete: not_found" "1" "$(grep -c '^error: not_found: ' "$tmp/err" || true)"

exit $fail

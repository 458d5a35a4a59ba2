#!/bin/sh
# SPDX-License-Identifier: MIT
# The firewall against real packets. Namespaces: a node with two pods, the
# pods' clients, and an "internet" behind the node's uplink. Pod interfaces
# are emulated (no WireGuard module here): pod A is a bridge named like a
# pod with two clients on it, pod B a veth; clients have /32 addresses and
# route everything through the pod gateway, as WireGuard clients do, so
# client-to-client traffic of pod A goes through the node.
#
# Every blocked case is first shown to work without rules (so the rules are
# what blocks it), then shown to fail with them, with the pod's drop
# counter rising. Checked: echo to the own gateway, isolation from the other
# pod's gateway and clients (both directions), anti-spoofing (forward and
# input, IPv4 and IPv6), the node's own services unreachable (by gateway and
# by uplink address, while the internet side still reaches them), DNS only
# with the option, intra-pod traffic on and off, masquerade (the internet
# sees the node's uplink address), counters kept across a re-apply, and
# removal restoring plain forwarding.
set -eu

PYTHON=${PYTHON:-python3}
tool="$top_builddir/tests/fw_tool"
peer="$top_srcdir/tests/fw_peer.py"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: fw-traffic.sh needs root (network namespaces); CI runs it as root"
	exit 77
fi
for prog in ip nft ping; do
	if ! command -v "$prog" >/dev/null 2>&1; then
		echo "SKIP: $prog is not installed (tests/deps.sh installs it)"
		exit 77
	fi
done

s=$(printf '%05d' $(($$ % 100000)))
N="mr-fwn-$s" A1="mr-fwa1-$s" A2="mr-fwa2-$s" B="mr-fwb-$s" I="mr-fwi-$s"
PA="wg-a$s" PB="wg-b$s" UP="up$s"
tmp=$(mktemp -d)
pids=
cleanup() {
	# Our servers, whatever wrapper started them: every process left in
	# the namespaces this test made.
	for n in $N $A1 $A2 $B $I; do
		for p in $pids $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
	done
	for n in $N $A1 $A2 $B $I; do ip netns del "$n" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
in_ns() { ns=$1; shift; ip netns exec "$ns" "$@"; }
fw() { in_ns "$N" "$tool" "$@"; }

# --- topology ---
for n in $N $A1 $A2 $B $I; do
	ip netns add "$n"
	in_ns "$n" ip link set lo up
done
# Clients get no IPv6 link-local addresses: a WireGuard client has none, and
# their router solicitations would otherwise be counted as spoofed.
for n in $A1 $A2 $B; do
	in_ns "$n" sysctl -qw net.ipv6.conf.default.addr_gen_mode=1 net.ipv6.conf.all.addr_gen_mode=1
done
# No reverse-path filter on the node: it would drop spoofed packets in
# routing, before our rules (and counters) see them.
in_ns "$N" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
	net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
	net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

in_ns "$N" ip link add "$PA" type bridge
in_ns "$N" ip link set "$PA" up
link_client() { # node-side name, client namespace
	in_ns "$N" ip link add "$1" type veth peer name eth0 netns "$2"
	in_ns "$N" ip link set "$1" up
	in_ns "$2" ip link set eth0 up
}
link_client "a1$s" "$A1"
link_client "a2$s" "$A2"
in_ns "$N" ip link set "a1$s" master "$PA"
in_ns "$N" ip link set "a2$s" master "$PA"
link_client "$PB" "$B"
link_client "$UP" "$I"

in_ns "$N" ip addr add 10.64.1.1/24 dev "$PA"
in_ns "$N" ip -6 addr add fd00:64:1::1/64 dev "$PA" nodad
in_ns "$N" ip addr add 10.64.2.1/24 dev "$PB"
in_ns "$N" ip addr add 192.0.2.1/24 dev "$UP"
in_ns "$N" ip route add default via 192.0.2.2
in_ns "$I" ip addr add 192.0.2.2/24 dev eth0 # no route back to the pods

client() { # namespace, address, gateway
	in_ns "$1" ip addr add "$2/32" dev eth0
	in_ns "$1" ip route add "$3" dev eth0 scope link
	in_ns "$1" ip route add default via "$3"
}
client "$A1" 10.64.1.2 10.64.1.1
client "$A2" 10.64.1.3 10.64.1.1
client "$B" 10.64.2.2 10.64.2.1
# IPv6 on client A1 with static neighbours (no link-local, so no ND).
mac() { in_ns "$1" cat "/sys/class/net/$2/address"; }
in_ns "$A1" ip -6 addr add fd00:64:1::2/128 dev eth0 nodad
in_ns "$A1" ip -6 addr add fd00:99::2/128 dev eth0 nodad
in_ns "$A1" ip -6 route add fd00:64:1::1 dev eth0
in_ns "$A1" ip -6 route add default via fd00:64:1::1 dev eth0
in_ns "$A1" ip -6 neigh add fd00:64:1::1 lladdr "$(mac "$N" "$PA")" dev eth0 nud permanent
in_ns "$N" ip -6 neigh add fd00:64:1::2 lladdr "$(mac "$A1" eth0)" dev "$PA" nud permanent
in_ns "$N" ip -6 route add fd00:99::2/128 dev "$PA"
in_ns "$N" ip -6 neigh add fd00:99::2 lladdr "$(mac "$A1" eth0)" dev "$PA" nud permanent
# a second address outside pod A's subnets, for the spoofing tests; the
# node routes it back so that, without rules, the spoofer gets answers
in_ns "$A1" ip addr add 10.99.0.2/32 dev eth0
in_ns "$N" ip route add 10.99.0.2/32 dev "$PA"

# --- services: on the node (TCP 8080, "DNS" on UDP 53), on the internet ---
serve() {
	ns=$1
	shift
	in_ns "$ns" "$PYTHON" "$peer" "$@" >>"$tmp/servers.log" 2>&1 &
	pids="$pids $!"
}
serve "$N" serve-tcp 8080
serve "$N" serve-udp 53
serve "$I" serve-udp 9000 "$tmp/internet.log"
for _ in $(seq 1 50); do
	in_ns "$N" "$PYTHON" "$peer" tcp 127.0.0.1 8080 >/dev/null 2>&1 &&
		in_ns "$I" "$PYTHON" "$peer" udp 192.0.2.2 9000 >/dev/null 2>&1 && break
	sleep 0.1
done
: >"$tmp/internet.log"

reach() { # description, namespace, command...: must work
	what=$1 ns=$2
	shift 2
	if in_ns "$ns" "$@" >"$tmp/out" 2>&1; then ok "$what"; else
		bad "$what: $(head -c 200 "$tmp/out")"; fi
}
blocked() { # description, namespace, command...: must fail
	what=$1 ns=$2
	shift 2
	if in_ns "$ns" "$@" >"$tmp/out" 2>&1; then bad "$what: got through"; else
		ok "$what: blocked"; fi
}
counter() { # pod, counter name -> packets
	fw counters "$1" | awk -v c="$2" '$1 == c { print $2 }'
}
rises() { # pod, counter, value before, description
	now=$(counter "$1" "$2")
	if [ "$now" -gt "$3" ]; then ok "$4: $1 $2 $3 -> $now"; else
		bad "$4: $1 $2 did not rise ($3 -> $now)"; fi
}
# Run a blocked case and check that the counter took it.
blocked_counted() { # pod, counter, description, namespace, command...
	pod=$1 ctr=$2 what=$3 ns=$4
	shift 4
	before=$(counter "$pod" "$ctr")
	blocked "$what" "$ns" "$@"
	rises "$pod" "$ctr" "$before" "$what"
}

# --- without rules everything passes: the controls ---
reach "no rules: A1 pings B's client" "$A1" ping -n -c1 -W1 10.64.2.2
reach "no rules: A1 reaches the node's TCP service" "$A1" "$PYTHON" "$peer" tcp 10.64.1.1 8080
reach "no rules: A1 pings A2" "$A1" ping -n -c1 -W1 10.64.1.3
reach "no rules: A1 pings the gateway over IPv6" "$A1" ping -n -c1 -W1 fd00:64:1::1
reach "no rules: A1 reaches the node's TCP service over IPv6" "$A1" \
	"$PYTHON" "$peer" tcp fd00:64:1::1 8080
reach "no rules: A1 from a foreign source reaches the node" "$A1" ping -n -c1 -W1 -I 10.99.0.2 10.64.1.1
in_ns "$A1" "$PYTHON" "$peer" udp 192.0.2.2 9000 10.99.0.2 >/dev/null 2>&1 || true
if grep -q 10.99.0.2 "$tmp/internet.log"; then
	ok "no rules: a spoofed datagram reaches the internet"
else
	bad "no rules: the spoofed datagram did not reach the internet (control failed)"
fi
: >"$tmp/internet.log"

# --- the rules ---
fw apply "$PA" --subnet 10.64.1.1/24 --subnet fd00:64:1::1/64 --port 51820 --uplink "$UP" ||
	bad "apply pod A"
fw apply "$PB" --subnet 10.64.2.1/24 --port 51821 --uplink "$UP" || bad "apply pod B"

before=$(counter "$PA" accept)
reach "A1 pings its gateway" "$A1" ping -n -c1 -W1 10.64.1.1
rises "$PA" accept "$before" "echo to the gateway"
reach "A1 pings its gateway over IPv6" "$A1" ping -n -c1 -W1 fd00:64:1::1
reach "B pings its gateway" "$B" ping -n -c1 -W1 10.64.2.1

blocked_counted "$PA" drop-isolation "A1 -> B's gateway" "$A1" ping -n -c1 -W1 10.64.2.1
blocked_counted "$PA" drop-isolation "A1 -> B's client" "$A1" ping -n -c1 -W1 10.64.2.2
blocked_counted "$PB" drop-isolation "B -> A's client" "$B" ping -n -c1 -W1 10.64.1.2
blocked_counted "$PB" drop-isolation "B -> A's gateway" "$B" ping -n -c1 -W1 10.64.1.1

before=$(counter "$PA" drop-spoof)
blocked "A1 from a foreign source to the internet (forward)" "$A1" \
	"$PYTHON" "$peer" udp 192.0.2.2 9000 10.99.0.2
blocked "A1 from a foreign source to its gateway (input)" "$A1" ping -n -c1 -W1 -I 10.99.0.2 10.64.1.1
blocked "A1 from a foreign IPv6 source to its gateway" "$A1" ping -n -c1 -W1 -I fd00:99::2 fd00:64:1::1
now=$(counter "$PA" drop-spoof)
if [ "$now" -ge $((before + 3)) ]; then ok "spoof counter took all three ($before -> $now)"
else bad "spoof counter: $before -> $now, expected at least 3 more"; fi
if grep -q 10.99.0.2 "$tmp/internet.log"; then bad "the internet saw a spoofed source"
else ok "the internet never saw the spoofed source"; fi

blocked_counted "$PA" drop-node "A1 -> node TCP service on the gateway" "$A1" \
	"$PYTHON" "$peer" tcp 10.64.1.1 8080
blocked_counted "$PA" drop-node "A1 -> node TCP service on the uplink address" "$A1" \
	"$PYTHON" "$peer" tcp 192.0.2.1 8080
blocked_counted "$PA" drop-node "A1 -> node TCP service over IPv6" "$A1" \
	"$PYTHON" "$peer" tcp fd00:64:1::1 8080
blocked_counted "$PA" drop-node "A1 -> DNS on the gateway without the option" "$A1" \
	"$PYTHON" "$peer" udp 10.64.1.1 53
reach "the internet still reaches the node's service" "$I" "$PYTHON" "$peer" tcp 192.0.2.1 8080

# masquerade: the internet sees the node's uplink address
if in_ns "$A1" "$PYTHON" "$peer" udp 192.0.2.2 9000 >"$tmp/out" 2>&1 &&
	[ "$(cat "$tmp/out")" = 192.0.2.1 ]; then
	ok "A1 reaches the internet, masqueraded to 192.0.2.1"
else
	bad "masquerade: A1 -> internet answered [$(cat "$tmp/out")]"
fi
reach "B reaches the internet too" "$B" "$PYTHON" "$peer" udp 192.0.2.2 9000

# intra-pod traffic: allowed by default, blocked with the option off
reach "A1 pings A2 (intra-pod allowed)" "$A1" ping -n -c1 -W1 10.64.1.3
fw apply "$PA" --subnet 10.64.1.1/24 --subnet fd00:64:1::1/64 --port 51820 --uplink "$UP" \
	--no-intra --dns || bad "re-apply pod A without intra-pod, with DNS"
blocked_counted "$PA" drop-isolation "A1 -> A2 with intra-pod off" "$A1" ping -n -c1 -W1 10.64.1.3
reach "A1 -> DNS on the gateway with the option" "$A1" "$PYTHON" "$peer" udp 10.64.1.1 53

# counters survive re-applying the same spec
fw counters "$PA" >"$tmp/c1"
fw apply "$PA" --subnet 10.64.1.1/24 --subnet fd00:64:1::1/64 --port 51820 --uplink "$UP" \
	--no-intra --dns || bad "re-apply the same spec"
fw counters "$PA" >"$tmp/c2"
if cmp -s "$tmp/c1" "$tmp/c2" && [ "$(awk '{s += $2} END {print s}' "$tmp/c2")" -gt 0 ]; then
	ok "counters kept across a re-apply ($(paste -sd, "$tmp/c2"))"
else
	bad "counters changed across a re-apply: $(paste -sd, "$tmp/c1") / $(paste -sd, "$tmp/c2")"
fi

# removing pod A removes its isolation: B (still isolated from pods) can
# now reach A's former subnet, and A1 the node's service
fw remove "$PA" || bad "remove pod A"
reach "after removal A1 reaches the node's service" "$A1" "$PYTHON" "$peer" tcp 10.64.1.1 8080
reach "after removal B reaches A1" "$B" ping -n -c1 -W1 10.64.1.2
blocked_counted "$PB" drop-node "B still kept from the node" "$B" "$PYTHON" "$peer" tcp 10.64.2.1 8080
fw remove "$PB" || bad "remove pod B"
if in_ns "$N" nft list tables | grep -q myrelay; then bad "table left after the last pod"; else
	ok "no table left"; fi

exit $fail

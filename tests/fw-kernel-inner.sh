#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs inside the kernel VM (tests/fw-kernel-vm.sh): the firewall module on
# Debian's own kernel, read back with nft. Only busybox, nft, ip and fw_tool
# are there (no Python): checks are greps of `nft list` and ping.
set -u

fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
has() { # description, pattern: the table listing must contain it
	if grep -qF -- "$2" "$listing"; then ok "$1"; else bad "$1: no [$2]"; fi
}
listing=/tmp/mrvm/listing
list() { nft list table inet myrelay >"$listing" 2>&1; }

nft -f - <<'EOF'
table inet other {
	chain input {
		type filter hook input priority filter - 10; policy accept;
		tcp dport 22 accept
	}
}
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy accept;
		counter
	}
}
EOF
others() { nft list table inet other; nft list table ip filter; }
others >/tmp/mrvm/others.before

fw_tool apply wg-aaa111 --subnet 10.64.1.1/24 --subnet fd00:64:1::1/64 --port 51820 \
	--uplink up0 --dns || bad "apply A"
fw_tool apply wg-bbb222 --subnet 10.64.2.1/24 --port 51821 --no-intra --uplink up0 ||
	bad "apply B"
fw_tool apply wg-ccc333 --subnet 10.64.3.1/24 || bad "apply C (adjacent to B)"
list
has "forward dispatch" 'iifname vmap @pod_fwd'
has "input dispatch" 'udp dport @pod_ports accept'
has "nat dispatch" 'ip6 saddr vmap @pod_post6'
has "spoof rule" 'ip6 saddr != @pod-wg-aaa111-nets6 counter name "wg-aaa111-drop-spoof" drop'
has "intra-pod off for B" 'oifname "wg-bbb222" counter name "wg-bbb222-drop-isolation" drop'
has "DNS for A" 'ip6 daddr fd00:64:1::1 tcp dport 53 counter name "wg-aaa111-accept" accept'
has "masquerade" 'oifname "up0" masquerade'
has "B's subnet in the nat map" '10.64.2.0/24 : jump pod-wg-bbb222-post'
has "C's adjacent subnet in the nat map" '10.64.3.0/24 : jump pod-wg-ccc333-post'
has "port owner" '51821 comment "wg-bbb222"'

cp "$listing" /tmp/mrvm/first
fw_tool apply wg-aaa111 --subnet 10.64.1.1/24 --subnet fd00:64:1::1/64 --port 51820 \
	--uplink up0 --dns || bad "re-apply A"
list
if cmp -s /tmp/mrvm/first "$listing"; then ok "re-apply: same listing"; else
	bad "re-apply changed the listing"; diff /tmp/mrvm/first "$listing"; fi

# grow, then shrink inside the old subnet (delete and add in one batch)
fw_tool apply wg-aaa111 --subnet 10.64.4.1/22 --port 51830 || bad "grow A"
fw_tool apply wg-aaa111 --subnet 10.64.5.1/24 --port 51830 || bad "shrink A"
list
has "shrunk subnet" '10.64.5.0/24 : jump pod-wg-aaa111-post'
if grep -q 'fd00:64:1::' "$listing"; then bad "A's old IPv6 subnet left"; else
	ok "A's old IPv6 subnet gone"; fi
if fw_tool apply wg-ddd444 --subnet 10.64.5.9/30 2>/dev/null; then
	bad "overlap with A accepted"; else ok "overlap with A refused"; fi

# real packets: a pod client in a namespace (veth named like a pod)
ip netns add c1 && ip netns add c2 || bad "netns"
ip link add wg-aaa111 type veth peer name eth0 netns c1
ip link add wg-bbb222 type veth peer name eth0 netns c2
ip addr add 10.64.5.1/24 dev wg-aaa111
ip addr add 10.64.2.1/24 dev wg-bbb222
ip link set wg-aaa111 up
ip link set wg-bbb222 up
for c in c1 c2; do ip -n "$c" link set lo up; ip -n "$c" link set eth0 up; done
ip -n c1 addr add 10.64.5.2/24 dev eth0
ip -n c1 route add default via 10.64.5.1
ip -n c2 addr add 10.64.2.2/24 dev eth0
ip -n c2 route add default via 10.64.2.1
echo 1 >/proc/sys/net/ipv4/ip_forward
counter() { fw_tool counters "$1" | grep "^$2 " | cut -d' ' -f2; }
if ip netns exec c1 ping -c1 -W2 10.64.5.1 >/dev/null; then ok "client pings its gateway"; else
	bad "client cannot ping its gateway"; fi
before=$(counter wg-aaa111 drop-isolation)
if ip netns exec c1 ping -c1 -W1 10.64.2.2 >/dev/null; then bad "A reached B's client"; else
	ok "A cannot reach B's client"; fi
after=$(counter wg-aaa111 drop-isolation)
if [ "$after" -gt "$before" ]; then ok "drop-isolation $before -> $after"; else
	bad "drop-isolation did not rise ($before -> $after)"; fi
before=$(counter wg-aaa111 drop-spoof)
ip -n c1 addr add 10.99.0.2/32 dev eth0
ip netns exec c1 ping -c1 -W1 -I 10.99.0.2 10.64.5.1 >/dev/null 2>&1
after=$(counter wg-aaa111 drop-spoof)
if [ "$after" -gt "$before" ]; then ok "drop-spoof $before -> $after"; else
	bad "drop-spoof did not rise ($before -> $after)"; fi

fw_tool remove wg-bbb222 || bad "remove B"
list
if grep -q bbb222 "$listing"; then bad "B left traces"; else ok "nothing of B left"; fi
fw_tool remove wg-aaa111 || bad "remove A"
fw_tool remove wg-ccc333 || bad "remove C"
if nft list tables | grep -q myrelay; then bad "table left"; else ok "last removal: no table"; fi
others >/tmp/mrvm/others.after
if cmp -s /tmp/mrvm/others.before /tmp/mrvm/others.after; then
	ok "other tables byte-for-byte unchanged"
else
	bad "other tables changed"
	diff /tmp/mrvm/others.before /tmp/mrvm/others.after
fi
exit $fail

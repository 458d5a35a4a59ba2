#!/bin/sh
# SPDX-License-Identifier: MIT
# The firewall module as nft(8) sees it, in a fresh network namespace: an
# unrelated ruleset is loaded first and must read back byte for byte the
# same after every step; tests/fw_tool (the shared library's public ABI)
# applies, changes and removes pods; `nft -j list table inet myrelay` is
# checked in full by fw_check_ruleset.py (base chains, shared sets and maps,
# every rule of every pod chain, counters, and nothing else). Also:
# re-applying is a no-op on the listing, bad input changes nothing, the
# last pod's removal and destroy leave only the other tables, the listing
# parses back with `nft -c -f`, and uplinks from the default routes.
set -eu

PYTHON=${PYTHON:-python3}
tool="$top_builddir/tests/fw_tool"
checker="$top_srcdir/tests/fw_check_ruleset.py"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: fw-nft.sh needs root (network namespaces); CI runs it as root"
	exit 77
fi
for prog in ip nft; do
	if ! command -v "$prog" >/dev/null 2>&1; then
		echo "SKIP: $prog is not installed (tests/deps.sh installs it)"
		exit 77
	fi
done

ns="mr-fwnft-$$"
tmp=$(mktemp -d)
cleanup() {
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
check() { # description, expected, actual
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi
}

in_ns() { ip netns exec "$ns" "$@"; }
fw() { in_ns "$tool" "$@"; }

ip netns add "$ns"

# Someone else's firewall: a table in our family, one in ip, one in ip6,
# with base chains on the hooks we use, sets, counters and a nat chain.
cat >"$tmp/other.nft" <<'EOF'
table inet other {
	set blocked {
		type ipv4_addr
		flags interval
		elements = { 198.51.100.0/24, 203.0.113.7 }
	}
	counter seen {
	}
	chain input {
		type filter hook input priority filter - 10; policy accept;
		ip saddr @blocked counter name "seen" drop
		tcp dport 22 accept
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "eth9" oifname "eth8" accept
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 172.16.0.0/12 oifname "eth9" masquerade
	}
}
table ip filter {
	chain INPUT {
		type filter hook input priority filter; policy accept;
		ct state established,related accept
		iifname "lo" accept
	}
	chain FORWARD {
		type filter hook forward priority filter; policy accept;
		counter
	}
}
table ip6 mangle {
	chain pre {
		type filter hook prerouting priority mangle; policy accept;
		meta mark set 0x2a
	}
}
EOF
in_ns nft -f "$tmp/other.nft"

# The other tables, each listed on its own: what must never change.
others() {
	in_ns nft list tables | grep -v '^table inet myrelay$' | while read -r _ fam name; do
		in_ns nft list table "$fam" "$name"
	done
}
others >"$tmp/others.before"
[ -s "$tmp/others.before" ] || { echo "FAIL: could not list the other tables"; exit 1; }
check_others() {
	others >"$tmp/others.now"
	if cmp -s "$tmp/others.before" "$tmp/others.now"; then
		ok "other tables byte-for-byte unchanged ($1)"
	else
		bad "other tables changed ($1)"
		diff "$tmp/others.before" "$tmp/others.now" || true
	fi
}

expect_table() { # description, expected pods as JSON
	if in_ns nft -j list table inet myrelay >"$tmp/table.json" &&
		"$PYTHON" "$checker" "$2" <"$tmp/table.json" >"$tmp/check.out"; then
		ok "$1: $(cat "$tmp/check.out")"
	else
		bad "$1"
		cat "$tmp/check.out"
	fi
}

A_GW4=10.64.1.1/24 A_GW6=fd00:64:1::1/64
A='"wg-aaa111": {"gateways": ["10.64.1.1/24", "fd00:64:1::1/64"], "port": 51820,
	"dns": true, "uplinks": ["up0", "up1"]}'
B='"wg-bbb222": {"gateways": ["10.64.2.1/24"], "port": 51821, "intra": false,
	"uplinks": ["up0"]}'
C='"wg-ccc333": {"gateways": ["10.64.3.1/24", "fd00:64:3::1/64"]}'

# --- apply ---
fw apply wg-aaa111 --subnet $A_GW4 --subnet $A_GW6 --port 51820 --dns --uplink up0 --uplink up1 ||
	bad "apply pod A"
expect_table "pod A" "{$A}"
fw apply wg-bbb222 --subnet 10.64.2.1/24 --port 51821 --no-intra --uplink up0 || bad "apply pod B"
# adjacent to B's subnet, no port, no uplink
fw apply wg-ccc333 --subnet 10.64.3.1/24 --subnet fd00:64:3::1/64 || bad "apply pod C"
expect_table "pods A, B, C" "{$A, $B, $C}"
check_others "after applying three pods"
check "list" "wg-aaa111 wg-bbb222 wg-ccc333" "$(fw list | tr '\n' ' ' | sed 's/ $//')"
check "fresh counters" "accept 0 0,drop-isolation 0 0,drop-spoof 0 0,drop-node 0 0" \
	"$(fw counters wg-aaa111 | paste -sd,)"

# --- idempotence: the same spec again gives the very same listing ---
in_ns nft list table inet myrelay >"$tmp/t1"
fw apply wg-aaa111 --subnet $A_GW4 --subnet $A_GW6 --port 51820 --dns --uplink up0 --uplink up1 ||
	bad "re-apply pod A"
fw apply wg-ccc333 --subnet 10.64.3.1/24 --subnet fd00:64:3::1/64 || bad "re-apply pod C"
in_ns nft list table inet myrelay >"$tmp/t2"
if cmp -s "$tmp/t1" "$tmp/t2"; then ok "re-applying the same specs: identical listing"; else
	bad "re-applying changed the listing"; diff "$tmp/t1" "$tmp/t2" || true; fi
# The listing is valid nft input (names with dashes, comments, intervals).
in_ns nft list ruleset >"$tmp/all.nft"
if in_ns nft -c -f "$tmp/all.nft"; then ok "nft -c -f accepts the whole listing"; else
	bad "nft -c -f refused the listing"; fi

# --- bad input changes nothing ---
in_ns nft list ruleset >"$tmp/rs.before"
refuse() { # expected error name, description, fw_tool arguments...
	want=$1 what=$2
	shift 2
	if fw "$@" 2>"$tmp/err"; then
		bad "$what: accepted"
		return
	fi
	got=$(head -n1 "$tmp/err" | sed -n 's/^error: \([a-z_]*\): .*/\1/p')
	check "$what: refused with $want ($(head -n1 "$tmp/err" | cut -c1-90))" "$want" "$got"
}
refuse invalid "bad name" apply 'wg bad' --subnet 10.64.9.1/24
refuse invalid "name too long" apply wg-0123456789abc --subnet 10.64.9.1/24
refuse invalid "network address as gateway" apply wg-ddd444 --subnet 10.64.9.0/24
refuse invalid "broadcast as gateway" apply wg-ddd444 --subnet 10.64.9.255/24
refuse invalid "/31" apply wg-ddd444 --subnet 10.64.9.1/31
refuse invalid "/0" apply wg-ddd444 --subnet 0.0.0.1/0
refuse invalid "IPv6 /127" apply wg-ddd444 --subnet fd00::1/127
refuse invalid "overlap inside the spec" apply wg-ddd444 --subnet 10.64.9.1/24 --subnet 10.64.9.5/25
refuse invalid "no subnet" apply wg-ddd444 --port 1000
refuse invalid "port 65536" apply wg-ddd444 --subnet 10.64.9.1/24 --port 65536
refuse invalid "bad uplink" apply wg-ddd444 --subnet 10.64.9.1/24 --uplink 'e/th0'
refuse invalid "uplink is the pod" apply wg-ddd444 --subnet 10.64.9.1/24 --uplink wg-ddd444
refuse invalid "uplink twice" apply wg-ddd444 --subnet 10.64.9.1/24 --uplink up0 --uplink up0
set -- apply wg-ddd444 --subnet 10.64.9.1/24
for i in $(seq 1 17); do set -- "$@" --uplink "up$i"; done
refuse invalid "17 uplinks" "$@"
refuse conflict "subnet inside pod B's" apply wg-ddd444 --subnet 10.64.2.129/25
refuse conflict "subnet around pod C's" apply wg-ddd444 --subnet 10.64.0.1/16
refuse conflict "IPv6 subnet of pod A" apply wg-ddd444 --subnet fd00:64:1::2/64
refuse conflict "port of pod B" apply wg-ddd444 --subnet 10.64.9.1/24 --port 51821
refuse conflict "pod A changed onto pod B's subnet" apply wg-aaa111 --subnet 10.64.2.1/24
refuse not_found "remove a pod without rules" remove wg-ddd444
refuse not_found "counters of a pod without rules" counters wg-ddd444
refuse invalid "remove a bad name" remove 'wg/x'
in_ns nft list ruleset >"$tmp/rs.after"
if cmp -s "$tmp/rs.before" "$tmp/rs.after"; then ok "refused calls changed nothing"; else
	bad "a refused call changed the ruleset"; diff "$tmp/rs.before" "$tmp/rs.after" || true; fi

# --- change pod A: new subnets (IPv4 grows, IPv6 goes), port, options,
# uplinks; B and C must not move ---
in_ns nft list chain inet myrelay pod-wg-bbb222-fwd >"$tmp/b.before"
fw apply wg-aaa111 --subnet 10.64.4.1/22 --port 51830 --no-intra --uplink up2 || bad "change pod A"
A='"wg-aaa111": {"gateways": ["10.64.4.1/22"], "port": 51830, "intra": false,
	"uplinks": ["up2"]}'
expect_table "pod A changed" "{$A, $B, $C}"
in_ns nft list chain inet myrelay pod-wg-bbb222-fwd >"$tmp/b.after"
if cmp -s "$tmp/b.before" "$tmp/b.after"; then ok "pod B untouched by A's change"; else
	bad "pod B's chain changed"; fi
# and shrink it again inside its old subnet
fw apply wg-aaa111 --subnet 10.64.5.1/24 --port 51830 --no-intra --uplink up2 ||
	bad "shrink pod A"
A='"wg-aaa111": {"gateways": ["10.64.5.1/24"], "port": 51830, "intra": false,
	"uplinks": ["up2"]}'
expect_table "pod A shrunk" "{$A, $B, $C}"
check_others "after changing a pod"

# --- remove ---
fw remove wg-bbb222 || bad "remove pod B"
expect_table "pod B removed" "{$A, $C}"
check "nothing named after pod B" 0 "$(in_ns nft list ruleset | grep -c bbb222 || true)"
check "list after removal" "wg-aaa111 wg-ccc333" "$(fw list | tr '\n' ' ' | sed 's/ $//')"
fw remove wg-aaa111 || bad "remove pod A"
fw remove wg-ccc333 || bad "remove pod C (the last)"
check "the last removal took our table" "" "$(in_ns nft list tables | grep myrelay || true)"
check "list with no table" "" "$(fw list)"
check_others "after removing every pod"

# --- destroy ---
fw apply wg-aaa111 --subnet $A_GW4 || bad "apply again"
fw apply wg-bbb222 --subnet 10.64.2.1/24 || bad "apply again"
fw destroy || bad "destroy"
check "destroy took our table" "" "$(in_ns nft list tables | grep myrelay || true)"
fw destroy || bad "destroy with nothing to destroy"
check_others "after destroy"

# --- uplinks from the default routes (the link module) ---
# veth pairs as the uplinks (the kernel may have no dummy driver)
in_ns ip link add up7 type veth peer name up7p
in_ns ip link set up7 up
in_ns ip addr add 192.0.2.1/24 dev up7
in_ns ip route add default via 192.0.2.254 dev up7
in_ns ip -6 addr add 2001:db8::1/64 dev up7 nodad
in_ns ip link add up8 type veth peer name up8p
in_ns ip link set up8 up
in_ns ip -6 addr add 2001:db8:8::1/64 dev up8 nodad
in_ns ip -6 route add default via 2001:db8:8::fe dev up8
if fw apply wg-eee555 --subnet 10.64.6.1/24 --auto; then
	expect_table "uplinks from the default routes" \
		'{"wg-eee555": {"gateways": ["10.64.6.1/24"], "uplinks": ["up7", "up8"]}}'
else
	bad "apply with uplinks from the default routes"
fi
fw destroy
check_others "at the end"

exit $fail

#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The conf module against the real tools: what we render is accepted by
# `wg-quick strip`, the stripped text by `wg setconf` on a real userspace
# WireGuard device (wireguard-go in a network namespace of our own), and
# `wg showconf` reads back the same keys, endpoint, allowed IPs and keepalive.
# `wg-quick up` then brings a full-tunnel config up in the namespace, with our
# Address and MTU. Injection attempts through tests/conf_tool are refused and
# leave no file behind.
#
# Needs root, ip, wg, wg-quick and wireguard-go; otherwise SKIP (77).
set -eu

skip() {
	echo "########################################################" >&2
	echo "# SKIP conf-wg.sh: $*" >&2
	echo "########################################################" >&2
	exit 77
}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (network namespace and TUN device)"
for t in ip wg wg-quick wireguard-go; do
	command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

tool="${top_builddir:?set by make check}/tests/conf_tool"
[ -x "$tool" ] || fail "$tool not built"

# The control sockets in /var/run/wireguard are shared by every namespace:
# names carry our pid so that parallel runs do not collide (<= 15 chars).
ns="mrconf-$$"
ifname="wgconf$$"
qname="wgq$$"
umask 077
tmp=$(mktemp -d)
ns_made=0

cleanup() {
	set +e
	if [ "$ns_made" = 1 ]; then
		ip netns exec "$ns" wg-quick down "$tmp/$qname.conf" >/dev/null 2>&1
		# Only our wireguard-go processes live in this namespace.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[ -n "$pids" ] || break
			for pid in $pids; do kill "$pid" 2>/dev/null; done
			sleep 0.2
		done
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		ip netns del "$ns"
	fi
	rm -f "/var/run/wireguard/$ifname.sock" "/var/run/wireguard/$qname.sock"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

priv=$(wg genkey)
peer=$(wg genkey | wg pubkey)
psk=$(wg genpsk)

value() { # FILE KEY: the value of "KEY = value" in FILE
	sed -n "s/^$2 = //p" "$1"
}
expect() { # WHAT GOT WANT
	[ "$2" = "$3" ] || fail "$1: got '$2', wanted '$3'"
}

# --- render, file mode, our own round trip ---------------------------------
conf="$tmp/wgc$$.conf"
"$tool" render "$conf" --private-key "$priv" --address 10.64.3.2/32 \
	--address fd00::2/128 --dns 10.64.3.1 --mtu 1420 --public-key "$peer" \
	--preshared-key "$psk" --endpoint 192.0.2.1:51820 --allowed-ip 0.0.0.0/0 \
	--allowed-ip ::/0 --keepalive 25
expect "mode of the rendered file" "$(stat -c %a "$conf")" 600
"$tool" parse "$conf" >"$tmp/reparsed"
cmp "$conf" "$tmp/reparsed" || fail "render -> parse -> render differs"

# --- wg-quick strip ----------------------------------------------------------
wg-quick strip "$conf" >"$tmp/stripped.conf" || fail "wg-quick strip refused our config"
cat >"$tmp/want-stripped" <<EOF
[Interface]
PrivateKey = $priv
[Peer]
PublicKey = $peer
PresharedKey = $psk
Endpoint = 192.0.2.1:51820
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 25
EOF
grep -v '^$' "$tmp/stripped.conf" | diff -u "$tmp/want-stripped" - ||
	fail "wg-quick strip did not keep exactly the wg settings"

# --- wg setconf / showconf on wireguard-go ---------------------------------
ip netns add "$ns"
ns_made=1
ip -n "$ns" link set lo up
ip netns exec "$ns" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
	wireguard-go -f "$ifname" >"$tmp/wireguard-go.log" 2>&1 &
for _ in $(seq 50); do
	[ -S "/var/run/wireguard/$ifname.sock" ] && break
	sleep 0.1
done
[ -S "/var/run/wireguard/$ifname.sock" ] || {
	cat "$tmp/wireguard-go.log" >&2
	fail "wireguard-go did not create its control socket"
}

ip netns exec "$ns" wg setconf "$ifname" "$tmp/stripped.conf" || fail "wg setconf refused it"
ip netns exec "$ns" wg showconf "$ifname" >"$tmp/show.conf"
expect "PrivateKey" "$(value "$tmp/show.conf" PrivateKey)" "$priv"
expect "PublicKey" "$(value "$tmp/show.conf" PublicKey)" "$peer"
expect "PresharedKey" "$(value "$tmp/show.conf" PresharedKey)" "$psk"
expect "Endpoint" "$(value "$tmp/show.conf" Endpoint)" "192.0.2.1:51820"
expect "AllowedIPs" "$(value "$tmp/show.conf" AllowedIPs)" "0.0.0.0/0, ::/0"
expect "PersistentKeepalive" "$(value "$tmp/show.conf" PersistentKeepalive)" 25
echo "ok: full config: wg-quick strip + wg setconf + wg showconf agree"

# The minimal form, an IPv6 endpoint, no preshared key, no keepalive.
conf2="$tmp/wgd$$.conf"
"$tool" render "$conf2" --private-key "$priv" --address 10.64.3.2/32 \
	--public-key "$peer" --endpoint '[2001:DB8::1]:51820' \
	--allowed-ip 10.64.0.0/16 --allowed-ip fd00::/64
wg-quick strip "$conf2" >"$tmp/stripped2.conf" || fail "wg-quick strip refused the minimal config"
ip netns exec "$ns" wg setconf "$ifname" "$tmp/stripped2.conf" || fail "wg setconf refused it"
ip netns exec "$ns" wg showconf "$ifname" >"$tmp/show2.conf"
expect "PublicKey" "$(value "$tmp/show2.conf" PublicKey)" "$peer"
expect "PresharedKey" "$(value "$tmp/show2.conf" PresharedKey)" ""
expect "Endpoint" "$(value "$tmp/show2.conf" Endpoint)" "[2001:db8::1]:51820"
expect "AllowedIPs" "$(value "$tmp/show2.conf" AllowedIPs)" "10.64.0.0/16, fd00::/64"
expect "PersistentKeepalive" "$(value "$tmp/show2.conf" PersistentKeepalive)" ""
echo "ok: minimal config with an IPv6 endpoint"

# A host name endpoint is resolved by wg itself.
conf3="$tmp/wge$$.conf"
"$tool" render "$conf3" --private-key "$priv" --address 10.64.3.2/32 \
	--public-key "$peer" --endpoint localhost:51820 --allowed-ip 10.64.0.0/16 \
	--keepalive 65535
wg-quick strip "$conf3" >"$tmp/stripped3.conf"
ip netns exec "$ns" wg setconf "$ifname" "$tmp/stripped3.conf" ||
	fail "wg setconf refused a host name"
ip netns exec "$ns" wg showconf "$ifname" >"$tmp/show3.conf"
case "$(value "$tmp/show3.conf" Endpoint)" in
"127.0.0.1:51820" | "[::1]:51820") ;;
*) fail "Endpoint localhost:51820 read back as '$(value "$tmp/show3.conf" Endpoint)'" ;;
esac
expect "PersistentKeepalive" "$(value "$tmp/show3.conf" PersistentKeepalive)" 65535
echo "ok: host name endpoint"

# --- wg-quick up: Address, MTU and the full tunnel ---------------------------
# (No DNS line: that needs a resolvconf program and changes the host.) A full
# tunnel makes wg-quick add policy routing and an nftables table (inside our
# namespace) and set a sysctl: without nft and sysctl, bring up a split tunnel.
if command -v nft >/dev/null 2>&1 && command -v sysctl >/dev/null 2>&1; then
	tunnel="--allowed-ip 0.0.0.0/0 --allowed-ip ::/0"
	tunnel_kind="full tunnel"
else
	echo "########################################################################" >&2
	echo "# NOTE: nft or sysctl missing: wg-quick up runs a split tunnel only;" >&2
	echo "# install nftables and procps to test the full tunnel." >&2
	echo "########################################################################" >&2
	tunnel="--allowed-ip 10.64.0.0/16 --allowed-ip fd00::/64"
	tunnel_kind="split tunnel (full tunnel NOT tested)"
fi
# shellcheck disable=SC2086
"$tool" render "$tmp/$qname.conf" --private-key "$priv" --address 10.64.3.2/32 \
	--address fd00::2/128 --mtu 1380 --public-key "$peer" --preshared-key "$psk" \
	--endpoint 192.0.2.1:51820 $tunnel --keepalive 25
ip netns exec "$ns" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
	wg-quick up "$tmp/$qname.conf" >"$tmp/up.log" 2>&1 || {
	cat "$tmp/up.log" >&2
	fail "wg-quick up refused our config"
}
ip -n "$ns" -o addr show dev "$qname" >"$tmp/addrs"
grep -q 'inet 10\.64\.3\.2/32' "$tmp/addrs" || fail "IPv4 address not set: $(cat "$tmp/addrs")"
grep -q 'inet6 fd00::2/128' "$tmp/addrs" || fail "IPv6 address not set: $(cat "$tmp/addrs")"
ip -n "$ns" link show dev "$qname" | grep -q 'mtu 1380' || fail "MTU not set"
expect "wg-quick up: peer" "$(ip netns exec "$ns" wg show "$qname" peers)" "$peer"
ip netns exec "$ns" wg-quick down "$tmp/$qname.conf" >"$tmp/down.log" 2>&1 || {
	cat "$tmp/down.log" >&2
	fail "wg-quick down"
}
echo "ok: wg-quick up/down with our Address, MTU and $tunnel_kind"

# --- injection attempts are refused and write nothing -------------------------
nl='
'
cr=$(printf '\r')
refused() { # WANT-MESSAGE OUT-FILE TOOL-ARGS...
	want=$1
	out=$2
	shift 2
	if "$tool" render "$out" "$@" 2>"$tmp/err"; then
		fail "accepted an injection ($want)"
	else
		rc=$?
	fi
	expect "exit code for '$want'" "$rc" 2
	grep -qF "$want" "$tmp/err" || fail "message: $(cat "$tmp/err"), wanted '$want'"
	[ ! -e "$out" ] || fail "a file was written despite '$want'"
	! grep -qF "$priv" "$tmp/err" || fail "the error message contains the private key"
}
base="--private-key $priv --public-key $peer --allowed-ip 0.0.0.0/0"
# shellcheck disable=SC2086
refused "conf: Address: contains a newline" "$tmp/inj1.conf" $base \
	--endpoint 192.0.2.1:51820 --address "10.0.0.1/32${nl}PostUp = touch $tmp/pwned"
# shellcheck disable=SC2086
refused "conf: Endpoint: contains a carriage return" "$tmp/inj2.conf" $base \
	--address 10.0.0.1/32 --endpoint "1.2.3.4:51820${cr}${nl}[Peer]"
# shellcheck disable=SC2086
refused "conf: DNS: contains a space" "$tmp/inj3.conf" $base --address 10.0.0.1/32 \
	--endpoint 192.0.2.1:51820 --dns "x = y"
refused "conf: PrivateKey: contains a newline" "$tmp/inj4.conf" --private-key "$priv${nl}" \
	--public-key "$peer" --allowed-ip 0.0.0.0/0 --address 10.0.0.1/32 \
	--endpoint 192.0.2.1:51820
[ ! -e "$tmp/pwned" ] || fail "an injected command ran"

# A file carrying a hook is refused by the parser, with its line number.
sed 's/^MTU = 1420$/PostUp = touch pwned/' "$conf" >"$tmp/hook.conf"
if "$tool" parse "$tmp/hook.conf" >/dev/null 2>"$tmp/err"; then
	fail "parse accepted PostUp"
fi
grep -qF "conf: line 5: PostUp is refused" "$tmp/err" || fail "parse message: $(cat "$tmp/err")"
echo "ok: injection attempts refused, nothing written"

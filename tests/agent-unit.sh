#!/bin/sh
# SPDX-License-Identifier: MIT
# The agent's systemd unit, man page, --help and command line: the unit
# passes `systemd-analyze verify` and keeps its hardening; every option of
# --help is in myrelay-agent(8) and the other way round; usage errors exit 2
# with a message; a configuration file is read (command line wins).
: "${top_builddir:?}" "${top_srcdir:?}"
set -e
agent="$top_builddir/frontends/agent/myrelay-agent"
unit="$top_srcdir/contrib/systemd/myrelay-agent.service"
man_page="$top_srcdir/docs/man/myrelay-agent.8"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok   - $*"; }

# -- the unit ----------------------------------------------------------------
for d in CapabilityBoundingSet=CAP_NET_ADMIN AmbientCapabilities=CAP_NET_ADMIN \
	NoNewPrivileges=yes ProtectSystem=strict StateDirectory=myrelay-agent \
	StateDirectoryMode=0700 User=myrelay KillMode=process RuntimeDirectoryPreserve=yes \
	DeviceAllow=/dev/net/tun; do
	grep -q "^$d" "$unit" || fail "the unit lacks $d"
done
ok "the unit has its hardening directives"
if command -v systemd-analyze >/dev/null 2>&1; then
	# The binary of this build stands in for /usr/sbin/myrelay-agent; the
	# man page is not installed here (--man=no).
	sed "s|/usr/sbin/myrelay-agent|$(cd "$(dirname "$agent")" && pwd)/myrelay-agent|" "$unit" \
		>"$tmp/myrelay-agent.service"
	if ! systemd-analyze verify --man=no "$tmp/myrelay-agent.service" >"$tmp/verify" 2>&1 ||
		[ -s "$tmp/verify" ]; then
		cat "$tmp/verify"
		fail "systemd-analyze verify complains about the unit"
	fi
	ok "systemd-analyze verify: no complaint"
	if systemd-analyze security --offline=yes "$tmp/myrelay-agent.service" >"$tmp/sec" 2>&1; then
		level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$tmp/sec")
		echo "       systemd-analyze security: exposure $level (0 best, 10 worst)"
		awk -v l="$level" 'BEGIN { exit !(l != "" && l + 0 <= 4.0) }' ||
			fail "exposure level $level is above 4.0"
	fi
else
	echo "##################################################################"
	echo "NOTE: systemd-analyze is not installed (package systemd): the unit"
	echo "is NOT verified by systemd here; only its directives are checked."
	echo "##################################################################"
fi

# -- --help and the man page -------------------------------------------------
help=$("$agent" --help)
opts=$(echo "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u)
[ "$(echo "$opts" | wc -l)" -ge 15 ] || fail "too few options in --help: $opts"
man_opts=$(sed -n 's/^\.B[IR]* \\-\\-\([a-z][a-z\\-]*\).*/--\1/p' "$man_page" |
	sed 's/\\-/-/g' | sort -u)
for o in $opts; do
	echo "$man_opts" | grep -qx -- "$o" || fail "$o is in --help but not in the man page"
done
for o in $man_opts; do
	echo "$opts" | grep -qx -- "$o" || fail "$o is in the man page but not in --help"
done
ok "--help and myrelay-agent(8) list the same $(echo "$opts" | wc -l) options"
"$agent" --version | grep -q "^myrelay-agent [0-9]" || fail "--version"

# -- usage errors: exit 2 and a message ---------------------------------------
expect2() {
	set +e
	"$agent" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	set -e
	[ $rc -eq 2 ] || { cat "$tmp/err"; fail "$* exited $rc, not 2"; }
	[ -s "$tmp/err" ] || fail "$*: no message"
	echo "       $*: $(head -n1 "$tmp/err")"
}
expect2
expect2 frobnicate
expect2 run
expect2 run --bogus
expect2 run --server https://x --ca /dev/null
expect2 run --desired-file /x --server https://x --ca /x --token-file /x
expect2 run --desired-file /x --backend magic
expect2 run --desired-file /x --report-interval 0
expect2 run --desired-file /x --uplink 'bad name'
expect2 run --desired-file /x --state-dir relative
expect2 check
expect2 run --desired-file /x --listen-metrics localhost:80 --state-dir "$tmp/never"
[ ! -e "$tmp/never" ] || fail "a refused option still created the state directory"
printf 'desired-file = /x\nno-such-setting = 1\n' >"$tmp/conf"
expect2 run --config "$tmp/conf"
grep -q "conf:2: " "$tmp/err" || fail "the bad line of the configuration is not named"
ok "usage errors exit 2 with a message"

# -- check with a configuration file -------------------------------------------
printf '{"generation": 3, "pods": []}\n' >"$tmp/d.json"
printf '# comment\ndesired-file = /nonexistent\n' >"$tmp/conf"
"$agent" check --config "$tmp/conf" --desired-file "$tmp/d.json" | grep -q "ok: generation 3" ||
	fail "check with --config, the command line winning"
ok "a configuration file is read and the command line wins"

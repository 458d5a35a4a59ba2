#!/bin/sh
# SPDX-License-Identifier: MIT
# myrelay genkey/pubkey/genpsk against wg(8): the same keys from the same
# input, each accepting the other's output, the same output format, the
# same refusals.
: "${top_builddir:?}" "${top_srcdir:=.}"
set -e
cli="$top_builddir/frontends/cli/myrelay"
command -v wg >/dev/null 2>&1 || {
	echo "SKIP: wg(8) not found (apt-get install wireguard-tools)"
	exit 77
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
fail() { echo "FAIL: $*"; exit 1; }
ok() { n=$((n + 1)); }

i=0
while [ $i -lt 25 ]; do
	k=$(wg genkey)
	[ "$(echo "$k" | "$cli" pubkey)" = "$(echo "$k" | wg pubkey)" ] ||
		fail "pubkey of wg's key $i differs from wg pubkey"
	m=$("$cli" genkey)
	p=$(echo "$m" | wg pubkey) || fail "wg pubkey refused our private key"
	[ "$(echo "$m" | "$cli" pubkey)" = "$p" ] || fail "our pubkey differs from wg's on our key"
	s=$("$cli" genpsk)
	echo "$s" | wg pubkey >/dev/null || fail "wg refused our preshared key as a key"
	for key in "$m" "$s" "$p"; do
		echo "$key" | grep -Eq '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$' ||
			fail "not canonical base64: $key"
	done
	i=$((i + 1))
done
ok

# Byte-identical format: 44 characters and a newline, nothing else.
for cmd in genkey genpsk; do
	[ "$("$cli" $cmd | wc -c)" -eq "$(wg $cmd | wc -c)" ] || fail "$cmd: length differs"
	"$cli" $cmd | od -An -c | tr -d ' ' | tail -n1 | grep -q '\\n$' || fail "$cmd: no newline"
done
k=$(wg genkey)
echo "$k" | "$cli" pubkey >"$tmp/ours"
echo "$k" | wg pubkey >"$tmp/theirs"
cmp "$tmp/ours" "$tmp/theirs" || fail "pubkey output differs byte for byte"
ok

# Inputs both tools take...
for input in "$k" "$k
" "$k

  	"; do
	a=$(printf '%s' "$input" | "$cli" pubkey) || fail "refused what wg takes: [$input]"
	b=$(printf '%s' "$input" | wg pubkey)
	[ "$a" = "$b" ] || fail "different result for [$input]"
done
ok
# ...and inputs both refuse (we exit 2: bad input).
refused=0
noncanon=$(echo "$k" | sed 's/.=$/B=/')
[ "$noncanon" != "$k" ] || noncanon=$(echo "$k" | sed 's/.=$/C=/')
for input in "" "short" "$k extra" "${k}x" " $k" "$(echo "$k" | tr 'A' '*')" \
	"$(echo "$k" | cut -c1-43)"; do
	if printf '%s\n' "$input" | wg pubkey >/dev/null 2>&1; then
		continue # wg takes it: not a refusal case (e.g. no 'A' to replace)
	fi
	rc=0
	printf '%s\n' "$input" | "$cli" pubkey >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ $rc -eq 2 ] || fail "pubkey [$input]: exit $rc, wanted 2"
	[ ! -s "$tmp/out" ] || fail "pubkey [$input]: printed a key"
	grep -q '^myrelay: pubkey: ' "$tmp/err" || fail "pubkey [$input]: no message"
	refused=$((refused + 1))
done
[ "$refused" -ge 5 ] || fail "only $refused refusal cases checked"

# A non-canonical last character: wg refuses, so do we.
if ! printf '%s\n' "$noncanon" | wg pubkey >/dev/null 2>&1; then
	rc=0
	printf '%s\n' "$noncanon" | "$cli" pubkey >/dev/null 2>&1 || rc=$?
	[ $rc -eq 2 ] || fail "non-canonical key accepted (exit $rc)"
fi
ok

# The world-readable warning, as wg genkey gives it.
(umask 022 && "$cli" genkey >"$tmp/key" 2>"$tmp/warn")
grep -q "Warning: writing to world accessible file" "$tmp/warn" || fail "no umask warning"
(umask 077 && "$cli" genkey >"$tmp/key2" 2>"$tmp/warn2")
[ ! -s "$tmp/warn2" ] || fail "warning with a private file"
ok

# --json: the same key, as JSON.
k=$(wg genkey)
[ "$(echo "$k" | "$cli" pubkey --json | "${PYTHON:-python3}" -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')" = "$(echo "$k" | wg pubkey)" ] ||
	fail "pubkey --json"
"$cli" genkey --json | "${PYTHON:-python3}" -c 'import json,sys; json.load(sys.stdin)["private_key"]' ||
	fail "genkey --json"
ok

# Usage.
rc=0; "$cli" genkey extra >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "genkey with an argument: exit $rc"
"$cli" genkey --help | grep -q "Usage: myrelay genkey" || fail "genkey --help"
"$cli" pubkey --help >/dev/null || fail "pubkey --help"
ok
echo "ok: $n groups of checks against wg(8)"

#!/bin/sh
# SPDX-License-Identifier: MIT
# The store's database as the real sqlite3 program sees it: after a sequence
# of operations (through tests/store_tool, the public API), the file passes
# integrity and foreign-key checks, is in WAL mode at the current schema
# version, has mode 0600, and holds SHA-256 hashes of the tokens, computed
# independently here by Python's hashlib, never the tokens themselves; and
# an encrypted backup is opaque to sqlite3 and restores to the same rows.
set -eu

if ! command -v sqlite3 >/dev/null 2>&1; then
	echo "SKIP: the sqlite3 program is not installed"
	exit 77
fi
PYTHON=${PYTHON:-python3}
tool="$top_builddir/tests/store_tool"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="$tmp/store.db"
fail=0

check() { # description, expected, actual
	if [ "$2" = "$3" ]; then
		echo "ok: $1"
	else
		echo "FAIL: $1: expected [$2], got [$3]"
		fail=1
	fi
}

json() { # expression over the JSON document j, read from stdin
	"$PYTHON" -c "import json, sys; j = json.load(sys.stdin); print($1)"
}

run() {
	"$tool" --now 1700000000 "$db" "$@"
}

umask 022
reg=$("$tool" --create --now 1700000000 "$db" node_register \
	'{"name": "fra-1", "region": "eu", "endpoint": "vpn.example.com"}')
node=$(printf '%s' "$reg" | json 'j["node"]["id"]')
node_secret=$(printf '%s' "$reg" | json 'j["secret"]')
cu=$(run customer_create '{"name": "acme"}' | json 'j["customer"]["id"]')
pod_json=$(run pod_create "{\"customer\": \"$cu\", \"node\": \"$node\"}")
pod=$(printf '%s' "$pod_json" | json 'j["pod"]["id"]')
pod_secret=$(printf '%s' "$pod_json" | json 'j["secret"]')
admin_secret=$(run token_issue '{"kind": "admin", "label": "ops"}' | json 'j["secret"]')
psk=$("$PYTHON" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
key=$("$PYTHON" -c 'import base64, os; print(base64.b64encode(b"\x07" * 32).decode())')
peer=$(run peer_add "{\"pod\": \"$pod\", \"name\": \"laptop\", \"public_key\": \"$key\", \
\"preshared_key\": \"$psk\"}" | json 'j["peer"]["id"]')
run peer_disable "{\"id\": \"$peer\", \"reason\": \"lost\"}" >/dev/null
run peer_enable "{\"id\": \"$peer\"}" >/dev/null

# Injection attempts are refused by validation and leave the file alone.
before=$(sqlite3 "$db" .dump | sha256sum)
for bad in \
	"{\"name\": \"x'); DROP TABLE nodes; --\"}" \
	"{\"name\": \"acme2\", \"transfer_limit\": \"0 OR 1=1\"}" \
	"{\"name\": \"acme\\\"\"}"; do
	if run customer_create "$bad" >/dev/null 2>"$tmp/err"; then
		echo "FAIL: accepted $bad"
		fail=1
	fi
done
if run peer_show "{\"id\": \"$peer' OR '1'='1\"}" >/dev/null 2>&1; then
	echo "FAIL: accepted an injected id"
	fail=1
fi
check "refused requests left the database unchanged" "$before" "$(sqlite3 "$db" .dump | sha256sum)"

check "integrity_check" ok "$(sqlite3 "$db" 'PRAGMA integrity_check')"
check "foreign_key_check is empty" "" "$(sqlite3 "$db" 'PRAGMA foreign_key_check')"
check "journal_mode" wal "$(sqlite3 "$db" 'PRAGMA journal_mode')"
check "user_version" 3 "$(sqlite3 "$db" 'PRAGMA user_version')"
check "database mode" 600 "$(stat -c %a "$db")"
check "one node, one customer, one pod, one peer" "1|1|1|1" \
	"$(sqlite3 "$db" 'SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM customers),
		(SELECT count(*) FROM pods), (SELECT count(*) FROM peers)')"
check "generation: pod create, peer add, disable, enable" 5 \
	"$(sqlite3 "$db" "SELECT generation FROM nodes WHERE id = '$node'")"
check "audit actions" \
	"node.register customer.create pod.create token.issue peer.add peer.disable peer.enable" \
	"$(sqlite3 "$db" 'SELECT action FROM audit ORDER BY seq' | tr '\n' ' ' | sed 's/ $//')"

# Every token is stored as the SHA-256 of its 32 secret bytes, and no table
# holds any token's text or secret part, or the peer's preshared key outside
# the peers table.
dump=$(sqlite3 "$db" .dump)
for secret in "$node_secret" "$pod_secret" "$admin_secret"; do
	hash=$(printf '%s' "$secret" | "$PYTHON" -c '
import base64, hashlib, sys
t = sys.stdin.read()
part = t[21:73].upper()
print(hashlib.sha256(base64.b32decode(part + "=" * (-len(part) % 8))).hexdigest())')
	id=$(printf '%s' "$secret" | cut -c5-20)
	check "hash of token $id" "$hash" \
		"$(sqlite3 "$db" "SELECT hash FROM tokens WHERE id = '$id'")"
	case "$dump" in
	*"$(printf '%s' "$secret" | cut -c22-73)"*) echo "FAIL: secret of $id in the database"; fail=1 ;;
	esac
done
check "preshared key only in peers" 1 \
	"$(sqlite3 "$db" .dump | grep -cF "$psk")"
check "no secret in audit details" 0 \
	"$(sqlite3 "$db" "SELECT count(*) FROM audit WHERE detail LIKE '%$psk%' OR detail LIKE '%hash%'")"

# The tokens work through the library, and a revoked one stops working.
check "node token verifies" node \
	"$(run verify "$node_secret" | json 'j["kind"]')"
tid=$(printf '%s' "$pod_secret" | cut -c5-20)
run token_revoke "{\"id\": \"$tid\"}" >/dev/null
if run verify "$pod_secret" >/dev/null 2>"$tmp/err"; then
	echo "FAIL: a revoked token verified"
	fail=1
fi
check "revoked token refused" "error: unauthenticated: token: revoked" "$(cat "$tmp/err")"
check "revocation time" 1700000000 \
	"$(sqlite3 "$db" "SELECT revoked FROM tokens WHERE id = '$tid'")"

# The desired state read back agrees with the rows.
check "desired state peer" "$key 10.64.0.2/32 $psk" \
	"$(run desired "$node" | json '" ".join([j["pods"][0]["peers"][0]["public_key"],
		j["pods"][0]["peers"][0]["allowed_ips"][0], j["pods"][0]["peers"][0]["preshared_key"]])')"

# A report from the node, through the library: the pod becomes active and
# the traffic is accounted.
pod_key=$("$PYTHON" -c 'import base64; print(base64.b64encode(b"\x09" * 32).decode())')
printf '{"generation": 5, "pods": [{"id": "%s", "public_key": "%s", "peers": [{"public_key": "%s", "rx_bytes": 1000, "tx_bytes": 24}]}]}' \
	"$pod" "$pod_key" "$key" | run report "$node" >/dev/null
check "pod active with its key" "active|$pod_key" \
	"$(sqlite3 "$db" "SELECT status, public_key FROM pods WHERE id = '$pod'")"
check "usage of the month" "1000|24" \
	"$(sqlite3 "$db" "SELECT rx_bytes, tx_bytes FROM usage WHERE customer_id = '$cu' AND month = '2023-11'")"

# An encrypted backup is not a database to sqlite3; restored, it is the same
# database, row for row.
"$tool" --new-key "$tmp/backup.key"
check "backup key mode" 600 "$(stat -c %a "$tmp/backup.key")"
"$tool" --now 1700000000 --key "$tmp/backup.key" "$db" backup "$tmp/store.bak"
check "backup mode" 600 "$(stat -c %a "$tmp/store.bak")"
if sqlite3 "$tmp/store.bak" 'PRAGMA integrity_check' >/dev/null 2>&1; then
	echo "FAIL: sqlite3 can read the backup"
	fail=1
fi
if grep -q acme "$tmp/store.bak"; then
	echo "FAIL: plaintext in the backup"
	fail=1
fi
"$tool" --key "$tmp/backup.key" --restore "$tmp/store.bak" "$tmp/restored.db"
check "restored integrity_check" ok "$(sqlite3 "$tmp/restored.db" 'PRAGMA integrity_check')"
check "restored rows" "$(sqlite3 "$db" .dump | grep INSERT | sha256sum)" \
	"$(sqlite3 "$tmp/restored.db" .dump | grep INSERT | sha256sum)"
"$PYTHON" -c 'import sys; p = sys.argv[1]; d = bytearray(open(p, "rb").read()); d[-5] ^= 1; open(p + ".bad", "wb").write(d)' "$tmp/store.bak"
if "$tool" --key "$tmp/backup.key" --restore "$tmp/store.bak.bad" "$tmp/bad.db" 2>"$tmp/err"; then
	echo "FAIL: a changed backup was restored"
	fail=1
fi
check "changed backup refused" "error: integrity: backup: authentication failed (the file was changed, or another key)" "$(cat "$tmp/err")"
check "nothing restored from it" no "$([ -e "$tmp/bad.db" ] && echo yes || echo no)"

check "integrity_check at the end" ok "$(sqlite3 "$db" 'PRAGMA integrity_check')"
exit $fail

#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/core: speed of the core primitives, with references measured in the
# same run, medians of several runs. Prints a table and rewrites the
# "bench/core" section of docs/PERFORMANCE.md.
#
#   bench/core/run.sh [BUILD_DIR]     (default: _build/plain, else build)
#
# Needs a plain (non-sanitizer) build. Environment: RUNS (default 5).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-}
if [ -z "$build" ]; then
	for d in "$top/_build/plain" "$top/build"; do
		[ -f "$d/Makefile" ] && { build=$d; break; }
	done
fi
[ -n "$build" ] && [ -f "$build/Makefile" ] || { echo "bench/core: no configured build dir" >&2; exit 1; }
if grep -q 'fsanitize' "$build/Makefile" 2>/dev/null && grep -q '^SANITIZER_FLAGS = -f' "$build/Makefile"; then
	echo "bench/core: $build is a sanitizer build; use a plain one" >&2; exit 1
fi
runs=${RUNS:-5}
py=${PYTHON:-python3}
echo "bench/core: building the driver in $build"
make -s -C "$build" bench/core/core-driver >/dev/null
drv="$build/bench/core/core-driver"
ref="$top/bench/core/reference.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# median of the values of metric $2 in file $1
median() {
	awk -F'\t' -v k="$2" '$1 == k { print $2 }' "$1" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

i=0
while [ $i -lt "$runs" ]; do
	i=$((i + 1))
	printf 'bench/core: run %s/%s\n' "$i" "$runs"
	"$drv" keys 2000000 >>"$tmp/ours"
	"$drv" hosts >>"$tmp/ours"
	"$drv" tokens 300000 >>"$tmp/ours"
	"$py" "$ref" keys 300000 >>"$tmp/ref"
	"$py" "$ref" tokens 300000 >>"$tmp/ref"
done

echo "bench/core: subtraction of 1,000 random excludes (ours: best of 20 calls per run; Python: 3 runs)"
"$py" "$ref" gen "$tmp/excl.txt" 1000 20261125
i=0
while [ $i -lt "$runs" ]; do
	i=$((i + 1))
	"$drv" subtract "$tmp/excl.txt" 20 | grep -v '^=' >>"$tmp/ours"
done
"$drv" subtract "$tmp/excl.txt" 1 print | sed -n 's/^= //p' >"$tmp/ours.list"
i=0
while [ $i -lt 3 ]; do
	i=$((i + 1))
	"$py" "$ref" subtract "$tmp/excl.txt" >"$tmp/py.out"
	grep -v '^=' "$tmp/py.out" >>"$tmp/ref"
done
sed -n 's/^= //p' "$tmp/py.out" >"$tmp/py.list"
if cmp -s "$tmp/ours.list" "$tmp/py.list"; then
	same="identical ($(wc -l <"$tmp/py.list") prefixes)"
else
	same="DIFFERENT: ours $(wc -l <"$tmp/ours.list"), Python $(wc -l <"$tmp/py.list")"
fi

m() { median "$tmp/$1" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "nan" }'; }
kv=$(m ours key_validate); kv_ref=$(m ref key_validate)
kd=$(m ours key_derive)
tv=$(m ours token_verify); tv_ref=$(m ref token_verify)
tt=$(m ours token_reject_typo)
st=$(m ours subtract_time); st_ref=$(m ref subtract_time)
sn=$(m ours subtract_result)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
table=$(cat <<EOT
| metric | libmyrelay | reference (same run) | ratio |
|---|---:|---:|---:|
| public-key validations per second | $(printf '%.0f' "$kv") | $(printf '%.0f' "$kv_ref") (Python base64) | $(ratio "$kv" "$kv_ref")x |
| public-key derivations per second (X25519) | $(printf '%.0f' "$kd") | | |
| token verifications per second (parse + SHA-256 + constant-time compare) | $(printf '%.0f' "$tv") | $(printf '%.0f' "$tv_ref") (Python: split, b32decode, crc32, hashlib, hmac) | $(ratio "$tv" "$tv_ref")x |
| malformed tokens rejected per second (checksum, no hashing) | $(printf '%.0f' "$tt") | | |
| host allocation, /24 (253 hosts): first / last tenth, ns | $(m ours hosts_24_first10) / $(m ours hosts_24_last10) | | |
| host allocation, /16 (65,533 hosts): first / last tenth, ns | $(m ours hosts_16_first10) / $(m ours hosts_16_last10) | | |
| host allocation, /8 (16.7 M hosts): first / last tenth, ns | $(m ours hosts_8_first10) / $(m ours hosts_8_last10) | | |
| 0.0.0.0/0 minus 1,000 random prefixes, seconds | $st | $st_ref (Python ipaddress.address_exclude) | $(ratio "$st_ref" "$st")x faster |
EOT
)
echo
echo "$table"
echo
echo "subtraction result: $sn prefixes; ours vs Python: $same"

report="$top/docs/PERFORMANCE.md"
section=$(cat <<EOT
<!-- bench/core:begin -->
## Core primitives (\`bench/core\`)

Measured $(date -u +%Y-%m-%d) on $(nproc) cores of "$cpu", $(uname -r),
commit $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown),
plain build (\`-O2\`, no sanitizers), medians of $runs runs. Produced by
\`bench/core/run.sh\` (C driver \`bench/core/core-driver.c\`, references in
\`bench/core/reference.py\` run in the same invocation).

$table

- Subtraction: both sides subtract the same 1,000 random IPv4 networks
  (/8 to /28, seed 20261125) from 0.0.0.0/0; the results are compared line
  by line: $same. Ours is the best of 20 calls per run (the first call
  pays page faults), Python's is one call per run.
- Host allocation stays flat: the cost per allocation in the last tenth of
  a full /16 or /8 is the same as in the first tenth (no scan from the
  start; see \`docs/api/cidr.md\` for the allocator's design).
- Key validation is the full WireGuard acceptance check in constant time
  (no table lookups or branches on key bytes); the Python reference only
  checks length and base64 alphabet, so the comparison flatters Python.
- Token verification: both sides split the text, decode id and secret from
  base32, check the checksum, hash the secret with SHA-256 and compare in
  constant time; ours additionally avoids secret-dependent branches and
  tables (the CRC-30 is computed bit by bit with masks).
<!-- bench/core:end -->
EOT
)
if [ ! -f "$report" ]; then
	printf '# Performance\n\nEvery figure here is produced by a script under `bench/`, which compares\nagainst a reference measured in the same run and rewrites its own section.\nThese machines are shared and noisy: read ratios, not absolute numbers.\n\n' >"$report"
fi
if grep -q '<!-- bench/core:begin -->' "$report"; then
	printf '%s\n' "$section" >"$tmp/section"
	awk -v f="$tmp/section" '
		/<!-- bench\/core:begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
		/<!-- bench\/core:end -->/ { skip = 0; next }
		!skip { print }' "$report" >"$tmp/report" && cat "$tmp/report" >"$report"
else
	printf '%s\n' "$section" >>"$report"
fi
echo "bench/core: report written to docs/PERFORMANCE.md"

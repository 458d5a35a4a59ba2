#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/api: the HTTP API of myrelay-server under wrk, against a bare
# libmicrohttpd server (bench/api/ceiling.c) measured in the same run; peer-add
# latency at 1,000 and at 1,000,000 peers in the database; the server's memory.
# Prints a table and rewrites the "bench/api" section of docs/PERFORMANCE.md.
#
#   bench/api/run.sh [BUILD_DIR]   (default: _build/plain, build-bench, build)
#
# Needs a plain (non-sanitizer) build and wrk (Debian: apt-get install -y
# --no-install-recommends wrk). Environment: RUNS (3), DURATION (10, seconds
# per wrk run), CONNS (8, wrk connections of the throughput runs), LAT_RUNS
# (6) and LAT_DURATION (5 s) for the latency runs, BIG (1000000 peers; a
# multiple of 62,500 above 62,500), PYTHON (python3), PROFILE (1: sample the
# server with perf on the GET when perf works), BENCH_TMP (directory on
# disk for the databases the servers use; default ${TMPDIR:-/var/tmp}),
# BENCH_COMMIT (the commit to name in the report when the tree measured is
# an export without .git; default: git rev-parse of this tree).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-}
if [ -z "$build" ]; then
	for d in "$top/_build/plain" "$top/build-bench" "$top/build"; do
		[ -f "$d/Makefile" ] && { build=$d; break; }
	done
fi
[ -n "$build" ] && [ -f "$build/Makefile" ] || { echo "bench/api: no configured build dir" >&2; exit 1; }
build=$(cd "$build" && pwd)
if grep -q '^SANITIZER_FLAGS = -f' "$build/Makefile"; then
	echo "bench/api: $build is a sanitizer build; use a plain one" >&2; exit 1
fi
command -v wrk >/dev/null || { echo "bench/api: wrk not found (apt-get install -y --no-install-recommends wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench/api: curl not found" >&2; exit 1; }
runs=${RUNS:-3}
dur=${DURATION:-10}
conns=${CONNS:-8}
big=${BIG:-1000000}
lat_runs=${LAT_RUNS:-6}
lat_dur=${LAT_DURATION:-5}
py=${PYTHON:-python3}
small=1000
per_pod=250        # peers per filler pod (a /24 pod holds 253)

# Filler layout: PEERS = NODES x CUSTOMERS x 250 (a customer has one pod on
# each node; a node's default /16 pool holds 256 /24 pods).
layout() {
	pods=$(($1 / per_pod))
	if [ $((pods * per_pod)) -ne "$1" ]; then echo "bench/api: $1 is not a multiple of $per_pod" >&2; exit 1; fi
	if [ "$pods" -le 250 ]; then echo "1 $pods"; return; fi
	if [ $((pods % 250)) -ne 0 ]; then echo "bench/api: $1 is not a multiple of 62500" >&2; exit 1; fi
	echo "$((pods / 250)) 250"
}
layout "$big" >/dev/null

echo "bench/api: building in $build"
make -s -C "$build" frontends/server/myrelay-server bench/api/fill bench/api/ceiling >/dev/null
server="$build/frontends/server/myrelay-server"
fill="$build/bench/api/fill"
ceiling="$build/bench/api/ceiling"
here="$top/bench/api"

tmp=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/var/tmp}}/bench-api.XXXXXX")
shm=$(mktemp -d /dev/shm/bench-api.XXXXXX 2>/dev/null || mktemp -d "$tmp/fill.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp" "$shm"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
res="$tmp/results"
: >"$res"

# start NAME CMD...: start a server in the background, its log in $tmp/NAME.log;
# sets $port to the port it bound (it is given port 0) and $pid.
start() {
	name=$1
	shift
	: >"$tmp/$name.log"
	"$@" >>"$tmp/$name.log" 2>&1 &
	pid=$!
	pids="$pids $pid"
	i=0
	port=""
	while [ $i -lt 600 ] && [ -z "$port" ]; do
		port=$(sed -n 's/.*listening on [a-z:/]*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$name.log" | head -n1)
		if [ -z "$port" ]; then
			kill -0 "$pid" 2>/dev/null || { cat "$tmp/$name.log" >&2; echo "bench/api: $name did not start" >&2; exit 1; }
			sleep 0.1
			i=$((i + 1))
		fi
	done
	[ -n "$port" ] || { echo "bench/api: $name did not start" >&2; exit 1; }
}

stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# srv NAME DATADIR [--insecure]: the server, rate limit off, connection limits
# raised, scheduled backups off (the first would be made at start, in the
# middle of the measurement; section 3 measures one separately)
srv() {
	name=$1 dir=$2
	shift 2
	start "$name" "$server" run --data-dir "$dir" --listen 127.0.0.1:0 --rate 0 \
		--max-connections 4096 --max-connections-per-ip 4096 --backup-interval 0 --quiet "$@"
}

# backup_run NAME DATADIR: the server with its default options, which makes a
# scheduled backup at start; waits for it (10 min at most) and sets
# $bk_secs (from listening to the backup written), $bk_rss, $bk_hwm (kB),
# $bk_size (bytes of the backup file)
backup_run() {
	start "$1" "$server" run --data-dir "$2" --listen 127.0.0.1:0 --quiet
	t0=$(date +%s.%N)
	i=0
	while [ $i -lt 6000 ] && ! grep -q 'backup: wrote\|backup:.*fail' "$tmp/$1.log"; do
		sleep 0.1
		i=$((i + 1))
	done
	bk_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	if grep -q 'backup: wrote' "$tmp/$1.log"; then
		bk_size=$(cat "$2"/backups/myrelay-*.bak | wc -c)
	else
		bk_secs="failed or timed out"
		bk_size=0
		echo "bench/api: WARNING: no scheduled backup seen in $tmp/$1.log" >&2
	fi
	sleep 1
	bk_rss=$(status_kb "$pid" VmRSS) bk_hwm=$(status_kb "$pid" VmHWM)
	stop "$pid"
}

# bench LABEL URL SCRIPT CONNS ARGS...: one wrk run; records "LABEL metric value"
bench() {
	label=$1 url=$2 script=$3 c=$4
	shift 4
	wrk -t1 -c"$c" -d"${wdur}s" --timeout 10s --latency -s "$here/$script" "$url" -- "$@" >"$tmp/wrk.out" 2>&1 || {
		cat "$tmp/wrk.out" >&2; echo "bench/api: wrk failed ($label)" >&2; exit 1; }
	sed -n 's/^@@ \([a-z0-9_]*\) \(.*\)$/\1 \2/p' "$tmp/wrk.out" |
		while read -r k v; do printf '%s\t%s\t%s\n' "$label" "$k" "$v"; done >>"$res"
	bad=$(sed -n 's/^@@ errors //p' "$tmp/wrk.out")
	if [ "${bad:-1}" != 0 ]; then
		echo "bench/api: WARNING: $label: $bad errors or non-2xx answers" >&2
		grep -E 'Non-2xx|Socket errors' "$tmp/wrk.out" >&2 || true
	fi
	printf '  %-22s %8s req/s  p50 %s ms  p99 %s ms\n' "$label" \
		"$(sed -n 's/^@@ rps //p' "$tmp/wrk.out")" "$(sed -n 's/^@@ p50_ms //p' "$tmp/wrk.out")" \
		"$(sed -n 's/^@@ p99_ms //p' "$tmp/wrk.out")"
}

# median of metric $2 of label $1
median() {
	awk -F'\t' -v l="$1" -v k="$2" '$1 == l && $2 == k { print $3 }' "$res" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
sum() { awk -F'\t' -v l="$1" -v k="$2" '$1 == l && $2 == k { s += $3 } END { print s + 0 }' "$res"; }
# last value of metric $2 of label $1
last() { awk -F'\t' -v l="$1" -v k="$2" '$1 == l && $2 == k { v = $3 } END { print v }' "$res"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
fmt0() { awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }
thou() { awk -v a="$1" 'BEGIN { s = sprintf("%d", a); while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s); print s }'; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# fill NAME PEERS BENCH_PODS: a data directory with PEERS peers, filled on
# tmpfs (the store syncs every commit; the fill is setup, not a measurement),
# then copied to $tmp/NAME; tokens in $tmp/NAME.tokens; figures in $tmp/NAME.fill
fill_db() {
	name=$1 n=$2 bp=$3
	set -- $(layout "$n")
	rm -rf "$shm/$name"
	"$server" init --data-dir "$shm/$name" --name localhost >/dev/null 2>"$tmp/$name.init"
	"$fill" db "$shm/$name/store.db" "$1" "$2" "$per_pod" "$bp" 10 "$tmp/$name.tokens" \
		>"$tmp/$name.fill" 2>"$tmp/$name.fill.err" || { cat "$tmp/$name.fill.err" >&2; exit 1; }
	t0=$(date +%s.%N)
	cp -a "$shm/$name" "$tmp/$name"
	sync
	echo "copy_seconds	$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >>"$tmp/$name.fill"
	rm -rf "$shm/$name"
}
fv() { awk -F'\t' -v k="$2" '$1 == k { print $2 }' "$tmp/$1.fill"; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# the commit measured (read now: the tree may change during the run)
if [ -n "${BENCH_COMMIT:-}" ]; then
	commit=$BENCH_COMMIT
elif commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null); then
	changed=$(git -C "$top" diff --name-only HEAD -- . ':(exclude)docs/PERFORMANCE.md' 2>/dev/null |
		head -n 4 | tr '\n' ' ' | sed 's/ $//')
	[ -z "$changed" ] || commit="$commit with uncommitted changes to: $changed"
else
	commit=unknown
fi
echo "bench/api: generating 100,000 public keys for the request bodies"
"$fill" keys 100000 >"$tmp/keys"

echo "bench/api: filling a database with $small peers"
fill_db small "$small" 1000
cp -a "$tmp/small" "$tmp/api-tls"
cp -a "$tmp/small" "$tmp/api-plain"
cp -a "$tmp/small" "$tmp/lat-small"
rm -rf "$tmp/small"

# --- 1. GET and POST against the ceiling, TLS and plain HTTP ---------------
# Token lines: 1 = the pod listed by the GET (10 peers), 2 = the pod of the
# sample POST, 3... = pods for wrk's POSTs (250 each, never reused).
get_tok=$(sed -n 1p "$tmp/small.tokens")
post_tok=$(sed -n 2p "$tmp/small.tokens")
srv api-tls "$tmp/api-tls"
tls_port=$port tls_pid=$pid
srv api-plain "$tmp/api-plain" --insecure
plain_port=$port plain_pid=$pid
# The bodies the ceiling answers: what the server answered.
curl -sfk -o "$tmp/get.body" -H "Authorization: Bearer $get_tok" "https://127.0.0.1:$tls_port/v1/pod/peers"
curl -sfk -o "$tmp/post.body" -H "Authorization: Bearer $post_tok" -H 'Content-Type: application/json' \
	-d "{\"name\":\"sample\",\"public_key\":\"$(sed -n 1p "$tmp/keys")\"}" "https://127.0.0.1:$tls_port/v1/pod/peers"
get_bytes=$(wc -c <"$tmp/get.body")
post_bytes=$(wc -c <"$tmp/post.body")
for mode in tls plain; do
	if [ $mode = tls ]; then
		start ceil-get-tls "$ceiling" 0 "$tmp/get.body" 200 "$tmp/api-tls/server.crt" "$tmp/api-tls/server.key"
	else
		start ceil-get-plain "$ceiling" 0 "$tmp/get.body" 200
	fi
	eval "cg_${mode}_port=$port"
	if [ $mode = tls ]; then
		start ceil-post-tls "$ceiling" 0 "$tmp/post.body" 201 "$tmp/api-tls/server.crt" "$tmp/api-tls/server.key"
	else
		start ceil-post-plain "$ceiling" 0 "$tmp/post.body" 201
	fi
	eval "cp_${mode}_port=$port"
done

wdur=$dur
next_tls=3 next_plain=3
i=0
while [ $i -lt "$runs" ]; do
	i=$((i + 1))
	echo "bench/api: GET/POST run $i/$runs ($dur s each, $conns connections, keep-alive)"
	for mode in tls plain; do
		if [ $mode = tls ]; then scheme=https; else scheme=http; fi
		eval "sp=\$${mode}_port cgp=\$cg_${mode}_port cpp=\$cp_${mode}_port nt=\$next_${mode}"
		bench "ceiling-get-$mode" "$scheme://127.0.0.1:$cgp" get.lua "$conns" "$get_tok"
		bench "server-get-$mode" "$scheme://127.0.0.1:$sp" get.lua "$conns" "$get_tok"
		bench "ceiling-post-$mode" "$scheme://127.0.0.1:$cpp" post.lua "$conns" "$tmp/keys" "$tmp/small.tokens" "$per_pod" 1 3
		bench "server-post-$mode" "$scheme://127.0.0.1:$sp" post.lua "$conns" "$tmp/keys" "$tmp/small.tokens" "$per_pod" 1 "$nt"
		eval "next_$mode=$(last "server-post-$mode" next_token)"
		"$py" "$here/fsync.py" "$tmp" 2 | sed -n 's/^@@ \([a-z0-9_]*\) \(.*\)$/fsync-p1\t\1\t\2/p' >>"$res"
	done
done
[ "$next_tls" -le 1000 ] && [ "$next_plain" -le 1000 ] || echo "bench/api: WARNING: the POST runs ran out of pods" >&2

# Where the server's time goes on the GET (plain HTTP, so that TLS does not
# blur it): perf samples the server during one more wrk run.
profile=""
if [ "${PROFILE:-1}" = 1 ] && command -v perf >/dev/null &&
	perf record -q -o "$tmp/perf.probe" -- true >/dev/null 2>&1; then
	echo "bench/api: profiling the server on the GET (perf, plain HTTP, 5 s)"
	wrk -t1 -c"$conns" -d8s -s "$here/get.lua" "http://127.0.0.1:$plain_port" -- "$get_tok" >/dev/null 2>&1 &
	wrk_pid=$!
	sleep 1
	perf record -q --call-graph dwarf -F 999 -p "$plain_pid" -o "$tmp/perf.data" -- sleep 5 >/dev/null 2>&1 || true
	wait "$wrk_pid" || true
	if [ -s "$tmp/perf.data" ]; then
		perf report -q -i "$tmp/perf.data" --no-children --sort dso -g none 2>/dev/null |
			awk 'NF >= 2 { sub(/%/, "", $1); printf "%s\t%s\n", $2, $1 }' >"$tmp/prof.dso"
		perf report -q -i "$tmp/perf.data" --children --sort symbol -g none 2>/dev/null |
			awk '{ for (i = 2; i < NF; i++) if ($i == "[.]" || $i == "[k]") { sub(/%/, "", $1); print $(i + 1) "\t" $1; break } }' >"$tmp/prof.sym"
		pd() { awk -F'\t' -v k="$1" '$1 ~ k { s += $2 } END { printf "%.0f", s }' "$tmp/prof.dso"; }
		ps_() { awk -F'\t' -v k="$1" '$1 == k { print $2; exit }' "$tmp/prof.sym" | awk '{ printf "%.0f", $1 }'; }
		profile="Share of the server's CPU samples on the GET (perf, $(wc -l <"$tmp/prof.dso") objects): by object, jansson $(pd jansson)%, libc $(pd 'libc[.]so')%, kernel $(pd kernel)%, SQLite $(pd sqlite)%, libmyrelay $(pd libmyrelay)%, libmicrohttpd $(pd microhttpd)%, the server itself $(pd myrelay-server)%; by function with callees (call chains unwound from DWARF, some cut short: lower bounds), \`mr_store_peer_list\` $(ps_ mr_store_peer_list)%, jansson's \`json_dumpb\` $(ps_ json_dumpb)% (called twice per result: to size the buffer, then to fill it), \`json_pack\` $(ps_ json_pack)%, \`mr_store_token_verify\` $(ps_ mr_store_token_verify)%."
	fi
fi
stop "$tls_pid"
stop "$plain_pid"
# Every 201 must be a peer in the database (the server's answers were real).
for mode in tls plain; do
	ok=$(($(sum "server-post-$mode" requests) - $(sum "server-post-$mode" non2xx)))
	inserted=$(($(sqlite3 "$tmp/api-$mode/store.db" 'SELECT count(*) FROM peers') - small - 10 - 1))
	eval "ok_$mode=$ok inserted_$mode=$inserted"
done

# --- 2. peer-add latency at $small and at $big peers -------------------------
echo "bench/api: filling a database with $big peers (tmpfs, then copied to $tmp)"
fill_db big "$big" 400
peers_small=$(sqlite3 "$tmp/lat-small/store.db" 'SELECT count(*) FROM peers')
peers_big=$(sqlite3 "$tmp/big/store.db" 'SELECT count(*) FROM peers')
db_small=$(du -k "$tmp/lat-small/store.db" | cut -f1)
db_big=$(du -k "$tmp/big/store.db" | cut -f1)
srv lat-small "$tmp/lat-small"
ls_port=$port ls_pid=$pid
t0=$(date +%s.%N)
srv lat-big "$tmp/big"
lb_port=$port lb_pid=$pid
start_big=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
# /proc/PID/io before and after the latency runs: what a peer add reads and
# writes (syscalls and bytes) at each size.
io() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/io"; }
for k in rchar wchar syscr syscw write_bytes; do
	eval "io0_ls_$k=\$(io $ls_pid $k) io0_lb_$k=\$(io $lb_pid $k)"
done
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
cpu0_ls=$(cpu_ns "$ls_pid") cpu0_lb=$(cpu_ns "$lb_pid")
wdur=$lat_dur
next_ls=3 next_lb=3
i=0
# Alternating runs, in the order small, big, big, small, small, big...
# (drift of the shared disk hits both sizes alike), each followed by the
# fsync reference.
while [ $i -lt "$lat_runs" ]; do
	i=$((i + 1))
	echo "bench/api: peer-add latency run $i/$lat_runs (1 connection, TLS, $lat_dur s each)"
	if [ $((i % 4)) -eq 2 ] || [ $((i % 4)) -eq 3 ]; then order="big small"; else order="small big"; fi
	for size in $order; do
		if [ "$size" = small ]; then
			bench add-small "https://127.0.0.1:$ls_port" post.lua 1 "$tmp/keys" "$tmp/small.tokens" "$per_pod" 1 "$next_ls"
			next_ls=$(last add-small next_token)
		else
			bench add-big "https://127.0.0.1:$lb_port" post.lua 1 "$tmp/keys" "$tmp/big.tokens" "$per_pod" 1 "$next_lb"
			next_lb=$(last add-big next_token)
		fi
	done
	"$py" "$here/fsync.py" "$tmp" 2 | sed -n 's/^@@ \([a-z0-9_]*\) \(.*\)$/fsync\t\1\t\2/p' >>"$res"
done
[ "$next_ls" -le 1000 ] && [ "$next_lb" -le 400 ] || echo "bench/api: WARNING: the latency runs ran out of pods" >&2
cpu1_ls=$(cpu_ns "$ls_pid") cpu1_lb=$(cpu_ns "$lb_pid")

for k in rchar wchar syscr syscw write_bytes; do
	eval "io1_ls_$k=\$(io $ls_pid $k) io1_lb_$k=\$(io $lb_pid $k)"
done
adds_ls=$(($(sum add-small requests) - $(sum add-small non2xx)))
adds_lb=$(($(sum add-big requests) - $(sum add-big non2xx)))
cpu_ls=$(awk -v a="$cpu0_ls" -v b="$cpu1_ls" -v n="$adds_ls" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / n / 1000; else print "nan" }')
cpu_lb=$(awk -v a="$cpu0_lb" -v b="$cpu1_lb" -v n="$adds_lb" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / n / 1000; else print "nan" }')
# per add: delta of /proc/PID/io field $2 of server $1 (ls or lb)
per_add() {
	eval "a=\$io0_$1_$2 b=\$io1_$1_$2 n=\$adds_$1"
	awk -v a="$a" -v b="$b" -v n="$n" -v d="${3:-1}" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / n / d; else print "nan" }'
}

# --- 3. memory ---------------------------------------------------------------
rss_small=$(status_kb "$ls_pid" VmRSS) hwm_small=$(status_kb "$ls_pid" VmHWM)
rss_big=$(status_kb "$lb_pid" VmRSS) hwm_big=$(status_kb "$lb_pid" VmHWM)
stop "$ls_pid"
stop "$lb_pid"
added_small=$(($(sqlite3 "$tmp/lat-small/store.db" 'SELECT count(*) FROM peers') - peers_small))
added_big=$(($(sqlite3 "$tmp/big/store.db" 'SELECT count(*) FROM peers') - peers_big))
db_big_end=$(du -k "$tmp/big/store.db" | cut -f1)
echo "bench/api: the server with its default options (a scheduled backup at start)"
backup_run bk-small "$tmp/lat-small"
bks_secs=$bk_secs bks_rss=$bk_rss bks_hwm=$bk_hwm bks_size=$bk_size
backup_run bk-big "$tmp/big"
bkb_secs=$bk_secs bkb_rss=$bk_rss bkb_hwm=$bk_hwm bkb_size=$bk_size

# --- report ------------------------------------------------------------------
m() { median "$1" "$2" | awk '{ if ($1 == "nan") print; else if ($1 < 100) printf "%.3f\n", $1; else printf "%.0f\n", $1 }'; }
row1() { # request mode
	c=ceiling-$1-$2 s=server-$1-$2
	printf '| %s | %s | %s | %s | **%s** | %s / %s / %s | %s / %s |\n' \
		"$([ "$1" = get ] && echo "GET /v1/pod/peers" || echo "POST /v1/pod/peers")" \
		"$([ "$2" = tls ] && echo "HTTPS" || echo "HTTP (--insecure)")" \
		"$(fmt0 "$(m "$c" rps)")" "$(fmt0 "$(m "$s" rps)")" "$(ratio "$(m "$s" rps)" "$(m "$c" rps)")" \
		"$(m "$s" p50_ms)" "$(m "$s" p90_ms)" "$(m "$s" p99_ms)" "$(m "$c" p50_ms)" "$(m "$c" p99_ms)"
}
table1=$(cat <<EOT
| request | transport | ceiling req/s | server req/s | server / ceiling | server p50 / p90 / p99 ms | ceiling p50 / p99 ms |
|---|---|---:|---:|---:|---:|---:|
$(row1 get tls)
$(row1 get plain)
$(row1 post tls)
$(row1 post plain)
| reference: 16 KiB append + \`fdatasync()\` (2 s after each POST run) | | | $(fmt0 "$(m fsync-p1 rps)")/s | | $(m fsync-p1 p50_ms) / $(m fsync-p1 p90_ms) / $(m fsync-p1 p99_ms) | |
EOT
)
row2() { # label peers db_kb cpu_us
	printf '| %s | %s MB | %s | %s | %s | %s | %s | %s |\n' "$(thou "$2")" \
		"$(awk -v k="$3" 'BEGIN { printf "%.0f", k / 1024 }')" \
		"$(m "$1" p50_ms)" "$(m "$1" p90_ms)" "$(m "$1" p99_ms)" "$(m "$1" max_ms)" "$(fmt0 "$(m "$1" rps)")" "$4"
}
table2=$(cat <<EOT
| peers in the database at the start | database file | add p50 ms | p90 ms | p99 ms | max ms | adds/s (1 connection) | server CPU per add, µs |
|---:|---:|---:|---:|---:|---:|---:|---:|
$(row2 add-small "$peers_small" "$db_small" "$cpu_ls")
$(row2 add-big "$peers_big" "$db_big" "$cpu_lb")
| ratio big / small | $(ratio "$db_big" "$db_small") | **$(ratio "$(m add-big p50_ms)" "$(m add-small p50_ms)")** | **$(ratio "$(m add-big p90_ms)" "$(m add-small p90_ms)")** | **$(ratio "$(m add-big p99_ms)" "$(m add-small p99_ms)")** | | $(ratio "$(m add-big rps)" "$(m add-small rps)") | $(ratio "$cpu_lb" "$cpu_ls") |
| reference: 16 KiB append + \`fdatasync()\` on the same disk | | $(m fsync p50_ms) | $(m fsync p90_ms) | $(m fsync p99_ms) | $(m fsync max_ms) | $(fmt0 "$(m fsync rps)") | |
EOT
)
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
table3=$(cat <<EOT
| server on | serving (after the latency runs): VmRSS / VmHWM MB | default options: scheduled backup at start, seconds | backup file MB | after the backup: VmRSS / VmHWM MB |
|---|---:|---:|---:|---:|
| $(thou "$peers_small") peers | $(mb "$rss_small") / $(mb "$hwm_small") | $bks_secs | $(mb $((bks_size / 1024))) | $(mb "$bks_rss") / $(mb "$bks_hwm") |
| $(thou "$peers_big") peers | $(mb "$rss_big") / $(mb "$hwm_big") | $bkb_secs | $(mb $((bkb_size / 1024))) | $(mb "$bkb_rss") / $(mb "$bkb_hwm") |
EOT
)
fill_line="$(thou "$(fv big fill_peers)") peers in $(thou "$(fv big fill_pods)") pods filled in $(fv big fill_seconds) s ($(fv big fill_per_s) adds/s; first tenth $(fv big fill_first_tenth_per_s)/s, last tenth $(fv big fill_last_tenth_per_s)/s), copied to disk in $(fv big copy_seconds) s"
pos_line="$(fv big fill_add_us_pod_first_tenth) µs per add into a pod's first tenth of addresses, $(fv big fill_add_us_pod_last_tenth) µs into its last tenth"

echo
echo "$table1"
echo
echo "$table2"
echo
echo "$table3"
echo
echo "fill: $fill_line"
echo "fill: $pos_line"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo "per add (small / big): read syscalls $(per_add ls syscr) / $(per_add lb syscr), KiB read $(per_add ls rchar 1024) / $(per_add lb rchar 1024), write syscalls $(per_add ls syscw) / $(per_add lb syscw), KiB written $(per_add ls wchar 1024) / $(per_add lb wchar 1024), KiB to disk $(per_add ls write_bytes 1024) / $(per_add lb write_bytes 1024)"
[ -n "$profile" ] && echo "profile: $profile"
echo "fsync reference during the POST runs: p50 $(m fsync-p1 p50_ms) ms, p90 $(m fsync-p1 p90_ms) ms; during the latency runs: p50 $(m fsync p50_ms) ms, p90 $(m fsync p90_ms) ms"
echo "scheduled backup at start: small $bks_secs s, big $bkb_secs s; peak VmHWM small $(mb "$bks_hwm") MB, big $(mb "$bkb_hwm") MB (database file $(mb "$db_big_end") MB); VmRSS after it: $(mb "$bkb_rss") MB"
echo "server start on the big database: $start_big s; POST 201s vs rows: TLS $ok_tls/$inserted_tls, plain $ok_plain/$inserted_plain"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
fs=$(findmnt -no FSTYPE,SOURCE -T "$tmp" 2>/dev/null | tr -s ' ' || echo unknown)
mhd=$(pkg-config --modversion libmicrohttpd 2>/dev/null || echo "?")
gnutls=$(pkg-config --modversion gnutls 2>/dev/null || echo "?")
sqlite=$(sqlite3 --version 2>/dev/null | cut -d' ' -f1)
wrkv=$(wrk -v 2>&1 | head -n1 | cut -d' ' -f2)
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
r_tls=$(ratio "$(m server-get-tls rps)" "$(m ceiling-get-tls rps)")
r_plain=$(ratio "$(m server-get-plain rps)" "$(m ceiling-get-plain rps)")
if ge "$r_tls" 0.5 && ge "$r_plain" 0.5; then
	get_verdict="**GET target (at least half of the ceiling): met** ($r_tls over HTTPS, $r_plain over HTTP)."
else
	get_verdict="**GET target (at least half of the ceiling): NOT met**: $r_tls of the ceiling over HTTPS, $r_plain over HTTP."
fi
r50=$(ratio "$(m add-big p50_ms)" "$(m add-small p50_ms)")
r90=$(ratio "$(m add-big p90_ms)" "$(m add-small p90_ms)")
r99=$(ratio "$(m add-big p99_ms)" "$(m add-small p99_ms)")
flat() { if ge 1.25 "$1"; then echo "flat ($1x)"; else echo "**grows** ($1x)"; fi; }
add_verdict="With $(thou "$peers_big") peers instead of $(thou "$peers_small"), the median add is $(flat "$r50"), p90 $(flat "$r90"), p99 $(flat "$r99") (\"flat\": at most 1.25x; the disk's own latency moves more than that between runs, see the reference row)."
echo "$get_verdict" | tr -d '*'
echo "$add_verdict" | tr -d '*'
report="$top/docs/PERFORMANCE.md"
section=$(cat <<EOT
<!-- bench/api:begin -->
## HTTP API (\`bench/api\`)

Measured $(date -u +%Y-%m-%d) on $(nproc) cores of "$cpu", $(uname -r),
commit $commit,
plain build (no sanitizers), libmicrohttpd $mhd, GnuTLS $gnutls, SQLite $sqlite,
wrk $wrkv, databases on $fs. Produced by \`bench/api/run.sh\` (one command;
\`bench/api/fill.c\` fills databases through the store library,
\`bench/api/ceiling.c\` is the reference server, \`bench/api/get.lua\` and
\`bench/api/post.lua\` drive wrk, \`bench/api/fsync.py\` is the disk's
reference). Medians of $runs runs of $dur s each.

**Method.** Everything on loopback; wrk (1 thread, keep-alive) and the
server share the machine's $(nproc) cores. myrelay-server runs with
\`--rate 0\` (rate limit off: the default, 10 requests/s per address with
a burst of 40, would answer 429 to nearly every request of the benchmark)
\`--max-connections-per-ip 4096\` and \`--backup-interval 0\` (no scheduled
backup during the runs; the memory section measures one); otherwise its defaults (TLS 1.3 with
its own ECDSA P-256 certificate, or \`--insecure\`). The ceiling is a bare
libmicrohttpd program in the server's threading mode (one internal
\`poll()\` thread, suspend/resume allowed), with the same certificate and
GnuTLS priority string, answering every request with the bytes the server
answered ($get_bytes-byte GET body, $post_bytes-byte POST body) and the same
headers. Runs are interleaved (ceiling, server, ceiling, server...) so
that drift of the shared machine hits both. Load average (1, 5, 15 min) at
the start: $load_start; at the end: $load_end (other jobs share the machine).

- GET: \`GET /v1/pod/peers\` with a pod token, the pod holding 10 peers:
  rate check, routing, token verification (SHA-256 lookup), the store's
  peer list (a read transaction) and its JSON.
- POST: \`POST /v1/pod/peers\` with a pod token, a new peer per request (a
  unique name and a fresh public key from 100,000 keys made by libmyrelay),
  $per_pod peers per pod and then the next pod (pods are never reused, so
  pods are on average half full); each add is one SQLite write transaction
  with \`synchronous=FULL\`, i.e. an fsync of the WAL on the disk above.
  The database starts with $(thou "$small") peers. Every 201 was checked against the
  rows in the database afterwards (TLS: $ok_tls answers, $inserted_tls rows;
  plain: $ok_plain answers, $inserted_plain rows).

### Throughput, $conns connections

$table1

$get_verdict The POST ceiling only bounds the transport: a peer add is a
durable write (one SQLite transaction and an \`fdatasync()\` of its WAL),
so its throughput follows the disk, shown by the reference row measured in
the same period.

### Peer-add latency against the database size

Two servers (TLS), one on a database of $(thou "$small") peers and one on
$(thou "$big") peers, measured alternately (small, big, big, small, ...) with one
connection (one request at a time), medians of $lat_runs runs of $lat_dur s
each: \`POST /v1/pod/peers\` as above; after each pair of runs, 2 s of the
fsync reference (\`bench/api/fsync.py\`: the disk's write barrier, the floor
under a committed add); the runs added $(thou "$added_small")
and $(thou "$added_big") peers to the two databases. The large database is filled with
the store library's own \`mr_store_peer_add()\` (one transaction per peer,
across $(fv big fill_pods) pods of 250 peers on $(layout "$big" | cut -d' ' -f1)
nodes, one pod per customer and node) on tmpfs, because the API would need
an fsync per peer, then copied to disk: $fill_line. The server started on
it (until it listened) in $start_big s.

$table2

$add_verdict

What one peer add costs the server in system calls and bytes
(\`/proc/PID/io\` over the latency runs, divided by the adds):

| peers in the database | read syscalls | KiB read (page cache or disk) | write syscalls | KiB written by them | KiB of page cache dirtied (\`write_bytes\`: written back to the disk) |
|---:|---:|---:|---:|---:|---:|
| $(thou "$peers_small") | $(per_add ls syscr) | $(per_add ls rchar 1024) | $(per_add ls syscw) | $(per_add ls wchar 1024) | $(per_add ls write_bytes 1024) |
| $(thou "$peers_big") | $(per_add lb syscr) | $(per_add lb rchar 1024) | $(per_add lb syscw) | $(per_add lb wchar 1024) | $(per_add lb write_bytes 1024) |

### Memory

VmRSS and VmHWM (\`/proc/PID/status\`) of the two servers after the latency
runs (scheduled backups off, as in all the runs above); then of a server
started with its default options on each database (afterwards, so the
peers added by the runs are in it), which makes its first scheduled backup
at start (\`--backup-interval\`, default 24h, "the first is made at start
unless the newest backup in --backup-dir is younger than that"), measured
1 s after the log says the backup was written.

$table3

### Notes

- ${profile:-No profile (perf missing or not permitted).}
- Scheduled backup: on the $(thou "$peers_big")-peer database (file
  $(mb "$db_big_end") MB by then) the server's peak memory during its backup is
  $(mb "$bkb_hwm") MB, $(ratio "$bkb_hwm" "$db_big_end") times the database file, and its resident
  memory stays at $(mb "$bkb_rss") MB afterwards. \`mr_store_backup()\`
  (\`libmyrelay/store-backup.c\`) holds the whole database in memory at once:
  \`snapshot()\` copies it into an in-memory SQLite database, serialises that
  (a second copy), copies the serialisation (a third), and the encryption
  writes a fourth buffer.
- The cost of a peer add grows with the number of peers already in the
  *pod* (not the database): the store allocates the next address by reading
  and parsing every peer address of the pod (\`alloc_addresses()\` in
  \`libmyrelay/store-peer.c\`). Measured in the fill, without fsync:
  $pos_line. With /24 pods (253 peers at most) that is bounded; a pod
  given a much larger subnet would pay it per add.
<!-- bench/api:end -->
EOT
)
if [ ! -f "$report" ]; then
	printf '# Performance\n\nEvery figure here is produced by a script under `bench/`, which compares\nagainst a reference measured in the same run and rewrites its own section.\nThese machines are shared and noisy: read ratios, not absolute numbers.\n\n' >"$report"
fi
if grep -q '<!-- bench/api:begin -->' "$report"; then
	printf '%s\n' "$section" >"$tmp/section"
	awk -v f="$tmp/section" '
		/<!-- bench\/api:begin -->/ { while ((getline l < f) > 0) print l; skip = 1; next }
		/<!-- bench\/api:end -->/ { skip = 0; next }
		!skip { print }' "$report" >"$tmp/report" && cat "$tmp/report" >"$report"
else
	printf '\n%s\n' "$section" >>"$report"
fi
echo "bench/api: report written to docs/PERFORMANCE.md"

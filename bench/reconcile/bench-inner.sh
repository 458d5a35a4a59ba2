#!/bin/sh
# SPDX-License-Identifier: MIT
# One backend's part of bench/reconcile, run by run.sh: on the host inside a
# network namespace (userspace backend, wireguard-go), or inside the kernel
# VM (kernel backend). Prints "RB BACKEND N METRIC VALUE" lines on stdout and
# progress on stderr.
#
#   bench-inner.sh DRIVER BACKEND WORKDIR RUNS N:PERPEER_RUNS...
#
# For each N: RUNS runs of set, sync, setconf, addone and pod (interleaved,
# so that the noise of a shared machine falls on all of them alike), the
# first PERPEER_RUNS of them with perpeer too (one process per peer takes
# minutes), and the first with teardown when N <= 1000 (a kernel link
# deleted with its peers is slow: see reconcile-driver.c).
set -eu
drv=$1 backend=$2 work=$3 runs=$4
shift 4
ifname=mrbench$$
ifname=$(printf '%.15s' "$ifname")
for spec in "$@"; do
	n=${spec%%:*} pruns=${spec#*:}
	conf=$work/peers-$n.conf
	[ -f "$conf" ] || "$drv" gen "$n" 20261125 "$conf"
	i=0
	while [ $i -lt "$runs" ]; do
		i=$((i + 1))
		modes="set sync setconf addone pod"
		[ $i -gt "$pruns" ] || modes="$modes perpeer"
		[ $i -ne 1 ] || [ "$n" -gt 1000 ] || modes="$modes teardown"
		for mode in $modes; do
			t0=$(date +%s)
			# a failed measurement fails the whole run: no figure is made up
			"$drv" -b "$backend" "$ifname" "$mode" "$conf" >"$work/out" || {
				echo "RB-FAIL $backend $n $mode" >&2
				exit 1
			}
			awk -v b="$backend" -v n="$n" '$1 != "peers" { print "RB", b, n, $1, $2 }' \
				"$work/out"
			echo "RB-PROGRESS $backend N=$n run $i/$runs: $mode ($(($(date +%s) - t0)) s)" >&2
		done
	done
done

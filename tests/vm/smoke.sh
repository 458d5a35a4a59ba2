#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Kernel VM tier smoke test: boots the Debian kernel under QEMU and runs
# tests/vm/vm_smoke inside (WireGuard link over rtnetlink, the "wireguard"
# generic netlink family, an nftables table over nfnetlink).
#
# MR_VM_SMOKE_NEGATIVE=1 runs the self-check instead: the same VM without
# wireguard.ko, where vm_smoke must fail (so the test can fail at all).
set -eu
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
run=$top_srcdir/tests/vm/run.sh
prog=$top_builddir/tests/vm/vm_smoke
[ -x "$prog" ] || { echo "smoke: $prog is not built (make check builds it)" >&2; exit 99; }

if [ "${MR_VM_SMOKE_NEGATIVE:-0}" = 1 ]; then
	rc=0
	"$run" --no-default-modules --module nf_tables --bin "$prog" -- smoke=vm_smoke || rc=$?
	if [ $rc -eq 1 ]; then
		echo "smoke: vm_smoke failed without wireguard.ko, as it must"
		exit 0
	fi
	echo "smoke: without wireguard.ko the run must fail (exit 1), it exited $rc"
	exit 1
fi
exec "$run" --bin "$prog" -- smoke=vm_smoke

#!/bin/sh
# SPDX-License-Identifier: MIT
# The wg module's kernel backend under a real WireGuard kernel module, in the
# kernel VM tier (tests/vm/README.md): tests/vm/wg_kernel_test (10,000 peers
# over many messages and dumps, flags, sync, kernel vs wireguard-go, a tunnel
# between two namespaces) and tests/vm/wg-kernel-vs-wg.sh (libmyrelay vs
# wg(8)). run.sh exits 77 with a loud banner when the tier cannot run here.
set -eu
for p in wg ip wireguard-go; do
	command -v "$p" >/dev/null 2>&1 || {
		echo "SKIP: $p is not installed (tests/deps.sh installs it)"; exit 77; }
done
# Instrumented code under TCG is slow: the comparison with wg(8) (which
# mainly gives a timing) uses fewer peers there; wg_kernel_test keeps 10,000.
peers=10000
[ -z "${SANITIZER_FLAGS:-}" ] || peers=2000
exec "$top_srcdir/tests/vm/run.sh" --module tun --timeout 600 --test-timeout 300 \
	--env MR_WG_VS_WG_PEERS=$peers \
	--bin "$top_builddir/tests/vm/wg_kernel_test" \
	--bin "$top_builddir/tests/wg_tool" \
	--bin "$top_srcdir/tests/vm/wg-kernel-vs-wg.sh" \
	--bin "$(command -v wg)" --bin "$(command -v ip)" --bin "$(command -v wireguard-go)" \
	-- wg-kernel=wg_kernel_test wg-vs-wg=wg-kernel-vs-wg.sh

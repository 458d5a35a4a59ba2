#!/bin/sh
# SPDX-License-Identifier: MIT
# The firewall module on Debian's own kernel (tests/vm: QEMU with an
# initramfs): the whole Check suite (private namespaces, libnftnl read-back)
# and fw-kernel-inner.sh (nft listings, real pings, counters). Exit status
# as tests/vm/run.sh: 0 pass, 1 fail, 77 when the VM tier cannot run here.
set -eu
exec "$top_srcdir/tests/vm/run.sh" \
	--bin "$top_builddir/tests/check_fw" \
	--bin "$top_builddir/tests/fw_tool" \
	--bin "$top_srcdir/tests/fw-kernel-inner.sh" \
	--bin /usr/sbin/nft --bin /usr/sbin/ip \
	--module nft_objref \
	-- check_fw=check_fw 'nft=fw-kernel-inner.sh'

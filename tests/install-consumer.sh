#!/bin/sh
# SPDX-License-Identifier: MIT
# Install into a scratch DESTDIR, then build and run a third-party program
# with nothing but `pkg-config --cflags --libs libmyrelay` from that copy.
set -e
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$top_builddir"
${MAKE:-make} install DESTDIR="$tmp/root" >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log"; echo "FAIL: make install"; exit 1; }
pcdir=$(find "$tmp/root" -name libmyrelay.pc -printf '%h\n' | head -n1)
[ -n "$pcdir" ] || { echo "FAIL: libmyrelay.pc not installed"; exit 1; }
so=$(find "$tmp/root" -name 'libmyrelay.so.0' | head -n1)
[ -n "$so" ] || { echo "FAIL: libmyrelay.so.0 not installed"; exit 1; }
for h in myrelay.h error.h key.h cidr.h token.h conf.h name.h ctx.h store.h link.h wg.h fw.h api.h pod.h state.h version.h; do
	find "$tmp/root" -path "*/include/myrelay/$h" | grep -q . ||
		{ echo "FAIL: header myrelay/$h not installed"; exit 1; }
done
export PKG_CONFIG_SYSROOT_DIR="$tmp/root" PKG_CONFIG_PATH="$pcdir"
flags=$(pkg-config --cflags --libs libmyrelay)
echo "pkg-config: $flags"
# shellcheck disable=SC2086
${CC:-cc} $SANITIZER_FLAGS -o "$tmp/consumer" "$top_srcdir/tests/consumer.c" $flags
LD_LIBRARY_PATH=$(dirname "$so") "$tmp/consumer"
# The SONAME must be libmyrelay.so.0.
readelf -d "$so" | grep -q 'SONAME.*\[libmyrelay\.so\.0\]' || { echo "FAIL: SONAME"; exit 1; }
echo "ok: consumer built and ran against the installed copy"

#!/bin/sh
# SPDX-License-Identifier: MIT
# Constant-time check of the key module's base64 coder and comparisons under
# valgrind memcheck (see key_ct.c): no branch and no memory address may
# depend on key bytes, except the places listed in key-ct.supp.
set -e
if [ -n "$SANITIZER_FLAGS" ]; then
	echo "SKIP: sanitizer build; valgrind cannot run ASan binaries (the normal build runs this)"
	exit 77
fi
if ! command -v valgrind >/dev/null 2>&1; then
	echo "##################################################################"
	echo "SKIP: valgrind is not installed; constant-time code NOT checked."
	echo "apt-get install valgrind"
	echo "##################################################################"
	exit 77
fi
tool="$top_builddir/tests/key_ct"
vg() {
	valgrind --quiet --error-exitcode=99 --track-origins=yes \
		--suppressions="$top_srcdir/tests/key-ct.supp" "$@"
}

# The harness must be able to see a secret-dependent table lookup.
rc=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
vg "$tool" control >"$out" 2>&1 || rc=$?
if [ "$rc" -eq 77 ]; then
	echo "SKIP: key_ct was built without <valgrind/memcheck.h> (apt-get install valgrind)"
	exit 77
fi
if [ "$rc" -ne 99 ]; then
	cat "$out"
	echo "FAIL: valgrind did not flag the control (exit $rc): the harness is blind"
	exit 1
fi

rc=0
vg "$tool" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "FAIL: secret-dependent branch or index in the key module (exit $rc)"
	exit 1
fi
echo "key-ct: no secret-dependent branch or index found"

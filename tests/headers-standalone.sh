#!/bin/sh
# SPDX-License-Identifier: MIT
# Every public header must compile on its own as C99 -pedantic -Werror and as
# C++ (-pedantic -Werror), and declare nothing that breaks either.
set -e
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
n=0
for h in "$top_srcdir"/include/myrelay/*.h "$top_builddir"/include/myrelay/version.h; do
	name=$(basename "$h")
	printf '#include <myrelay/%s>\n#include <myrelay/%s>\nint mr_test_dummy;\n' "$name" "$name" > "$tmp/t.c"
	cp "$tmp/t.c" "$tmp/t.cc"
	n=$((n + 1))
	if ! ${CC:-cc} -std=c99 -pedantic -Werror -Wall -Wextra -fsyntax-only \
		-I"$top_srcdir/include" -I"$top_builddir/include" "$tmp/t.c"; then
		echo "FAIL: $name does not compile alone as C99"; fail=1
	fi
	if ! ${CXX:-c++} -std=c++11 -pedantic -Werror -Wall -Wextra -fsyntax-only \
		-I"$top_srcdir/include" -I"$top_builddir/include" "$tmp/t.cc"; then
		echo "FAIL: $name does not compile alone as C++"; fail=1
	fi
	# Only the allowed system headers may be included.
	if grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*<' "$h" |
		grep -vE '<(stdint|stddef|stdbool|sys/types)\.h>|<myrelay/[a-z_]+\.h>' ; then
		echo "FAIL: $name includes a header outside the allowed set"; fail=1
	fi
done
echo "checked $n headers as C99 and C++"
exit $fail

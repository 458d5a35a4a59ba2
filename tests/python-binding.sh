#!/bin/sh
# SPDX-License-Identifier: MIT
# Run the Python binding's tests against the freshly built library.
set -e
cd "$top_srcdir/bindings/python"
export PYTHONPATH="$top_srcdir/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "$SANITIZER_FLAGS" ] && [ -n "$ASAN_RUNTIME" ]; then
	# The interpreter is not instrumented: preload the ASan runtime and leave
	# leak checking to the C suites (CPython keeps memory until exit).
	export LD_PRELOAD="$ASAN_RUNTIME${LD_PRELOAD:+ $LD_PRELOAD}"
	export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
exec "${PYTHON:-python3}" -m unittest discover -s tests -v

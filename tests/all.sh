#!/bin/sh
# SPDX-License-Identifier: MIT
# The full test run (what the README's second command and CI execute):
#   1. install packages (tests/deps.sh, needs root),
#   2. plain build + every test tier (`make check`),
#   3. the same under AddressSanitizer + UndefinedBehaviorSanitizer,
#   4. `make distcheck` (the release tarball builds and passes on its own).
# Build trees go to _build/ in the source tree. Set MR_SKIP_DEPS=1 to skip
# step 1 and MR_SKIP_DISTCHECK=1 to skip step 4 when iterating locally.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
# Tiers that cannot run here must fail the full run, not skip quietly: the
# packages they need are installed by tests/deps.sh.
export MR_VM_REQUIRE="${MR_VM_REQUIRE:-1}"
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
log=$top/_build/logs
start=$(date +%s)

step() { printf '\n==== %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }

if [ "${MR_SKIP_DEPS:-0}" != 1 ]; then
	step "installing packages"
	sh tests/deps.sh
fi

step "autogen"
mkdir -p "$log"
./autogen.sh >"$log/autogen.log" 2>&1 || { cat "$log/autogen.log"; exit 1; }

status=0
run_tier() {
	name=$1; shift
	dir=$top/_build/$name
	step "$name: configure $*"
	rm -rf "$dir"; mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@") || return 1
	step "$name: build"
	(cd "$dir" && make -j"$jobs" >"$log/$name-make.log" 2>&1) ||
		{ tail -50 "$log/$name-make.log"; return 1; }
	step "$name: make check"
	if (cd "$dir" && make -j"$jobs" check >"$log/$name-check.log" 2>&1); then
		grep -E '^(PASS|SKIP|XFAIL)' "$log/$name-check.log" || true
	else
		grep -E '^(PASS|FAIL|ERROR|SKIP|XFAIL|XPASS)' "$log/$name-check.log" || true
		for f in $(find "$dir/tests" -name '*.log' ! -name test-suite.log); do
			if grep -qE '^(FAIL|ERROR)' "$f" 2>/dev/null; then
				echo "---- $f"; tail -60 "$f"
			fi
		done
		return 1
	fi
}

count() {
	# tally the automake results of a build tree into the totals
	f=$top/_build/$1/test-suite.log
	[ -f "$f" ] || return 0
	p=$(sed -n 's/^# PASS: *//p' "$f"); s=$(sed -n 's/^# SKIP: *//p' "$f")
	fl=$(sed -n 's/^# FAIL: *//p' "$f"); e=$(sed -n 's/^# ERROR: *//p' "$f")
	passed=$((passed + ${p:-0})); skipped=$((skipped + ${s:-0}))
	failed=$((failed + ${fl:-0} + ${e:-0}))
}

passed=0; failed=0; skipped=0
run_tier plain || status=1
count plain
run_tier sanitizers --enable-sanitizers || status=1
count sanitizers

if [ "${MR_SKIP_DISTCHECK:-0}" != 1 ] && [ $status -eq 0 ]; then
	step "distcheck"
	if (cd "$top/_build/plain" && make -j"$jobs" distcheck >"$log/distcheck.log" 2>&1); then
		grep -A2 'archives ready' "$log/distcheck.log" | head -3
	else
		tail -80 "$log/distcheck.log"; status=1; failed=$((failed + 1))
	fi
fi

step "done"
if [ "$skipped" -gt 0 ]; then
	echo "WARNING: $skipped test(s) skipped; see the SKIP lines above for why"
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status

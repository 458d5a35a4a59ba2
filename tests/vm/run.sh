#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Kernel VM test tier: run test programs under a Debian kernel that has the
# WireGuard and nftables modules, booted with QEMU (TCG), and report their
# results. See tests/vm/README.md.
#
# Usage: run.sh [options] [--] NAME=COMMAND...
#   NAME=COMMAND           a test: COMMAND runs under `sh` inside the VM, as root,
#                          in a fresh directory; exit 0 pass, 77 skip, else fail.
#                          NAME is [A-Za-z0-9_.+-]+ ("kernel-log" is reserved).
#   --bin SRC[:DEST]       copy a program into the VM with its shared libraries;
#                          a libtool wrapper is replaced by its real program.
#                          DEST defaults to /mrvm/bin/BASENAME (on the VM's PATH)
#   --file SRC[:DEST]      copy a file or directory as is (default /mrvm/files/BASENAME)
#   --env VAR=VALUE        export VAR to every test
#   --module NAME          load another kernel module (with its dependencies)
#   --no-default-modules   load only the --module ones (default set: see mkinitramfs.sh)
#   --timeout SEC          host-side limit for the whole VM run (default 300)
#   --test-timeout SEC     limit for each test inside the VM (default 120)
#   --memory MB            guest memory (default 1024)
#   --smp N                guest CPUs (default 2)
#   --append ARGS          more kernel command line
#   --log FILE             also keep the console log in FILE
#   -v, --verbose          stream the console to stderr while the VM runs
#   -q, --quiet            do not print the output of tests that passed
# Environment: MR_VM_CACHE (kernel cache, see fetch-kernel.sh), MR_VM_QEMU
# (default qemu-system-x86_64), MR_VM_ACCEL (default tcg), MR_VM_REQUIRE=1
# (exit 99 instead of 77 when the tier cannot run), TMPDIR.
#
# Prints `PASS: NAME`, `FAIL: NAME (exit N)` or `SKIP: NAME` per test (each
# after the test's output) and a summary line. Exit status: 0 every test
# passed; 1 a test failed, or the VM did not finish (timeout, crash); 77 the
# tier cannot run here (no QEMU, no kernel, no busybox) or a test skipped and
# none failed; 2 usage error; 99 the tier cannot run and MR_VM_REQUIRE=1.
set -eu
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
me=vm

usage() {
	echo "usage: $0 [--bin SRC[:DEST]] [--file SRC[:DEST]] [--env VAR=VALUE] [--module M]" \
		"[--no-default-modules] [--timeout SEC] [--test-timeout SEC] [--memory MB]" \
		"[--smp N]" \
		"[--append ARGS] [--log FILE] [-v] [-q] [--] NAME=COMMAND..." >&2
	exit 2
}
skip() {
	echo "$me: ****************************************************************" >&2
	echo "$me: SKIP: kernel VM tier cannot run: $*" >&2
	echo "$me: ****************************************************************" >&2
	# Where the tier must run (CI installs everything it needs), a machine
	# that cannot run it is an error, not a skip.
	[ "${MR_VM_REQUIRE:-0}" = 1 ] && exit 99
	exit 77
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now)
timeout=300 memory=1024 smp=2 append='' logcopy='' verbose=0 quiet=0
mkargs='' ntests=0 names=''
nl='
'
# mkinitramfs.sh arguments are collected NUL-free, one per line, and handed
# over with `set --` below, so values may hold spaces and quotes (not newlines).
add() { mkargs="$mkargs$1$nl"; }
while [ $# -gt 0 ]; do
	case $1 in
	--bin|--file|--env|--module|--test-timeout)
		[ $# -ge 2 ] || usage; add "$1"; add "$2"; shift 2 ;;
	--no-default-modules) add "$1"; shift ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--memory) [ $# -ge 2 ] || usage; memory=$2; shift 2 ;;
	--smp) [ $# -ge 2 ] || usage; smp=$2; shift 2 ;;
	--append) [ $# -ge 2 ] || usage; append="$append $2"; shift 2 ;;
	--log) [ $# -ge 2 ] || usage; logcopy=$2; shift 2 ;;
	-v|--verbose) verbose=1; shift ;;
	-q|--quiet) quiet=1; shift ;;
	-h|--help) sed -n '4,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
for t in "$@"; do
	case $t in *=*) ;; *) echo "$me: a test is NAME=COMMAND, got '$t'" >&2; usage ;; esac
	case $t in *"$nl"*) echo "$me: newline in test '${t%%=*}'" >&2; exit 2 ;; esac
	add --test; add "$t"
	names="$names ${t%%=*}"
	ntests=$((ntests + 1))
done
[ $ntests -gt 0 ] || usage
case $timeout in ''|*[!0-9]*) usage ;; esac

qemu=${MR_VM_QEMU:-qemu-system-x86_64}
command -v "$qemu" >/dev/null 2>&1 ||
	skip "$qemu not found (Debian package qemu-system-x86; tests/deps.sh installs it)"
command -v timeout >/dev/null || skip "timeout (coreutils) not found"

work=$(mktemp -d "${TMPDIR:-/tmp}/mrvm.XXXXXX")
qpid='' tpid=''
cleanup() {
	# Never leave a VM behind: the harness may be interrupted or time out.
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null || true
		sleep 1
		kill -KILL "$qpid" 2>/dev/null || true
		wait "$qpid" 2>/dev/null || true
	fi
	[ -n "$tpid" ] && kill "$tpid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- kernel
rc=0
kinfo=$("$here/fetch-kernel.sh") || rc=$?
if [ $rc -ne 0 ]; then
	[ $rc -eq 77 ] && skip "no Debian kernel (see fetch-kernel messages above)"
	exit 1
fi
kver='' vmlinuz='' modroot=''
eval "$kinfo"
t1=$(now)

# --- initramfs
rc=0
old_ifs=$IFS; IFS=$nl
set -f
# shellcheck disable=SC2086
set -- $mkargs
set +f
IFS=$old_ifs
"$here/mkinitramfs.sh" -o "$work/initrd.gz" --kver "$kver" --modroot "$modroot" "$@" || rc=$?
if [ $rc -ne 0 ]; then
	[ $rc -eq 77 ] && skip "cannot build the initramfs (see above)"
	exit 1
fi
t2=$(now)

# --- boot
log=$work/console.log
: >"$log"
# timeout(1) bounds the VM even if this script is killed outright.
timeout -k 5 "$timeout" "$qemu" -accel "${MR_VM_ACCEL:-tcg}" -cpu max -m "$memory" -smp "$smp" \
	-nographic -no-reboot -nic none \
	-kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet$append" </dev/null >"$log" 2>&1 &
qpid=$!
if [ $verbose = 1 ]; then
	tail -n +1 -f --pid="$qpid" "$log" >&2 &
	tpid=$!
fi
qrc=0
wait "$qpid" || qrc=$?
qpid=
t3=$(now)
if [ -n "$tpid" ]; then
	sleep 0.2
	kill "$tpid" 2>/dev/null || true
	wait "$tpid" 2>/dev/null || true
	tpid=''
fi
[ -z "$logcopy" ] || cp "$log" "$logcopy"

# --- results: the console without CRs and SeaBIOS's terminal escapes, and
# every marker at the start of a line (a test's output that ends without a
# newline would glue the next marker to it)
clean=$work/console.txt
tr -d '\r' <"$log" | sed -E -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' \
	-e 's/(.)(MRVM-(BOOTED|BEGIN|RESULT|DONE|MODULE-FAIL)( |$))/\1\n\2/g' >"$clean"

pass=0 fail=0 skipped=0
# The output of test $1: the lines between its BEGIN and RESULT markers (to
# the end of the console if it has no RESULT).
block() {
	awk -v n="$1" '$1 == "MRVM-BEGIN" && $2 == n && NF == 2 { on = 1; next }
		$1 == "MRVM-RESULT" && $2 == n { on = 0 } on' "$clean" | sed 's/^/  /'
}
report() {
	# $1 name; prints its output block then the verdict
	n=$1
	res=$(awk -v n="$n" '$1 == "MRVM-RESULT" && $2 == n' "$clean" | tail -n 1)
	if [ -z "$res" ]; then
		block "$n"
		echo "FAIL: $n (no result: the VM did not get to finish it)"
		fail=$((fail + 1))
		return
	fi
	set -- $res
	code=$3 secs=${4:-?} note=${5:-}
	if [ "$code" != 0 ] || [ $quiet = 0 ]; then
		block "$n"
	fi
	case $code in
	0) echo "PASS: $n (${secs} s)"; pass=$((pass + 1)) ;;
	77) echo "SKIP: $n (exit 77)"; skipped=$((skipped + 1)) ;;
	*) echo "FAIL: $n (exit $code${note:+, $note after ${secs} s})"; fail=$((fail + 1)) ;;
	esac
}
for n in $names kernel-log; do
	report "$n"
done

problem=
if grep -q '^MRVM-MODULE-FAIL' "$clean"; then
	grep '^MRVM-MODULE-FAIL' "$clean" | sed "s/^MRVM-MODULE-FAIL /FAIL: module did not load: /"
	fail=$((fail + 1))
fi
if ! grep -q '^MRVM-BOOTED ' "$clean"; then
	problem="the VM never reached /init"
elif ! grep -q '^MRVM-DONE' "$clean"; then
	problem="the VM stopped before MRVM-DONE"
fi
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
	problem="the VM timed out after $timeout s (--timeout)"
fi
if [ -n "$problem" ]; then
	echo "FAIL: $problem (qemu exit $qrc); last console lines:"
	tail -n 40 "$clean" | sed 's/^/  > /'
	fail=$((fail + 1))
elif [ $fail -gt 0 ] && [ $verbose = 0 ]; then
	echo "  (full console: rerun with -v or --log FILE)"
fi

booted=$(sed -n 's/^MRVM-BOOTED [^ ]* \([0-9.]*\).*/\1/p' "$clean")
echo "$me: kernel $kver; fetch $(elapsed "$t0" "$t1") s, initramfs $(elapsed "$t1" "$t2") s" \
	"($(du -k "$work/initrd.gz" | cut -f1) KiB), VM $(elapsed "$t2" "$t3") s" \
	"(guest reached /init at ${booted:-?} s), total $(elapsed "$t0" "$(now)") s"
echo "$me: $pass passed, $fail failed, $skipped skipped"
[ $fail -eq 0 ] || exit 1
[ $skipped -eq 0 ] || exit 77
exit 0

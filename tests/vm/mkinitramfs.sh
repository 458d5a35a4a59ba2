#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build the initramfs (cpio newc, gzip) of the kernel VM test tier: a static
# busybox, the kernel modules the tests need (with their dependencies), the
# test programs with their shared libraries, extra files, and an /init that
# loads the modules, runs every test and reports on the serial console:
#
#   MRVM-BOOTED <kernel release> <guest uptime in s>
#   MRVM-MODULE-FAIL <module path>        (a module that did not load)
#   MRVM-BEGIN <name>                     (the test's output follows)
#   MRVM-RESULT <name> <exit code> <seconds>[ timeout]
#   MRVM-DONE
#
# then powers the VM off. A pseudo-test named `kernel-log` fails when the
# kernel logged a BUG/WARNING/Oops while the tests ran.
#
# Usage: mkinitramfs.sh -o OUT --kver KVER --modroot DIR [options]
#   -o, --output FILE      the initramfs to write (gzip-compressed cpio)
#   --kver KVER            kernel release (e.g. 6.1.0-56-amd64)
#   --modroot DIR          tree holding lib/modules/KVER (fetch-kernel.sh's modroot)
#   --module NAME          also load module NAME (and its dependencies)
#   --no-default-modules   do not load the default set (see DEFAULT_MODULES)
#   --bin SRC[:DEST]       an ELF program, libtool wrapper or script; ELF programs
#                          get their shared libraries; DEST defaults to
#                          /mrvm/bin/BASENAME (/mrvm/bin is on the VM's PATH)
#   --file SRC[:DEST]      a file or directory copied as is; DEST defaults to
#                          /mrvm/files/BASENAME
#   --env VAR=VALUE        exported to every test
#   --test NAME=COMMAND    a test: COMMAND runs under `sh` in the VM, in a fresh
#                          directory /tmp/mrvm/NAME; NAME is [A-Za-z0-9_.+-]+
#   --test-timeout SEC     per-test time limit inside the VM (default 120)
# Environment: MR_VM_BUSYBOX (default: busybox on PATH, then /bin/busybox).
#
# Exit status: 0 ok, 77 a host tool is missing (busybox-static, cpio, kmod),
# 2 usage error, 1 anything else (unknown module, missing library...).
set -eu
PATH=$PATH:/usr/sbin:/sbin
export LC_ALL=C

# What the library's kernel paths need: WireGuard, nftables with NAT,
# conntrack, reject and fib expressions, veth for namespace plumbing.
DEFAULT_MODULES="wireguard nf_tables nft_ct nft_nat nft_masq nft_chain_nat nft_reject_inet
	nft_fib_inet nft_objref nf_conntrack nf_nat veth"

me=mkinitramfs
die() { echo "$me: error: $*" >&2; exit 1; }
skip() { echo "$me: SKIP: $*" >&2; exit 77; }
usage() { echo "usage: $0 -o OUT --kver KVER --modroot DIR [--module M] [--no-default-modules]" \
	"[--bin SRC[:DEST]] [--file SRC[:DEST]] [--env VAR=VALUE] [--test NAME=COMMAND]" \
	"[--test-timeout SEC]" >&2; exit 2; }
# Single-quote $1 for sh.
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

out='' kver='' modroot='' test_timeout=120 defaults=1
modules='' bins='' files='' envs='' tests=''
nl='
'
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || case $1 in --no-default-modules|-h|--help) ;; *) usage ;; esac
	case $1 in
	-o|--output) out=$2; shift 2 ;;
	--kver) kver=$2; shift 2 ;;
	--modroot) modroot=$2; shift 2 ;;
	--module) modules="$modules $2"; shift 2 ;;
	--no-default-modules) defaults=0; shift ;;
	--bin) bins="$bins$2$nl"; shift 2 ;;
	--file) files="$files$2$nl"; shift 2 ;;
	--env) case $2 in [A-Za-z_]*=*) ;; *) die "--env wants VAR=VALUE, got '$2'" ;; esac
		envs="$envs$2$nl"; shift 2 ;;
	--test) tests="$tests$2$nl"; shift 2 ;;
	--test-timeout) test_timeout=$2; shift 2 ;;
	-h|--help) sed -n '4,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
[ -n "$out" ] && [ -n "$kver" ] && [ -n "$modroot" ] || usage
case $test_timeout in ''|*[!0-9]*) die "--test-timeout wants whole seconds" ;; esac
[ $defaults = 1 ] && modules="$DEFAULT_MODULES $modules"
moddir=$modroot/lib/modules/$kver
[ -f "$moddir/modules.dep" ] || die "no modules.dep in $moddir (run fetch-kernel.sh)"

busybox=${MR_VM_BUSYBOX:-$(command -v busybox || echo /bin/busybox)}
[ -x "$busybox" ] || skip "busybox not found (Debian package busybox-static)"
for tool in cpio gzip modprobe depmod ldd; do
	command -v $tool >/dev/null ||
		skip "$tool not found (Debian packages cpio, gzip, kmod, libc-bin)"
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/mrvm-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 130' INT TERM HUP
mkdir -p "$stage/bin" "$stage/mrvm/bin" "$stage/mrvm/tests" "$stage/lib/modules/$kver"
: >"$stage/mrvm/modules"
: >"$stage/mrvm/libdirs"

is_elf() { [ "$(od -An -c -N4 "$1" 2>/dev/null | tr -d ' ')" = '177ELF' ]; }

# Copy a file to the same absolute path inside the image, once.
put_abs() {
	[ -e "$stage$1" ] && return 0
	mkdir -p "$stage$(dirname "$1")"
	cp -L "$1" "$stage$1"
}

# Copy the shared libraries of ELF program $1 (and its dynamic loader).
# $2: LD_LIBRARY_PATH the program runs with (libtool's). System libraries keep
# their host paths; others (the build tree's libmyrelay) go to /mrvm/lib, found
# through LD_LIBRARY_PATH built from /mrvm/libdirs (no ld.so.cache in the image).
copy_libs() {
	if ! deps=$(LD_LIBRARY_PATH=$2 ldd "$1" 2>&1); then
		case $deps in
		*"not a dynamic executable"*|*"statically linked"*) return 0 ;;
		*) die "ldd $1 failed: $deps" ;;
		esac
	fi
	case $deps in *"not found"*) die "$1: missing shared libraries:$nl$deps" ;; esac
	echo "$deps" | sed -n -e 's/^.*=> \(\/[^ ]*\) (0x.*$/\1/p' \
		-e 's/^[[:space:]]*\(\/[^ ]*\) (0x.*$/\1/p' |
	while read -r lib; do
		d=$(dirname "$lib")
		case $d in
		/lib/x86_64-linux-gnu|/usr/lib/x86_64-linux-gnu|/lib|/usr/lib|/lib64)
			put_abs "$lib" ;;
		*)
			# Not at the host path: the VM mounts a tmpfs on /tmp, which
			# would hide a build tree that lives there (a CI clone may).
			mkdir -p "$stage/mrvm/lib"
			[ -e "$stage/mrvm/lib/$(basename "$lib")" ] ||
				cp -L "$lib" "$stage/mrvm/lib/"
			grep -qxF /mrvm/lib "$stage/mrvm/libdirs" ||
				echo /mrvm/lib >>"$stage/mrvm/libdirs"
			;;
		esac
	done
}

# Where a libtool wrapper's real program is, and the LD_LIBRARY_PATH it sets.
# The wrapper is sourced in libtool's execute mode (what `libtool
# --mode=execute` does): it then computes both, relinking if it must, and
# does not exec the program.
lt_resolve() {
	magic=$(sed -n 's/^if test "\$libtool_install_magic" = "\(.*\)"; then$/\1/p' "$1" | head -n 1)
	[ -n "$magic" ] || die "$1: unrecognised libtool wrapper"
	env -u LD_LIBRARY_PATH libtool_execute_magic="$magic" file="$1" sh -c '
		ECHO="printf %s\\n"
		. "$file" >/dev/null 2>&1 </dev/null
		printf "%s\n%s\n" "$progdir/$program" "${LD_LIBRARY_PATH:-}"'
}

# --- busybox: applet links are made by /init with `busybox --install -s`
cp -L "$busybox" "$stage/bin/busybox"
copy_libs "$busybox" ""
# Tests run under dash, Debian's /bin/sh: busybox's own shell runs its applets
# even when PATH has the real program first, so `ip` in a test would be
# busybox's and not the iproute2 copied in with --bin.
dash=$(command -v dash || true)
if [ -n "$dash" ]; then
	cp -L "$dash" "$stage/bin/sh"
	copy_libs "$dash" ""
fi

# --- modules, in dependency order (--show-depends lists dependencies first)
for m in $modules; do
	deps=$(modprobe -S "$kver" -d "$modroot" --show-depends "$m" 2>&1) ||
		die "kernel $kver has no module '$m': $deps"
	echo "$deps" | while read -r verb path _; do
		case $verb in
		builtin) ;;
		insmod)
			rel=${path#"$moddir"/}
			case $rel in
			*.ko.xz) ko=${rel%.xz}; dec="xz -dc" ;;
			*.ko.zst) ko=${rel%.zst}; dec="zstd -dcq" ;;
			*.ko.gz) ko=${rel%.gz}; dec="gzip -dc" ;;
			*.ko) ko=$rel; dec="cat" ;;
			*) die "unexpected module path $path" ;;
			esac
			grep -qxF "$ko" "$stage/mrvm/modules" && continue
			mkdir -p "$(dirname "$stage/lib/modules/$kver/$ko")"
			# busybox insmod cannot read compressed modules.
			$dec "$path" >"$stage/lib/modules/$kver/$ko" || die "cannot decompress $path"
			echo "$ko" >>"$stage/mrvm/modules"
			;;
		*) die "unexpected modprobe output for $m: $verb $path" ;;
		esac
	done
done
# A modules.dep for the subset, so that busybox modprobe (which the kernel
# runs for autoloading) finds whatever else is in the image.
for f in modules.order modules.builtin modules.builtin.modinfo; do
	[ -f "$moddir/$f" ] && cp "$moddir/$f" "$stage/lib/modules/$kver/"
done
depmod -b "$stage" "$kver" 2>/dev/null || die "depmod failed on the image's modules"

# --- programs and files
echo "$bins" | while IFS= read -r spec; do
	[ -n "$spec" ] || continue
	src=${spec%%:*}; dest=${spec#"$src"}; dest=${dest#:}
	[ -f "$src" ] || die "--bin $src: no such file"
	[ -n "$dest" ] || dest=/mrvm/bin/$(basename "$src")
	ldpath=
	if ! is_elf "$src" && head -n 5 "$src" | grep -q 'temporary wrapper script for'; then
		r=$(lt_resolve "$(cd "$(dirname "$src")" && pwd)/$(basename "$src")")
		real=$(echo "$r" | sed -n 1p); ldpath=$(echo "$r" | sed -n 2p)
		[ -f "$real" ] && is_elf "$real" ||
			die "--bin $src: libtool wrapper gives no program ($real)"
		src=$real
	fi
	mkdir -p "$stage$(dirname "$dest")"
	cp -L "$src" "$stage$dest"
	chmod +x "$stage$dest"
	if is_elf "$src"; then copy_libs "$src" "$ldpath"; fi
done
echo "$files" | while IFS= read -r spec; do
	[ -n "$spec" ] || continue
	src=${spec%%:*}; dest=${spec#"$src"}; dest=${dest#:}
	[ -e "$src" ] || die "--file $src: no such file or directory"
	[ -n "$dest" ] || dest=/mrvm/files/$(basename "$src")
	mkdir -p "$stage$(dirname "$dest")"
	cp -RL "$src" "$stage$dest"
done

# --- environment and tests
{
	echo "export MRVM=1 MRVM_KVER=$(shq "$kver")"
	echo "export PATH=/mrvm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if [ -s "$stage/mrvm/libdirs" ]; then
		echo "export LD_LIBRARY_PATH=$(shq "$(paste -sd: "$stage/mrvm/libdirs")")"
	fi
	echo "$envs" | while IFS= read -r e; do
		[ -n "$e" ] || continue
		echo "export ${e%%=*}=$(shq "${e#*=}")"
	done
} >"$stage/mrvm/env"
echo "$test_timeout" >"$stage/mrvm/test-timeout"

i=0 seen=
echo "$tests" | {
	while IFS= read -r t; do
		[ -n "$t" ] || continue
		name=${t%%=*}; cmd=${t#*=}
		case $t in *=*) ;; *) die "--test wants NAME=COMMAND, got '$t'" ;; esac
		case $name in ''|*[!A-Za-z0-9_.+-]*|kernel-log) die "bad test name '$name'" ;; esac
		case " $seen " in *" $name "*) die "test name '$name' given twice" ;; esac
		seen="$seen $name"
		i=$((i + 1))
		printf '%s\n' "$cmd" >"$stage/mrvm/tests/$(printf %03d $i)-$name"
	done
	[ $i -gt 0 ] || die "no --test given"
}

cat >"$stage/init" <<'EOF'
#!/bin/busybox sh
# /init of the MyRelay kernel VM test tier (written by tests/vm/mkinitramfs.sh)
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /var /usr/bin /usr/sbin /sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /root
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
ln -s /run /var/run
echo 0 >/proc/sys/kernel/printk_ratelimit 2>/dev/null
hostname mrvm
kver=$(uname -r)
read -r up _ </proc/uptime
echo
echo "MRVM-BOOTED $kver $up"

while read -r ko; do
	out=$(insmod "/lib/modules/$kver/$ko" 2>&1) && continue
	# Already there (loaded as a dependency by the kernel itself) is fine.
	m=${ko##*/}; m=${m%.ko}
	[ -d "/sys/module/$(echo "$m" | tr - _)" ] && continue
	echo "MRVM-MODULE-FAIL $ko: $out"
done </mrvm/modules
ip link set lo up

. /mrvm/env
read -r limit </mrvm/test-timeout
dmesg -c >/dev/null
now() { read -r u _ </proc/uptime; echo "${u%.*}"; }
for t in /mrvm/tests/*; do
	name=${t##*/}; name=${name#*-}
	mkdir -p "/tmp/mrvm/$name"
	echo "MRVM-BEGIN $name"
	start=$(now)
	(cd "/tmp/mrvm/$name" && exec timeout "$limit" /bin/sh "$t") </dev/null 2>&1
	rc=$?
	secs=$(($(now) - start))
	note=
	[ $rc -eq 143 ] && [ $secs -ge "$limit" ] && note=" timeout"
	echo "MRVM-RESULT $name $rc $secs$note"
done

# A kernel splat during the tests is a failure even if the test passed.
echo "MRVM-BEGIN kernel-log"
# (WARN splats are below the console's log level under `quiet`: show the lot.)
if dmesg | grep -qE 'BUG:|WARNING:|Oops|Call Trace|general protection|UBSAN|KASAN|refcount_t:'; then
	dmesg | tail -n 300
	echo "MRVM-RESULT kernel-log 1 0"
else
	echo "MRVM-RESULT kernel-log 0 0"
fi
echo "MRVM-DONE"
sync
poweroff -f
reboot -f
EOF
chmod 755 "$stage/init"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"

#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Fetch a Debian kernel (vmlinuz + modules) for the kernel VM test tier,
# without installing it: `apt-get download` the linux-image package that the
# linux-image-amd64 metapackage depends on, `dpkg -x` it into a cache, and run
# depmod there (the package's postinst would do that on a real install).
#
# Usage: fetch-kernel.sh [--cache DIR] [--package NAME]
#
# Prints, on stdout, shell assignments that `eval` accepts:
#   kver='6.1.0-56-amd64'
#   vmlinuz='/var/cache/myrelay-vm/<pkg>_<version>/boot/vmlinuz-6.1.0-56-amd64'
#   modroot='/var/cache/myrelay-vm/<pkg>_<version>'   (for modprobe -d / depmod -b)
#   moddir='/var/cache/myrelay-vm/<pkg>_<version>/lib/modules/6.1.0-56-amd64'
#
# Environment:
#   MR_VM_CACHE           cache directory (default /var/cache/myrelay-vm; when
#                         that is not writable, ~/.cache/myrelay-vm)
#   MR_VM_KERNEL_PACKAGE  kernel package to use instead of the one the
#                         linux-image-amd64 metapackage depends on
#
# Exit status: 0 ok, 77 no kernel can be had here (no apt, package unknown,
# download failed), 2 usage error, 1 anything else.
set -eu
PATH=$PATH:/usr/sbin:/sbin
export LC_ALL=C

me=fetch-kernel
die() { echo "$me: error: $*" >&2; exit 1; }
skip() { echo "$me: SKIP: $*" >&2; exit 77; }
say() { echo "$me: $*" >&2; }

cache=${MR_VM_CACHE:-/var/cache/myrelay-vm}
pkg=${MR_VM_KERNEL_PACKAGE:-}
while [ $# -gt 0 ]; do
	case $1 in
	--cache) [ $# -ge 2 ] || { echo "usage: $0 [--cache DIR] [--package NAME]" >&2; exit 2; }
		cache=$2; shift 2 ;;
	--package) [ $# -ge 2 ] || { echo "usage: $0 [--cache DIR] [--package NAME]" >&2; exit 2; }
		pkg=$2; shift 2 ;;
	-h|--help) sed -n '4,/^set -eu/p' "$0" | sed -e '/^set -eu/d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--cache DIR] [--package NAME]" >&2; exit 2 ;;
	esac
done

ro_cache=
if ! mkdir -p "$cache" 2>/dev/null || ! [ -w "$cache" ]; then
	# Non-root users cannot write /var/cache: they read a kernel root
	# fetched there, and fetch into a cache of their own otherwise.
	[ -z "${MR_VM_CACHE:-}" ] || die "cache directory $cache is not writable"
	[ -d "$cache" ] && ro_cache=$cache
	cache=${XDG_CACHE_HOME:-$HOME/.cache}/myrelay-vm
	mkdir -p "$cache" || die "cannot create cache directory $cache"
fi

command -v flock >/dev/null || die "flock (util-linux) is missing"
command -v depmod >/dev/null || skip "depmod not found (Debian package kmod)"
command -v dpkg >/dev/null || skip "dpkg not found: not a Debian system"

# Parallel `make check` may run several VM tests at once: one fetch at a time.
exec 9>"$cache/.lock"
flock -w 900 9 || die "timed out waiting for the lock on $cache"

emit() {
	# $1: a complete cache entry
	k=$(ls "$1/lib/modules")
	printf "kver='%s'\nvmlinuz='%s'\nmodroot='%s'\nmoddir='%s'\n" \
		"$k" "$1/boot/vmlinuz-$k" "$1" "$1/lib/modules/$k"
	exit 0
}

# The newest complete cache entry, for when apt cannot tell us what to get.
newest_cached() {
	ls -1dt "$cache"/linux-image-*/.complete 2>/dev/null | head -n 1 | sed 's#/\.complete$##'
}

# Which kernel package: the one the linux-image-amd64 metapackage depends on,
# as the archive has it now (what `apt-get install linux-image-amd64` would get).
meta_dep() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[^ <>]*\)$/\1/p' | head -n 1
}
installed_meta_dep() {
	dpkg-query -W -f='${Status} ${Depends}\n' linux-image-amd64 2>/dev/null |
		sed -n 's/^install ok installed \(linux-image-[^ ,]*\).*/\1/p' | head -n 1
}
candidate() {
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)' | head -n 1
}

command -v apt-cache >/dev/null && have_apt=1 || have_apt=0
if [ -z "$pkg" ] && [ $have_apt = 1 ]; then
	pkg=$(meta_dep)
	if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
		# A fresh machine may not have package lists yet.
		say "linux-image-amd64 unknown to apt-cache: running apt-get update"
		apt-get update -qq >/dev/null 2>&1 || say "apt-get update failed"
		pkg=$(meta_dep)
	fi
	[ -n "$pkg" ] || pkg=$(installed_meta_dep)
fi
version=
if [ -n "$pkg" ]; then
	# Debian bumps the ABI name (6.1.0-NN) with every kernel update, so a
	# cached entry of this package name is the kernel wanted: skip the slow
	# version lookup.
	for c in "$cache/${pkg}"_*/.complete ${ro_cache:+"$ro_cache/${pkg}"_*/.complete}; do
		[ -f "$c" ] && emit "${c%/.complete}"
	done
fi
if [ -n "$pkg" ] && [ $have_apt = 1 ]; then
	version=$(candidate "$pkg")
fi
if [ -z "$version" ]; then
	c=$(newest_cached)
	if [ -n "$c" ]; then
		say "cannot resolve a kernel package with apt; using cached ${c##*/}"
		emit "$c"
	fi
	skip "no Debian kernel package found (apt-cache knows no linux-image-amd64${pkg:+ / $pkg})"
fi

entry=$cache/${pkg}_$(echo "$version" | tr ':~' '__')
[ -f "$entry/.complete" ] && emit "$entry"

command -v apt-get >/dev/null || skip "apt-get not found"
say "fetching $pkg $version into $cache"
work=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP

# The signed image carries the files; the -unsigned one is the same build
# without the signature and serves when the signed one is not in the archive.
got=
for p in "$pkg" "$pkg-unsigned"; do
	v=$(candidate "$p")
	[ -n "$v" ] || continue
	rm -rf "$work/dl" "$work/root"
	mkdir -p "$work/dl" "$work/root"
	# apt warns when its sandbox user cannot write the target: harmless.
	if ! (cd "$work/dl" && apt-get download -q "$p=$v" >"$work/apt.log" 2>&1); then
		cat "$work/apt.log" >&2
		continue
	fi
	dpkg -x "$work"/dl/*.deb "$work/root" || die "dpkg -x failed on $p"
	if ls "$work"/root/boot/vmlinuz-* >/dev/null 2>&1 &&
	   [ "$(ls "$work/root/lib/modules" 2>/dev/null | wc -l)" -eq 1 ]; then
		got=$p
		break
	fi
	say "$p has no kernel image or modules; trying the next variant"
done
[ -n "$got" ] || skip "could not download a usable $pkg (see messages above)"

k=$(ls "$work/root/lib/modules")
depmod -b "$work/root" "$k" || die "depmod failed for $k"
rm -rf "$entry"
mv "$work/root" "$entry"
date +%s >"$entry/.complete"

# One kernel is enough: drop entries of older package versions (~400 MB each).
for old in "$cache"/linux-image-*; do
	[ -d "$old" ] && [ "$old" != "$entry" ] && rm -rf "$old"
done
say "cached $got $version ($(du -sh "$entry" | cut -f1))"
emit "$entry"

#!/bin/sh
# SPDX-License-Identifier: MIT
# Install every Debian 12 package needed to build MyRelay and run all of its
# test tiers. Needs root (or sudo). --no-install-recommends matters: without
# it wireguard-tools pulls in a kernel image and systemd.
set -eu
if [ "$(id -u)" -ne 0 ]; then
	exec sudo "$0" "$@"
fi
PACKAGES="
	build-essential autoconf automake libtool pkg-config xz-utils
	libssl-dev openssl check
	libsqlite3-dev sqlite3 libjansson-dev
	libmnl-dev libnftnl-dev
	libmicrohttpd-dev curl libcurl4-openssl-dev libqrencode-dev qrencode zbar-tools
	libcap-ng-dev
	python3
	wireguard-tools wireguard-go iproute2 nftables procps iputils-ping
	valgrind
	qemu-system-x86 busybox-static cpio kmod
"
export DEBIAN_FRONTEND=noninteractive
echo "deps: apt-get update"
apt-get update -qq
echo "deps: installing $(echo $PACKAGES | wc -w) packages"
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
echo "deps: done"

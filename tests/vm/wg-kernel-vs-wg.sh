#!/bin/sh
# SPDX-License-Identifier: MIT
# Inside the kernel VM (see tests/wg-kernel-vm.sh): libmyrelay against the
# reference netlink client wg(8) on kernel WireGuard links.
#  - 10,000 peers (MR_WG_VS_WG_PEERS) set with libmyrelay, read with
#    `wg show dump`, and read with libmyrelay: identical text (same device,
#    same kernel order);
#  - the same peers set with `wg setconf` on another link, read with
#    libmyrelay: identical to wg's reading, and to the first link's peers;
#  - the time of both (one run each: an indication, not the benchmark).
set -eu
export N=${MR_WG_VS_WG_PEERS:-10000}
unshare -n sh -eu -c '
ip link set lo up
ip link add mrwgt1 type wireguard
ip link add mrwgt2 type wireguard
wg_kernel_test genconf $N c.conf
t0=$(cut -d" " -f1 /proc/uptime)
wg_tool --backend kernel setconf mrwgt1 c.conf
t1=$(cut -d" " -f1 /proc/uptime)
wg setconf mrwgt2 c.conf
t2=$(cut -d" " -f1 /proc/uptime)
echo "time for $N peers in the VM: libmyrelay $(echo "$t1 $t0" | awk "{print \$1-\$2}") s," \
	"wg setconf $(echo "$t2 $t1" | awk "{print \$1-\$2}") s"
wg show mrwgt1 dump > wg1
wg_tool --backend kernel dump mrwgt1 > ours1
cmp wg1 ours1 || { diff wg1 ours1 | head; echo "FAIL: ours vs wg on a device set by ours"; exit 1; }
echo "ok   - set by libmyrelay: wg show dump and libmyrelay read $(wc -l < wg1) identical lines"
wg show mrwgt2 dump > wg2
wg_tool --backend kernel dump mrwgt2 > ours2
cmp wg2 ours2 || { diff wg2 ours2 | head; echo "FAIL: ours vs wg on a device set by wg"; exit 1; }
echo "ok   - set by wg setconf: libmyrelay reads what wg reads"
tail -n +2 wg1 > p1
tail -n +2 wg2 > p2
cmp p1 p2 || { diff p1 p2 | head; echo "FAIL: the two devices differ"; exit 1; }
echo "ok   - the peers set by libmyrelay and by wg setconf are identical"
[ "$(wc -l < p1)" -eq "$N" ] || { echo "FAIL: $(wc -l < p1) peers"; exit 1; }
'

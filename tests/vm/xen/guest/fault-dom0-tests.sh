#!/bin/bash
# Dom0's part of the fault test (CTest xen.faults; run by /init): Dom0 must
# survive whatever a guest does, and the other guests must not notice.
# Two PV guests (guest/fault-domu-init): "good" runs xen2mx-front.ko and
# rounds of kmod_tool checks through Dom0 the whole time; "hostile" runs
# xen2mx-front-hostile.ko and every attack it has on the backend, then
# offers the good guest bad lanes (the good guest sends to it) and writes
# garbage into a lane of the good guest, then
# floods it with zero-copy sends and is destroyed mid-flood (tc netem holds
# the frames, so its pages are lent to the NIC when it goes). Then the
# backend restarts under the good guest's open endpoints, and the good
# guest is destroyed. Dom0 counts grant mappings and endpoints back to
# what the remaining guest holds, then to 0, reads the reasons it logged
# for closing the hostile guest's connections, and scans its kernel log.
# Relays both consoles with a "domU| " prefix.
set -u
. /x2m/dom0-lib.sh

start_toolstack
check "xenbus backend bus present" test -d /sys/bus/xen-backend/devices
check "dummy interface x2m0 up" sh -c "ip link add x2m0 type dummy && ip link set x2m0 up"
check "insmod xen2mx.ko ifnames=x2m0" insmod /x2m/xen2mx.ko ifnames=x2m0
check "insmod xen2mx-back.ko" insmod /x2m/xen2mx-back.ko
check "grants_mapped is 0 before any guest" test "$(grants)" = 0
mac=$(cat /sys/class/net/x2m0/address)

# create NAME ROLE: a PV guest of domu.cfg whose init plays ROLE.
create() {
    xl create /x2m/domu.cfg "name=\"$1\"" "extra=\"console=hvc0 quiet x2m_role=$2\""
}
connected() { [ "$(state "$1")" = 4 ] && [ "$(state "$2")" = 4 ]; }
rounds() { grep -c '^X2M-GOOD-ROUND' "$glog" 2>/dev/null; }

finish() {
    local name
    for name in x2m-good x2m-hostile; do
        xl domid $name >/dev/null 2>&1 && { echo "FAIL: dom0: $name still running; destroying it"; xl destroy $name; }
    done
    sleep 2 # the relays' last lines
    check "rmmod xen2mx-back" rmmod xen2mx-back
    check "rmmod xen2mx" rmmod xen2mx
    check "kernel log has no BUG, Oops, WARNING, general protection or refcount" kernel_log_clean
    exit 0
}

check "xl create x2m-good" create x2m-good good || finish
check "xl create x2m-hostile" create x2m-hostile hostile || finish
gid=$(xl domid x2m-good)
hid=$(xl domid x2m-hostile)
echo "dom0: x2m-good is domain $gid, x2m-hostile domain $hid"
glog=/var/log/xen/console/guest-x2m-good.log
hlog=/var/log/xen/console/guest-x2m-hostile.log
relay x2m-good
relay x2m-hostile
gfront=/local/domain/$gid/device/xen2mx/0
gback=/local/domain/0/backend/xen2mx/$gid/0
gdev=/sys/bus/xen-backend/devices/xen2mx-$gid-0
hfront=/local/domain/$hid/device/xen2mx/0
hback=/local/domain/0/backend/xen2mx/$hid/0
hdev=/sys/bus/xen-backend/devices/xen2mx-$hid-0
hdev1=/sys/bus/xen-backend/devices/xen2mx-$hid-1
wait_line "$glog" X2M-DOMU-READY 180 || finish
wait_line "$hlog" X2M-DOMU-READY 180 || finish

# The good guest first, working before the hostile one has a device.
check "xen2mx-attach $gid (good)" xen2mx-attach "$gid"
check "the good guest connected" wait_for "connected $gfront $gback" 60 || finish
wait_line "$glog" X2M-GOOD-UP 120 || finish
wait_line "$glog" "X2M-GOOD-ROUND 1" 120 || finish
gbase=$((1 + 64 * $(xenstore-read "$gfront/tx-chunk-pages")))

# The hostile guest's attacks, while the good guest's rounds go on.
before=$(rounds)
# Its second device first, on the same board: the other end of its lanes.
check "xen2mx-attach $hid 1 (hostile, second device)" xen2mx-attach "$hid" 1
check "the hostile guest's second device connected" \
    wait_for "connected /local/domain/$hid/device/xen2mx/1 /local/domain/0/backend/xen2mx/$hid/1" 60
check "xen2mx-attach $hid (hostile)" xen2mx-attach "$hid"
check "the hostile guest connected" wait_for "connected $hfront $hback" 60
wait_line "$hlog" X2M-HOSTILE-ATTACKED 600 || finish
wait_for "[ \$(rounds) -gt $((before + 1)) ]" 60
check "the good guest's rounds went on during the attacks ($before before, $(rounds) after)" \
    test "$(rounds)" -gt $((before + 1))
hbase=$((1 + 64 * $(xenstore-read "$hfront/tx-chunk-pages")))
echo "dom0: hostile device: grants_mapped $(cat $hdev/grants_mapped), endpoints $(cat $hdev/endpoints), bad_requests $(cat $hdev/bad_requests)"
echo "dom0: hostile device: $(cat $hdev/ring)"
echo "dom0: hostile device: $(cat $hdev/lanes)"
check "the hostile guest's pending LANE_LISTEN went with its connection, no notice for it" \
    grep -q 'listening 0 queued 0 ' $hdev/lanes
check "the hostile guest's device maps its ring and tx pool only ($hbase pages)" \
    test "$(cat $hdev/grants_mapped)" = $hbase
check "no endpoint of the hostile guest left in Dom0" test "$(cat $hdev/endpoints)" = 0
check "bad requests answered with an error and counted (> 10000)" test "$(cat $hdev/bad_requests)" -gt 10000
echo "dom0: hostile second device: $(cat $hdev1/lanes)"
check "the hostile guest's second device maps its ring and tx pool only" test "$(cat $hdev1/grants_mapped)" = $hbase
check "Dom0's grant mappings are the three devices' (no leak)" \
    wait_for "[ \$(grants) = \$((\$(cat $gdev/grants_mapped) + \$(cat $hdev/grants_mapped) + \$(cat $hdev1/grants_mapped))) ]" 20
# What Dom0 logged when it closed the hostile guest's connections.
dmesg | grep "xen2mx-$hid-0" | grep -vE 'connected|offering' | head -n 30 | sed 's/^/dom0 kernel: /'
reason() { dmesg | grep "xen2mx-$hid-0" | grep -qE "$1"; }
check "closed for a request producer past the ring (overrun, jumps, backwards)" \
    test "$(dmesg | grep "xen2mx-$hid-0" | grep -c 'request producer .* past the ring')" -ge 4
check "refused protocol-version 99" reason 'protocol-version 99'
check "refused tx-chunk-pages 0 and 4096" sh -c "dmesg | grep -q 'tx-chunk-pages 0\$' && dmesg | grep -q 'tx-chunk-pages 4096'"
check "refused a ring never granted and one granted read-only" \
    test "$(dmesg | grep "xen2mx-$hid-0" | grep -c 'mapping in shared page')" -ge 2
check "refused a tx pool with a reference never granted, and a list never granted" \
    test "$(dmesg | grep "xen2mx-$hid-0" | grep -c 'mapping the tx pool')" -ge 2
check "refused an event channel not the guest's to give" reason 'binding event channel'
check "refused keys missing" reason "reading .*ring-ref"

# The hostile guest as a lane receiver: it offers the good guest's real
# frontend bad lanes, then a right one; the good guest sends to it. Then
# as a lane sender, it writes garbage into a lane of the good guest.
check "the hostile guest told to offer lanes" xenstore-write "$hfront/lanes" receiver
check "a frame from Dom0 to the good guest's endpoint 43 (it sends to the hostile guest's endpoint 77)" \
    kmod_tool forge "$mac" 43
wait_line "$hlog" X2M-HOSTILE-LANES-DONE 400
wait_line "$glog" X2M-GOOD-LANES-SENT 400
# Then as a sender into the good guest's endpoint 44.
check "the hostile guest told to write into a lane" xenstore-write "$hfront/lanes" sender
wait_line "$hlog" X2M-HOSTILE-LANE-WRITTEN 400
wait_line "$glog" X2M-GOOD-LANES-DONE 400
check "no endpoint of the hostile guest left in Dom0 after the lanes" test "$(cat $hdev/endpoints)" = 0
echo "dom0: hostile device after the lanes: $(cat $hdev/lanes)"

# Destroyed mid-transfer: frames held 2 s by netem, every ring slot a
# zero-copy send whose pages are lent to the NIC.
check "tc netem holds x2m0's frames 2 s" tc qdisc add dev x2m0 root netem delay 2s
check "the hostile guest told to flood" xenstore-write "$hfront/flood" go
wait_line "$hlog" X2M-HOSTILE-FLOODING 60
check "the hostile guest's zero-copy sends in flight (its device maps > $((hbase + 500)) pages)" \
    wait_for "[ \$(cat $hdev/grants_mapped) -gt $((hbase + 500)) ]" 30
echo "dom0: hostile device mid-flood: grants_mapped $(cat $hdev/grants_mapped), $(cat $hdev/ring)"
check "xl destroy x2m-hostile mid-flood" xl destroy x2m-hostile
check "the hostile guest's device left the backend bus" wait_for "[ ! -e $hdev ]" 30
check "grants_mapped back to what the good guest maps" \
    wait_for "[ \$(grants) = \$(cat $gdev/grants_mapped) ]" 30
check "endpoints_open back to the good guest's" \
    wait_for "[ \$(counter endpoints_open) = \$(cat $gdev/endpoints) ]" 30
check "the hostile domain is gone" wait_for "! xl domid x2m-hostile >/dev/null 2>&1" 30
check "tc netem removed" tc qdisc del dev x2m0 root
before=$(rounds)
check "the good guest's rounds go on after the hostile guest was destroyed" \
    wait_for "[ \$(rounds) -gt $before ]" 120

# The backend restarts under the good guest's open endpoints.
check "a frame from Dom0 to the good guest's endpoint 42 (it stops its rounds)" kmod_tool forge "$mac" 42
wait_line "$glog" X2M-GOOD-PAUSED 120 || finish
check "the good guest's 2 held endpoints are open in Dom0" wait_for "[ \$(cat $gdev/endpoints) = 2 ]" 20
check "grants_mapped is the good guest's ($(cat $gdev/grants_mapped) pages)" \
    test "$(grants)" = "$(cat $gdev/grants_mapped)"
check "unbind xen2mx-$gid-0 from xen2mx-back" sh -c "echo xen2mx-$gid-0 >$gdev/driver/unbind"
check "rmmod xen2mx-back under the good guest's endpoints" rmmod xen2mx-back
check "grants_mapped back to 0 once the backend is gone" test "$(grants)" = 0
check "endpoints_open 0 once the backend is gone" test "$(counter endpoints_open)" = 0
check "insmod xen2mx-back.ko again" insmod /x2m/xen2mx-back.ko
check "the good guest reconnected to the new backend" wait_for "connected $gfront $gback" 60
wait_line "$glog" X2M-GOOD-RECONNECTED 120
wait_line "$glog" X2M-GOOD-HOLDING 120
check "the good guest's 3 held endpoints are open in Dom0" wait_for "[ \$(cat $gdev/endpoints) = 3 ]" 20
check "grants_mapped is the good guest's" test "$(grants)" = "$(cat $gdev/grants_mapped)"
check "the good guest maps its connection and its endpoints' rings (> $gbase pages)" test "$(grants)" -gt $gbase

# The last guest goes: nothing of it stays.
check "xl destroy x2m-good with endpoints open" xl destroy x2m-good
check "grants_mapped back to 0" wait_for '[ "$(grants)" = 0 ]' 30
check "endpoints_open back to 0" test "$(counter endpoints_open)" = 0
check "the good guest's device left the backend bus" wait_for "[ ! -e $gdev ]" 30
finish

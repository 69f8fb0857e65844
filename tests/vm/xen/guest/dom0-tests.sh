#!/bin/bash
# Dom0's part of the Xen test (run by /init): starts the toolstack's
# daemons, loads xen2mx.ko with a board on a dummy interface (frames
# between endpoints of the guest short-circuit inside Dom0) and
# xen2mx-back.ko, creates the PV guest (/x2m/domu.cfg), gives it a xen2mx
# device with xen2mx-attach and follows both ends to Connected while the
# guest runs its checks; then restarts the backend under the guest's open
# endpoints, detaches and attaches the device, destroys the guest with
# endpoints open, and counts Dom0's grant mappings back to 0 each time.
# Relays the guest's console (its own PASS/FAIL lines) prefixed "domU| ".
set -u
. /x2m/dom0-lib.sh
start_toolstack
check "xenbus backend bus present" test -d /sys/bus/xen-backend/devices
# xen2mx.ko with a board on a dummy interface, and the backend.
check "dummy interface x2m0 up" sh -c "ip link add x2m0 type dummy && ip link set x2m0 up"
check "insmod xen2mx.ko ifnames=x2m0" insmod /x2m/xen2mx.ko ifnames=x2m0
check "board 0 is x2m0" sh -c "kmod_tool info | grep -q '^BOARD 0 x2m0 '"
check "insmod xen2mx-back.ko" insmod /x2m/xen2mx-back.ko
check "grants_mapped is 0 before any guest" test "$(grants)" = 0

start=$(cut -d' ' -f1 /proc/uptime)
if check "xl create of the PV guest" xl create /x2m/domu.cfg; then
    domid=$(xl domid x2m-domu)
    echo "dom0: guest x2m-domu is domain $domid (created in $(awk -v s="$start" '{print $1 - s}' /proc/uptime) s)"
    log=/var/log/xen/console/guest-x2m-domu.log
    relay x2m-domu
    front=/local/domain/$domid/device/xen2mx/0
    back=/local/domain/0/backend/xen2mx/$domid/0
    dev=/sys/bus/xen-backend/devices/xen2mx-$domid-0
    connected="[ \"\$(state $front)\" = 4 ] && [ \"\$(state $back)\" = 4 ]"
    if wait_for "grep -q X2M-DOMU-READY $log 2>/dev/null" 180; then
        echo "PASS: dom0: the guest booted (console says ready, $(awk -v s="$start" '{print $1 - s}' /proc/uptime) s after xl create)"
        check "xen2mx-attach $domid" xen2mx-attach "$domid"
        check "xenstore frontend dir $front" test "$(xenstore-read $front/backend)" = "$back"
        check "xenstore backend dir $back" test "$(xenstore-read $back/frontend-id)" = "$domid"
        if wait_for "[ -e $dev ]" 60; then
            echo "PASS: dom0: xen2mx-$domid-0 appeared on the backend bus"
            check "xen2mx-$domid-0 has devtype xen2mx" test "$(cat $dev/devtype 2>/dev/null)" = xen2mx
        else
            echo "FAIL: dom0: no xen2mx-$domid-0 on the backend bus ($(ls /sys/bus/xen-backend/devices | tr '\n' ' '))"
        fi
        if wait_for "$connected" 60; then
            echo "PASS: dom0: both xenbus ends Connected"
            up=1
        else
            echo "FAIL: dom0: not connected: frontend state $(state $front), backend state $(state $back)"
            xenstore-ls -f /local/domain/0/error /local/domain/$domid/error 2>&1 | sed 's/^/dom0: xenstore: /'
            up=0
        fi
        for node in $front $back; do
            xenstore-ls -f -p "$node" 2>&1 | sed -E 's/ ?(\. )+\.?/ /; s/^/dom0: xenstore: /'
        done
        check "the backend published board-mac and protocol-version 1" \
            sh -c "xenstore-read $back/board-mac | grep -qi \"\$(cat /sys/class/net/x2m0/address)\" && test \"\$(xenstore-read $back/protocol-version)\" = 1"
        chunk_pages=$(xenstore-read $front/tx-chunk-pages 2>/dev/null || echo 1)
        baseline=$((1 + 64 * chunk_pages)) # the ring page and the tx pool

        if [ $up = 1 ]; then
            wait_line "$log" X2M-DOMU-TESTED 240
            echo "dom0: ring: $(cat $dev/ring)"
            kmod_tool counters | sed 's/^/dom0: /'
            check "the guest's frames went through Dom0's board (sent_loopback > 0)" \
                test "$(counter sent_loopback)" -gt 0
            # kmod_tool regions: three PULLs answered from the guest's
            # region, two asking past it dropped.
            check "Dom0 answered PULLs from the guest's regions (pulls_served $(counter pulls_served) >= 3)" \
                test "$(counter pulls_served)" -ge 3
            check "Dom0 dropped the PULLs past the guest's region (pull_errors $(counter pull_errors) >= 2)" \
                test "$(counter pull_errors)" -ge 2
            check "the guest's regions are gone from Dom0 (regions 0, region_pages 0)" \
                test "$(counter regions) $(counter region_pages)" = "0 0"
            echo "dom0: requests answered with an error: $(cat $dev/bad_requests)"

            # The backend restarts under two open endpoints of the guest.
            wait_line "$log" X2M-DOMU-HOLDING 60
            check "the guest's 2 held endpoints are open in Dom0" test "$(cat $dev/endpoints)" = 2
            # Held by the kernel for the guest: no pid, no user (not root).
            kmod_tool endpoints | sed 's/^/dom0: /'
            check "Dom0's listing shows the 2 as dom$domid's, with no pid and no user" \
                test "$(kmod_tool endpoints | grep -c "^ENDPOINT 0 [0-9]* 0 - dom$domid\$")" = 2
            # A bound device holds the driver's module: unbind it first.
            check "unbind xen2mx-$domid-0 from xen2mx-back" sh -c "echo xen2mx-$domid-0 >$dev/driver/unbind"
            check "rmmod xen2mx-back under a connected guest" rmmod xen2mx-back
            check "grants_mapped back to 0 once the backend is gone" test "$(grants)" = 0
            wait_for "[ \"\$(state $front)\" = 6 ] || [ \"\$(state $front)\" = 1 ]" 30 ||
                echo "FAIL: dom0: the frontend did not close after the backend went (state $(state $front))"
            check "insmod xen2mx-back.ko again" insmod /x2m/xen2mx-back.ko
            if wait_for "$connected" 60; then
                echo "PASS: dom0: the guest reconnected to the new backend"
            else
                echo "FAIL: dom0: no reconnection: frontend state $(state $front), backend state $(state $back)"
            fi
            wait_line "$log" X2M-DOMU-RECONNECTED 120
            # The guest has closed every endpoint by now (it waits for the detach).
            check "the guest's endpoints all closed in Dom0" test "$(cat $dev/endpoints)" = 0
            check "grants_mapped is the connection's $baseline pages (ring and tx pool)" test "$(grants)" = $baseline

            # Detach, then attach again.
            check "xen2mx-detach $domid" xen2mx-detach "$domid"
            if wait_for "[ ! -e $dev ]" 60; then
                echo "PASS: dom0: xen2mx-$domid-0 left the backend bus"
            else
                echo "FAIL: dom0: xen2mx-$domid-0 still on the backend bus after xen2mx-detach"
            fi
            check "grants_mapped back to 0 after xen2mx-detach" wait_for '[ "$(grants)" = 0 ]' 30
            check "xenstore has no xen2mx node for domain $domid after detach" \
                sh -c "! xenstore-read $back/frontend && ! xenstore-read $front/backend"
            check "xen2mx-detach of a domain without the device fails" sh -c "! xen2mx-detach $domid"
            check "xen2mx-attach of a missing domain fails" sh -c "! xen2mx-attach 4242"
            wait_line "$log" X2M-DOMU-DETACHED 120
            check "xen2mx-attach $domid again" xen2mx-attach "$domid"
            wait_for "$connected" 60 && echo "PASS: dom0: connected again" ||
                echo "FAIL: dom0: not connected again: frontend state $(state $front), backend state $(state $back)"

            # Destroyed with endpoints open: every mapping goes.
            wait_line "$log" X2M-DOMU-HOLDING2 120
            check "the guest's 3 held endpoints are open in Dom0" test "$(cat $dev/endpoints 2>/dev/null)" = 3
            check "grants_mapped counts their pages (> $baseline)" test "$(grants)" -gt $baseline
            check "xl destroy with endpoints open" xl destroy x2m-domu
            check "grants_mapped back to 0 after xl destroy" wait_for '[ "$(grants)" = 0 ]' 30
            check "endpoints_open back to 0 in Dom0" test "$(counter endpoints_open)" = 0
            wait_for "[ ! -e $dev ]" 30 && echo "PASS: dom0: the destroyed guest's device left the backend bus" ||
                echo "FAIL: dom0: xen2mx-$domid-0 still on the backend bus after xl destroy"
        fi
        xen2mx-detach "$domid" >/dev/null 2>&1 # nodes the toolstack did not know of
    else
        echo "FAIL: dom0: the guest did not boot within 180 s"
    fi
    if wait_for "! xl domid x2m-domu >/dev/null 2>&1" 10; then
        echo "PASS: dom0: the guest is gone"
    else
        echo "FAIL: dom0: the guest is still running; destroying it"
        xl destroy x2m-domu
    fi
    sleep 2 # the relay's last lines
fi
check "rmmod xen2mx-back" rmmod xen2mx-back
check "rmmod xen2mx" rmmod xen2mx

if kernel_log_clean; then
    echo "PASS: dom0: kernel log has no BUG, Oops, WARNING, general protection or refcount mark"
else
    echo "FAIL: dom0: kernel log has BUG/Oops/WARNING/general protection/refcount"
fi

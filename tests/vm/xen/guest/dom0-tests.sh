#!/bin/bash
# Dom0's part of the Xen test (run by /init): starts the toolstack's
# daemons, creates the PV guest (/x2m/domu.cfg), gives it a xen2mx xenbus
# device with xen2mx-attach, follows the device on Dom0's backend bus while
# the guest follows it on its frontend bus, removes it with xen2mx-detach,
# and relays the guest's console (its own PASS/FAIL lines) prefixed with
# "domU| ".
set -u
export PATH=$(ls -d /usr/lib/xen-4.17*/bin 2>/dev/null | head -n 1):$PATH
check() {
    local what=$1
    shift
    if "$@" >/tmp/check.out 2>&1; then
        echo "PASS: dom0: $what"
    else
        echo "FAIL: dom0: $what: $(tail -n 3 /tmp/check.out | tr '\n' ' ')"
        return 1
    fi
}
# wait_for TEST SECONDS: polls TEST (a shell condition) every 0.2 s.
wait_for() {
    local i=0
    while [ $i -lt $(($2 * 5)) ]; do
        eval "$1" && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

check "Xen device nodes (evtchn, gntdev, gntalloc, privcmd, xenbus, xenbus_backend)" \
    test -c /dev/xen/evtchn -a -c /dev/xen/gntdev -a -c /dev/xen/gntalloc -a -c /dev/xen/privcmd \
    -a -e /dev/xen/xenbus -a -e /dev/xen/xenbus_backend

xenstored=""
for candidate in /usr/lib/xen-*/bin/xenstored /usr/sbin/xenstored /usr/lib/xen-*/bin/oxenstored /usr/sbin/oxenstored; do
    [ -x "$candidate" ] && { xenstored=$candidate; break; }
done
libexec=$(ls -d /usr/lib/xen-4.17* 2>/dev/null | head -n 1)
check "xenstored starts ($xenstored)" "$xenstored" --pid-file /var/run/xenstored.pid
wait_for "xenstore-read /local >/dev/null 2>&1 || xenstore-ls / >/dev/null 2>&1" 20
check "xen-init-dom0" "$libexec/bin/xen-init-dom0"
check "xenconsoled starts, logging guest consoles" \
    "$libexec/bin/xenconsoled" --pid-file=/var/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
check "xl info answers (toolstack up)" xl info
echo "dom0: $(xl info 2>/dev/null | grep -E '^(xen_version|total_memory|free_memory)' | tr -s ' ' | tr '\n' ' ')"
check "xenbus backend bus present" test -d /sys/bus/xen-backend/devices

start=$(cut -d' ' -f1 /proc/uptime)
if check "xl create of the PV guest" xl create /x2m/domu.cfg; then
    domid=$(xl domid x2m-domu)
    echo "dom0: guest x2m-domu is domain $domid (created in $(awk -v s="$start" '{print $1 - s}' /proc/uptime) s)"
    log=/var/log/xen/console/guest-x2m-domu.log
    if wait_for "grep -q X2M-DOMU-READY $log 2>/dev/null" 180; then
        echo "PASS: dom0: the guest booted (console says ready, $(awk -v s="$start" '{print $1 - s}' /proc/uptime) s after xl create)"
        check "xen2mx-attach $domid" xen2mx-attach "$domid"
        check "xenstore frontend dir /local/domain/$domid/device/xen2mx/0" \
            test "$(xenstore-read /local/domain/$domid/device/xen2mx/0/backend)" = "/local/domain/0/backend/xen2mx/$domid/0"
        check "xenstore backend dir /local/domain/0/backend/xen2mx/$domid/0" \
            test "$(xenstore-read /local/domain/0/backend/xen2mx/$domid/0/frontend-id)" = "$domid"
        for node in /local/domain/$domid/device/xen2mx /local/domain/0/backend/xen2mx/$domid; do
            xenstore-ls -f -p "$node" 2>&1 | sed -E 's/ ?(\. )+\.?/ /; s/^/dom0: xenstore: /'
        done
        dev=/sys/bus/xen-backend/devices/xen2mx-$domid-0
        if wait_for "[ -e $dev ]" 60; then
            echo "PASS: dom0: xen2mx-$domid-0 appeared on the backend bus"
            check "xen2mx-$domid-0 has devtype xen2mx" test "$(cat $dev/devtype 2>/dev/null)" = xen2mx
        else
            echo "FAIL: dom0: no xen2mx-$domid-0 on the backend bus ($(ls /sys/bus/xen-backend/devices | tr '\n' ' '))"
        fi
        wait_for "grep -q X2M-DOMU-SEEN $log" 150 || echo "FAIL: dom0: the guest did not report on its frontend bus"
        check "xen2mx-detach $domid" xen2mx-detach "$domid"
        if wait_for "[ ! -e $dev ]" 60; then
            echo "PASS: dom0: xen2mx-$domid-0 left the backend bus"
        else
            echo "FAIL: dom0: xen2mx-$domid-0 still on the backend bus after xen2mx-detach"
        fi
        check "xenstore has no xen2mx node for domain $domid after detach" \
            sh -c "! xenstore-read /local/domain/0/backend/xen2mx/$domid/0/frontend && ! xenstore-read /local/domain/$domid/device/xen2mx/0/backend"
        check "xen2mx-detach of a domain without the device fails" sh -c "! xen2mx-detach $domid"
        check "xen2mx-attach of a missing domain fails" sh -c "! xen2mx-attach 4242"
    else
        echo "FAIL: dom0: the guest did not boot within 180 s"
    fi
    if wait_for "! xl domid x2m-domu >/dev/null 2>&1" 150; then
        echo "PASS: dom0: the guest powered itself off (domain gone)"
    else
        echo "FAIL: dom0: the guest is still running; destroying it"
        xl destroy x2m-domu
    fi
    echo "---- domU console"
    tr -d '\r' <"$log" 2>/dev/null | grep -avE '^\s*$' | sed 's/^/domU| /'
    echo "---- end of domU console"
fi

dmesg | grep -E 'BUG|Oops|WARNING|Call Trace' | head -n 20 | sed 's/^/dom0 kernel: /'
if dmesg | grep -qE 'BUG|Oops|WARNING'; then
    echo "FAIL: dom0: kernel log has BUG/Oops/WARNING"
else
    echo "PASS: dom0: kernel log has no BUG, Oops or WARNING"
fi

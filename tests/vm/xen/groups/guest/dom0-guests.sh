#!/bin/bash
# Dom0's part of the multi-guest Xen test (run by Dom0's /init in place of
# the xenbus test's script): starts the toolstack, makes the bridge xenbr0
# that the guests' netfronts join through xen-netback and Xen's vif-bridge
# hotplug script, loads the split driver's backend when it was packed
# (xen2mx.ko with a board on xenbr0, then xen2mx-back.ko), creates guests g1
# and g2, gives each its xen2mx device (xen2mx-attach) when the backend is
# there, waits for both to power themselves off, and relays their consoles
# prefixed "g1| " and "g2| ". Its own checks print PASS/FAIL lines.
set -u
export PATH=$(ls -d /usr/lib/xen-4.17*/bin 2>/dev/null | head -n 1):$PATH
groups=/x2m/groups
seconds=$(cat $groups/guest-seconds 2>/dev/null || echo 900)
subnet=10.86.225
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
# wait_for TEST SECONDS: polls TEST (a shell condition) every 0.5 s.
wait_for() {
    local i=0
    while [ $i -lt $(($2 * 2)) ]; do
        eval "$1" && return 0
        sleep 0.5
        i=$((i + 1))
    done
    return 1
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# gone NAME: true once domain x2m-NAME no longer exists. Debian's xl has been
# seen to crash under emulation: a crash (status 128 or more) says nothing.
gone() {
    xl domid "x2m-$1" >/dev/null 2>&1
    local rc=$?
    [ $rc -ne 0 ] && [ $rc -lt 128 ]
}

# The console carries the tests' lines; kernel messages stay in dmesg.
dmesg -n 1
# ---------------------------------------------------------------- toolstack
libexec=$(ls -d /usr/lib/xen-4.17* 2>/dev/null | head -n 1)
xenstored=$(ls "$libexec"/bin/xenstored /usr/sbin/xenstored 2>/dev/null | head -n 1)
check "xenstored starts" "$xenstored" --pid-file /var/run/xenstored.pid
wait_for "xenstore-read /local >/dev/null 2>&1 || xenstore-ls / >/dev/null 2>&1" 20
check "xen-init-dom0" "$libexec/bin/xen-init-dom0"
check "xenconsoled starts, logging guest consoles" \
    "$libexec/bin/xenconsoled" --pid-file=/var/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
check "xl info answers" xl info
echo "dom0: $(xl info 2>/dev/null | grep -E '^(xen_version|total_memory|free_memory)' | tr -s ' ' | tr '\n' ' ')"

# ---------------------------------------------------------------- network
# Modules in load order (dependencies first), listed by dom0_overlay.sh.
while read -r module; do
    insmod "$groups/modules/$module" || echo "FAIL: dom0: insmod $module"
done <$groups/modules/order
check "bridge xenbr0 ($subnet.254/24)" sh -c "ip link add xenbr0 type bridge stp_state 0 forward_delay 0 &&
    ip addr add $subnet.254/24 dev xenbr0 && ip link set xenbr0 up"

# ---------------------------------------------------------------- backend
kmod=0
if [ -f $groups/kmod/xen2mx-back.ko ]; then
    kmod=1
    check "xen2mx.ko loads with board xenbr0" insmod $groups/kmod/xen2mx.ko ifnames=xenbr0
    check "xen2mx-back.ko loads" insmod $groups/kmod/xen2mx-back.ko
    echo "dom0: split driver packed: the guests use the kmod link through xen2mx-back.ko"
else
    echo "dom0: no xen2mx-back.ko packed: the guests use the udp link over their netfronts"
fi

# ---------------------------------------------------------------- guests
create() {
    local name=$1 number=$2 start
    start=$(uptime_s)
    check "xl create $name" xl create $groups/guest.cfg "name=\"x2m-$name\"" \
        "extra=\"console=hvc0 quiet x2m.role=$name x2m.ip=$subnet.$number x2m.subnet=$subnet x2m.kmod=$kmod\"" \
        "vif=[\"mac=00:16:3e:58:32:0$number,bridge=xenbr0\"]" &&
        echo "dom0: x2m-$name is domain $(xl domid x2m-$name) ($(awk -v s="$start" '{print $1 - s}' /proc/uptime) s)"
}
console() { echo /var/log/xen/console/guest-x2m-$1.log; }
# The guests' consoles as they come, so that a guest that never finishes
# still shows how far it got.
relays=""
for name in g1 g2; do
    tail -n +1 -F "$(console $name)" 2>/dev/null > >(sed -u -e 's/\r$//' -e '/^\s*$/d' -e "s/^/$name| /") &
    relays="$relays $!"
done
create g1 1
create g2 2
for name in g1 g2; do
    if wait_for "grep -q X2M-GUEST-READY $(console $name) 2>/dev/null" 240; then
        echo "PASS: dom0: $name booted (ready at Dom0 uptime $(uptime_s) s)"
        [ $kmod = 1 ] && check "xen2mx-attach $name" xen2mx-attach "$(xl domid x2m-$name)"
    else
        echo "FAIL: dom0: $name not ready within 240 s"
    fi
done
check "both vifs on xenbr0" sh -c "[ \$(ls /sys/class/net/xenbr0/brif | grep -c '^vif') = 2 ]"
free -m | sed 's/^/dom0: /'

for name in g1 g2; do
    if wait_for "gone $name" "$seconds"; then
        echo "PASS: dom0: $name powered itself off (at Dom0 uptime $(uptime_s) s)"
    else
        echo "FAIL: dom0: $name still running after $seconds s; destroying it"
        xl destroy x2m-$name
    fi
done
# The consoles' last lines reach the relays.
sleep 2
kill $relays 2>/dev/null
sleep 1

if [ $kmod = 1 ]; then
    # Both guests are gone: the backend must have let go of everything.
    check "rmmod xen2mx-back once the guests are gone" rmmod xen2mx-back
    check "rmmod xen2mx" rmmod xen2mx
fi
dmesg | grep -E 'BUG|Oops|WARNING|Call Trace' | head -n 20 | sed 's/^/dom0 kernel: /'
if dmesg | grep -qE 'BUG|Oops|WARNING'; then
    echo "FAIL: dom0: kernel log has BUG/Oops/WARNING"
else
    echo "PASS: dom0: kernel log has no BUG, Oops or WARNING"
fi

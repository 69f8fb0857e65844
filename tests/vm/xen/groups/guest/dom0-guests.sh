#!/bin/bash
# Dom0's part of the multi-guest Xen test (run by Dom0's /init in place of
# the xenbus test's script): starts the toolstack, makes the bridge xenbr0
# that the guests' netfronts join through xen-netback and Xen's vif-bridge
# hotplug script, loads the split driver's backend (xen2mx.ko with its
# board on xenbr0, so that frames between the guests turn round inside Dom0
# and frames for other hosts leave through the bridge, then xen2mx-back.ko),
# creates guests g1 and g2 with xen2mx-xl (their config asks for one xen2mx
# device), follows both xenbus ends to Connected, lists the guests'
# endpoints with xen2mx_info while g1 holds some open in each guest, waits
# for both guests to power themselves off, relaying their consoles prefixed
# "g1| " and "g2| ", then counts the grant mappings and endpoints back to 0
# and unloads the modules. Its own checks print PASS/FAIL lines.
# In the two-host test (x2m.scenario=hosts on Dom0's command line) the
# host (x2m.host=a or b) creates one guest, g1 on host a, g2 on host b,
# and the bridge also holds the machine's NIC, eth0, on the wire between
# the hosts: the guests' netfronts and Dom0's board reach the other host
# and the native machine through it.
# For the benchmark (/x2m/groups/bench holds 1 to pin), g1 holds no
# endpoints for xen2mx_info, and each guest's vCPU may be pinned to a
# processor of its own so that the two sides of a ping-pong do not take
# turns on one.
set -u
# check, wait_for, counter, state, and the PATH of the toolstack.
. /x2m/dom0-lib.sh
groups=/x2m/groups
seconds=$(cat $groups/guest-seconds 2>/dev/null || echo 900)
subnet=10.86.225
scenario=guests host=a
for word in $(cat /proc/cmdline); do
    case $word in
    x2m.scenario=*) scenario=${word#*=} ;;
    x2m.host=*) host=${word#*=} ;;
    esac
done
# me: how this Dom0 signs its lines; names: its guests; address: its own
# on the bridge.
if [ "$scenario" = hosts ]; then
    me=dom0$host
    case $host in
    a) names=g1 address=$subnet.254 ;;
    *) names=g2 address=$subnet.253 ;;
    esac
else
    me=dom0 names="g1 g2" address=$subnet.254
fi
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# gone NAME: true once domain x2m-NAME no longer exists. Debian's xl has been
# seen to crash under emulation: a crash (status 128 or more) says nothing.
gone() {
    xl domid "x2m-$1" >/dev/null 2>&1
    local rc=$?
    [ $rc -ne 0 ] && [ $rc -lt 128 ]
}
console() { echo /var/log/xen/console/guest-x2m-$1.log; }

# The console carries the tests' lines; kernel messages stay in dmesg.
dmesg -n 1
# ---------------------------------------------------------------- toolstack
start_toolstack

# ---------------------------------------------------------------- network
# Modules in load order (dependencies first), listed by dom0_overlay.sh.
# The NIC's receive ring at 1024 frames rather than 256: a busy emulated
# Dom0 refills it late, and QEMU then holds, and past its socket's buffer
# drops, what comes from the wire.
while read -r module; do
    options=""
    [ "$module" = e1000.ko ] && options=RxDescriptors=1024
    insmod "$groups/modules/$module" $options || echo "FAIL: $me: insmod $module"
done <$groups/modules/order
check "bridge xenbr0 ($address/24)" sh -c "ip link add xenbr0 type bridge stp_state 0 forward_delay 0 &&
    ip addr add $address/24 dev xenbr0 && ip link set xenbr0 up"
if [ "$scenario" = hosts ]; then
    # The bridge takes the NIC's MAC, given to it before the board is made
    # on the bridge: a bridge left to choose would take the lowest of its
    # ports' and could change it as vifs come and go.
    wait_for "[ -e /sys/class/net/eth0 ]" 10
    mac=$(cat /sys/class/net/eth0/address 2>/dev/null)
    check "eth0 ($mac, the wire to the other host) in xenbr0, which takes its MAC" sh -c \
        "ip link set eth0 up && ip link set eth0 master xenbr0 && ip link set xenbr0 address $mac"
fi

# ---------------------------------------------------------------- backend
# The board on the bridge, not on a port of it: the bridge takes every
# frame its ports receive, and hands the local stack (the board) those
# for its own MAC.
check "insmod xen2mx.ko ifnames=xenbr0" insmod /x2m/xen2mx.ko ifnames=xenbr0
check "board 0 is xenbr0" sh -c "kmod_tool info | grep -q '^BOARD 0 xenbr0 '"
check "insmod xen2mx-back.ko" insmod /x2m/xen2mx-back.ko
check "grants_mapped is 0 before any guest" test "$(counter grants_mapped)" = 0

# ---------------------------------------------------------------- guests
declare -A domid
create() {
    local name=$1 number=$2 start
    start=$(uptime_s)
    if check "xen2mx-xl create $name" xen2mx-xl create $groups/guest.cfg "name=\"x2m-$name\"" \
        "extra=\"console=hvc0 quiet x2m.role=$name x2m.ip=$subnet.$number x2m.subnet=$subnet x2m.scenario=$scenario\"" \
        "vif=[\"mac=00:16:3e:58:32:0$number,bridge=xenbr0\"]"; then
        cp /tmp/check.out /tmp/create.$name
        domid[$name]=$(xl domid x2m-$name)
        echo "$me: x2m-$name is domain ${domid[$name]} ($(awk -v s="$start" '{print $1 - s}' /proc/uptime) s)"
        check "xen2mx-xl started $name with its xen2mx device 0" \
            grep -q "domain x2m-$name (${domid[$name]}) started with xen2mx device(s) 0\$" /tmp/create.$name
    fi
}
# The guests' consoles as they come, so that a guest that never finishes
# still shows how far it got.
relays=""
for name in $names; do
    tail -n +1 -F "$(console $name)" 2>/dev/null > >(sed -u -e 's/\r$//' -e '/^\s*$/d' -e "s/^/$name| /") &
    relays="$relays $!"
done
for name in $names; do create $name ${name#g}; done
for name in $names; do
    if wait_for "grep -q X2M-GUEST-READY $(console $name) 2>/dev/null" 240; then
        echo "PASS: $me: $name booted (ready at Dom0 uptime $(uptime_s) s)"
    else
        echo "FAIL: $me: $name not ready within 240 s"
    fi
done
bench=$(cat $groups/bench 2>/dev/null)
if [ "$bench" = 1 ]; then
    check "g1's vCPU pinned to processor 0" xl vcpu-pin x2m-g1 0 0
    check "g2's vCPU pinned to processor 1" xl vcpu-pin x2m-g2 0 1
    xl vcpu-list | sed "s/^/$me: /"
fi
# The benchmark compares settings of the backend within one run: g1 asks
# on its console ("X2M-BENCH-SET rx_event_batching|lanes 0|1"), Dom0 sets the
# module parameter and tells g1 by connecting to its port 9301.
if [ -n "$bench" ]; then
    while read -r tag name value _; do
        [ "$tag" = X2M-BENCH-SET ] || continue
        case "$name=$value" in
        rx_event_batching=[01] | lanes=[01]) echo "$value" >/sys/module/xen2mx_back/parameters/$name ;;
        *) echo "FAIL: $me: g1 asked for an unknown setting: $name $value" ;;
        esac
        echo "$me: bench setting $name=$(cat /sys/module/xen2mx_back/parameters/$name 2>/dev/null)"
        (echo set >/dev/tcp/$subnet.1/9301) 2>/dev/null
    done < <(tail -n +1 -F "$(console g1)" 2>/dev/null | sed -u 's/\r$//') &
fi
count=$(echo $names | wc -w)
check "$count vif(s) on xenbr0" sh -c "[ \$(ls /sys/class/net/xenbr0/brif | grep -c '^vif') = $count ]"
free -m | sed "s/^/$me: /"

for name in $names; do
    id=${domid[$name]:-none}
    front=/local/domain/$id/device/xen2mx/0
    back=/local/domain/0/backend/xen2mx/$id/0
    if wait_for "[ \"\$(state $front)\" = 4 ] && [ \"\$(state $back)\" = 4 ]" 60; then
        echo "PASS: $me: $name's xen2mx device Connected at both ends"
    else
        echo "FAIL: $me: $name's xen2mx device not connected: frontend state $(state $front), backend state $(state $back)"
    fi
done

# g1 holds endpoints with traffic in both guests until Dom0 has listed
# them (it waits for a connection from Dom0 to its port 9300); the
# benchmark's g1 waits the same way for Dom0's reading of its counters.
if [ -n "$bench" ]; then
    # The backends' counters of the benchmark (events sent to each guest),
    # read before the guests go.
    if wait_for "grep -q X2M-BENCH-DONE $(console g1) 2>/dev/null || gone g1" "$seconds" &&
        grep -q X2M-BENCH-DONE "$(console g1)"; then
        for ring in /sys/bus/xen-backend/devices/xen2mx-*/ring; do
            echo "$me: backend $(basename "$(dirname "$ring")") ring: $(cat "$ring")"
        done
        (echo read >/dev/tcp/$subnet.1/9300) 2>/dev/null || echo "FAIL: $me: cannot tell g1 that the counters were read"
    fi
elif [ "$scenario" = hosts ]; then
    : # the two-host test's driver holds none for Dom0
elif wait_for "grep -q X2M-ENDPOINTS-HELD $(console g1) 2>/dev/null || gone g1" "$seconds" &&
    grep -q X2M-ENDPOINTS-HELD "$(console g1)"; then
    xen2mx_info >/tmp/info.out 2>&1
    echo "$me: xen2mx_info status $?"
    sed "s/^/$me: info| /" /tmp/info.out
    for name in g1 g2; do
        # Endpoints table: BOARD ID PID USER COMMAND FLAGS RX_FRAMES
        # RX_BYTES TX_FRAMES ...; a guest's endpoints are owned by dom<N>,
        # with no pid and no user (the kernel holds them, not root).
        read -r count rx tx < <(awk -v owner="dom${domid[$name]:-none}" \
            '/^Endpoints:/ { on = 1; next } /^$/ { on = 0 }
             on && $5 == owner && $3 == "-" && $4 == "-" { n++; rx += $7; tx += $9 }
             END { print n + 0, rx + 0, tx + 0 }' /tmp/info.out)
        if [ "$count" -ge 2 ] && [ "$rx" -ge 10 ] && [ "$tx" -ge 10 ]; then
            echo "PASS: $me: xen2mx_info lists $count endpoints of $name owned by dom${domid[$name]}, no user, $rx frames received, $tx sent"
        else
            echo "FAIL: $me: xen2mx_info shows $count endpoints of $name as dom${domid[$name]:-?} with no pid and no user ($rx frames received, $tx sent; 2, 10 and 10 expected)"
        fi
    done
    released=0
    for _ in $(seq 20); do
        (echo listed >/dev/tcp/$subnet.1/9300) 2>/dev/null && { released=1; break; }
        sleep 1
    done
    [ $released = 1 ] || echo "FAIL: $me: cannot tell g1 that its endpoints were listed"
else
    echo "FAIL: $me: g1 never said it held endpoints for xen2mx_info"
fi

for name in $names; do
    if wait_for "gone $name" "$seconds"; then
        echo "PASS: $me: $name powered itself off (at Dom0 uptime $(uptime_s) s)"
    else
        echo "FAIL: $me: $name still running after $seconds s; destroying it"
        xl destroy x2m-$name
    fi
done
# The consoles' last lines reach the relays.
sleep 2
kill $relays 2>/dev/null
sleep 1

kmod_tool counters | sed "s/^/$me: /"
# The guests check, around each run, that their frames all turned round
# here; the messaging suite also sends to boards that exist nowhere,
# which do go out on the bridge.
loopback=$(counter sent_loopback) zerocopy=$(counter sent_zerocopy)
if [ "$scenario" = hosts ]; then
    # The guest's own counters showed its fi_pingpong frames on the wire;
    # here the board's: frames sent and received through eth0. The frames
    # between two MPI ranks of the one guest turn round here: they are
    # left out, whether or not the board counts them as received too.
    sent=$(counter sent) received=$(counter received)
    check "Dom0's board sent $((${sent:-0} - ${loopback:-0})) frames on the wire" \
        test "$((${sent:-0} - ${loopback:-0}))" -gt 100
    check "Dom0's board received $((${received:-0} - ${loopback:-0})) frames from the wire" \
        test "$((${received:-0} - ${loopback:-0}))" -gt 100
else
    check "the guests' frames turned round in Dom0's board ($loopback frames)" test "${loopback:-0}" -gt 0
fi
# The benchmark lends pages only in the variants that ask for it.
[ -n "$bench" ] ||
    check "guest pages were lent to Dom0's board as fragments ($zerocopy zero-copy frames)" test "${zerocopy:-0}" -gt 0
served=$(counter pulls_served)
check "Dom0 answered the guests' PULLs from their memory regions ($served pulls)" test "${served:-0}" -gt 0
check "no region left in Dom0 (regions $(counter regions), region_pages $(counter region_pages))" \
    test "$(counter regions) $(counter region_pages)" = "0 0"
check "the guests' devices left the backend bus" \
    wait_for '[ -z "$(ls /sys/bus/xen-backend/devices | grep "^xen2mx-")" ]' 30
check "grants_mapped back to 0 once the guests are gone" wait_for '[ "$(counter grants_mapped)" = 0 ]' 30
check "endpoints_open back to 0" test "$(counter endpoints_open)" = 0
# What xen2mx-attach wrote outlives the guests; xen2mx-detach removes it.
for name in $names; do
    [ -n "${domid[$name]:-}" ] && check "xen2mx-detach $name (domain ${domid[$name]}, gone)" xen2mx-detach "${domid[$name]}"
done
check "no xen2mx backend node left in xenstore" sh -c "[ -z \"\$(xenstore-list /local/domain/0/backend/xen2mx 2>/dev/null)\" ]"
check "rmmod xen2mx-back once the guests are gone" rmmod xen2mx-back
check "rmmod xen2mx" rmmod xen2mx
if kernel_log_clean; then
    echo "PASS: $me: kernel log has no BUG, Oops, WARNING, general protection or refcount mark"
else
    echo "FAIL: $me: kernel log has BUG/Oops/WARNING/general protection/refcount (above)"
fi

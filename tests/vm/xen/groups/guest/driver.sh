#!/bin/bash
# The tests across the two PV guests, run by guest g1 (guest-init), reaching
# g2 over ssh through the netfronts bridged in Dom0. Every xen2mx run goes
# over the kmod link: /dev/xen2mx of xen2mx-front.ko backed by Dom0's
# xen2mx-back.ko (the device must appear in both guests); every process says
# in its log which link its endpoints took, and that must be this one. Each
# check prints one PASS or FAIL line on the console, which Dom0 relays to
# the test.
#   Dom0's view: endpoints with traffic held open in both guests until Dom0
#            has listed them with xen2mx_info;
#   group 1: fi_pingpong -p xen2mx -e rdm -c, g1 <-> g2: -S 32768 with
#            zero-copy sends, -S all; each guest's counters (what
#            Dom0 did with its frames) say every frame turned round in
#            Dom0; the messaging suite's tests for the link in each guest;
#   group 3: Open MPI jobs of 2 ranks (one per guest) and 4 ranks (two per
#            guest), launched over ssh by util/xen2mx-mpirun.
# In the two-host test (X2M_SCENARIO=hosts) g1 is the guest of host a, g2
# the guest of host b, and n1 a plain machine with the native xen2mx.ko, all
# three on one wire: group 1 is fi_pingpong g1 <-> g2 and g1 <-> n1, each
# pair with either end as server, every frame on the wire (none turned
# round in a Dom0); no held endpoints, no messaging suite (xen.guests runs
# them); group 3 as above.
# When the image holds /x2m/bench.sh (util/bench/xen_compare.sh put it
# there), the driver of the one-host setup runs it once both guests are
# up, in place of the tests.
set -u
role=$X2M_ROLE
scenario=${X2M_SCENARIO:-guests}
pass() { echo "PASS: $role: $*"; }
fail() { echo "FAIL: $role: $*"; }
as_user() { runuser -u x2m -- "$@"; }
on_g2() { runuser -u x2m -- ssh -o BatchMode=yes g2 "$@"; }
# on_host NAME COMMAND: COMMAND (a shell line) as user x2m in /tmp of
# machine NAME, this one or another over ssh.
on_host() {
    if [ "$1" = "$role" ]; then
        runuser -u x2m -- bash -c "cd /tmp && $2"
    else
        runuser -u x2m -- ssh -o BatchMode=yes "$1" "cd /tmp && $2"
    fi
}
elapsed() { echo "$(($(date +%s) - t0)) s"; }
t0=$(date +%s)
cd /tmp
if [ "$scenario" = hosts ]; then
    peers="g2 n1"
else
    peers=g2
fi

# ---------------------------------------------------------------- ordinary IP
for peer in $peers; do
    ok=0
    for _ in $(seq 120); do
        on_host $peer true >/dev/null 2>&1 && { ok=1; break; }
        sleep 1
    done
    if [ $ok = 1 ]; then
        pass "ssh to $peer over ordinary IP (the netfront on Dom0's bridge), $(elapsed)"
    else
        fail "$peer unreachable over ssh for 120 s: $(ping -c 1 -W 2 $peer 2>&1 | tail -n 2 | tr '\n' ' ')"
    fi
    ping -c 3 -i 0.3 -q $peer >/tmp/ping.out 2>&1 && pass "ping $peer: $(grep -E 'rtt|round-trip' /tmp/ping.out)" ||
        fail "ping $peer: $(tail -n 2 /tmp/ping.out | tr '\n' ' ')"
done

# ---------------------------------------------------------------- the link
link=kmod
# sent_counters MACHINE: "sent sent_loopback sent_zerocopy lane_frames
# lanes_out lanes_in", what Dom0 did with that guest's frames and what the
# guest sent to another guest of its host through lanes, Dom0 left out,
# from the guest's own /dev/xen2mx counters (empty when they cannot be
# read); on n1, its own board's (no lanes: zeros).
sent_counters() {
    on_host "$1" "/x2m/bin/kmod_tool counters" 2>/dev/null </dev/null | awk '$1 == "COUNTER" { v[$2] = $3 }
        END { if ("sent" in v) print v["sent"], v["sent_loopback"], v["sent_zerocopy"],
              v["lane_frames"] + 0, v["lanes_out"] + 0, v["lanes_in"] + 0 }'
}
missing="$role $peers"
for _ in $(seq 120); do
    for machine in $missing; do
        on_host $machine "test -c /dev/xen2mx" </dev/null 2>/dev/null && missing=$(echo " $missing " | sed "s/ $machine / /")
    done
    [ -z "${missing// /}" ] && break
    sleep 1
done
[ -z "${missing// /}" ] && pass "/dev/xen2mx in: $role $peers (in the guests xen2mx-front.ko connected to Dom0's backend)" ||
    fail "/dev/xen2mx did not appear within 120 s in:$missing"
echo "LINK: kmod: /dev/xen2mx of xen2mx-front.ko in each guest, frames through Dom0's xen2mx-back.ko"

if [ -f /x2m/bench.sh ]; then
    echo "bench: util/bench/xen_compare.sh's runs ($(elapsed))"
    . /x2m/bench.sh
    # Dom0 reads its backends' ring counters while the guests are still
    # connected, then connects to port 9300.
    timeout 120 nc -d -l 9300 >/dev/null 2>&1 &
    listener=$!
    sleep 1
    echo "X2M-BENCH-DONE"
    wait $listener || fail "Dom0 did not read its ring counters within 120 s"
    echo "driver: $(elapsed)"
    runuser -u x2m -- ssh -o BatchMode=yes root@g2 touch /run/x2m-done ||
        fail "cannot tell g2 that the benchmark is over"
    exit 0
fi

if [ "$scenario" = guests ]; then
    # Two endpoints in each guest, frames between them, held open until
    # Dom0 has listed them: it connects to port 9300 when it is done.
    echo "Dom0's view: endpoints held in both guests ($(elapsed))"
    as_user kmod_tool traffic 10 >/tmp/traffic.g1 2>&1 &
    holder=$!
    on_g2 "/x2m/bin/kmod_tool traffic 10 >/tmp/traffic.g2 2>&1 </dev/null & echo \$! >/tmp/traffic.pid" </dev/null
    for _ in $(seq 60); do
        grep -q TRAFFIC /tmp/traffic.g1 && on_g2 "grep -q TRAFFIC /tmp/traffic.g2" && break
        sleep 1
    done
    on_g2 "cat /tmp/traffic.g2" >/tmp/traffic.g2 2>&1
    for guest in g1 g2; do
        grep -q 'TRAFFIC .* frames=10 ' /tmp/traffic.$guest && pass "two endpoints of $guest exchanged 10 frames through Dom0" ||
            fail "kmod_tool traffic in $guest: $(tr '\n' ' ' </tmp/traffic.$guest)"
    done
    timeout 300 nc -d -l 9300 >/dev/null 2>&1 &
    listener=$!
    sleep 1
    echo "X2M-ENDPOINTS-HELD $(tr '\n' ' ' </tmp/traffic.g1)/ g2: $(tr '\n' ' ' </tmp/traffic.g2)"
    wait $listener && pass "Dom0 listed the held endpoints ($(elapsed))" ||
        fail "Dom0 did not say within 300 s that it had listed the endpoints"
    kill $holder
    on_g2 'kill $(cat /tmp/traffic.pid)'
    wait $holder 2>/dev/null
fi

# The provider copies its frames into the tx chunks the guest shares with
# Dom0 (FI_XEN2MX_KMOD_ZEROCOPY=0) except in the zero-copy run below, which
# lends every full 1.5 KB frame's payload (=1024; by default only jumbo
# frames' payloads go zero-copy). It
# waits for each zero-copy frame's completion before the next, and here
# each completion is a round trip through Dom0 and Xen's scheduler that the
# emulation stretches to some 5 ms, a 32-frame pull block a few hundred
# ms (tests/vm/README.md). env_logged: the endpoints' link in each process's log
# (FI_LOG_LEVEL=info for the provider's endpoint setup only).
env_link="FI_PROVIDER_PATH=/x2m/lib FI_XEN2MX_LINK=$link FI_XEN2MX_KMOD_ZEROCOPY=0 FI_LOG_LEVEL=warn"
env_logged="FI_PROVIDER_PATH=/x2m/lib FI_XEN2MX_LINK=$link FI_XEN2MX_KMOD_ZEROCOPY=0 FI_LOG_LEVEL=info"
env_logged="$env_logged FI_LOG_PROV=xen2mx FI_LOG_SUBSYS=ep_ctrl"
# links_seen FILE: "N other" — endpoints opened on this link and on any other.
links_seen() {
    echo "$(grep -c "on the $link link" "$1") $(grep -E 'endpoint .* on the [a-z]+ link' "$1" | grep -vc "on the $link link")"
}

port=9227
# pingpong SERVER CLIENT WHAT ENV SIZE ITERATIONS SECONDS: fi_pingpong -p
# xen2mx -e rdm -c under a time limit between machines SERVER and CLIENT,
# both unprivileged; each endpoint on the link; the frames each end sent,
# as its own counters tell: on one host every one turned round in Dom0's
# board (none went on the wire) or went through a lane to the other guest
# (in the copied run, some did from each end, and no lane is left once the
# processes are gone), across hosts none did either; for a zero-copy run,
# some went zero-copy from each end.
pingpong() {
    local server=$1 client=$2 what=$3 env=$4 size=$5 iterations=$6 seconds=$7 start client_rc server_rc side mine others
    local machine pid sent0 loop0 zc0 lane0 sent1 loop1 zc1 lane1 out1 in1
    local -A before
    echo "group 1: fi_pingpong -S $size, $what, $server (server) <-> $client ($(elapsed))"
    for machine in $server $client; do before[$machine]=$(sent_counters $machine); done
    start=$(date +%s)
    # A port of its own for each run: a server left behind cannot hold it.
    port=$((port + 1))
    on_host $server "echo \$\$ >/tmp/pp.pid && exec env $env timeout $seconds fi_pingpong -p xen2mx -e rdm -c -S $size -I $iterations -B $port" \
        </dev/null >/tmp/pp.server 2>&1 &
    pid=$!
    # The client once the server listens (a server started over ssh takes
    # seconds in these emulated machines); a client that fails stops it.
    for _ in $(seq 60); do
        on_host $server "ss -ltn | grep -q ':$port '" </dev/null 2>/dev/null && break
        sleep 1
    done
    on_host $client "env $env timeout $seconds fi_pingpong -p xen2mx -e rdm -c -S $size -I $iterations -P $port $server" \
        </dev/null >/tmp/pp.client 2>&1
    client_rc=$?
    [ $client_rc = 0 ] || on_host $server 'kill $(cat /tmp/pp.pid)' </dev/null 2>/dev/null
    wait $pid
    server_rc=$?
    grep -v '^libfabric:' /tmp/pp.client
    if [ $client_rc = 0 ] && [ $server_rc = 0 ]; then
        pass "fi_pingpong -p xen2mx -e rdm -S $size -I $iterations -c $server (server) <-> $client over the $link link, $what, unprivileged ($(($(date +%s) - start)) s; largest: $(grep -v '^libfabric:' /tmp/pp.client | tail -n 1 | tr -s ' '))"
    else
        fail "fi_pingpong -S $size $server (server) <-> $client over the $link link, $what: client $client_rc, server $server_rc: $(grep -v '^libfabric:' /tmp/pp.server | tail -n 5 | tr '\n' ' ')"
    fi
    for side in server client; do
        read -r mine others < <(links_seen /tmp/pp.$side)
        [ "$mine" -ge 1 ] && [ "$others" = 0 ] && pass "fi_pingpong's $side endpoint on the $link link ($what)" ||
            fail "fi_pingpong's $side ($what): $mine endpoints on the $link link, $others on another"
    done
    for machine in $server $client; do
        read -r sent0 loop0 zc0 lane0 _ _ <<<"${before[$machine]}"
        read -r sent1 loop1 zc1 lane1 out1 in1 <<<"$(sent_counters $machine)"
        if [ -z "$sent0" ] || [ -z "$sent1" ]; then
            fail "$machine's /dev/xen2mx counters unreadable ('${before[$machine]}', '$sent1 $loop1 $zc1')"
        elif [ "$scenario" = guests ] && [ "$sent1" -gt "$sent0" ] && [ $((sent1 - sent0)) = $((loop1 - loop0)) ]; then
            pass "Dom0 sent $((sent1 - sent0)) frames for $machine ($what), every one turned round in Dom0's board, $((zc1 - zc0)) zero-copy"
        elif [ "$scenario" = hosts ] && [ "$sent1" -gt "$sent0" ] && [ "$loop1" = "$loop0" ]; then
            pass "$((sent1 - sent0)) frames of $machine went on the wire ($what), none turned round, $((zc1 - zc0)) zero-copy"
        else
            fail "$machine's frames ($what): $((sent1 - sent0)) sent, $((loop1 - loop0)) of them turned round in its board"
        fi
        if [ "$scenario" = hosts ] || [ -z "$lane1" ]; then
            [ "${lane1:-0}" = "${lane0:-0}" ] || fail "$machine sent $((lane1 - lane0)) frames through lanes to another host"
        elif [ "$what" = "copied sends" ]; then
            [ "$lane1" -gt "$lane0" ] && pass "$machine sent $((lane1 - lane0)) frames to the other guest through a lane, Dom0 not involved" ||
                fail "no frame of $machine went through a lane ($what: $lane0 -> $lane1)"
        fi
        if [ -n "$out1" ]; then
            [ "$out1" = 0 ] && [ "$in1" = 0 ] && pass "no lane left in $machine once fi_pingpong is gone" ||
                fail "$machine still has lanes once fi_pingpong is gone: $out1 mapped, $in1 granted"
        fi
        case $what in
        zero-copy*)
            [ -n "$zc1" ] && [ "$zc1" -gt "${zc0:-0}" ] && pass "$machine's pages went zero-copy to its board ($((zc1 - zc0)) frames)" ||
                fail "no zero-copy frame from $machine in the zero-copy run ('$zc0' -> '$zc1')"
            ;;
        esac
    done
}

# ---------------------------------------------------------------- group 1
if [ "$scenario" = hosts ]; then
    # Zero-copy from 1 KiB on: frames on the wire carry at most 1500 bytes,
    # below the provider's default threshold.
    zerocopy_env="${env_logged/ FI_XEN2MX_KMOD_ZEROCOPY=0/ FI_XEN2MX_KMOD_ZEROCOPY=1024}"
    pingpong g1 g2 "zero-copy sends, across the hosts" "$zerocopy_env" 32768 10 120
    # Every size up to 8 MiB, data checked, 2 rounds each: across the wire
    # the emulated machines move much less than between two guests of one
    # host.
    pingpong g2 g1 "copied sends, across the hosts" "$env_logged" all 2 400
    pingpong n1 g1 "zero-copy sends, guest and native machine" "$zerocopy_env" 32768 10 120
    pingpong g1 n1 "copied sends, guest and native machine" "$env_logged" all 2 400
else
    # Medium messages of 23 frames, each payload granted to Dom0 and lent
    # to its board as skb fragments.
    pingpong g1 g2 "zero-copy sends" "${env_logged/ FI_XEN2MX_KMOD_ZEROCOPY=0/ FI_XEN2MX_KMOD_ZEROCOPY=1024}" 32768 10 120
    # Every size up to 8 MiB, data checked; 5 rounds each: the emulated
    # guests move 2 to 4 MB/s, and the sizes from 1 MiB on take most of
    # the time.
    pingpong g1 g2 "copied sends" "$env_logged" all 5 600
fi

if [ "$scenario" = guests ]; then
    # The messaging suite over the same link in each guest, one guest after the
    # other: some of its checks give a peer a few seconds for a 1 MiB transfer,
    # which two suites at once on the two emulated processors do not leave it.
    echo "group 1: messaging suites ($(elapsed))"
    start=$(date +%s)
    filter="--gtest_filter=*$link*"
    for guest in g1 g2; do
        if [ $guest = g1 ]; then
            as_user env $env_link timeout 300 /x2m/bin/test_messaging "$filter" >/tmp/msg.g1 2>&1
        else
            on_g2 "cd /tmp && env $env_link timeout 300 /x2m/bin/test_messaging '$filter'" >/tmp/msg.g2 2>&1
        fi
        rc=$?
        if [ "$rc" = 0 ] && grep -qE '^\[  PASSED  \] [1-9]' /tmp/msg.$guest && ! grep -qE '^\[  SKIPPED \]' /tmp/msg.$guest; then
            pass "messaging suite over the $link link in $guest: $(grep -E '^\[  PASSED  \]' /tmp/msg.$guest)"
        else
            grep -vE '^\[ +(RUN|OK) +\]' /tmp/msg.$guest | tail -n 40 | sed "s/^/  $guest messaging: /"
            fail "messaging suite over the $link link in $guest (status $rc): $(grep -E '^\[  (FAILED|SKIPPED) \]' /tmp/msg.$guest | head -n 10 | tr '\n' ' ')"
        fi
    done
    echo "messaging suites: $(($(date +%s) - start)) s"
fi

# ---------------------------------------------------------------- group 3
# mpi_job PROGRAM RANKS HOSTS [ARGUMENTS]: one Open MPI job across the guests, judged as
# fabtests/functional/mpi.sh judges it (exit status, every rank on xen2mx,
# the program's own PASS lines, no FAIL).
mpi_job() {
    local program=$1 ranks=$2 hosts=$3 rc chosen passed out=/tmp/mpi.$1.$2
    shift 3
    echo "group 3: $program on $ranks ranks ($(elapsed))"
    start=$(date +%s)
    as_user env $env_logged OMPI_MCA_oob_tcp_if_include=eth0 timeout -k 10 300 \
        xen2mx-mpirun -np "$ranks" --host "$hosts" --mca mpi_yield_when_idle 1 --mca mtl_base_verbose 1 \
        "/x2m/bin/$program" "$@" >"$out" 2>&1
    rc=$?
    grep -E '^(PASS|FAIL)' "$out" | sed "s/^/  $program: /"
    chosen=$(grep -c 'mtl:ofi:provider: xen2mx' "$out")
    passed=$(grep -c '^PASS: ' "$out")
    read -r mine others < <(links_seen "$out")
    if [ $rc = 0 ] && [ "$chosen" -eq "$ranks" ] && [ "$mine" -ge "$ranks" ] && [ "$others" = 0 ] && [ "$passed" -gt 0 ] &&
        ! grep -q '^FAIL: ' "$out"; then
        pass "Open MPI $program on $ranks ranks ($hosts) over the $link link: $passed parts passed, every rank on xen2mx, $mine endpoints on the $link link ($(($(date +%s) - start)) s)"
    else
        grep -vE '^PASS' "$out" | grep -v 'libfabric:' | tail -n 40 | sed "s/^/  $program: /"
        fail "Open MPI $program on $ranks ranks ($hosts) over the $link link: exit $rc, $chosen of $ranks ranks on xen2mx, endpoints on the $link link $mine and on another $others, $passed parts passed"
    fi
}
# One round each (the programs' default is two): the emulated guests are
# slow, and one round already covers every size and operation.
mpi_job mpi_p2p 2 g1,g2 1
mpi_job mpi_coll 4 g1:2,g2:2 1

echo "driver: $(elapsed)"
for peer in $peers; do
    runuser -u x2m -- ssh -o BatchMode=yes root@$peer touch /run/x2m-done ||
        fail "cannot tell $peer that the tests are over"
done

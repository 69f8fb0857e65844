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
set -u
role=$X2M_ROLE
pass() { echo "PASS: $role: $*"; }
fail() { echo "FAIL: $role: $*"; }
as_user() { runuser -u x2m -- "$@"; }
on_g2() { runuser -u x2m -- ssh -o BatchMode=yes g2 "$@"; }
elapsed() { echo "$(($(date +%s) - t0)) s"; }
t0=$(date +%s)
cd /tmp

# ---------------------------------------------------------------- ordinary IP
ok=0
for _ in $(seq 120); do
    on_g2 true >/dev/null 2>&1 && { ok=1; break; }
    sleep 1
done
if [ $ok = 1 ]; then
    pass "ssh to g2 over the netfronts (Dom0's bridge), $(elapsed)"
else
    fail "g2 unreachable over ssh for 120 s: $(ping -c 1 -W 2 g2 2>&1 | tail -n 2 | tr '\n' ' ')"
fi
ping -c 3 -i 0.3 -q g2 >/tmp/ping.out 2>&1 && pass "ping g2: $(grep -E 'rtt|round-trip' /tmp/ping.out)" ||
    fail "ping g2: $(tail -n 2 /tmp/ping.out | tr '\n' ' ')"

# ---------------------------------------------------------------- the link
link=kmod
# sent_counters GUEST: "sent sent_loopback sent_zerocopy", what Dom0 did
# with that guest's frames, from the guest's own /dev/xen2mx counters
# (empty when they cannot be read).
sent_counters() {
    local tool=/x2m/bin/kmod_tool out
    if [ "$1" = g1 ]; then out=$($tool counters 2>/dev/null); else out=$(on_g2 "$tool counters" 2>/dev/null); fi
    echo "$out" | awk '$1 == "COUNTER" { v[$2] = $3 }
        END { if ("sent" in v) print v["sent"], v["sent_loopback"], v["sent_zerocopy"] }'
}
here_dev=0 there_dev=0
for _ in $(seq 120); do
    [ -c /dev/xen2mx ] && here_dev=1
    on_g2 test -c /dev/xen2mx 2>/dev/null && there_dev=1
    [ $here_dev = 1 ] && [ $there_dev = 1 ] && break
    sleep 1
done
[ $here_dev = 1 ] && [ $there_dev = 1 ] && pass "/dev/xen2mx in both guests (xen2mx-front.ko connected to Dom0's backend)" ||
    fail "/dev/xen2mx did not appear within 120 s (g1: $here_dev, g2: $there_dev)"
echo "LINK: kmod: /dev/xen2mx of xen2mx-front.ko in each guest, frames through Dom0's xen2mx-back.ko"

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

# pingpong WHAT ENV SIZE ITERATIONS SECONDS: fi_pingpong -p xen2mx -e rdm -c
# under a time limit, server in g1 and client in g2, both unprivileged; each
# endpoint on the link; every frame either guest sent turned round in Dom0's
# board (none went on the wire) and, for a zero-copy run, some went
# zero-copy from each guest.
pingpong() {
    local what=$1 env=$2 size=$3 iterations=$4 seconds=$5 start client_rc server_rc side mine others guest
    local -A before
    echo "group 1: fi_pingpong -S $size, $what, g1 <-> g2 ($(elapsed))"
    for guest in g1 g2; do before[$guest]=$(sent_counters $guest); done
    start=$(date +%s)
    as_user env $env timeout "$seconds" fi_pingpong -p xen2mx -e rdm -c -S "$size" -I "$iterations" -B 9228 >/tmp/pp.server 2>&1 &
    server=$!
    sleep 1
    on_g2 "env $env timeout $seconds fi_pingpong -p xen2mx -e rdm -c -S $size -I $iterations -P 9228 g1" >/tmp/pp.client 2>&1
    client_rc=$?
    wait $server
    server_rc=$?
    grep -v '^libfabric:' /tmp/pp.client
    if [ $client_rc = 0 ] && [ $server_rc = 0 ]; then
        pass "fi_pingpong -p xen2mx -e rdm -S $size -I $iterations -c g1 <-> g2 over the $link link, $what, unprivileged ($(($(date +%s) - start)) s; largest: $(grep -v '^libfabric:' /tmp/pp.client | tail -n 1 | tr -s ' '))"
    else
        fail "fi_pingpong -S $size over the $link link, $what: client $client_rc, server $server_rc: $(grep -v '^libfabric:' /tmp/pp.server | tail -n 5 | tr '\n' ' ')"
    fi
    for side in server client; do
        read -r mine others < <(links_seen /tmp/pp.$side)
        [ "$mine" -ge 1 ] && [ "$others" = 0 ] && pass "fi_pingpong's $side endpoint on the $link link ($what)" ||
            fail "fi_pingpong's $side ($what): $mine endpoints on the $link link, $others on another"
    done
    for guest in g1 g2; do
        local sent0 loop0 zc0 sent1 loop1 zc1
        read -r sent0 loop0 zc0 <<<"${before[$guest]}"
        read -r sent1 loop1 zc1 <<<"$(sent_counters $guest)"
        if [ -z "$sent0" ] || [ -z "$sent1" ]; then
            fail "$guest's /dev/xen2mx counters unreadable ('${before[$guest]}', '$sent1 $loop1 $zc1')"
        elif [ "$sent1" -gt "$sent0" ] && [ $((sent1 - sent0)) = $((loop1 - loop0)) ]; then
            pass "Dom0 sent $((sent1 - sent0)) frames for $guest ($what), every one turned round in Dom0's board, $((zc1 - zc0)) zero-copy"
        else
            fail "$guest's frames ($what): $((sent1 - sent0)) sent, $((loop1 - loop0)) of them turned round in Dom0"
        fi
        case $what in
        zero-copy*)
            [ -n "$zc1" ] && [ "$zc1" -gt "${zc0:-0}" ] && pass "$guest's pages went zero-copy to Dom0 ($((zc1 - zc0)) frames)" ||
                fail "no zero-copy frame from $guest in the zero-copy run ('$zc0' -> '$zc1')"
            ;;
        esac
    done
}

# ---------------------------------------------------------------- group 1
# Medium messages of 23 frames, each payload granted to Dom0 and lent to
# its board as skb fragments.
pingpong "zero-copy sends" "${env_logged/ FI_XEN2MX_KMOD_ZEROCOPY=0/ FI_XEN2MX_KMOD_ZEROCOPY=1024}" 32768 10 120
# Every size up to 8 MiB, data checked; 5 rounds each: the emulated guests
# move 2 to 4 MB/s, and the sizes from 1 MiB on take most of the time.
pingpong "copied sends" "$env_logged" all 5 600

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
runuser -u x2m -- ssh -o BatchMode=yes root@g2 touch /run/x2m-done ||
    fail "cannot tell g2 that the tests are over"

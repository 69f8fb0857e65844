#!/bin/bash
# The tests across the two PV guests, run by guest g1 (guest-init), reaching
# g2 over ssh through the netfronts bridged in Dom0. One link carries every
# xen2mx run: kmod (/dev/xen2mx of xen2mx-front.ko, backed by Dom0) when
# Dom0 packed the split driver (x2m.kmod=1: its device must then appear), the
# udp link over the netfronts otherwise. Each check prints one PASS or FAIL
# line on the console, which Dom0 relays to the test.
#   group 1: fi_pingpong -p xen2mx -e rdm -S all -c, g1 <-> g2; the messaging
#            suite in both guests at once;
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
if [ "$X2M_KMOD" = 1 ]; then
    link=kmod
    here_dev=0 there_dev=0
    for _ in $(seq 120); do
        [ -c /dev/xen2mx ] && here_dev=1
        on_g2 test -c /dev/xen2mx 2>/dev/null && there_dev=1
        [ $here_dev = 1 ] && [ $there_dev = 1 ] && break
        sleep 1
    done
    [ $here_dev = 1 ] && [ $there_dev = 1 ] && pass "/dev/xen2mx in both guests (xen2mx-front.ko connected to Dom0's backend)" ||
        fail "/dev/xen2mx did not appear within 120 s (g1: $here_dev, g2: $there_dev) though Dom0 has xen2mx-back.ko"
    echo "LINK: kmod: /dev/xen2mx of xen2mx-front.ko in each guest, frames through Dom0's xen2mx-back.ko"
else
    link=udp
    echo "LINK: udp: over the netfronts bridged in Dom0 (no xen2mx-front.ko/xen2mx-back.ko in the build tree)"
fi
env_link="FI_PROVIDER_PATH=/x2m/lib FI_XEN2MX_LINK=$link FI_LOG_LEVEL=warn"
# udp: datagrams that fit the netfronts' 1500-byte MTU. With the default
# (65000) IP cuts each into some 45 fragments, one lost fragment loses the
# datagram, and fi_pingpong's sizes from 768 KiB on took minutes.
[ $link = udp ] && env_link="$env_link FI_XEN2MX_IFACE=eth0 FI_XEN2MX_UDP_MTU=1472"

# ---------------------------------------------------------------- group 1
echo "group 1: fi_pingpong g1 <-> g2 ($(elapsed))"
start=$(date +%s)
as_user env $env_link timeout 240 fi_pingpong -p xen2mx -e rdm -c -S all -B 9228 >/tmp/pp.server 2>&1 &
server=$!
sleep 1
on_g2 "env $env_link timeout 240 fi_pingpong -p xen2mx -e rdm -c -S all -P 9228 g1" >/tmp/pp.client 2>&1
client_rc=$?
wait $server
server_rc=$?
cat /tmp/pp.client
if [ $client_rc = 0 ] && [ $server_rc = 0 ]; then
    pass "fi_pingpong -p xen2mx -e rdm -S all -c g1 <-> g2 over the $link link, unprivileged ($(($(date +%s) - start)) s; largest: $(tail -n 1 /tmp/pp.client | tr -s ' '))"
else
    fail "fi_pingpong over the $link link: client $client_rc, server $server_rc: $(tail -n 5 /tmp/pp.server | tr '\n' ' ')"
fi

# The messaging suite over the same link, in each guest at once.
echo "group 1: messaging suites ($(elapsed))"
start=$(date +%s)
filter="--gtest_filter=*$link*"
as_user env $env_link timeout 300 /x2m/bin/test_messaging "$filter" >/tmp/msg.g1 2>&1 &
mine=$!
on_g2 "cd /tmp && env $env_link timeout 300 /x2m/bin/test_messaging '$filter'" >/tmp/msg.g2 2>&1
theirs=$?
wait $mine
mine=$?
for guest in g1 g2; do
    [ $guest = g1 ] && rc=$mine || rc=$theirs
    if [ "$rc" = 0 ] && grep -qE '^\[  PASSED  \]' /tmp/msg.$guest; then
        pass "messaging suite over the $link link in $guest: $(grep -E '^\[  PASSED  \]' /tmp/msg.$guest)"
    else
        grep -vE '^\[ +(RUN|OK) +\]' /tmp/msg.$guest | tail -n 40 | sed "s/^/  $guest messaging: /"
        fail "messaging suite over the $link link in $guest (status $rc): $(grep -E '^\[  FAILED  \]' /tmp/msg.$guest | head -n 10 | tr '\n' ' ')"
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
    as_user env $env_link OMPI_MCA_oob_tcp_if_include=eth0 timeout -k 10 300 \
        xen2mx-mpirun -np "$ranks" --host "$hosts" --mca mpi_yield_when_idle 1 --mca mtl_base_verbose 1 \
        "/x2m/bin/$program" "$@" >"$out" 2>&1
    rc=$?
    grep -E '^(PASS|FAIL)' "$out" | sed "s/^/  $program: /"
    chosen=$(grep -c 'mtl:ofi:provider: xen2mx' "$out")
    passed=$(grep -c '^PASS: ' "$out")
    if [ $rc = 0 ] && [ "$chosen" -eq "$ranks" ] && [ "$passed" -gt 0 ] && ! grep -q '^FAIL: ' "$out"; then
        pass "Open MPI $program on $ranks ranks ($hosts) over the $link link: $passed parts passed, every rank on xen2mx ($(($(date +%s) - start)) s)"
    else
        grep -vE '^PASS' "$out" | grep -v 'libfabric:' | tail -n 40 | sed "s/^/  $program: /"
        fail "Open MPI $program on $ranks ranks ($hosts) over the $link link: exit $rc, $chosen of $ranks ranks on xen2mx, $passed parts passed"
    fi
}
# One round each (the programs' default is two): the emulated guests are
# slow, and one round already covers every size and operation.
mpi_job mpi_p2p 2 g1,g2 1
mpi_job mpi_coll 4 g1:2,g2:2 1

echo "driver: $(elapsed)"
runuser -u x2m -- ssh -o BatchMode=yes root@g2 touch /run/x2m-done ||
    fail "cannot tell g2 that the tests are over"

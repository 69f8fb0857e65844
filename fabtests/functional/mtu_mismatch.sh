#!/bin/bash
# fi_pingpong between two hosts whose MTUs differ on one network: two network
# namespaces joined by a veth pair whose ends have MTU 9000 and 1500. Each
# side's path to the other is its own interface's, so each would size its
# frames (medium frags, pull replies) for a different MTU; the 1500 end cannot
# take the 9000 end's jumbo frames (veth drops them, counted as TX drops of the
# 9000 end). The two ends agree on the smaller size when they connect.
#   mtu_mismatch.sh udp|ethernet
# RDM, every size with data checks, once with the server on each side (so
# that each side is the first to connect). Checks: both sides exit 0, the 9000
# end had no frame dropped for its size, and over udp no IP fragment was made
# in either namespace. DGRAM endpoints do not connect and so agree on nothing
# (see fi_xen2mx(7)): they are not run here.
# Needs root and ip(8); veth must be available.
. "$(dirname "$0")/lib.sh"
need_tool "$FI_PINGPONG" fi_pingpong
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null 2>&1 || skip "ip not installed (apt-get install iproute2)"
link=${1:-udp}
case $link in
udp | ethernet) ;;
*) echo "FAIL: unknown link $link" && exit 1 ;;
esac

veth_namespaces m "mtu 9000" "mtu 1500" || {
    echo "FAIL: cannot create a veth pair: $(cat "$WORK/err")"
    exit 1
}
ip -n "$NS_A" addr add 10.86.224.1/24 dev "$IF_A"
ip -n "$NS_B" addr add 10.86.224.2/24 dev "$IF_B"
addr_a=10.86.224.1
addr_b=10.86.224.2

# stat NS IF NAME: a counter of an interface, read inside its namespace.
stat() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }
# frags_created NS: the IP layer's FragCreates counter of a namespace.
frags_created() {
    ip netns exec "$1" awk '/^Ip: [A-Za-z]/ { for (i = 2; i <= NF; i++) if ($i == "FragCreates") column = i }
                           /^Ip: [0-9]/ { print $column }' /proc/net/snmp
}

mtu_a=$(ip netns exec "$NS_A" cat "/sys/class/net/$IF_A/mtu")
mtu_b=$(ip netns exec "$NS_B" cat "/sys/class/net/$IF_B/mtu")
[ "$mtu_a" = 9000 ] && [ "$mtu_b" = 1500 ] && pass "the two ends have MTUs $mtu_a and $mtu_b" \
    || fail "the two ends have MTUs $mtu_a and $mtu_b, not 9000 and 1500: the test proves nothing"

unset FI_PROVIDER
export FI_XEN2MX_LINK=$link

# run SERVER_SIDE: the server in namespace SERVER_SIDE (A or B), the client
# in the other one.
run() {
    local server_ns server_if client_ns client_if server_addr
    if [ "$1" = A ]; then
        server_ns=$NS_A server_if=$IF_A client_ns=$NS_B client_if=$IF_B server_addr=$addr_a
    else
        server_ns=$NS_B server_if=$IF_B client_ns=$NS_A client_if=$IF_A server_addr=$addr_b
    fi
    local what="$link, server on the MTU $([ "$1" = A ] && echo 9000 || echo 1500) side"
    local port=$((20000 + RANDOM % 20000)) base=$((30720 + (RANDOM % 100) * 256))
    local dropped_before frags_a frags_b
    dropped_before=$(stat "$NS_A" "$IF_A" tx_dropped)
    frags_a=$(frags_created "$NS_A")
    frags_b=$(frags_created "$NS_B")
    local start=$SECONDS
    FI_XEN2MX_IFACE=$server_if FI_XEN2MX_UDP_PORT_BASE=$base run_tool timeout 150 ip netns exec "$server_ns" \
        "$FI_PINGPONG" -p xen2mx -e rdm -c -S all -B "$port" >"$WORK/server" 2>&1 &
    local server=$!
    PIDS="$PIDS $server"
    sleep 0.5
    FI_XEN2MX_IFACE=$client_if FI_XEN2MX_UDP_PORT_BASE=$base run_tool timeout 150 ip netns exec "$client_ns" \
        "$FI_PINGPONG" -p xen2mx -e rdm -c -S all -P "$port" "$server_addr" >"$WORK/client" 2>&1
    local client_rc=$?
    wait $server
    local server_rc=$?
    echo "---- $what: client ($((SECONDS - start)) s)"
    cat "$WORK/client"
    if [ $client_rc -ne 0 ] || [ $server_rc -ne 0 ]; then
        echo "---- server"
        cat "$WORK/server"
        fail "fi_pingpong -e rdm -S all -c ($what): client exit $client_rc, server exit $server_rc"
    else
        local results largest
        results=$(grep -cE '^[0-9.]+[kmg]? +[0-9.]+[kmg]? +=[0-9.]+[kmg]? ' "$WORK/client")
        largest=$(awk '/^[0-9.]+[kmg]? +[0-9.]+[kmg]? +=/ {size=$1} END {print size}' "$WORK/client")
        [ "$results" -gt 10 ] && pass "fi_pingpong -e rdm -S all -c ($what): $results sizes, up to $largest" \
            || fail "fi_pingpong ($what): only $results result lines"
    fi
    local dropped=$(($(stat "$NS_A" "$IF_A" tx_dropped) - dropped_before))
    [ "$dropped" -eq 0 ] && pass "no frame too long for the MTU 1500 end ($what)" \
        || fail "$dropped frames too long for the MTU 1500 end were dropped ($what)"
    if [ "$link" = udp ]; then
        local made=$(($(frags_created "$NS_A") - frags_a + $(frags_created "$NS_B") - frags_b))
        [ "$made" -eq 0 ] && pass "no IP fragment made ($what)" || fail "$made IP fragments made ($what)"
    fi
}

run A
run B
finish

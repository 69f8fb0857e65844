#!/bin/bash
# Debian's real fi_pingpong over the Ethernet link: two network namespaces
# joined by a veth pair at the MTU given (1500 or 9000), server in one, client
# in the other, every size with data checks, RDM and DGRAM.
#   pingpong_ethernet.sh MTU
# Needs root and ip(8). fi_pingpong's own control connection uses IP on the
# same veth pair; xen2mx's frames go raw (ethertype 0x86DF).
. "$(dirname "$0")/lib.sh"
need_tool "$FI_PINGPONG" fi_pingpong
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, CAP_NET_RAW)"
command -v ip >/dev/null 2>&1 || skip "ip not installed (apt-get install iproute2)"
mtu=${1:-1500}

veth_namespaces p "mtu $mtu" "mtu $mtu" || {
    echo "FAIL: cannot create a veth pair: $(cat "$WORK/err")"
    exit 1
}
ip -n "$NS_A" addr add 10.86.223.1/24 dev "$IF_A"
ip -n "$NS_B" addr add 10.86.223.2/24 dev "$IF_B"

unset FI_PROVIDER
export FI_XEN2MX_LINK=ethernet
for type in rdm dgram; do
    port=$((20000 + RANDOM % 20000))
    FI_XEN2MX_IFACE=$IF_A run_tool timeout 300 ip netns exec "$NS_A" "$FI_PINGPONG" -p xen2mx -e "$type" -c \
        -S all -B "$port" >"$WORK/server" 2>&1 &
    server=$!
    sleep 0.5
    FI_XEN2MX_IFACE=$IF_B run_tool timeout 300 ip netns exec "$NS_B" "$FI_PINGPONG" -p xen2mx -e "$type" -c \
        -S all -P "$port" 10.86.223.1 >"$WORK/client" 2>&1
    client_rc=$?
    wait $server
    server_rc=$?
    echo "---- $type, MTU $mtu: client"
    cat "$WORK/client"
    if [ $client_rc -ne 0 ] || [ $server_rc -ne 0 ]; then
        echo "---- server"
        cat "$WORK/server"
        fail "fi_pingpong -e $type over the Ethernet link at MTU $mtu (client $client_rc, server $server_rc)"
    else
        largest=$(awk '/^[0-9.]+[kmg]? +[0-9.]+[kmg]? +=/ {size=$1} END {print size}' "$WORK/client")
        pass "fi_pingpong -e $type -S all -c over the Ethernet link at MTU $mtu (up to $largest)"
    fi
done
finish

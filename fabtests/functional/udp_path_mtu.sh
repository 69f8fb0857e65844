#!/bin/bash
# The udp link on a path of MTU 1500, as between two guests on a virtual
# Ethernet: fi_pingpong (rdm, every size, data checked) in a network
# namespace of its own whose loopback has MTU 1500, run without
# CAP_NET_ADMIN so that the system caps its socket buffers.
#  - By default each peer's frames fit the path: the namespace's IP layer
#    fragments no datagram (FragCreates in /proc/net/snmp stays 0), and a
#    run with FI_XEN2MX_UDP_MTU=65000 shows that the counter does see it.
#  - When only the server sets FI_XEN2MX_UDP_MTU=65000, the two ends agree
#    on the client's smaller frames when they connect: no IP fragment either.
#  - Each process warns once that its buffers were capped, naming the sysctl.
# Needs root (a network namespace) and ip(8); no virtual device is needed,
# which matters where kernel modules cannot load.
. "$(dirname "$0")/lib.sh"
need_tool "$FI_PINGPONG" fi_pingpong

if [ "${1:-}" != --inside ]; then
    [ "$(id -u)" -eq 0 ] || skip "needs root (a network namespace)"
    command -v ip >/dev/null 2>&1 || skip "ip not installed (apt-get install iproute2)"
    command -v setpriv >/dev/null 2>&1 || skip "setpriv not installed (util-linux)"
    unshare -n true 2>/dev/null || skip "cannot make a network namespace"
    exec unshare -n "$0" --inside
fi

ip link set lo mtu 1500 up || skip "cannot set the loopback's MTU"
unset FI_PROVIDER
export FI_XEN2MX_LINK=udp FI_LOG_LEVEL=warn

# The IP layer's FragCreates counter, found by its name in the header line.
frags_created() {
    awk '/^Ip: [A-Za-z]/ { for (i = 2; i <= NF; i++) if ($i == "FragCreates") column = i }
         /^Ip: [0-9]/ { print $column }' /proc/net/snmp
}

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# pingpong NAME [VAR=VALUE...]: one run; the outputs in $log/NAME.*. The
# server alone also gets the settings in server_env.
server_env=()
pingpong() {
    local name=$1 port=$((20000 + RANDOM % 20000))
    shift
    run_tool env "$@" "${server_env[@]}" setpriv --bounding-set=-net_admin timeout 300 "$FI_PINGPONG" -p xen2mx -e rdm -c \
        -S all -B "$port" >"$log/$name.server" 2>&1 &
    local server=$!
    sleep 0.3
    run_tool env "$@" setpriv --bounding-set=-net_admin timeout 300 "$FI_PINGPONG" -p xen2mx -e rdm -c -S all -P "$port" \
        127.0.0.1 >"$log/$name.client" 2>&1
    local client_rc=$?
    wait $server
    local server_rc=$?
    for side in server client; do
        echo "---- $name $side"
        cat "$log/$name.$side"
    done
    [ $client_rc -eq 0 ] && [ $server_rc -eq 0 ] && pass "$name: both sides exit 0" \
        || fail "$name: client exit $client_rc, server exit $server_rc"
    results=$(grep -cE '^[0-9.]+[kmg]? +[0-9.]+[kmg]? +=[0-9.]+[kmg]? ' "$log/$name.client")
    [ "$results" -gt 10 ] && pass "$name: $results sizes exchanged" || fail "$name: $results result lines"
}

before=$(frags_created)
start=$(date +%s)
pingpong path FI_XEN2MX_UDP_PORT_BASE=$((40000 + (RANDOM % 40) * 256))
after=$(frags_created)
echo "per-path frames: $(($(date +%s) - start)) s, $((after - before)) IP fragments made"
[ "$after" -eq "$before" ] && pass "frames fit the 1500-byte path: no IP fragment" \
    || fail "$((after - before)) IP fragments made on a 1500-byte path"
for side in server client; do
    warnings=$(grep -c 'net.core.rmem_max' "$log/path.$side")
    [ "$warnings" -eq 1 ] && pass "$side warns once of capped buffers, naming net.core.rmem_max" \
        || fail "$side: $warnings warnings naming net.core.rmem_max"
done

before=$(frags_created)
pingpong fixed FI_XEN2MX_UDP_MTU=65000 FI_XEN2MX_UDP_PORT_BASE=$((50240 + (RANDOM % 40) * 256))
after=$(frags_created)
[ "$after" -gt "$before" ] && pass "FI_XEN2MX_UDP_MTU=65000 overrides the path: $((after - before)) IP fragments" \
    || fail "FI_XEN2MX_UDP_MTU=65000 made no IP fragment: the check above proves nothing"

before=$(frags_created)
server_env=(FI_XEN2MX_UDP_MTU=65000)
pingpong one_side FI_XEN2MX_UDP_PORT_BASE=$((60480 + (RANDOM % 16) * 256))
server_env=()
after=$(frags_created)
[ "$after" -eq "$before" ] && pass "FI_XEN2MX_UDP_MTU=65000 on one side only: the ends agree on 1472, no IP fragment" \
    || fail "FI_XEN2MX_UDP_MTU=65000 on one side only: $((after - before)) IP fragments made"
finish

#!/bin/bash
# Peers of one job reached over different links at once: two network
# namespaces joined by a veth pair, two processes in each, FI_XEN2MX_IFACE
# naming the namespace's end of the pair and the default link (auto). The four
# exchange checked messages all with all (fabtests/tools/alltoall). Each
# process reaches the other process of its namespace (same kernel, same network
# namespace) over shared memory, and the two of the other namespace over the
# Ethernet link: at FI_LOG_LEVEL=info it says "over shared memory" exactly
# once. The veth pair has no IPv4 address, so that nothing but the Ethernet
# link crosses it; its byte counters show that the messages did.
# Needs root and ip(8).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, CAP_NET_RAW)"
command -v ip >/dev/null 2>&1 || skip "ip not installed (apt-get install iproute2)"
command -v timeout >/dev/null 2>&1 || skip "timeout not installed (coreutils)"
TOOL=${X2M_ALLTOALL:-${X2M_BUILD:-.}/fabtests/tools/alltoall}
if [ ! -x "$TOOL" ]; then
    echo "FAIL: $TOOL is not built (make check builds it)"
    exit 1
fi
RANKS=4

veth_namespaces m || skip "cannot create a veth pair: $(cat "$WORK/err")"

unset FI_PROVIDER FI_XEN2MX_LINK FI_LOG_LEVEL FI_LOG_SUBSYS
# namespace_of R / iface_of R: ranks 0 and 1 live in A, 2 and 3 in B.
namespace_of() { if [ "$1" -lt 2 ]; then echo "$NS_A"; else echo "$NS_B"; fi; }
iface_of() { if [ "$1" -lt 2 ]; then echo "$IF_A"; else echo "$IF_B"; fi; }
tx_bytes() { ip netns exec "$NS_A" cat "/sys/class/net/$IF_A/statistics/tx_bytes"; }
rx_bytes() { ip netns exec "$NS_A" cat "/sys/class/net/$IF_A/statistics/rx_bytes"; }

mkdir -p "$WORK/names"
tx_before=$(tx_bytes)
rx_before=$(rx_bytes)
for ((r = 0; r < RANKS; r++)); do
    FI_XEN2MX_IFACE=$(iface_of "$r") FI_LOG_LEVEL=info timeout -k 5 90 ip netns exec "$(namespace_of "$r")" \
        "$TOOL" --rank "$r" --ranks "$RANKS" --dir "$WORK/names" --timeout 60 >"$WORK/out.$r" 2>"$WORK/err.$r" &
    PIDS="$PIDS $!"
done
r=0
for pid in $PIDS; do
    wait "$pid"
    echo $? >"$WORK/rc.$r"
    r=$((r + 1))
done
PIDS=""
tx=$(($(tx_bytes) - tx_before))
rx=$(($(rx_bytes) - rx_before))

for ((r = 0; r < RANKS; r++)); do
    where="rank $r (in $(namespace_of "$r") on $(iface_of "$r"))"
    if [ "$(cat "$WORK/rc.$r")" -eq 0 ] && grep -q "^PASS rank $r " "$WORK/out.$r"; then
        pass "$where: $(sed -n "s/^PASS rank $r of [0-9]*: //p" "$WORK/out.$r")"
    else
        echo "---- $where exited $(cat "$WORK/rc.$r")"
        cat "$WORK/out.$r"
        # What is not libfabric's log, and the provider's warnings.
        grep -av '^libfabric:' "$WORK/err.$r" | tail -20
        grep -aE '^libfabric:.*:xen2mx:.*<(warn|error)>' "$WORK/err.$r" | tail -20
        fail "$where: exchange with its 3 peers"
    fi
    n=$(grep -ac 'over shared memory' "$WORK/err.$r")
    if [ "$n" -eq 1 ]; then
        pass "$where: its neighbour in the namespace over shared memory, the 2 others not"
    else
        grep -a 'over shared memory' "$WORK/err.$r" | sed "s/^/rank $r: /"
        fail "$where: $n line(s) 'over shared memory', want 1 (its neighbour in the namespace only)"
    fi
done

# Each rank sends every peer as much; across the pair go the messages of the
# two ranks of a namespace to the two of the other, headers on top.
per_peer=$(sed -n 's/^rank 0: .* \([0-9]*\) bytes of messages to each$/\1/p' "$WORK/out.0")
if [ -z "$per_peer" ]; then
    fail "rank 0 did not say how much it sends each peer"
else
    across=$((per_peer * 4))
    if [ "$tx" -ge "$across" ] && [ "$rx" -ge "$across" ]; then
        pass "the other namespace over the Ethernet link: $tx bytes out and $rx in on $IF_A, for $across bytes of messages each way"
    else
        fail "the veth pair carried $tx bytes out and $rx in, less than the $across bytes of messages each way"
    fi
fi
finish

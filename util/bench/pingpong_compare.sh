#!/bin/bash
# Compares xen2mx with libfabric's own providers in one run: fi_pingpong
# between two processes of this host, server pinned to one core and client to
# another, providers alternated within each round, medians of the rounds.
# Two sets of tables:
#   - network providers over the loopback: xen2mx over its udp link against
#     tcp;ofi_rxm and udp;ofi_rxd;
#   - shared memory: xen2mx with its default link (auto, which reaches a peer
#     of the same host over shared memory) against libfabric's shm provider.
#   pingpong_compare.sh [rounds]
# Environment: FI_PINGPONG (default: fi_pingpong on PATH), PROVIDERS (default
# "xen2mx tcp;ofi_rxm udp;ofi_rxd") and SIZES (default "8 256 4096 65536
# 1048576") for the network set, NET_LINK (xen2mx's link there, default udp);
# LOCAL_PROVIDERS (default "xen2mx shm"), LOCAL_LATENCY_SIZES (default "8 256
# 4096 65536"), LOCAL_BANDWIDTH_SIZES (default "65536 1048576 4194304") and
# LOCAL_LINK (default auto) for the shared-memory set; SERVER_CPU/CLIENT_CPU
# (default 0 and 1).
#
# fi_pingpong exchanges the endpoint names over a TCP control connection of
# its own (-B on the server, -P and the server's address on the client),
# whatever the provider, so the shm provider runs exactly like the others.
set -u
rounds=${1:-3}
pingpong=${FI_PINGPONG:-$(command -v fi_pingpong)}
[ -x "$pingpong" ] || { echo "fi_pingpong not found: apt-get install libfabric-bin" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset not found: apt-get install util-linux" >&2; exit 1; }
providers=${PROVIDERS:-"xen2mx tcp;ofi_rxm udp;ofi_rxd"}
sizes=${SIZES:-"8 256 4096 65536 1048576"}
net_link=${NET_LINK:-udp}
local_providers=${LOCAL_PROVIDERS:-"xen2mx shm"}
local_latency_sizes=${LOCAL_LATENCY_SIZES:-"8 256 4096 65536"}
local_bandwidth_sizes=${LOCAL_BANDWIDTH_SIZES:-"65536 1048576 4194304"}
local_link=${LOCAL_LINK:-auto}
local_sizes=$(printf '%s\n' $local_latency_sizes $local_bandwidth_sizes | sort -nu | tr '\n' ' ')
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
unset FI_PROVIDER
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

iterations() {  # fewer round trips for large messages, enough for a stable figure
    if [ "$1" -le 4096 ]; then
        echo 20000
    elif [ "$1" -le 65536 ]; then
        echo 5000
    elif [ "$1" -le 1048576 ]; then
        echo 500
    else
        echo 100
    fi
}

# One fi_pingpong run, xen2mx on link LINK; prints "usec MBps" or "fail".
run_one() {
    local provider=$1 size=$2 link=$3 port=$((20000 + RANDOM % 20000)) iters
    iters=$(iterations "$size")
    FI_XEN2MX_LINK=$link taskset -c "$server_cpu" timeout 120 "$pingpong" -p "$provider" -e rdm -S "$size" \
        -I "$iters" -B "$port" >"$work/server" 2>&1 &
    local server=$!
    sleep 0.3
    FI_XEN2MX_LINK=$link taskset -c "$client_cpu" timeout 120 "$pingpong" -p "$provider" -e rdm -S "$size" \
        -I "$iters" -P "$port" 127.0.0.1 >"$work/client" 2>&1
    local rc=$?
    wait "$server"
    local server_rc=$?
    if [ $rc -ne 0 ] || [ $server_rc -ne 0 ]; then echo fail; return; fi
    # bytes #sent #ack total time MB/sec usec/xfer Mxfers/sec
    awk '/^[0-9.]+[kmg]? +[0-9.]+[kmg]? +=/ {print $7, $6}' "$work/client" | tail -1
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print a[int((NR + 1) / 2)]}'; }

for ((r = 1; r <= rounds; r++)); do
    for size in $sizes; do
        for provider in $providers; do
            echo "$provider $size $(run_one "$provider" "$size" "$net_link")" >>"$work/network"
        done
    done
    for size in $local_sizes; do
        for provider in $local_providers; do
            echo "$provider $size $(run_one "$provider" "$size" "$local_link")" >>"$work/local"
        done
    done
done

# table RESULTS FIELD TITLE PROVIDERS SIZES: one row per size, one column per
# provider.
table() {
    local results=$1 field=$2 title=$3 columns=$4 rows=$5 provider size value
    echo
    echo "$title"
    printf '%-10s' "size"
    for provider in $columns; do printf '%16s' "$provider"; done
    echo
    for size in $rows; do
        printf '%-10s' "$size"
        for provider in $columns; do
            value=$(awk -v p="$provider" -v s="$size" -v f="$field" '$1 == p && $2 == s && $3 != "fail" {print $f}' \
                "$results" | median)
            printf '%16s' "$value"
        done
        echo
    done
}

echo "fi_pingpong -e rdm between two processes of this host, server pinned to CPU $server_cpu and client to"
echo "CPU $client_cpu (taskset); median of $rounds rounds, providers alternated in each round ('-': the run failed)."
echo
echo "== network providers over the loopback (xen2mx: FI_XEN2MX_LINK=$net_link)"
table "$work/network" 3 "one-way latency, microseconds (fi_pingpong usec/xfer)" "$providers" "$sizes"
table "$work/network" 4 "bandwidth, MB/s (fi_pingpong MB/sec)" "$providers" "$sizes"
echo
echo "== shared memory, two processes of one host (xen2mx: FI_XEN2MX_LINK=$local_link; libfabric's shm provider)"
table "$work/local" 3 "one-way latency, microseconds (fi_pingpong usec/xfer)" "$local_providers" "$local_latency_sizes"
table "$work/local" 4 "bandwidth, MB/s (fi_pingpong MB/sec)" "$local_providers" "$local_bandwidth_sizes"

#!/bin/bash
# Compares xen2mx with libfabric's own providers in one run: fi_pingpong
# between two processes of this host, server pinned to one core and client to
# another, providers alternated within each round, medians of the rounds.
#   pingpong_compare.sh [rounds]
# Environment: FI_PINGPONG (default: fi_pingpong on PATH), PROVIDERS (default
# "xen2mx tcp;ofi_rxm udp;ofi_rxd"), SIZES (default "8 256 4096 65536 1048576"),
# SERVER_CPU/CLIENT_CPU (default 0 and 1).
set -u
rounds=${1:-3}
pingpong=${FI_PINGPONG:-$(command -v fi_pingpong)}
[ -x "$pingpong" ] || { echo "fi_pingpong not found: apt-get install libfabric-bin" >&2; exit 1; }
providers=${PROVIDERS:-"xen2mx tcp;ofi_rxm udp;ofi_rxd"}
sizes=${SIZES:-"8 256 4096 65536 1048576"}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

iterations() {  # fewer round trips for large messages, enough for a stable figure
    if [ "$1" -le 4096 ]; then echo 20000; elif [ "$1" -le 65536 ]; then echo 5000; else echo 500; fi
}

# One fi_pingpong run; prints "usec MBps" or "fail".
run_one() {
    local provider=$1 size=$2 port=$((20000 + RANDOM % 20000)) iters
    iters=$(iterations "$size")
    taskset -c "$server_cpu" timeout 120 "$pingpong" -p "$provider" -e rdm -S "$size" -I "$iters" -B "$port" \
        >"$work/server" 2>&1 &
    local server=$!
    sleep 0.3
    taskset -c "$client_cpu" timeout 120 "$pingpong" -p "$provider" -e rdm -S "$size" -I "$iters" -P "$port" \
        127.0.0.1 >"$work/client" 2>&1
    local rc=$?
    wait "$server"
    if [ $rc -ne 0 ]; then echo fail; return; fi
    # bytes #sent #ack total time MB/sec usec/xfer Mxfers/sec
    awk '/^[0-9.]+[kmg]? +[0-9.]+[kmg]? +=/ {print $7, $6}' "$work/client" | tail -1
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print a[int((NR + 1) / 2)]}'; }

for ((r = 1; r <= rounds; r++)); do
    for size in $sizes; do
        for provider in $providers; do
            result=$(run_one "$provider" "$size")
            echo "$provider $size $result" >>"$work/results"
        done
    done
done

echo "fi_pingpong -e rdm over the loopback, server on CPU $server_cpu, client on CPU $client_cpu;"
echo "median of $rounds rounds, providers alternated in each round ('-': the run failed)."

# table FIELD TITLE: one row per size, one column per provider.
table() {
    local field=$1
    echo
    echo "$2"
    printf '%-10s' "size"
    for provider in $providers; do printf '%16s' "$provider"; done
    echo
    for size in $sizes; do
        printf '%-10s' "$size"
        for provider in $providers; do
            value=$(awk -v p="$provider" -v s="$size" -v f="$field" '$1 == p && $2 == s && $3 != "fail" {print $f}' \
                "$work/results" | median)
            printf '%16s' "$value"
        done
        echo
    done
}
table 3 "one-way latency, microseconds (fi_pingpong usec/xfer)"
table 4 "bandwidth, MB/s (fi_pingpong MB/sec)"

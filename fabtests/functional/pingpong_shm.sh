#!/bin/bash
# Debian's real fi_pingpong between two processes of this host, RDM, every
# size with data checks, where xen2mx carries it over shared memory: with the
# default link (auto), which picks shared memory for a peer of the same host,
# and with FI_XEN2MX_LINK=shm. At FI_LOG_LEVEL=info both sides say that they
# reach their peer over shared memory.
. "$(dirname "$0")/lib.sh"
need_tool "$FI_PINGPONG" fi_pingpong
command -v timeout >/dev/null 2>&1 || skip "timeout not installed (coreutils)"
unset FI_PROVIDER FI_XEN2MX_LINK FI_XEN2MX_IFACE FI_LOG_LEVEL FI_LOG_SUBSYS
# Ports of our own, so that tests running side by side do not meet.
export FI_XEN2MX_UDP_PORT_BASE=$((40000 + (RANDOM % 80) * 256))

WORK=$(mktemp -d)
SERVER=""
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# pingpong NAME: fi_pingpong -S all -c, server and client on this host, with
# the environment the caller gives; output in $WORK/NAME.{server,client}.{out,err}.
pingpong() {
    local name=$1 port=$((20000 + RANDOM % 20000)) client_rc server_rc side out
    out=$WORK/$name
    FI_LOG_LEVEL=info run_tool timeout -k 5 300 "$FI_PINGPONG" -p xen2mx -e rdm -c -S all -B "$port" \
        >"$out.server.out" 2>"$out.server.err" &
    SERVER=$!
    sleep 0.3
    FI_LOG_LEVEL=info run_tool timeout -k 5 300 "$FI_PINGPONG" -p xen2mx -e rdm -c -S all -P "$port" 127.0.0.1 \
        >"$out.client.out" 2>"$out.client.err"
    client_rc=$?
    wait "$SERVER"
    server_rc=$?
    SERVER=""
    echo "---- $name: client"
    cat "$out.client.out"
    if [ $client_rc -eq 0 ] && [ $server_rc -eq 0 ] &&
        grep -qE '^[0-9.]+[kmg]? +[0-9.]+[kmg]? +=[0-9.]+[kmg]? ' "$out.client.out"; then
        largest=$(awk '/^[0-9.]+[kmg]? +[0-9.]+[kmg]? +=/ {size=$1} END {print size}' "$out.client.out")
        pass "$name: fi_pingpong -e rdm -S all -c (up to $largest)"
    else
        for side in server client; do
            echo "---- $name: $side said"
            cat "$out.$side.out"
            grep -av '^libfabric:' "$out.$side.err" | tail -20
            grep -a '^libfabric:.*:xen2mx:.*<\(warn\|error\)>' "$out.$side.err" | tail -20
        done
        fail "$name: fi_pingpong (client $client_rc, server $server_rc)"
    fi
    # What fi_pingpong itself reports, the provider's log aside.
    if cat "$out.client.out" "$out.server.out" | grep -qiE 'error|fail' ||
        cat "$out.client.err" "$out.server.err" | grep -av '^libfabric:' | grep -qiE 'error|fail'; then
        fail "$name: errors reported"
    else
        pass "$name: no errors reported"
    fi
    for side in server client; do
        expect_contains "$(cat "$out.$side.err")" 'over shared memory' "$name: the $side reaches its peer over shared memory"
    done
}

pingpong default
FI_XEN2MX_LINK=shm pingpong shm
finish

#!/bin/bash
# The Ethernet link on real interfaces: two network namespaces joined by a
# veth pair, link_pingpong's server in one and its client in the other, at MTU
# 1500 and 9000. Also: oversize frames are refused, endpoint ids are unique per
# interface and freed when their holder is killed, and a missing, down or
# forbidden interface gives a clear error. Needs root and ip(8).
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, CAP_NET_RAW)"
command -v ip >/dev/null 2>&1 || skip "ip not installed (apt-get install iproute2)"
command -v timeout >/dev/null 2>&1 || skip "timeout not installed (coreutils)"
TOOL=${X2M_LINK_PINGPONG:-${X2M_BUILD:-.}/fabtests/tools/link_pingpong}
if [ ! -x "$TOOL" ]; then
    echo "FAIL: $TOOL is not built (make check builds it)"
    exit 1
fi

MAC_A=02:58:32:4d:00:0a
MAC_B=02:58:32:4d:00:0b
veth_namespaces e "address $MAC_A" "address $MAC_B" || skip "cannot create a veth pair: $(cat "$WORK/err")"

# tool NS ARGS...: link_pingpong in namespace NS, never for long.
tool() {
    local ns=$1
    shift
    timeout -k 5 30 ip netns exec "$ns" "$TOOL" "$@" 2>&1
}

# start_server NS FILE ARGS...: a server in the background, output in FILE;
# returns once it has said READY. SERVER is its pid (that of its timeout).
start_server() {
    local ns=$1 file=$2
    shift 2
    timeout -k 5 60 ip netns exec "$ns" "$TOOL" --role server "$@" >"$file" 2>&1 &
    SERVER=$!
    PIDS="$PIDS $SERVER"
    for _ in $(seq 100); do
        grep -q '^READY' "$file" && return 0
        kill -0 "$SERVER" 2>/dev/null || break
        sleep 0.1
    done
    fail "server did not start: $(cat "$file")"
    return 1
}

# expect_fail OUTPUT STATUS PATTERN WHAT: a refusal, with the right reason.
expect_fail() {
    if [ "$2" -eq 1 ] && printf '%s\n' "$1" | grep -aqE -- "$3"; then
        pass "$4"
    else
        fail "$4 (status $2, no /$3/ in: $1)"
    fi
}

# pingpong NAME COUNT SIZES: server in A, client in B; sets RESULT to the
# client's PASS line.
pingpong() {
    local name=$1 count=$2 sizes=$3 out rc
    RESULT=""
    start_server "$NS_A" "$WORK/server" --link ethernet --iface "$IF_A" --count "$count" || return
    out=$(tool "$NS_B" --link ethernet --iface "$IF_B" --role client --peer-mac "$MAC_A" \
        --count "$count" --size "$sizes")
    rc=$?
    [ $rc -eq 0 ] && expect_contains "$out" "^PASS client ethernet board=$MAC_B .*count=$count " "$name: client" ||
        fail "$name: client (status $rc): $out"
    RESULT=$(printf '%s\n' "$out" | grep -a '^PASS client')
    wait "$SERVER"
    rc=$?
    [ $rc -eq 0 ] && pass "$name: server echoed everything" || fail "$name: server (status $rc): $(cat "$WORK/server")"
}

# ---------------------------------------------------------------- MTU 1500
out=$(tool "$NS_A" --link ethernet --iface "$IF_A" --role info)
expect_contains "$out" "^OPEN kind=ethernet board=$MAC_A endpoint=0 max_frame=1514 " "board is the MAC, max_frame MTU+14"

# Frames from shorter than the Ethernet minimum (padded) to exactly MTU+14.
start_server "$NS_A" "$WORK/server" --link ethernet --iface "$IF_A" --count 700 &&
    expect_contains "$(cat "$WORK/server")" "^READY kind=ethernet board=$MAC_A endpoint=0 " "server holds endpoint 0"
out=$(tool "$NS_A" --link ethernet --iface "$IF_A" --role info)
expect_contains "$out" "^OPEN .* endpoint=1 " "next process gets endpoint 1 on the same interface"
out=$(tool "$NS_A" --link ethernet --iface "$IF_A" --role info --endpoint 0)
expect_fail "$out" $? "Address already in use" "endpoint 0 taken by another process: EADDRINUSE"
out=$(tool "$NS_B" --link ethernet --iface "$IF_B" --role client --peer-mac "$MAC_A" \
    --count 700 --size 8,46,47,64,1000,1499,1500)
rc=$?
[ $rc -eq 0 ] && expect_contains "$out" "^PASS client ethernet board=$MAC_B endpoint=0 count=700 " \
    "MTU 1500: 700 frames of 22..1514 bytes echoed intact (ids are per namespace)" ||
    fail "MTU 1500 client (status $rc): $out"
wait "$SERVER"
rc=$?
[ $rc -eq 0 ] && pass "MTU 1500: server echoed everything" || fail "MTU 1500 server (status $rc): $(cat "$WORK/server")"

# More frames than either ring has slots: both wrap around.
pingpong "64-byte round trips" 5000 64
[ -n "$RESULT" ] && echo "INFO: 64-byte frames over veth: $RESULT"

out=$(tool "$NS_B" --link ethernet --iface "$IF_B" --role client --peer-mac "$MAC_A" --count 1 --size 1501)
expect_fail "$out" $? "send refused: Message too long \(frame 1515 bytes > max_frame 1514\)" "MTU 1500: 1515-byte frame refused"

# An id comes free when its holder dies, however it dies.
if start_server "$NS_A" "$WORK/holder" --link ethernet --iface "$IF_A" --endpoint 7 --count 1; then
    out=$(tool "$NS_A" --link ethernet --iface "$IF_A" --role info --endpoint 7)
    expect_fail "$out" $? "Address already in use" "endpoint 7 held"
    holder=$(sed -n 's/^READY .* pid=\([0-9]*\).*/\1/p' "$WORK/holder")
    kill -KILL "$holder"
    wait "$SERVER" 2>/dev/null
    out=$(tool "$NS_A" --link ethernet --iface "$IF_A" --role info --endpoint 7)
    expect_contains "$out" "^OPEN .* endpoint=7 " "endpoint 7 free again once its holder was killed"
fi

# ---------------------------------------------------------------- MTU 9000
ip -n "$NS_A" link set "$IF_A" mtu 9000 && ip -n "$NS_B" link set "$IF_B" mtu 9000 || fail "cannot set MTU 9000"
out=$(tool "$NS_A" --link ethernet --iface "$IF_A" --role info)
expect_contains "$out" "^OPEN .* max_frame=9014 " "MTU 9000: max_frame 9014"
pingpong "MTU 9000: 1000 frames up to 9014 bytes" 1000 64,1500,1501,4000,8999,9000
out=$(tool "$NS_B" --link ethernet --iface "$IF_B" --role client --peer-mac "$MAC_A" --count 1 --size 9001)
expect_fail "$out" $? "send refused: Message too long \(frame 9015 bytes > max_frame 9014\)" "MTU 9000: 9015-byte frame refused"

# ---------------------------------------------------------------- errors
out=$(tool "$NS_A" --link ethernet --iface "nosuch$$" --role info)
expect_fail "$out" $? "No such device" "missing interface: ENODEV"
ip -n "$NS_B" link set "$IF_B" down
out=$(tool "$NS_B" --link ethernet --iface "$IF_B" --role info)
expect_fail "$out" $? "Network is down" "interface down: ENETDOWN"
ip -n "$NS_B" link set "$IF_B" up
if command -v setpriv >/dev/null 2>&1; then
    # Root without CAP_NET_RAW: dropped from the bounding set, it is gone
    # from what the tool gets at exec.
    out=$(timeout -k 5 30 ip netns exec "$NS_A" setpriv --bounding-set -net_raw -- \
        "$TOOL" --link ethernet --iface "$IF_A" --role info 2>&1)
    expect_fail "$out" $? "Operation not permitted|Permission denied" "without CAP_NET_RAW: EPERM"
else
    echo "SKIP: no setpriv (util-linux): the CAP_NET_RAW check"
fi

# ---------------------------------------------------------------- udp
# The tool's udp mode, on the namespace's own loopback (fresh ports).
ip -n "$NS_A" link set lo up
if start_server "$NS_A" "$WORK/server" --link udp --ip 127.0.0.1 --port-base 30720 --count 300; then
    out=$(tool "$NS_A" --link udp --ip 127.0.0.1 --port-base 30720 --role client --peer-endpoint 0 \
        --count 300 --size 8,64,1500,8986)
    rc=$?
    [ $rc -eq 0 ] && expect_contains "$out" "^PASS client udp .*endpoint=1 count=300 " "udp: 300 frames echoed intact" ||
        fail "udp client (status $rc): $out"
    wait "$SERVER"
    rc=$?
    [ $rc -eq 0 ] && pass "udp: server echoed everything" || fail "udp server (status $rc): $(cat "$WORK/server")"
fi

finish

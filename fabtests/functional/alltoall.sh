#!/bin/bash
# Eight processes of this host exchange checked messages all with all
# (fabtests/tools/alltoall: every size class from 0 B to 1 MiB, tagged and
# untagged, with and without remote CQ data, with every peer at once):
#   - with the default link (auto), where processes of one host reach each
#     other over shared memory: each says so at FI_LOG_LEVEL=info, once per
#     peer (7 times);
#   - with FI_XEN2MX_LINK=udp, never over shared memory;
#   - with the default link and more operations in flight than the
#     provider's queues hold (posting meets -FI_EAGAIN).
. "$(dirname "$0")/lib.sh"
command -v timeout >/dev/null 2>&1 || skip "timeout not installed (coreutils)"
TOOL=${X2M_ALLTOALL:-${X2M_BUILD:-.}/fabtests/tools/alltoall}
if [ ! -x "$TOOL" ]; then
    echo "FAIL: $TOOL is not built (make check builds it)"
    exit 1
fi
RANKS=8
unset FI_PROVIDER FI_XEN2MX_LINK FI_XEN2MX_IFACE FI_LOG_LEVEL FI_LOG_SUBSYS
# Ports of our own, so that tests running side by side do not meet.
export FI_XEN2MX_UDP_PORT_BASE=$((40000 + (RANDOM % 80) * 256))
WORK=$(mktemp -d)
PIDS=""
cleanup() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null; done
    for pid in $PIDS; do wait "$pid" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# all_to_all NAME [alltoall options]: RANKS processes at once, each under
# timeout and logging at level info; RUN is where their outputs are
# (out.R, err.R). Passes when every process exits 0 with its PASS line.
all_to_all() {
    local name=$1 r pid failed=0
    shift
    RUN=$WORK/$name
    mkdir -p "$RUN/names"
    PIDS=""
    for ((r = 0; r < RANKS; r++)); do
        FI_LOG_LEVEL=info timeout -k 5 150 "$TOOL" --rank "$r" --ranks "$RANKS" --dir "$RUN/names" --timeout 120 \
            "$@" >"$RUN/out.$r" 2>"$RUN/err.$r" &
        PIDS="$PIDS $!"
    done
    r=0
    for pid in $PIDS; do
        wait "$pid"
        echo $? >"$RUN/rc.$r"
        r=$((r + 1))
    done
    PIDS=""
    for ((r = 0; r < RANKS; r++)); do
        if [ "$(cat "$RUN/rc.$r")" -ne 0 ] || ! grep -q "^PASS rank $r " "$RUN/out.$r"; then
            failed=$((failed + 1))
            echo "---- $name: rank $r exited $(cat "$RUN/rc.$r")"
            cat "$RUN/out.$r"
            # What is not libfabric's log, and the provider's warnings.
            grep -av '^libfabric:' "$RUN/err.$r" | tail -20
            grep -aE '^libfabric:.*:xen2mx:.*<(warn|error)>' "$RUN/err.$r" | tail -20
        fi
    done
    if [ $failed -eq 0 ]; then
        pass "$name: $RANKS processes, all with all: $(sed -n 's/^PASS rank 0 of [0-9]*: //p' "$RUN/out.0")"
    else
        fail "$name: $failed of $RANKS processes did not get everything right"
    fi
}

# shm_peers R: how many times rank R of the last run said it reaches a peer
# over shared memory.
shm_peers() {
    grep -ac 'over shared memory' "$RUN/err.$1"
}

# expect_shm_peers WANT WHAT: every rank of the last run said it WANT times.
expect_shm_peers() {
    local want=$1 r n wrong=""
    for ((r = 0; r < RANKS; r++)); do
        n=$(shm_peers "$r")
        if [ "$n" -ne "$want" ]; then
            wrong="$wrong rank $r: $n;"
            grep -a 'over shared memory' "$RUN/err.$r" | sed "s/^/rank $r: /"
        fi
    done
    if [ -z "$wrong" ]; then pass "$2"; else fail "$2 (lines 'over shared memory' per rank:$wrong want $want)"; fi
}

all_to_all auto
expect_shm_peers $((RANKS - 1)) "default link: each process reaches its $((RANKS - 1)) peers over shared memory"

FI_XEN2MX_LINK=udp all_to_all udp
expect_shm_peers 0 "FI_XEN2MX_LINK=udp: no peer over shared memory"

all_to_all auto-crowded --messages 300 --rounds 1

# Two jobs at once, each with a udp port base of its own: their endpoints
# share the loopback's board and endpoint ids, yet each job reaches only its
# own endpoints (over shared memory, under names that carry the udp port).
base=$FI_XEN2MX_UDP_PORT_BASE
job() {
    RANKS=4
    FI_XEN2MX_UDP_PORT_BASE=$2 all_to_all "$1"
    expect_shm_peers 3 "$1: its 3 peers, and only those, over shared memory"
    finish
}
job two-jobs-a "$base" &
job_a=$!
job two-jobs-b $((base + 128)) &
job_b=$!
wait "$job_a" && pass "job a next to job b" || fail "job a next to job b"
wait "$job_b" && pass "job b next to job a" || fail "job b next to job a"
finish
